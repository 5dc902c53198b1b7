"""Burst: 100 concurrent 1-second invocations of a cold (never-invoked) hello-world Python function.

Through the real HTTP server (`nimbus serve --port 0`, loopback, temporary data dir, stopped at the end): creates a
function whose handler sleeps 1 s, releases N threads at once (a barrier), each doing one boto3 Invoke, and reports
the time until all have completed, how many succeeded / were throttled / failed, and p50/p99 per-invoke latency.
Baselines in the same run: the same N invokes once every instance is warm (second round), and the ideal 1.0 s.
Target: the cold burst completes within 1.5 s, 1.5x the handler's 1 s floor (goal 1.2 s).

Before the burst, a different function is invoked once so the python3.11 zygote is running (as it is on a server
that has served anything); pass --cold-zygote to include the zygote's own start in the burst.

    .venv/bin/python bench/burst.py [--concurrency 100] [--sleep 1.0] [--cold-zygote]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import statistics
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from _support import KEY, REGION, ROLE, SECRET, lambda_client, nimbus_server, zip_files

TARGET_S, GOAL_S = 1.5, 1.2


# ---------------------------------------------------------------------------------------------- server + client


def create(client: Any, name: str, source: str, memory_mb: int = 128, timeout: int = 30, **kw: Any) -> dict[str, Any]:
    resp: dict[str, Any] = client.create_function(
        FunctionName=name, Runtime="python3.11", Handler="app.handler", Role=ROLE,
        Code={"ZipFile": zip_files({"app.py": source})}, MemorySize=memory_mb, Timeout=timeout, **kw,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while client.get_function_configuration(FunctionName=name).get("State") == "Pending":
        if time.monotonic() > deadline:
            raise SystemExit(f"{name} still Pending after 60 s")
        time.sleep(0.05)
    return resp


# ---------------------------------------------------------------------------------------------- the burst


@dataclass
class Round:
    wall_s: float = 0.0
    latencies: list[float] = field(default_factory=list)  # seconds, successful invokes only
    ok: int = 0
    throttled: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)
    cpu: dict[str, float] = field(default_factory=dict)  # CPU-seconds spent during the round, by whom


CLK_TCK = os.sysconf("SC_CLK_TCK")


def _proc_cpu(pid: int) -> float:
    """utime + stime of one live process, seconds (0 when it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def _children(pid: int) -> list[int]:
    kids: list[int] = []
    with contextlib.suppress(OSError):
        for task in os.listdir(f"/proc/{pid}/task"):
            with contextlib.suppress(OSError):
                kids += map(int, Path(f"/proc/{pid}/task/{task}/children").read_text().split())
    return kids


def _tree_cpu(pid: int) -> float:
    """CPU-seconds of `pid` and every live process below it (ns-precise, /proc/<pid>/schedstat)."""
    try:
        total = int(Path(f"/proc/{pid}/schedstat").read_text().split()[0]) / 1e9
    except OSError:
        return 0.0
    return total + sum(_tree_cpu(kid) for kid in _children(pid))


def cpu_snapshot(server_pid: int) -> dict[str, float]:
    """CPU-seconds so far: the whole machine (busy), this client process, the server process, its zygote(s), and
    the live processes under the zygotes (instances and spares: what the set-ups cost, whatever else runs on the
    machine; every instance of a burst is still alive at the end of its round)."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    busy = (sum(values[:8]) - values[3] - values[4]) / CLK_TCK  # all but idle and iowait (guest is in user)
    zygotes = forks = 0.0
    for kid in _children(server_pid):
        with contextlib.suppress(OSError):
            if b"zygote_main" in Path(f"/proc/{kid}/cmdline").read_bytes():
                zygotes += _proc_cpu(kid)
                forks += sum(_tree_cpu(fork) for fork in _children(kid))
    t = os.times()
    return {"machine": busy, "client": t.user + t.system, "server": _proc_cpu(server_pid), "zygote": zygotes,
            "zygote's forks": forks}  # fmt: skip


def burst(client: Any, name: str, n: int, sleep_s: float, server_pid: int) -> Round:
    """N threads, released together by a barrier, one Invoke each; wall time from release to the last completion."""
    payload = json.dumps({"sleep": sleep_s}).encode()
    barrier = threading.Barrier(n + 1)
    done: list[tuple[str, float, str]] = [("", 0.0, "")] * n
    start = [0.0]

    def one(i: int) -> None:
        barrier.wait()
        t = time.perf_counter()
        try:
            resp = client.invoke(FunctionName=name, Payload=payload)
            body = resp["Payload"].read()
            elapsed = time.perf_counter() - t
            if resp.get("FunctionError"):
                done[i] = ("failed", elapsed, body.decode(errors="replace")[:200])
            else:
                done[i] = ("ok", elapsed, "")
        except ClientError as e:
            code = e.response.get("Error", {}).get("Code", "")
            kind = "throttled" if code == "TooManyRequestsException" else "failed"
            done[i] = (kind, time.perf_counter() - t, f"{code}: {e}"[:200])
        except Exception as e:  # connection errors, timeouts: counted, never fatal
            done[i] = ("failed", time.perf_counter() - t, f"{type(e).__name__}: {e}"[:200])

    threads = [threading.Thread(target=one, args=(i,), daemon=True) for i in range(n)]
    for th in threads:
        th.start()
    before = cpu_snapshot(server_pid)
    barrier.wait()
    start[0] = time.perf_counter()
    for th in threads:
        th.join(timeout=180)
    result = Round(wall_s=time.perf_counter() - start[0])
    after = cpu_snapshot(server_pid)
    result.cpu = {k: after[k] - before[k] for k in after}
    mine = ("client", "server", "zygote", "zygote's forks")
    result.cpu["the rest"] = result.cpu["machine"] - sum(result.cpu[k] for k in mine)
    for kind, elapsed, error in done:
        if kind == "ok":
            result.ok += 1
            result.latencies.append(elapsed)
        elif kind == "throttled":
            result.throttled += 1
            result.errors.append(error)
        else:
            result.failed += 1
            result.errors.append(error or "did not complete")
    return result


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def reports(port: int, group: str) -> tuple[list[float], list[float]]:
    """Init Duration and Duration (ms) of every REPORT line of the log group, from the server's Logs API."""
    logs: Any = boto3.client(
        "logs", endpoint_url=f"http://127.0.0.1:{port}", region_name=REGION,
        aws_access_key_id=KEY, aws_secret_access_key=SECRET, config=Config(retries={"max_attempts": 0}),
    )  # fmt: skip
    inits: list[float] = []
    durations: list[float] = []
    kw: dict[str, Any] = {"logGroupName": group, "filterPattern": "REPORT"}
    try:
        for _ in range(100):
            page = logs.filter_log_events(**kw)
            for event in page.get("events", []):
                message = event["message"]
                if not message.startswith("REPORT"):
                    continue
                if m := re.search(r"Init Duration: ([0-9.]+) ms", message):
                    inits.append(float(m.group(1)))
                if m := re.search(r"\tDuration: ([0-9.]+) ms", message):
                    durations.append(float(m.group(1)))
            if not page.get("nextToken"):
                break
            kw["nextToken"] = page["nextToken"]
    except ClientError as e:
        print(f"WARNING: FilterLogEvents failed: {e}")
    return inits, durations


HANDLER = "import time\n\ndef handler(event, context):\n    time.sleep(event.get('sleep', 1.0))\n    return 'hello'\n"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--concurrency", type=int, default=100)
    parser.add_argument("--sleep", type=float, default=1.0)
    parser.add_argument("--cold-zygote", action="store_true", help="do not start the python3.11 zygote beforehand")
    args = parser.parse_args()
    n, sleep_s = args.concurrency, args.sleep
    tmp = Path(tempfile.mkdtemp(prefix="nimbus-burst-"))
    extra = ("--memory-budget-mb", "20000", "--concurrency-limit", str(max(1000, n)), "--keep-alive", "600")
    with nimbus_server(tmp, *extra) as server:
        client = lambda_client(server.port, max(128, n + 8))
        if not args.cold_zygote:
            create(client, "bench-zygote-warmup", HANDLER)
            client.invoke(FunctionName="bench-zygote-warmup", Payload=b'{"sleep": 0}')["Payload"].read()
        create(client, "bench-burst", HANDLER)
        cold = burst(client, "bench-burst", n, sleep_s, server.process.pid)
        warm = burst(client, "bench-burst", n, sleep_s, server.process.pid)
        inits, durations = reports(server.port, "/aws/lambda/bench-burst")
        server_alive = server.process.poll() is None
    zygote = "cold zygote" if args.cold_zygote else "zygote already running"
    print(f"burst: {n} concurrent invokes of a {sleep_s:.1f} s handler, python3.11, 128 MB, {zygote}, "
          f"{os.cpu_count()} CPUs")  # fmt: skip
    print()
    print(f"{'':24}{'all done s':>11}{'ok':>6}{'429':>6}{'failed':>8}{'p50 s':>8}{'p99 s':>8}{'max s':>8}")
    print(f"{'ideal':24}{sleep_s:11.3f}{n:6d}{0:6d}{0:8d}{sleep_s:8.3f}{sleep_s:8.3f}{sleep_s:8.3f}")
    for label, r in (("warm (2nd round)", warm), ("cold (never invoked)", cold)):
        mx = max(r.latencies) if r.latencies else float("nan")
        print(f"{label:24}{r.wall_s:11.3f}{r.ok:6d}{r.throttled:6d}{r.failed:8d}"
              f"{pct(r.latencies, 50):8.3f}{pct(r.latencies, 99):8.3f}{mx:8.3f}")  # fmt: skip
    print()
    verdict = "met" if cold.ok == n and cold.wall_s <= TARGET_S else "missed"
    goal = "met" if cold.ok == n and cold.wall_s <= GOAL_S else "missed"
    print(
        f"cold burst all done      {cold.wall_s:7.3f} s  (target <= {TARGET_S} s: {verdict}; goal {GOAL_S} s: {goal})"
    )
    print(f"cold / warm              {cold.wall_s / warm.wall_s:7.2f}x")
    print(f"cold / ideal             {cold.wall_s / sleep_s:7.2f}x")
    print(f"cold overhead p50        {(pct(cold.latencies, 50) - sleep_s) * 1000:7.0f} ms over the handler's sleep")
    print(f"warm overhead p50        {(pct(warm.latencies, 50) - sleep_s) * 1000:7.0f} ms over the handler's sleep")
    if inits:
        print(
            f"REPORT Init Duration     p50 {statistics.median(inits):.0f} ms, max {max(inits):.0f} ms "
            f"({len(inits)} cold starts; counted from the launcher's reply to READY)"
        )
    if durations:
        print(
            f"REPORT Duration          p50 {statistics.median(durations):.0f} ms, max {max(durations):.0f} ms "
            f"({len(durations)} REPORT lines, both rounds)"
        )
    cpus = os.cpu_count() or 1
    for label, r in (("cold", cold), ("warm", warm)):
        parts = ", ".join(f"{k} {v:.2f}" for k, v in r.cpu.items() if k != "machine")
        print(f"CPU-s during {label} round {r.cpu['machine']:5.2f} of {cpus * r.wall_s:.2f} available ({parts})")
    if not server_alive:
        print("WARNING: the server had exited before the end of the run")
    for label, r in (("cold", cold), ("warm", warm)):
        for error in sorted(set(r.errors))[:5]:
            print(f"WARNING {label}: {r.errors.count(error)}x {error}")
    if any(r.errors for r in (cold, warm)) or not server_alive:
        print(f"server log: {tmp / 'server.log'}")
    else:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
