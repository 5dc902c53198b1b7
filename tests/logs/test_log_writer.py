"""The log writer process: the store's batches are written by a child process, which a dead or hung writer never
costs a line (the batch is kept and retried, a new writer started), whose writes take turns, and which ends with
the store, and which never stores a line twice, even when killed between a chunk's commit and its answer."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import Server, child_processes, make_zip, serving
from nimbus.clock import FakeClock
from nimbus.logs.store import RETRY_FIRST_S, LogStore
from nimbus.logs.writer import DIE_AFTER_COMMIT, chunks

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


def test_a_writer_killed_between_a_chunks_commit_and_its_answer_has_that_chunk_stored_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A batch of three chunks: the writer answers the first, commits the second and is killed before answering.
    The retry resends the second and third chunks; its writer skips the second (recorded as stored), commits the
    third and is killed before answering too; the next retry's writer skips both. Every line once, in order."""
    die = tmp_path / "die"
    monkeypatch.setenv(DIE_AFTER_COMMIT, str(die))  # (the writer process inherits it)
    clock = FakeClock()
    store = LogStore(tmp_path / "logs.db", retention_days=1, clock=clock)
    lines = [f"{n:04d} ".ljust(4000, "x") for n in range(700)]  # ~2.8 MB: three chunks
    sizes = [len(chunk) for chunk in chunks([(GROUP, "s", 0, line, False) for line in lines])]
    assert len(sizes) == 3

    async def body() -> None:
        for n, line in enumerate(lines):
            store.emit(GROUP, "s", n, line)
        die.write_text("1")  # one commit answered, then killed after the next
        await store.flush()
        assert store._writer._proc is None
        assert not die.exists()
        assert store._failures == 1
        assert messages(store) == lines[: sizes[0] + sizes[1]]  # the second chunk is stored, unanswered
        die.write_text("0")  # killed after its first commit: the third chunk's
        clock.advance(RETRY_FIRST_S)
        await store.flush()
        assert not die.exists()
        assert store._failures == 2
        clock.advance(2 * RETRY_FIRST_S)
        await store.flush()
        assert store._failures == 0
        await store.close()

    asyncio.run(body())
    assert messages(store) == lines
    assert store.gate.drops.lines["write_error"] == 0


def test_line_numbers_go_on_after_a_restart_so_new_lines_are_never_taken_for_stored_ones(tmp_path: Path) -> None:
    """The writer skips lines numbered at or below the last one stored: a store opened again numbers its lines
    after that one, not from 1 (which would skip every line as stored already)."""
    for n in range(3):
        store = LogStore(tmp_path / "logs.db", retention_days=1)
        store.emit(GROUP, "s", n, f"opened {n}")
        asyncio.run(store.close())
    assert messages(store) == ["opened 0", "opened 1", "opened 2"]


#: prints the lines it is asked for
PRINTER = """
def handler(event, context):
    for n in range(event["lines"]):
        print(event["tag"], n)
    return "ok"
"""


@pytest.fixture(scope="module")
def dying_writer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, Path]]:
    """A server whose log writer process kills itself after a commit, before answering, once told to."""
    die = tmp_path_factory.mktemp("writer-hook") / "die"
    for srv in serving(tmp_path_factory, "writer-dies", env={DIE_AFTER_COMMIT: str(die)}):
        yield srv, die


def _events(logs: Any, group: str) -> list[str]:
    pages = logs.get_paginator("filter_log_events").paginate(logGroupName=group)
    return [e["message"] for page in pages for e in page["events"]]


def _until(what: Any, timeout_s: float = 60) -> None:
    """Waits for `what()` (a hang guard, not a timing assertion)."""
    deadline = time.monotonic() + timeout_s
    while not what():
        assert time.monotonic() < deadline, "gave up waiting"
        time.sleep(0.05)


def test_through_the_logs_api_a_writer_killed_after_a_commit_shows_each_line_once(
    dying_writer: tuple[Server, Path],
) -> None:
    """A real server, its writer killed between a commit and its answer: the batch is retried with a new writer,
    and FilterLogEvents shows every line once (before, the committed chunk was stored again by the retry)."""
    srv, die = dying_writer
    lam, logs = srv.client("lambda"), srv.client("logs")
    name, group = "writer-dies", "/aws/lambda/writer-dies"
    lam.create_function(FunctionName=name, Runtime="python3.11", Role="arn:aws:iam::000000000000:role/lambda-role",
                        Handler="app.handler", Code={"ZipFile": make_zip({"app.py": PRINTER})})  # fmt: skip
    _until(lambda: lam.get_function_configuration(FunctionName=name)["State"] == "Active")
    lam.invoke(FunctionName=name, Payload=b'{"tag": "warm", "lines": 1}')
    _until(lambda: any(m.startswith("REPORT") for m in _events(logs, group)))
    writer = child_processes(srv.process.pid, b"nimbus/logs/writer.py")
    die.write_text("0")
    lam.invoke(FunctionName=name, Payload=b'{"tag": "killed", "lines": 50}')
    _until(lambda: not die.exists())  # the writer committed the lines it had, and was killed before answering
    lam.invoke(FunctionName=name, Payload=b'{"tag": "after", "lines": 1}')  # written after the retry
    _until(lambda: "after 0" in _events(logs, group))
    print(_events(logs, group))
    got = _events(logs, group)
    assert len(got) == len(set(got)), sorted(m for m in got if got.count(m) > 1)
    assert [m for m in got if m.startswith("killed")] == [f"killed {n}" for n in range(50)]
    assert sum(m.startswith("REPORT") for m in got) == 3
    assert writer
    assert not writer & child_processes(srv.process.pid, b"nimbus/logs/writer.py")
