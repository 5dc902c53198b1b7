"""Time as Lambda prints it, and the injectable clock the platform's timers run on."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from typing import Protocol


def lambda_timestamp(when: float | None = None) -> str:
    """Lambda's LastModified / CreatedDate format: 2019-08-14T22:24:28.000+0000."""
    t = dt.datetime.fromtimestamp(time.time() if when is None else when, dt.UTC)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}+0000"


class Clock(Protocol):
    """Time as the platform's timers see it: injected, so timing tests jump to deadlines instead of sleeping."""

    def time(self) -> float:
        """Wall-clock seconds since the epoch."""
        ...

    def monotonic(self) -> float:
        """Seconds on a clock that never goes back (intervals, deadlines, keep-alive)."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Wait `seconds` of this clock's time."""
        ...


class RealClock:
    """The host's clocks and asyncio's sleep. The clocks are the builtins themselves, so a hot path that reads
    time through an injected RealClock pays no extra call."""

    monotonic = staticmethod(time.monotonic)
    time = staticmethod(time.time)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


class FakeClock:
    """A clock for tests that autojumps: `sleep` moves time forward at once (and yields to the loop), and
    `advance` moves it by hand. Both clocks start at `start`."""

    def __init__(self, start: float = 1_000_000.0) -> None:
        self.now = start

    def time(self) -> float:
        return self.now

    def monotonic(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds

    async def sleep(self, seconds: float) -> None:
        self.now += max(0.0, seconds)
        await asyncio.sleep(0)
