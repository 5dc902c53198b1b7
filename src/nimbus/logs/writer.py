"""The log writer process: inserts batches of log lines into logs.db, off the server's process.

Writing a batch is SQLite's B-tree and WAL work: ~5 µs of CPU per invoke's three lines even with stream ids, in a
process whose event loop is the platform's bottleneck (`docs/performance.md`). So the server only hands each
batch over, marshalled, on a pipe (~0.3 µs per invoke) and this process writes it. It is the server's child
(`LogWriter`), speaks only over its stdin and stdout, and exits when its stdin closes (the server closed it, or
died): it holds nothing of its own, so a writer that dies loses no line the server has not been told was written.

Nor does it write one twice. The server numbers the lines it sends, in order, and a request's lines carry
consecutive numbers; lines it sends again (the part of a request that was not answered, at the front of the next)
keep theirs. Each chunk's transaction records the number of its last line (schema.log_writer), so a writer killed
between a chunk's commit and its answer leaves that chunk recorded as stored: the next writer skips the lines of a
request numbered at or below the record, and answers for them as if it had written them. The server starts its
numbers after the record, so numbers from before a restart are never taken for new lines.

The protocol, each message a 4-byte little-endian length and a `marshal`led value:
- request: (number of its first line, ingestion time ms, [(group, stream, ts, message, platform), ...]);
- replies: (rows committed so far, None, False) after each committed chunk of about WRITE_CHUNK_BYTES (so the
  server knows what is stored if this process dies mid-batch), then (rows committed, error or None, True).
Stream ids are looked up (and made) in the chunk's own transaction, so a purge or DeleteLogGroup in the server,
which deletes emptied streams, can never leave an event pointing at a stream that is gone.

This file runs as `python -I -S writer.py <logs.db> <wal size limit>`: it imports only the standard library, so the
writer starts without site-packages (~10 ms, a few MB).
"""

from __future__ import annotations

import contextlib
import marshal
import os
import select
import signal
import sqlite3
import struct
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

#: rows are committed in transactions of about this many bytes, so that the WAL (which holds a whole transaction
#: until a checkpoint) stays near its size limit instead of growing by a whole burst
WRITE_CHUNK_BYTES = 1 << 20
#: what one pending line costs beyond its characters (the tuple, the str header, the list slot)
ROW_OVERHEAD = 160
#: the longest wait for the writer's next answer (or for room in its pipe) before it is taken for hung, killed and
#: replaced: a chunk waits at most its busy timeout (30 s) for the database's write lock, and takes milliseconds
#: once it has it
REPLY_TIMEOUT_S = 60.0
_LEN = struct.Struct("<I")
#: a test's hook (tests/logs/test_log_writer.py), read by the writer process only: the path of a file holding a
#: count. After each commit, at a count of 0 the file is removed and the writer killed (between the commit and its
#: answer), else the count goes down by one; no file, nothing happens
DIE_AFTER_COMMIT = "_NIMBUS_TEST_LOG_WRITER_DIES"

Row = tuple[str, str, int, str, bool]


class WriterGone(ConnectionError):
    """The writer process ended (or never started) before it answered."""


class WriterHung(WriterGone):
    """The writer did not answer, or read its batch, within its reply timeout (stopped, or stuck): it is killed."""


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


def _wait(fd: int, event: int, timeout_s: float | None) -> None:
    """Until `fd` is ready for `event` (or has failed: the read or write then says so); raises WriterHung past
    `timeout_s` (None: no limit)."""
    if timeout_s is not None:
        waiting = select.poll()
        waiting.register(fd, event)
        if not waiting.poll(timeout_s * 1000):
            raise WriterHung(f"the log writer did not answer within {timeout_s:g} s")


def _read_exactly(fd: int, n: int, timeout_s: float | None = None) -> bytes:
    parts = []
    while n:
        _wait(fd, select.POLLIN, timeout_s)
        part = os.read(fd, n)
        if not part:
            raise WriterGone("the log writer's pipe closed")
        parts.append(part)
        n -= len(part)
    return b"".join(parts)


def _send(fd: int, value: Any, timeout_s: float | None = None) -> None:
    """`value`, framed; with `timeout_s`, `fd` is non-blocking and each wait for room in the pipe is bounded."""
    data = marshal.dumps(value)
    view = memoryview(_LEN.pack(len(data)) + data)
    while view:
        _wait(fd, select.POLLOUT, timeout_s)
        try:
            view = view[os.write(fd, view) :]
        except BlockingIOError:  # room for less than a pipe's atomic write: wait for more
            continue


def _receive(fd: int, timeout_s: float | None = None) -> Any:
    (size,) = _LEN.unpack(_read_exactly(fd, _LEN.size, timeout_s))
    return marshal.loads(_read_exactly(fd, size, timeout_s))


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


def _commit(db: sqlite3.Connection, ingested: int, chunk: list[Row], last_line: int) -> None:
    """`chunk` in one transaction, with `last_line` (its last line's number) recorded as stored, or nothing of it."""
    try:
        db.execute("BEGIN IMMEDIATE")
        _insert(db, ingested, chunk)
        db.execute("UPDATE log_writer SET last_line = ? WHERE id = 0", (last_line,))
        db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:
            db.rollback()
        raise


def _storable(row: Row) -> Row:
    """`row` with text that is no UTF-8 (lone surrogates) as U+FFFD, as the server decodes a function's output."""
    group, stream, ts, message, platform = row
    group, stream, message = (
        t.encode("utf-8", "surrogatepass").decode("utf-8", "replace") for t in (group, stream, message)
    )
    return group, stream, ts, message, platform


def _die_if_told(path: str) -> None:
    """DIE_AFTER_COMMIT's hook."""
    try:
        count = int(Path(path).read_text() or 0)
    except FileNotFoundError:
        return
    if count:
        Path(path).write_text(str(count - 1))
        return
    os.unlink(path)
    os.kill(os.getpid(), signal.SIGKILL)


def serve(path: str, wal_limit: int) -> None:
    """Answer requests on stdin until the server closes it. Replies go to what was stdout, and stdout itself to
    stderr: nothing printed by accident can break the protocol."""
    requests, replies = 0, os.dup(1)
    os.dup2(2, 1)
    db = sqlite3.connect(path, isolation_level=None, timeout=30, check_same_thread=False)
    for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "busy_timeout=30000", f"journal_size_limit={wal_limit}"):
        db.execute(f"PRAGMA {pragma}")
    (last,) = db.execute("SELECT last_line FROM log_writer WHERE id = 0").fetchone()  # only this process updates it
    dies = os.environ.get(DIE_AFTER_COMMIT, "")
    while True:
        try:
            first, ingested, batch = _receive(requests)
        except WriterGone:
            return
        done = min(max(last - first + 1, 0), len(batch))  # lines a writer that died stored already: as written
        error = None
        for chunk in chunks(batch[done:] if done else batch):
            end = first + done + len(chunk) - 1
            try:
                try:
                    _commit(db, ingested, chunk, end)
                except UnicodeEncodeError:  # a line with a lone surrogate: no UTF-8 for SQLite, and no reason to
                    _commit(db, ingested, [_storable(row) for row in chunk], end)  # fail the lines around it
            except Exception as exc:  # reported to the server, which retries or drops the rest
                error = f"{type(exc).__name__}: {exc}"
                break
            done, last = done + len(chunk), end
            if dies:
                _die_if_told(dies)
            _send(replies, (done, None, False))
        _send(replies, (done, error, True))


# ---- the server's side ----------------------------------------------------------------------------------------------


class LogWriter:
    """The server's handle on its writer process: started when the store's writer task starts (else at the first
    write), started again after it died.

    `write` blocks (the log store calls it in a thread). One at a time, by a lock of its own: the store's flush
    lock is not enough, as a flush cancelled while its thread waits for an answer (the server's stop cancels its log
    task) releases that lock while the thread goes on, and two threads reading one pipe would take each other's
    answers. A writer that does not answer within `reply_timeout_s` is killed (its batch is then retried), so no
    write, and no stop of the server, waits for ever on a writer that is stopped or stuck.

    It numbers the lines (the module docstring says why), from one more than the last the database has stored."""

    def __init__(self, path: Path, wal_limit: int) -> None:
        self._args = [sys.executable, "-I", "-S", str(Path(__file__).with_name("writer.py")), str(path), str(wal_limit)]
        self._proc: subprocess.Popen[bytes] | None = None
        self._lock = threading.RLock()
        self.reply_timeout_s = REPLY_TIMEOUT_S
        with contextlib.closing(sqlite3.connect(path)) as db:  # (made by the store's migration)
            (last,) = db.execute("SELECT last_line FROM log_writer WHERE id = 0").fetchone()
        self._next_line: int = last + 1
        #: the number of the first line the last write did not have stored, and how many there were
        self._unstored = (self._next_line, 0)

    def write(self, ingested: int, batch: list[Row], resent: int = 0) -> tuple[int, Exception | None]:
        """Store `batch`; returns how many rows were committed, and the error that stopped it, if any. `resent`:
        the first rows of `batch` are the ones the last write returned as not committed, as they were (the store
        tries them again first): they keep their numbers, so those a writer that died had committed are skipped."""
        with self._lock:
            first, unstored = self._unstored
            if not resent or resent != unstored:  # new lines only (the others were dropped): numbered anew
                first = self._next_line
            self._next_line = first + len(batch)
            done = 0
            try:
                proc = self.start()
                assert proc.stdin is not None
                assert proc.stdout is not None
                _send(proc.stdin.fileno(), (first, ingested, batch), self.reply_timeout_s)
                while True:
                    done, error, final = _receive(proc.stdout.fileno(), self.reply_timeout_s)
                    if final:
                        return done, WriteFailed(error) if error else None
            except (OSError, ValueError, EOFError, TypeError) as exc:  # it died, hung, or answered nonsense: anew
                self.close(kill=isinstance(exc, WriterHung))
                return done, exc if isinstance(exc, WriterGone) else WriterGone(f"the log writer failed: {exc}")
            finally:
                self._unstored = (first + done, len(batch) - done)

    def start(self) -> subprocess.Popen[bytes]:
        """The writer process, started if it is not running (raises OSError when it cannot be)."""
        with self._lock:
            return self._start()

    def _start(self) -> subprocess.Popen[bytes]:
        if self._proc is not None and self._proc.poll() is None:
            return self._proc
        self.close()
        # a session of its own: a ^C at the server's terminal is the server's to handle (it ends the writer by
        # closing its stdin after the last flush), not the writer's
        self._proc = subprocess.Popen(self._args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, close_fds=True,
                                      start_new_session=True)  # fmt: skip
        assert self._proc.stdin is not None
        os.set_blocking(self._proc.stdin.fileno(), False)  # a batch larger than the pipe: each wait bounded
        return self._proc

    def close(self, kill: bool = False) -> None:
        """End the writer: it sees its stdin close once it has answered the request it has (`kill`: at once)."""
        with self._lock:
            proc, self._proc = self._proc, None
            if proc is None:
                return
            assert proc.stdin is not None
            assert proc.stdout is not None
            if kill:
                proc.kill()
            proc.stdin.close()
            proc.stdout.close()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


if __name__ == "__main__":
    serve(sys.argv[1], int(sys.argv[2]))
