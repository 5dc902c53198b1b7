"""The SQLite queue store's schema and its jobs: plain functions of a connection, each run whole on the writer's (or
the reader's) thread inside one transaction (`_writer.Writer`).

Apart from `sqlite.py`, which is the async side (the writer and reader threads, long polling's signals, the
injected clock): here is only SQL over a connection, with no asyncio, so what each operation does to the file reads
in one place. The rules they keep (order, FIFO groups and deduplication, receipts) are in `sqlite.py`'s docstring.
"""

from __future__ import annotations

import json
import secrets
import sqlite3
import uuid
from collections.abc import Sequence
from typing import Any

from nimbus.errors import ResourceNotFound
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


def record(row: Sequence[Any]) -> QueueRecord:
    return QueueRecord(
        name=row[0], attributes=json.loads(row[1]), tags=json.loads(row[2]), created_ms=row[3], modified_ms=row[4]
    )


def get_queue(name: str, c: sqlite3.Connection) -> QueueRecord | None:
    row = c.execute(
        "SELECT name, attributes, tags, created_ms, modified_ms FROM queues WHERE name = ?", (name,)
    ).fetchone()
    return None if row is None else record(row)


def list_queues(prefix: str, c: sqlite3.Connection) -> list[QueueRecord]:
    rows = c.execute(
        "SELECT name, attributes, tags, created_ms, modified_ms FROM queues WHERE substr(name, 1, ?) = ? ORDER BY name",
        (len(prefix), prefix),
    ).fetchall()
    return [record(row) for row in rows]


def require(c: sqlite3.Connection, queue: str) -> None:
    if c.execute("SELECT 1 FROM queues WHERE name = ?", (queue,)).fetchone() is None:
        raise ResourceNotFound(f"queue {queue} does not exist", queue=queue)


def create_queue(
    name: str, attributes: dict[str, str], tags: dict[str, str], now_ms: int, c: sqlite3.Connection
) -> QueueRecord:
    c.execute(
        "INSERT OR IGNORE INTO queues (name, attributes, tags, created_ms, modified_ms) VALUES (?, ?, ?, ?, ?)",
        (name, json.dumps(attributes), json.dumps(tags), now_ms, now_ms),
    )
    record = get_queue(name, c)
    assert record is not None
    return record


def update_queue(
    name: str, attributes: dict[str, str] | None, tags: dict[str, str] | None, now_ms: int, c: sqlite3.Connection
) -> QueueRecord | None:
    if attributes is not None:
        c.execute(
            "UPDATE queues SET attributes = ?, modified_ms = ? WHERE name = ?", (json.dumps(attributes), now_ms, name)
        )
    if tags is not None:
        c.execute("UPDATE queues SET tags = ? WHERE name = ?", (json.dumps(tags), name))
    return get_queue(name, c)


def delete_queue(name: str, c: sqlite3.Connection) -> bool:
    c.execute("DELETE FROM messages WHERE queue = ?", (name,))
    c.execute("DELETE FROM dedup WHERE queue = ?", (name,))
    return c.execute("DELETE FROM queues WHERE name = ?", (name,)).rowcount == 1


def take_sequence(c: sqlite3.Connection, queue: str, count: int) -> int:
    """Reserve `count` sequence numbers of the queue; the first one."""
    row = c.execute(  # one statement, not a SELECT and an UPDATE: each one costs the writer thread a GIL hand-off
        "UPDATE queues SET next_seq = next_seq + ? WHERE name = ? RETURNING next_seq", (count, queue)
    ).fetchone()
    if row is None:
        raise ResourceNotFound(f"queue {queue} does not exist", queue=queue)
    return int(row[0]) - count


def enqueue(queue: str, messages: list[NewMessage], now: float, c: sqlite3.Connection) -> list[str]:
    seq = take_sequence(c, queue, len(messages))
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


def reserve(
    queue: str, max_count: int, visibility_s: float, now: float, c: sqlite3.Connection
) -> tuple[list[Reserved], float | None]:
    """Up to `max_count` visible messages, hidden until now + visibility_s; or none and the next deadline. (Whether
    the queue exists is asked only when nothing was found: a message found is of an existing queue.)"""
    if max_count <= 0:
        require(c, queue)
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
        require(c, queue)
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


def ack_many(queue: str, wanted: list[tuple[int, str]], c: sqlite3.Connection) -> dict[int, str]:
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


def ack(queue: str, key: int, receipt: str, c: sqlite3.Connection) -> bool:
    """Delete the message if `receipt` is still its latest."""
    deleted = c.execute("DELETE FROM messages WHERE id = ? AND queue = ? AND receipt = ?", (key, queue, receipt))
    return deleted.rowcount == 1


def nack(queue: str, key: int, receipt: str, due: float, c: sqlite3.Connection) -> bool:
    """The message visible again at `due` (wall-clock epoch seconds), if `receipt` is still its latest."""
    return c.execute(
        "UPDATE messages SET visible_at = ? WHERE id = ? AND queue = ? AND receipt = ?", (due, key, queue, receipt)
    ).rowcount == 1


def purge(queue: str, c: sqlite3.Connection) -> None:
    require(c, queue)
    c.execute("DELETE FROM messages WHERE queue = ?", (queue,))


def dead_letter(queue: str, key: int, receipt: str, target: str, now: float, c: sqlite3.Connection) -> bool:
    found = c.execute(
        "SELECT 1 FROM messages WHERE id = ? AND queue = ? AND receipt = ?", (key, queue, receipt)
    ).fetchone()
    if found is None:
        return False
    seq = take_sequence(c, target, 1)  # raises if the target does not exist: nothing moved
    c.execute(
        "UPDATE messages SET queue = ?, sequence = ?, receipt = NULL, visible_at = ? WHERE id = ?",
        (target, seq, now, key),
    )
    return True


def depth(queue: str, now: float, c: sqlite3.Connection) -> Depth:
    require(c, queue)
    visible, in_flight, delayed = c.execute(
        "SELECT COALESCE(SUM(visible_at <= ?), 0), COALESCE(SUM(visible_at > ? AND receipt IS NOT NULL), 0), "
        "COALESCE(SUM(visible_at > ? AND receipt IS NULL), 0) FROM messages WHERE queue = ?",
        (now, now, now, queue),
    ).fetchone()
    return Depth(visible=visible, in_flight=in_flight, delayed=delayed)


def parse_receipt(receipt: str) -> int | None:
    head, dot, _ = receipt.partition(".")
    if not dot or not head.isascii() or not head.isdigit() or len(head) > 18:
        return None
    return int(head)
