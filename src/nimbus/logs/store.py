"""Durable log storage with retention, written off the invoke path.

`emit` only appends to an in-memory batch; a background task writes batches every FLUSH_INTERVAL seconds in a
worker thread. The log database is separate from the control database and runs with synchronous=NORMAL: a crash
of the server process loses at most the batch not yet written (≤ FLUSH_INTERVAL), never a committed one.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Column, Index, Integer, MetaData, String, Table, Text, delete, func, select

from nimbus.store.db import sqlite_engine

FLUSH_INTERVAL = 0.1
PURGE_INTERVAL = 3600.0

metadata = MetaData()

#: one row per log line. `id` orders events and is their eventId; `ts` is the event time (epoch ms).
events = Table(
    "events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("grp", String(512), nullable=False),
    Column("stream", String(512), nullable=False),
    Column("ts", Integer, nullable=False),
    Column("ingested", Integer, nullable=False),
    Column("message", Text, nullable=False),
    Index("events_grp_ts", "grp", "ts"),
    Index("events_grp_stream_ts", "grp", "stream", "ts"),
)


@dataclass(frozen=True)
class LogEvent:
    id: int
    group: str
    stream: str
    timestamp: int
    ingested: int
    message: str


class LogStore:
    def __init__(self, path: Path, retention_days: float) -> None:
        self.engine = sqlite_engine(path, synchronous="NORMAL")
        metadata.create_all(self.engine)
        self.retention_ms = int(retention_days * 86_400_000)
        self._pending: list[tuple[str, str, int, str]] = []
        self._flushing = asyncio.Lock()

    def emit(self, group: str, stream: str, timestamp_ms: int, message: str) -> None:
        self._pending.append((group, stream, timestamp_ms, message))

    def _write(self, batch: list[tuple[str, str, int, str]]) -> None:
        # The whole batch is one statement over one JSON parameter: sqlite3's executemany binds each row holding
        # the GIL and releases it around each row's step, and under load every one of those hand-offs made the
        # event loop wait for this thread. Here the GIL is given up once, for the whole insert.
        now = int(time.time() * 1000)
        with self.engine.begin() as conn:
            conn.exec_driver_sql(
                "INSERT INTO events (grp, stream, ts, ingested, message) "
                "SELECT value->>0, value->>1, value->>2, ?, value->>3 FROM json_each(?)",
                (now, json.dumps(batch, ensure_ascii=False)),
            )

    async def flush(self) -> None:
        async with self._flushing:
            if not self._pending:
                return
            batch, self._pending = self._pending, []
            await asyncio.to_thread(self._write, batch)

    def purge(self, now_ms: int | None = None) -> int:
        cutoff = (now_ms if now_ms is not None else int(time.time() * 1000)) - self.retention_ms
        with self.engine.begin() as conn:
            return conn.execute(delete(events).where(events.c.ts < cutoff)).rowcount

    async def run(self) -> None:
        """Flush every FLUSH_INTERVAL and purge expired events hourly; owned by the server's task group."""
        await asyncio.to_thread(self.purge)
        last_purge = time.monotonic()
        while True:
            await asyncio.sleep(FLUSH_INTERVAL)
            await self.flush()
            if time.monotonic() - last_purge > PURGE_INTERVAL:
                await asyncio.to_thread(self.purge)
                last_purge = time.monotonic()

    async def close(self) -> None:
        await self.flush()
        self.engine.dispose()

    # ---- queries (blocking; run in a thread) ----
    def has_group(self, group: str) -> bool:
        """Whether any event of `group` is stored (one index probe, not an aggregate over the group)."""
        with self.engine.connect() as conn:
            return conn.execute(select(events.c.id).where(events.c.grp == group).limit(1)).first() is not None

    def groups(self, prefix: str = "") -> list[tuple[str, int, int]]:
        """(group, first event ms, stored bytes) for every group with events."""
        q = (
            select(events.c.grp, func.min(events.c.ts), func.sum(func.length(events.c.message)))
            .where(events.c.grp.startswith(prefix, autoescape=True))
            .group_by(events.c.grp)
            .order_by(events.c.grp)
        )
        with self.engine.connect() as conn:
            return [(r[0], r[1], r[2] or 0) for r in conn.execute(q)]

    def streams(self, group: str, prefix: str = "") -> list[tuple[str, int, int, int]]:
        """(stream, first ts, last ts, last ingestion) per stream of a group."""
        q = (
            select(events.c.stream, func.min(events.c.ts), func.max(events.c.ts), func.max(events.c.ingested))
            .where(events.c.grp == group, events.c.stream.startswith(prefix, autoescape=True))
            .group_by(events.c.stream)
            .order_by(events.c.stream)
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
        contains: str | None = None,
        limit: int = 10_000,
        descending: bool = False,
    ) -> list[LogEvent]:
        q = select(events).where(events.c.grp == group)
        if streams:
            q = q.where(events.c.stream.in_(streams))
        if start is not None:
            q = q.where(events.c.ts >= start)
        if end is not None:
            q = q.where(events.c.ts < end)
        if after_id:
            q = q.where(events.c.id > after_id) if not descending else q.where(events.c.id < after_id)
        if contains:
            q = q.where(events.c.message.contains(contains, autoescape=True))
        q = q.order_by(events.c.id.desc() if descending else events.c.id).limit(limit)
        with self.engine.connect() as conn:
            return [LogEvent(r.id, r.grp, r.stream, r.ts, r.ingested, r.message) for r in conn.execute(q)]
