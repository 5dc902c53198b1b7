"""The QueueStore contract (src/nimbus/queue/contract.py), one test per promise, on every backend.

Deadlines run on a FakeClock: a test moves time to a deadline (and one tick past it) instead of sleeping."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from nimbus.clock import Clock, FakeClock
from nimbus.errors import ResourceNotFound
from nimbus.queue.contract import NewMessage, QueueStore

OpenStore = Callable[[Clock], QueueStore]
Body = Callable[[QueueStore], Awaitable[None]]


def run(open_store: OpenStore, clock: FakeClock, body: Body, queues: tuple[str, ...] = ("q",)) -> None:
    async def main() -> None:
        store = open_store(clock)
        try:
            for name in queues:
                await store.create_queue(name, {}, {})
            await body(store)
        finally:
            await store.close()

    asyncio.run(main())


def msgs(*bodies: str) -> list[NewMessage]:
    return [NewMessage(b) for b in bodies]


def test_enqueue_then_reserve_oldest_first(open_store: OpenStore, clock: FakeClock) -> None:
    async def body(store: QueueStore) -> None:
        ids = await store.enqueue("q", msgs("a", "b", "c"))
        assert len(set(ids)) == 3
        got = await store.reserve("q", 2, 30)
        assert [(m.message_id, m.body) for m in got] == [(ids[0], "a"), (ids[1], "b")]
        assert [m.sequence for m in got] == sorted(m.sequence for m in got)
        rest = await store.reserve("q", 10, 30)
        assert [m.body for m in rest] == ["c"]
        assert await store.reserve("q", 10, 30) == []

    run(open_store, clock, body)


def test_reserved_message_reappears_at_its_deadline(open_store: OpenStore, clock: FakeClock) -> None:
    async def body(store: QueueStore) -> None:
        await store.enqueue("q", msgs("a"))
        first = (await store.reserve("q", 1, 30))[0]
        assert first.receive_count == 1
        clock.advance(29.9)
        assert await store.reserve("q", 1, 30) == []
        clock.advance(0.1)
        again = (await store.reserve("q", 1, 30))[0]
        assert again.message_id == first.message_id
        assert again.receive_count == 2
        assert again.receipt != first.receipt
        assert again.first_received_ms == first.first_received_ms
        assert await store.ack("q", first.receipt) is False  # stale receipt: nothing changes
        assert (await store.depth("q")).in_flight == 1
        assert await store.ack("q", again.receipt) is True
        assert await store.ack("q", again.receipt) is False
        assert (await store.depth("q")) == type(await store.depth("q"))(0, 0, 0)

    run(open_store, clock, body)


def test_unknown_queue(open_store: OpenStore, clock: FakeClock) -> None:
    async def body(store: QueueStore) -> None:
        with pytest.raises(ResourceNotFound):
            await store.enqueue("nope", msgs("a"))
        with pytest.raises(ResourceNotFound):
            await store.reserve("nope", 1, 30)
        with pytest.raises(ResourceNotFound):
            await store.depth("nope")

    run(open_store, clock, body)
