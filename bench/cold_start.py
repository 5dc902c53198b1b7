"""Cold start of a never-invoked hello-world Python function vs a bare interpreter start (`python3 -S -c pass`).

In-process through InstanceManager (the zygote launcher, sandboxed as the server runs it): the time from invoke to
result of a function never invoked before (a fresh function name each round), after one warm-up cold start that
starts the zygote. No HTTP hop (add ~0.5-1 ms for the client round trip measured by bench/warm_invoke.py).

    .venv/bin/python bench/cold_start.py [--rounds 30]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from nimbus.config import Settings
from nimbus.instances import InstanceManager
from nimbus.invoke.types import FunctionSpec, InvokeRequest
from nimbus.logs.sink import MemorySink
from nimbus.runtimes.registry import available_runtimes

ARN = "arn:aws:lambda:us-east-1:000000000000:function:bench"


def spec(code: Path, name: str, **kw: object) -> FunctionSpec:
    fields: dict[str, object] = dict(
        name=name, version="$LATEST", revision_id="r", arn=ARN, runtime="python3.11", handler="app.handler",
        code_dir=code, memory_mb=128, timeout_s=30,
    )
    fields.update(kw)
    return FunctionSpec(**fields)  # type: ignore[arg-type]


def req(payload: dict[str, object] | None = None) -> InvokeRequest:
    return InvokeRequest(f"r{time.monotonic_ns()}", json.dumps(payload or {}).encode(), ARN)


def bare(rounds: int) -> float:
    py = str(available_runtimes()["python3.11"])
    times = []
    for _ in range(rounds):
        t = time.perf_counter()
        subprocess.run([py, "-S", "-c", "pass"], check=True)
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times)


async def cold(code: Path, rounds: int) -> list[float]:
    manager = InstanceManager(Settings(), MemorySink())
    await manager.start()
    times = []
    try:
        await manager.invoke(spec(code, "warmup"), req())
        for n in range(rounds):
            t = time.perf_counter()
            result = await manager.invoke(spec(code, f"f{n}"), req())
            times.append((time.perf_counter() - t) * 1000)
            assert result.function_error is None, result.payload
            await asyncio.sleep(0.2)
    finally:
        await manager.stop()
    return times


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=30)
    args = parser.parse_args()
    code = Path(tempfile.mkdtemp())
    code.chmod(0o755)
    (code / "app.py").write_text("def handler(event, context):\n    return 'hello'\n")
    base = bare(args.rounds)
    times = asyncio.run(cold(code, args.rounds))
    med = statistics.median(times)
    print(f"python3 -S -c pass      {base:7.1f} ms (median of {args.rounds})")
    p10 = sorted(times)[len(times) // 10]
    print(f"nimbus cold start       {med:7.1f} ms (median; p10 {p10:.1f}, max {max(times):.1f})")
    print(f"ratio                   {med / base:7.2f}x  (target <= 0.5x: {'met' if med <= 0.5 * base else 'missed'})")


if __name__ == "__main__":
    main()
