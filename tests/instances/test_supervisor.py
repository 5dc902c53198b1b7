"""The supervisor's ownership of background work, on a fake clock: no test here waits for real time."""

from __future__ import annotations

import asyncio
import logging

import pytest

from nimbus.clock import FakeClock
from nimbus.instances.supervisor import LOOP_RESTART_DELAY_S, Supervisor


def test_a_loop_steps_on_its_clock_until_close() -> None:
    async def main() -> None:
        clock = FakeClock(start=100.0)
        supervisor = Supervisor(clock)
        seen: list[float] = []

        async def step(now: float) -> None:
            seen.append(now)

        supervisor.every("ticker", 5.0, step)
        while len(seen) < 4:  # noqa: ASYNC110  (the fake clock jumps; each turn is one loop iteration)
            await asyncio.sleep(0)
        await supervisor.close()
        count = len(seen)
        await asyncio.sleep(0)
        assert seen[:4] == [105.0, 110.0, 115.0, 120.0]
        assert len(seen) == count, "the loop stepped after close"
        assert supervisor.closing

    asyncio.run(main())


def test_a_failing_loop_is_logged_critical_and_runs_again(caplog: pytest.LogCaptureFixture) -> None:
    async def main() -> None:
        clock = FakeClock(start=0.0)
        supervisor = Supervisor(clock)
        seen: list[float] = []

        async def step(now: float) -> None:
            seen.append(now)
            if len(seen) == 1:
                raise RuntimeError("reaper bug")

        supervisor.every("reaper", 1.0, step)
        while len(seen) < 2:  # noqa: ASYNC110
            await asyncio.sleep(0)
        await supervisor.close()
        assert supervisor.loop_failures == 1
        assert seen[:2] == [1.0, 1.0 + LOOP_RESTART_DELAY_S + 1.0]  # the pause, then its usual interval

    with caplog.at_level(logging.CRITICAL, logger="nimbus.instances.supervisor"):
        asyncio.run(main())
    (record,) = [r for r in caplog.records if r.levelno == logging.CRITICAL]
    assert "reaper" in record.getMessage()
    assert record.exc_info is not None
    assert "reaper bug" in str(record.exc_info[1])


def test_background_work_is_waited_for_and_its_failures_logged(caplog: pytest.LogCaptureFixture) -> None:
    async def main() -> None:
        supervisor = Supervisor(FakeClock())
        done: list[str] = []
        gate = asyncio.Event()

        async def slow() -> None:
            await gate.wait()
            done.append("slow")
            supervisor.background(follow_up())  # started while close waits: waited for too

        async def follow_up() -> None:
            done.append("follow-up")

        async def broken() -> None:
            raise ValueError("stop failed")

        supervisor.background(slow())
        supervisor.background(broken())
        closing = asyncio.create_task(supervisor.close())
        await asyncio.sleep(0)
        assert not closing.done()
        gate.set()
        await closing
        assert done == ["slow", "follow-up"]

    with caplog.at_level(logging.ERROR, logger="nimbus.instances.supervisor"):
        asyncio.run(main())
    assert any("stop failed" in str(r.exc_info[1]) for r in caplog.records if r.exc_info)
