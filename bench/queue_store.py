"""Queue store throughput: enqueue, and reserve + ack, per second, against the disk's own commit rate.

The baseline, measured in the same run on the same directory: plain sqlite3, one INSERT per COMMIT, WAL and
synchronous=FULL (what a durable enqueue costs without batching). The store batches concurrent calls into one
commit, so with many concurrent callers it can exceed the baseline; a single sequential caller cannot.

    .venv/bin/python bench/queue_store.py [--messages 5000] [--concurrency 64] [--dir /path/on/the/disk]
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import uvloop

from nimbus.queue.contract import NewMessage
from nimbus.queue.sqlite import SqliteQueueStore

BODY = "x" * 256


def baseline(where: Path, n: int) -> float:
    """Plain sqlite3 commits per second, one 256-byte row each."""
    conn = sqlite3.connect(where / "baseline.db", isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, body TEXT)")
    start = time.perf_counter()
    for _ in range(n):
        conn.execute("BEGIN")
        conn.execute("INSERT INTO t (body) VALUES (?)", (BODY,))
        conn.execute("COMMIT")
    took = time.perf_counter() - start
    conn.close()
    return n / took


async def timed(n: int, work: Callable[[], Awaitable[None]]) -> float:
    start = time.perf_counter()
    await work()
    return n / (time.perf_counter() - start)


async def measure(where: Path, n: int, conc: int) -> dict[str, float]:
    store = SqliteQueueStore(where / "queues.db")
    await store.create_queue("q", {}, {})
    out: dict[str, float] = {}

    async def enqueue_seq() -> None:
        for _ in range(n):
            await store.enqueue("q", [NewMessage(BODY)])

    async def enqueue_conc() -> None:
        async def one(k: int) -> None:
            for _ in range(k, n, conc):
                await store.enqueue("q", [NewMessage(BODY)])

        await asyncio.gather(*(one(k) for k in range(conc)))

    async def enqueue_batches() -> None:
        for _ in range(n // 10):
            await store.enqueue("q", [NewMessage(BODY)] * 10)

    async def consume_seq() -> None:
        for _ in range(n):
            [m] = await store.reserve("q", 1, 30)
            await store.ack("q", m.receipt)

    async def consume_conc() -> None:
        async def worker() -> None:
            while batch := await store.reserve("q", 10, 30):
                await asyncio.gather(*(store.ack("q", m.receipt) for m in batch))

        await asyncio.gather(*(worker() for _ in range(conc // 4 or 1)))

    out["enqueue, 1 caller, 1 msg/call"] = await timed(n, enqueue_seq)
    out["reserve(1) + ack, 1 consumer"] = await timed(n, consume_seq)
    out[f"enqueue, {conc} callers, 1 msg/call"] = await timed(n, enqueue_conc)
    out[f"reserve(10) + acks, {conc // 4 or 1} consumers"] = await timed(n, consume_conc)
    out["enqueue, 1 caller, 10 msgs/call"] = await timed(n // 10 * 10, enqueue_batches)
    out[f"reserve(10) + acks, {conc // 4 or 1} consumers (2)"] = await timed(n // 10 * 10, consume_conc)
    await store.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--dir", type=Path, default=None, help="where the files go (default: a temporary dir)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        where = Path(tmp)
        base = baseline(where, min(args.messages, 2000))
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            results = runner.run(measure(where, args.messages, args.concurrency))
    print(f"queue store: {args.messages} messages of {len(BODY)} bytes, SQLite WAL synchronous=FULL\n")
    print(f"{'':44}{'msgs/s':>10}{'x baseline':>12}")
    print(f"{'baseline: sqlite3 INSERT+COMMIT per message':44}{base:>10.0f}{1.0:>12.2f}")
    for name, rate in results.items():
        print(f"{name:44}{rate:>10.0f}{rate / base:>12.2f}")


if __name__ == "__main__":
    main()
