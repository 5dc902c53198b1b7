"""The log store: its batch insert keeps every field exactly and in order, and its timers (flush, backoff, purge,
warnings) run on the injected clock."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from pathlib import Path

import pytest

from nimbus.clock import FakeClock
from nimbus.logs import store as store_module
from nimbus.logs.limits import LogGate, LogLimits
from nimbus.logs.store import (
    FLUSH_INTERVAL,
    PURGE_INTERVAL,
    PURGE_RETRY_S,
    RETRY_FIRST_S,
    LogStore,
    metadata,
)

MESSAGES = [
    "START RequestId: r1 Version: $LATEST",
    'quotes " and \\ backslashes, tabs\tand JSON {"a": [1, 2]}',
    "unicode: héllo ✓ 日本語 🙂",
    "",
    "x" * 10_000,
    "REPORT RequestId: r1\tDuration: 1.00 ms",
]


def test_a_batch_is_stored_exactly_and_in_order(tmp_path: Path) -> None:
    store = LogStore(tmp_path / "logs.db", retention_days=1)

    async def write() -> None:
        for n, message in enumerate(MESSAGES):
            store.emit("/aws/lambda/fn", f"stream-{n % 2}", 1_700_000_000_000 + n, message)
        store.emit("/aws/lambda/other", "s", 1_700_000_000_100, "elsewhere")
        await store.flush()
        await store.close()

    asyncio.run(write())
    events = store.query("/aws/lambda/fn")
    assert [e.message for e in events] == MESSAGES
    assert [e.stream for e in events] == [f"stream-{n % 2}" for n in range(len(MESSAGES))]
    assert [e.timestamp for e in events] == [1_700_000_000_000 + n for n in range(len(MESSAGES))]
    assert all(e.ingested > 1_700_000_000_000 for e in events)
    assert [e.id for e in events] == sorted(e.id for e in events)
    assert [e.message for e in store.query("/aws/lambda/other")] == ["elsewhere"]


# ---- timing on the injected clock: nothing here sleeps ---------------------------------------------------------

GROUP = "/aws/lambda/fn"
DAY_MS = 86_400_000


class StepClock(FakeClock):
    """A fake clock whose `sleep` hands control to the test: the loop under test runs one iteration per `step`.

    Each sleep moves the clock forward, reports its length on `slept`, and waits for the test's go-ahead.
    """

    def __init__(self) -> None:
        super().__init__()
        self.slept: asyncio.Queue[float] = asyncio.Queue()
        self._go: asyncio.Queue[None] = asyncio.Queue()

    async def sleep(self, seconds: float) -> None:
        self.now += seconds
        self.slept.put_nowait(seconds)
        await self._go.get()

    async def step(self) -> float:
        """Let the loop run one more iteration; returns the length of the sleep it ends with."""
        self._go.put_nowait(None)
        return await self.slept.get()


def messages(store: LogStore) -> list[str]:
    return [e.message for e in store.query(GROUP)]


def drop_table(store: LogStore) -> None:
    """Make every write fail for real (no such table), until `metadata.create_all` brings the table back."""
    with store.engine.begin() as conn:
        conn.exec_driver_sql("DROP TABLE events")


def test_the_purge_cuts_at_the_clocks_time_less_the_retention(tmp_path: Path) -> None:
    clock = FakeClock()
    store = LogStore(tmp_path / "logs.db", retention_days=1, clock=clock)
    now_ms = int(clock.time() * 1000)

    async def body() -> None:
        store.emit(GROUP, "s", now_ms - DAY_MS - 1, "one ms past the retention")
        store.emit(GROUP, "s", now_ms - DAY_MS, "at the retention")
        store.emit(GROUP, "s", now_ms, "fresh")
        await store.flush()
        assert store.purge() == 1
        assert messages(store) == ["at the retention", "fresh"]
        clock.advance(0.001)
        assert store.purge() == 1
        assert messages(store) == ["fresh"]
        await store.close()

    asyncio.run(body())


def test_events_are_stamped_with_the_clocks_ingestion_time(tmp_path: Path) -> None:
    clock = FakeClock(start=1_700_000_000.0)
    store = LogStore(tmp_path / "logs.db", retention_days=1, clock=clock)
    store.emit(GROUP, "s", 1, "m")
    asyncio.run(store.close())
    assert [e.ingested for e in store.query(GROUP)] == [1_700_000_000_000]


def test_a_failed_write_backs_off_on_the_clock_doubling_then_resumes(tmp_path: Path) -> None:
    clock = FakeClock()
    store = LogStore(tmp_path / "logs.db", retention_days=1, clock=clock)

    async def body() -> None:
        drop_table(store)
        store.emit(GROUP, "s", 1, "first")
        await store.flush()  # fails: kept back, retried after RETRY_FIRST_S
        assert store._failures == 1
        store.emit(GROUP, "s", 2, "second")
        clock.advance(RETRY_FIRST_S - 0.001)
        await store.flush()  # still backing off: not tried
        assert store._failures == 1
        clock.advance(0.001)
        await store.flush()  # tried, fails again: the pause doubles
        assert store._failures == 2
        metadata.create_all(store.engine)
        clock.advance(2 * RETRY_FIRST_S - 0.001)
        await store.flush()
        assert store._failures == 2
        assert messages(store) == []
        clock.advance(0.001)
        await store.flush()  # written, in order; the backoff is over
        assert store._failures == 0
        assert messages(store) == ["first", "second"]
        store.emit(GROUP, "s", 3, "third")
        await store.flush()
        await store.close()

    asyncio.run(body())
    assert messages(store) == ["first", "second", "third"]
    assert store.gate.drops.lines["write_error"] == 0


def test_the_writer_flushes_each_interval_and_purges_hourly(tmp_path: Path) -> None:
    async def body() -> None:
        clock = StepClock()
        store = LogStore(tmp_path / "logs.db", retention_days=1, clock=clock)
        now_ms = int(clock.time() * 1000)
        store.emit(GROUP, "s", now_ms - 2 * DAY_MS, "old")
        store.emit(GROUP, "s", now_ms, "new")
        task = asyncio.create_task(store.run())
        try:
            assert await clock.slept.get() == FLUSH_INTERVAL  # the first round: a purge (of nothing), a flush
            assert messages(store) == ["old", "new"]
            clock.advance(PURGE_INTERVAL - 2 * FLUSH_INTERVAL)  # the next round ends just short of the hour
            store.emit(GROUP, "s", now_ms, "later")
            assert await clock.step() == FLUSH_INTERVAL
            assert messages(store) == ["old", "new", "later"]  # flushed, not purged
            assert await clock.step() == FLUSH_INTERVAL  # an hour after the first purge: the second
            assert messages(store) == ["new", "later"]
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await store.close()

    asyncio.run(body())


def test_a_failed_purge_is_tried_again_a_minute_later(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    def failures() -> int:
        return sum("purging expired log events failed" in r.getMessage() for r in caplog.records)

    async def body() -> None:
        clock = StepClock()
        store = LogStore(tmp_path / "logs.db", retention_days=1, clock=clock)
        drop_table(store)
        task = asyncio.create_task(store.run())
        try:
            await clock.slept.get()
            assert failures() == 1
            clock.advance(PURGE_RETRY_S - 2 * FLUSH_INTERVAL)
            await clock.step()
            assert failures() == 1
            await clock.step()
            assert failures() == 2
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await store.close()

    with caplog.at_level(logging.WARNING, logger="nimbus.logs.store"):
        asyncio.run(body())


def test_dropped_lines_are_warned_about_once_a_minute_per_reason(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    clock = FakeClock()
    store = LogStore(tmp_path / "logs.db", 1, LogGate(LogLimits(buffer_bytes=1, disk_reserve_bytes=0)), clock=clock)

    def warnings() -> int:
        return sum("log lines dropped (backlog)" in r.getMessage() for r in caplog.records)

    with caplog.at_level(logging.WARNING, logger="nimbus.logs.store"):
        store.emit(GROUP, "s", 1, "dropped")
        store.emit(GROUP, "s", 1, "dropped")
        assert warnings() == 1
        clock.advance(59.999)
        store.emit(GROUP, "s", 1, "dropped")
        assert warnings() == 1
        clock.advance(0.001)
        store.emit(GROUP, "s", 1, "dropped")
        assert warnings() == 2
    assert store.gate.drops.lines["backlog"] == 4
    asyncio.run(store.close())


def test_reads_near_the_newest_events_answer_as_reads_of_the_whole_group(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A read within the newest RECENT_IDS ids goes by id over every group's events (the tail's plan); one that
    reaches past them reads the group by its index. Both answer exactly what the stored events say, whichever
    side of the window a read starts or ends on."""
    monkeypatch.setattr(store_module, "RECENT_IDS", 10)
    store = LogStore(tmp_path / "logs.db", retention_days=1)
    for n in range(60):  # two groups interleaved unevenly, three streams, every fifth line a match
        group = GROUP if n % 3 else "/aws/lambda/other"
        store.emit(group, f"s{n % 4 // 2}", 1_000 + n, f"line {n}{' match' if n % 5 == 0 else ''}")
    asyncio.run(store.close())
    stored = store.query(GROUP, limit=1000)
    assert len(stored) == 40
    top = max(e.id for e in stored)
    for after in (0, 1, top - 25, top - 11, top - 10, top - 9, top - 3, top, top + 1):
        for limit in (1, 3, 7, 100):
            for streams in (None, ["s1"]):
                for contains in ((), ("match",)):
                    mine = [e for e in stored if (not streams or e.stream in streams)
                            and all(c in e.message for c in contains)]  # fmt: skip
                    forward = [e for e in mine if e.id > after][:limit]
                    backward = [e for e in reversed(mine) if not after or e.id < after][:limit]
                    where = {"after_id": after, "limit": limit, "streams": streams, "contains": contains}
                    assert store.query(GROUP, **where) == forward, where
                    assert store.query(GROUP, descending=True, **where) == backward, where
                    scanned = list(store.scan(GROUP, after_id=after, limit=limit, streams=streams, contains=contains))
                    assert scanned == forward, where
