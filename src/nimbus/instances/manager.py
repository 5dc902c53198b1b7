"""The instance layer's front: pools per (function, version, revision), concurrency, cold starts, keep-alive.

The server calls `invoke`; everything about processes stays below this line. Background work (the keep-alive
reaper, stops of instances released after a retire) is owned here and ended by `stop`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nimbus.config import Settings
from nimbus.errors import NimbusError, ServiceError
from nimbus.instances.environment import launch_command
from nimbus.instances.instance import (
    OUT_OF_MEMORY,
    Instance,
    InstanceCrashed,
    error_payload,
    exit_error,
    oom_error,
    timeout_error,
)
from nimbus.instances.isolation import Isolation, detect
from nimbus.instances.lifecycle import DeathReason, InstanceState, StateChange
from nimbus.instances.pool import Pool
from nimbus.instances.process import Launcher, SpawnLauncher, describe_exit
from nimbus.instances.sandbox import SandboxLauncher
from nimbus.instances.snapshot import SnapshotTemplate, TemplateGone
from nimbus.instances.zygote import DEFAULT_SPARES, ZygoteLauncher
from nimbus.logs import framing
from nimbus.logs.sink import LogSink
from nimbus.protocol import frames
from nimbus.protocol.records import FunctionSpec, InvokeRequest, InvokeResult
from nimbus.runtimes.registry import resolve_runtime

log = logging.getLogger(__name__)

#: Lambda gives on-demand init 10 s of its own before the invocation's timeout applies
INIT_TIMEOUT_S = 10.0

PoolKey = tuple[str, str, str]


def default_launcher(
    isolation: Isolation | None = None, spares: int = DEFAULT_SPARES, limits_mechanism: str = "auto"
) -> Launcher:
    """The strongest launcher this host allows; anything weaker than full isolation is logged as a WARNING.
    Raises ValueError when `limits_mechanism` is "cgroup" and the host has none for the server."""
    isolation = isolation or detect(limits_mechanism)
    for warning in isolation.warnings():
        log.warning("INSECURE: %s; run `nimbus doctor` for details", warning)
    if isolation.namespaces:
        return ZygoteLauncher(isolation, spares)
    log.warning("INSECURE: instances run UNSANDBOXED: they can read the data dir and signal the server")
    return SpawnLauncher()


@dataclass(frozen=True)
class ManagerStats:
    instances: int
    idle: int
    busy: int
    cold_starts: int
    invocations: int
    restores: int = 0
    provisioned_ready: int = 0


@dataclass(frozen=True)
class FunctionStats:
    """One function's figures (all versions), for a metrics surface."""

    concurrent_executions: int
    instances: int
    idle: int
    cold_starts: int
    restores: int
    invocations: int
    provisioned_ready: int
    #: invocations whose result is a function error (FunctionError set: handler, init or runtime failure)
    errors: int = 0
    #: time spent running handlers (init excluded, as Lambda's Duration) and how many runs it adds up
    duration_s: float = 0.0
    durations: int = 0


@dataclass
class _Counters:
    inflight: int = 0
    cold_starts: int = 0
    restores: int = 0
    invocations: int = 0
    errors: int = 0
    duration_s: float = 0.0
    durations: int = 0


@dataclass
class _Provision:
    """A provisioned-concurrency target for one (function, version)."""

    spec: FunctionSpec
    count: int
    failures: int = 0
    filling: bool = False


class InstanceManager:
    def __init__(self, settings: Settings, logs: LogSink, launcher: Launcher | None = None) -> None:
        self._settings = settings
        self._logs = logs
        self._launcher: Launcher = launcher or default_launcher(
            spares=settings.spare_instances, limits_mechanism=settings.limits_mechanism
        )
        self._pools: dict[PoolKey, Pool] = {}
        self._instances: set[Instance] = set()
        self._cold_starts = 0
        self._invocations = 0
        self._tasks: set[asyncio.Task[None]] = set()
        self._reaper: asyncio.Task[None] | None = None
        self._closing = False
        self._functions: dict[str, _Counters] = {}
        self._provisioned: dict[tuple[str, str], _Provision] = {}
        self._templates: dict[PoolKey, SnapshotTemplate] = {}
        self._template_locks: dict[PoolKey, asyncio.Lock] = {}
        self._restores = 0
        #: whether requests wait for the event loop (the HTTP server's probe); busy polling stops when they do
        self.others_waiting: Callable[[], bool] = _nobody_waits
        #: invocations in flight, all functions: the admission count, which the door (`nimbus.invoke`) keeps and
        #: wires here; busy polling needs an invocation alone. Unwired (the manager driven directly), each is alone.
        self.in_flight: Callable[[], int] = _one

    # -- lifecycle of the manager ---------------------------------------------------------------------------------

    async def start(self) -> None:
        self._reaper = asyncio.create_task(self._reap_forever(), name="nimbus-instance-reaper")

    async def stop(self) -> None:
        self._closing = True
        if self._reaper is not None:
            self._reaper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reaper
            self._reaper = None
        await asyncio.gather(*(i.stop(DeathReason.SHUTDOWN) for i in list(self._instances)))
        await asyncio.gather(*(t.instance.stop(DeathReason.SHUTDOWN) for t in self._templates.values()))
        self._templates.clear()
        while self._tasks:
            await asyncio.gather(*list(self._tasks))
        if isinstance(self._launcher, SandboxLauncher | ZygoteLauncher):
            await self._launcher.close()

    def prewarm(self, runtimes: set[str]) -> None:
        """Start, in the background, the zygotes (and their spares) of the Python runtimes in `runtimes`, so the
        first cold start after a server start does not wait for one. Unknown runtimes are skipped."""
        if not isinstance(self._launcher, ZygoteLauncher):
            return
        for name in sorted(runtimes):
            try:
                runtime = resolve_runtime(name, self._settings.runtime_fallback)
            except NimbusError:
                continue
            if runtime.kind == "python":
                self._launcher.prewarm(runtime.interpreter)

    def statistics(self) -> ManagerStats:
        states = [i.state for i in self._instances]
        return ManagerStats(
            instances=len(states),
            idle=states.count(InstanceState.IDLE),
            busy=states.count(InstanceState.BUSY),
            cold_starts=self._cold_starts,
            invocations=self._invocations,
            restores=self._restores,
            provisioned_ready=sum(self.provisioned_ready(n, v) for n, v in self._provisioned),
        )

    def function_statistics(self, name: str) -> FunctionStats:
        return self.all_function_statistics().get(name) or FunctionStats(0, 0, 0, 0, 0, 0, 0)

    def all_function_statistics(self) -> dict[str, FunctionStats]:
        """The figures of every function invoked, running or provisioned since start, in one pass (for a scrape)."""
        live: dict[str, list[int]] = {}  # name -> [instances, idle]
        for i in self._instances:
            figures = live.setdefault(i.spec.name, [0, 0])
            figures[0] += 1
            if i.state is InstanceState.IDLE:
                figures[1] += 1
        ready: dict[str, int] = {}
        for n, v in self._provisioned:
            ready[n] = ready.get(n, 0) + self.provisioned_ready(n, v)
        stats: dict[str, FunctionStats] = {}
        for name in self._functions.keys() | live.keys() | ready.keys():
            counters = self._functions.get(name) or _Counters()
            instances, idle = live.get(name, (0, 0))
            stats[name] = FunctionStats(
                concurrent_executions=counters.inflight,
                instances=instances,
                idle=idle,
                cold_starts=counters.cold_starts,
                restores=counters.restores,
                invocations=counters.invocations,
                provisioned_ready=ready.get(name, 0),
                errors=counters.errors,
                duration_s=counters.duration_s,
                durations=counters.durations,
            )
        return stats

    # -- provisioned concurrency ----------------------------------------------------------------------------------

    async def provision(self, spec: FunctionSpec, count: int) -> None:
        """Keep `count` initialised instances of spec's (name, version) ready; they start in the background."""
        key = (spec.name, spec.version)
        target = self._provisioned.get(key)
        if target is None or target.spec.pool_key != spec.pool_key:
            target = self._provisioned[key] = _Provision(spec, count)
        target.count = count
        target.failures = 0
        pool = self._pool_for(spec)
        extra = [i for i in pool.idle if i.provisioned][count:]
        for instance in extra:  # lowered target: the surplus idle ones become ordinary
            instance.provisioned = False
        self._fill(key)

    def provisioned_ready(self, name: str, version: str) -> int:
        target = self._provisioned.get((name, version))
        if target is None:
            return 0
        pool = self._pools.get(target.spec.pool_key)
        if pool is None:
            return 0
        ready = (InstanceState.IDLE, InstanceState.BUSY)
        return sum(1 for i in (*pool.idle, *pool.busy) if i.provisioned and i.state in ready)

    async def unprovision(self, name: str, version: str) -> None:
        target = self._provisioned.pop((name, version), None)
        if target is None:
            return
        pool = self._pools.get(target.spec.pool_key)
        now = time.monotonic()
        for instance in pool.everything() if pool is not None else []:
            instance.provisioned = False
            instance.idle_since = now  # ordinary from now on: reaped after keep-alive

    def _fill(self, key: tuple[str, str]) -> None:
        target = self._provisioned.get(key)
        if target is None or target.filling or self._closing:
            return
        target.filling = True
        self._background(self._fill_forever(key, target))

    async def _fill_forever(self, key: tuple[str, str], target: _Provision) -> None:
        try:
            while self._provisioned.get(key) is target and not self._closing:
                pool = self._pool_for(target.spec)
                have = sum(1 for i in pool.everything() if i.provisioned)
                missing = target.count - have
                if missing <= 0:
                    return
                results = await asyncio.gather(
                    *(self._start_provisioned(target.spec, pool) for _ in range(missing)), return_exceptions=True
                )
                failed = sum(1 for r in results if r is not True)
                if failed:
                    target.failures += failed
                    log.warning("%s:%s: %d provisioned instances failed to start", *key, failed)
                    await asyncio.sleep(min(30.0, 0.5 * target.failures))
        finally:
            target.filling = False

    async def _start_provisioned(self, spec: FunctionSpec, pool: Pool) -> bool:
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
        pool.add_idle(instance, time.monotonic())
        return True

    # -- invoke ---------------------------------------------------------------------------------------------------

    async def invoke(self, spec: FunctionSpec, request: InvokeRequest) -> InvokeResult:
        """Run `request` on an idle instance of `spec`, or on one started for it. Admission is the caller's (the
        door in `nimbus.invoke`): no limit is checked and no in-flight count is kept here."""
        if self._closing:
            raise ServiceError("The instance manager is shutting down.")
        self._invocations += 1
        counters = self._functions.get(spec.name)
        if counters is None:
            counters = self._functions[spec.name] = _Counters()
        counters.invocations += 1
        pool = self._pool_for(spec)
        instance = pool.take_idle()
        cold = instance is None
        if instance is None:
            if spec.snap_start and self._launcher.sandboxed:
                started = await self._restore_start(spec, pool, request, counters)
            else:
                counters.cold_starts += 1
                started = await self._cold_start(spec, pool, request)
            if isinstance(started, InvokeResult):
                counters.errors += 1  # init failed: the invocation's result is a function error
                return started
            instance = started
        elif request.want_log_tail:
            instance.output.begin_tail()
        finished = False
        try:
            alone = self._settings.busy_poll and self.in_flight() == 1 and not self.others_waiting()
            result = await instance.invoke(
                request, time.time() + spec.timeout_s, cold, self.others_waiting if alone else None
            )
            finished = True
        finally:
            if not finished:  # cancelled mid-invocation: the instance is in an unknown state
                self._background(instance.kill(DeathReason.EXIT))
        counters.duration_s += result.duration_ms / 1000
        counters.durations += 1
        if result.function_error:
            counters.errors += 1
        if not pool.release(instance, time.monotonic()):
            self._background(instance.stop(DeathReason.RETIRED))
        return result

    def code_in_use(self) -> set[Path]:
        """The code and layer dirs that a live instance, a SnapStart template or a pool may run from (a retired
        instance finishing its request included): code collection keeps them."""
        specs = [i.spec for i in self._instances] + [p.spec for p in self._pools.values()]
        specs += [t.instance.spec for t in self._templates.values()]
        return {d for s in specs for d in (s.code_dir, *s.layer_dirs)}

    async def retire(self, function_name: str) -> None:
        """Code or configuration changed (or the function is gone): no instance of it serves another request."""
        stopping: list[Instance] = []
        for key in [k for k in self._pools if k[0] == function_name]:
            pool = self._pools.pop(key)
            pool.retired = True
            stopping += pool.drain_idle()
        for key in [k for k in self._templates if k[0] == function_name]:
            self._background(self._drop_template(key))
        await asyncio.gather(*(i.stop(DeathReason.RETIRED) for i in stopping))

    # -- internals ------------------------------------------------------------------------------------------------

    def _pool_for(self, spec: FunctionSpec) -> Pool:
        pool = self._pools.get(spec.pool_key)
        if pool is None:
            # a new revision of (function, version) makes every older revision's pool stale
            for key in [k for k in self._pools if k[:2] == spec.pool_key[:2]]:
                old = self._pools.pop(key)
                old.retired = True
                for instance in old.drain_idle():
                    self._background(instance.stop(DeathReason.RETIRED))
            for key in [k for k in self._templates if k[:2] == spec.pool_key[:2] and k != spec.pool_key]:
                self._background(self._drop_template(key))
            pool = self._pools[spec.pool_key] = Pool(spec)
            target = self._provisioned.get(spec.pool_key[:2])
            if target is not None and target.spec.pool_key != spec.pool_key:
                # a new revision: the provisioned instances of the old one are gone, start them for this one
                target.spec = spec
                self._background(self._refill_soon(spec.pool_key[:2]))
        return pool

    async def _refill_soon(self, key: tuple[str, str]) -> None:
        self._fill(key)

    # -- SnapStart ------------------------------------------------------------------------------------------------

    async def _restore_start(
        self, spec: FunctionSpec, pool: Pool, request: InvokeRequest, counters: _Counters
    ) -> Instance | InvokeResult:
        """A cold start of a SnapStart version: fork from its template (made by this request when there is none)."""
        started = time.monotonic()
        made = await self._template_for(spec, pool, request)
        if isinstance(made, InvokeResult):
            counters.cold_starts += 1
            return made
        template, created = made
        group = spec.log_group or framing.default_log_group(spec.name)
        stream = framing.stream_name(spec.version)
        forked = time.monotonic()
        try:
            handle = await template.fork({})
        except TemplateGone:
            counters.cold_starts += 1
            return await self._cold_start(spec, pool, request)
        if isinstance(self._launcher, ZygoteLauncher):
            cgroup = self._launcher.sandbox.new_cgroup(spec.memory_mb)
            if cgroup is not None:
                # v1 cgroup migration waits for an RCU grace period (~10 ms): off the event loop
                try:
                    await asyncio.to_thread(_join, cgroup.procs_files, handle.pid)
                except OSError:  # already gone: the wait below reports how it ended
                    cgroup.remove()
                else:
                    handle.cgroup = cgroup
        instance = Instance(spec, handle, self._logs, group, stream)
        instance.started_at = forked
        instance.lifecycle.subscribe(lambda change: self._on_change(instance, pool, change))
        self._instances.add(instance)
        pool.add_starting(instance)
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
                self._restores += 1
        return result

    async def _template_for(
        self, spec: FunctionSpec, pool: Pool, request: InvokeRequest
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
            template = SnapshotTemplate(instance, self._launcher.sandboxed)
            self._templates[key] = template
            return template, True

    async def _drop_template(self, key: PoolKey) -> None:
        """Stop a template once its restored instances are gone (they die with its pid namespace)."""
        template = self._templates.pop(key, None)
        self._template_locks.pop(key, None)
        if template is None:
            return
        # a short poll: the count drops in exit callbacks, and this runs once per retired template, off any hot path
        while template.live_children and template.alive and not self._closing:  # noqa: ASYNC110
            await asyncio.sleep(0.1)
        await template.instance.stop(DeathReason.RETIRED)

    async def _cold_start(self, spec: FunctionSpec, pool: Pool, request: InvokeRequest) -> Instance | InvokeResult:
        runtime = resolve_runtime(spec.runtime, self._settings.runtime_fallback)
        if runtime.fell_back:
            log.warning("%s: runtime %s is not on this host, running it with %s", spec.name, spec.runtime, runtime.name)
        instance = await self._launch(spec, pool, "on-demand", request.want_log_tail)
        return await self._await_ready(instance, spec, pool, request)

    async def _launch(self, spec: FunctionSpec, pool: Pool | None, init_type: str, want_tail: bool = False) -> Instance:
        """Start an instance process of `spec` and watch it (INITIALISING); `pool` None for a SnapStart template."""
        runtime = resolve_runtime(spec.runtime, self._settings.runtime_fallback)
        self._make_room()
        group = spec.log_group or framing.default_log_group(spec.name)
        stream = framing.stream_name(spec.version)
        command = launch_command(spec, runtime, group, stream, self._launcher.sandboxed, init_type)
        if pool is not None:
            pool.launching += 1  # the pool is in use while the process starts: the reaper must not drop it
        try:
            handle = await self._launcher.launch(command)
        finally:
            if pool is not None:
                pool.launching -= 1
        instance = Instance(spec, handle, self._logs, group, stream)
        if pool is not None:
            instance.lifecycle.subscribe(lambda change: self._on_change(instance, pool, change))
            self._instances.add(instance)
            pool.add_starting(instance)
            self._cold_starts += 1
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
            self._background(instance.kill(DeathReason.SHUTDOWN))
            raise
        if frame.kind == frames.INIT_ERROR:
            await instance.stop(DeathReason.INIT_ERROR)
            error_type = _error_type(frame.body)
            log.info("%s: init failed with %s", spec.name, error_type)
            body = frame.body or error_payload("Runtime.Unknown", "init failed")
            return instance.report_init_failure(request, body, error_type, "error")
        return None

    def _make_room(self) -> None:
        """Keep live instances within the concurrency limit: evict the longest-idle instance of any pool."""
        if len(self._instances) < self._settings.concurrency_limit:
            return
        candidates = [(i.idle_since, key, i) for key, p in self._pools.items() for i in p.idle if not i.provisioned]
        if not candidates:
            return
        _, key, victim = min(candidates, key=lambda c: c[0])
        self._pools[key].idle.remove(victim)
        self._background(victim.stop(DeathReason.EVICTED))

    def _on_change(self, instance: Instance, pool: Pool, change: StateChange) -> None:
        if change.new is InstanceState.DEAD:
            self._instances.discard(instance)
            pool.forget(instance)
            if instance.provisioned and not pool.retired:  # keep the provisioned count up
                self._fill(pool.key[:2])
            log.debug("instance %s of %s dead: %s", instance.id, instance.spec.name, change.reason)

    def _background(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _reap_forever(self) -> None:
        keep_alive = self._settings.keep_alive
        interval = max(0.05, min(keep_alive / 4, 5.0))
        while True:
            await asyncio.sleep(interval)
            now = time.monotonic()
            stale: list[Instance] = []
            for key, pool in list(self._pools.items()):
                stale += pool.expired(now, keep_alive)
                if not len(pool) and key[:2] not in self._provisioned:
                    del self._pools[key]
            if stale:
                await asyncio.gather(*(i.stop(DeathReason.REAPED_IDLE) for i in stale))


def _nobody_waits() -> bool:
    return False


def _one() -> int:
    return 1


def _join(procs_files: list[str], pid: int) -> None:
    for path in procs_files:
        with open(path, "w") as f:
            f.write(str(pid))


def _error_type(body: bytes) -> str:
    try:
        value = json.loads(body).get("errorType")
    except (ValueError, AttributeError):
        return "Runtime.Unknown"
    return value if isinstance(value, str) else "Runtime.Unknown"
