"""Warm invoke latency, throughput and CPU of Nimbus against two baselines measured in the same run: a bare asyncio
HTTP echo server (echo_server.py) and the bare two-hop relay (relay_server.py: HTTP in, the body to an idle worker
process over a socketpair and back), the smallest program with Nimbus's structure.

Not a test: it prints numbers and ratios and never fails on timing (only when something cannot be started).

    python bench/warm_invoke.py [--requests 2000] [--seconds 5] [--connections 32] [--rounds 1] [--iam-user]

Every request is distinct and freshly signed (SigV4, `_signing.Presigner`), with a different body each, so no cache
of verified requests can answer: Nimbus never sees the same request twice; the baselines get the same kind of
requests. Latency: sequential requests on one keep-alive connection per server, alternating request by request
between the three (so all see the same load on a shared machine). Throughput: wrk on `--connections` connections,
each request taken from pre-signed files by a Lua script (after a 1 s warm-up run with other requests). CPU: the
servers' user+system time from /proc over the wrk run, divided by the requests answered: the front process alone
(Nimbus's server, the relay's asyncio process) and its whole process tree (instances, workers) beside it.

`--iam-user` measures a fourth client in the same run, "user": the same Nimbus server, signed by an IAM user whose
policy allows lambda:InvokeFunction on the function, so every invoke is authorized (a cached decision) where the
root's asks no policy: the authorization's cost is the user's CPU per request against the root's.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import boto3

from _signing import Presigner
from _support import (
    KEY,
    REGION,
    SECRET,
    deploy,
    lambda_client,
    nimbus_server,
    percentile,
    read_response,
    stop,
    wrk_rate,
)

FUNCTION = "bench-noop"
PATH = f"/2015-03-31/functions/{FUNCTION}/invocations"
NOOP = "def handler(e, c):\n    return e\n"
#: targets, each a ratio against the relay in the same run
P50_TARGET, P50_GOAL, RPS_TARGET, RPS_GOAL = 1.5, 1.2, 0.4, 0.85
TICK = os.sysconf("SC_CLK_TCK")

# wrk's Lua: each thread reads its own file of requests (separated by NUL bytes) and sends each in turn; a thread
# that runs out starts over and counts it (the report says so: Nimbus must never see a request twice)
LUA = """
local threads, count = {}, 0
function setup(thread)
  thread:set("id", count)
  count = count + 1
  table.insert(threads, thread)
end
function init(args)
  local f = assert(io.open(DIR .. "/requests." .. id, "rb"))
  local data = f:read("*a")
  f:close()
  reqs, n, i, wraps, pos = {}, 0, 0, 0, 1
  while pos <= #data do
    local stop = string.find(data, "\\0", pos, true)
    n = n + 1
    reqs[n] = string.sub(data, pos, stop - 1)
    pos = stop + 1
  end
end
function request()
  i = i + 1
  if i > n then
    i, wraps = 1, wraps + 1
  end
  return reqs[i]
end
function done(summary, latency, requests)
  local total = 0
  for _, thread in ipairs(threads) do
    total = total + thread:get("wraps")
  end
  io.write("wraps: " .. total .. "\\n")
end
"""


def body(n: int) -> bytes:
    return b'{"bench": "warm-invoke", "n": "%09d"}' % n


class Bodies:
    """A distinct body for every request of the run."""

    def __init__(self) -> None:
        self.n = 0

    def take(self, count: int) -> range:
        self.n += count
        return range(self.n - count, self.n)


# ---------------------------------------------------------------------------------------------- processes


@contextlib.contextmanager
def baseline(script: str) -> Iterator[tuple[int, int]]:
    """(port, pid) of echo_server.py or relay_server.py, stopped at the end."""
    proc = subprocess.Popen([sys.executable, str(Path(__file__).with_name(script))], stdout=subprocess.PIPE)
    try:
        assert proc.stdout is not None
        yield int(proc.stdout.readline()), proc.pid
    finally:
        stop(proc)


def cpu_seconds(pid: int) -> tuple[float, float]:
    """User+system CPU seconds of `pid` alone, and of `pid` with all its live descendants."""
    parents: dict[int, int] = {}
    times: dict[int, float] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        with contextlib.suppress(OSError):
            stat = Path(f"/proc/{entry}/stat").read_text()
            fields = stat[stat.rindex(")") + 2 :].split()
            parents[int(entry)] = int(fields[1])
            times[int(entry)] = (int(fields[11]) + int(fields[12])) / TICK
    tree, frontier = {pid}, [pid]
    while frontier:
        parent = frontier.pop()
        children = [p for p, pp in parents.items() if pp == parent and p not in tree]
        tree.update(children)
        frontier += children
    return times.get(pid, 0.0), sum(times.get(p, 0.0) for p in tree)


# ---------------------------------------------------------------------------------------------- measurements


def latency(ports: dict[str, int], requests: dict[str, list[bytes]], warmup: int) -> dict[str, list[float]]:
    """Round-trip µs per server: request i goes to each server in turn (its own signer's), on one keep-alive
    connection each."""
    times: dict[str, list[float]] = {name: [] for name in ports}
    socks = {name: socket.create_connection(("127.0.0.1", port)) for name, port in ports.items()}
    bufs = {name: bytearray() for name in ports}
    try:
        for sock in socks.values():
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for i in range(len(next(iter(requests.values())))):
            for name, sock in socks.items():
                start = time.perf_counter_ns()
                sock.sendall(requests[name][i])
                status, _ = read_response(sock, bufs[name])
                elapsed = (time.perf_counter_ns() - start) / 1000
                if status != 200:
                    raise SystemExit(f"{name}: status {status} in the latency run")
                if i >= warmup:
                    times[name].append(elapsed)
    finally:
        for sock in socks.values():
            sock.close()
    return times


def write_requests(tmp: Path, signer: Presigner, bodies: range, threads: int) -> None:
    """The requests for one wrk run, dealt round-robin into one file per wrk thread."""
    shards: list[list[bytes]] = [[] for _ in range(threads)]
    for k, n in enumerate(bodies):
        shards[k % threads].append(signer.sign(body(n)))
    for t, shard in enumerate(shards):
        (tmp / f"requests.{t}").write_bytes(b"\0".join(shard) + b"\0")


def wrk(tmp: Path, port: int, connections: int, seconds: float, threads: int) -> tuple[float, int, int, int]:
    """(successful req/s, non-200 count, requests answered, times a thread ran out of requests and started over)."""
    script = tmp / "requests.lua"
    script.write_text(f"DIR = {str(tmp)!r}\n" + LUA)
    result = subprocess.run(
        ["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{max(1, round(seconds))}s", "-s", str(script),
         f"http://127.0.0.1:{port}/"],
        capture_output=True, text=True, check=True, timeout=seconds + 60,
    )  # fmt: skip
    rate, errors = wrk_rate(result.stdout, seconds)
    done = re.search(r"(\d+) requests in", result.stdout)
    wraps = re.search(r"wraps: (\d+)", result.stdout)
    if not done or not wraps:
        raise SystemExit(f"cannot parse wrk output:\n{result.stdout}\n{result.stderr}")
    return rate, errors, int(done.group(1)), int(wraps.group(1))


def throughput(name: str, tmp: Path, signer: Presigner, bodies: Bodies, port: int, pid: int, args: argparse.Namespace,
               threads: int, expected: float) -> dict[str, float]:  # fmt: skip
    """A 1 s warm-up run, then the measured one with requests never sent before, sized from the warm-up's rate."""
    write_requests(tmp, signer, bodies.take(max(2000, int(expected))), threads)
    warm_rate, _, _, _ = wrk(tmp, port, args.connections, 1.0, threads)
    # enough fresh requests for 2.5x the warm-up's rate (the baselines, which cache nothing, may start over)
    fresh = name in ("nimbus", "user")
    count = int(max(warm_rate, 4000) * args.seconds * 2.5) if fresh else min(200_000, int(warm_rate * 2))
    write_requests(tmp, signer, bodies.take(count), threads)
    cpu_before = cpu_seconds(pid)
    rate, errors, done, wraps = wrk(tmp, port, args.connections, args.seconds, threads)
    cpu_after = cpu_seconds(pid)
    if errors:
        print(f"  warning: {name}: {errors} non-200 responses under wrk")
    if wraps and fresh:
        print(f"  warning: {name}: wrk ran out of fresh requests {wraps} times: some were replayed")
    per = max(done, 1) / 1e6
    front, tree = (cpu_after[0] - cpu_before[0]) / per, (cpu_after[1] - cpu_before[1]) / per
    return {"rps": rate, "cpu_front": front, "cpu_tree": tree}


# ---------------------------------------------------------------------------------------------- report


def verdict(value: float, target: float, goal: float, lower_is_better: bool) -> str:
    met = (lambda v, t: v <= t) if lower_is_better else (lambda v, t: v >= t)
    sign = "<=" if lower_is_better else ">="
    return (f"target {sign} {target:g}x: {'met' if met(value, target) else 'missed'}; "
            f"goal {goal:g}x: {'met' if met(value, goal) else 'missed'}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=2000, help="sequential requests per server for latency")
    parser.add_argument("--warmup", type=int, default=200, help="sequential requests per server before measuring")
    parser.add_argument("--seconds", type=float, default=5.0, help="duration of each wrk run")
    parser.add_argument("--connections", type=int, default=32, help="concurrent connections for throughput")
    parser.add_argument("--rounds", type=int, default=1, help="rounds of the whole measurement (order rotates)")
    parser.add_argument("--iam-user", action="store_true", help="also invoke as an IAM user (authorization's cost)")
    args = parser.parse_args()
    if args.requests < 1 or args.seconds <= 0 or args.connections < 1 or args.rounds < 1:
        parser.error("--requests, --seconds, --connections and --rounds must be positive")
    if not shutil.which("wrk"):
        raise SystemExit("wrk is not on PATH (apt-get install wrk)")
    threads = max(1, min(args.connections, os.cpu_count() or 1))
    load = os.getloadavg()
    print(f"warm invoke: {args.requests} sequential requests per server; wrk {args.connections} connections x "
          f"{args.seconds:g} s; every request distinct and freshly signed; load average {load[0]:.2f} "
          f"{load[1]:.2f} {load[2]:.2f}")  # fmt: skip
    rows: list[dict[str, dict[str, float]]] = []
    with tempfile.TemporaryDirectory(prefix="nimbus-bench-") as tmp_name, baseline("echo_server.py") as echo, \
            baseline("relay_server.py") as relay:  # fmt: skip
        tmp = Path(tmp_name)
        with nimbus_server(tmp, "--keep-alive", "600") as server:
            deploy(lambda_client(server.port), FUNCTION, "python3.11", {"app.py": NOOP}, "app.handler", body(0))
            servers = {"echo": echo, "relay": relay, "nimbus": (server.port, server.process.pid)}
            host = f"127.0.0.1:{server.port}"
            signers = dict.fromkeys(servers, Presigner(host, PATH))
            if args.iam_user:
                servers["user"] = servers["nimbus"]
                signers["user"] = Presigner(host, PATH, key=(user := invoking_user(server.port))[0], secret=user[1])
            names = tuple(servers)
            bodies = Bodies()
            bodies.take(1)
            for r in range(args.rounds):
                order = names[r % len(names) :] + names[: r % len(names)]
                numbers = bodies.take(args.warmup + args.requests)
                requests = {name: [signers[name].sign(body(n)) for n in numbers] for name in order}
                times = latency({name: servers[name][0] for name in order}, requests, args.warmup)
                row = {name: {"p50": percentile(t, 0.5), "p99": percentile(t, 0.99)} for name, t in times.items()}
                for name in order:
                    port, pid = servers[name]
                    row[name] |= throughput(name, tmp, signers[name], bodies, port, pid, args, threads, 20_000)
                rows.append(row)
    report(rows)
    load = os.getloadavg()
    print(f"\nload average at the end {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")


def invoking_user(port: int) -> tuple[str, str]:
    """(key id, secret) of a new IAM user allowed lambda:InvokeFunction on the function (as the root makes it)."""
    iam = boto3.client("iam", endpoint_url=f"http://127.0.0.1:{port}", region_name=REGION, aws_access_key_id=KEY,
                       aws_secret_access_key=SECRET)  # fmt: skip
    iam.create_user(UserName="bench-invoker")
    allow = {"Effect": "Allow", "Action": "lambda:InvokeFunction",
             "Resource": f"arn:aws:lambda:*:*:function:{FUNCTION}"}  # fmt: skip
    policy = {"Version": "2012-10-17", "Statement": [allow]}
    iam.put_user_policy(UserName="bench-invoker", PolicyName="invoke", PolicyDocument=json.dumps(policy))
    key = iam.create_access_key(UserName="bench-invoker")["AccessKey"]
    return key["AccessKeyId"], key["SecretAccessKey"]


def report(rows: list[dict[str, dict[str, float]]]) -> None:
    print(f"\n{'round':8}{'':8}{'p50 µs':>9}{'p99 µs':>9}{'req/s':>9}{'CPU µs/req':>12}{'tree µs/req':>13}")
    for r, row in enumerate(rows, 1):
        for name in row:
            v = row[name]
            print(f"{r:<8}{name:8}{v['p50']:>9.0f}{v['p99']:>9.0f}{v['rps']:>9.0f}{v['cpu_front']:>12.1f}"
                  f"{v['cpu_tree']:>13.1f}")  # fmt: skip

    def ratios(key: str, name: str, base: str) -> list[float]:
        return [row[name][key] / row[base][key] if row[base][key] else 0.0 for row in rows]

    def median(values: list[float]) -> float:
        return statistics.median(values)

    print()
    print(f"relay vs echo:  p50 {median(ratios('p50', 'relay', 'echo')):.2f}x, "
          f"req/s {median(ratios('rps', 'relay', 'echo')):.2f}x")  # fmt: skip
    p50 = ratios("p50", "nimbus", "relay")
    rps = ratios("rps", "nimbus", "relay")
    cpu = ratios("cpu_front", "nimbus", "relay")
    for label, values, judged in (
        ("p50  ", p50, verdict(median(p50), P50_TARGET, P50_GOAL, True)),
        ("req/s", rps, verdict(median(rps), RPS_TARGET, RPS_GOAL, False)),
    ):
        rounds = ", ".join(f"{v:.2f}" for v in values)
        print(f"nimbus {label}    {median(values):5.2f}x relay (rounds {rounds}; {judged})")
    print(f"nimbus CPU      {median(cpu):5.2f}x the relay front end's per request "
          f"({median([row['nimbus']['cpu_front'] for row in rows]):.0f} µs vs "
          f"{median([row['relay']['cpu_front'] for row in rows]):.0f} µs)")  # fmt: skip
    if "user" in rows[0]:  # authorization's cost: the same server, an IAM user's key against the root's
        cpu = ratios("cpu_front", "user", "nimbus")
        rounds = ", ".join(f"{v:.3f}" for v in cpu)
        print(f"IAM user CPU    {median(cpu):5.3f}x the root's per request (rounds {rounds}; "
              f"{median([row['user']['cpu_front'] for row in rows]):.0f} µs vs "
              f"{median([row['nimbus']['cpu_front'] for row in rows]):.0f} µs); "
              f"p50 {median(ratios('p50', 'user', 'nimbus')):.3f}x, "
              f"req/s {median(ratios('rps', 'user', 'nimbus')):.3f}x")  # fmt: skip


if __name__ == "__main__":
    main()
