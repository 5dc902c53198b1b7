"""The instance layer's front: pools per (function, version, revision): take idle, release, scale, evict.

The server calls `invoke`; everything about processes stays below this line. The manager keeps the pools and the
figures; how an instance starts is the starter's (`starter.py`: on demand, provisioned, SnapStart), provisioned
targets are the provisioner's (`provisioning.py`), and every background task and loop, the keep-alive reaper
included, is owned by the supervisor (`supervisor.py`) and ended by `stop`.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Callable
from pathlib import Path

from nimbus.clock import Clock
from nimbus.config import Settings
from nimbus.errors import NimbusError, ServiceError
from nimbus.instances.downstream import RENEW_MARGIN_S, Downstream
from nimbus.instances.instance import Instance
from nimbus.instances.lifecycle import DeathReason, InstanceState, StateChange
from nimbus.instances.pool import Pool
from nimbus.instances.process import Launcher
from nimbus.instances.provisioning import Provisioner
from nimbus.instances.spare_cpu import SpareCpu
from nimbus.instances.starter import Starter
from nimbus.instances.stats import (
    RECENT_MAX,
    Counters,
    FunctionStats,
    ManagerStats,
    function_stats,
    manager_stats,
)
from nimbus.instances.supervisor import Supervisor
from nimbus.instances.zygote import default_launcher
from nimbus.logs.sink import LogSink
from nimbus.protocol.records import FunctionSpec, InvokeRequest, InvokeResult
from nimbus.runtimes.registry import resolve_runtime

log = logging.getLogger(__name__)

PoolKey = tuple[str, str, str]


class InstanceManager:
    def __init__(
        self,
        settings: Settings,
        logs: LogSink,
        launcher: Launcher | None = None,
        clock: Clock | None = None,
        downstream: Downstream | None = None,
    ) -> None:
        self._settings = settings
        #: instances' credentials and endpoints (the server gives it its key ring and, once listening, its URL)
        self.downstream = downstream or Downstream(settings)
        self._logs = logs
        self._launcher: Launcher = launcher or default_launcher(
            spares=settings.spare_instances, limits_mechanism=settings.limits_mechanism
        )
        self._pools: dict[PoolKey, Pool] = {}
        self._instances: set[Instance] = set()
        self._invocations = 0
        self._closing = False
        self._functions: dict[str, Counters] = {}
        self._supervisor = Supervisor(clock)
        self._clock = self._supervisor.clock
        self._starter = Starter(settings, logs, self._launcher, self._supervisor, self._track, self._make_room,
                               self.downstream)  # fmt: skip
        self._provisioned = Provisioner(self._starter, self._supervisor, self._pool_for, self._pools.get)
        #: whether requests wait for the event loop (the HTTP server's probe); busy polling stops when they do
        self.others_waiting: Callable[[], bool] = _nobody_waits
        #: invocations in flight, all functions: the admission count, which the door (`nimbus.invoke`) keeps and
        #: wires here; busy polling needs an invocation alone. Unwired (the manager driven directly), each is alone.
        self.in_flight: Callable[[], int] = _one
        #: whether the machine has a CPU to spare for busy polling (a cached read of the kernel's runnable count)
        self.spare_cpu: Callable[[], bool] = SpareCpu().spare

    # -- lifecycle of the manager ---------------------------------------------------------------------------------

    async def start(self) -> None:
        keep_alive = self._settings.keep_alive
        self._supervisor.every("instance-reaper", max(0.05, min(keep_alive / 4, 5.0)), self.reap)

    async def stop(self) -> None:
        self._closing = True
        await self._supervisor.stop_loops()
        await asyncio.gather(*(i.stop(DeathReason.SHUTDOWN) for i in list(self._instances)))
        await self._starter.close()
        await self._supervisor.close()  # the background work left, and what the stops above started
        await self._launcher.close()

    def prewarm(self, runtimes: set[str]) -> None:
        """Start, in the background, what makes the first cold start of each Python runtime in `runtimes` fast (its
        zygote and spares, when the launcher has them). Unknown runtimes are skipped."""
        for name in sorted(runtimes):
            try:
                runtime = resolve_runtime(name, self._settings.runtime_fallback)
            except NimbusError:
                continue
            if runtime.kind == "python":
                self._launcher.prewarm(runtime.interpreter)

    def expect_cold_start(self, runtime: str) -> None:
        """A function of `runtime` was just created or updated: its next invoke is a cold start, so its Python
        interpreter's spare pool grows by one ahead of it (`spares.py`)."""
        try:
            resolved = resolve_runtime(runtime, self._settings.runtime_fallback)
        except NimbusError:
            return
        if resolved.kind == "python":
            self._launcher.prewarm(resolved.interpreter, cold_starts=1)

    def statistics(self) -> ManagerStats:
        starter = self._starter
        ready = sum(self._provisioned.ready_per_function().values())
        return manager_stats(self._instances, starter.cold_starts, self._invocations, starter.restores, ready)

    def function_statistics(self, name: str) -> FunctionStats:
        return self.all_function_statistics().get(name) or FunctionStats(0, 0, 0, 0, 0, 0)

    def all_function_statistics(self) -> dict[str, FunctionStats]:
        """The figures of every function invoked, running or provisioned since start, in one pass (for a scrape)."""
        return function_stats(self._instances, self._functions, self._provisioned.ready_per_function())

    def take_durations(self) -> dict[str, list[float]]:
        """Each function's handler durations (ms) since the last take, handed over (the time series' digest)."""
        taken: dict[str, list[float]] = {}
        for name, counters in self._functions.items():
            if counters.recent:
                taken[name], counters.recent = counters.recent, []
        return taken

    # -- provisioned concurrency ----------------------------------------------------------------------------------

    async def provision(self, spec: FunctionSpec, count: int) -> None:
        """Keep `count` initialised instances of spec's (name, version) ready; they start in the background."""
        await self._provisioned.provision(spec, count)

    def provisioned_ready(self, name: str, version: str) -> int:
        return self._provisioned.ready(name, version)

    async def unprovision(self, name: str, version: str) -> None:
        await self._provisioned.unprovision(name, version, self._clock.monotonic())

    # -- invoke ---------------------------------------------------------------------------------------------------

    async def invoke(self, spec: FunctionSpec, request: InvokeRequest) -> InvokeResult:
        """Run `request` on an idle instance of `spec`, or on one started for it. Admission is the caller's (the
        door in `nimbus.invoke`): no limit is checked and no in-flight count is kept here."""
        if self._closing:
            raise ServiceError("The instance manager is shutting down.")
        self._invocations += 1
        counters = self._functions.get(spec.name)
        if counters is None:
            counters = self._functions[spec.name] = Counters()
        counters.invocations += 1
        pool = self._pool_for(spec)
        instance = pool.take_idle()
        cold = instance is None
        if instance is None:
            started = await self._starter.start(spec, pool, request, counters)
            if isinstance(started, InvokeResult):
                counters.errors += 1  # init failed: the invocation's result is a function error
                return started
            instance = started
        elif request.want_log_tail:
            instance.output.begin_tail()
        finished = False
        try:
            alone = (
                request.interactive
                and self._settings.busy_poll
                and self.in_flight() == 1
                and self.spare_cpu()  # (cached: before the syscall of others_waiting)
                and not self.others_waiting()
            )
            result = await instance.invoke(
                request, time.time() + spec.timeout_s, cold, self.others_waiting if alone else None
            )
            finished = True
        finally:
            if not finished:  # cancelled mid-invocation: the instance is in an unknown state
                self._supervisor.background(instance.kill(DeathReason.EXIT))
        counters.duration_s += result.duration_ms / 1000
        counters.durations += 1
        if len(counters.recent) < RECENT_MAX:
            counters.recent.append(result.duration_ms)
        if result.function_error:
            counters.errors += 1
        if not pool.release(instance, self._clock.monotonic()):
            self._supervisor.background(instance.stop(DeathReason.RETIRED))
        return result

    def code_in_use(self) -> set[Path]:
        """The code and layer dirs that a live instance, a SnapStart template or a pool may run from (a retired
        instance finishing its request included): code collection keeps them."""
        specs = [i.spec for i in self._instances] + [p.spec for p in self._pools.values()]
        specs += self._starter.template_specs()
        return {d for s in specs for d in (s.code_dir, *s.layer_dirs)}

    async def retire(self, function_name: str) -> None:
        """Code or configuration changed (or the function is gone): no instance of it serves another request."""
        stopping: list[Instance] = []
        for key in [k for k in self._pools if k[0] == function_name]:
            pool = self._pools.pop(key)
            pool.retired = True
            stopping += pool.drain_idle()
        self._starter.drop_templates(lambda key: key[0] == function_name)
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
                    self._supervisor.background(instance.stop(DeathReason.RETIRED))
            self._starter.drop_templates(lambda key: key[:2] == spec.pool_key[:2] and key != spec.pool_key)
            pool = self._pools[spec.pool_key] = Pool(spec)
            self._provisioned.revision_changed(spec)
        return pool

    def _track(self, instance: Instance, pool: Pool) -> None:
        """A new instance of `pool` (the starter's): watched for its death, counted, starting in its pool."""
        # a partial, not a lambda: the listener runs on every state change, twice per warm invoke
        instance.lifecycle.subscribe(functools.partial(self._on_change, instance, pool))
        self._instances.add(instance)
        pool.add_starting(instance)

    def _make_room(self) -> None:
        """Keep live instances within the concurrency limit: evict the longest-idle instance of any pool."""
        if len(self._instances) < self._settings.concurrency_limit:
            return
        candidates = [(i.idle_since, key, i) for key, p in self._pools.items() for i in p.idle if not i.provisioned]
        if not candidates:
            return
        _, key, victim = min(candidates, key=lambda c: c[0])
        self._pools[key].idle.remove(victim)
        self._supervisor.background(victim.stop(DeathReason.EVICTED))

    def _on_change(self, instance: Instance, pool: Pool, change: StateChange) -> None:
        if change.new is InstanceState.DEAD:
            self._instances.discard(instance)
            pool.forget(instance)
            if instance.provisioned and not pool.retired:  # keep the provisioned count up
                self._provisioned.fill(pool.key[:2])
            log.debug("instance %s of %s dead: %s", instance.id, instance.spec.name, change.reason)

    async def reap(self, now: float) -> None:
        """Stop the instances idle past keep-alive at `now` (the clock's), and drop the pools left empty that no
        provisioned target keeps: the reaper's step, run by the supervisor."""
        keep_alive = self._settings.keep_alive
        stale: list[Instance] = []
        renew_by = time.time() + RENEW_MARGIN_S  # sessions are wall-clock: an instance never outlives its own
        for key, pool in list(self._pools.items()):
            stale += pool.expired(now, keep_alive)
            stale += pool.expiring(renew_by)
            if not len(pool) and key[:2] not in self._provisioned:
                del self._pools[key]
        if stale:
            await asyncio.gather(*(i.stop(DeathReason.REAPED_IDLE) for i in stale))


def _nobody_waits() -> bool:
    return False


def _one() -> int:
    return 1
