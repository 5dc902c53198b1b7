"""The SQLite store's writer thread (`nimbus.queue._writer`): group commit, one loop wake-up per batch, and the
fsync relaxed only for batches whose every job may be lost to a power cut (reservations, acks)."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path

from nimbus.queue._writer import Writer, connect


def _synchronous(c: sqlite3.Connection) -> int:
    return int(c.execute("PRAGMA synchronous").fetchone()[0])  # 1 NORMAL, 2 FULL


def test_a_batch_fsyncs_unless_every_job_in_it_may_be_lost(tmp_path: Path) -> None:
    async def main() -> None:
        writer = Writer(connect(tmp_path / "q.db"))
        try:
            assert await writer.run(_synchronous) == 2
            assert await writer.run(_synchronous, durable=False) == 1
            assert await writer.run(_synchronous) == 2  # back to FULL for a durable job
            # held behind a job that blocks the thread, three jobs make one batch: one durable job makes it durable
            hold = threading.Event()
            blocker = asyncio.ensure_future(writer.run(lambda c: hold.wait(5)))
            await asyncio.sleep(0.05)
            jobs = [writer.run(_synchronous, durable=d) for d in (False, True, False)]
            together = asyncio.gather(*jobs)
            await asyncio.sleep(0)  # every job submitted
            hold.set()
            assert await blocker
            assert await together == [2, 2, 2]
        finally:
            await writer.close()

    asyncio.run(main())


def test_a_batch_of_many_jobs_settles_each_caller_and_a_failing_job_fails_alone(tmp_path: Path) -> None:
    async def main() -> None:
        writer = Writer(connect(tmp_path / "q.db"))
        try:
            await writer.run(lambda c: c.execute("CREATE TABLE t (x INTEGER PRIMARY KEY)"))

            def insert(x: int) -> Callable[[sqlite3.Connection], int]:
                def job(c: sqlite3.Connection) -> int:
                    c.execute("INSERT INTO t VALUES (?)", (x,))
                    return x

                return job

            results = await asyncio.gather(*(writer.run(insert(x)) for x in (1, 2, 2, 3)), return_exceptions=True)
            assert results[:2] == [1, 2]
            assert results[3] == 3
            assert isinstance(results[2], sqlite3.IntegrityError)  # the duplicate rolled back alone
            assert await writer.run(lambda c: c.execute("SELECT x FROM t ORDER BY x").fetchall()) == [(1,), (2,), (3,)]
        finally:
            await writer.close()

    asyncio.run(main())
