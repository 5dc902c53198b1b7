"""Deploy time of examples/sam-app: from nothing, and a re-deploy with nothing changed, against `nimbus version`
(the CLI's own start-up: Python, boto3 and typer imported) in the same run.

    .venv/bin/python bench/deploy.py --runs 5

1. Starts `nimbus serve` (temporary data dir, the app copied into a temporary folder).
2. **from nothing**: `nimbus deploy --no-confirm` of a fresh stack name, `--runs` times (each deleted after): wall
   time and the CLI process's CPU time (user + system, from its rusage), and the server's CPU time over the deploy
   (from /proc/<pid>/stat).
3. **no change**: `nimbus deploy` again on the last stack, `--runs` times: the CLI asks whether the same files and
   parameters were deployed last, and stops (no transform, no plan).
4. Baseline: `nimbus version`, `--runs` times.

Prints medians and the ratios to the baseline; never fails on timing. On a loaded machine wall times mostly measure
the wait for a core: read the CPU times.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _support import KEY, REGION, ROOT, SECRET, nimbus_server

CLI = [sys.executable, "-m", "nimbus.cli.main"]


def server_cpu(pid: int) -> float:
    """The server process's user + system CPU seconds so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run(args: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the child) of one CLI run; exits on failure."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run([*CLI, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"nimbus {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    opts = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        app = tmp / "sam-app"
        shutil.copytree(ROOT / "examples" / "sam-app", app)
        with nimbus_server(tmp) as srv:
            env = {k: v for k, v in os.environ.items() if not k.startswith(("NIMBUS_", "AWS_"))}
            env |= {"AWS_ENDPOINT_URL": f"http://127.0.0.1:{srv.port}", "AWS_DEFAULT_REGION": REGION,
                    "AWS_ACCESS_KEY_ID": KEY, "AWS_SECRET_ACCESS_KEY": SECRET}  # fmt: skip
            fresh, fresh_cpu, server = [], [], []
            for i in range(opts.runs):
                name = f"bench-{i}"
                cpu0 = server_cpu(srv.process.pid)
                wall, cpu = run(["deploy", "--stack-name", name, "--no-confirm"], app, env)
                server.append(server_cpu(srv.process.pid) - cpu0)
                fresh.append(wall)
                fresh_cpu.append(cpu)
                if i < opts.runs - 1:
                    run(["stack", "delete", name], app, env)
            same = [run(["deploy", "--stack-name", f"bench-{opts.runs - 1}", "--no-confirm"], app, env)
                    for _ in range(opts.runs)]  # fmt: skip
            base = [run(["version"], app, env) for _ in range(opts.runs)]
    med = statistics.median
    base_wall, base_cpu = med(w for w, _ in base), med(c for _, c in base)
    same_wall, same_cpu = med(w for w, _ in same), med(c for _, c in same)
    print(f"load average: {' '.join(f'{x:.1f}' for x in os.getloadavg())} on {os.cpu_count()} CPUs")
    print(f"nimbus version (baseline): wall {base_wall:.2f} s, CLI CPU {base_cpu:.2f} s")
    print(f"deploy from nothing:       wall {med(fresh):.2f} s ({med(fresh) / base_wall:.1f}x), CLI CPU "
          f"{med(fresh_cpu):.2f} s ({med(fresh_cpu) / base_cpu:.1f}x), server CPU {med(server):.2f} s")  # fmt: skip
    print(f"no-change re-deploy:       wall {same_wall:.2f} s ({same_wall / base_wall:.1f}x), CLI CPU "
          f"{same_cpu:.2f} s ({same_cpu / base_cpu:.1f}x); beyond the CLI's start-up: "
          f"{same_cpu - base_cpu:.2f} s CPU")  # fmt: skip


if __name__ == "__main__":
    main()
