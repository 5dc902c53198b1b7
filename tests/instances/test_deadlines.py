"""Invocation deadlines on one loop timer: each future gets TimeoutError at its deadline unless its wait ended;
deadlines added out of order fire in order; cleared ones never fire and do not pile up."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest
import uvloop

from nimbus.instances.deadlines import SLACK, Deadlines, for_loop

Check = Callable[[asyncio.AbstractEventLoop, Deadlines], Awaitable[None]]


def run(check: Check) -> None:
    """Run `check` with its loop's deadlines on uvloop, as the server runs (its timers are whole milliseconds)."""

    async def main() -> None:
        loop = asyncio.get_running_loop()
        await check(loop, for_loop(loop))

    uvloop.run(main())


def test_a_deadline_fires_timeout_error_at_its_time_and_not_before() -> None:
    async def check(loop: asyncio.AbstractEventLoop, deadlines: Deadlines) -> None:
        fut: asyncio.Future[None] = loop.create_future()
        when = loop.time() + 0.2
        deadlines.add(when, fut)
        await asyncio.sleep(0)
        assert not fut.done()
        assert len(deadlines) == 1
        with pytest.raises(TimeoutError):
            await fut
        assert loop.time() >= when - 0.001  # (uvloop's timers are whole milliseconds)
        assert len(deadlines) == 0

    run(check)


def test_a_cleared_deadline_never_fires() -> None:
    async def check(loop: asyncio.AbstractEventLoop, deadlines: Deadlines) -> None:
        fut: asyncio.Future[None] = loop.create_future()
        entry = deadlines.add(loop.time() + 0.01, fut)
        deadlines.clear(entry)
        deadlines.clear(entry)  # idempotent
        await asyncio.sleep(0.05)
        assert not fut.done()
        assert len(deadlines) == 0

    run(check)


def test_deadlines_added_out_of_order_fire_in_order() -> None:
    async def check(loop: asyncio.AbstractEventLoop, deadlines: Deadlines) -> None:
        fired: list[str] = []
        late: asyncio.Future[None] = loop.create_future()
        mid: asyncio.Future[None] = loop.create_future()
        early: asyncio.Future[None] = loop.create_future()
        for name, fut in (("late", late), ("mid", mid), ("early", early)):
            fut.add_done_callback(lambda _, name=name: fired.append(name))
        now = loop.time()
        # (`late` a minute away: the timer armed for it must be re-armed, however slow this machine is)
        late_entry = deadlines.add(now + 60, late)
        deadlines.add(now + 0.05, mid)  # earlier than the armed timer: it is re-armed
        deadlines.add(now + 0.02, early)  # and again
        with pytest.raises(TimeoutError):
            await mid
        assert isinstance(early.exception(), TimeoutError)
        assert not late.done()
        assert fired == ["early", "mid"]
        deadlines.clear(late_entry)

    run(check)


def test_a_future_done_before_its_deadline_is_left_alone() -> None:
    async def check(loop: asyncio.AbstractEventLoop, deadlines: Deadlines) -> None:
        fut: asyncio.Future[str] = loop.create_future()
        deadlines.add(loop.time() + 0.01, fut)  # never cleared: its waiter got its answer first
        fut.set_result("answer")
        await asyncio.sleep(0.03)
        assert fut.result() == "answer"
        assert len(deadlines) == 0

    run(check)


def test_cleared_deadlines_do_not_pile_up() -> None:
    async def check(loop: asyncio.AbstractEventLoop, deadlines: Deadlines) -> None:
        live = [loop.create_future() for _ in range(10)]
        for fut in live:
            deadlines.add(loop.time() + 60, fut)
        for _ in range(10_000):  # invocations that end in time, each well before its deadline
            deadlines.clear(deadlines.add(loop.time() + 60, loop.create_future()))
        assert len(deadlines) == 10
        assert deadlines.held <= 2 * 10 + SLACK + 1

    run(check)
