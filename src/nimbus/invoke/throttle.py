"""Admission control for invocations, done before any instance is touched: account concurrency, reserved
concurrency per function, and a host memory budget. Over a limit, a request gets 429 at once, never a queue.

How Lambda accounts (and so do we): a function with reserved concurrency R runs at most R invocations at a time
and never competes for the rest; functions without a reservation share the unreserved pool (account limit minus
every reservation). R = 0 throttles the function entirely. The memory budget adds what Lambda's fleet hides: the
MemorySize of everything running at once must fit the host's budget.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from nimbus.errors import TooManyRequests


@dataclass(frozen=True)
class ThrottleStats:
    in_flight: int
    memory_mb: int
    throttles: int


class Throttle:
    def __init__(self, account_limit: int, memory_budget_mb: int) -> None:
        self.account_limit = account_limit
        self.memory_budget_mb = memory_budget_mb
        self.reserved: dict[str, int] = {}
        self._running: Counter[str] = Counter()
        self._unreserved_running = 0
        self._memory_mb = 0
        self.throttles: Counter[str] = Counter()

    @property
    def unreserved_limit(self) -> int:
        return self.account_limit - sum(self.reserved.values())

    def set_reserved(self, function: str, value: int | None) -> None:
        if value is None:
            self.reserved.pop(function, None)
        else:
            self.reserved[function] = value

    def running(self, function: str) -> int:
        return self._running[function]

    def _refuse(self, function: str, reason: str) -> TooManyRequests:
        self.throttles[function] += 1
        return TooManyRequests("Rate Exceeded.", Reason=reason)

    @contextmanager
    def admit(self, function: str, memory_mb: int) -> Iterator[None]:
        """Hold one execution slot of `function` for the duration of the block, or raise TooManyRequests."""
        reserved = self.reserved.get(function)
        if reserved is not None:
            if self._running[function] >= reserved:
                raise self._refuse(function, "ReservedFunctionConcurrentInvocationLimitExceeded")
        elif self._unreserved_running >= self.unreserved_limit:
            raise self._refuse(function, "ConcurrentInvocationLimitExceeded")
        if self._memory_mb + memory_mb > self.memory_budget_mb:
            raise self._refuse(function, "ConcurrentInvocationLimitExceeded")
        self._running[function] += 1
        self._memory_mb += memory_mb
        if reserved is None:
            self._unreserved_running += 1
        try:
            yield
        finally:
            self._running[function] -= 1
            if not self._running[function]:
                del self._running[function]
            self._memory_mb -= memory_mb
            if reserved is None:
                self._unreserved_running -= 1

    def statistics(self) -> ThrottleStats:
        return ThrottleStats(sum(self._running.values()), self._memory_mb, sum(self.throttles.values()))
