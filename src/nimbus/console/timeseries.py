"""Per-function, per-minute figures for the console's charts and lists: invocations, errors, throttles, cold starts,
peak concurrency, and a digest of handler durations (p50/p99), kept durably for `retention_days`.

Written off the invoke path. The invoke path only adds to what it already counts (the instance manager's running
totals, the throttle's refusals) plus one append of the handler's duration and one compare for the peak; this
module's task samples those every SAMPLE_S, turns the differences into the current minute's figures in memory, and
writes the minutes every `flush_s` in a worker thread. A crash loses at most the last `flush_s` of figures. Reads
merge what is written with what is not yet, so a chart shows an invocation within SAMPLE_S.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy import Engine, Select, delete, insert, select, update

from nimbus.clock import Clock, RealClock
from nimbus.console import digest
from nimbus.instances.stats import FunctionStats
from nimbus.store.schema import function_minutes as rows

log = logging.getLogger(__name__)

#: seconds between two samples of the running totals
SAMPLE_S = 1.0
#: seconds between two writes of the sampled minutes
FLUSH_S = 10.0
#: seconds between two deletions of minutes past the retention
PURGE_S = 3600.0


class Totals(Protocol):
    """What the instance manager counts per function (running totals since start, and durations to digest)."""

    def all_function_statistics(self) -> Mapping[str, FunctionStats]: ...

    def take_durations(self) -> dict[str, list[float]]: ...


class Admission(Protocol):
    """What the throttle counts per function: refusals (running totals) and peak concurrency since the last take."""

    @property
    def throttles(self) -> Mapping[str, int]: ...

    def take_peaks(self) -> dict[str, int]: ...

    def running(self, function: str) -> int: ...


@dataclass
class Minute:
    """One function's figures over one minute, or over several merged (a chart's step)."""

    invocations: int = 0
    errors: int = 0
    throttles: int = 0
    cold_starts: int = 0
    max_concurrency: int = 0
    durations: digest.Digest = field(default_factory=dict)

    def merge(self, other: Minute) -> None:
        self.invocations += other.invocations
        self.errors += other.errors
        self.throttles += other.throttles
        self.cold_starts += other.cold_starts
        self.max_concurrency = max(self.max_concurrency, other.max_concurrency)
        digest.merge(self.durations, other.durations)

    def p(self, q: float) -> float | None:
        return digest.percentile(self.durations, q)

    def point(self, t: int) -> dict[str, float | int | None]:
        """A chart's point: `t` epoch seconds, the counts, p50/p99 in ms (None without invocations)."""
        return {
            "t": t, "invocations": self.invocations, "errors": self.errors, "throttles": self.throttles,
            "cold_starts": self.cold_starts, "concurrency": self.max_concurrency, "p50": self.p(50), "p99": self.p(99),
        }  # fmt: skip


#: the running totals of one function at the last sample: invocations, errors, cold starts, throttles
_Seen = tuple[int, int, int, int]


class TimeSeries:
    def __init__(
        self,
        engine: Engine,
        totals: Totals,
        admission: Admission,
        retention_days: float,
        clock: Clock | None = None,
        flush_s: float = FLUSH_S,
    ) -> None:
        self.engine = engine
        self.totals = totals
        self.admission = admission
        self.retention_minutes = int(retention_days * 1440)
        self.clock: Clock = clock or RealClock()
        self.flush_s = flush_s
        self._seen: dict[str, _Seen] = {}
        #: (function, minute) -> figures sampled and not yet written
        self._open: dict[tuple[str, int], Minute] = {}
        self._lock = asyncio.Lock()

    # ---- sampling (on the loop, every SAMPLE_S) ----
    def sample(self) -> None:
        """Turn what was counted since the last sample into the current minute's figures."""
        minute = int(self.clock.time() // 60)
        stats = self.totals.all_function_statistics()
        durations = self.totals.take_durations()
        peaks = self.admission.take_peaks()
        throttles = self.admission.throttles
        for name in stats.keys() | peaks.keys() | throttles.keys():
            figures = stats.get(name)
            now = (figures.invocations, figures.errors, figures.cold_starts) if figures else (0, 0, 0)
            seen = (*now, throttles.get(name, 0))
            before = self._seen.get(name, (0, 0, 0, 0))
            self._seen[name] = seen
            # a total that went down was reset (the function deleted and made again): count from zero
            delta = [s - b if s >= b else s for s, b in zip(seen, before, strict=True)]
            peak, taken = peaks.get(name, 0), durations.get(name)
            if not (any(delta) or peak or taken):
                continue
            m = self._open.get((name, minute))
            if m is None:
                m = self._open[(name, minute)] = Minute()
            m.invocations += delta[0]
            m.errors += delta[1]
            m.cold_starts += delta[2]
            m.throttles += delta[3]
            m.max_concurrency = max(m.max_concurrency, peak)
            if taken:
                digest.add(m.durations, taken)

    def live(self) -> dict[str, tuple[int, int, int, int, int]]:
        """Every function's running totals since start (invocations, errors, cold starts, throttles) and the
        invocations it runs now: what `nimbus top` diffs for its rates."""
        stats, throttles = self.totals.all_function_statistics(), self.admission.throttles
        return {
            name: (s.invocations if s else 0, s.errors if s else 0, s.cold_starts if s else 0,
                   throttles.get(name, 0), self.admission.running(name))
            for name in stats.keys() | throttles.keys() for s in (stats.get(name),)
        }  # fmt: skip

    # ---- writing (a worker thread, every flush_s) ----
    async def flush(self) -> None:
        """Write the sampled minutes; on a storage error they stay in memory for the next flush (never raises)."""
        async with self._lock:
            batch, self._open = self._open, {}
            if not batch:
                return
            try:
                await asyncio.to_thread(self._write, batch)
            except Exception as exc:  # charts are never worth an invocation: keep the figures and try later
                log.warning("writing the console's time series failed (%s); retrying at the next flush", exc)
                for key, m in batch.items():
                    self._open.setdefault(key, Minute()).merge(m)

    def _write(self, batch: dict[tuple[str, int], Minute]) -> None:
        with self.engine.begin() as conn:
            for (name, minute), m in batch.items():
                key = (rows.c.function == name) & (rows.c.minute == minute)
                row = conn.execute(select(rows).where(key)).first()
                if row is not None:
                    m.merge(_from_row(row))
                values = {
                    "invocations": m.invocations, "errors": m.errors, "throttles": m.throttles,
                    "cold_starts": m.cold_starts, "max_concurrency": m.max_concurrency,
                    "durations": digest.dumps(m.durations),
                }  # fmt: skip
                if row is None:
                    conn.execute(insert(rows).values(function=name, minute=minute, **values))
                else:
                    conn.execute(update(rows).where(key).values(**values))

    def purge(self) -> int:
        """Delete the minutes past the retention (a minute is kept until `retention_days` after it); how many."""
        cutoff = int(self.clock.time() // 60) - self.retention_minutes
        with self.engine.begin() as conn:
            return conn.execute(delete(rows).where(rows.c.minute <= cutoff)).rowcount

    async def run(self) -> None:
        """Sample every SAMPLE_S, write every flush_s, purge hourly; owned by the server. Never ends on a storage
        error (the figures wait in memory); ends only when cancelled, after a last sample and write."""
        clock = self.clock
        next_flush = clock.monotonic() + self.flush_s
        next_purge = clock.monotonic()
        try:
            while True:
                await clock.sleep(SAMPLE_S)
                self.sample()
                if clock.monotonic() >= next_flush:
                    await self.flush()
                    next_flush = clock.monotonic() + self.flush_s
                if clock.monotonic() >= next_purge:
                    try:
                        await asyncio.to_thread(self.purge)
                    except Exception as exc:  # see flush
                        log.warning("purging the console's time series failed (%s)", exc)
                    next_purge = clock.monotonic() + PURGE_S
        finally:
            self.sample()
            await asyncio.shield(self.flush())

    # ---- reading (the store in a worker thread, the unwritten minutes on the loop) ----
    async def series(self, name: str, start_s: int, end_s: int, step_s: int) -> list[dict[str, float | int | None]]:
        """One point per `step_s` from `start_s` (inclusive) to `end_s` (exclusive), steps without data included
        (zero counts, no percentiles), written and unwritten minutes together."""
        first, last = start_s // 60, end_s // 60 + 1
        q = select(rows).where(rows.c.function == name, rows.c.minute >= first, rows.c.minute < last)
        found = await asyncio.to_thread(self._read, q)
        found += [(mi, m) for (n, mi), m in self._open.items() if n == name and first <= mi < last]
        steps = [Minute() for _ in range(max(0, (end_s - start_s + step_s - 1) // step_s))]
        for minute, m in found:
            index = (minute * 60 - start_s) // step_s
            if 0 <= index < len(steps):
                steps[index].merge(m)
        return [m.point(start_s + i * step_s) for i, m in enumerate(steps)]

    async def recent(self, minutes: int = 60) -> dict[str, Minute]:
        """Every function's figures over the last `minutes` (the current one included), merged."""
        first = int(self.clock.time() // 60) - minutes + 1
        found = await asyncio.to_thread(self._read, select(rows).where(rows.c.minute >= first), by_name=True)
        merged: dict[str, Minute] = {}
        for name, m in found:
            merged.setdefault(str(name), Minute()).merge(m)
        for (name, mi), m in self._open.items():
            if mi >= first:
                merged.setdefault(name, Minute()).merge(m)
        return merged

    def _read(self, q: Select[Any], by_name: bool = False) -> list[tuple[Any, Minute]]:
        with self.engine.connect() as conn:
            return [(r.function if by_name else r.minute, _from_row(r)) for r in conn.execute(q)]


def _from_row(row: object) -> Minute:
    r = row._mapping  # type: ignore[attr-defined]
    return Minute(r["invocations"], r["errors"], r["throttles"], r["cold_starts"], r["max_concurrency"],
                  digest.loads(r["durations"]))  # fmt: skip
