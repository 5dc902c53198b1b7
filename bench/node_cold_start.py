"""Cold start of the Node.js runtime: spawn → READY of `bootstrap.mjs` with a hello handler, against `node -e 0`.

Not a test: it prints medians and ratios measured in the same run, and never fails on timing (only when node or
the bootstrap cannot be started).

    python bench/node_cold_start.py [--runs 20] [--node /usr/bin/node] [--bootstrap path/to/bootstrap.mjs]

Every run posix_spawns a fresh process the way the server does (control socketpair on fd 3, stdout/stderr on a
pipe, an environment built from scratch). Measured, interleaved so that machine noise hits all alike:

- `node -e 0`: spawn → exit, the floor for any Node process;
- bootstrap → READY: spawn → the READY frame on the control socket (init done, handler loaded);
- bootstrap → first result: spawn → the result of the first invoke (what a cold invoke costs the runtime).
"""

from __future__ import annotations

import argparse
import json
import os
import selectors
import shutil
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from nimbus.protocol import frames  # noqa: E402

BOOTSTRAP = ROOT / "src/nimbus/runtimes/nodejs/bootstrap.mjs"
CONTROL_FD = 3
HELLO = "exports.handler = async (event) => ({ hello: 'world', event });\n"


def _env(task_root: Path, runtime_dir: Path) -> dict[str, str]:
    return {
        "PATH": "/usr/local/bin:/usr/bin/:/bin:/opt/bin",
        "LANG": "en_US.UTF-8",
        "TZ": ":UTC",
        "_HANDLER": "index.handler",
        "AWS_EXECUTION_ENV": "AWS_Lambda_nodejs20.x",
        "AWS_LAMBDA_FUNCTION_NAME": "bench-hello",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_LOG_GROUP_NAME": "/aws/lambda/bench-hello",
        "AWS_LAMBDA_LOG_STREAM_NAME": "2024/01/01/[$LATEST]00000000000000000000000000000000",
        "LAMBDA_TASK_ROOT": str(task_root),
        "LAMBDA_RUNTIME_DIR": str(runtime_dir),
        "NODE_PATH": "/opt/nodejs/node20/node_modules:/opt/nodejs/node_modules",
    }


def _spawn(argv: list[str], env: dict[str, str]) -> tuple[int, socket.socket, int]:
    parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    out_r, out_w = os.pipe()
    child_fd = child.fileno()
    moved: list[int] = []
    try:
        while child_fd <= CONTROL_FD:
            child_fd = os.dup(child_fd)
            moved.append(child_fd)
        pid = os.posix_spawn(
            argv[0],
            argv,
            env,
            file_actions=[
                (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
                (os.POSIX_SPAWN_DUP2, out_w, 1),
                (os.POSIX_SPAWN_DUP2, out_w, 2),
                (os.POSIX_SPAWN_DUP2, child_fd, CONTROL_FD),
            ],
        )
    finally:
        child.close()
        os.close(out_w)
        for fd in moved:
            os.close(fd)
    return pid, parent, out_r


def _read_frame(sock: socket.socket, out_fd: int, decoder: frames.FrameDecoder, timeout_s: float = 10) -> frames.Frame:
    deadline = time.monotonic() + timeout_s
    with selectors.DefaultSelector() as sel:
        sel.register(sock, selectors.EVENT_READ)
        sel.register(out_fd, selectors.EVENT_READ)
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("the bootstrap sent no frame")
            for key, _ in sel.select(remaining):
                if key.fileobj is sock:
                    data = sock.recv(65536)
                    if not data:
                        raise RuntimeError("the bootstrap closed the control socket")
                    got = decoder.feed(data)
                    if got:
                        return got[0]
                elif not os.read(out_fd, 65536):
                    sel.unregister(out_fd)


def node_e0(node: str) -> float:
    start = time.perf_counter()
    pid, sock, out_fd = _spawn([node, "-e", "0"], {"PATH": "/usr/bin:/bin"})
    os.waitpid(pid, 0)
    elapsed = time.perf_counter() - start
    sock.close()
    os.close(out_fd)
    return elapsed


def bootstrap(node: str, script: Path, task_root: Path) -> tuple[float, float]:
    """(spawn → READY, spawn → first result), in seconds."""
    start = time.perf_counter()
    pid, sock, out_fd = _spawn([node, str(script)], _env(task_root, script.parent))
    decoder = frames.FrameDecoder()
    try:
        frame = _read_frame(sock, out_fd, decoder)
        ready = time.perf_counter() - start
        if frame.kind != frames.READY:
            raise RuntimeError(f"init failed: {frame.body.decode()}")
        header = frames.invoke_header("bench-1", int(time.time() * 1000) + 10_000, "arn:aws:lambda:bench")
        sock.sendall(frames.encode(frames.INVOKE, header, b'{"n": 1}'))
        result = _read_frame(sock, out_fd, decoder)
        first = time.perf_counter() - start
        if result.kind != frames.RESULT or json.loads(result.body)["hello"] != "world":
            raise RuntimeError(f"unexpected result: {result}")
    finally:
        sock.close()  # EOF: the bootstrap exits 0
        os.waitpid(pid, 0)
        os.close(out_fd)
    return ready, first


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--node", default=shutil.which("node") or "/usr/bin/node")
    parser.add_argument("--bootstrap", type=Path, default=BOOTSTRAP)
    args = parser.parse_args()
    node = os.path.realpath(args.node)
    script = args.bootstrap.resolve()
    with tempfile.TemporaryDirectory(prefix="nimbus-node-bench-") as tmp:
        task_root = Path(tmp)
        (task_root / "index.js").write_text(HELLO)
        node_e0(node), bootstrap(node, script, task_root)  # warm the page cache
        base: list[float] = []
        ready: list[float] = []
        first: list[float] = []
        for _ in range(args.runs):
            base.append(node_e0(node))
            r, f = bootstrap(node, script, task_root)
            ready.append(r)
            first.append(f)
    version = os.popen(f"{node} --version").read().strip()
    med = {name: statistics.median(xs) * 1000 for name, xs in (("base", base), ("ready", ready), ("first", first))}
    print(f"node cold start: {node} {version}, {args.runs} runs each (interleaved), medians\n")
    print(f"    node -e 0 (spawn -> exit)               {med['base']:7.1f} ms")
    print(f"    {script.name:<16} (spawn -> READY)        {med['ready']:7.1f} ms")
    print(f"    {script.name:<16} (spawn -> first result) {med['first']:7.1f} ms\n")
    print(f"    READY / node -e 0          {med['ready'] / med['base']:.2f}x  (+{med['ready'] - med['base']:.1f} ms)")
    print(f"    first result / node -e 0   {med['first'] / med['base']:.2f}x  (+{med['first'] - med['base']:.1f} ms)")


if __name__ == "__main__":
    main()
