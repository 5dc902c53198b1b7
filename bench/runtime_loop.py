"""The instance side of a warm invoke alone: this process drives one Python runtime over its control socket.

    .venv/bin/python bench/runtime_loop.py [--invokes 20000] [--rounds 5] [--tree DIR ...] [--handler noop|print]
        [--in-process]

No server: a bootstrap (`python3.11 -I -S -u -X utf8 bootstrap.py`, as `instances/environment.py` starts an
unsandboxed one) is started with its end of a socketpair and a pipe for its stdout/stderr, and this process sends
INVOKE frames one after another, each with a fresh request id and body, reading each reply (and draining the pipe)
before the next, as the server does. It reports the runtime process's CPU per invoke (from
`/proc/<pid>/schedstat`, nanoseconds) and the round trip's p50. With several `--tree`s (source trees, e.g. a
worktree at main beside yours) the rounds alternate between them, so each pair is measured in the same minutes;
the ratio of each pair is the steadiest figure. Never fails on timing.

`--in-process` takes the context switches out: a python3.11 per tree loads that tree's runtime (as a zygote does)
and serves `--invokes` INVOKE frames written ahead into its own socketpair, timing the loop's `receive` and `handle`
with `time.process_time` (the runtime's Python work and its syscalls, without the sleeps and wake-ups).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any, TypeVar

T = TypeVar("T")
HANDLERS = {
    "noop": "def handler(event, context):\n    return event\n",
    "print": "def handler(event, context):\n    print('hello', event['n'])\n    return event\n",
}


def _codec(tree: Path) -> ModuleType:
    path = tree / "src/nimbus/protocol/frames.py"
    spec = importlib.util.spec_from_file_location(f"_frames_{abs(hash(str(tree)))}", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _trace_id() -> str:
    """A fresh X-Ray trace header, as the server makes one for each invocation (`environment.trace_header`)."""
    bits = os.urandom(20).hex()
    return f"Root=1-{int(time.time()):08x}-{bits[:24]};Parent={bits[24:]};Sampled=0"


def _rss_kb(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))


def _cpu_ns(pid: int) -> int:
    with open(f"/proc/{pid}/schedstat") as f:
        return int(f.read().split()[0])


#: the baseline: the relay's worker (bench/relay_server.py) speaking frames, a blocking recv / sendall loop that
#: answers each INVOKE with a RESULT of its body, its header written once
WORKER = """
import socket, struct, sys
sock = socket.socket(fileno=int(sys.argv[-1]))
recv, send, prefix = sock.recv, sock.sendall, struct.Struct(">II")
READY, RESULT = b'{"kind":"ready"}', b'{"kind":"result","max_rss_kb":0}'
send(prefix.pack(len(READY), 0) + READY)
buf = b""
while True:
    while len(buf) < 8:
        chunk = recv(65536)
        if not chunk:
            sys.exit(0)
        buf += chunk
    head, body = prefix.unpack_from(buf)
    end = 8 + head + body
    while len(buf) < end:
        buf += recv(65536)
    send(prefix.pack(len(RESULT), body) + RESULT + buf[8 + head : end])
    buf = buf[end:]
"""


class Runtime:
    """One bootstrap from `tree`, serving `handler` from a temporary task root (`worker`: the baseline instead)."""

    def __init__(self, tree: Path, handler: str, task_root: Path, worker: bool = False) -> None:
        self.codec = _codec(tree)
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        out_r, out_w = os.pipe()
        os.set_blocking(out_r, False)
        env = {
            "_HANDLER": "app.handler",
            "AWS_LAMBDA_FUNCTION_NAME": "bench",
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128",
            "AWS_LAMBDA_LOG_GROUP_NAME": "/aws/lambda/bench",
            "AWS_LAMBDA_LOG_STREAM_NAME": "s",
            "PATH": "/usr/bin:/bin",
        }
        runtime = tree / "src/nimbus/runtimes/python"
        argv = [
            "/usr/bin/python3.11",
            "-I",
            "-S",
            "-u",
            "-X",
            "utf8",
            str(runtime / "bootstrap.py"),
            str(tree / "src/nimbus/protocol/frames.py"),
            str(theirs.fileno()),
            str(task_root),
        ]
        if worker:
            argv = ["/usr/bin/python3.11", "-S", "-c", WORKER, str(theirs.fileno())]
        self.proc = subprocess.Popen(argv, env=env, stdout=out_w, stderr=out_w, pass_fds=(theirs.fileno(),))
        theirs.close()
        os.close(out_w)
        self.sock, self.out = ours, out_r
        self.decoder = self.codec.FrameDecoder()
        ready = self._frame()
        assert ready.kind == self.codec.READY, ready

    def _frame(self) -> Any:
        while True:
            data = self.sock.recv(1 << 18)
            if not data:
                raise RuntimeError("runtime closed its socket")
            frames = self.decoder.feed(data)
            if frames:
                return frames[0]

    def _drain(self) -> None:
        try:
            while os.read(self.out, 65536):
                pass
        except BlockingIOError:
            pass

    def invoke(self, n: int) -> float:
        codec = self.codec
        header = codec.invoke_header(
            str(uuid.uuid4()),
            int(time.time() * 1000) + 60_000,
            "arn:aws:lambda:us-east-1:000000000000:function:bench",
            _trace_id(),
            None,
            0,
        )
        body = b'{"bench": "runtime-loop", "n": "%09d"}' % n
        started = time.perf_counter()
        self.sock.sendall(codec.encode(codec.INVOKE, header, body))
        frame = self._frame()
        elapsed = time.perf_counter() - started
        assert frame.kind == codec.RESULT, frame
        assert frame.body == body, frame
        self._drain()
        return elapsed

    def round(self, invokes: int) -> tuple[float, float]:
        """(runtime CPU µs per invoke, p50 µs) over `invokes` invokes."""
        before = _cpu_ns(self.proc.pid)
        times = [self.invoke(n) for n in range(invokes)]
        cpu = (_cpu_ns(self.proc.pid) - before) / invokes / 1000
        return cpu, statistics.median(times) * 1e6

    def stop(self) -> None:
        self.sock.close()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self.out)


IN_PROCESS = r"""
import os, socket, sys, time
tree, invokes = sys.argv[1], int(sys.argv[2])
import importlib.util
spec = importlib.util.spec_from_file_location("_nimbus_bootstrap", tree + "/src/nimbus/runtimes/python/bootstrap.py")
bootstrap = importlib.util.module_from_spec(spec)
spec.loader.exec_module(bootstrap)
codec = bootstrap._load_codec(tree + "/src/nimbus/protocol/frames.py")
ours, theirs = socket.socketpair()
loop = bootstrap.InvokeLoop(bootstrap.Channel(codec, theirs.detach()))
handler = lambda event, context: event
arn = "arn:aws:lambda:us-east-1:000000000000:function:bench"
def frame(n):
    bits = os.urandom(20).hex()
    trace = "Root=1-%08x-%s;Parent=%s;Sampled=0" % (int(time.time()), bits[:24], bits[24:])
    header = codec.invoke_header("%08x-0000-4000-8000-%012x" % (n, n), 2**41, arn, trace, None, 0)
    return codec.encode(codec.INVOKE, header, b'{"bench": "runtime-loop", "n": "%09d"}' % n)
batches = [[frame(n + k) for k in range(50)] for n in range(0, invokes, 50)]
channel, handle, cpu = loop.channel, loop.handle, 0.0
for batch in batches:  # 50 frames fit the socket buffers both ways: written ahead, replies read after
    ours.sendall(b"".join(batch))
    started = time.process_time()
    for _ in batch:
        received = channel.receive()
        handle(channel, handler, received.header, received.body)
    cpu += time.process_time() - started
    want = sum(len(codec.encode(codec.RESULT, {"max_rss_kb": 0}, b"")) for _ in batch)
    got = 0
    while got < want:
        got += len(ours.recv(1 << 20))
print(cpu / (len(batches) * 50) * 1e6)
"""


def in_process(tree: Path, invokes: int) -> float:
    """CPU µs per invoke of `tree`'s runtime loop serving frames written ahead (no sleeps, no wake-ups)."""
    with tempfile.TemporaryDirectory() as tmp:
        out = subprocess.run(
            ["/usr/bin/python3.11", "-I", "-S", "-u", "-X", "utf8", "-c", IN_PROCESS, str(tree), str(invokes)],
            capture_output=True,
            text=True,
            check=True,
            cwd=tmp,
            timeout=600,
        )
    return float(out.stdout.split()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--invokes", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--tree", action="append", type=Path, help="source tree (repeat to compare); default: this")
    parser.add_argument("--handler", choices=sorted(HANDLERS), default="noop")
    parser.add_argument("--in-process", action="store_true", help="the loop's own CPU, no context switches")
    parser.add_argument("--worker", action="store_true", help="also the baseline: a relay-like worker speaking frames")
    args = parser.parse_args()
    trees = [tree.resolve() for tree in args.tree or [Path(__file__).parent.parent]]
    if args.in_process:
        compare_in_process(trees, args)
        return
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "app.py").write_text(HANDLERS[args.handler])
        runtimes = [Runtime(tree, args.handler, Path(tmp)) for tree in trees]
        names = [str(tree) for tree in trees]
        if args.worker:
            runtimes.append(Runtime(trees[0], args.handler, Path(tmp), worker=True))
            names.append("relay-like worker")
        try:
            for runtime in runtimes:
                runtime.round(min(2000, args.invokes))  # warm-up
            pids = " ".join(str(r.proc.pid) for r in runtimes)
            print(f"load average {os.getloadavg()[0]:.1f}; runtime pids {pids}", flush=True)
            print(f"{'round':<6} {'tree':<40} {'CPU µs/invoke':>14} {'p50 µs':>8}")

            def measure(i: int) -> tuple[float, float]:
                cpu, p50 = runtimes[i].round(args.invokes)
                print(f"{names[i]:<47} {cpu:>14.1f} {p50:>8.1f}", flush=True)
                return cpu, p50

            results = alternating(args.rounds, len(runtimes), measure)
            print(f"load average {os.getloadavg()[0]:.1f}")
            for i, name in enumerate(names):
                cpus = [c for c, _ in results[i]]
                print(f"median {name:<40} {statistics.median(cpus):>14.1f} "
                      f"{statistics.median(p for _, p in results[i]):>8.1f}")  # fmt: skip
                if 0 < i < len(trees):
                    ratios(names[0], cpus, [c for c, _ in results[0]])
                if args.worker and i < len(trees):
                    ratios(names[-1], cpus, [c for c, _ in results[-1]])
        finally:
            for runtime in runtimes:
                runtime.stop()


def alternating(rounds: int, count: int, measure: Callable[[int], T]) -> list[list[T]]:
    """`rounds` rounds of `measure(i)` for each of `count` subjects, every other round in reverse order (so each
    pair is measured in the same minutes, neither always first); the results by subject."""
    results: list[list[T]] = [[] for _ in range(count)]
    for r in range(rounds):
        print(f"round {r + 1}")
        for i in reversed(range(count)) if r % 2 else range(count):
            results[i].append(measure(i))
    return results


def ratios(against: str, values: list[float], base: list[float]) -> None:
    each = [v / b for v, b in zip(values, base, strict=True)]
    print(f"  CPU vs {against}: per-round ratios {', '.join(f'{x:.2f}' for x in each)}; "
          f"median {statistics.median(each):.2f}")  # fmt: skip


def compare_in_process(trees: list[Path], args: argparse.Namespace) -> None:
    print(f"load average {os.getloadavg()[0]:.1f}")

    def measure(i: int) -> float:
        cpu = in_process(trees[i], args.invokes)
        print(f"{trees[i]!s:<47} {cpu:>8.2f} µs/invoke (in-process)", flush=True)
        return cpu

    results = alternating(args.rounds, len(trees), measure)
    print(f"load average {os.getloadavg()[0]:.1f}")
    for i, tree in enumerate(trees):
        print(f"median {tree!s:<40} {statistics.median(results[i]):>8.2f}")
        if i:
            ratios(str(trees[0]), results[i], results[0])


if __name__ == "__main__":
    main()
