"""CPU of a forked sandbox set-up, by process: a burst of N cold starts of one function, in-process, no spares.

The same path a burst takes once the spares are gone (`bench/burst.py`): the server's side (`InstanceManager`, the
zygote launcher, sandboxed as the server runs it) asks the zygote for N forks at once; each fork becomes an outer
process, a pid 1 and the runtime, which imports nothing and answers its invoke. After the burst every instance is
still alive (kept warm), so `/proc/<pid>/schedstat` (ns-precise) gives each process's whole CPU: the set-up, the
handshake and one trivial invoke. Printed per instance, by role, and the server's own CPU per instance
(`time.process_time`), with the round's wall time. Several rounds, each a new function and a new zygote.

    .venv/bin/python bench/setup_cpu.py [--instances 50] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

from nimbus.config import Settings
from nimbus.instances import InstanceManager
from nimbus.instances.snapshot import ns_pid
from nimbus.logs.sink import MemorySink
from nimbus.protocol.records import FunctionSpec, InvokeRequest

ARN = "arn:aws:lambda:us-east-1:000000000000:function:bench"


def _cpu_ms(pid: int) -> float:
    try:
        return int(Path(f"/proc/{pid}/schedstat").read_text().split()[0]) / 1e6
    except OSError:
        return 0.0


def _kids(pid: int) -> list[int]:
    try:
        return [int(k) for k in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def by_role(zygote: int) -> dict[str, list[float]]:
    """CPU (ms) of every live process under the zygote, by role: outer (where there is one), pid 1, runtime."""
    roles: dict[str, list[float]] = {"outer": [], "pid 1": [], "runtime": []}
    for top in _kids(zygote):
        try:
            direct = ns_pid(top) == 1  # a zygote's fork made pid 1 of its own pid namespace: no outer process
        except OSError:  # gone meanwhile
            continue
        inits = [top] if direct else _kids(top)
        if not direct:
            roles["outer"].append(_cpu_ms(top))
        for init in inits:
            roles["pid 1"].append(_cpu_ms(init))
            roles["runtime"] += [_cpu_ms(r) for r in _kids(init)]
    return roles


async def one_round(code: Path, n: int, name: str) -> dict[str, float]:
    manager = InstanceManager(
        Settings(spare_instances=0, memory_budget_mb=100000, keep_alive=600.0), MemorySink()
    )
    await manager.start()
    try:
        spec = FunctionSpec(name="warmup", version="$LATEST", revision_id="r", arn=ARN, runtime="python3.11",
                            handler="app.handler", code_dir=code, memory_mb=128, timeout_s=30)  # fmt: skip
        await manager.invoke(spec, InvokeRequest("w", b"{}", ARN))
        zygotes = [z.pid for z in getattr(manager._launcher, "_zygotes", {}).values()]
        assert zygotes, "no zygote: this host runs no sandbox"
        await asyncio.sleep(0.3)
        before = by_role(zygotes[0])
        zygote_before = _cpu_ms(zygotes[0])
        spec = FunctionSpec(name=name, version="$LATEST", revision_id="r", arn=ARN, runtime="python3.11",
                            handler="app.handler", code_dir=code, memory_mb=128, timeout_s=30)  # fmt: skip
        server_before = time.process_time()
        started = time.perf_counter()
        results = await asyncio.gather(
            *(manager.invoke(spec, InvokeRequest(f"r{i}", json.dumps({"i": i}).encode(), ARN)) for i in range(n))
        )
        wall = time.perf_counter() - started
        server = (time.process_time() - server_before) * 1000
        assert all(r.function_error is None for r in results), [r.payload for r in results][:3]
        after = by_role(zygotes[0])
        row = {role: (sum(after[role]) - sum(before[role])) / n for role in after}
        row["zygote"] = (_cpu_ms(zygotes[0]) - zygote_before) / n
        row["server"] = server / n
        row["total"] = sum(row.values())
        row["wall ms"] = wall * 1000
        row["instances"] = len(after["runtime"]) - len(before["runtime"])
        return row
    finally:
        await manager.stop()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--instances", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    code = Path(tempfile.mkdtemp())
    code.chmod(0o755)
    (code / "app.py").write_text("def handler(event, context):\n    return event\n")
    rows = [asyncio.run(one_round(code, args.instances, f"burst{r}")) for r in range(args.rounds)]
    keys = list(rows[0])
    print(f"{args.instances} forked cold starts at once, {args.rounds} rounds; CPU ms per instance (median of rounds)")
    print("  ".join(f"{k:>9}" for k in keys))
    for row in rows:
        print("  ".join(f"{row[k]:9.2f}" for k in keys))
    print("  ".join(f"{statistics.median(r[k] for r in rows):9.2f}" for k in keys), " (median)")
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
