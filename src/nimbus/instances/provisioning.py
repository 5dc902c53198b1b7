"""Provisioned concurrency: keep a number of initialised instances of a (function, version) ready.

A target is filled in the background by the starter, refilled when a provisioned instance dies, moved to a new
revision when the function changes, and given up (its instances become ordinary, reaped after keep-alive) by
`unprovision`. Failed starts back off, up to 30 s between tries. Provisioned instances sit in their pool's idle
list like any other, marked `provisioned`: taken first, never reaped idle, never evicted.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass

from nimbus.instances.lifecycle import InstanceState
from nimbus.instances.pool import Pool
from nimbus.instances.starter import Starter
from nimbus.instances.supervisor import Supervisor
from nimbus.protocol.records import FunctionSpec

log = logging.getLogger(__name__)

#: the longest pause between fills after failed starts
MAX_BACKOFF_S = 30.0


@dataclass
class _Target:
    """A provisioned-concurrency target for one (function, version)."""

    spec: FunctionSpec
    count: int
    failures: int = 0
    filling: bool = False


class Provisioner:
    """The provisioned targets; `pool_for(spec)` is the manager's (it retires older revisions' pools)."""

    def __init__(
        self,
        starter: Starter,
        supervisor: Supervisor,
        pool_for: Callable[[FunctionSpec], Pool],
        pool_of: Callable[[tuple[str, str, str]], Pool | None],
    ) -> None:
        self._starter = starter
        self._supervisor = supervisor
        self._pool_for = pool_for
        self._pool_of = pool_of
        self._targets: dict[tuple[str, str], _Target] = {}

    def __contains__(self, key: tuple[str, str]) -> bool:
        """Whether (name, version) has a target (its pools are kept even when empty)."""
        return key in self._targets

    async def provision(self, spec: FunctionSpec, count: int) -> None:
        """Keep `count` initialised instances of spec's (name, version) ready; they start in the background."""
        key = (spec.name, spec.version)
        target = self._targets.get(key)
        if target is None or target.spec.pool_key != spec.pool_key:
            target = self._targets[key] = _Target(spec, count)
        target.count = count
        target.failures = 0
        pool = self._pool_for(spec)
        extra = [i for i in pool.idle if i.provisioned][count:]
        for instance in extra:  # lowered target: the surplus idle ones become ordinary
            instance.provisioned = False
        self.fill(key)

    def ready(self, name: str, version: str) -> int:
        target = self._targets.get((name, version))
        if target is None:
            return 0
        pool = self._pool_of(target.spec.pool_key)
        if pool is None:
            return 0
        ready = (InstanceState.IDLE, InstanceState.BUSY)
        return sum(1 for i in (*pool.idle, *pool.busy) if i.provisioned and i.state in ready)

    def ready_per_function(self) -> dict[str, int]:
        ready: dict[str, int] = {}
        for n, v in self._targets:
            ready[n] = ready.get(n, 0) + self.ready(n, v)
        return ready

    async def unprovision(self, name: str, version: str, now: float) -> None:
        target = self._targets.pop((name, version), None)
        if target is None:
            return
        pool = self._pool_of(target.spec.pool_key)
        for instance in pool.everything() if pool is not None else []:
            instance.provisioned = False
            instance.idle_since = now  # ordinary from now on: reaped after keep-alive

    def revision_changed(self, spec: FunctionSpec) -> None:
        """A new revision of spec's (name, version) got its pool: the provisioned instances of the old one are
        gone, start them for this one."""
        target = self._targets.get(spec.pool_key[:2])
        if target is not None and target.spec.pool_key != spec.pool_key:
            target.spec = spec
            self._supervisor.background(self._fill_soon(spec.pool_key[:2]))

    async def _fill_soon(self, key: tuple[str, str]) -> None:
        self.fill(key)

    def fill(self, key: tuple[str, str]) -> None:
        """Start, in the background, what (name, version) misses of its target (no-op while a fill runs)."""
        target = self._targets.get(key)
        if target is None or target.filling or self._supervisor.closing:
            return
        target.filling = True
        self._supervisor.background(self._fill_forever(key, target))

    async def _fill_forever(self, key: tuple[str, str], target: _Target) -> None:
        try:
            while self._targets.get(key) is target and not self._supervisor.closing:
                pool = self._pool_for(target.spec)
                have = sum(1 for i in pool.everything() if i.provisioned)
                missing = target.count - have
                if missing <= 0:
                    return
                results = await asyncio.gather(
                    *(self._starter.start_provisioned(target.spec, pool) for _ in range(missing)),
                    return_exceptions=True,
                )
                failed = sum(1 for r in results if r is not True)
                if failed:
                    target.failures += failed
                    log.warning("%s:%s: %d provisioned instances failed to start", *key, failed)
                    await self._supervisor.clock.sleep(min(MAX_BACKOFF_S, 0.5 * target.failures))
        finally:
            target.filling = False
