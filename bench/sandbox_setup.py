"""Sandbox set-up cost on the cold-start path: a sandboxed spawn vs a plain spawn of the same interpreter.

Three measurements per round, each a fresh process through the same code the server uses:
  plain      posix_spawn `python3.N -I -S -c <print time>`
  sandboxed  the same command through `sandbox_init.py` (cgroups, namespaces, root, seccomp, uid), network host
  net=none   the same with its own network namespace
"Ready" is the time until the interpreter inside runs its first line (what a cold start waits for); "total" adds
exit and teardown. Prints medians and ratios. Needs root (or user namespaces).

    .venv/bin/python bench/sandbox_setup.py [--runtime python3.11] [--rounds 30]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

from nimbus.instances.cgroups import InstanceCgroup
from nimbus.instances.environment import python_command
from nimbus.instances.isolation import detect
from nimbus.instances.sandbox import INIT, SandboxLauncher, encode_plan
from nimbus.protocol.records import FunctionSpec
from nimbus.runtimes.registry import resolve_runtime

PROBE = "import time; print(time.time())"


def run(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    started = time.time()
    out = subprocess.run(argv, env=env, capture_output=True, text=True, check=True).stdout
    total = time.time() - started
    return (float(out.split()[0]) - started) * 1000, total * 1000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runtime", default="python3.11")
    parser.add_argument("--rounds", type=int, default=30)
    args = parser.parse_args()
    isolation = detect()
    if not isolation.namespaces:
        raise SystemExit("this host allows no sandbox (needs root or user namespaces)")
    runtime = resolve_runtime(args.runtime, False)
    launcher = SandboxLauncher(isolation)
    results: dict[str, list[tuple[float, float]]] = {"plain": [], "sandboxed": [], "net=none": []}
    with tempfile.TemporaryDirectory() as code:
        Path(code).chmod(0o755)  # the sandbox user must be able to enter its /var/task
        for _ in range(args.rounds):
            for network in ("host", "none"):
                spec = FunctionSpec("bench", "$LATEST", "1", "arn", args.runtime, "app.handler", Path(code), 128, 3,
                                    network=network)  # fmt: skip
                command = python_command(spec, runtime, "g", "s", sandboxed=True)
                cgroup = None
                if isolation.cgroups.mode != "none":
                    cgroup = InstanceCgroup(isolation.cgroups, uuid.uuid4().hex, 128)
                started = time.perf_counter()
                plan = launcher.plan(command, cgroup)
                plan["argv"] = [command.argv[0], "-I", "-S", "-c", PROBE]
                plan["control_fd"] = 1
                env = {"NIMBUS_SANDBOX": encode_plan(plan)}
                server_side = (time.perf_counter() - started) * 1000
                ready, total = run([str(runtime.interpreter), "-I", "-S", str(INIT)], env)
                results["sandboxed" if network == "host" else "net=none"].append((ready + server_side, total))
                if cgroup is not None:
                    while not cgroup.remove():
                        time.sleep(0.001)
            results["plain"].append(run([str(runtime.interpreter), "-I", "-S", "-c", PROBE], {}))
    base_ready = statistics.median(r for r, _ in results["plain"])
    base_total = statistics.median(t for _, t in results["plain"])
    print(f"{args.runtime} ({runtime.interpreter}), {args.rounds} rounds, cgroups {isolation.cgroups.describe()}")
    print(f"{'':10} {'ready ms':>9} {'x plain':>8} {'total ms':>9} {'x plain':>8}")
    for name, rows in results.items():
        ready = statistics.median(r for r, _ in rows)
        total = statistics.median(t for _, t in rows)
        print(f"{name:10} {ready:9.1f} {ready / base_ready:8.2f} {total:9.1f} {total / base_total:8.2f}")
    launcher_cost = statistics.median(r for r, _ in results["sandboxed"]) - base_ready
    print(f"sandbox set-up adds {launcher_cost:.1f} ms before the runtime's first line")


if __name__ == "__main__":
    main()
