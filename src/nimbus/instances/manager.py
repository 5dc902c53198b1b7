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
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any

from nimbus.config import Settings
from nimbus.errors import ServiceError, TooManyRequests
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
from nimbus.invoke.types import FunctionSpec, InvokeRequest, InvokeResult
from nimbus.logs import framing
from nimbus.logs.sink import LogSink
from nimbus.protocol import frames
from nimbus.runtimes.registry import resolve_runtime

log = logging.getLogger(__name__)

#: Lambda gives on-demand init 10 s of its own before the invocation's timeout applies
INIT_TIMEOUT_S = 10.0

PoolKey = tuple[str, str, str]


def default_launcher(isolation: Isolation | None = None) -> Launcher:
    """The strongest launcher this host allows; anything weaker than full isolation is logged as a WARNING."""
    isolation = isolation or detect()
    for warning in isolation.warnings():
        log.warning("INSECURE: %s; run `nimbus doctor` for details", warning)
    if isolation.namespaces:
        return SandboxLauncher(isolation)
    log.warning("INSECURE: instances run UNSANDBOXED: they can read the data dir and signal the server")
    return SpawnLauncher()


@dataclass(frozen=True)
class ManagerStats:
    instances: int
    idle: int
    busy: int
    cold_starts: int
    invocations: int


class InstanceManager:
    def __init__(self, settings: Settings, logs: LogSink, launcher: Launcher | None = None) -> None:
        self._settings = settings
        self._logs = logs
        self._launcher: Launcher = launcher or default_launcher()
        self._pools: dict[PoolKey, Pool] = {}
        self._instances: set[Instance] = set()
        self._inflight = 0
        self._cold_starts = 0
        self._invocations = 0
        self._tasks: set[asyncio.Task[None]] = set()
        self._reaper: asyncio.Task[None] | None = None
        self._closing = False

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
        while self._tasks:
            await asyncio.gather(*list(self._tasks))
        if isinstance(self._launcher, SandboxLauncher):
            await self._launcher.close()

    def statistics(self) -> ManagerStats:
        states = [i.state for i in self._instances]
        return ManagerStats(
            instances=len(states),
            idle=states.count(InstanceState.IDLE),
            busy=states.count(InstanceState.BUSY),
            cold_starts=self._cold_starts,
            invocations=self._invocations,
        )

    # -- invoke ---------------------------------------------------------------------------------------------------

    async def invoke(self, spec: FunctionSpec, request: InvokeRequest) -> InvokeResult:
        if self._closing:
            raise ServiceError("The instance manager is shutting down.")
        if self._inflight >= self._settings.concurrency_limit:
            raise TooManyRequests("Rate Exceeded.", Reason="ConcurrentInvocationLimitExceeded")
        self._inflight += 1
        self._invocations += 1
        try:
            pool = self._pool_for(spec)
            instance = pool.take_idle()
            cold = instance is None
            if instance is None:
                started = await self._cold_start(spec, pool, request)
                if isinstance(started, InvokeResult):
                    return started
                instance = started
            elif request.want_log_tail:
                instance.output.begin_tail()
            finished = False
            try:
                result = await instance.invoke(request, time.time() + spec.timeout_s, cold)
                finished = True
            finally:
                if not finished:  # cancelled mid-invocation: the instance is in an unknown state
                    self._background(instance.kill(DeathReason.EXIT))
            if not pool.release(instance, time.monotonic()):
                self._background(instance.stop(DeathReason.RETIRED))
            return result
        finally:
            self._inflight -= 1

    async def retire(self, function_name: str) -> None:
        """Code or configuration changed (or the function is gone): no instance of it serves another request."""
        stopping: list[Instance] = []
        for key in [k for k in self._pools if k[0] == function_name]:
            pool = self._pools.pop(key)
            pool.retired = True
            stopping += pool.drain_idle()
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
            pool = self._pools[spec.pool_key] = Pool(spec)
        return pool

    async def _cold_start(self, spec: FunctionSpec, pool: Pool, request: InvokeRequest) -> Instance | InvokeResult:
        runtime = resolve_runtime(spec.runtime, self._settings.runtime_fallback)
        if runtime.fell_back:
            log.warning("%s: runtime %s is not on this host, running it with %s", spec.name, spec.runtime, runtime.name)
        self._make_room()
        group = spec.log_group or framing.default_log_group(spec.name)
        stream = framing.stream_name(spec.version)
        command = launch_command(spec, runtime, group, stream, sandboxed=self._launcher.sandboxed)
        handle = await self._launcher.launch(command)
        instance = Instance(spec, handle, self._logs, group, stream)
        instance.lifecycle.subscribe(lambda change: self._on_change(instance, pool, change))
        self._instances.add(instance)
        pool.add_starting(instance)
        self._cold_starts += 1
        if request.want_log_tail:
            instance.output.begin_tail()
        instance.attach()
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
        pool.started(instance)
        return instance

    def _make_room(self) -> None:
        """Keep live instances within the concurrency limit: evict the longest-idle instance of any pool."""
        if len(self._instances) < self._settings.concurrency_limit:
            return
        candidates = [(i.idle_since, key, i) for key, p in self._pools.items() for i in p.idle]
        if not candidates:
            return
        _, key, victim = min(candidates, key=lambda c: c[0])
        self._pools[key].idle.remove(victim)
        self._background(victim.stop(DeathReason.EVICTED))

    def _on_change(self, instance: Instance, pool: Pool, change: StateChange) -> None:
        if change.new is InstanceState.DEAD:
            self._instances.discard(instance)
            pool.forget(instance)
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
                if not len(pool):
                    del self._pools[key]
            if stale:
                await asyncio.gather(*(i.stop(DeathReason.REAPED_IDLE) for i in stale))


def _error_type(body: bytes) -> str:
    try:
        value = json.loads(body).get("errorType")
    except (ValueError, AttributeError):
        return "Runtime.Unknown"
    return value if isinstance(value, str) else "Runtime.Unknown"
