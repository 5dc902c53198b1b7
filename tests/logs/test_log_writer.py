"""The log writer process: the store's batches are written by a child process, which a dead or hung writer never
costs a line (the batch is kept and retried, a new writer started), whose writes take turns, and which ends with
the store."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from nimbus.clock import FakeClock
from nimbus.logs.store import RETRY_FIRST_S, LogStore

GROUP = "/aws/lambda/fn"


def writer_of(store: LogStore) -> subprocess.Popen[bytes]:
    proc = store._writer._proc
    assert proc is not None
    return proc


def messages(store: LogStore) -> list[str]:
    return [e.message for e in store.query(GROUP)]


def test_lines_are_written_by_a_child_process_that_ends_with_the_store(tmp_path: Path) -> None:
    store = LogStore(tmp_path / "logs.db", retention_days=1)

    store.emit(GROUP, "s", 1, "one")
    asyncio.run(store.flush())
    pid = writer_of(store).pid
    assert pid != os.getpid()
    assert Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[3].endswith(b"nimbus/logs/writer.py")
    asyncio.run(store.close())
    assert messages(store) == ["one"]
    assert store._writer._proc is None
    assert not Path(f"/proc/{pid}").exists()  # ended and reaped


def test_a_writer_that_died_between_batches_is_replaced_and_nothing_is_lost(tmp_path: Path) -> None:
    store = LogStore(tmp_path / "logs.db", retention_days=1)

    async def body() -> None:
        store.emit(GROUP, "s", 1, "before")
        await store.flush()
        first = writer_of(store)
        first.kill()
        first.wait()
        store.emit(GROUP, "s", 2, "after")
        await store.flush()
        assert writer_of(store).pid != first.pid
        await store.close()

    asyncio.run(body())
    assert messages(store) == ["before", "after"]
    assert store._failures == 0


async def a_stopped_writer_with_a_flush_waiting(
    store: LogStore, second: str = "second"
) -> tuple[subprocess.Popen[bytes], asyncio.Task[None]]:
    """ "first" written; the writer stopped (SIGSTOP); a flush of `second` started, to wait for its answer."""
    store.emit(GROUP, "s", 1, "first")
    await store.flush()
    writer = writer_of(store)
    writer.send_signal(signal.SIGSTOP)
    store.emit(GROUP, "s", 2, second)
    return writer, asyncio.create_task(store.flush())


def test_a_writer_killed_before_it_answered_costs_a_retry_not_a_line(tmp_path: Path) -> None:
    """The writer is stopped before it reads the batch, then killed while the store waits for its answer: the
    store sees the pipe close, keeps the batch, and writes it once after the backoff with a new writer."""
    clock = FakeClock()
    store = LogStore(tmp_path / "logs.db", retention_days=1, clock=clock)

    async def body() -> None:
        writer, flushing = await a_stopped_writer_with_a_flush_waiting(store)
        await asyncio.sleep(0.2)
        assert not flushing.done()  # waiting for the stopped writer's answer
        writer.kill()
        await flushing
        assert store._failures == 1
        assert messages(store) == ["first"]
        clock.advance(RETRY_FIRST_S)
        await store.flush()
        assert store._failures == 0
        await store.close()

    asyncio.run(body())
    assert messages(store) == ["first", "second"]
    assert store.gate.drops.lines["write_error"] == 0


def test_the_writer_ends_when_the_server_dies_without_closing_it(tmp_path: Path) -> None:
    """A server killed outright never closes the writer's pipe itself: the kernel does, and the writer exits."""
    program = (
        "import asyncio, os, sys\n"
        "from pathlib import Path\n"
        "from nimbus.logs.store import LogStore\n"
        "store = LogStore(Path(sys.argv[1]), retention_days=1)\n"
        "store.emit('/aws/lambda/fn', 's', 1, 'written')\n"
        "asyncio.run(store.flush())\n"
        "print(store._writer._proc.pid, flush=True)\n"
        "os.kill(os.getpid(), 9)\n"
    )
    server = subprocess.run([sys.executable, "-c", program, str(tmp_path / "logs.db")], capture_output=True,
                            timeout=60, check=False)  # fmt: skip
    assert server.returncode == -signal.SIGKILL
    writer = int(server.stdout)
    deadline = time.monotonic() + 10
    while Path(f"/proc/{writer}").exists() and "Z" not in Path(f"/proc/{writer}/stat").read_text().split()[2]:
        assert time.monotonic() < deadline, "the writer outlived its server"
        time.sleep(0.01)
    assert [e.message for e in LogStore(tmp_path / "logs.db", retention_days=1).query(GROUP)] == ["written"]


def test_the_writer_task_starts_the_process_before_any_line(tmp_path: Path) -> None:
    """Started with the server's writer task, so its start-up is not paid in the first invocations' minutes."""
    store = LogStore(tmp_path / "logs.db", retention_days=1)

    async def body() -> None:
        task = asyncio.create_task(store.run())
        try:
            for _ in range(500):
                if store._writer._proc is not None:
                    break
                await asyncio.sleep(0.01)
            assert writer_of(store).poll() is None
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await store.close()

    asyncio.run(body())
    assert store._writer._proc is None


def test_a_flush_cancelled_mid_write_and_the_stores_close_write_one_at_a_time(tmp_path: Path) -> None:
    """As the server stops: its log task is cancelled while a write waits for the writer, whose thread goes on,
    then `close` writes the rest. The two writes share one pipe: they take turns, and every line is stored once."""
    store = LogStore(tmp_path / "logs.db", retention_days=1)

    async def body() -> None:
        store.emit(GROUP, "s", 1, "first")
        await store.flush()
        writer = writer_of(store)
        writer.send_signal(signal.SIGSTOP)
        for n in range(200):
            store.emit(GROUP, "s", 2, f"in flight {n}")
        flushing = asyncio.create_task(store.flush())
        await asyncio.sleep(0.2)  # (its thread has sent the batch and waits for the stopped writer's answer)
        flushing.cancel()
        for n in range(200):
            store.emit(GROUP, "s", 3, f"at close {n}")
        closing = asyncio.create_task(store.close())
        await asyncio.sleep(0.2)
        writer.send_signal(signal.SIGCONT)
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(flushing, 60)
        await asyncio.wait_for(closing, 60)

    asyncio.run(body())
    assert messages(store) == ["first"] + [f"in flight {n}" for n in range(200)] + [f"at close {n}" for n in range(200)]
    assert store.gate.drops.lines["write_error"] == 0


@pytest.mark.parametrize("size", [6, 1 << 20])
def test_a_writer_that_hangs_is_killed_and_replaced_and_costs_a_retry_not_a_line(tmp_path: Path, size: int) -> None:
    """A writer that stops answering (stopped, or stuck) would hold the store's writes, and the server's stop, for
    ever: past the reply timeout it is killed, the batch kept for a retry with a new writer. So does one that stops
    reading a batch larger than its pipe holds (64 KB): the hand-over is bounded by the same timeout."""
    clock = FakeClock()
    store = LogStore(tmp_path / "logs.db", retention_days=1, clock=clock)
    store._writer.reply_timeout_s = 0.5
    second = "second".ljust(size, ".")

    async def body() -> None:
        writer, flushing = await a_stopped_writer_with_a_flush_waiting(store, second)
        try:
            await asyncio.wait_for(asyncio.shield(flushing), 30)
        finally:
            writer.kill()  # (what ended a hung flush before)
            await flushing
        assert store._failures == 1
        assert store._writer._proc is None
        clock.advance(RETRY_FIRST_S)
        await store.flush()
        assert store._failures == 0
        assert writer_of(store).pid != writer.pid
        await store.close()

    asyncio.run(body())
    assert messages(store) == ["first", second]


def test_a_stop_with_a_hung_writer_writes_its_batch_with_a_new_one(tmp_path: Path) -> None:
    """The server's stop cancels its log task while a hung writer has a batch: the flush still waits for the
    writer's reply timeout and keeps the batch, and the store's `close` writes it with a new writer."""
    store = LogStore(tmp_path / "logs.db", retention_days=1)
    store._writer.reply_timeout_s = 0.5

    async def body() -> None:
        writer, flushing = await a_stopped_writer_with_a_flush_waiting(store)
        await asyncio.sleep(0)  # the flush's first step takes the batch and hands it to its thread
        assert not store._pending
        flushing.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(flushing, 30)
        await asyncio.wait_for(store.close(), 30)
        assert writer.wait(timeout=30) == -signal.SIGKILL

    asyncio.run(body())
    assert messages(store) == ["first", "second"]
    assert store.gate.drops.lines["write_error"] == 0


def test_a_line_that_is_no_utf8_is_stored_replaced_and_its_neighbours_as_they_are(tmp_path: Path) -> None:
    """A str with a lone surrogate has no UTF-8 for SQLite: it failed its whole chunk (a megabyte of every function's
    lines, four times, then dropped). It is stored with U+FFFD in its place, its chunk with it."""
    store = LogStore(tmp_path / "logs.db", retention_days=1)
    store.emit(GROUP, "s", 1, "before")
    store.emit(GROUP, "s", 2, "lone \ud800 surrogate")
    store.emit(GROUP, "s", 3, "after")
    asyncio.run(store.close())
    assert messages(store) == ["before", "lone \ufffd\ufffd\ufffd surrogate", "after"]
    assert store._failures == 0
    assert store.gate.drops.lines["write_error"] == 0
