"""Log limits at exact byte counts (issue 10, item 2): each limit at the limit and one past it.

The output capture reads a real pipe; the store writes a real SQLite file, on a real small tmpfs where free space
matters (root only). The e2e twin, tests/e2e/test_log_limits.py, drives the same limits through `nimbus serve`
(this file has another name so that pytest can import both).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import struct
import subprocess
import termios
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from nimbus.api.httpserver import Incoming
from nimbus.config import Settings, from_env
from nimbus.instances.output import DRAIN_BYTES, TAIL_BYTES, OutputCapture
from nimbus.logs import framing
from nimbus.logs.limits import (
    EVENT_OVERHEAD,
    MAX_EVENT_BYTES,
    RESUME_BYTES,
    LogGate,
    LogLimits,
    TokenBucket,
)
from nimbus.logs.sink import MemorySink
from nimbus.logs.store import _ROW_OVERHEAD, WRITE_ATTEMPTS, LogStore
from nimbus.metrics import MetricsEndpoint

GROUP = "/aws/lambda/fn"
MARK = "[nimbus] "


@pytest.fixture
def pipe() -> Iterator[tuple[int, int]]:
    r, w = os.pipe()
    os.set_blocking(r, False)
    fcntl.fcntl(w, fcntl.F_SETPIPE_SZ, 1 << 20)  # room for a whole test's output without a writer thread
    yield r, w
    for fd in (r, w):
        with contextlib.suppress(OSError):
            os.close(fd)


def capture(pipe: tuple[int, int], **limits: int) -> tuple[OutputCapture, MemorySink]:
    sink = MemorySink(LogGate(LogLimits(**limits)))
    return OutputCapture(pipe[0], sink, GROUP, "stream"), sink


def run_invocation(out: OutputCapture, w: int, data: bytes, rid: str = "r1") -> None:
    """What Instance.invoke does around an invocation: START, the function's output, drain, END."""
    out.emit(framing.start_line(rid, "$LATEST"))
    os.write(w, data)
    out.drain()
    out.flush_partial()
    out.emit(framing.end_line(rid))


def messages(sink: MemorySink) -> list[str]:
    return [e[3] for e in sink.events]


# ---- per invocation ---------------------------------------------------------------------------------------------


def test_an_invocation_may_log_exactly_its_cap(pipe: tuple[int, int]) -> None:
    out, sink = capture(pipe, invocation_bytes=1000, function_bytes_per_s=0)
    line = b"a" * (1000 - EVENT_OVERHEAD)  # one event costing exactly the cap
    run_invocation(out, pipe[1], line + b"\n")
    assert messages(sink)[1:] == [line.decode(), "END RequestId: r1"]
    assert sink.gate.drops.lines["invocation_limit"] == 0


def test_one_byte_past_the_cap_is_dropped_and_marked(pipe: tuple[int, int]) -> None:
    out, sink = capture(pipe, invocation_bytes=1000, function_bytes_per_s=0)
    half = b"b" * (500 - EVENT_OVERHEAD)
    run_invocation(out, pipe[1], half + b"\n" + half + b"\n" + b"c\n" + b"later\n")
    got = messages(sink)
    assert got[1:3] == [half.decode(), half.decode()]  # 1000 bytes: exactly the cap
    assert got[3] == (
        f"{MARK}8 bytes of output in 2 lines dropped: this invocation reached its log limit of 1000 bytes "
        "(--log-invocation-bytes)"
    )
    assert got[4:] == ["END RequestId: r1"]  # once cut, the rest of the invocation is dropped
    assert (sink.gate.drops.lines["invocation_limit"], sink.gate.drops.bytes["invocation_limit"]) == (2, 8)


def test_the_next_invocation_has_its_own_budget_and_platform_lines_are_never_cut(pipe: tuple[int, int]) -> None:
    out, sink = capture(pipe, invocation_bytes=1000, function_bytes_per_s=0)
    run_invocation(out, pipe[1], b"x" * 1000 + b"\n", "r1")
    run_invocation(out, pipe[1], b"fits\n", "r2")
    got = messages(sink)
    assert got[0] == "START RequestId: r1 Version: $LATEST"
    assert got[1].startswith(f"{MARK}1001 bytes of output in 1 lines dropped")
    assert got[2:] == ["END RequestId: r1", "START RequestId: r2 Version: $LATEST", "fits", "END RequestId: r2"]


def test_far_past_the_cap_output_is_counted_without_being_kept(pipe: tuple[int, int]) -> None:
    out, sink = capture(pipe, invocation_bytes=1000, function_bytes_per_s=0)
    out.emit(framing.start_line("r1", "$LATEST"))
    total = 0
    for _ in range(8):  # 8 MB through a 1 MB pipe, drained as the reader callback would
        chunk = b"y" * 1023 + b"\n"
        os.write(pipe[1], chunk * 1024)
        total += 1024 * 1024
        out.drain()
    os.write(pipe[1], b"no newline at the end")
    out.drain()
    out.flush_partial()
    out.emit(framing.end_line("r1"))
    got = messages(sink)
    assert got[1].startswith(f"{MARK}{total + 21} bytes of output in {8 * 1024 + 1} lines dropped")
    assert len(got) == 3


# ---- per function -----------------------------------------------------------------------------------------------


def test_token_bucket_at_its_capacity_and_one_past() -> None:
    bucket = TokenBucket(rate=100, capacity=1000, now=0.0)
    assert bucket.take(1000, 0.0)
    assert not bucket.take(1, 0.0)
    assert bucket.take(100, 1.0)  # one second of rate
    assert not bucket.take(1, 1.0)
    assert not TokenBucket(rate=100, capacity=1000, now=0.0).take(1001, 0.0)
    assert bucket.take(1000, 100.0)  # refills to its capacity, never past it
    assert not bucket.take(1, 100.0)
    assert TokenBucket(rate=0, capacity=0, now=0.0).take(10**12, 0.0)  # rate 0: no limit


def test_after_a_gap_output_resumes_only_with_resume_bytes_in_the_bucket() -> None:
    bucket = TokenBucket(rate=1, capacity=100_000, now=0.0)
    assert bucket.take(100_000, 0.0)
    assert not bucket.take(10, 65_545.0, keep=RESUME_BYTES)  # one byte short of 10 + 65536
    assert bucket.take(10, 65_546.0, keep=RESUME_BYTES)  # exactly enough
    small = TokenBucket(rate=1, capacity=1000, now=0.0)  # a bucket smaller than RESUME_BYTES: it must be full
    assert small.take(1000, 0.0)
    assert not small.take(10, 999.0, keep=RESUME_BYTES)
    assert small.take(10, 1000.0, keep=RESUME_BYTES)
    assert not TokenBucket(rate=1, capacity=1000, now=0.0).take(1001, 0.0, keep=RESUME_BYTES)


def test_a_functions_instances_share_its_rate_and_a_gap_is_marked(pipe: tuple[int, int]) -> None:
    sink = MemorySink(LogGate(LogLimits(invocation_bytes=0, function_bytes_per_s=1000)))  # burst: 1000
    first = OutputCapture(pipe[0], sink, GROUP, "one")
    r2, w2 = os.pipe()
    os.set_blocking(r2, False)
    try:
        second = OutputCapture(r2, sink, GROUP, "two")
        line = b"z" * (1000 - EVENT_OVERHEAD)
        run_invocation(first, pipe[1], line + b"\n")  # spends the whole burst
        run_invocation(second, w2, b"over\n")  # the same function: nothing left
        got = [e[3] for e in sink.events if e[1] == "two"]
        assert got[1] == (
            f"{MARK}5 bytes of output in 1 lines dropped: the function exceeded its log rate of 1000 bytes/s "
            "(--log-function-bytes-per-s)"
        )
        assert sink.gate.drops.lines["function_rate"] == 1
        other = OutputCapture(r2, sink, "/aws/lambda/other", "three")
        run_invocation(other, w2, b"another function has a budget of its own\n")
        assert sink.events[-2][3] == "another function has a budget of its own"
    finally:
        os.close(r2)
        os.close(w2)


# ---- memory -----------------------------------------------------------------------------------------------------


def test_a_line_longer_than_an_event_is_split_at_character_boundaries(pipe: tuple[int, int]) -> None:
    out, sink = capture(pipe, invocation_bytes=0, function_bytes_per_s=0)
    line = b"x" + ("é" * (MAX_EVENT_BYTES // 2 + 1)).encode()  # a 2-byte character straddles the event size
    run_invocation(out, pipe[1], line)
    pieces = messages(sink)[1:-1]
    assert [len(p.encode()) for p in pieces] == [MAX_EVENT_BYTES - 1, len(line) - MAX_EVENT_BYTES + 1]
    assert "".join(pieces).encode() == line
    assert "\ufffd" not in "".join(pieces)


@pytest.mark.parametrize(
    ("size", "events"), [(MAX_EVENT_BYTES, [MAX_EVENT_BYTES]), (MAX_EVENT_BYTES + 1, [MAX_EVENT_BYTES, 1])]
)
def test_a_line_of_exactly_one_event_is_kept_whole_and_one_byte_more_is_split(
    pipe: tuple[int, int], size: int, events: list[int]
) -> None:
    out, sink = capture(pipe, invocation_bytes=0, function_bytes_per_s=0)
    run_invocation(out, pipe[1], b"v" * size + b"\n")
    assert [len(m) for m in messages(sink)[1:-1]] == events


def test_an_unterminated_line_is_never_held_past_one_event(pipe: tuple[int, int]) -> None:
    out, sink = capture(pipe, invocation_bytes=0, function_bytes_per_s=0)
    out.emit(framing.start_line("r1", "$LATEST"))
    os.write(pipe[1], b"q" * (1 << 20))
    out.drain()
    assert len(out._partial) <= MAX_EVENT_BYTES
    assert [len(m) for m in messages(sink)[1:]] == [MAX_EVENT_BYTES] * ((1 << 20) // MAX_EVENT_BYTES)


def test_one_drain_reads_at_most_drain_bytes(pipe: tuple[int, int]) -> None:
    """A writer that never stops cannot hold the event loop: one drain returns after DRAIN_BYTES."""
    out, sink = capture(pipe, invocation_bytes=0, function_bytes_per_s=0)
    lines = DRAIN_BYTES // 64 + 4096  # 1 MB + 256 KB: more than the pipe and one drain hold
    data = (b"w" * 63 + b"\n") * lines
    writer = threading.Thread(target=_write_all, args=(pipe[1], data))
    writer.start()
    while _pending(pipe[0]) < (1 << 20):  # the pipe is full, the writer blocked on it
        time.sleep(0.01)
    out.drain()
    assert len(sink.events) * 64 < DRAIN_BYTES + 65536
    while writer.is_alive() or _pending(pipe[0]):
        out.drain()
    writer.join()
    assert len(sink.events) == lines


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _pending(fd: int) -> int:
    return int(struct.unpack("i", fcntl.ioctl(fd, termios.FIONREAD, b"\0\0\0\0"))[0])


def test_the_log_tail_keeps_only_its_last_bytes(pipe: tuple[int, int]) -> None:
    out, _ = capture(pipe, invocation_bytes=0, function_bytes_per_s=0)
    out.begin_tail()
    run_invocation(out, pipe[1], b"".join(b"line %05d\n" % n for n in range(20_000)))
    assert out._tail is not None
    assert sum(len(m) + 1 for m in out._tail) < 2 * TAIL_BYTES
    tail = out.end_tail()
    assert tail is not None
    assert len(tail) == TAIL_BYTES
    assert tail.endswith(b"line 19999\nEND RequestId: r1\n")


# ---- the store: buffer, reserve, failures -----------------------------------------------------------------------


def test_the_store_buffer_at_its_limit_and_one_past(tmp_path: Path) -> None:
    limit = 10 * (100 + _ROW_OVERHEAD)
    store = LogStore(tmp_path / "logs.db", 1, LogGate(LogLimits(buffer_bytes=limit, disk_reserve_bytes=0)))
    for _ in range(10):
        store.emit(GROUP, "s", 1, "m" * 100)
    store.emit(GROUP, "s", 1, "x")  # one past: function output is dropped
    store.emit(GROUP, "s", 1, "START RequestId: r", platform=True)  # platform lines get twice the room
    assert (store.gate.drops.lines["backlog"], store.gate.drops.bytes["backlog"]) == (1, 1)
    asyncio.run(store.close())
    assert [len(e.message) for e in store.query(GROUP)] == [100] * 10 + [18]


@pytest.fixture
def small_fs(tmp_path: Path) -> Iterator[Path]:
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    mnt = tmp_path / "fs"
    mnt.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(mnt)], check=True)
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def test_the_disk_reserve_at_its_limit_and_one_past(small_fs: Path) -> None:
    store = LogStore(small_fs / "logs.db", 1, LogGate(LogLimits(disk_reserve_bytes=0)))

    async def body() -> list[str]:
        store.emit(GROUP, "s", 1, "first")
        await store.flush()  # the database and WAL exist: free space now only changes when we write
        free = store.free_bytes()
        assert free is not None
        store.gate.limits = LogLimits(disk_reserve_bytes=free)  # at the reserve: written
        store.emit(GROUP, "s", 2, "at the reserve")
        await store.flush()
        free = store.free_bytes()
        assert free is not None
        store.gate.limits = LogLimits(disk_reserve_bytes=free + 1)  # one byte short: function output dropped
        store.emit(GROUP, "s", 3, "one past")
        store.emit(GROUP, "s", 3, "END RequestId: r", platform=True)
        await store.flush()
        assert (store.gate.drops.lines["disk_reserve"], store.gate.drops.bytes["disk_reserve"]) == (1, 8)
        free = store.free_bytes()
        assert free is not None
        store.gate.limits = LogLimits(disk_reserve_bytes=2 * free + 2)  # below half the reserve: nothing
        store.emit(GROUP, "s", 4, "REPORT RequestId: r", platform=True)
        await store.flush()
        await store.close()
        return [e.message for e in store.query(GROUP)]

    assert asyncio.run(body()) == ["first", "at the reserve", "END RequestId: r"]
    assert store.gate.drops.lines["disk_reserve"] == 2


def test_a_full_disk_is_retried_then_dropped_and_writing_resumes(small_fs: Path) -> None:
    store = LogStore(small_fs / "logs.db", 1, LogGate(LogLimits(disk_reserve_bytes=0)))
    filler = small_fs / "filler"

    async def body() -> list[str]:
        store.emit(GROUP, "s", 1, "before")
        await store.flush()
        with contextlib.suppress(OSError), filler.open("wb", buffering=0) as f:
            while True:
                f.write(b"\0" * 65536)
        with contextlib.suppress(OSError), filler.open("ab", buffering=0) as f:
            while True:
                f.write(b"\0" * 512)
        lost = ["x" * 2000 + str(n) for n in range(2000)]  # 4 MB: more than any free page SQLite has left
        for message in lost:
            store.emit(GROUP, "s", 2, message)
        for attempt in range(1, WRITE_ATTEMPTS + 1):
            await store.flush(retry_now=True)  # never raises
            kept_back = store.gate.drops.lines["write_error"] == 0
            assert kept_back is (attempt < WRITE_ATTEMPTS)
        assert store.gate.drops.lines["write_error"] >= 1
        filler.unlink()
        store.emit(GROUP, "s", 3, "after")
        await store.flush(retry_now=True)
        await store.close()
        return [e.message for e in store.query(GROUP)]

    got = asyncio.run(body())
    assert got[0] == "before"
    assert got[-1] == "after"
    assert len(got) - 2 + store.gate.drops.lines["write_error"] == 2000  # each line either stored or counted


# ---- settings and the metrics token -------------------------------------------------------------------------


def test_log_and_metrics_settings_defaults_and_environment(tmp_path: Path) -> None:
    s = Settings()
    assert (s.log_invocation_bytes, s.log_function_bytes_per_s, s.log_disk_reserve_mb) == (6 << 20, 1 << 20, 512)
    assert s.metrics_token == ""
    env = {
        "NIMBUS_LOG_INVOCATION_BYTES": "1000",
        "NIMBUS_LOG_FUNCTION_BYTES_PER_S": "0",
        "NIMBUS_LOG_DISK_RESERVE_MB": "64",
        "NIMBUS_METRICS_TOKEN": "tok",
    }
    s = from_env(env, data_dir=tmp_path)
    assert (s.log_invocation_bytes, s.log_function_bytes_per_s, s.log_disk_reserve_mb) == (1000, 0, 64)
    assert s.metrics_token == "tok"
    with pytest.raises(ValueError, match="cannot be negative"):
        from_env({"NIMBUS_LOG_DISK_RESERVE_MB": "-1"}).check()


def _status(endpoint: MetricsEndpoint, *authorization: str) -> int:
    headers = {"authorization": list(authorization)} if authorization else {}
    return asyncio.run(endpoint.handle(Incoming("GET", b"/metrics", headers, b"", 0, True))).status


def test_the_metrics_token_is_checked_exactly() -> None:
    endpoint = MetricsEndpoint(CollectorRegistry(), "s3cret")
    assert _status(endpoint) == 401
    assert _status(endpoint, "Bearer s3cret") == 200
    assert _status(endpoint, "Bearer s3cre") == 401
    assert _status(endpoint, "Bearer s3crett") == 401
    assert _status(endpoint, "bearer s3cret") == 200  # the scheme is case-insensitive (RFC 9110)
    assert _status(endpoint, "Basic s3cret") == 401
    assert _status(endpoint, "Bearer s3cret", "Bearer s3cret") == 401
    assert _status(MetricsEndpoint(CollectorRegistry())) == 200  # no token: open (and warned about at start-up)
