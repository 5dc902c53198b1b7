"""Warm invoke latency through the Runtime API (custom runtimes) against the built-in Python runtime, same run.

Not a test: it prints p50/p99 and ratios, and never fails on timing (only when something cannot be started).

    python bench/runtime_api.py [--requests 2000] [--warmup 200] [--rounds 2]

Three functions on one real `nimbus serve`, all returning their event:
- `builtin`: python3.11, the built-in runtime (frames straight to the instance);
- `provided-loop`: provided.al2023 whose bootstrap is a 10-line stdlib http.client loop on the Runtime API;
- `provided-ric`: provided.al2023 running the official `awslambdaric` (when it is installed here).
Each is invoked sequentially over one keep-alive connection with one pre-signed request (the bytes of
bench/warm_invoke.py's latency probe); rounds interleave the functions so machine noise hits all alike.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _support import deploy, lambda_client, nimbus_server, percentile, signed_invoke
from warm_invoke import BODY, latency

PY = f"python3.{sys.version_info.minor}"
ECHO = "def handler(e, c):\n    return e\n"
LOOP = """#!/bin/sh
exec /var/lang/bin/python3 -u - <<'EOF'
import http.client, os
host, port = os.environ["AWS_LAMBDA_RUNTIME_API"].split(":")
conn = http.client.HTTPConnection(host, int(port))
while True:
    conn.request("GET", "/2018-06-01/runtime/invocation/next")
    resp = conn.getresponse()
    event = resp.read()
    rid = resp.getheader("Lambda-Runtime-Aws-Request-Id")
    conn.request("POST", "/2018-06-01/runtime/invocation/%s/response" % rid, body=event)
    conn.getresponse().read()
EOF
"""


def _ric_files() -> dict[str, bytes | str] | None:
    spec = importlib.util.find_spec("awslambdaric")
    if spec is None or spec.origin is None:
        return None
    site = Path(spec.origin).parent.parent
    files: dict[str, bytes | str] = {
        "bootstrap": "#!/bin/sh\nexport PYTHONPATH=/var/task/lib\n"
        f"exec /var/lang/bin/{PY} -m awslambdaric app.handler\n",
        "app.py": ECHO,
    }
    for package in ("awslambdaric", "simplejson"):
        for path in (site / package).rglob("*"):
            if path.is_file() and "__pycache__" not in path.parts:
                files[f"lib/{path.relative_to(site).as_posix()}"] = path.read_bytes()
    for single in [*site.glob("runtime_client*.so"), site / "snapshot_restore_py.py"]:
        files[f"lib/{single.name}"] = single.read_bytes()
    return files


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=2000, help="sequential requests per function per round")
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    functions: dict[str, tuple[str, dict[str, bytes | str], str]] = {
        "builtin": ("python3.11", {"app.py": ECHO}, "app.handler"),
        "provided-loop": ("provided.al2023", {"bootstrap": LOOP}, "function.handler"),
    }
    ric = _ric_files()
    if ric is not None:
        functions["provided-ric"] = ("provided.al2023", ric, "app.handler")
    else:
        print("awslambdaric is not installed here: skipping provided-ric")
    times: dict[str, list[float]] = {name: [] for name in functions}
    with (
        tempfile.TemporaryDirectory(prefix="nimbus-bench-") as tmp,
        nimbus_server(Path(tmp), "--keep-alive", "600") as server,
    ):
        port = server.port
        client = lambda_client(port)
        for name, (runtime, files, handler) in functions.items():
            deploy(client, f"bench-{name}", runtime, files, handler, BODY, memory=256)
        for _ in range(args.rounds):
            for name in functions:
                measured, errors = latency(signed_invoke(name, port, f"bench-{name}", BODY), args.requests, args.warmup)
                if errors:
                    print(f"  warning: {name}: {errors} non-200 responses")
                times[name] += measured
    print(f"warm invoke, {args.rounds} x {args.requests} sequential requests per function, payload {len(BODY)} bytes")
    print(f"\n{'':16}{'p50 µs':>10}{'p99 µs':>10}{'p50 ratio':>11}")
    base = percentile(times["builtin"], 0.5)
    for name, values in times.items():
        p50, p99 = percentile(values, 0.5), percentile(values, 0.99)
        print(f"{name:16}{p50:>10.0f}{p99:>10.0f}{p50 / base:>10.2f}x")


if __name__ == "__main__":
    main()
