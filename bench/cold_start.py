"""Cold start of a never-invoked hello-world Python function vs a bare interpreter start (`python3 -S -c pass`).

Two measurements, each round a function never invoked before, after one warm-up cold start that starts the zygote:

* client round trip: a real `nimbus serve`; functions created with boto3 beforehand; each Invoke is signed
  before the clock starts and sent on an open keep-alive connection; the time is send to last byte of the result.
* in-process: InstanceManager.invoke to result (the zygote launcher, sandboxed as the server runs it), no HTTP;
  the manager is told of each function first (`expect_cold_start`), as the server is by each CreateFunction.

Rounds are `--gap` apart: a cold start takes one of the zygote's spare sandboxes (setting `spare_instances`), and
its replacement is made in the background. With `--gap 0` cold starts outrun the refill and fork instead; the
count of each is printed, and `--spares 0` measures forks only.

    .venv/bin/python bench/cold_start.py [--rounds 30] [--gap 0.2] [--spares 2]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import socket
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from _support import ROLE, deploy, lambda_client, nimbus_server, read_response, signed_invoke, zip_files
from nimbus.config import Settings
from nimbus.instances import InstanceManager
from nimbus.logs.sink import MemorySink
from nimbus.protocol.records import FunctionSpec, InvokeRequest
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


def bare(rounds: int) -> tuple[float, float]:
    """Median wall time and mean CPU time (ms) of `python3 -S -c pass`."""
    py = str(available_runtimes()["python3.11"])
    times = []
    cpu = resource.getrusage(resource.RUSAGE_CHILDREN)
    for _ in range(rounds):
        t = time.perf_counter()
        subprocess.run([py, "-S", "-c", "pass"], check=True)
        times.append((time.perf_counter() - t) * 1000)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu_ms = (after.ru_utime + after.ru_stime - cpu.ru_utime - cpu.ru_stime) * 1000 / rounds
    return statistics.median(times), cpu_ms


def tree_cpu_ms(pid: int) -> float:
    """CPU time so far of `pid` and every live process below it (ns-precise, from /proc/<pid>/schedstat)."""
    try:
        total = int(Path(f"/proc/{pid}/schedstat").read_text().split()[0]) / 1e6
        kids = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return 0.0
    return total + sum(tree_cpu_ms(int(k)) for k in kids)


async def cold(code: Path, rounds: int, gap: float, spares: int) -> tuple[list[float], str, float]:
    """Wall times of the cold starts, where their instances came from, and the CPU (ms) each cost: this process
    (the server's side) plus the zygote's whole tree (the instances, and the spares made meanwhile)."""
    manager = InstanceManager(Settings(spare_instances=spares), MemorySink())
    await manager.start()
    times = []
    try:
        await manager.invoke(spec(code, "warmup"), req())
        for _ in range(rounds):  # what the server does on each CreateFunction (the client run creates its functions)
            manager.expect_cold_start("python3.11")
        await asyncio.sleep(max(gap, 0.5))  # the spares are made after the zygote
        zygotes = [z.pid for z in getattr(manager._launcher, "_zygotes", {}).values()]
        cpu_before = time.process_time() * 1000 + sum(tree_cpu_ms(z) for z in zygotes)
        for n in range(rounds):
            t = time.perf_counter()
            result = await manager.invoke(spec(code, f"f{n}"), req())
            times.append((time.perf_counter() - t) * 1000)
            assert result.function_error is None, result.payload
            await asyncio.sleep(gap)
        cpu_ms = (time.process_time() * 1000 + sum(tree_cpu_ms(z) for z in zygotes) - cpu_before) / rounds
        launcher = manager._launcher
        made = f"{getattr(launcher, 'spares_used', 0)} from spares, {getattr(launcher, 'forks', 0) - 1} forked"
    finally:
        await manager.stop()
    return times, made, cpu_ms


def cold_http(rounds: int, gap: float, spares: int) -> tuple[list[float], str]:
    """Client round trips of first invokes through a real server (functions made beforehand, requests pre-signed)."""
    hello = zip_files({"app.py": "def handler(event, context):\n    return 'hello'\n"})
    with tempfile.TemporaryDirectory() as tmp, nimbus_server(Path(tmp), "--spare-instances", str(spares)) as server:
        client = lambda_client(server.port)
        deploy(client, "warmup", "python3.11", {"app.py": "def handler(e, c):\n    return e\n"}, "app.handler", b"{}")
        names = [f"cold-{n}" for n in range(rounds)]
        for name in names:
            client.create_function(FunctionName=name, Runtime="python3.11", Handler="app.handler", Role=ROLE,
                                   Code={"ZipFile": hello}, MemorySize=128, Timeout=10)  # fmt: skip
        requests = [signed_invoke(name, server.port, name, b"{}").request for name in names]
        time.sleep(max(gap, 0.5))
        times = []
        with socket.create_connection(("127.0.0.1", server.port)) as sock:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            buf = bytearray()
            for raw in requests:
                t = time.perf_counter()
                sock.sendall(raw)
                status, body = read_response(sock, buf)
                times.append((time.perf_counter() - t) * 1000)
                if status != 200 or body != b'"hello"':
                    raise SystemExit(f"cold invoke failed: {status} {body!r}")
                time.sleep(gap)
    return times, f"{spares} spares kept"


def _line(label: str, times: list[float], base: float, made: str) -> None:
    med = statistics.median(times)
    p10 = sorted(times)[len(times) // 10]
    verdict = "met" if med <= 0.5 * base else "missed"
    print(f"{label:24}{med:7.1f} ms  (median; p10 {p10:.1f}, max {max(times):.1f}; {made})")
    print(f"{'  ratio':24}{med / base:7.2f}x  (target <= 0.5x: {verdict}; goal <= 0.25x)")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--gap", type=float, default=0.2, help="seconds between cold starts")
    parser.add_argument("--spares", type=int, default=2, help="spare sandboxes per zygote (0: fork every instance)")
    args = parser.parse_args()
    code = Path(tempfile.mkdtemp())
    code.chmod(0o755)
    (code / "app.py").write_text("def handler(event, context):\n    return 'hello'\n")
    base, base_cpu = bare(args.rounds)
    http_times, http_made = cold_http(args.rounds, args.gap, args.spares)
    times, made, cpu_ms = asyncio.run(cold(code, args.rounds, args.gap, args.spares))
    load = os.getloadavg()[0]
    print(f"{'python3 -S -c pass':24}{base:7.1f} ms  (median of {args.rounds}; CPU {base_cpu:.1f} ms each)")
    _line("cold start, client", http_times, base, http_made)
    _line("cold start, in-process", times, base, made)
    print(f"{'  CPU per cold start':24}{cpu_ms:7.1f} ms  (server side + zygote tree: instances and the spares made")
    print(f"{'':24}{'':10}meanwhile; {cpu_ms / base_cpu:.2f}x the bare interpreter's CPU)")
    print(f"load average {load:.1f} on {os.cpu_count()} CPUs: above ~1 the wall times wait for CPUs at every hop")


if __name__ == "__main__":
    main()
