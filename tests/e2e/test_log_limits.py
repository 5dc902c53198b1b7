"""Hostile log output (issue 10, item 2) and the metrics token (item 9), against a real `nimbus serve`.

A function that writes 100 MB to stdout must not fill the disk or the server's memory; a full disk must not take the
server down; the metrics listener can require a bearer token. Everything is read back through the real clients:
boto3's `logs` client for the stream, plain HTTP for /metrics, /proc for the server's RSS.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from e2e_support import ROLE, Server, http, invoke_json, make_zip, serving, start_server, wait_for
from prometheus_client.parser import text_string_to_metric_families

from nimbus.logs.store import WAL_LIMIT_BYTES

MB = 1 << 20
LINE = 1024  # bytes per line the noisy function writes, newline included

NOISY = f"""
import sys

LINE = "x" * {LINE - 1} + "\\n"


def handler(event, context):
    print("first line", flush=True)
    chunk = LINE * 1024  # 1 MB per write
    for _ in range(event["mb"]):
        sys.stdout.write(chunk)
    sys.stdout.flush()
    print("last line", flush=True)
    return event["mb"]
"""


def create(server: Server, name: str, code: str = NOISY, timeout: int = 120) -> Any:
    lam = server.client("lambda")
    lam.create_function(FunctionName=name, Runtime="python3.11", Role=ROLE, Handler="app.handler",
                        Code={"ZipFile": make_zip({"app.py": code})}, Timeout=timeout, MemorySize=256)  # fmt: skip
    return lam


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def log_bytes(data_dir: Path) -> int:
    """On-disk size of the log store (the database and its WAL)."""
    return sum(p.stat().st_size for p in data_dir.glob("logs.db*"))


def messages(server: Server, name: str) -> list[str]:
    logs = server.client("logs")
    group = f"/aws/lambda/{name}"
    out: list[str] = []
    for page in logs.get_paginator("filter_log_events").paginate(logGroupName=group):
        out += [e["message"] for e in page["events"]]
    return out


def scrape(server: Server, token: str | None = None) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    status, _, body = http(f"http://127.0.0.1:{server.metrics_port}/metrics", headers=headers)
    assert status == 200, body
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(body.decode())
        for s in family.samples
    }


@pytest.fixture(scope="module")
def noisy_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    yield from serving(tmp_path_factory, "loglimits", "--metrics-port", "0")


def test_100mb_of_stdout_is_capped_marked_and_costs_bounded_disk_and_memory(noisy_server: Server) -> None:
    lam = create(noisy_server, "noisy")
    invoke_json(lam, "noisy", {"mb": 0})  # warm up: the instance, the log store and the server's code paths
    time.sleep(0.5)
    pid = noisy_server.process.pid
    disk_before, rss_before = log_bytes(noisy_server.data_dir), rss_kb(pid)

    resp, result = invoke_json(lam, "noisy", {"mb": 100})
    assert result == 100
    assert "FunctionError" not in resp
    events = messages(noisy_server, "noisy")  # also flushes the store (read-your-writes)
    disk_growth, rss_growth = log_bytes(noisy_server.data_dir) - disk_before, (rss_kb(pid) - rss_before) * 1024
    print(f"100 MB invoke: log store +{disk_growth / MB:.1f} MB, server RSS +{rss_growth / MB:.1f} MB")

    cap = 6 * MB  # the documented default of --log-invocation-bytes
    # the cap, plus SQLite's row and index overhead (~1.5x for 1 KB lines), plus a WAL of up to WAL_LIMIT_BYTES
    assert disk_growth < 2 * cap + WAL_LIMIT_BYTES
    assert rss_growth < 100 * MB
    assert noisy_server.process.poll() is None

    rid = resp["ResponseMetadata"]["RequestId"]
    mine = events[events.index(f"START RequestId: {rid} Version: $LATEST") + 1 : events.index(f"END RequestId: {rid}")]
    assert mine[0] == "first line"
    markers = [m for m in mine if m.startswith("[nimbus] ") and " dropped: " in m]
    assert "this invocation reached its log limit of 6291456 bytes" in markers[-1]
    assert mine[-1] == markers[-1]  # the cap holds to the end of the invocation: "last line" is dropped too
    dropped = sum(int(m.split()[1]) for m in markers)
    kept = sum(len(m) + 1 for m in mine if m not in markers)
    assert kept + dropped == 100 * MB + len("first line\nlast line\n")  # every byte is either kept or accounted
    assert kept <= cap
    # the next invocation has a budget of its own (but the function's rate budget may still be short)
    resp, _ = invoke_json(lam, "noisy", {"mb": 0})
    rid = resp["ResponseMetadata"]["RequestId"]
    events = messages(noisy_server, "noisy")
    assert events[events.index(f"START RequestId: {rid} Version: $LATEST") + 1] == "first line"

    got = scrape(noisy_server)
    reasons = ("invocation_limit", "function_rate")
    assert sum(got[("nimbus_log_bytes_dropped_total", (("reason", r),))] for r in reasons) >= dropped
    assert sum(got[("nimbus_log_lines_dropped_total", (("reason", r),))] for r in reasons) >= 90 * 1024


ONE_LINE = """
import sys


def handler(event, context):
    chunk = "y" * (1 << 20)
    for _ in range(event["mb"]):
        sys.stdout.write(chunk)
    sys.stdout.flush()
    return event["mb"]
"""


def test_a_100mb_line_without_newline_does_not_grow_the_server(noisy_server: Server) -> None:
    lam = create(noisy_server, "oneline", ONE_LINE)
    invoke_json(lam, "oneline", {"mb": 0})
    pid = noisy_server.process.pid
    disk_before, rss_before = log_bytes(noisy_server.data_dir), rss_kb(pid)
    resp, result = invoke_json(lam, "oneline", {"mb": 100})
    assert result == 100
    events = messages(noisy_server, "oneline")
    disk_growth, rss_growth = log_bytes(noisy_server.data_dir) - disk_before, (rss_kb(pid) - rss_before) * 1024
    print(f"100 MB line: log store +{disk_growth / MB:.1f} MB, server RSS +{rss_growth / MB:.1f} MB")
    assert rss_growth < 100 * MB
    assert disk_growth < 2 * 6 * MB + WAL_LIMIT_BYTES
    rid = resp["ResponseMetadata"]["RequestId"]
    mine = events[events.index(f"START RequestId: {rid} Version: $LATEST") + 1 : events.index(f"END RequestId: {rid}")]
    pieces = [m for m in mine if m.startswith("y")]
    assert len(pieces) >= 20  # cut into events of CloudWatch's size, up to the invocation's cap
    assert max(len(p) for p in pieces) == 256 * 1024 - 26
    assert "this invocation reached its log limit" in mine[-1]


TINY_LINES = """
import sys


def handler(event, context):
    chunk = "\\n" * (1 << 20)
    for _ in range(event["mb"]):
        sys.stdout.write(chunk)
    sys.stdout.flush()
    return event["mb"]
"""


def test_a_flood_of_empty_lines_is_bounded_on_disk_too(noisy_server: Server) -> None:
    """Rows cost more than their text: a line is charged its stored size, so 20 M empty lines stay near the cap."""
    lam = create(noisy_server, "tiny", TINY_LINES)
    invoke_json(lam, "tiny", {"mb": 0})
    disk_before = log_bytes(noisy_server.data_dir)
    resp, result = invoke_json(lam, "tiny", {"mb": 20})
    assert result == 20
    events = messages(noisy_server, "tiny")
    disk_growth = log_bytes(noisy_server.data_dir) - disk_before
    print(f"20 M empty lines: log store +{disk_growth / MB:.1f} MB")
    assert disk_growth < 2 * 6 * MB + WAL_LIMIT_BYTES
    rid = resp["ResponseMetadata"]["RequestId"]
    mine = events[events.index(f"START RequestId: {rid} Version: $LATEST") + 1 : events.index(f"END RequestId: {rid}")]
    assert len(mine) - 1 == 6 * MB // 256  # each empty line is charged EVENT_OVERHEAD (256) bytes
    assert mine[-1].startswith(f"[nimbus] {20 * MB - len(mine) + 1} bytes of output in {20 * MB - len(mine) + 1} lines")


# ---- a full disk ------------------------------------------------------------------------------------------------


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 96 MB tmpfs as the data dir, so the disk can really be filled (the server's own log stays outside, in
    tmp_path); unmounted after the test."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    mnt = tmp_path / "data"
    mnt.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=96m", "tmpfs", str(mnt)], check=True)
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


CHATTY = "def handler(event, context):\n    print('said', event['n'])\n    return event['n']\n"


def fill(path: Path) -> None:
    """Write zeros until the file system says ENOSPC."""
    block = b"\0" * MB
    with contextlib.suppress(OSError), path.open("wb", buffering=0) as f:
        while True:
            f.write(block)


def test_a_full_disk_drops_logs_but_invokes_go_on_and_logs_resume(small_disk: Path) -> None:
    srv = start_server(small_disk, "--metrics-port", "0", "--log-disk-reserve-mb", "0",
                       "--log-retention-days", "30")  # fmt: skip
    try:
        lam = create(srv, "chatty", CHATTY)
        assert invoke_json(lam, "chatty", {"n": 0})[1] == 0
        assert "said 0" in messages(srv, "chatty")
        fill(small_disk / "filler")
        for n in range(1, 31):  # ~30 invokes over >3 s: the log writer fails several times meanwhile
            resp, result = invoke_json(lam, "chatty", {"n": n})
            assert result == n
            assert "FunctionError" not in resp
            time.sleep(0.1)
        assert srv.process.poll() is None, srv.log_path.read_text()[-3000:]
        got = wait_for(lambda: scrape(srv).get(("nimbus_log_lines_dropped_total", (("reason", "write_error"),))))
        assert got, srv.log_path.read_text()[-3000:]
        assert "database or disk is full" in srv.log_path.read_text()

        (small_disk / "filler").unlink()
        assert invoke_json(lam, "chatty", {"n": 99})[1] == 99
        assert wait_for(lambda: "said 99" in messages(srv, "chatty")), messages(srv, "chatty")[-10:]
        assert srv.process.poll() is None
    finally:
        srv.stop()


def test_below_the_free_space_reserve_function_output_is_dropped_and_counted(small_disk: Path) -> None:
    srv = start_server(small_disk, "--metrics-port", "0", "--log-disk-reserve-mb", "32")
    try:
        lam = create(srv, "reserved", "def handler(event, context):\n    print('said', event['n'])\n    return 1\n")
        invoke_json(lam, "reserved", {"n": 0})
        assert "said 0" in messages(srv, "reserved")
        free = os.statvfs(small_disk).f_bavail * os.statvfs(small_disk).f_frsize
        with (small_disk / "filler").open("wb") as f:  # leave 24 MB: below the 32 MB reserve, above half of it
            f.write(b"\0" * (free - 24 * MB))
        resp, _ = invoke_json(lam, "reserved", {"n": 1})
        rid = resp["ResponseMetadata"]["RequestId"]
        events = messages(srv, "reserved")
        assert "said 1" not in events
        assert f"END RequestId: {rid}" in events  # platform lines still fit in the reserve's upper half
        got = scrape(srv)
        assert got[("nimbus_log_lines_dropped_total", (("reason", "disk_reserve"),))] >= 1
        (small_disk / "filler").unlink()
        invoke_json(lam, "reserved", {"n": 2})
        assert "said 2" in messages(srv, "reserved")
    finally:
        srv.stop()


# ---- the metrics token ------------------------------------------------------------------------------------------


def test_metrics_token_is_required_when_set(tmp_path: Path) -> None:
    srv = start_server(tmp_path / "data", "--metrics-port", "0", env={"NIMBUS_METRICS_TOKEN": "s3cret-token"})
    try:
        url = f"http://127.0.0.1:{srv.metrics_port}/metrics"
        status, headers, _ = http(url)
        assert status == 401
        assert {k.lower(): v for k, v in headers.items()}["www-authenticate"].startswith("Bearer")
        assert http(url, headers={"Authorization": "Bearer wrong-token"})[0] == 401
        assert http(url, headers={"Authorization": "Basic czNjcmV0LXRva2Vu"})[0] == 401
        assert http(url, headers={"Authorization": "Bearer s3cret-token"})[0] == 200
        assert "UNAUTHENTICATED" not in srv.log_path.read_text()
    finally:
        srv.stop()


def test_metrics_without_a_token_warn_loudly_at_start(tmp_path: Path) -> None:
    srv = start_server(tmp_path / "data", "--metrics-port", "0")
    try:
        assert http(f"http://127.0.0.1:{srv.metrics_port}/metrics")[0] == 200
        text = srv.log_path.read_text()
        warning = next(line for line in text.splitlines() if "WARNING" in line and "metrics" in line)
        assert "UNAUTHENTICATED" in warning
        assert "--metrics-token" in warning
    finally:
        srv.stop()


def test_metrics_token_flag_on_the_command_line(tmp_path: Path) -> None:
    srv = start_server(tmp_path / "data", "--metrics-port", "0", "--metrics-token", "flag-token")
    try:
        url = f"http://127.0.0.1:{srv.metrics_port}/metrics"
        assert http(url)[0] == 401
        assert http(url, headers={"Authorization": "Bearer flag-token"})[0] == 200
    finally:
        srv.stop()
