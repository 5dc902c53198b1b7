"""Durable log storage with retention, written off the invoke path.

`emit` only appends to an in-memory batch; a background task hands batches every FLUSH_INTERVAL seconds to the
writer process (`nimbus.logs.writer`), which does SQLite's work on a CPU other than the event loop's; reads and the
hourly purge run in threads here. The log database is separate from the control database and runs with
synchronous=NORMAL: a crash of the server process loses at most the batch not yet written (≤ FLUSH_INTERVAL),
never a committed one.

Losing logs is never fatal, and logs never take the server's memory or disk (see `nimbus.logs.limits`):
- the batch of unwritten lines is bounded (`buffer_bytes`); past it, lines are dropped, platform lines last;
- before each write, lines are dropped when the data dir's file system has less free space than the reserve
  (function output below `disk_reserve_bytes`, everything below half of it), so the control database, code and
  the platform's own lines keep room;
- a failed write ("database or disk is full", any SQLite or OS error) is logged, the batch goes back to be retried
  with backoff (RETRY_FIRST_S doubling to RETRY_MAX_S), and after WRITE_ATTEMPTS failures in a row it is dropped;
  invokes go on meanwhile, and writing resumes by itself once the disk has room again.
Every dropped line is counted by reason in `gate.drops` (exported as nimbus_log_*_dropped_total).

Every timer here (the flush interval, the retry backoff, the hourly purge and its retention cutoff, the warning
rate limit, the ingestion time) reads the injected `Clock`, so tests drive them with a fake one instead of sleeping.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Generator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Select, delete, event, exists, func, insert, literal_column, select, update

from nimbus.clock import Clock, RealClock
from nimbus.errors import InvalidParameter, ResourceConflict, ResourceNotFound
from nimbus.logs.limits import BACKLOG, DISK_RESERVE, WRITE_ERROR, LogGate
from nimbus.logs.schema import events, log_groups, log_streams, metadata, migrate
from nimbus.logs.writer import ROW_OVERHEAD as _ROW_OVERHEAD
from nimbus.logs.writer import LogWriter, Row
from nimbus.store.db import sqlite_engine

log = logging.getLogger(__name__)

FLUSH_INTERVAL = 0.1
PURGE_INTERVAL = 3600.0
#: the pause before a failed purge is tried again
PURGE_RETRY_S = 60.0
#: the first pause after a failed write; it doubles with each failure in a row, up to RETRY_MAX_S
RETRY_FIRST_S = 0.25
RETRY_MAX_S = 8.0
#: a batch that failed this many writes in a row is dropped (counted as write_error)
WRITE_ATTEMPTS = 4
#: the size SQLite cuts the WAL back to after a checkpoint (journal_size_limit); by default it never shrinks
WAL_LIMIT_BYTES = 4 << 20
#: the least time between two WARNINGs about lines dropped for the same reason
_WARN_EVERY_S = 60.0

__all__ = ["LogEvent", "LogStore", "events", "log_groups", "log_streams", "metadata"]

#: a read whose events all lie among the newest RECENT_IDS event ids (the console's tail, a page near the end)
#: reads those ids in order, all groups' alike, instead of every event of its group by index and a sort: a tail's
#: poll of a group of 300,000 events took 28-40 ms that way, and 0.5-2 ms this way (docs/performance.md)
RECENT_IDS = 20_000
#: CloudWatch Logs' retention periods, in days
RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288,
                  3653)  # fmt: skip


@dataclass(frozen=True)
class LogEvent:
    id: int
    group: str
    stream: str
    timestamp: int
    ingested: int
    message: str


def _size(rows: list[Row]) -> int:
    return sum(len(row[3]) for row in rows)


#: an event's columns after its id, group and stream name (LogEvent's order)
_EVENT_FIELDS = (events.c.ts, events.c.ingested, events.c.message)


def _group_streams(group: str) -> Select[Any]:
    return select(log_streams.c.id).where(log_streams.c.grp == group)


def _limit_wal(dbapi_conn: Any, _record: Any) -> None:
    dbapi_conn.execute(f"PRAGMA journal_size_limit={WAL_LIMIT_BYTES}")


class LogStore:
    def __init__(
        self, path: Path, retention_days: float, gate: LogGate | None = None, clock: Clock | None = None
    ) -> None:
        self.engine = sqlite_engine(path, synchronous="NORMAL")
        event.listen(self.engine, "connect", _limit_wal)
        migrate(self.engine)
        self._writer = LogWriter(path, WAL_LIMIT_BYTES)
        self.retention_ms = int(retention_days * 86_400_000)
        self.gate = gate or LogGate()
        self.clock: Clock = clock or RealClock()
        self._dir = path.parent
        self._pending: list[Row] = []
        self._pending_bytes = 0
        self._flushing = asyncio.Lock()
        self._failures = 0  # failed writes in a row
        self._resent = 0  # the first lines pending are a failed write's, to be sent again as they were
        self._retry_at = 0.0  # monotonic time before which no write is tried (backoff)
        self._warned: dict[str, float] = {}

    def emit(self, group: str, stream: str, timestamp_ms: int, message: str, platform: bool = False) -> None:
        size = len(message) + _ROW_OVERHEAD
        limit = self.gate.limits.buffer_bytes
        if limit and self._pending_bytes + size > (2 * limit if platform else limit):
            self._dropped(BACKLOG, [(group, stream, timestamp_ms, message, platform)],
                          "the log writer is behind (its buffer is full)")  # fmt: skip
            return
        self._pending.append((group, stream, timestamp_ms, message, platform))
        self._pending_bytes += size

    def _dropped(self, reason: str, rows: list[Row], why: str) -> None:
        self.gate.drops.add(reason, len(rows), _size(rows))
        now = self.clock.monotonic()
        if now - self._warned.get(reason, -_WARN_EVERY_S) >= _WARN_EVERY_S:
            self._warned[reason] = now
            log.warning("log lines dropped (%s): %s; see nimbus_log_lines_dropped_total", reason, why)

    def free_bytes(self) -> int | None:
        """Free space on the data dir's file system, as an unprivileged writer sees it (None: unknown)."""
        try:
            st = os.statvfs(self._dir)
        except OSError:
            return None
        return st.f_bavail * st.f_frsize

    def _within_reserve(self, batch: list[Row]) -> list[Row]:
        """The lines of `batch` that the free-space reserve lets through."""
        reserve = self.gate.limits.disk_reserve_bytes
        free = self.free_bytes() if reserve else None
        if free is None or free >= reserve:
            return batch
        keep_platform = free >= reserve // 2
        kept = [row for row in batch if keep_platform and row[4]]
        if len(kept) < len(batch):
            what = "function output is" if keep_platform else "no log line is"
            self._dropped(DISK_RESERVE, [row for row in batch if not (keep_platform and row[4])],
                          f"{free >> 20} MB free on {self._dir}, below the reserve of {reserve >> 20} MB: "
                          f"{what} written (--log-disk-reserve-mb)")  # fmt: skip
        return kept

    def _write(self, batch: list[Row], resent: int) -> tuple[int, Exception | None]:
        """Insert `batch` (in the writer process; its first `resent` rows are the last write's uncommitted ones);
        returns how many rows were committed, and the error that stopped it, if any."""
        return self._writer.write(int(self.clock.time() * 1000), batch, resent)

    @staticmethod
    def _forget_streams(conn: Connection) -> None:
        """Delete the streams left with no events (in the transaction that emptied them: the writer makes a stream
        and writes its first events in one transaction too, so no event ever points at a stream that is gone)."""
        conn.execute(delete(log_streams).where(~exists().where(events.c.sid == log_streams.c.id)))

    async def flush(self, retry_now: bool = False) -> None:
        """Write what is pending now, unless a failed write's backoff is still running (`retry_now`: try anyway).
        Never raises for a failure to store (see the module docstring): the batch is kept for a retry or dropped
        and counted."""
        async with self._flushing:
            if not self._pending or (self.clock.monotonic() < self._retry_at and not retry_now):
                return
            batch, self._pending, self._pending_bytes = self._pending, [], 0
            resent, self._resent = self._resent, 0  # sent again whole: the writer knows them by their place
            batch = batch[:resent] + self._within_reserve(batch[resent:]) if resent else self._within_reserve(batch)
            if not batch:
                return
            write = asyncio.ensure_future(asyncio.to_thread(self._write, batch, resent))
            try:
                await asyncio.wait([write])
            finally:
                if not write.done():
                    # cancelled (the server's stop cancels this task) while the writer has the batch: the thread
                    # goes on regardless, so its outcome is waited for (at most the writer's reply timeout) and
                    # kept, and what it did not store is left for `close` to write, not lost unsaid
                    await asyncio.wait([write])
                self._settle(batch, write)

    def _settle(self, batch: list[Row], write: asyncio.Future[tuple[int, Exception | None]]) -> None:
        """After a write: its failed part goes back to be retried (or dropped), or a run of failures ended."""
        exc = write.exception()
        done, error = (0, exc) if isinstance(exc, Exception) else write.result()  # losing logs is never fatal
        if error is not None:
            self._write_failed(batch[done:], error)
        elif self._failures:
            log.warning("log writes resumed after %d failed attempts", self._failures)
            self._failures = 0

    def _write_failed(self, batch: list[Row], exc: Exception) -> None:
        self._failures += 1
        delay = min(RETRY_MAX_S, RETRY_FIRST_S * 2 ** min(self._failures - 1, 16))
        self._retry_at = self.clock.monotonic() + delay
        error = getattr(exc, "orig", None) or exc  # SQLAlchemy's wrapper would print the whole batch
        if self._failures % WRITE_ATTEMPTS == 0:
            self._warned.pop(WRITE_ERROR, None)  # each dropped batch is worth a line
            self._dropped(WRITE_ERROR, batch, f"{len(batch)} lines could not be written after "
                          f"{WRITE_ATTEMPTS} attempts ({type(error).__name__}: {error})")  # fmt: skip
            return
        if self._failures == 1:
            log.warning(
                "writing logs failed (%s: %s); retrying with backoff, invokes go on", type(error).__name__, error
            )
        self._pending, self._resent = batch + self._pending, len(batch)
        self._pending_bytes += _size(batch) + _ROW_OVERHEAD * len(batch)

    def purge(self, now_ms: int | None = None) -> int:
        """Delete expired events: a group's own retention where it has one, else the server's."""
        now = now_ms if now_ms is not None else int(self.clock.time() * 1000)
        with self.engine.begin() as conn:
            own = dict(conn.execute(select(log_groups.c.grp, log_groups.c.retention_days)
                                    .where(log_groups.c.retention_days.is_not(None))).all())  # fmt: skip
            others = select(log_streams.c.id).where(log_streams.c.grp.not_in(own))
            gone = conn.execute(delete(events).where(events.c.sid.in_(others),
                                                     events.c.ts < now - self.retention_ms)).rowcount  # fmt: skip
            for group, days in own.items():
                gone += conn.execute(delete(events).where(events.c.sid.in_(_group_streams(group)),
                                                          events.c.ts < now - days * 86_400_000)).rowcount  # fmt: skip
            if gone:
                self._forget_streams(conn)
            return gone

    # ---- log groups made on purpose (blocking; run in a thread) ----
    def put_group(self, group: str, retention_days: int | None, *, creating: bool) -> None:
        """CreateLogGroup (refused when made already) or PutRetentionPolicy/DeleteRetentionPolicy (None)."""
        if retention_days is not None and retention_days not in RETENTION_DAYS:
            raise InvalidParameter(
                f"1 validation error detected: Value '{retention_days}' at 'retentionInDays' failed to satisfy "
                f"constraint: Member must satisfy enum value set: [{', '.join(map(str, RETENTION_DAYS))}]"
            )
        with self.engine.begin() as conn:
            exists = conn.execute(select(log_groups.c.grp).where(log_groups.c.grp == group)).first() is not None
            if creating and exists:
                raise ResourceConflict("The specified log group already exists")
            if not creating and not exists:
                raise ResourceNotFound("The specified log group does not exist.")
            if exists:
                conn.execute(update(log_groups).where(log_groups.c.grp == group).values(retention_days=retention_days))
            else:
                conn.execute(insert(log_groups).values(grp=group, created=int(self.clock.time() * 1000),
                                                       retention_days=retention_days))  # fmt: skip

    def delete_group(self, group: str) -> None:
        """DeleteLogGroup: the group and its events (a group already gone is no error here)."""
        with self.engine.begin() as conn:
            conn.execute(delete(log_groups).where(log_groups.c.grp == group))
            conn.execute(delete(events).where(events.c.sid.in_(_group_streams(group))))
            self._forget_streams(conn)

    def made_groups(self) -> dict[str, tuple[int, int | None]]:
        """The groups made on purpose: name -> (creation ms, retention days or None)."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(log_groups.c.grp, log_groups.c.created, log_groups.c.retention_days))
            return {r[0]: (r[1], r[2]) for r in rows}

    async def run(self) -> None:
        """Flush every FLUSH_INTERVAL and purge expired events hourly; owned by the server's task group.

        Never ends on an error: losing logs is never fatal. Failed writes are retried and dropped by `flush`; a
        failed purge is logged and tried again a minute later.
        """
        clock = self.clock
        next_purge = 0.0
        async with self._flushing:  # the writer process starts now, not in the first invocations' minutes
            try:
                await asyncio.to_thread(self._writer.start)
            except OSError as exc:  # the first write tries again
                log.warning("the log writer process could not be started (%s)", exc)
        while True:
            if clock.monotonic() >= next_purge:
                try:
                    await asyncio.to_thread(self.purge)
                    next_purge = clock.monotonic() + PURGE_INTERVAL
                except Exception as exc:  # see the docstring
                    log.warning("purging expired log events failed (%s); trying again in 60 s", exc)
                    next_purge = clock.monotonic() + PURGE_RETRY_S
            await self.flush()
            await clock.sleep(FLUSH_INTERVAL)

    async def close(self) -> None:
        """Write what is left (one last try, whatever the backoff) and release the database."""
        await self.flush(retry_now=True)
        if self._pending:
            self._dropped(WRITE_ERROR, self._pending, "the last batch could not be written at shutdown")
            self._pending, self._pending_bytes = [], 0
        await asyncio.to_thread(self._writer.close)
        self.engine.dispose()

    # ---- queries (blocking; run in a thread) ----
    def has_group(self, group: str) -> bool:
        """Whether the group was made or any event of it is stored (index probes, not an aggregate)."""
        with self.engine.connect() as conn:
            if conn.execute(select(log_groups.c.grp).where(log_groups.c.grp == group)).first() is not None:
                return True
            has_events = exists().where(events.c.sid == log_streams.c.id)
            return conn.execute(_group_streams(group).where(has_events).limit(1)).first() is not None

    def groups(self, prefix: str = "") -> list[tuple[str, int, int]]:
        """(group, first event ms, stored bytes) for every group with events."""
        q = (
            select(log_streams.c.grp, func.min(events.c.ts), func.sum(func.length(events.c.message)))
            .join(events, events.c.sid == log_streams.c.id)
            .where(log_streams.c.grp.startswith(prefix, autoescape=True))
            .group_by(log_streams.c.grp)
            .order_by(log_streams.c.grp)
        )
        with self.engine.connect() as conn:
            return [(r[0], r[1], r[2] or 0) for r in conn.execute(q)]

    def streams(self, group: str, prefix: str = "") -> list[tuple[str, int, int, int]]:
        """(stream, first ts, last ts, last ingestion) per stream of a group."""
        q = (
            select(log_streams.c.name, func.min(events.c.ts), func.max(events.c.ts), func.max(events.c.ingested))
            .join(events, events.c.sid == log_streams.c.id)
            .where(log_streams.c.grp == group, log_streams.c.name.startswith(prefix, autoescape=True))
            .group_by(log_streams.c.id)
            .order_by(log_streams.c.name)
        )
        with self.engine.connect() as conn:
            return [(r[0], r[1], r[2], r[3]) for r in conn.execute(q)]

    def query(
        self,
        group: str,
        *,
        streams: list[str] | None = None,
        start: int | None = None,
        end: int | None = None,
        after_id: int = 0,
        contains: Sequence[str] = (),
        limit: int = 10_000,
        descending: bool = False,
    ) -> list[LogEvent]:
        """Events of `group` in id order (`descending`: newest first), after `after_id`, whose message holds every
        string of `contains` (case-sensitive, as filter pattern terms are)."""
        with self.engine.connect() as conn:
            floor = self._recent_floor(conn, after_id, descending)
            if floor is not None:
                q = self._select(group, streams, start, end, after_id, contains, descending, floor).limit(limit)
                found = [LogEvent(*r) for r in conn.execute(q)]
                if not descending or len(found) == limit:  # all there is, or the newest `limit` of it
                    return found
            q = self._select(group, streams, start, end, after_id, contains, descending).limit(limit)
            return [LogEvent(*r) for r in conn.execute(q)]

    @staticmethod
    def _recent_floor(conn: Connection, after_id: int, descending: bool) -> int | None:
        """The id above which the newest RECENT_IDS events lie, when a read may be answered from them alone: one
        in id order that starts there, or any newest-first read (tried there first). None: read the whole group."""
        if not descending and not after_id:
            return None
        floor: int = (conn.execute(select(func.max(events.c.id))).scalar() or 0) - RECENT_IDS
        if descending:
            return floor if not after_id or after_id > floor else None
        return floor if after_id >= floor else None

    def scan(
        self,
        group: str,
        *,
        streams: list[str] | None = None,
        start: int | None = None,
        end: int | None = None,
        after_id: int = 0,
        contains: Sequence[str] = (),
        limit: int,
    ) -> Generator[LogEvent, None, None]:
        """`query`'s events one at a time from one statement, oldest first, for a caller that filters them and
        stops early: the store sorts the group's rows once, not once per batch."""
        with self.engine.connect() as conn:
            floor = self._recent_floor(conn, after_id, False)
            q = self._select(group, streams, start, end, after_id, contains, False, floor).limit(limit)
            for rows in conn.execute(q).partitions(1000):  # fetchmany: row-by-row fetching costs more than matching
                for r in rows:
                    yield LogEvent(*r)

    @staticmethod
    def _select(group: str, streams: list[str] | None, start: int | None, end: int | None, after_id: int,
                contains: Sequence[str], descending: bool, floor: int | None = None) -> Select[Any]:  # fmt: skip
        """Without `floor`: the group's streams first (by their unique index), then each one's events (by its own
        index), sorted. With it: the events above `floor` in id order, each one's stream looked up by its id."""
        q = select(events.c.id, log_streams.c.grp, log_streams.c.name, *_EVENT_FIELDS).join(
            log_streams, log_streams.c.id == events.c.sid
        )
        if floor is None:
            q = q.where(log_streams.c.grp == group)
        else:
            # `+`: SQLite's way to keep a term off an index, so the group's own index does not lead the plan
            q = q.where(literal_column("+log_streams.grp") == group, events.c.id > floor)
        if streams:
            q = q.where(log_streams.c.name.in_(streams))
        if start is not None:
            q = q.where(events.c.ts >= start)
        if end is not None:
            q = q.where(events.c.ts < end)
        if after_id:
            q = q.where(events.c.id > after_id) if not descending else q.where(events.c.id < after_id)
        for needle in contains:
            q = q.where(func.instr(events.c.message, needle) > 0)
        return q.order_by(events.c.id.desc() if descending else events.c.id)
