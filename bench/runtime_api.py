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
import io
import json
import sys
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Any

import boto3
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials

sys.path.insert(0, str(Path(__file__).resolve().parent))
from warm_invoke import BODY, KEY, REGION, SECRET, Target, _pct, latency, nimbus_server

ROLE = "arn:aws:iam::000000000000:role/nimbus"
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


def _zip(files: dict[str, bytes | str]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, content in files.items():
            info = zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0))
            info.external_attr = (0o100755 if name == "bootstrap" else 0o100644) << 16
            zf.writestr(info, content)
    return buf.getvalue()


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


def deploy(client: Any, name: str, runtime: str, files: dict[str, bytes | str], handler: str) -> None:
    client.create_function(FunctionName=name, Runtime=runtime, Handler=handler, Role=ROLE,
                           Code={"ZipFile": _zip(files)}, MemorySize=256, Timeout=10)  # fmt: skip
    deadline = time.monotonic() + 60
    while client.get_function_configuration(FunctionName=name).get("State") == "Pending":
        if time.monotonic() > deadline:
            raise SystemExit(f"{name} still Pending after 60 s")
        time.sleep(0.1)
    resp = client.invoke(FunctionName=name, Payload=BODY)
    payload = resp["Payload"].read()
    if resp.get("FunctionError") or json.loads(payload) != json.loads(BODY):
        raise SystemExit(f"{name}: warm-up invoke failed: {resp.get('FunctionError')} {payload!r}")


def target(name: str, port: int) -> Target:
    host = f"127.0.0.1:{port}"
    path = f"/2015-03-31/functions/{name}/invocations"
    request = AWSRequest(method="POST", url=f"http://{host}{path}", data=BODY)
    SigV4Auth(Credentials(KEY, SECRET), "lambda", REGION).add_auth(request)
    headers = {"Host": host, **{k: str(v) for k, v in request.headers.items()}}
    headers["Content-Length"] = str(len(BODY))
    head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    return Target(name, port, f"POST {path} HTTP/1.1\r\n{head}\r\n".encode() + BODY, headers, path)


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
    with tempfile.TemporaryDirectory(prefix="nimbus-bench-") as tmp, nimbus_server(Path(tmp)) as port:
        client: Any = boto3.client("lambda", endpoint_url=f"http://127.0.0.1:{port}", region_name=REGION,
                                   aws_access_key_id=KEY, aws_secret_access_key=SECRET,
                                   config=Config(retries={"max_attempts": 0}, read_timeout=120))  # fmt: skip
        for name, (runtime, files, handler) in functions.items():
            deploy(client, f"bench-{name}", runtime, files, handler)
        for _ in range(args.rounds):
            for name in functions:
                measured, errors = latency(target(f"bench-{name}", port), args.requests, args.warmup)
                if errors:
                    print(f"  warning: {name}: {errors} non-200 responses")
                times[name] += measured
    print(f"warm invoke, {args.rounds} x {args.requests} sequential requests per function, payload {len(BODY)} bytes")
    print(f"\n{'':16}{'p50 µs':>10}{'p99 µs':>10}{'p50 ratio':>11}")
    base = _pct(times["builtin"], 0.5)
    for name, values in times.items():
        p50, p99 = _pct(values, 0.5), _pct(values, 0.99)
        print(f"{name:16}{p50:>10.0f}{p99:>10.0f}{p50 / base:>10.2f}x")


if __name__ == "__main__":
    main()
