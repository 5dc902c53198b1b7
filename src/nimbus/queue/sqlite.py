"""The durable queue contract (`contract.py`) on one SQLite file (`<data-dir>/queues.db`).

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
import json
import secrets
import sqlite3
import uuid
from collections.abc import Mapping, Sequence
from functools import partial
from pathlib import Path
from typing import Any

from nimbus.clock import Clock, RealClock
from nimbus.errors import ResourceNotFound
from nimbus.queue._writer import Writer, connect
from nimbus.queue.contract import Depth, NewMessage, QueueRecord, Reserved

#: FIFO deduplication window (SQS: 5 minutes)
DEDUP_WINDOW_S = 300.0

SCHEMA = """
CREATE TABLE IF NOT EXISTS queues (
    name TEXT PRIMARY KEY, attributes TEXT NOT NULL, tags TEXT NOT NULL,
    created_ms INTEGER NOT NULL, modified_ms INTEGER NOT NULL, next_seq INTEGER NOT NULL DEFAULT 1
);
CREATE TABLE IF NOT EXISTS messages (
    id INTEGER PRIMARY KEY, queue TEXT NOT NULL, message_id TEXT NOT NULL, body TEXT NOT NULL,
    attributes TEXT NOT NULL, system TEXT NOT NULL, sent_ms INTEGER NOT NULL,
    visible_at REAL NOT NULL,          -- wall-clock epoch seconds: survives a restart
    receipt TEXT,                      -- the latest reservation's receipt; NULL if never reserved (or moved)
    receive_count INTEGER NOT NULL DEFAULT 0, first_received_ms INTEGER,
    group_id TEXT, dedup_id TEXT, sequence INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS messages_due ON messages (queue, visible_at, sequence);
CREATE TABLE IF NOT EXISTS dedup (
    queue TEXT NOT NULL, dedup_id TEXT NOT NULL, message_id TEXT NOT NULL, expires_at REAL NOT NULL,
    PRIMARY KEY (queue, dedup_id)
);
"""

_COLUMNS = "id, message_id, body, attributes, system, sent_ms, first_received_ms, receive_count, group_id, " \
    "dedup_id, sequence"  # fmt: skip


def is_fifo(name: str) -> bool:
    return name.endswith(".fifo")


class SqliteQueueStore:
    """A `QueueStore` on SQLite. Safe to call concurrently from one event loop."""

    def __init__(self, path: Path, clock: Clock | None = None) -> None:
        self.path = path
        self._clock: Clock = clock or RealClock()
        conn = connect(path)
        conn.executescript(SCHEMA)
        self._writer = Writer(conn)
        # reads that may scan a whole queue (depth) must not hold up enqueues: their own thread and connection
        self._reader = Writer(connect(path), name="queue-db-read", begin="BEGIN")
        self._signals: dict[str, asyncio.Event] = {}
        self._closed = False

    # -- queue records --
    async def create_queue(self, name: str, attributes: Mapping[str, str], tags: Mapping[str, str]) -> QueueRecord:
        now = self._ms()
        record = await self._writer.run(partial(_create_queue, name, dict(attributes), dict(tags), now))
        return record

    async def get_queue(self, name: str) -> QueueRecord | None:
        return await self._reader.run(partial(_get_queue, name))

    async def list_queues(self, prefix: str = "") -> list[QueueRecord]:
        rows = await self._reader.run(
            lambda c: c.execute(
                "SELECT name, attributes, tags, created_ms, modified_ms FROM queues "
                "WHERE substr(name, 1, ?) = ? ORDER BY name", (len(prefix), prefix)
            ).fetchall()
        )  # fmt: skip
        return [_record(row) for row in rows]

    async def update_queue(
        self, name: str, *, attributes: Mapping[str, str] | None = None, tags: Mapping[str, str] | None = None
    ) -> QueueRecord | None:
        attrs = None if attributes is None else dict(attributes)
        new_tags = None if tags is None else dict(tags)
        return await self._writer.run(partial(_update_queue, name, attrs, new_tags, self._ms()))

    async def delete_queue(self, name: str) -> bool:
        existed = await self._writer.run(partial(_delete_queue, name))
        self._notify(name)
        return existed

    # -- messages --
    async def enqueue(self, queue: str, messages: Sequence[NewMessage]) -> list[str]:
        ids = await self._writer.run(partial(_enqueue, queue, list(messages), self._clock.time()))
        self._notify(queue)
        return ids

    async def reserve(self, queue: str, max_count: int, visibility_s: float, wait_s: float = 0.0) -> list[Reserved]:
        ends = self._clock.monotonic() + wait_s
        waited = False
        while True:
            signal = self._signals.setdefault(queue, asyncio.Event())  # taken before looking: no lost wake-up
            try:
                got, next_due = await self._writer.run(
                    partial(_reserve, queue, max_count, visibility_s, self._clock.time()), durable=False
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
        key = _parse_receipt(receipt)
        if key is None:
            return False
        return await self._writer.run(
            lambda c: c.execute(
                "DELETE FROM messages WHERE id = ? AND queue = ? AND receipt = ?", (key, queue, receipt)
            ).rowcount == 1,
            durable=False,
        )  # fmt: skip

    async def ack_many(self, queue: str, receipts: Sequence[str]) -> list[bool]:
        keys = [_parse_receipt(receipt) for receipt in receipts]
        wanted = [(key, receipt) for key, receipt in zip(keys, receipts, strict=True) if key is not None]
        if not wanted:
            return [False] * len(keys)
        deleted = await self._writer.run(partial(_ack_many, queue, wanted), durable=False)
        answers = []
        for key, receipt in zip(keys, receipts, strict=True):  # a repeated receipt: only its first ack deletes
            answers.append(key is not None and deleted.pop(key, None) == receipt)
        return answers

    async def nack(self, queue: str, receipt: str, delay_s: float = 0.0) -> bool:
        key = _parse_receipt(receipt)
        if key is None:
            return False
        due = self._clock.time() + max(0.0, delay_s)
        done = await self._writer.run(
            lambda c: c.execute(
                "UPDATE messages SET visible_at = ? WHERE id = ? AND queue = ? AND receipt = ?",
                (due, key, queue, receipt),
            ).rowcount == 1
        )  # fmt: skip
        if done:
            self._notify(queue)
        return done

    async def dead_letter(self, queue: str, receipt: str, target: str) -> bool:
        key = _parse_receipt(receipt)
        if key is None:
            return False
        done = await self._writer.run(partial(_dead_letter, queue, key, receipt, target, self._clock.time()))
        if done:
            self._notify(target)
        return done

    async def depth(self, queue: str) -> Depth:
        return await self._reader.run(partial(_depth, queue, self._clock.time()))

    async def purge(self, queue: str) -> None:
        def job(c: sqlite3.Connection) -> None:
            _require(c, queue)
            c.execute("DELETE FROM messages WHERE queue = ?", (queue,))

        await self._writer.run(job)

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


# -- the jobs: plain functions of the connection, run on the writer's thread inside its transaction --


def _record(row: Sequence[Any]) -> QueueRecord:
    return QueueRecord(
        name=row[0], attributes=json.loads(row[1]), tags=json.loads(row[2]), created_ms=row[3], modified_ms=row[4]
    )


def _get_queue(name: str, c: sqlite3.Connection) -> QueueRecord | None:
    row = c.execute(
        "SELECT name, attributes, tags, created_ms, modified_ms FROM queues WHERE name = ?", (name,)
    ).fetchone()
    return None if row is None else _record(row)


def _require(c: sqlite3.Connection, queue: str) -> None:
    if c.execute("SELECT 1 FROM queues WHERE name = ?", (queue,)).fetchone() is None:
        raise ResourceNotFound(f"queue {queue} does not exist", queue=queue)


def _create_queue(
    name: str, attributes: dict[str, str], tags: dict[str, str], now_ms: int, c: sqlite3.Connection
) -> QueueRecord:
    c.execute(
        "INSERT OR IGNORE INTO queues (name, attributes, tags, created_ms, modified_ms) VALUES (?, ?, ?, ?, ?)",
        (name, json.dumps(attributes), json.dumps(tags), now_ms, now_ms),
    )
    record = _get_queue(name, c)
    assert record is not None
    return record


def _update_queue(
    name: str, attributes: dict[str, str] | None, tags: dict[str, str] | None, now_ms: int, c: sqlite3.Connection
) -> QueueRecord | None:
    if attributes is not None:
        c.execute(
            "UPDATE queues SET attributes = ?, modified_ms = ? WHERE name = ?", (json.dumps(attributes), now_ms, name)
        )
    if tags is not None:
        c.execute("UPDATE queues SET tags = ? WHERE name = ?", (json.dumps(tags), name))
    return _get_queue(name, c)


def _delete_queue(name: str, c: sqlite3.Connection) -> bool:
    c.execute("DELETE FROM messages WHERE queue = ?", (name,))
    c.execute("DELETE FROM dedup WHERE queue = ?", (name,))
    return c.execute("DELETE FROM queues WHERE name = ?", (name,)).rowcount == 1


def _take_sequence(c: sqlite3.Connection, queue: str, count: int) -> int:
    """Reserve `count` sequence numbers of the queue; the first one."""
    row = c.execute(  # one statement, not a SELECT and an UPDATE: each one costs the writer thread a GIL hand-off
        "UPDATE queues SET next_seq = next_seq + ? WHERE name = ? RETURNING next_seq", (count, queue)
    ).fetchone()
    if row is None:
        raise ResourceNotFound(f"queue {queue} does not exist", queue=queue)
    return int(row[0]) - count


def _enqueue(queue: str, messages: list[NewMessage], now: float, c: sqlite3.Connection) -> list[str]:
    seq = _take_sequence(c, queue, len(messages))
    fifo = is_fifo(queue)
    if fifo:
        c.execute("DELETE FROM dedup WHERE queue = ? AND expires_at <= ?", (queue, now))
    sent_ms = int(now * 1000)
    ids: list[str] = []
    rows = []
    for m in messages:
        if fifo and m.dedup_id is not None:
            seen = c.execute(
                "SELECT message_id FROM dedup WHERE queue = ? AND dedup_id = ?", (queue, m.dedup_id)
            ).fetchone()
            if seen is not None:
                ids.append(seen[0])
                continue
        message_id = str(uuid.uuid4())
        if fifo and m.dedup_id is not None:
            c.execute(
                "INSERT INTO dedup (queue, dedup_id, message_id, expires_at) VALUES (?, ?, ?, ?)",
                (queue, m.dedup_id, message_id, now + DEDUP_WINDOW_S),
            )
        ids.append(message_id)
        rows.append((
            queue, message_id, m.body, json.dumps(dict(m.attributes)), json.dumps(dict(m.system)), sent_ms,
            now + max(0.0, m.delay_s), m.group_id, m.dedup_id, seq,
        ))  # fmt: skip
        seq += 1
    c.executemany(
        "INSERT INTO messages (queue, message_id, body, attributes, system, sent_ms, visible_at, group_id, "
        "dedup_id, sequence) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        rows,
    )
    return ids


def _reserve(
    queue: str, max_count: int, visibility_s: float, now: float, c: sqlite3.Connection
) -> tuple[list[Reserved], float | None]:
    """Up to `max_count` visible messages, hidden until now + visibility_s; or none and the next deadline. (Whether
    the queue exists is asked only when nothing was found: a message found is of an existing queue.)"""
    if max_count <= 0:
        _require(c, queue)
        return [], None
    if is_fifo(queue):
        rows = c.execute(
            f"SELECT {_COLUMNS} FROM messages m WHERE queue = ? AND visible_at <= ? AND NOT EXISTS ("
            " SELECT 1 FROM messages b WHERE b.queue = m.queue AND b.visible_at > ? AND b.receipt IS NOT NULL"
            " AND b.group_id IS m.group_id)"
            " ORDER BY sequence LIMIT ?",
            (queue, now, now, max_count),
        ).fetchall()
    else:
        rows = c.execute(
            f"SELECT {_COLUMNS} FROM messages WHERE queue = ? AND visible_at <= ? ORDER BY visible_at, sequence "
            "LIMIT ?",
            (queue, now, max_count),
        ).fetchall()
    if not rows:
        _require(c, queue)
        due = c.execute(
            "SELECT MIN(visible_at) FROM messages WHERE queue = ? AND visible_at > ?", (queue, now)
        ).fetchone()[0]
        return [], due
    now_ms = int(now * 1000)
    hidden_until = now + max(0.0, visibility_s)
    out: list[Reserved] = []
    updates = []
    for key, message_id, body, attributes, system, sent_ms, first_ms, count, group_id, dedup_id, seq in rows:
        receipt = f"{key}.{secrets.token_urlsafe(12)}"
        first = now_ms if first_ms is None else first_ms
        updates.append((receipt, hidden_until, first, key))
        out.append(Reserved(
            message_id=message_id, receipt=receipt, body=body, attributes=json.loads(attributes),
            system=json.loads(system), sent_at_ms=sent_ms, first_received_ms=first, receive_count=count + 1,
            group_id=group_id, dedup_id=dedup_id, sequence=seq,
        ))  # fmt: skip
    c.executemany(
        "UPDATE messages SET receipt = ?, visible_at = ?, receive_count = receive_count + 1, "
        "first_received_ms = ? WHERE id = ?",
        updates,
    )
    return out, None


#: receipts per DELETE statement (two bound values each; SQLite's limit on bound values is 32766)
_ACK_CHUNK = 500


def _ack_many(queue: str, wanted: list[tuple[int, str]], c: sqlite3.Connection) -> dict[int, str]:
    """Delete the messages whose latest receipt is given; the row id -> receipt of each deleted. One statement per
    chunk, not one per message: the writer thread gives up the GIL on every statement, which the event loop pays
    for."""
    deleted: dict[int, str] = {}
    for start in range(0, len(wanted), _ACK_CHUNK):
        chunk = wanted[start : start + _ACK_CHUNK]
        pairs = ", ".join("(?, ?)" for _ in chunk)
        params: list[object] = [queue]
        for key, receipt in chunk:
            params += (key, receipt)
        rows = c.execute(
            f"DELETE FROM messages WHERE queue = ? AND (id, receipt) IN (VALUES {pairs}) RETURNING id, receipt",
            params,
        ).fetchall()
        deleted.update((row[0], row[1]) for row in rows)
    return deleted


def _dead_letter(queue: str, key: int, receipt: str, target: str, now: float, c: sqlite3.Connection) -> bool:
    found = c.execute(
        "SELECT 1 FROM messages WHERE id = ? AND queue = ? AND receipt = ?", (key, queue, receipt)
    ).fetchone()
    if found is None:
        return False
    seq = _take_sequence(c, target, 1)  # raises if the target does not exist: nothing moved
    c.execute(
        "UPDATE messages SET queue = ?, sequence = ?, receipt = NULL, visible_at = ? WHERE id = ?",
        (target, seq, now, key),
    )
    return True


def _depth(queue: str, now: float, c: sqlite3.Connection) -> Depth:
    _require(c, queue)
    visible, in_flight, delayed = c.execute(
        "SELECT COALESCE(SUM(visible_at <= ?), 0), COALESCE(SUM(visible_at > ? AND receipt IS NOT NULL), 0), "
        "COALESCE(SUM(visible_at > ? AND receipt IS NULL), 0) FROM messages WHERE queue = ?",
        (now, now, now, queue),
    ).fetchone()
    return Depth(visible=visible, in_flight=in_flight, delayed=delayed)


def _parse_receipt(receipt: str) -> int | None:
    head, dot, _ = receipt.partition(".")
    if not dot or not head.isascii() or not head.isdigit() or len(head) > 18:
        return None
    return int(head)
