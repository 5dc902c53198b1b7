"""The log store's CPU per warm invoke: START, END and REPORT of N invokes through `LogStore.emit` and `flush`.

What the server process pays per invoke for its logs: `emit` three times on the event loop, then its share of a
batch write (every FLUSH_INTERVAL) in the writer. CPU is `time.process_time` (every thread of this process) plus,
where the store writes from another process, that process's CPU from /proc. Four cases: a fresh database and one
of about --prefill-mb MB, each with 1 and 32 streams (the stream index takes its inserts at 32 places).
The baseline, measured in the same run: plain sqlite3 inserting the same rows into a one-table, two-index schema
(the shape of the store before stream ids) with executemany, one transaction per batch.

    .venv/bin/python bench/log_store.py [--invokes 40000] [--batch 800] [--prefill-mb 100] [--dir /path]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sqlite3
import tempfile
import time
import uuid
from pathlib import Path

from nimbus.logs.store import LogStore

GROUP = "/aws/lambda/bench-noop"
REPORT = ("REPORT RequestId: {}\tDuration: 0.{:02d} ms\tBilled Duration: 1 ms\tMemory Size: 128 MB"
          "\tMax Memory Used: 21 MB")


def _streams(n: int) -> list[str]:
    return [f"2026/11/30/[$LATEST]{uuid.uuid4().hex}" for _ in range(n)]


def _lines(rid: str, n: int) -> tuple[str, str, str]:
    return f"START RequestId: {rid} Version: $LATEST", f"END RequestId: {rid}", REPORT.format(rid, n % 100)


def _children_cpu() -> float:
    """CPU seconds of this process's child processes still running (a writer process), from /proc."""
    total = 0.0
    tick = os.sysconf("SC_CLK_TCK")
    for task in Path(f"/proc/{os.getpid()}/task").iterdir():
        children = task / "children"
        for pid in children.read_text().split() if children.exists() else []:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
    return total


async def _fill(store: LogStore, path: Path, streams: list[str], megabytes: int) -> None:
    n = 0
    while sum(p.stat().st_size for p in path.parent.glob(path.name + "*")) < megabytes << 20:
        for _ in range(20_000):
            rid = str(uuid.uuid4())
            stream = streams[n % len(streams)]
            now = int(time.time() * 1000)
            for line in _lines(rid, n):
                store.emit(GROUP, stream, now, line, True)
            n += 1
        await store.flush()


async def _measure(path: Path, nstreams: int, prefill_mb: int, invokes: int, batch: int) -> tuple[float, ...]:
    """(emit, write in this process, write in a writer process) in µs of CPU per invoke."""
    store = LogStore(path, retention_days=30)
    streams = _streams(nstreams)
    if prefill_mb:
        await _fill(store, path, streams, prefill_mb)
    store.emit(GROUP, streams[0], int(time.time() * 1000), "warm-up", True)
    await store.flush()  # a writer process, if any, is started and ready
    rids = [str(uuid.uuid4()) for _ in range(invokes)]
    emit_cpu = write_cpu = child_cpu = 0.0
    for first in range(0, invokes, batch):
        t0 = time.process_time()
        for n in range(first, min(first + batch, invokes)):
            rid = rids[n]
            stream = streams[n % nstreams]
            now = int(time.time() * 1000)
            start, end, report = _lines(rid, n)
            store.emit(GROUP, stream, now, start, True)
            store.emit(GROUP, stream, now, end, True)
            store.emit(GROUP, stream, now, report, True)
        t1, c1 = time.process_time(), _children_cpu()
        await store.flush()
        write_cpu += time.process_time() - t1
        child_cpu += _children_cpu() - c1
        emit_cpu += t1 - t0
    await store.close()
    return emit_cpu / invokes * 1e6, write_cpu / invokes * 1e6, child_cpu / invokes * 1e6


def _baseline(path: Path, invokes: int, batch: int) -> float:
    """Plain sqlite3, the old one-table shape, 1 stream: CPU µs per invoke's three rows."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("CREATE TABLE events (id INTEGER PRIMARY KEY, grp TEXT, stream TEXT, ts INT, ingested INT, "
                 "message TEXT)")
    conn.execute("CREATE INDEX a ON events (grp, ts)")
    conn.execute("CREATE INDEX b ON events (grp, stream, ts)")
    stream = _streams(1)[0]
    t0 = time.process_time()
    for first in range(0, invokes, batch):
        rows = []
        for n in range(first, min(first + batch, invokes)):
            rid = str(uuid.uuid4())
            now = int(time.time() * 1000)
            rows += [(GROUP, stream, now, now, line) for line in _lines(rid, n)]
        conn.execute("BEGIN")
        conn.executemany("INSERT INTO events (grp, stream, ts, ingested, message) VALUES (?, ?, ?, ?, ?)", rows)
        conn.execute("COMMIT")
    took = time.process_time() - t0
    conn.close()
    return took / invokes * 1e6


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--invokes", type=int, default=40_000)
    ap.add_argument("--batch", type=int, default=800, help="invokes per flush (800: 8,000 invokes/s)")
    ap.add_argument("--prefill-mb", type=int, default=100)
    ap.add_argument("--streams", type=int, nargs="*", default=[1, 32])
    ap.add_argument("--dir", type=Path, default=None)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        where = Path(tmp)
        base = _baseline(where / "baseline.db", args.invokes, args.batch)
        print(f"load average {os.getloadavg()[0]:.1f}")
        print("CPU µs per invoke: emit (the event loop), write (the rest of the server process), writer (a writer "
              "process)")  # fmt: skip
        print(f"{'database':10} {'streams':>7} {'emit':>7} {'write':>7} {'server':>7} {'writer':>7} {'total':>7} "
              f"{'server/sqlite3':>14}")  # fmt: skip
        print(f"{'sqlite3':10} {1:7d} {'':7} {base:7.2f} {base:7.2f} {'':7} {base:7.2f} {1:14.2f}")
        for prefill in (0, args.prefill_mb) if args.prefill_mb else (0,):
            for nstreams in args.streams:
                path = where / f"logs-{prefill}-{nstreams}.db"
                emit, write, child = asyncio.run(_measure(path, nstreams, prefill, args.invokes, args.batch))
                label = f"{prefill} MB" if prefill else "fresh"
                print(f"{label:10} {nstreams:7d} {emit:7.2f} {write:7.2f} {emit + write:7.2f} {child:7.2f} "
                      f"{emit + write + child:7.2f} {(emit + write) / base:14.2f}")  # fmt: skip
        print(f"load average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
