"""The server's end of an instance's control socket: frames read as they arrive and handed to the one waiter.

This is the warm path's reader. Each read is parsed in place (`FrameDecoder.feed`: the usual read holds exactly
one whole frame), and the waiter's future is settled from the reader callback, with no task in between. When an
invocation is alone in flight, `next_frame` first busy-polls the socket (`SPIN_NS`) instead of sleeping in the
event loop: on a VM an idle vCPU halts, and waking from it costs ~100 µs.

A frame nobody waits for, or bytes that are not frames, is a broken runtime: its process is killed. EOF with
nobody waiting is reported to `on_eof` (the instance drains itself if it was idle).
"""

from __future__ import annotations

import asyncio
import logging
import os
import select
import time
from collections.abc import Callable
from typing import Any, cast

from nimbus.instances import deadlines
from nimbus.instances.process import ProcessHandle, describe_exit, recv_nowait
from nimbus.protocol import frames

log = logging.getLogger(__name__)

_RECV_CHUNK = 1 << 18
#: the decoder lets a little more than the limit through, so an oversized response is recognised, not a crash
_MAX_FRAME_BODY = frames.MAX_RESPONSE_BYTES + 1024

#: Busy polling, only while an invocation is alone in flight (an otherwise idle server). On a VM an idle vCPU
#: halts, and waking a process blocked on it costs ~100 µs, twice per invoke (runtime, then server). So the server
#: polls this long for the reply before it waits on the event loop (holding the loop: hence "alone")...
SPIN_NS = 200_000


class InstanceCrashed(Exception):
    """The process died on its own while we waited for it (not a stop of ours)."""

    def __init__(self, description: str) -> None:
        super().__init__(description)
        self.description = description


class ControlChannel:
    """Reads one instance's control socket; `name` is the instance's id, for the log."""

    def __init__(self, handle: ProcessHandle, name: str, on_eof: Callable[[], None]) -> None:
        self._handle = handle
        self._name = name
        self._on_eof = on_eof
        self._decoder = frames.FrameDecoder(max_body=_MAX_FRAME_BODY)
        self._pending: asyncio.Future[frames.Frame] | None = None
        self._loop = asyncio.get_running_loop()
        self._deadlines = deadlines.for_loop(self._loop)
        self.open = True
        self._poller: select.poll | None = None

    def start(self) -> None:
        self._loop.add_reader(self._handle.control.fileno(), self.read_now)

    def read_now(self) -> None:
        """Take whatever the socket holds (the reader callback; also called once more when the process is reaped)."""
        sock = self._handle.control
        while self.open:
            data = recv_nowait(sock, _RECV_CHUNK)
            if data is None:
                return
            if not data:
                self.close()
                self._on_eof()
                return
            try:
                received = self._decoder.feed(data)
            except frames.FrameError as exc:
                self.close()
                self.fail_pending(exc)
                self._handle.kill()
                return
            for frame in received:
                if self._pending is not None and not self._pending.done():
                    self._pending.set_result(frame)
                else:
                    log.warning("instance %s sent an unexpected %r frame; killing it", self._name, frame.kind)
                    self.fail_pending(frames.FrameError(f"unexpected frame {frame.kind!r}"))
                    self._handle.kill()
            if len(data) < _RECV_CHUNK:
                # a short read took all the socket held: asking again would only raise EAGAIN (a syscall and an
                # exception per invoke); what comes later, EOF included, wakes the reader again
                return

    def close(self) -> None:
        """Stop reading (idempotent); the socket itself belongs to the handle."""
        if self.open:
            self.open = False
            # uvloop's answers None where typeshed says bool, which compiled code (mypyc) would check: not read
            cast(Any, self._loop).remove_reader(self._handle.control.fileno())

    def fail_pending(self, exc: BaseException) -> None:
        if self._pending is not None and not self._pending.done():
            self._pending.set_exception(exc)

    async def next_frame(self, timeout_s: float, others_waiting: Callable[[], bool] | None = None) -> frames.Frame:
        """The next frame from the runtime. With `others_waiting`, first busy-poll the socket for up to SPIN_NS,
        while it says no other request waits: a reply within it skips the event loop's sleep and wake-up (~100 µs
        on a VM: the idle vCPU halts), at the price of holding the loop."""
        fut: asyncio.Future[frames.Frame] = self._loop.create_future()
        self._pending = fut
        if self._handle.exited.done():
            # it may have said its last word before exiting (a restored SnapStart instance whose after-restore hook
            # failed can be gone before we get here): a frame already in the socket is the answer
            self.read_now()
            self._pending = None
            if fut.done():
                return fut.result()
            raise InstanceCrashed(describe_exit(self._handle.exited.result()))
        if others_waiting is not None:
            if self._poller is None:
                self._poller = select.poll()
                self._poller.register(self._handle.control.fileno(), select.POLLIN)
            end = time.perf_counter_ns() + SPIN_NS
            while self.open and not fut.done() and time.perf_counter_ns() < end and not others_waiting():
                if self._poller.poll(0):
                    self.read_now()
                else:
                    os.sched_yield()  # a runtime woken on this CPU runs first
            if fut.done():
                self._pending = None
                return fut.result()
        # not asyncio.timeout() nor a timer of its own: this runs on every invocation (`deadlines.py`)
        entry = self._deadlines.add(self._loop.time() + timeout_s, fut)
        try:
            return await fut
        finally:
            self._deadlines.clear(entry)
            self._pending = None
