"""Density: the memory cost of N provisioned, idle instances of a 128 MB hello-world Python function.

Through the real HTTP server (`nimbus serve --port 0`, loopback, temporary data dir, stopped at the end) and the
Provisioned Concurrency API: creates the function, publishes version 1, puts a provisioned concurrency config of N
on it and polls GetProvisionedConcurrencyConfig until Status is READY (or --wait seconds). Then sums the PSS
(/proc/<pid>/smaps_rollup) of every instance process: each child of the server's zygote (or of the server itself,
for spawned or re-parented instances) is one instance's outer process, with its sandbox's pid-1 init and runtime
process below it, or (a root zygote's fork, which has no outer process) its pid 1, with the runtime below it.
Reports the per-instance total and the runtime process alone, and the drop of MemAvailable per instance.
Baselines in the same run: a bare `python3 -S -c 'import time; time.sleep(60)'` and the zygote itself.
The headline is the growth of the PSS of the server's whole process tree (the server itself, its zygotes and spares
included) from before the config to READY, per instance. Target: <= 4 MB (goal <= 2 MB).

Before measuring, another function is invoked once so the zygote is running and its cost is outside the figures
(that function's instance is excluded).

    .venv/bin/python bench/density.py [--instances 200] [--wait 120]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from _support import lambda_client, nimbus_server
from burst import _children, create
from nimbus.runtimes.registry import available_runtimes

TARGET_MB, GOAL_MB = 4.0, 2.0
HELLO = "def handler(event, context):\n    return 'hello'\n"


def pss_kb(pid: int) -> int:
    """PSS of one process in kB (0 when it is gone or unreadable)."""
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def mem_available_kb() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1])
    raise SystemExit("no MemAvailable in /proc/meminfo")


def tree_pss_kb(pid: int) -> int:
    """PSS of `pid` and every process below it (the server's whole tree: zygotes, spares, instances)."""
    total = pss_kb(pid)
    try:
        kids = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return total
    return total + sum(tree_pss_kb(int(k)) for k in kids)


def is_zygote(pid: int) -> bool:
    try:
        return b"zygote_main" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


@dataclass
class Sandbox:
    """One instance: its top process (the outer one, or pid 1 where there is none) and everything below it (pid-1
    init, runtime, anything the function ran)."""

    outer: int
    processes: list[int]  # breadth-first from the outer process
    runtime: int  # the deepest process: the runtime (pid 2 of the sandbox)


def sandbox_of(outer: int) -> Sandbox:
    processes, levels = [outer], [[outer]]
    while levels[-1]:
        levels.append([kid for pid in levels[-1] for kid in _children(pid)])
        processes += levels[-1]
    deepest = [pid for level in levels if level for pid in level][-1]
    return Sandbox(outer, processes, deepest)


def instances_of(server_pid: int) -> tuple[list[int], list[Sandbox]]:
    """(zygote pids, sandboxes) below the server: a zygote's children and the server's non-zygote children."""
    zygotes, outers = [], []
    for kid in _children(server_pid):
        if is_zygote(kid):
            zygotes.append(kid)
            outers += _children(kid)
        else:
            outers.append(kid)
    return zygotes, [sandbox_of(pid) for pid in outers]


def bare_python_pss() -> int:
    py = str(available_runtimes()["python3.11"])
    proc = subprocess.Popen([py, "-S", "-c", "import time; time.sleep(60)"])
    try:
        time.sleep(0.5)
        return pss_kb(proc.pid)
    finally:
        proc.kill()
        proc.wait()


def wait_ready(client: Any, name: str, qualifier: str, limit_s: float) -> tuple[dict[str, Any], float]:
    t = time.monotonic()
    while True:
        config: dict[str, Any] = client.get_provisioned_concurrency_config(FunctionName=name, Qualifier=qualifier)
        if config.get("Status") in ("READY", "FAILED") or time.monotonic() - t > limit_s:
            return config, time.monotonic() - t
        time.sleep(0.25)


def mb(kb: float) -> float:
    return kb / 1024


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--instances", type=int, default=200)
    parser.add_argument("--wait", type=float, default=120.0, help="seconds to wait for Status READY")
    args = parser.parse_args()
    n = args.instances
    tmp = Path(tempfile.mkdtemp(prefix="nimbus-density-"))
    budget = max(20000, 128 * n * 2)
    extra = ("--concurrency-limit", str(max(1000, n + 10)), "--memory-budget-mb", str(budget), "--keep-alive", "600")
    bare_kb = bare_python_pss()
    with nimbus_server(tmp, *extra) as server:
        client = lambda_client(server.port)
        create(client, "bench-density-warmup", HELLO)
        client.invoke(FunctionName="bench-density-warmup", Payload=b"{}")["Payload"].read()
        time.sleep(0.5)
        _, before = instances_of(server.process.pid)
        excluded = {pid for s in before for pid in s.processes}
        create(client, "bench-density", HELLO, memory_mb=128)
        version = client.publish_version(FunctionName="bench-density")["Version"]
        server_kb_before = pss_kb(server.process.pid)
        tree_kb_before = tree_pss_kb(server.process.pid)
        avail_before = mem_available_kb()
        client.put_provisioned_concurrency_config(
            FunctionName="bench-density", Qualifier=version, ProvisionedConcurrentExecutions=n
        )
        config, took = wait_ready(client, "bench-density", version, args.wait)
        time.sleep(2.0)  # let the last instances settle (page faults after READY, reaped helpers)
        avail_after = mem_available_kb()
        zygotes, sandboxes = instances_of(server.process.pid)
        sandboxes = [s for s in sandboxes if s.outer not in excluded]
        per_instance = [sum(pss_kb(p) for p in s.processes) for s in sandboxes]
        runtime_only = [pss_kb(s.runtime) for s in sandboxes]
        outer_only = [pss_kb(s.outer) for s in sandboxes]
        init_only = [pss_kb(s.processes[1]) for s in sandboxes if len(s.processes) == 3]
        depth = statistics.mode(len(s.processes) for s in sandboxes) if sandboxes else 0
        zygote_kb = sum(pss_kb(z) for z in zygotes)
        server_kb = pss_kb(server.process.pid)
        tree_kb = tree_pss_kb(server.process.pid)
        server_alive = server.process.poll() is None
        config = client.get_provisioned_concurrency_config(FunctionName="bench-density", Qualifier=version)
    count = len(sandboxes)
    print(f"density: {n} provisioned instances of a 128 MB hello-world (python3.11), {os.cpu_count()} CPUs")
    print(
        f"provisioned config: Status {config.get('Status')}, available "
        f"{config.get('AvailableProvisionedConcurrentExecutions')}/{config.get('RequestedProvisionedConcurrentExecutions')}"
        f" ({took:.1f} s after the put)"
    )
    if config.get("StatusReason"):
        print(f"  StatusReason: {config['StatusReason']}")
    print(f"instance sandboxes found below the server: {count} ({depth} processes each, typically)")
    print()
    print(f"{'':44}{'PSS MB':>9}")
    print(f"{'bare python3 -S (sleep)':44}{mb(bare_kb):9.2f}")
    print(f"{'zygote (after the forks)':44}{mb(zygote_kb):9.2f}")
    print(f"{'server process (before -> after)':44}{mb(server_kb_before):9.2f} -> {mb(server_kb):.2f}")
    if count:
        total = sum(per_instance)
        print(f"{'all instances, total':44}{mb(total):9.2f}")
        print(f"{'per instance, mean (all its processes)':44}{mb(total / count):9.2f}")
        print(f"{'per instance, max':44}{mb(max(per_instance)):9.2f}")
        print(f"{'top process only (outer, else pid 1), mean':44}{mb(sum(outer_only) / count):9.2f}")
        if init_only:
            print(f"{'pid-1 init process only, mean':44}{mb(sum(init_only) / len(init_only)):9.2f}")
        print(f"{'runtime process only, mean':44}{mb(sum(runtime_only) / count):9.2f}")
        drop = avail_before - avail_after
        print(f"{'MemAvailable drop per instance':44}{mb(drop / count):9.2f}  (total {mb(drop):.0f} MB)")
        growth = mb((tree_kb - tree_kb_before) / count)
        print(f"{'whole tree (server, zygote, spares) before':44}{mb(tree_kb_before):9.2f} -> {mb(tree_kb):.2f}")
        print()
        mean = growth
        verdict = "met" if mean <= TARGET_MB else "missed"
        goal = "met" if mean <= GOAL_MB else "missed"
        print(f"per instance vs bare python  {mean / mb(bare_kb):6.2f}x")
        print(
            f"tree growth per instance     {mean:6.2f} MB  (target <= {TARGET_MB}: {verdict}; goal {GOAL_MB}: {goal})"
        )
    if count < n:
        print(f"WARNING: only {count} of {n} instances were running; server log: {tmp / 'server.log'}")
    if not server_alive:
        print("WARNING: the server had exited before the end of the run")
    if count >= n and server_alive:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
