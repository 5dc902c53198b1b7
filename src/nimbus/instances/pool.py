"""The instances of one (function, version, revision): which are idle (LIFO), which are busy, which are starting.

Pure bookkeeping, no awaiting: the manager decides when to start and stop processes. An instance leaves its pool
through `forget` (called from the lifecycle funnel when it dies), so the pool never holds a dead instance.
"""

from __future__ import annotations

from nimbus.instances.instance import Instance
from nimbus.instances.lifecycle import InstanceState
from nimbus.protocol.records import FunctionSpec


class Pool:
    def __init__(self, spec: FunctionSpec) -> None:
        self.spec = spec
        self.key = spec.pool_key
        self.idle: list[Instance] = []  # LIFO: the most recently used instance is the warmest
        self.busy: set[Instance] = set()
        self.starting: set[Instance] = set()
        #: processes being launched for this pool (not yet instances): they keep the pool alive
        self.launching = 0
        #: set when the function changed: no instance of this pool serves another request
        self.retired = False
        #: a provisioned instance has been idle here: only then does take_idle look for one (the warm path's scan)
        self._had_provisioned = False

    def __len__(self) -> int:
        return len(self.idle) + len(self.busy) + len(self.starting) + self.launching

    def take_idle(self) -> Instance | None:
        """The warmest idle instance (provisioned ones first), now BUSY; None when there is none."""
        idle = self.idle
        while idle and not self.retired:
            index = -1
            if self._had_provisioned:
                for n in range(len(idle) - 1, -1, -1):
                    if idle[n].provisioned:
                        index = n
                        break
            instance = idle.pop(index)
            if instance.state is InstanceState.IDLE:
                instance.lifecycle.change_state(InstanceState.BUSY)
                self.busy.add(instance)
                return instance
        return None

    def add_starting(self, instance: Instance) -> None:
        self.starting.add(instance)

    def started(self, instance: Instance) -> None:
        """A cold-started instance finished init and goes straight to the request that started it."""
        self.starting.discard(instance)
        instance.lifecycle.change_state(InstanceState.BUSY)
        self.busy.add(instance)

    def add_idle(self, instance: Instance, now: float) -> None:
        """An instance started ahead of demand (provisioned) finished init: it waits in the idle list."""
        self.starting.discard(instance)
        instance.idle_since = now
        self._had_provisioned |= instance.provisioned
        self.idle.append(instance)

    def release(self, instance: Instance, now: float) -> bool:
        """Return a BUSY instance after its invocation; False when it must be stopped instead (pool retired)."""
        self.busy.discard(instance)
        if instance.state is not InstanceState.BUSY:
            return True  # died or draining: nothing to keep
        if self.retired:
            self.busy.add(instance)  # stays accounted for until it is stopped
            return False
        instance.lifecycle.change_state(InstanceState.IDLE)
        instance.idle_since = now
        self._had_provisioned |= instance.provisioned
        self.idle.append(instance)
        return True

    def forget(self, instance: Instance) -> None:
        self.starting.discard(instance)
        self.busy.discard(instance)
        if instance in self.idle:
            self.idle.remove(instance)

    def expired(self, now: float, keep_alive: float) -> list[Instance]:
        """Idle instances past keep-alive, removed from the idle list (the caller stops them)."""
        stale = [i for i in self.idle if not i.provisioned and now - i.idle_since >= keep_alive]
        if stale:
            self.idle = [i for i in self.idle if i not in stale]
        return stale

    def expiring(self, wall_time: float) -> list[Instance]:
        """Idle instances (provisioned ones too) whose session runs out before `wall_time`, removed from the idle
        list (the caller stops them; a provisioned one is replaced)."""
        stale = [i for i in self.idle if i.session is not None and i.session.expires_at < wall_time]
        if stale:
            self.idle = [i for i in self.idle if i not in stale]
        return stale

    def drain_idle(self) -> list[Instance]:
        """Every idle instance, removed from the idle list (the caller stops them)."""
        idle, self.idle = self.idle, []
        return idle

    def everything(self) -> list[Instance]:
        return [*self.idle, *self.busy, *self.starting]
