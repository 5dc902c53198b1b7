"""Admission control for invocations, done before any instance is touched: account concurrency, reserved
concurrency per function, and a host memory budget. Over a limit, a request gets 429 at once, never a queue.

This is the one admission gate and holds the one in-flight count (`in_flight`, and per function `running`); the
instance layer keeps no count of its own and asks this one (through a hook) whether an invocation runs alone.

How Lambda accounts (and so do we): a function with reserved concurrency R runs at most R invocations at a time
and never competes for the rest; functions without a reservation share the unreserved pool (account limit minus
every reservation). R = 0 throttles the function entirely. The memory budget adds what Lambda's fleet hides: the
MemorySize of everything running at once must fit the host's budget.

The throttle reads no time: its decisions depend on counts only, so its tests need no clock (fake or real).
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
        #: invocations admitted and not yet released, all functions (the one in-flight count)
        self.in_flight = 0
        self._running: Counter[str] = Counter()
        self._unreserved_running = 0
        self._memory_mb = 0
        self.throttles: Counter[str] = Counter()
        #: the most invocations of each function running at once since the time series last took them
        self.peaks: dict[str, int] = {}

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

    def acquire(self, function: str, memory_mb: int) -> bool:
        """Take one execution slot of `function`, or raise TooManyRequests. Returns whether the slot counts against
        the function's reservation, which `release` needs back (a reservation may change while it runs).
        Plain calls, no context manager: this is on the warm path."""
        reserved = self.reserved.get(function)
        running = self._running.get(function, 0)  # (get: a Counter's missing key costs a Python-level call)
        if reserved is not None:
            if running >= reserved:
                raise self._refuse(function, "ReservedFunctionConcurrentInvocationLimitExceeded")
        elif self._unreserved_running >= self.account_limit - sum(self.reserved.values()):
            raise self._refuse(function, "ConcurrentInvocationLimitExceeded")
        if self._memory_mb + memory_mb > self.memory_budget_mb:
            raise self._refuse(function, "ConcurrentInvocationLimitExceeded")
        self.in_flight += 1
        running = self._running[function] = running + 1
        if running > self.peaks.get(function, 0):
            self.peaks[function] = running
        self._memory_mb += memory_mb
        if reserved is None:
            self._unreserved_running += 1
            return False
        return True

    def release(self, function: str, memory_mb: int, reserved: bool) -> None:
        """Give back a slot `acquire` took (`reserved` is what it returned)."""
        self.in_flight -= 1
        left = self._running.get(function, 0) - 1
        if left:
            self._running[function] = left
        else:  # (pop: a Counter's own del is a Python-level call)
            self._running.pop(function, None)
        self._memory_mb -= memory_mb
        if not reserved:
            self._unreserved_running -= 1

    def take_peaks(self) -> dict[str, int]:
        """The peak concurrency of each function since the last take, at least what runs now (then reset)."""
        peaks, self.peaks = self.peaks, {}
        for function, running in self._running.items():
            peaks[function] = max(peaks.get(function, 0), running)
        return peaks

    @contextmanager
    def admit(self, function: str, memory_mb: int) -> Iterator[None]:
        """Hold one execution slot of `function` for the duration of the block, or raise TooManyRequests."""
        reserved = self.acquire(function, memory_mb)
        try:
            yield
        finally:
            self.release(function, memory_mb, reserved)

    def statistics(self) -> ThrottleStats:
        return ThrottleStats(self.in_flight, self._memory_mb, sum(self.throttles.values()))
