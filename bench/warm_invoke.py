"""Warm invoke latency and throughput of Nimbus against a bare asyncio HTTP echo server measured in the same run.

Not a test: it prints numbers and ratios and never fails on timing (only when something cannot be started).

    python bench/warm_invoke.py [--requests 2000] [--seconds 5] [--connections 32]

Latency: one SigV4-signed Invoke request, signed once, replayed sequentially over one keep-alive connection;
the identical bytes go to the echo server. Throughput: many keep-alive connections for a fixed time, with wrk
when it is on PATH, else an asyncio raw-socket client in this process.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from _support import (
    Target,
    content_length,
    deploy,
    lambda_client,
    nimbus_server,
    percentile,
    read_response,
    signed_invoke,
    stop,
    wrk_rate,
)

FUNCTION = "bench-noop"
BODY = b'{"bench": "warm-invoke", "n": 1}'
NOOP = "def handler(e, c):\n    return e\n"
P50_TARGET, THROUGHPUT_TARGET = 3.0, 0.25


# ---------------------------------------------------------------------------------------------- processes


@contextlib.contextmanager
def echo_server() -> Iterator[int]:
    proc = subprocess.Popen([sys.executable, str(Path(__file__).with_name("echo_server.py"))], stdout=subprocess.PIPE)
    try:
        assert proc.stdout is not None
        yield int(proc.stdout.readline())
    finally:
        stop(proc)


# ---------------------------------------------------------------------------------------------- requests


def latency(target: Target, requests: int, warmup: int) -> tuple[list[float], int]:
    """Per-request round-trip times in microseconds over one keep-alive connection, and the non-200 count."""
    times: list[float] = []
    errors = 0
    with socket.create_connection(("127.0.0.1", target.port)) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        buf = bytearray()
        for i in range(warmup + requests):
            start = time.perf_counter_ns()
            sock.sendall(target.request)
            status, _ = read_response(sock, buf)
            elapsed = (time.perf_counter_ns() - start) / 1000
            if i >= warmup:
                times.append(elapsed)
                errors += status != 200
    return times, errors


async def _worker(target: Target, stop_at: float, counts: list[int]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", target.port)
    loop = asyncio.get_running_loop()
    try:
        while loop.time() < stop_at:
            writer.write(target.request)
            head = await reader.readuntil(b"\r\n\r\n")
            await reader.readexactly(content_length(head))
            counts[0 if head.startswith(b"HTTP/1.1 200") else 1] += 1
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


async def _throughput_asyncio(target: Target, connections: int, seconds: float) -> tuple[float, int]:
    loop = asyncio.get_running_loop()
    await asyncio.gather(*(_worker(target, loop.time() + min(1.0, seconds), [0, 0]) for _ in range(connections)))
    counts = [0, 0]
    start = loop.time()
    await asyncio.gather(*(_worker(target, start + seconds, counts) for _ in range(connections)))
    return counts[0] / (loop.time() - start), counts[1]


def _throughput_wrk(wrk: str, target: Target, connections: int, seconds: float, tmp: Path) -> tuple[float, int]:
    script = tmp / f"{target.name}.lua"
    lines = ['wrk.method = "POST"', f"wrk.body = {json.dumps(BODY.decode())}"]
    lines += [f"wrk.headers[{json.dumps(k)}] = {json.dumps(v)}" for k, v in target.headers.items() if k != "Host"]
    script.write_text("\n".join(lines) + "\n")
    url = f"http://127.0.0.1:{target.port}{target.path}"
    threads = str(max(1, min(connections, os.cpu_count() or 1)))
    for duration in (min(1.0, seconds), seconds):  # the first run warms instances up
        result = subprocess.run(
            [wrk, "-t", threads, "-c", str(connections), "-d", f"{max(1, round(duration))}s", "-s", str(script), url],
            capture_output=True, text=True, check=True, timeout=duration + 60,
        )  # fmt: skip
    return wrk_rate(result.stdout, seconds)


def throughput(target: Target, connections: int, seconds: float, tmp: Path) -> tuple[float, int]:
    """Successful requests per second over `connections` keep-alive connections, and the non-200 count."""
    wrk = shutil.which("wrk")
    if wrk:
        return _throughput_wrk(wrk, target, connections, seconds, tmp)
    return asyncio.run(_throughput_asyncio(target, connections, seconds))


# ---------------------------------------------------------------------------------------------- report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=2000, help="sequential requests for latency")
    parser.add_argument("--warmup", type=int, default=200, help="sequential requests before measuring")
    parser.add_argument("--seconds", type=float, default=5.0, help="duration of the throughput run")
    parser.add_argument("--connections", type=int, default=32, help="concurrent connections for throughput")
    args = parser.parse_args()
    if args.requests < 1 or args.seconds <= 0 or args.connections < 1:
        parser.error("--requests, --seconds and --connections must be positive")

    client = "wrk" if shutil.which("wrk") else "asyncio raw-socket client"
    print(f"warm invoke: {args.requests} sequential requests; {args.connections} connections x {args.seconds:g} s "
          f"({client}); payload {len(BODY)} bytes")  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="nimbus-bench-") as tmp_name, echo_server() as echo_port:
        tmp = Path(tmp_name)
        with nimbus_server(tmp, "--keep-alive", "600") as server:
            deploy(lambda_client(server.port), FUNCTION, "python3.11", {"app.py": NOOP}, "app.handler", BODY)
            targets = [
                signed_invoke("echo", echo_port, FUNCTION, BODY),
                signed_invoke("nimbus", server.port, FUNCTION, BODY),
            ]
            results: dict[str, dict[str, float]] = {}
            for target in targets:
                times, lat_errors = latency(target, args.requests, args.warmup)
                rate, tp_errors = throughput(target, args.connections, args.seconds, tmp)
                results[target.name] = {"p50": percentile(times, 0.50), "p99": percentile(times, 0.99), "rps": rate}
                if lat_errors or tp_errors:
                    print(f"  warning: {target.name}: {lat_errors + tp_errors} non-200 responses")

    print(f"\n{'':22}{'p50 µs':>10}{'p99 µs':>10}{'req/s':>10}")
    for name, label in (("echo", "asyncio echo"), ("nimbus", "nimbus invoke")):
        r = results[name]
        print(f"{label:22}{r['p50']:>10.0f}{r['p99']:>10.0f}{r['rps']:>10.0f}")
    echo, nimbus = results["echo"], results["nimbus"]
    p50_ratio, p99_ratio = nimbus["p50"] / echo["p50"], nimbus["p99"] / echo["p99"]
    rps_ratio = nimbus["rps"] / echo["rps"] if echo["rps"] else 0.0
    print(f"\nlatency p50   {p50_ratio:5.2f}x echo  (target <= {P50_TARGET:g}x: "
          f"{'met' if p50_ratio <= P50_TARGET else 'missed'})")  # fmt: skip
    print(f"latency p99   {p99_ratio:5.2f}x echo")
    print(f"throughput    {rps_ratio:5.2f}x echo  (target >= {THROUGHPUT_TARGET:g}x: "
          f"{'met' if rps_ratio >= THROUGHPUT_TARGET else 'missed'})")  # fmt: skip


if __name__ == "__main__":
    main()
