"""Fires due schedules, for EventBridge rules with a ScheduleExpression and EventBridge Scheduler's schedules.

Owners `register(key, expression, tz, start, end, callback)` each enabled schedule (re-registering a key replaces
it; `unregister` ends it). One task, on the injected clock, sleeps until the earliest due schedule (a heap) and
fires every schedule due: it awaits `callback(key, when)` (which submits the fire's deliveries durably), then
records the fire in `schedule_fires` (key → last_fire_ms). Deliveries first, record second: a crash between the
two fires that time again after the restart (at least once, like every delivery), never zero times.

- A rate fires every period from the schedule's `start` (the epoch when it has none, so `rate(5 minutes)` fires
  on UTC's five-minute marks); cron and at() fire at their times in `tz`; nothing fires before `start` or after
  `end`. When a fire was the schedule's last (an at(), a cron whose years ended, the next time past `end`), the
  registration ends; `next_fire(key)` answers None from the moment the callback is called, so the owner can
  delete the schedule (Scheduler's ActionAfterCompletion DELETE).
- A flexible time window (`window_s` > 0, Scheduler's FlexibleTimeWindow FLEXIBLE) fires at a random moment
  within the window after the scheduled time; the callback still gets the scheduled time.
- Catch-up after downtime: schedules registered before `start` (loaded from their owners' tables at start-up)
  whose next time after their last recorded fire passed while the server was down fire once at start-up, however
  many times were missed, with the start-up time as `when`; then on schedule. A schedule registered while running
  (created, updated, enabled) starts from now, and its registration is recorded as its baseline, so a time it
  misses later, during downtime, is caught up too.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import heapq
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal, overload
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, select
from sqlalchemy.dialects.sqlite import insert

from nimbus.clock import Clock, RealClock
from nimbus.invoke.queue_tasks import cancel_and_wait
from nimbus.protocol.schedule_expr import Expression, next_fire, parse
from nimbus.store.schema import schedule_fires

log = logging.getLogger("nimbus.schedules")

FireCallback = Callable[[str, dt.datetime], Awaitable[None]]
#: the longest the loop sleeps before looking at the wall clock again (a clock set forward is noticed within it)
MAX_SLEEP_S = 60.0


@dataclass
class Registration:
    key: str
    expression: Expression
    tz: ZoneInfo | None
    start: dt.datetime | None
    end: dt.datetime | None
    callback: FireCallback
    window_s: float
    #: the next scheduled time (None: no fire remains) and when it will be fired (the time plus any window delay)
    next_at: dt.datetime | None = None
    due_s: float = 0.0
    #: bumped on every (re-)registration: a heap entry of an older one is stale
    generation: int = 0


def _utc(when: dt.datetime | None) -> dt.datetime | None:
    if when is None:
        return None
    return when.replace(tzinfo=dt.UTC) if when.tzinfo is None else when.astimezone(dt.UTC)


class ScheduleRunner:
    def __init__(self, engine: Engine, clock: Clock | None = None, rng: random.Random | None = None) -> None:
        self.engine = engine
        self.clock = clock or RealClock()
        self.rng = rng or random.Random()
        self._regs: dict[str, Registration] = {}
        self._heap: list[tuple[float, int, str]] = []
        self._generation = 0
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._started = False
        #: baselines to record (live registrations), written by the run loop
        self._baselines: dict[str, int] = {}
        with engine.connect() as conn:
            self._last: dict[str, int] = {row.key: row.last_fire_ms for row in conn.execute(select(schedule_fires))}
        #: fires made (catch-up fires included) and callbacks that failed, for tests and metrics
        self.fired = 0
        self.failed = 0

    # ---- registrations ----
    def register(
        self,
        key: str,
        expression: str | Expression,
        tz: ZoneInfo | None,
        start: dt.datetime | None,
        end: dt.datetime | None,
        callback: FireCallback,
        *,
        window_s: float = 0.0,
    ) -> dt.datetime | None:
        """Fire `callback(key, when)` at each time of `expression` (at() accepted) within [start, end]; replaces
        an earlier registration of `key`. Returns the first time it will fire (None: never)."""
        expr = parse(expression, allow_at=True) if isinstance(expression, str) else expression
        self._generation += 1
        reg = Registration(key, expr, tz, _utc(start), _utc(end), callback, max(0.0, window_s),
                           generation=self._generation)  # fmt: skip
        now = self._now()
        last_ms = self._last.get(key)
        if self._started or last_ms is None:
            after = now
            if self._started:  # live: its baseline is now, so downtime from here on is caught up
                self._baselines[key] = self._last[key] = int(now.timestamp() * 1000)
            self._schedule(reg, self._following(reg, after), catch_up=False)
        else:
            missed = self._following(reg, dt.datetime.fromtimestamp(last_ms / 1000, dt.UTC))
            if missed is not None and missed <= now:
                self._schedule(reg, now, catch_up=True)
            else:
                self._schedule(reg, missed, catch_up=False)
        self._regs[key] = reg
        self._wake.set()
        return reg.next_at

    def unregister(self, key: str) -> None:
        self._regs.pop(key, None)

    def next_fire(self, key: str) -> dt.datetime | None:
        """The next time `key` fires; None when it is not registered or no fire remains."""
        reg = self._regs.get(key)
        return reg.next_at if reg is not None else None

    def registered(self) -> list[str]:
        return sorted(self._regs)

    def _now(self) -> dt.datetime:
        return dt.datetime.fromtimestamp(self.clock.time(), dt.UTC)

    def _following(self, reg: Registration, after: dt.datetime) -> dt.datetime | None:
        """The first time of `reg` strictly after `after`, within [start, end]."""
        if reg.start is not None and after < reg.start:
            after = reg.start - dt.timedelta(microseconds=1)
        when = next_fire(reg.expression, after, reg.tz, anchor=reg.start)
        if when is None or (reg.end is not None and when > reg.end):
            return None
        return when

    def _schedule(self, reg: Registration, when: dt.datetime | None, *, catch_up: bool) -> None:
        reg.next_at = when
        if when is None:
            return
        delay = 0.0 if catch_up or reg.window_s <= 0 else self.rng.uniform(0.0, reg.window_s)
        reg.due_s = when.timestamp() + delay
        heapq.heappush(self._heap, (reg.due_s, reg.generation, reg.key))

    # ---- the task ----
    def begin(self) -> None:
        """From here on registrations are live (no catch-up): `start` does it; a test driving `fire_due` itself
        calls it alone."""
        self._started = True

    @overload
    def start(self) -> asyncio.Task[None]: ...
    @overload
    def start(self, *, task: Literal[False]) -> None: ...
    def start(self, *, task: bool = True) -> asyncio.Task[None] | None:
        """Start firing (after the owners registered what they loaded: those are caught up). `task=False`: only
        `begin`."""
        self.begin()
        if task:
            self._task = asyncio.create_task(self.run(), name="schedule-runner")
        return self._task

    async def stop(self) -> None:
        await cancel_and_wait(self._task)
        self._task = None

    async def run(self) -> None:
        while True:
            await self.fire_due()
            self._wake.clear()
            due = self._earliest()
            if due is None:
                await self._wake.wait()
                continue
            delay = due - self.clock.time()
            if delay <= 0:
                continue
            sleeper = asyncio.ensure_future(self.clock.sleep(min(delay, MAX_SLEEP_S)))
            waker = asyncio.ensure_future(self._wake.wait())
            try:
                await asyncio.wait({sleeper, waker}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                sleeper.cancel()
                waker.cancel()

    def _earliest(self) -> float | None:
        """The due time of the first live heap entry (stale ones are dropped on the way)."""
        while self._heap:
            due_s, generation, key = self._heap[0]
            reg = self._regs.get(key)
            if reg is not None and reg.generation == generation and reg.next_at is not None and reg.due_s == due_s:
                return due_s
            heapq.heappop(self._heap)
        return None

    async def fire_due(self) -> int:
        """Fire every registration due by the clock (their callbacks run concurrently), record the fires, and
        schedule each one's next time. Returns how many fired."""
        now_s = self.clock.time()
        batch: list[tuple[Registration, dt.datetime]] = []
        while (due := self._earliest()) is not None and due <= now_s:
            _, _, key = heapq.heappop(self._heap)
            reg = self._regs[key]
            when = reg.next_at
            assert when is not None
            self._schedule(reg, self._following(reg, max(when, dt.datetime.fromtimestamp(now_s, dt.UTC))),
                           catch_up=False)  # fmt: skip
            if reg.next_at is None:
                self._regs.pop(key, None)
            batch.append((reg, when))
        if self._baselines:
            baselines, self._baselines = self._baselines, {}
            await asyncio.to_thread(self._record, baselines)
        if not batch:
            return 0
        results = await asyncio.gather(*(reg.callback(reg.key, when) for reg, when in batch), return_exceptions=True)
        fired: dict[str, int] = {}
        for (reg, when), result in zip(batch, results, strict=True):
            if isinstance(result, BaseException):
                self.failed += 1
                log.error("schedule %s: its fire at %s failed: %r", reg.key, when.isoformat(), result,
                          exc_info=result)  # fmt: skip
                continue
            fired[reg.key] = int(when.timestamp() * 1000)
        self.fired += len(fired)
        if fired:
            self._last.update(fired)
            await asyncio.to_thread(self._record, fired)
        return len(fired)

    def _record(self, fires: dict[str, int]) -> None:
        with self.engine.begin() as conn:
            for key, ms in fires.items():
                stmt = insert(schedule_fires).values(key=key, last_fire_ms=ms)
                conn.execute(stmt.on_conflict_do_update(index_elements=["key"], set_={"last_fire_ms": ms}))
