"""One SQLite connection on one thread, with group commit: every job waiting when the thread wakes runs in one
transaction and one fsync, so a hundred concurrent enqueues cost about one disk flush, and each still returns only
after the commit that made it durable."""

from __future__ import annotations

import asyncio
import contextlib
import queue
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from nimbus.errors import ServiceError

T = TypeVar("T")
Job = Callable[[sqlite3.Connection], Any]
#: a job, its caller's future and loop, and whether its change must survive a power cut
_Item = tuple[Job, "asyncio.Future[Any]", asyncio.AbstractEventLoop, bool]

#: a batch stops growing here so one huge backlog does not delay the first caller's answer unboundedly
MAX_BATCH = 512


def connect(path: Path) -> sqlite3.Connection:
    """A connection in WAL mode with synchronous=FULL: a commit is on disk when it returns (survives power loss,
    not only a process crash). Transactions are explicit (isolation_level=None). The writer relaxes it, batch by
    batch, for jobs that may be lost to a power cut (see `Writer.run`)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA busy_timeout=30000")
    return conn


class Writer:
    """Runs jobs (functions of the connection) on its thread, batched into transactions. A job that raises rolls
    back only its own savepoint; its caller gets the exception, the rest of the batch commits. A second instance
    with `begin="BEGIN"` on its own connection serves reads from a WAL snapshot without waiting for writes."""

    def __init__(self, conn: sqlite3.Connection, *, name: str = "queue-db", begin: str = "BEGIN IMMEDIATE") -> None:
        self._conn = conn
        self._begin = begin
        self._jobs: queue.SimpleQueue[_Item | None] = queue.SimpleQueue()
        self._synchronous = "FULL"
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()
        self._closed = False

    async def run(self, job: Callable[[sqlite3.Connection], T], *, durable: bool = True) -> T:
        """Run `job` in the next batch; its result once that batch committed. `durable=False`: the job's change
        may be lost to a power cut or an OS crash (never to a crash of this process: the commit is in the OS's
        hands either way), so a batch of only such jobs commits without fsync (synchronous=NORMAL). For changes
        whose loss only repeats a delivery (an ack, a reservation), not one that loses an acknowledged message:
        WAL commits are ordered, so a durable commit after them makes them durable too."""
        if self._closed:
            raise ServiceError("the queue store is closed")
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[T] = loop.create_future()
        self._jobs.put((job, fut, loop, durable))
        return await fut

    async def close(self) -> None:
        """Finish the jobs already submitted, then stop the thread and close the connection."""
        if self._closed:
            return
        self._closed = True
        self._jobs.put(None)
        await asyncio.to_thread(self._thread.join)
        self._conn.close()

    def _run(self) -> None:
        while True:
            first = self._jobs.get()
            if first is None:
                return
            batch = [first]
            stop = False
            while len(batch) < MAX_BATCH:
                try:
                    item = self._jobs.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    stop = True
                    break
                batch.append(item)
            self._commit(batch)
            if stop:
                return

    def _commit(self, batch: list[_Item]) -> None:
        conn = self._conn
        outcomes: list[tuple[Any, BaseException | None]] = []
        try:
            synchronous = "FULL" if any(item[3] for item in batch) else "NORMAL"
            if synchronous != self._synchronous:  # outside a transaction, as SQLite requires
                conn.execute(f"PRAGMA synchronous={synchronous}")
                self._synchronous = synchronous
            conn.execute(self._begin)
            if len(batch) == 1:  # alone: its failure rolls back the whole transaction, no savepoint needed
                self._commit_one(batch[0][0], outcomes)
            else:
                for job, _fut, _loop, _durable in batch:
                    conn.execute("SAVEPOINT job")
                    try:
                        result = job(conn)
                    except Exception as exc:  # the caller's failure, not the batch's
                        conn.execute("ROLLBACK TO job")
                        conn.execute("RELEASE job")
                        outcomes.append((None, exc))
                    else:
                        conn.execute("RELEASE job")
                        outcomes.append((result, None))
                conn.execute("COMMIT")
        except sqlite3.Error as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            failure = ServiceError(f"queue store: {exc}")
            outcomes = [(None, failure)] * len(batch)
        self._settle(batch, outcomes)

    def _commit_one(self, job: Job, outcomes: list[tuple[Any, BaseException | None]]) -> None:
        """A batch of one job, without SAVEPOINT and RELEASE: every statement on this thread gives the GIL up and
        waits to take it back from the busy event loop, so two statements fewer is a shorter commit (most batches
        are of one job: accepts and acks come gathered)."""
        conn = self._conn
        try:
            result = job(conn)
        except Exception as exc:  # the caller's failure: nothing of it is kept
            conn.execute("ROLLBACK")
            outcomes.append((None, exc))
        else:
            conn.execute("COMMIT")
            outcomes.append((result, None))

    def _settle(self, batch: list[_Item], outcomes: list[tuple[Any, BaseException | None]]) -> None:
        # one wake-up per loop per batch, not one per job: each call_soon_threadsafe costs the loop a wake and a
        # callback, and a batch of hundreds would otherwise cost hundreds (almost always there is one loop)
        by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[Any], Any, BaseException | None]]] = {}
        for (_job, fut, loop, _durable), (result, error) in zip(batch, outcomes, strict=True):
            by_loop.setdefault(loop, []).append((fut, result, error))
        for loop, settled in by_loop.items():
            with contextlib.suppress(RuntimeError):  # the caller's loop is gone (closed at shutdown)
                loop.call_soon_threadsafe(_settle_all, settled)


def _settle_all(settled: list[tuple[asyncio.Future[Any], Any, BaseException | None]]) -> None:
    for fut, result, error in settled:
        if fut.cancelled():
            continue
        if error is not None:
            fut.set_exception(error)
        else:
            fut.set_result(result)
