"""The QueueStore contract (src/nimbus/queue/contract.py), one test per promise, on every backend (queue_backends.py).

Deadlines run on the injected FakeClock: a test moves time to a deadline and a hair before it instead of
sleeping. Long-poll wake-ups use a clock whose sleeps never end by themselves, so only the wake can end the wait."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest
from queue_backends import OpenStore, backend_fixture

from nimbus.clock import FakeClock
from nimbus.errors import ResourceNotFound
from nimbus.queue.contract import Depth, NewMessage, QueueStore

open_store = backend_fixture()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


Body = Callable[[QueueStore], Awaitable[None]]
VIS = 30.0
TICK = 0.001


class StillClock(FakeClock):
    """Time moves only by `advance`; a sleep never ends on its own."""

    async def sleep(self, seconds: float) -> None:
        await asyncio.get_running_loop().create_future()


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


async def waiting(task: asyncio.Task[object]) -> None:
    """Let `task` reach its wait (a few loop turns and the store's thread hop), asserting it is still waiting."""
    for _ in range(20):
        await asyncio.sleep(0.005)
    assert not task.done()


# -- queue records --


def test_queue_records(open_store: OpenStore, clock: FakeClock) -> None:
    async def body(store: QueueStore) -> None:
        made = await store.create_queue("orders", {"VisibilityTimeout": "45"}, {"team": "a"})
        assert (made.name, dict(made.attributes), dict(made.tags)) == (
            "orders",
            {"VisibilityTimeout": "45"},
            {"team": "a"},
        )
        assert made.created_ms == made.modified_ms == int(clock.time() * 1000)
        again = await store.create_queue("orders", {"VisibilityTimeout": "10"}, {})
        assert again == made  # the existing record, unchanged: the caller compares
        assert await store.get_queue("orders") == made
        assert await store.get_queue("nope") is None
        await store.create_queue("order-dlq", {}, {})
        await store.create_queue("zeta", {}, {})
        assert [r.name for r in await store.list_queues()] == ["order-dlq", "orders", "q", "zeta"]
        assert [r.name for r in await store.list_queues("order")] == ["order-dlq", "orders"]
        assert await store.list_queues("orders-") == []
        clock.advance(5)
        changed = await store.update_queue("orders", attributes={"DelaySeconds": "3"})
        assert changed is not None
        assert dict(changed.attributes) == {"DelaySeconds": "3"}  # wholesale
        assert dict(changed.tags) == {"team": "a"}
        assert changed.modified_ms == made.modified_ms + 5000
        tagged = await store.update_queue("orders", tags={})
        assert tagged is not None
        assert dict(tagged.tags) == {}
        assert dict(tagged.attributes) == {"DelaySeconds": "3"}
        assert await store.update_queue("nope", tags={}) is None
        assert await store.delete_queue("orders") is True
        assert await store.delete_queue("orders") is False
        assert await store.get_queue("orders") is None

    run(open_store, clock, body)


def test_delete_queue_deletes_its_messages(open_store: OpenStore, clock: FakeClock) -> None:
    async def body(store: QueueStore) -> None:
        await store.enqueue("q", msgs("a", "b"))
        held = await store.reserve("q", 1, VIS)
        assert await store.delete_queue("q")
        with pytest.raises(ResourceNotFound):
            await store.depth("q")
        await store.create_queue("q", {}, {})
        assert await store.depth("q") == Depth(0, 0, 0)
        assert await store.reserve("q", 10, VIS) == []
        assert await store.ack("q", held[0].receipt) is False

    run(open_store, clock, body)


def test_unknown_queue(open_store: OpenStore, clock: FakeClock) -> None:
    async def body(store: QueueStore) -> None:
        for call in (
            store.enqueue("nope", msgs("a")), store.reserve("nope", 1, VIS), store.depth("nope"), store.purge("nope"),
        ):  # fmt: skip
            with pytest.raises(ResourceNotFound):
                await call
        assert await store.ack("nope", "1.x") is False
        assert await store.nack("nope", "1.x") is False

    run(open_store, clock, body)


# -- enqueue --


def test_enqueue_returns_ids_in_order_and_reserve_hands_out_oldest_first(
    open_store: OpenStore, clock: FakeClock
) -> None:
    async def body(store: QueueStore) -> None:
        ids = await store.enqueue("q", msgs("a", "b", "c"))
        ids += await store.enqueue("q", msgs("d"))
        assert len(set(ids)) == 4
        got = await store.reserve("q", 2, VIS)
        assert [(m.message_id, m.body) for m in got] == [(ids[0], "a"), (ids[1], "b")]
        rest = await store.reserve("q", 10, VIS)
        assert [(m.message_id, m.body) for m in rest] == [(ids[2], "c"), (ids[3], "d")]
        seqs = [m.sequence for m in got + rest]
        assert seqs == sorted(seqs)
        assert len(set(seqs)) == 4
        assert await store.reserve("q", 10, VIS) == []
        assert await store.enqueue("q", []) == []

    run(open_store, clock, body)


def test_enqueue_is_all_or_none(open_store: OpenStore, clock: FakeClock) -> None:
    async def body(store: QueueStore) -> None:
        unstorable = NewMessage("b", attributes={"x": object()})
        with pytest.raises(Exception):  # noqa: B017,PT011 (the backend's own serialization error)
            await store.enqueue("q", [NewMessage("a"), unstorable])
        assert await store.depth("q") == Depth(0, 0, 0)

    run(open_store, clock, body)


def test_message_content_round_trips(open_store: OpenStore, clock: FakeClock) -> None:
    async def body(store: QueueStore) -> None:
        attributes = {
            "Color": {"DataType": "String", "StringValue": "blue"},
            "N": {"DataType": "Number", "StringValue": "1"},
        }
        system = {"AWSTraceHeader": {"DataType": "String", "StringValue": "Root=1-5759e988-bd862e3fe1be46a994272793"}}
        text = "héllo \u2603 " + "x" * (256 * 1024 - 20)
        sent = int(clock.time() * 1000)
        [mid] = await store.enqueue("q", [NewMessage(text, attributes=attributes, system=system)])
        clock.advance(2)
        [m] = await store.reserve("q", 1, VIS)
        assert (m.message_id, m.body, m.attributes, m.system) == (mid, text, attributes, system)
        assert (m.sent_at_ms, m.first_received_ms, m.receive_count) == (sent, sent + 2000, 1)
        assert (m.group_id, m.dedup_id) == (None, None)

    run(open_store, clock, body)


def test_delay_hides_a_message_until_it_ends(open_store: OpenStore, clock: FakeClock) -> None:
    async def body(store: QueueStore) -> None:
        await store.enqueue("q", [NewMessage("late", delay_s=5), NewMessage("now")])
        assert await store.depth("q") == Depth(visible=1, in_flight=0, delayed=1)
        assert [m.body for m in await store.reserve("q", 10, VIS)] == ["now"]
        clock.advance(5 - TICK)
        assert await store.reserve("q", 10, VIS) == []
        clock.advance(TICK)
        assert [m.body for m in await store.reserve("q", 10, VIS)] == ["late"]

    run(open_store, clock, body)


# -- reserve --


def test_max_count(open_store: OpenStore, clock: FakeClock) -> None:
    async def body(store: QueueStore) -> None:
        await store.enqueue("q", msgs(*"abcde"))
        assert await store.reserve("q", 0, VIS) == []
        assert len(await store.reserve("q", 1, VIS)) == 1
        assert len(await store.reserve("q", 3, VIS)) == 3
        assert len(await store.reserve("q", 3, VIS)) == 1  # only one left

    run(open_store, clock, body)


def test_unacked_message_reappears_at_its_visibility_deadline(open_store: OpenStore, clock: FakeClock) -> None:
    async def body(store: QueueStore) -> None:
        await store.enqueue("q", msgs("a"))
        first = (await store.reserve("q", 1, VIS))[0]
        assert await store.depth("q") == Depth(visible=0, in_flight=1, delayed=0)
        clock.advance(VIS - TICK)
        assert await store.reserve("q", 1, VIS) == []
        clock.advance(TICK)
        assert await store.depth("q") == Depth(visible=1, in_flight=0, delayed=0)
        again = (await store.reserve("q", 1, 10))[0]
        assert again.message_id == first.message_id
        assert again.receive_count == 2
        assert again.receipt != first.receipt
        assert again.first_received_ms == first.first_received_ms
        assert again.sent_at_ms == first.sent_at_ms
        clock.advance(10)
        third = (await store.reserve("q", 1, VIS))[0]
        assert third.receive_count == 3
        assert len({first.receipt, again.receipt, third.receipt}) == 3

    run(open_store, clock, body)


def test_messages_come_out_in_the_order_they_became_visible(open_store: OpenStore, clock: FakeClock) -> None:
    async def body(store: QueueStore) -> None:
        await store.enqueue("q", msgs("lapses"))
        await store.reserve("q", 1, VIS)
        clock.advance(1)
        await store.enqueue("q", msgs("before the lapse"))
        clock.advance(VIS)
        await store.enqueue("q", [NewMessage("after the lapse"), NewMessage("delayed", delay_s=0.5)])
        clock.advance(1)
        got = [m.body for m in await store.reserve("q", 10, VIS)]
        assert got == ["before the lapse", "lapses", "after the lapse", "delayed"]

    run(open_store, clock, body)


def test_concurrent_consumers_never_share_a_message(open_store: OpenStore, clock: FakeClock) -> None:
    async def body(store: QueueStore) -> None:
        batches = await asyncio.gather(*(store.enqueue("q", msgs(*[f"{i}-{j}" for j in range(10)])) for i in range(50)))
        sent = [mid for batch in batches for mid in batch]
        assert len(set(sent)) == 500

        async def consume() -> list[str]:
            got: list[str] = []
            while batch := await store.reserve("q", 7, VIS):
                got += [m.message_id for m in batch]
                assert all(await asyncio.gather(*(store.ack("q", m.receipt) for m in batch)))
            return got

        seen = [mid for part in await asyncio.gather(*(consume() for _ in range(16))) for mid in part]
        assert sorted(seen) == sorted(sent)
        assert await store.depth("q") == Depth(0, 0, 0)

    run(open_store, clock, body)


# -- long polling --


def test_long_poll_with_nothing_ends_at_the_wait(open_store: OpenStore, clock: FakeClock) -> None:
    async def body(store: QueueStore) -> None:
        start = clock.monotonic()
        assert await store.reserve("q", 10, VIS, wait_s=20) == []
        assert clock.monotonic() - start == pytest.approx(20)

    run(open_store, clock, body)


def test_long_poll_ends_when_a_delay_or_visibility_deadline_passes(open_store: OpenStore, clock: FakeClock) -> None:
    async def body(store: QueueStore) -> None:
        await store.enqueue("q", [NewMessage("d", delay_s=5)])
        start = clock.monotonic()
        [m] = await store.reserve("q", 10, 8, wait_s=20)
        assert clock.monotonic() - start == pytest.approx(5)  # woken at the deadline, not at the wait's end
        [again] = await store.reserve("q", 10, VIS, wait_s=20)
        assert again.message_id == m.message_id
        assert clock.monotonic() - start == pytest.approx(13)

    run(open_store, clock, body)


def test_long_poll_past_the_next_deadline_ends_at_the_wait(open_store: OpenStore, clock: FakeClock) -> None:
    async def body(store: QueueStore) -> None:
        await store.enqueue("q", [NewMessage("d", delay_s=20 + TICK)])
        start = clock.monotonic()
        assert await store.reserve("q", 10, VIS, wait_s=20) == []
        assert clock.monotonic() - start == pytest.approx(20)

    run(open_store, clock, body)


def test_long_poll_is_woken_by_enqueue(open_store: OpenStore) -> None:
    async def body(store: QueueStore) -> None:
        poll = asyncio.create_task(store.reserve("q", 10, VIS, wait_s=20))
        await waiting(poll)  # type: ignore[arg-type]
        [mid] = await store.enqueue("q", msgs("hi"))
        got = await asyncio.wait_for(poll, 10)
        assert [m.message_id for m in got] == [mid]

    run(open_store, StillClock(), body)


def test_long_poll_is_woken_by_nack(open_store: OpenStore) -> None:
    async def body(store: QueueStore) -> None:
        await store.enqueue("q", msgs("a"))
        [m] = await store.reserve("q", 1, VIS)
        poll = asyncio.create_task(store.reserve("q", 10, VIS, wait_s=20))
        await waiting(poll)  # type: ignore[arg-type]
        assert await store.nack("q", m.receipt)
        got = await asyncio.wait_for(poll, 10)
        assert [(g.message_id, g.receive_count) for g in got] == [(m.message_id, 2)]

    run(open_store, StillClock(), body)


def test_long_poll_is_woken_by_dead_lettering_into_the_queue(open_store: OpenStore) -> None:
    async def body(store: QueueStore) -> None:
        await store.enqueue("q", msgs("a"))
        [m] = await store.reserve("q", 1, VIS)
        poll = asyncio.create_task(store.reserve("dlq", 10, VIS, wait_s=20))
        await waiting(poll)  # type: ignore[arg-type]
        assert await store.dead_letter("q", m.receipt, "dlq")
        got = await asyncio.wait_for(poll, 10)
        assert [g.message_id for g in got] == [m.message_id]

    run(open_store, StillClock(), body, queues=("q", "dlq"))


def test_long_poll_ends_when_the_queue_is_deleted(open_store: OpenStore) -> None:
    async def body(store: QueueStore) -> None:
        poll = asyncio.create_task(store.reserve("q", 10, VIS, wait_s=20))
        await waiting(poll)  # type: ignore[arg-type]
        assert await store.delete_queue("q")
        assert await asyncio.wait_for(poll, 10) == []

    run(open_store, StillClock(), body)


def test_long_poll_ends_when_the_store_closes(open_store: OpenStore) -> None:
    async def main() -> None:
        store = open_store(StillClock())
        await store.create_queue("q", {}, {})
        poll = asyncio.create_task(store.reserve("q", 10, VIS, wait_s=20))
        await waiting(poll)  # type: ignore[arg-type]
        await store.close()
        assert await asyncio.wait_for(poll, 10) == []

    asyncio.run(main())


# -- ack, nack, dead_letter --


def test_ack_deletes_with_the_latest_receipt_only(open_store: OpenStore, clock: FakeClock) -> None:
    async def body(store: QueueStore) -> None:
        await store.enqueue("q", msgs("a", "b"))
        [a, b] = await store.reserve("q", 2, VIS)
        assert await store.ack("q", a.receipt)
        assert await store.ack("q", a.receipt) is False  # already gone
        for bogus in ("", "garbage", "1.", f"{b.receipt}x", "99999999.abc", "-1.x", "\u00b2.x", "1" * 40 + ".x"):
            assert await store.ack("q", bogus) is False
        assert await store.ack("other", b.receipt) is False  # right receipt, wrong queue
        clock.advance(VIS)
        [b2] = await store.reserve("q", 1, VIS)
        assert await store.ack("q", b.receipt) is False  # stale: a newer reservation exists
        assert await store.nack("q", b.receipt) is False
        assert await store.depth("q") == Depth(visible=0, in_flight=1, delayed=0)
        assert await store.ack("q", b2.receipt)
        assert await store.depth("q") == Depth(0, 0, 0)

    run(open_store, clock, body, queues=("q", "other"))


def test_ack_many_deletes_each_latest_receipt_and_answers_in_order(open_store: OpenStore, clock: FakeClock) -> None:
    async def body(store: QueueStore) -> None:
        await store.enqueue("q", msgs(*(str(i) for i in range(5))))
        got = await store.reserve("q", 5, VIS)
        clock.advance(VIS)
        [stale_then_fresh] = await store.reserve("q", 1, VIS)  # got[0] again, under a new receipt
        receipts = [got[0].receipt, "garbage", got[1].receipt, got[2].receipt, got[1].receipt, "99999999.x"]
        assert await store.ack_many("q", receipts) == [False, False, True, True, False, False]
        assert await store.ack_many("other", [got[3].receipt]) == [False]  # right receipt, wrong queue
        assert await store.ack_many("q", []) == []
        # 3 and 4 lapsed (visible again) but their receipts are still the latest: an ack still deletes them
        assert await store.depth("q") == Depth(visible=2, in_flight=1, delayed=0)
        assert await store.ack_many("q", [got[3].receipt, stale_then_fresh.receipt, got[4].receipt]) == [True] * 3
        assert await store.depth("q") == Depth(0, 0, 0)

    run(open_store, clock, body, queues=("q", "other"))


def test_ack_many_of_a_large_batch(open_store: OpenStore, clock: FakeClock) -> None:
    async def body(store: QueueStore) -> None:
        await store.enqueue("q", msgs(*(str(i) for i in range(1200))))
        got: list[str] = []
        while len(got) < 1200:
            got += [m.receipt for m in await store.reserve("q", 100, VIS)]
        assert await store.ack_many("q", got) == [True] * 1200
        assert await store.depth("q") == Depth(0, 0, 0)

    run(open_store, clock, body)


def test_nack_makes_visible_again_after_its_delay(open_store: OpenStore, clock: FakeClock) -> None:
    async def body(store: QueueStore) -> None:
        await store.enqueue("q", msgs("a"))
        [m] = await store.reserve("q", 1, VIS)
        assert await store.nack("q", m.receipt, delay_s=10)
        assert (await store.depth("q")).visible == 0
        clock.advance(10 - TICK)
        assert await store.reserve("q", 1, VIS) == []
        assert await store.nack("q", m.receipt, delay_s=60)  # the latest receipt stays good: extend again
        clock.advance(60 - TICK)
        assert await store.reserve("q", 1, VIS) == []
        clock.advance(TICK)
        [again] = await store.reserve("q", 1, VIS)
        assert (again.message_id, again.receive_count) == (m.message_id, 2)
        assert await store.nack("q", again.receipt)  # delay 0: visible at once
        assert (await store.depth("q")).visible == 1
        assert await store.ack("q", again.receipt)  # until the next reservation, the receipt still deletes
        assert await store.depth("q") == Depth(0, 0, 0)

    run(open_store, clock, body)


def test_dead_letter_moves_the_message_whole(open_store: OpenStore, clock: FakeClock) -> None:
    async def body(store: QueueStore) -> None:
        attributes = {"k": {"DataType": "String", "StringValue": "v"}}
        await store.enqueue("dlq", msgs("older"))
        [mid] = await store.enqueue("q", [NewMessage("poison", attributes=attributes)])
        [m] = await store.reserve("q", 1, VIS)
        clock.advance(VIS)
        [m] = await store.reserve("q", 1, VIS)
        assert await store.dead_letter("q", m.receipt, "dlq")
        assert await store.dead_letter("q", m.receipt, "dlq") is False
        assert await store.ack("q", m.receipt) is False
        assert await store.depth("q") == Depth(0, 0, 0)
        assert await store.depth("dlq") == Depth(visible=2, in_flight=0, delayed=0)
        got = await store.reserve("dlq", 10, VIS)
        assert [g.body for g in got] == ["older", "poison"]
        moved = got[1]
        assert (moved.message_id, moved.attributes, moved.sent_at_ms) == (mid, attributes, m.sent_at_ms)
        assert moved.receive_count == 3  # two in q, this one in dlq

    run(open_store, clock, body, queues=("q", "dlq"))


def test_dead_letter_to_a_missing_queue_changes_nothing(open_store: OpenStore, clock: FakeClock) -> None:
    async def body(store: QueueStore) -> None:
        await store.enqueue("q", msgs("a"))
        [m] = await store.reserve("q", 1, VIS)
        with pytest.raises(ResourceNotFound):
            await store.dead_letter("q", m.receipt, "nowhere")
        assert await store.depth("q") == Depth(visible=0, in_flight=1, delayed=0)
        assert await store.ack("q", m.receipt)

    run(open_store, clock, body)


def test_stale_dead_letter_changes_nothing(open_store: OpenStore, clock: FakeClock) -> None:
    async def body(store: QueueStore) -> None:
        await store.enqueue("q", msgs("a"))
        [m] = await store.reserve("q", 1, VIS)
        clock.advance(VIS)
        await store.reserve("q", 1, VIS)
        assert await store.dead_letter("q", m.receipt, "dlq") is False
        assert await store.depth("dlq") == Depth(0, 0, 0)
        assert (await store.depth("q")).in_flight == 1

    run(open_store, clock, body, queues=("q", "dlq"))


# -- depth and purge --


def test_depth_counts_visible_in_flight_and_delayed(open_store: OpenStore, clock: FakeClock) -> None:
    async def body(store: QueueStore) -> None:
        await store.enqueue("q", [*msgs("a", "b", "c"), NewMessage("d", delay_s=3), NewMessage("e", delay_s=9)])
        await store.reserve("q", 2, 5)
        assert await store.depth("q") == Depth(visible=1, in_flight=2, delayed=2)
        clock.advance(3)
        assert await store.depth("q") == Depth(visible=2, in_flight=2, delayed=1)
        clock.advance(2)
        assert await store.depth("q") == Depth(visible=4, in_flight=0, delayed=1)
        assert await store.depth("other") == Depth(0, 0, 0)

    run(open_store, clock, body, queues=("q", "other"))


def test_purge_deletes_every_message_of_the_queue_only(open_store: OpenStore, clock: FakeClock) -> None:
    async def body(store: QueueStore) -> None:
        await store.enqueue("q", [*msgs("a", "b"), NewMessage("c", delay_s=60)])
        await store.enqueue("other", msgs("x"))
        [held] = await store.reserve("q", 1, VIS)
        await store.purge("q")
        assert await store.depth("q") == Depth(0, 0, 0)
        assert await store.ack("q", held.receipt) is False
        assert await store.depth("other") == Depth(visible=1, in_flight=0, delayed=0)
        await store.enqueue("q", msgs("after"))
        assert [m.body for m in await store.reserve("q", 10, VIS)] == ["after"]

    run(open_store, clock, body, queues=("q", "other"))


# -- durability across a clean restart (kill -9: test_queue_durability.py) --


def test_messages_and_deadlines_survive_reopening(open_store: OpenStore, clock: FakeClock) -> None:
    async def main() -> None:
        store = open_store(clock)
        await store.create_queue("q", {"DelaySeconds": "0"}, {"t": "1"})
        await store.enqueue("q", [*msgs("a", "b"), NewMessage("c", delay_s=50)])
        [held] = await store.reserve("q", 1, VIS)
        await store.close()
        clock.advance(VIS - TICK)
        store = open_store(clock)
        try:
            assert dict((await store.get_queue("q")).tags) == {"t": "1"}  # type: ignore[union-attr]
            assert await store.depth("q") == Depth(visible=1, in_flight=1, delayed=1)
            clock.advance(TICK)
            got = await store.reserve("q", 10, VIS)
            assert [(m.body, m.receive_count) for m in got] == [("b", 1), ("a", 2)]  # a: visible again just now
            assert got[1].message_id == held.message_id
        finally:
            await store.close()

    asyncio.run(main())
