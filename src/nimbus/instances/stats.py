"""The instance layer's figures: what the manager counts per function, and the frozen records it reports.

The invoke path only adds to plain numbers in `Counters`; the records are built when someone asks (a metrics
scrape, `nimbus doctor`, tests), so reporting costs the warm path nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from nimbus.instances.instance import Instance
from nimbus.instances.lifecycle import InstanceState


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


NO_FIGURES = FunctionStats(0, 0, 0, 0, 0, 0)

#: the most handler durations kept between two takes (`InstanceManager.take_durations`, every second): a bound on
#: memory should nobody take them; past it, durations go uncounted in the digests (counts stay exact)
RECENT_MAX = 100_000


@dataclass
class Counters:
    """One function's running counts, added to in place by the invoke path."""

    cold_starts: int = 0
    restores: int = 0
    invocations: int = 0
    errors: int = 0
    duration_s: float = 0.0
    durations: int = 0
    #: handler durations (ms) since the time series last took them: appended on the invoke path, digested off it
    recent: list[float] = field(default_factory=list)


def manager_stats(
    instances: Iterable[Instance], cold_starts: int, invocations: int, restores: int, provisioned_ready: int
) -> ManagerStats:
    states = [i.state for i in instances]
    return ManagerStats(
        instances=len(states),
        idle=states.count(InstanceState.IDLE),
        busy=states.count(InstanceState.BUSY),
        cold_starts=cold_starts,
        invocations=invocations,
        restores=restores,
        provisioned_ready=provisioned_ready,
    )


def function_stats(
    instances: Iterable[Instance], counters: Mapping[str, Counters], ready: Mapping[str, int]
) -> dict[str, FunctionStats]:
    """The figures of every function invoked, running or provisioned (`ready`: provisioned instances per name)."""
    live: dict[str, list[int]] = {}  # name -> [instances, idle]
    for i in instances:
        figures = live.setdefault(i.spec.name, [0, 0])
        figures[0] += 1
        if i.state is InstanceState.IDLE:
            figures[1] += 1
    stats: dict[str, FunctionStats] = {}
    for name in counters.keys() | live.keys() | ready.keys():
        counts = counters.get(name) or Counters()
        total, idle = live.get(name, (0, 0))
        stats[name] = FunctionStats(
            instances=total,
            idle=idle,
            cold_starts=counts.cold_starts,
            restores=counts.restores,
            invocations=counts.invocations,
            provisioned_ready=ready.get(name, 0),
            errors=counts.errors,
            duration_s=counts.duration_s,
            durations=counts.durations,
        )
    return stats
