"""The schedule runner on a fake clock over a real control database (schedule_fires) in tmp_path: rate, cron and
at() fires, start and end dates, time zones, flexible windows, unregistering and replacing, a failed callback, the
run loop sleeping to deadlines, and the catch-up policy across a restart (a new runner over the same table)."""

from __future__ import annotations

import asyncio
import datetime as dt
import random
from collections.abc import Awaitable, Callable
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, select

from nimbus.clock import FakeClock
from nimbus.sources.schedule_runner import ScheduleRunner
from nimbus.store.db import migrate, sqlite_engine
from nimbus.store.schema import metadata, schedule_fires

UTC = dt.UTC


def t(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=UTC)


class Fires:
    """A callback recording (key, when), and what the runner said of the next fire while it ran."""

    def __init__(self, runner: ScheduleRunner | None = None) -> None:
        self.got: list[tuple[str, dt.datetime]] = []
        self.next_seen: list[dt.datetime | None] = []
        self.runner = runner

    async def __call__(self, key: str, when: dt.datetime) -> None:
        self.got.append((key, when))
        if self.runner is not None:
            self.next_seen.append(self.runner.next_fire(key))

    @property
    def times(self) -> list[dt.datetime]:
        return [when for _, when in self.got]


def engine_at(tmp_path: Path) -> Engine:
    engine = sqlite_engine(tmp_path / "nimbus.db")
    migrate(engine, metadata)
    return engine


def run(tmp_path: Path, start: str, body: Callable[[ScheduleRunner, FakeClock], Awaitable[None]]) -> None:
    async def main() -> None:
        engine = engine_at(tmp_path)
        clock = FakeClock(t(start).timestamp())
        runner = ScheduleRunner(engine, clock, random.Random(7))
        try:
            await body(runner, clock)
        finally:
            await runner.stop()
            engine.dispose()

    asyncio.run(main())


async def tick(runner: ScheduleRunner, clock: FakeClock, seconds: float) -> int:
    clock.advance(seconds)
    return await runner.fire_due()


def recorded(tmp_path: Path) -> dict[str, int]:
    engine = engine_at(tmp_path)
    with engine.connect() as conn:
        rows = {row.key: row.last_fire_ms for row in conn.execute(select(schedule_fires))}
    engine.dispose()
    return rows


def test_rate_fires_every_period_and_records_each_fire(tmp_path: Path) -> None:
    async def body(runner: ScheduleRunner, clock: FakeClock) -> None:
        fires = Fires()
        runner.begin()
        assert runner.register("rule:default/r", "rate(5 minutes)", None, None, None, fires) == t("2026-11-30 12:05")
        assert await tick(runner, clock, 60) == 0
        assert await tick(runner, clock, 4 * 60 - 30) == 1
        assert await tick(runner, clock, 299) == 0
        assert await tick(runner, clock, 1) == 1
        assert fires.got == [("rule:default/r", t("2026-11-30 12:05")), ("rule:default/r", t("2026-11-30 12:10"))]
        assert runner.next_fire("rule:default/r") == t("2026-11-30 12:15")

    run(tmp_path, "2026-11-30 12:00:30", body)
    assert recorded(tmp_path) == {"rule:default/r": int(t("2026-11-30 12:10").timestamp() * 1000)}


def test_rate_counts_from_the_start_date(tmp_path: Path) -> None:
    async def body(runner: ScheduleRunner, clock: FakeClock) -> None:
        fires = Fires()
        runner.begin()
        start = t("2026-11-30 13:17")
        assert runner.register("k", "rate(1 hour)", None, start, None, fires) == start
        await tick(runner, clock, 3600 + 17 * 60)
        await tick(runner, clock, 3600)
        assert fires.times == [t("2026-11-30 13:17"), t("2026-11-30 14:17")]

    run(tmp_path, "2026-11-30 12:00", body)


def test_cron_in_a_time_zone(tmp_path: Path) -> None:
    async def body(runner: ScheduleRunner, clock: FakeClock) -> None:
        fires = Fires()
        runner.begin()
        first = runner.register("k", "cron(0 9 ? * MON-FRI *)", ZoneInfo("America/New_York"), None, None, fires)
        assert first == t("2026-11-30 14:00")  # 09:00 EST
        await tick(runner, clock, 2 * 3600)
        await tick(runner, clock, 86400)
        assert fires.times == [t("2026-11-30 14:00"), t("2026-12-01 14:00")]

    run(tmp_path, "2026-11-30 12:00", body)


def test_an_at_schedule_fires_once_and_says_it_was_the_last(tmp_path: Path) -> None:
    async def body(runner: ScheduleRunner, clock: FakeClock) -> None:
        fires = Fires(runner)
        runner.begin()
        assert runner.register("k", "at(2026-11-30T12:30:00)", None, None, None, fires) == t("2026-11-30 12:30")
        assert await tick(runner, clock, 3600) == 1
        assert fires.times == [t("2026-11-30 12:30")]
        assert fires.next_seen == [None]  # the owner can delete it (ActionAfterCompletion DELETE)
        assert runner.registered() == []
        assert await tick(runner, clock, 86400) == 0
        # an at() in the past never fires
        assert runner.register("old", "at(2026-11-30T12:00:00)", None, None, None, fires) is None

    run(tmp_path, "2026-11-30 12:00", body)


def test_start_and_end_dates_bound_the_fires(tmp_path: Path) -> None:
    async def body(runner: ScheduleRunner, clock: FakeClock) -> None:
        fires = Fires(runner)
        runner.begin()
        start, end = t("2026-11-30 14:00"), t("2026-11-30 16:00")
        assert runner.register("k", "cron(0 * * * ? *)", None, start, end, fires) == start
        for _ in range(8):
            await tick(runner, clock, 3600)
        assert fires.times == [t("2026-11-30 14:00"), t("2026-11-30 15:00"), t("2026-11-30 16:00")]
        assert fires.next_seen[-1] is None
        # an end date already past: nothing to fire
        assert runner.register("past", "rate(1 minute)", None, None, t("2026-11-30 12:00"), fires) is None

    run(tmp_path, "2026-11-30 12:30", body)


def test_unregister_and_replace(tmp_path: Path) -> None:
    async def body(runner: ScheduleRunner, clock: FakeClock) -> None:
        fires = Fires()
        runner.begin()
        runner.register("a", "rate(1 minute)", None, None, None, fires)
        runner.register("b", "rate(1 minute)", None, None, None, fires)
        runner.unregister("a")
        runner.unregister("nothing")
        runner.register("b", "rate(10 minutes)", None, None, None, fires)  # replaces b's rate(1 minute)
        for _ in range(10):
            await tick(runner, clock, 60)
        assert fires.got == [("b", t("2026-11-30 12:10"))]

    run(tmp_path, "2026-11-30 12:00", body)


def test_a_flexible_window_fires_within_it_with_the_scheduled_time(tmp_path: Path) -> None:
    async def body(runner: ScheduleRunner, clock: FakeClock) -> None:
        fires = Fires()
        runner.begin()
        runner.register("k", "cron(0 13 * * ? *)", None, None, None, fires, window_s=600)
        await tick(runner, clock, 3600)  # 13:00: the window's random delay has not passed (seeded rng)
        assert fires.got == []
        fired_at = None
        for _ in range(10):
            if await tick(runner, clock, 60):
                fired_at = clock.time()
                break
        assert fired_at is not None
        assert fired_at <= t("2026-11-30 13:10").timestamp()
        assert fires.times == [t("2026-11-30 13:00")]

    run(tmp_path, "2026-11-30 12:00", body)


def test_a_failed_callback_is_counted_not_recorded_and_the_schedule_goes_on(tmp_path: Path) -> None:
    async def body(runner: ScheduleRunner, clock: FakeClock) -> None:
        calls: list[dt.datetime] = []

        async def flaky(key: str, when: dt.datetime) -> None:
            calls.append(when)
            if len(calls) == 1:
                raise RuntimeError("store down")

        runner.begin()
        runner.register("k", "rate(1 minute)", None, None, None, flaky)
        assert await tick(runner, clock, 60) == 0
        assert runner.failed == 1
        assert await tick(runner, clock, 60) == 1
        assert calls == [t("2026-11-30 12:01"), t("2026-11-30 12:02")]

    run(tmp_path, "2026-11-30 12:00", body)


def test_the_run_loop_sleeps_to_each_deadline_on_the_clock(tmp_path: Path) -> None:
    async def body(runner: ScheduleRunner, clock: FakeClock) -> None:
        fires = Fires()
        task = runner.start()
        runner.register("k", "rate(1 hour)", None, None, None, fires)
        for _ in range(10_000):
            if len(fires.got) >= 3:
                break
            await asyncio.sleep(0.001)
        assert fires.times[:3] == [t("2026-11-30 13:00"), t("2026-11-30 14:00"), t("2026-11-30 15:00")]
        assert not task.done()

    run(tmp_path, "2026-11-30 12:00", body)


def test_the_loop_wakes_for_a_registration_earlier_than_its_sleep(tmp_path: Path) -> None:
    async def main() -> None:
        engine = engine_at(tmp_path)
        clock = FakeClock(t("2026-11-30 12:00").timestamp())

        class HeldClock(FakeClock):
            """Sleeps for real (so the loop stays asleep) unless woken."""

            async def sleep(self, seconds: float) -> None:
                await asyncio.Event().wait()

        held = HeldClock(clock.now)
        runner = ScheduleRunner(engine, held)
        fires = Fires()
        runner.start()
        runner.register("late", "rate(1 day)", None, None, None, fires)
        await asyncio.sleep(0.01)
        runner.register("now", "at(2026-11-30T11:00:00)", None, None, None, fires)  # past: never
        held.advance(60)
        runner.register("soon", "cron(0/1 * * * ? *)", None, None, None, fires)  # due at 12:02
        held.advance(60)
        runner.register("poke", "rate(1 day)", None, None, None, fires)  # wakes the loop: 12:02 is due
        for _ in range(100):
            if fires.got:
                break
            await asyncio.sleep(0.001)
        assert fires.got == [("soon", t("2026-11-30 12:02"))]
        await runner.stop()
        engine.dispose()

    asyncio.run(main())


# ---- catch-up across a restart ------------------------------------------------------------------------------------


def test_missed_fires_are_caught_up_once_at_start_up(tmp_path: Path) -> None:
    async def before(runner: ScheduleRunner, clock: FakeClock) -> None:
        runner.begin()
        runner.register("k", "rate(1 minute)", None, None, None, Fires())
        assert await tick(runner, clock, 60) == 1  # 12:01 recorded

    run(tmp_path, "2026-11-30 12:00", before)

    async def after(runner: ScheduleRunner, clock: FakeClock) -> None:
        # down from 12:01 to 12:30:30: 29 fires missed, one catch-up fire at start-up, then on schedule
        fires = Fires()
        assert runner.register("k", "rate(1 minute)", None, None, None, fires) == t("2026-11-30 12:30:30")
        runner.begin()
        assert await runner.fire_due() == 1
        assert fires.times == [t("2026-11-30 12:30:30")]
        assert runner.next_fire("k") == t("2026-11-30 12:31")
        assert await tick(runner, clock, 30) == 1
        assert fires.times[-1] == t("2026-11-30 12:31")

    run(tmp_path, "2026-11-30 12:30:30", after)


def test_nothing_is_caught_up_when_nothing_was_missed(tmp_path: Path) -> None:
    async def before(runner: ScheduleRunner, clock: FakeClock) -> None:
        runner.begin()
        runner.register("k", "cron(0 12 * * ? *)", None, None, None, Fires())
        assert await tick(runner, clock, 600) == 1  # 12:00 recorded

    run(tmp_path, "2026-11-30 11:55", before)

    async def after(runner: ScheduleRunner, clock: FakeClock) -> None:
        fires = Fires()
        assert runner.register("k", "cron(0 12 * * ? *)", None, None, None, fires) == t("2026-12-01 12:00")
        runner.begin()
        assert await runner.fire_due() == 0

    run(tmp_path, "2026-11-30 18:00", after)


def test_a_schedule_registered_while_running_is_caught_up_from_its_registration(tmp_path: Path) -> None:
    async def before(runner: ScheduleRunner, clock: FakeClock) -> None:
        runner.begin()
        runner.register("k", "at(2026-11-30T13:00:00)", None, None, None, Fires())
        await runner.fire_due()  # writes its baseline (the loop does this when woken)
        await runner.stop()

    run(tmp_path, "2026-11-30 12:00", before)
    assert recorded(tmp_path) == {"k": int(t("2026-11-30 12:00").timestamp() * 1000)}

    async def after(runner: ScheduleRunner, clock: FakeClock) -> None:
        fires = Fires(runner)
        runner.register("k", "at(2026-11-30T13:00:00)", None, None, None, fires)  # the server was down at 13:00
        runner.begin()
        assert await runner.fire_due() == 1
        assert fires.next_seen == [None]

    run(tmp_path, "2026-11-30 14:00", after)
    assert recorded(tmp_path) == {"k": int(t("2026-11-30 14:00").timestamp() * 1000)}


def test_a_missed_fire_past_the_end_date_is_not_caught_up(tmp_path: Path) -> None:
    async def before(runner: ScheduleRunner, clock: FakeClock) -> None:
        runner.begin()
        runner.register("k", "rate(1 hour)", None, None, None, Fires())
        await tick(runner, clock, 3600)

    run(tmp_path, "2026-11-30 12:00", before)

    async def after(runner: ScheduleRunner, clock: FakeClock) -> None:
        fires = Fires()
        assert runner.register("k", "rate(1 hour)", None, None, t("2026-11-30 13:30"), fires) is None
        runner.begin()
        assert await runner.fire_due() == 0

    run(tmp_path, "2026-11-30 18:00", after)
