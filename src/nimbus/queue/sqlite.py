"""The durable queue contract (`contract.py`) on one SQLite file (`<data-dir>/queues.db`): this module is its async
side (threads, long polling, the clock); the schema and the SQL of each operation are `_sqlite_jobs.py`'s.

Why it is shaped this way:
- Every change runs on one thread with one connection (`_writer.Writer`), which batches concurrent calls into
  one transaction and one fsync (group commit): enqueue returns only after the commit that holds its messages,
  and a burst of concurrent enqueues shares the cost of the disk flush. Reads that do not change anything
  (records, depth) run on a second thread and connection, from a WAL snapshot.
- Reservations and acks are committed without their own fsync (a batch of only those: synchronous=NORMAL): they
  survive `kill -9` like everything else, and what a power cut may undo is a reservation or an ack, so a message
  is delivered again (at least once, as SQS), never lost. The next durable commit (any enqueue) flushes them too.
- Deadlines (delay, visibility) are stored as wall-clock epoch seconds from the injected clock: monotonic time
  does not survive a restart, so a message reserved before a `kill -9` reappears at its deadline after it.
- Order: a reservation hands out the visible messages that became visible first, enqueue order breaking ties
  (so fresh messages come out in enqueue order, and a message whose visibility lapsed goes before newer ones).
  FIFO queues (name ending `.fifo`) hand out strictly by enqueue order, skip a message group while a message of
  it is in flight, and drop a repeated deduplication id within 5 minutes (the repeat answers the first one's id).
- Long polling waits on a per-queue signal (set by enqueue, nack, dead-lettering into the queue, deletion) or a
  timer to the queue's next visibility deadline, whichever comes first: no busy loop.
- A receipt is `<row id>.<random token>`, fresh on every reservation; it stays valid until the next reservation
  of the message (so ChangeMessageVisibility can be repeated, and DeleteMessage works after a nack).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from functools import partial
from pathlib import Path

from nimbus.clock import Clock, RealClock
from nimbus.errors import ResourceNotFound
from nimbus.queue import _sqlite_jobs as jobs
from nimbus.queue._writer import Writer, connect
from nimbus.queue.contract import Depth, NewMessage, QueueRecord, Reserved


class SqliteQueueStore:
    """A `QueueStore` on SQLite. Safe to call concurrently from one event loop."""

    def __init__(self, path: Path, clock: Clock | None = None) -> None:
        self.path = path
        self._clock: Clock = clock or RealClock()
        conn = connect(path)
        conn.executescript(jobs.SCHEMA)
        self._writer = Writer(conn)
        # reads that may scan a whole queue (depth) must not hold up enqueues: their own thread and connection
        self._reader = Writer(connect(path), name="queue-db-read", begin="BEGIN")
        self._signals: dict[str, asyncio.Event] = {}
        self._closed = False

    # -- queue records --
    async def create_queue(self, name: str, attributes: Mapping[str, str], tags: Mapping[str, str]) -> QueueRecord:
        now = self._ms()
        record = await self._writer.run(partial(jobs.create_queue, name, dict(attributes), dict(tags), now))
        return record

    async def get_queue(self, name: str) -> QueueRecord | None:
        return await self._reader.run(partial(jobs.get_queue, name))

    async def list_queues(self, prefix: str = "") -> list[QueueRecord]:
        return await self._reader.run(partial(jobs.list_queues, prefix))

    async def update_queue(
        self, name: str, *, attributes: Mapping[str, str] | None = None, tags: Mapping[str, str] | None = None
    ) -> QueueRecord | None:
        attrs = None if attributes is None else dict(attributes)
        new_tags = None if tags is None else dict(tags)
        return await self._writer.run(partial(jobs.update_queue, name, attrs, new_tags, self._ms()))

    async def delete_queue(self, name: str) -> bool:
        existed = await self._writer.run(partial(jobs.delete_queue, name))
        self._notify(name)
        return existed

    # -- messages --
    async def enqueue(self, queue: str, messages: Sequence[NewMessage]) -> list[str]:
        ids = await self._writer.run(partial(jobs.enqueue, queue, list(messages), self._clock.time()))
        self._notify(queue)
        return ids

    async def reserve(self, queue: str, max_count: int, visibility_s: float, wait_s: float = 0.0) -> list[Reserved]:
        ends = self._clock.monotonic() + wait_s
        waited = False
        while True:
            signal = self._signals.setdefault(queue, asyncio.Event())  # taken before looking: no lost wake-up
            try:
                got, next_due = await self._writer.run(
                    partial(jobs.reserve, queue, max_count, visibility_s, self._clock.time()), durable=False
                )
            except ResourceNotFound:
                if waited:  # deleted while we waited: the wait ends
                    return []
                raise
            if got or self._closed:
                return got
            remaining = ends - self._clock.monotonic()
            if remaining <= 0:
                return []
            if next_due is not None:
                remaining = min(remaining, max(0.0, next_due - self._clock.time()))
            await self._wait(signal, remaining)
            waited = True
            if self._closed:
                return []

    async def ack(self, queue: str, receipt: str) -> bool:
        key = jobs.parse_receipt(receipt)
        if key is None:
            return False
        return await self._writer.run(partial(jobs.ack, queue, key, receipt), durable=False)

    async def ack_many(self, queue: str, receipts: Sequence[str]) -> list[bool]:
        keys = [jobs.parse_receipt(receipt) for receipt in receipts]
        wanted = [(key, receipt) for key, receipt in zip(keys, receipts, strict=True) if key is not None]
        if not wanted:
            return [False] * len(keys)
        deleted = await self._writer.run(partial(jobs.ack_many, queue, wanted), durable=False)
        answers = []
        for key, receipt in zip(keys, receipts, strict=True):  # a repeated receipt: only its first ack deletes
            answers.append(key is not None and deleted.pop(key, None) == receipt)
        return answers

    async def nack(self, queue: str, receipt: str, delay_s: float = 0.0) -> bool:
        key = jobs.parse_receipt(receipt)
        if key is None:
            return False
        due = self._clock.time() + max(0.0, delay_s)
        done = await self._writer.run(partial(jobs.nack, queue, key, receipt, due))
        if done:
            self._notify(queue)
        return done

    async def dead_letter(self, queue: str, receipt: str, target: str) -> bool:
        key = jobs.parse_receipt(receipt)
        if key is None:
            return False
        done = await self._writer.run(partial(jobs.dead_letter, queue, key, receipt, target, self._clock.time()))
        if done:
            self._notify(target)
        return done

    async def depth(self, queue: str) -> Depth:
        return await self._reader.run(partial(jobs.depth, queue, self._clock.time()))

    async def purge(self, queue: str) -> None:
        await self._writer.run(partial(jobs.purge, queue))

    async def close(self) -> None:
        """Finish what was submitted, wake every long poll (they answer empty), close the file."""
        self._closed = True
        for name in list(self._signals):
            self._notify(name)
        await self._writer.close()
        await self._reader.close()

    # -- internals --
    def _ms(self) -> int:
        return int(self._clock.time() * 1000)

    def _notify(self, queue: str) -> None:
        signal = self._signals.pop(queue, None)
        if signal is not None:
            signal.set()

    async def _wait(self, signal: asyncio.Event, timeout: float) -> None:
        """Until the signal is set or `timeout` of the injected clock passes."""
        woken = asyncio.ensure_future(signal.wait())
        timer = asyncio.ensure_future(self._clock.sleep(timeout))
        try:
            await asyncio.wait({woken, timer}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            woken.cancel()
            timer.cancel()
