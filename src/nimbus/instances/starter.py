"""The one way an instance starts: on demand for an invocation, ahead of demand for provisioned concurrency, or
restored from a SnapStart template.

Every start launches through the `Launcher`, waits for init under INIT_TIMEOUT_S, and turns a failed init into its
invocation's Lambda-shaped result (timeout, crash, out of memory, init error). SnapStart templates (one per pool
key, made by the first cold start of a SnapStart version) are kept here, and dropped when their pool is retired.
The manager decides when to start; the starter only knows how.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import time
from collections.abc import Callable

from nimbus.config import Settings
from nimbus.instances.channel import InstanceCrashed
from nimbus.instances.downstream import Downstream
from nimbus.instances.environment import launch_command
from nimbus.instances.instance import Instance
from nimbus.instances.lifecycle import DeathReason
from nimbus.instances.pool import Pool
from nimbus.instances.process import Launcher, ProcessHandle, describe_exit
from nimbus.instances.results import OUT_OF_MEMORY, error_payload, exit_error, oom_error, timeout_error
from nimbus.instances.snapshot import SnapshotTemplate, TemplateGone
from nimbus.instances.stats import Counters
from nimbus.instances.supervisor import Supervisor
from nimbus.logs import framing
from nimbus.logs.sink import LogSink
from nimbus.protocol import frames
from nimbus.protocol.records import FunctionSpec, InvokeRequest, InvokeResult
from nimbus.runtimes.registry import resolve_runtime

log = logging.getLogger(__name__)

#: Lambda gives on-demand init 10 s of its own before the invocation's timeout applies
INIT_TIMEOUT_S = 10.0

PoolKey = tuple[str, str, str]


class Starter:
    """Starts instances into pools. `track(instance, pool)` hands each new pool instance to the manager (before
    its init: it counts as starting); `make_room()` lets the manager evict before a process is added."""

    def __init__(
        self,
        settings: Settings,
        logs: LogSink,
        launcher: Launcher,
        supervisor: Supervisor,
        track: Callable[[Instance, Pool], None],
        make_room: Callable[[], None],
        downstream: Downstream,
    ) -> None:
        self._settings = settings
        self._downstream = downstream
        self._logs = logs
        self._launcher = launcher
        self._supervisor = supervisor
        self._track = track
        self._make_room = make_room
        self._templates: dict[PoolKey, SnapshotTemplate] = {}
        self._template_locks: dict[PoolKey, asyncio.Lock] = {}
        #: instances launched into pools (on demand and provisioned), and SnapStart restores
        self.cold_starts = 0
        self.restores = 0
        #: on-demand cold starts from their launch to their READY (or failed init)
        self.initialising = 0

    # -- the three kinds of start ---------------------------------------------------------------------------------

    async def start(
        self, spec: FunctionSpec, pool: Pool, request: InvokeRequest, counters: Counters
    ) -> Instance | InvokeResult:
        """An instance for `request`, which found none idle (BUSY, its own), or the result of its failed init."""
        if spec.snap_start and self._launcher.sandboxed:
            return await self._restore(spec, pool, request, counters)
        counters.cold_starts += 1
        return await self._on_demand(spec, pool, request)

    async def start_provisioned(self, spec: FunctionSpec, pool: Pool) -> bool:
        """One provisioned instance, initialised and idle in `pool`; False when it failed to start."""
        instance = await self._launch(spec, pool, "provisioned-concurrency")
        instance.provisioned = True
        try:
            frame = await instance.wait_ready(INIT_TIMEOUT_S)
        except (TimeoutError, InstanceCrashed, frames.FrameError):
            await instance.kill(DeathReason.EXIT)
            return False
        if frame.kind != frames.READY or pool.retired:
            await instance.stop(DeathReason.INIT_ERROR if frame.kind != frames.READY else DeathReason.RETIRED)
            return False
        pool.add_idle(instance, self._supervisor.clock.monotonic())  # the reaper's clock: keep-alive counts on it
        return True

    async def _on_demand(self, spec: FunctionSpec, pool: Pool, request: InvokeRequest) -> Instance | InvokeResult:
        runtime = resolve_runtime(spec.runtime, self._settings.runtime_fallback)
        if runtime.fell_back:
            log.warning("%s: runtime %s is not on this host, running it with %s", spec.name, spec.runtime, runtime.name)
        self.initialising += 1
        try:
            instance = await self._launch(spec, pool, "on-demand", request.want_log_tail, self.initialising - 1)
            return await self._await_ready(instance, spec, pool, request)
        finally:
            self.initialising -= 1

    async def _restore(
        self, spec: FunctionSpec, pool: Pool, request: InvokeRequest, counters: Counters
    ) -> Instance | InvokeResult:
        """A cold start of a SnapStart version: fork from its template (made by this request when there is none)."""
        started = time.monotonic()
        made = await self._template_for(spec, request)
        if isinstance(made, InvokeResult):
            counters.cold_starts += 1
            return made
        template, created = made
        group = spec.log_group or framing.default_log_group(spec.name)
        stream = framing.stream_name(spec.version)
        forked = time.monotonic()
        session = self._downstream.mint(spec)
        try:
            handle = await template.fork(
                session.env if session else {}, lambda h: self._launcher.adopt(h, spec.memory_mb)
            )
        except TemplateGone:
            self._downstream.revoke(session)
            counters.cold_starts += 1
            return await self._on_demand(spec, pool, request)
        except BaseException:
            self._downstream.revoke(session)
            raise
        instance = Instance(spec, handle, self._logs, group, stream)
        self._downstream.watch(handle.exited, session)
        instance.session = session
        instance.started_at = forked
        self._track(instance, pool)
        if request.want_log_tail:
            instance.output.begin_tail()
        instance.attach()
        result = await self._await_ready(instance, spec, pool, request)
        if isinstance(result, Instance):
            if created:  # this request waited for the template's init: that is what it reports, honestly
                result.init_duration_ms = (time.monotonic() - started) * 1000
                counters.cold_starts += 1
            else:
                result.restore_duration_ms = (time.monotonic() - forked) * 1000
                counters.restores += 1
                self.restores += 1
        return result

    # -- SnapStart templates --------------------------------------------------------------------------------------

    async def _template_for(
        self, spec: FunctionSpec, request: InvokeRequest
    ) -> tuple[SnapshotTemplate, bool] | InvokeResult:
        key = spec.pool_key
        lock = self._template_locks.setdefault(key, asyncio.Lock())
        async with lock:
            template = self._templates.get(key)
            if template is not None and template.alive:
                return template, False
            instance = await self._launch(spec, None, "snap-start")
            failed = await self._wait_init(instance, spec, request)
            if failed is not None:
                return failed
            # the snapshot is taken: what init cached of the template's session is refused from now on
            self._downstream.revoke(instance.session)
            template = SnapshotTemplate(instance, self._launcher.sandboxed)
            self._templates[key] = template
            return template, True

    def drop_templates(self, stale: Callable[[PoolKey], bool]) -> None:
        """Stop, in the background, the templates whose pool key is `stale` (code changed, or a newer revision)."""
        for key in [k for k in self._templates if stale(k)]:
            self._supervisor.background(self._drop_template(key))

    async def _drop_template(self, key: PoolKey) -> None:
        """Stop a template once its restored instances are gone (they die with its pid namespace)."""
        template = self._templates.pop(key, None)
        self._template_locks.pop(key, None)
        if template is None:
            return
        # a short poll: the count drops in exit callbacks, and this runs once per retired template, off any hot path
        while template.live_children and template.alive and not self._supervisor.closing:  # noqa: ASYNC110
            await asyncio.sleep(0.1)
        await template.instance.stop(DeathReason.RETIRED)

    def template_specs(self) -> list[FunctionSpec]:
        return [t.instance.spec for t in self._templates.values()]

    async def close(self) -> None:
        await asyncio.gather(*(t.instance.stop(DeathReason.SHUTDOWN) for t in self._templates.values()))
        self._templates.clear()

    # -- launch and init ------------------------------------------------------------------------------------------

    async def _launch(
        self, spec: FunctionSpec, pool: Pool | None, init_type: str, want_tail: bool = False, starting: int = 0
    ) -> Instance:
        """Start an instance process of `spec` and watch it (INITIALISING); `pool` None for a SnapStart template;
        `starting`: the other cold starts initialising meanwhile (`LaunchCommand.starting`)."""
        runtime = resolve_runtime(spec.runtime, self._settings.runtime_fallback)
        if spec.foreign_architecture:
            log.warning("%s: architecture %s is not this host's, running it on the host's own (architecture "
                        "fallback): native code built for %s will not load", spec.name, spec.foreign_architecture,
                        spec.foreign_architecture)  # fmt: skip
        self._make_room()
        group = spec.log_group or framing.default_log_group(spec.name)
        stream = framing.stream_name(spec.version)
        downstream, sandboxed = self._downstream, self._launcher.sandboxed
        session = downstream.mint(spec, template=init_type == "snap-start")
        private_api = downstream.private_api(spec, sandboxed)
        command = launch_command(spec, runtime, group, stream, sandboxed, init_type,
                                 downstream.endpoint_env(spec, sandboxed), session.env if session else None,
                                 downstream.api_port if private_api else 0)  # fmt: skip
        if starting:
            command = dataclasses.replace(command, starting=starting)
        if pool is not None:
            pool.launching += 1  # the pool is in use while the process starts: the reaper must not drop it
        stop_listener, handle = None, None
        try:
            handle = await self._launcher.launch(command)
            if private_api:  # sent before the runtime says anything; an instance that never sends fails its init
                stop_listener = await downstream.adopt_listener(handle.control, INIT_TIMEOUT_S)
        except BaseException:
            downstream.revoke(session)
            if handle is not None:
                handle.kill()
                self._supervisor.background(_reap(handle))
            raise
        finally:
            if pool is not None:
                pool.launching -= 1
        instance = Instance(spec, handle, self._logs, group, stream)
        downstream.watch(handle.exited, session, stop_listener)
        instance.session = session
        if pool is not None:
            self._track(instance, pool)
            self.cold_starts += 1
        if want_tail:
            instance.output.begin_tail()
        instance.attach()
        return instance

    async def _await_ready(
        self, instance: Instance, spec: FunctionSpec, pool: Pool, request: InvokeRequest
    ) -> Instance | InvokeResult:
        failed = await self._wait_init(instance, spec, request)
        if failed is not None:
            return failed
        pool.started(instance)
        return instance

    async def _wait_init(self, instance: Instance, spec: FunctionSpec, request: InvokeRequest) -> InvokeResult | None:
        """Wait for a new instance's init; None when it is READY, else the failed invocation's result (the instance
        is stopped: timeout, crash, out of memory, or an init error)."""
        handle = instance.handle
        rid = request.request_id
        try:
            frame = await instance.wait_ready(INIT_TIMEOUT_S)
        except TimeoutError:
            await instance.kill(DeathReason.TIMEOUT)
            error = timeout_error(rid, spec.timeout_s)
            return instance.report_init_failure(request, error, "Sandbox.Timedout", "timeout")
        except (InstanceCrashed, frames.FrameError):
            await instance.kill(DeathReason.EXIT)
            if handle.oom_killed():
                error = oom_error(rid, describe_exit(handle.exited.result()))
                return instance.report_init_failure(request, error, OUT_OF_MEMORY, "error")
            error = exit_error(rid, describe_exit(handle.exited.result()))
            return instance.report_init_failure(request, error, "Runtime.ExitError", "error")
        except BaseException:
            self._supervisor.background(instance.kill(DeathReason.SHUTDOWN))
            raise
        if frame.kind == frames.INIT_ERROR:
            await instance.stop(DeathReason.INIT_ERROR)
            error_type = _error_type(frame.body)
            log.info("%s: init failed with %s", spec.name, error_type)
            body = frame.body or error_payload("Runtime.Unknown", "init failed")
            return instance.report_init_failure(request, body, error_type, "error")
        return None


async def _reap(handle: ProcessHandle) -> None:
    await handle.wait()


def _error_type(body: bytes) -> str:
    try:
        value = json.loads(body).get("errorType")
    except (ValueError, AttributeError):
        return "Runtime.Unknown"
    return value if isinstance(value, str) else "Runtime.Unknown"
