"""FIFO queues (a name ending in `.fifo`): strict order per message group, one group member in flight at a time,
and deduplication ids remembered for 5 minutes (SQS's rules), on every backend."""

from __future__ import annotations

import asyncio

import pytest
from queue_backends import OpenStore, backend_fixture

from nimbus.clock import FakeClock
from nimbus.queue.contract import NewMessage

open_store = backend_fixture()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


Q = "jobs.fifo"
VIS = 30.0
WINDOW = 300.0


def fifo(body: str, group: str = "g", dedup: str | None = None) -> NewMessage:
    return NewMessage(body, group_id=group, dedup_id=dedup or body)


def test_a_group_is_held_while_one_of_its_messages_is_in_flight(open_store: OpenStore, clock: FakeClock) -> None:
    async def main() -> None:
        store = open_store(clock)
        try:
            await store.create_queue(Q, {"FifoQueue": "true"}, {})
            await store.enqueue(Q, [fifo("a1", "a"), fifo("b1", "b"), fifo("a2", "a"), fifo("b2", "b")])
            first = await store.reserve(Q, 1, VIS)
            assert [(m.body, m.group_id, m.dedup_id) for m in first] == [("a1", "a", "a1")]
            # group a is held by a1: only b's messages, in order
            assert [m.body for m in await store.reserve(Q, 10, VIS)] == ["b1", "b2"]
            assert await store.reserve(Q, 10, VIS) == []
            assert await store.nack(Q, first[0].receipt)  # a1 back: the group's order holds
            again = await store.reserve(Q, 10, VIS)
            assert [m.body for m in again] == ["a1", "a2"]
            assert [m.sequence for m in again] == sorted(m.sequence for m in again)
            assert await store.ack(Q, again[0].receipt)
            assert await store.ack(Q, again[1].receipt)
        finally:
            await store.close()

    asyncio.run(main())


def test_a_lapsed_message_keeps_its_place_in_its_group(open_store: OpenStore, clock: FakeClock) -> None:
    async def main() -> None:
        store = open_store(clock)
        try:
            await store.create_queue(Q, {}, {})
            await store.enqueue(Q, [fifo("1"), fifo("2")])
            [one] = await store.reserve(Q, 1, VIS)
            clock.advance(VIS)
            assert [(m.body, m.receive_count) for m in await store.reserve(Q, 10, VIS)] == [("1", 2), ("2", 1)]
            assert one.body == "1"
        finally:
            await store.close()

    asyncio.run(main())


def test_deduplication_window(open_store: OpenStore, clock: FakeClock) -> None:
    async def main() -> None:
        store = open_store(clock)
        try:
            await store.create_queue(Q, {}, {})
            await store.create_queue("plain", {}, {})
            [first] = await store.enqueue(Q, [fifo("x", dedup="d1")])
            clock.advance(WINDOW - 0.001)
            [repeat, other] = await store.enqueue(Q, [fifo("x again", dedup="d1"), fifo("y", dedup="d2")])
            assert repeat == first  # dropped: answers the first message's id
            assert other != first
            [m] = await store.reserve(Q, 1, VIS)
            assert await store.ack(Q, m.receipt)  # deleted: the id is still remembered
            assert await store.enqueue(Q, [fifo("x", dedup="d1")]) == [first]
            clock.advance(0.001)  # 5 minutes after the first: a new message
            [fresh] = await store.enqueue(Q, [fifo("x", dedup="d1")])
            assert fresh != first
            assert [m.body for m in await store.reserve(Q, 10, VIS)] == ["y", "x"]
            # standard queues never deduplicate
            a, b = await store.enqueue("plain", [NewMessage("p", dedup_id="same"), NewMessage("p", dedup_id="same")])
            assert a != b
        finally:
            await store.close()

    asyncio.run(main())
