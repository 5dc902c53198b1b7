"""The poller base on a fake source and the fake clock: it scales with the backlog up to the cap and back down to
one worker, backs off (doubling, capped) when batches are refused and resets after a good one, and stops with a
batch in hand finished and idle workers cancelled."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from nimbus.clock import FakeClock
from nimbus.errors import TooManyRequests
from nimbus.sources.poller import BACKOFF_FIRST_S, BACKOFF_MAX_S, Poller


class FakeSource:
    """Items in a list; `receive` takes up to batch_size of them (or waits a tick when there are none)."""

    def __init__(self, items: int, batch_size: int = 2, fail: int = 0) -> None:
        self.items = list(range(items))
        self.batch_size = batch_size
        self.fail = fail  # refuse this many batches first
        self.handled: list[list[int]] = []
        self.in_hand = 0
        self.most_in_hand = 0
        self.gate: asyncio.Event | None = None
        self.started = asyncio.Event()

    async def receive(self) -> Sequence[int]:
        if not self.items:
            await asyncio.sleep(0.001)
            return []
        batch, self.items = self.items[: self.batch_size], self.items[self.batch_size :]
        return batch

    async def handle(self, batch: Sequence[int]) -> None:
        self.in_hand += 1
        self.started.set()
        self.most_in_hand = max(self.most_in_hand, self.in_hand)
        try:
            if self.gate is not None:
                await self.gate.wait()
            await asyncio.sleep(0.001)
            if self.fail:
                self.fail -= 1
                self.items = list(batch) + self.items  # back in the queue
                raise TooManyRequests("Rate Exceeded.")
            self.handled.append(list(batch))
        finally:
            self.in_hand -= 1

    async def backlog(self) -> int:
        return len(self.items)


async def drain(poller: Poller[int], source: FakeSource, limit: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + limit
    while source.items or source.in_hand:
        assert asyncio.get_running_loop().time() < deadline, "the poller did not drain its source"
        await asyncio.sleep(0.002)


def test_scales_up_to_the_cap_and_back_down() -> None:
    async def main() -> None:
        source = FakeSource(40, batch_size=2)
        poller: Poller[int] = Poller("t", source, lambda: 3, FakeClock())
        poller.start()
        await drain(poller, source)
        assert sorted(i for batch in source.handled for i in batch) == list(range(40))
        assert all(len(batch) <= 2 for batch in source.handled)
        assert 1 < source.most_in_hand <= 3
        for _ in range(200):  # idle workers leave until one remains
            await asyncio.sleep(0.002)
            if poller.workers == 1:
                break
        assert poller.workers == 1
        await poller.stop()
        assert poller.workers == 0

    asyncio.run(main())


def test_refused_batches_back_off_doubling_then_reset() -> None:
    async def main() -> None:
        clock = FakeClock()
        source = FakeSource(2, batch_size=2, fail=9)
        poller: Poller[int] = Poller("t", source, lambda: 1, clock)
        start = clock.monotonic()
        poller.start()
        await drain(poller, source)
        # nine refusals waited 1, 2, 4, ... capped at 60 s (plus the scaler's 1 s ticks, on the same fake clock)
        waits = [min(BACKOFF_MAX_S, BACKOFF_FIRST_S * 2**i) for i in range(9)]
        assert clock.monotonic() - start >= sum(waits)
        assert poller.refused == 9
        assert source.handled == [[0, 1]]
        await poller.stop()

    asyncio.run(main())


def test_stop_finishes_the_batch_in_hand() -> None:
    async def main() -> None:
        source = FakeSource(2, batch_size=2)
        source.gate = asyncio.Event()
        poller: Poller[int] = Poller("t", source, lambda: 1, FakeClock())
        poller.start()
        await source.started.wait()
        stopping = asyncio.create_task(poller.stop(grace=5))
        await asyncio.sleep(0.01)
        assert not stopping.done()  # waits for the batch in hand
        source.gate.set()
        await stopping
        assert source.handled == [[0, 1]]
        assert poller.workers == 0

    asyncio.run(main())
