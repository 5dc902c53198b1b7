"""The server side of a warm invoke: the server process's CPU per invoke for two source trees side by side.

    .venv/bin/python bench/server_cpu.py --tree DIR --tree DIR [--rounds 10] [--steps 300] [--connections 8]
    .venv/bin/python bench/server_cpu.py --tree DIR ... --calls [--invokes 4000]

A `nimbus serve` from each tree (a worktree at main beside yours), each with the no-op python3.11 function of
`warm_invoke.py`, warmed. Then, `--rounds` times: `--steps` steps, each sending one fresh signed request on each of
a server's `--connections` keep-alive connections and reading their answers, then the same for the other server
(who goes first alternating), so the two share the machine's load millisecond by millisecond. Per round it prints
each server's CPU per invoke (all its threads, `/proc/<pid>/task/*/schedstat`, nanoseconds) and that of its whole
process tree (instances included), and the ratio of the last tree to the first; at the end the medians. On a
shared machine whose load swings, wrk's rates (`warm_invoke.py`) swing with it; these per-round ratios stay within
a few percent (same tree twice: 1.00-1.06, `docs/performance.md`), the steadiest before/after figure.

`--calls`: Python-level calls per invoke instead (C functions included), counted by cProfile in a server per tree
run twice, with `--invokes` sequential invokes and with five times as many, so that start-up cancels out.
Deterministic: it changes only when the code does. Never fails on timing.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import pstats
import socket
import statistics
import tempfile
from collections.abc import Iterator
from pathlib import Path

from _signing import Presigner
from _support import deploy, lambda_client, nimbus_server, read_response
from warm_invoke import FUNCTION, NOOP, PATH, body

#: the warm-up round's steps at least (with fewer, the first measured rounds still paid for the start)
WARM_UP_STEPS = 300


def cpu_ns(pid: int) -> int:
    """CPU time of every thread of `pid` so far."""
    total = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        with contextlib.suppress(OSError), open(f"/proc/{pid}/task/{tid}/schedstat") as f:
            total += int(f.read().split()[0])
    return total


def tree_ns(pid: int) -> int:
    """CPU time of `pid` and of every process below it."""
    total, todo, seen = 0, [pid], set()
    while todo:
        proc = todo.pop()
        if proc in seen:
            continue
        seen.add(proc)
        with contextlib.suppress(OSError):
            total += cpu_ns(proc)
            for tid in os.listdir(f"/proc/{proc}/task"):
                with open(f"/proc/{proc}/task/{tid}/children") as f:
                    todo += [int(child) for child in f.read().split()]
    return total


class Client:
    """A server's pid, its signer and its keep-alive connections."""

    def __init__(self, pid: int, port: int, connections: int) -> None:
        self.pid = pid
        self.signer = Presigner(f"127.0.0.1:{port}", PATH)
        self.socks = [socket.create_connection(("127.0.0.1", port)) for _ in range(connections)]
        self.bufs = [bytearray() for _ in self.socks]
        for sock in self.socks:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def step(self, requests: list[bytes]) -> None:
        """One request on each connection, then every answer."""
        for sock, request in zip(self.socks, requests, strict=True):
            sock.sendall(request)
        for sock, buf in zip(self.socks, self.bufs, strict=True):
            status, _ = read_response(sock, buf)
            if status != 200:
                raise SystemExit(f"status {status} from the server of pid {self.pid}")

    def close(self) -> None:
        for sock in self.socks:
            sock.close()


@contextlib.contextmanager
def served(tree: Path, connections: int, python_args: tuple[str, ...] = ()) -> Iterator[Client]:
    with tempfile.TemporaryDirectory(prefix="nimbus-server-cpu-") as tmp_name:
        tmp = Path(tmp_name)
        with nimbus_server(tmp, "--keep-alive", "600", tree=tree, python_args=python_args) as server:
            deploy(lambda_client(server.port), FUNCTION, "python3.11", {"app.py": NOOP}, "app.handler", body(0))
            client = Client(server.process.pid, server.port, connections)
            try:
                yield client
            finally:
                client.close()


def cpu(trees: list[Path], args: argparse.Namespace) -> None:
    with contextlib.ExitStack() as stack:
        clients = [stack.enter_context(served(tree, args.connections)) for tree in trees]
        n = 1
        rows: list[list[tuple[float, float]]] = []
        for r in range(args.rounds + 1):  # round 0 warms up (an instance per connection, the log store's first rows)
            steps = max(args.steps, WARM_UP_STEPS) if r == 0 else args.steps
            per_round = steps * args.connections
            requests = []
            for client in clients:
                requests.append([client.signer.sign(body(n + i)) for i in range(per_round)])
                n += per_round
            before = [(cpu_ns(c.pid), tree_ns(c.pid)) for c in clients]
            for step in range(steps):
                order = range(len(clients)) if (step + r) % 2 == 0 else range(len(clients) - 1, -1, -1)
                for k in order:
                    clients[k].step(requests[k][step * args.connections : (step + 1) * args.connections])
            after = [(cpu_ns(c.pid), tree_ns(c.pid)) for c in clients]
            if r == 0:
                continue
            row = [((a[0] - b[0]) / per_round / 1000, (a[1] - b[1]) / per_round / 1000)
                   for a, b in zip(after, before, strict=True)]  # fmt: skip
            rows.append(row)
            cells = "  ".join(f"{server:7.1f} {tree:7.1f}" for server, tree in row)
            print(f"{r:<6}{cells}  {row[-1][0] / row[0][0]:7.3f}", flush=True)
    print()
    for label, i in (("server", 0), ("tree", 1)):
        medians = " -> ".join(f"{statistics.median(row[k][i] for row in rows):.1f}" for k in range(len(trees)))
        ratios = [row[-1][i] / row[0][i] for row in rows]
        print(f"{label:8} µs per invoke (medians) {medians}; per-round ratio last/first median "
              f"{statistics.median(ratios):.3f} (min {min(ratios):.3f}, max {max(ratios):.3f})")  # fmt: skip


def calls(tree: Path, invokes: int) -> float:
    """Python-level calls per warm invoke in `tree`'s server (cProfile; start-up cancelled out)."""
    totals = []
    for count in (invokes, 5 * invokes):
        with tempfile.TemporaryDirectory(prefix="nimbus-server-calls-") as out_dir:
            out = Path(out_dir) / "profile"
            with served(tree, 1, ("-m", "cProfile", "-o", str(out))) as client:
                for i in range(count):
                    client.step([client.signer.sign(body(i + 1))])
            totals.append(sum(entry[1] for entry in pstats.Stats(str(out)).stats.values()))  # type: ignore[attr-defined]
    return (totals[1] - totals[0]) / (4 * invokes)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tree", type=Path, action="append", required=True, help="a source tree (twice or more)")
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--steps", type=int, default=300, help="steps per round (one request per connection)")
    parser.add_argument("--connections", type=int, default=8, help="keep-alive connections per server")
    parser.add_argument("--calls", action="store_true", help="count Python-level calls per invoke instead")
    parser.add_argument("--invokes", type=int, default=1000, help="with --calls: the smaller run's invokes")
    args = parser.parse_args()
    trees = [tree.resolve() for tree in args.tree]
    if min(args.rounds, args.steps, args.connections, args.invokes) < 1:
        parser.error("--rounds, --steps, --connections and --invokes must be positive")
    load = os.getloadavg()
    print(f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; trees: " + ", ".join(map(str, trees)))
    if args.calls:
        for tree in trees:
            print(f"{tree}: {calls(tree, args.invokes):.1f} calls per invoke")
    else:
        heads = "  ".join(f"{'server':>7} {'tree':>7}" for _ in trees)
        print(f"\n{'round':6}{heads}  ratio (µs of CPU per invoke)")
        cpu(trees, args)
    load = os.getloadavg()
    print(f"load average at the end {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")


if __name__ == "__main__":
    main()
