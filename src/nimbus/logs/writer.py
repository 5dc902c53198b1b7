"""The log writer process: inserts batches of log lines into logs.db, off the server's process.

Writing a batch is SQLite's B-tree and WAL work: ~5 µs of CPU per invoke's three lines even with stream ids, in a
process whose event loop is the platform's bottleneck (`docs/performance.md`). So the server only hands each
batch over, marshalled, on a pipe (~0.3 µs per invoke) and this process writes it. It is the server's child
(`LogWriter`), speaks only over its stdin and stdout, and exits when its stdin closes (the server closed it, or
died): it holds nothing of its own, so a writer that dies loses no line the server has not been told was written.

The protocol, each message a 4-byte little-endian length and a `marshal`led value:
- request: (ingestion time ms, [(group, stream, ts, message, platform), ...]);
- replies: (rows committed so far, None, False) after each committed chunk of about WRITE_CHUNK_BYTES (so the
  server knows what is stored if this process dies mid-batch), then (rows committed, error or None, True).
Stream ids are looked up (and made) in the chunk's own transaction, so a purge or DeleteLogGroup in the server,
which deletes emptied streams, can never leave an event pointing at a stream that is gone.

This file runs as `python -I -S writer.py <logs.db> <wal size limit>`: it imports only the standard library, so the
writer starts without site-packages (~10 ms, a few MB).
"""

from __future__ import annotations

import marshal
import os
import sqlite3
import struct
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

#: rows are committed in transactions of about this many bytes, so that the WAL (which holds a whole transaction
#: until a checkpoint) stays near its size limit instead of growing by a whole burst
WRITE_CHUNK_BYTES = 1 << 20
#: what one pending line costs beyond its characters (the tuple, the str header, the list slot)
ROW_OVERHEAD = 160
_LEN = struct.Struct("<I")

Row = tuple[str, str, int, str, bool]


class WriterGone(ConnectionError):
    """The writer process ended (or never started) before it answered."""


class WriteFailed(Exception):
    """The writer could not store a chunk; the message is the SQLite or OS error, with its type's name."""


def chunks(batch: list[Row]) -> Iterator[list[Row]]:
    """`batch` in runs of about WRITE_CHUNK_BYTES of messages."""
    start = size = 0
    for n, row in enumerate(batch):
        size += len(row[3]) + ROW_OVERHEAD
        if size >= WRITE_CHUNK_BYTES:
            yield batch[start : n + 1]
            start, size = n + 1, 0
    if start < len(batch):
        yield batch[start:]


def _read_exactly(fd: int, n: int) -> bytes:
    parts = []
    while n:
        part = os.read(fd, n)
        if not part:
            raise WriterGone("the log writer's pipe closed")
        parts.append(part)
        n -= len(part)
    return b"".join(parts)


def _send(fd: int, value: Any) -> None:
    data = marshal.dumps(value)
    view = memoryview(_LEN.pack(len(data)) + data)
    while view:
        view = view[os.write(fd, view) :]


def _receive(fd: int) -> Any:
    (size,) = _LEN.unpack(_read_exactly(fd, _LEN.size))
    return marshal.loads(_read_exactly(fd, size))


# ---- the writer process ---------------------------------------------------------------------------------------------


def _insert(db: sqlite3.Connection, ingested: int, rows: list[Row]) -> None:
    """One chunk, one transaction: its streams' ids (made where new), then its events in order."""
    ids: dict[tuple[str, str], int] = {}
    for group, stream, *_ in rows:
        if (group, stream) not in ids:
            db.execute("INSERT OR IGNORE INTO log_streams (grp, name) VALUES (?, ?)", (group, stream))
            (ids[group, stream],) = db.execute(
                "SELECT id FROM log_streams WHERE grp = ? AND name = ?", (group, stream)
            ).fetchone()
    db.executemany(
        "INSERT INTO events (sid, ts, ingested, message) VALUES (?, ?, ?, ?)",
        [(ids[group, stream], ts, ingested, message) for group, stream, ts, message, _ in rows],
    )


def serve(path: str, wal_limit: int) -> None:
    """Answer requests on stdin until the server closes it. Replies go to what was stdout, and stdout itself to
    stderr: nothing printed by accident can break the protocol."""
    requests, replies = 0, os.dup(1)
    os.dup2(2, 1)
    db = sqlite3.connect(path, isolation_level=None, timeout=30, check_same_thread=False)
    for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "busy_timeout=30000", f"journal_size_limit={wal_limit}"):
        db.execute(f"PRAGMA {pragma}")
    while True:
        try:
            ingested, batch = _receive(requests)
        except WriterGone:
            return
        done = 0
        error = None
        for chunk in chunks(batch):
            try:
                db.execute("BEGIN IMMEDIATE")
                _insert(db, ingested, chunk)
                db.execute("COMMIT")
            except Exception as exc:  # reported to the server, which retries or drops the rest
                if db.in_transaction:
                    db.rollback()
                error = f"{type(exc).__name__}: {exc}"
                break
            done += len(chunk)
            _send(replies, (done, None, False))
        _send(replies, (done, error, True))


# ---- the server's side ----------------------------------------------------------------------------------------------


class LogWriter:
    """The server's handle on its writer process: started when the store's writer task starts (else at the first
    write), started again after it died.

    `write` blocks (the log store calls it in a thread); one write at a time (the store's flush lock)."""

    def __init__(self, path: Path, wal_limit: int) -> None:
        self._args = [sys.executable, "-I", "-S", str(Path(__file__).with_name("writer.py")), str(path), str(wal_limit)]
        self._proc: subprocess.Popen[bytes] | None = None

    def write(self, ingested: int, batch: list[Row]) -> tuple[int, Exception | None]:
        """Store `batch`; returns how many rows were committed, and the error that stopped it, if any."""
        done = 0
        try:
            proc = self.start()
            assert proc.stdin is not None
            assert proc.stdout is not None
            _send(proc.stdin.fileno(), (ingested, batch))
            while True:
                done, error, final = _receive(proc.stdout.fileno())
                if final:
                    return done, WriteFailed(error) if error else None
        except (OSError, ValueError, EOFError, TypeError) as exc:  # it died, or answered nonsense: start anew
            self.close()
            return done, exc if isinstance(exc, WriterGone) else WriterGone(f"the log writer failed: {exc}")

    def start(self) -> subprocess.Popen[bytes]:
        """The writer process, started if it is not running (raises OSError when it cannot be)."""
        if self._proc is not None and self._proc.poll() is None:
            return self._proc
        self.close()
        # a session of its own: a ^C at the server's terminal is the server's to handle (it ends the writer by
        # closing its stdin after the last flush), not the writer's
        self._proc = subprocess.Popen(self._args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, close_fds=True,
                                      start_new_session=True)  # fmt: skip
        return self._proc

    def close(self) -> None:
        """End the writer: it sees its stdin close once it has answered the request it has."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        assert proc.stdin is not None
        assert proc.stdout is not None
        proc.stdin.close()
        proc.stdout.close()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


if __name__ == "__main__":
    serve(sys.argv[1], int(sys.argv[2]))
