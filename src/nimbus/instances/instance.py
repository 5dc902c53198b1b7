"""One execution environment: a process, its control channel, its log stream, and its lifecycle.

An instance runs one invocation at a time. The hot path is `invoke`: one frame out, one frame back over the
already-open socket, the output pipe drained synchronously, then END/REPORT. Every way an invocation can fail
(timeout, crash, protocol violation, oversized response) ends up here as a Lambda-shaped result.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
import uuid
from collections.abc import Callable

from nimbus.instances.channel import ControlChannel, InstanceCrashed
from nimbus.instances.downstream import Session
from nimbus.instances.environment import trace_header
from nimbus.instances.lifecycle import DeathReason, InstanceState, Lifecycle
from nimbus.instances.memory import MemoryPeak
from nimbus.instances.output import OutputCapture
from nimbus.instances.process import ProcessHandle, describe_exit
from nimbus.instances.results import OUT_OF_MEMORY, UNHANDLED, exit_error, oom_error, timeout_error, too_large_error
from nimbus.instances.supervisor import STOP_GRACE_S, terminate
from nimbus.logs import framing
from nimbus.logs.sink import LogSink
from nimbus.protocol import frames
from nimbus.protocol.records import FunctionSpec, InvokeRequest, InvokeResult

log = logging.getLogger(__name__)

#: after replying to an invoke made while it was alone in flight, the runtime busy-polls this long for the next
#: one before it blocks (the server's own side of busy polling is `channel.SPIN_NS`)
RUNTIME_SPIN_US = 1000
#: the writable-task-root warning is logged once per server process, not once per cold start
_warned_writable = [False]
_warned_shared = [False]

__all__ = ["Instance", "InstanceCrashed"]


class Instance:
    def __init__(self, spec: FunctionSpec, handle: ProcessHandle, sink: LogSink, log_group: str, stream: str) -> None:
        self.spec = spec
        self.id = uuid.uuid4().hex
        self.handle = handle
        self.lifecycle = Lifecycle()
        self.output = OutputCapture(handle.output_fd, sink, log_group, stream)
        #: the platform's lines in the function's log format (Text, or JSON records filtered by SystemLogLevel)
        self.platform = framing.PlatformLog(spec.log_format, spec.system_log_level)
        self.started_at = time.monotonic()
        self.idle_since = self.started_at
        self.init_duration_ms: float | None = None
        #: set for an instance restored from a SnapStart template: its REPORT shows Restore Duration instead
        self.restore_duration_ms: float | None = None
        #: kept initialised for provisioned concurrency (used first, never reaped idle)
        self.provisioned = False
        #: its execution role's session (`downstream.py`), revoked when its process ends; None without a key ring
        self.session: Session | None = None
        self.invocations = 0
        self._channel = ControlChannel(handle, self.id, self._channel_broke)
        self._memory = MemoryPeak(handle)
        self._loop = asyncio.get_running_loop()
        self._reaped = False
        #: until when (monotonic) the runtime busy-polls for its next invoke, as the last one asked it to
        self._runtime_polls_until = 0.0

    @property
    def state(self) -> InstanceState:
        return self.lifecycle.state

    @property
    def pid(self) -> int:
        return self.handle.pid

    # -- wiring -------------------------------------------------------------------------------------------------

    def attach(self) -> None:
        """Start watching the control socket, the output pipe and the process; move to INITIALISING."""
        self.output.start()
        self._channel.start()
        self.handle.exited.add_done_callback(self._on_exit)
        self.lifecycle.change_state(InstanceState.INITIALISING)

    def _channel_broke(self) -> None:
        """EOF on the control socket of an idle instance: its runtime is gone (or closed the channel), even if the
        process is not reaped yet. Draining at once keeps the next invoke off it (the pool takes only IDLE ones),
        and the kill makes sure it goes. A busy or starting instance is left to its waiter, which reports the exit
        as the process ended it (a kill now would turn "exit status 3" into "signal: killed")."""
        if self.state is InstanceState.IDLE and not self.handle.exited.done():
            log.info("idle instance %s of %s closed its control channel; replacing it", self.id, self.spec.name)
            self.lifecycle.change_state(InstanceState.DRAINING, DeathReason.EXIT)
            self.handle.kill()

    def detach_control(self) -> None:
        """Stop reading the control socket (a SnapStart template's own reader takes it over)."""
        self._channel.close()

    def _on_exit(self, fut: asyncio.Future[int]) -> None:
        """The process is reaped: settle everything (idempotent; also called by kill/stop after their wait)."""
        if self._reaped:
            return
        self._reaped = True
        # Frames and output written just before the exit are already in the socket and pipe: take them first.
        self._channel.read_now()
        self._channel.close()
        self.output.close()
        status = fut.result()
        self._channel.fail_pending(InstanceCrashed(describe_exit(status)))
        self.handle.close()
        if self.state is not InstanceState.DEAD:
            if self.state is InstanceState.IDLE:
                log.info("idle instance %s of %s died (%s)", self.id, self.spec.name, describe_exit(status))
            self.lifecycle.change_state(InstanceState.DEAD, DeathReason.EXIT)

    # -- init -----------------------------------------------------------------------------------------------------

    async def wait_ready(self, timeout_s: float) -> frames.Frame:
        """Wait for READY or INIT_ERROR; raises TimeoutError, InstanceCrashed or FrameError."""
        frame = await self._channel.next_frame(timeout_s)
        self.init_duration_ms = (time.monotonic() - self.started_at) * 1000
        if frame.kind == frames.READY:
            if frame.header.get("task_root_read_only") is False and not _warned_writable[0]:
                _warned_writable[0] = True
                log.warning(
                    "INSECURE: instances cannot get a read-only task root here (no CAP_SYS_ADMIN for a mount "
                    "namespace): function code can modify itself and other functions' shared code"
                )
            if frame.header.get("isolated") is False and not _warned_shared[0]:
                _warned_shared[0] = True
                log.warning(
                    "INSECURE: restored SnapStart instances share their template's sandbox here (no user namespace "
                    "for the sandbox user): its processes and /tmp are visible to each other"
                )
            self.lifecycle.change_state(InstanceState.IDLE)
        elif frame.kind != frames.INIT_ERROR:
            raise frames.FrameError(f"expected ready or init_error, got {frame.kind!r}")
        return frame

    # -- invoke ---------------------------------------------------------------------------------------------------

    async def invoke(
        self, request: InvokeRequest, deadline_s: float, cold: bool, others_waiting: Callable[[], bool] | None = None
    ) -> InvokeResult:
        """Run one invocation on this (BUSY) instance; always returns a result, never raises for function failures.

        `deadline_s` is a wall-clock epoch time. The caller has begun the log tail (if wanted) before the cold start.
        `others_waiting`: let the runtime poll for its next invoke, and busy-poll for the reply while it says no
        (`ControlChannel.next_frame`) if the runtime is polling now; the caller passes it only when this is the only
        invocation in flight and nothing else waits.
        """
        self.lifecycle.require_state(InstanceState.BUSY)
        spec = self.spec
        rid = request.request_id
        self.invocations += 1
        platform = self.platform
        self.output.open_invocation()
        self._emit(platform.start(rid, spec.version))
        started = time.monotonic()
        # Poll for the reply only while the runtime is still polling for this invoke (told so after its last one):
        # a runtime asleep is woken by the send, often onto this very CPU, where our polling would hold it off.
        poll = others_waiting if started < self._runtime_polls_until else None
        payload: bytes
        function_error: str | None = None
        status: str | None = None
        error_type: str | None = None
        memory = 0
        #: the function's output before its reply is already read (see below); else the pipe is drained before END
        drained = False
        try:
            data = frames.encode_invoke(
                rid,
                int(deadline_s * 1000),
                request.invoked_arn,
                request.trace_id or trace_header(spec.tracing),
                request.client_context,
                RUNTIME_SPIN_US if others_waiting is not None else 0,
                request.payload,
            )
            sock = self.handle.control
            try:  # the usual frame fits the socket's buffer: one send, no coroutine
                sent = sock.send(data)
            except (BlockingIOError, InterruptedError):
                sent = 0
            if sent < len(data):
                await self._loop.sock_sendall(sock, memoryview(data)[sent:])
            frame = await self._channel.next_frame(max(0.0, deadline_s - time.time()), poll)
            if others_waiting is not None:
                self._runtime_polls_until = time.monotonic() + RUNTIME_SPIN_US / 1e6
            # Output written before the reply came before it in the pipe: the event loop saw the pipe readable no
            # later than the socket, in the same poll or an earlier one, and ran the pipe's reader (`output.drain`)
            # before this coroutine could resume (a future's waiter runs after the poll's callbacks). So a reply
            # read by the loop needs no read of the pipe here, which would only say EAGAIN: a syscall and an
            # exception per invoke. A reply found by busy polling bypassed the loop, and one read straight from
            # a process that has exited may have bypassed it: for those the pipe is drained below, as on errors.
            drained = poll is None and not self.handle.exited.done()
            memory = self._memory.max_memory_mb(frame.header.get("max_rss_kb"))
            payload = frame.body
            if frame.kind == frames.RESULT:
                if len(payload) > frames.MAX_RESPONSE_BYTES:
                    payload, function_error = too_large_error(), UNHANDLED
            elif frame.kind == frames.ERROR:
                function_error = UNHANDLED
            else:
                raise frames.FrameError(f"unexpected frame {frame.kind!r}")
        except TimeoutError:
            memory = self.handle.max_memory_mb()
            await self.kill(DeathReason.TIMEOUT)
            payload, function_error = timeout_error(rid, spec.timeout_s), UNHANDLED
            status = "timeout"
            self.output.emit(platform.timeout(rid, spec.timeout_s))
        except frames.FrameTooLarge:
            await self.kill(DeathReason.PROTOCOL_ERROR)
            payload, function_error = too_large_error(), UNHANDLED
            status, error_type = "error", "Function.ResponseSizeTooLarge"
        except (InstanceCrashed, frames.FrameError, ConnectionError) as exc:
            crashed = isinstance(exc, InstanceCrashed | ConnectionError) or self.handle.exited.done()
            if not crashed:
                log.warning("instance %s broke the frame protocol: %s", self.id, exc)
            await self.kill(DeathReason.EXIT if crashed else DeathReason.PROTOCOL_ERROR)
            description = describe_exit(self.handle.exited.result())
            function_error, status = UNHANDLED, "error"
            if self.handle.oom_killed():
                memory = spec.memory_mb
                payload, error_type = oom_error(rid, description), OUT_OF_MEMORY
                message = f"Error: Runtime exited with error: {description}"
                self.output.emit(platform.error(rid, f"RequestId: {rid} {message}", message))
            else:
                payload, error_type = exit_error(rid, description), "Runtime.ExitError"
        duration_ms = (time.monotonic() - started) * 1000
        if not drained:
            self.output.drain()
        self.output.flush_partial()
        self._emit(platform.end(rid, duration_ms, status, error_type, None if function_error else len(payload)))
        self._emit(
            platform.report(
                rid,
                duration_ms,
                spec.memory_mb,
                memory,
                init_duration_ms=self.init_duration_ms if cold and self.restore_duration_ms is None else None,
                restore_duration_ms=self.restore_duration_ms if cold else None,
                status=status,
                error_type=error_type,
            )
        )
        return InvokeResult(
            payload=payload,
            function_error=function_error,
            log_tail=self.output.end_tail() if request.want_log_tail else None,
            executed_version=spec.version,
            duration_ms=duration_ms,
        )

    def report_init_failure(self, request: InvokeRequest, error: bytes, error_type: str, status: str) -> InvokeResult:
        """Frame a failed cold start as its invocation's log (START/END/REPORT) and result."""
        rid = request.request_id
        self.output.drain()
        self.output.flush_partial()
        platform = self.platform
        self.output.open_invocation()
        self._emit(platform.start(rid, self.spec.version))
        duration = (time.monotonic() - self.started_at) * 1000
        self._emit(platform.end(rid, duration, status, error_type))
        self._emit(platform.report(rid, duration, self.spec.memory_mb, 0, status=status, error_type=error_type))
        return InvokeResult(
            payload=error,
            function_error=UNHANDLED,
            log_tail=self.output.end_tail() if request.want_log_tail else None,
            executed_version=self.spec.version,
        )

    def _emit(self, line: str | None) -> None:
        """A platform line, unless the SystemLogLevel filtered it out (None)."""
        if line is not None:
            self.output.emit(line)

    # -- stopping -------------------------------------------------------------------------------------------------

    async def kill(self, reason: DeathReason) -> None:
        """SIGKILL now and reap (timeouts, broken instances)."""
        if self.lifecycle.can_change(InstanceState.DRAINING):
            self.lifecycle.change_state(InstanceState.DRAINING, reason)
        self.handle.kill()
        await self.handle.wait()
        self._on_exit(self.handle.exited)

    async def stop(self, reason: DeathReason, grace_s: float = STOP_GRACE_S) -> None:
        """Close the control channel (the bootstrap exits on EOF), TERM, grace, KILL; reap."""
        if self.state is InstanceState.DEAD:
            return
        if self.lifecycle.can_change(InstanceState.DRAINING):
            self.lifecycle.change_state(InstanceState.DRAINING, reason)
        self._channel.close()
        with contextlib.suppress(OSError):
            self.handle.control.shutdown(socket.SHUT_RDWR)
        await terminate(self.handle, grace_s)
        self._on_exit(self.handle.exited)
