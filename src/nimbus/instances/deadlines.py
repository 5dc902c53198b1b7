"""Invocation deadlines on one loop timer: what `ControlChannel.next_frame` waits under, without a timer of its own
per invoke.

A loop timer per invoke (`call_at` then `cancel`) costs ~1.8 µs on uvloop, measured: a timer handle and a libuv
timer started and stopped each time. Here each deadline is an entry in a heap, and one timer is armed at the
earliest: adding a deadline later than it (the usual case: invocations of the same timeout, in order) is a push,
and an invocation that ends in time only clears its entry. Cleared entries leave the heap as the timer passes them,
or all at once when they outnumber the live ones (so the heap stays within twice the invocations in flight).

A deadline fires as the per-invoke timer did: its future gets TimeoutError, at the loop's time of the deadline
(within the loop's timer resolution, a millisecond on uvloop: `_EARLY_S`).
"""

from __future__ import annotations

import asyncio
import heapq
import math
import weakref
from typing import Any

#: a timer may fire this much before its time (uvloop's are in whole milliseconds): entries due within it are due
_EARLY_S = 0.001
#: cleared entries tolerated beyond twice the live ones before the heap is rebuilt
SLACK = 64


#: one deadline in the heap: [when, seq, future], a list (compared in C by time, then by the order deadlines were
#: added; never by the future) whose future is set to None once it has fired or been cleared
Entry = list[Any]
_WHEN, _FUTURE = 0, 2


class Deadlines:
    """The deadlines of one event loop's invocations."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._heap: list[Entry] = []
        self._live = 0
        self._seq = 0
        self._timer: asyncio.TimerHandle | None = None
        self._armed_at = math.inf

    def __len__(self) -> int:
        """Deadlines not yet fired nor cleared."""
        return self._live

    @property
    def held(self) -> int:
        """Entries in the heap, cleared ones included: at most twice the live ones and SLACK."""
        return len(self._heap)

    def add(self, when: float, future: asyncio.Future[Any]) -> Entry:
        """At the loop's time `when`, `future` gets TimeoutError unless it is done or `clear` is called first."""
        self._seq += 1
        entry: Entry = [when, self._seq, future]
        heapq.heappush(self._heap, entry)
        self._live += 1
        if when < self._armed_at:
            self._arm(when)
        return entry

    def clear(self, entry: Entry) -> None:
        """The wait ended before its deadline: forget it (idempotent)."""
        if entry[_FUTURE] is None:
            return
        entry[_FUTURE] = None
        self._live -= 1
        if len(self._heap) > 2 * self._live + SLACK:
            self._heap = [e for e in self._heap if e[_FUTURE] is not None]
            heapq.heapify(self._heap)

    def _arm(self, when: float) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._armed_at = when
        self._timer = self._loop.call_at(when, self._fire)

    def _fire(self) -> None:
        self._timer, self._armed_at = None, math.inf
        heap = self._heap
        due = self._loop.time() + _EARLY_S
        while heap and heap[0][_WHEN] <= due:
            entry = heapq.heappop(heap)
            future = entry[_FUTURE]
            if future is not None:
                entry[_FUTURE] = None
                self._live -= 1
                if not future.done():
                    future.set_exception(TimeoutError())
        if heap:
            self._arm(heap[0][_WHEN])


_BY_LOOP: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Deadlines] = weakref.WeakKeyDictionary()


def for_loop(loop: asyncio.AbstractEventLoop) -> Deadlines:
    """The deadlines of `loop` (made on first use, gone with the loop)."""
    deadlines = _BY_LOOP.get(loop)
    if deadlines is None:
        deadlines = _BY_LOOP[loop] = Deadlines(loop)
    return deadlines
