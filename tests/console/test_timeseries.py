"""The console's time series: running totals sampled into per-minute figures, written durably, read back merged
with what is not written yet, and purged past the retention. Driven with a fake clock and the real throttle; the
instance manager's totals are a stand-in with its real shapes (FunctionStats, durations lists)."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from pathlib import Path

import pytest

from nimbus.clock import FakeClock
from nimbus.console.timeseries import TimeSeries
from nimbus.errors import TooManyRequests
from nimbus.instances.stats import FunctionStats
from nimbus.invoke.throttle import Throttle
from nimbus.store.db import migrate, sqlite_engine
from nimbus.store.schema import metadata

START = 1_800_000_000.0  # a whole minute


class ManagerTotals:
    """What `InstanceManager` reports: running totals per function, and the durations since the last take."""

    def __init__(self) -> None:
        self.stats: dict[str, FunctionStats] = {}
        self.durations: dict[str, list[float]] = {}

    def run(self, name: str, durations: list[float], errors: int = 0, cold: int = 0) -> None:
        old = self.stats.get(name) or FunctionStats(0, 0, 0, 0, 0, 0)
        self.stats[name] = FunctionStats(0, 0, old.cold_starts + cold, 0, old.invocations + len(durations), 0,
                                         errors=old.errors + errors)  # fmt: skip
        self.durations.setdefault(name, []).extend(durations)

    def all_function_statistics(self) -> Mapping[str, FunctionStats]:
        return self.stats

    def take_durations(self) -> dict[str, list[float]]:
        taken, self.durations = self.durations, {}
        return taken


@pytest.fixture
def parts(tmp_path: Path) -> tuple[TimeSeries, ManagerTotals, Throttle, FakeClock]:
    engine = sqlite_engine(tmp_path / "nimbus.db")
    migrate(engine, metadata)
    totals, throttle, clock = ManagerTotals(), Throttle(10, 10_000), FakeClock(START)
    return TimeSeries(engine, totals, throttle, retention_days=1, clock=clock), totals, throttle, clock


def test_samples_become_minutes_with_counts_peaks_and_percentiles(parts: tuple) -> None:  # type: ignore[type-arg]
    series, totals, throttle, clock = parts
    totals.run("f", [10.0] * 98 + [500.0, 500.0], errors=3, cold=1)
    held = [throttle.acquire("f", 128) for _ in range(4)]
    for reserved in held:
        throttle.release("f", 128, reserved)
    throttle.set_reserved("f", 0)
    with pytest.raises(TooManyRequests):
        throttle.acquire("f", 128)
    series.sample()
    clock.advance(60)
    totals.run("f", [20.0])
    series.sample()
    points = asyncio.run(series.series("f", int(START), int(START) + 180, 60))
    first, second, third = points
    assert (first["invocations"], first["errors"], first["cold_starts"], first["throttles"]) == (100, 3, 1, 1)
    assert first["concurrency"] == 4
    assert abs(float(first["p50"] or 0) / 10 - 1) < 0.08
    assert abs(float(first["p99"] or 0) / 500 - 1) < 0.08
    assert (second["invocations"], second["errors"], second["concurrency"]) == (1, 0, 0)
    assert third["invocations"] == 0
    assert third["p50"] is None


def test_figures_survive_a_flush_and_merge_with_later_ones_of_the_same_minute(parts: tuple) -> None:  # type: ignore[type-arg]
    series, totals, _, _ = parts

    async def scenario() -> tuple[int, int]:
        totals.run("f", [5.0, 5.0])
        series.sample()
        await series.flush()
        totals.run("f", [7.0])
        series.sample()
        await series.flush()
        recent = await series.recent(60)
        points = await series.series("f", int(START), int(START) + 60, 60)
        return recent["f"].invocations, int(points[0]["invocations"] or 0)

    assert asyncio.run(scenario()) == (3, 3)


def test_a_steps_figures_add_up_its_minutes(parts: tuple) -> None:  # type: ignore[type-arg]
    series, totals, _, clock = parts
    for _ in range(5):
        totals.run("f", [1.0, 1.0])
        series.sample()
        clock.advance(60)
    points = asyncio.run(series.series("f", int(START), int(START) + 900, 900))
    assert [p["invocations"] for p in points] == [10]


def test_minutes_past_the_retention_are_purged(parts: tuple) -> None:  # type: ignore[type-arg]
    series, totals, _, clock = parts
    totals.run("f", [1.0])
    series.sample()
    asyncio.run(series.flush())
    clock.advance(1440 * 60 - 60)  # the minute is the oldest one kept
    assert series.purge() == 0
    clock.advance(60)  # one past it
    assert series.purge() == 1


def test_a_function_without_activity_writes_nothing(parts: tuple) -> None:  # type: ignore[type-arg]
    series, totals, _, _ = parts
    totals.run("f", [1.0])
    series.sample()
    asyncio.run(series.flush())
    series.sample()  # nothing new
    assert series._open == {}


@pytest.mark.parametrize("field", ["series_retention_days", "console_session_hours"])
def test_settings_refuse_a_retention_or_session_that_is_not_positive(field: str) -> None:
    from nimbus.config import Settings

    Settings(**{field: 0.01}).check()  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="must be positive"):
        Settings(**{field: 0}).check()  # type: ignore[arg-type]
