"""A warm function through its function URL against a synchronous Invoke of the same function, in the same run.

Not a test: it prints numbers and ratios and never fails on timing (only when something cannot be started).

    .venv/bin/python bench/http_url.py [--rounds 3] [--requests 2000] [--seconds 5] [--connections 32]

One function (`bench-url`, python3.11, answers `{"statusCode": 200, "body": "ok"}` to any event) with an AuthType NONE
function URL (and the public resource policy it needs). Two requests, each built once and replayed verbatim:

- **invoke**: a SigV4-signed `POST /2015-03-31/functions/bench-url/invocations` with a 32-byte JSON payload;
- **url**: `POST /bench?x=1` with the same body to 127.0.0.1, `Host: <url-id>.lambda-url.us-east-1.localhost:<port>`
  (the URL's own host name), so the server builds a payload format 2.0 event and reads the reply as Lambda does.

Each round measures both. Latency: `--requests` sequential requests on one keep-alive connection per target,
alternating request by request (invoke, url, invoke, url...; url first in even rounds), so both see the same
load on a shared machine; p50 and p99. Throughput: requests per second over `--connections` keep-alive
connections, one target after the other, in alternating order (wrk when it is on PATH, else the asyncio client of
`_support.drive`). The target (issue 13): the URL adds at most 20% to the p50.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _support
from _support import (
    KEY,
    REGION,
    ROLE,
    SECRET,
    Target,
    lambda_client,
    nimbus_server,
    percentile,
    read_response,
    wrk_rate,
    zip_files,
)

FUNCTION = "bench-url"
BODY = b'{"bench": "http-url", "n": 1}'
HANDLER = 'def handler(event, context):\n    return {"statusCode": 200, "body": "ok"}\n'
P50_TARGET = 1.20


def deploy(client: Any) -> tuple[str, str]:
    """Create the function, its public URL, version 1 and alias `iam` with an AWS_IAM URL; warm both by Invoke.
    The two URLs' ids."""
    client.create_function(FunctionName=FUNCTION, Runtime="python3.11", Handler="app.handler", Role=ROLE,
                           Code={"ZipFile": zip_files({"app.py": HANDLER})}, MemorySize=128, Timeout=10)  # fmt: skip
    deadline = time.monotonic() + 60
    while client.get_function_configuration(FunctionName=FUNCTION).get("State") == "Pending":
        if time.monotonic() > deadline:
            raise SystemExit(f"{FUNCTION} still Pending after 60 s")
        time.sleep(0.1)
    public = client.create_function_url_config(FunctionName=FUNCTION, AuthType="NONE")["FunctionUrl"]
    client.add_permission(FunctionName=FUNCTION, StatementId="public", Action="lambda:InvokeFunctionUrl",
                          Principal="*", FunctionUrlAuthType="NONE")  # fmt: skip
    version = client.publish_version(FunctionName=FUNCTION)["Version"]
    client.create_alias(FunctionName=FUNCTION, Name="iam", FunctionVersion=version)
    private = client.create_function_url_config(FunctionName=FUNCTION, Qualifier="iam", AuthType="AWS_IAM")
    for qualifier in ("$LATEST", "iam"):
        resp = client.invoke(FunctionName=FUNCTION, Qualifier=qualifier, Payload=BODY)
        if resp.get("FunctionError") or json.loads(resp["Payload"].read())["body"] != "ok":
            raise SystemExit(f"{FUNCTION}:{qualifier}: warm-up invoke failed")
    ids = []
    for url in (public, private["FunctionUrl"]):
        match = re.match(r"https?://([a-z0-9]+)\.lambda-url\.", url)
        if not match:
            raise SystemExit(f"unexpected FunctionUrl {url!r}")
        ids.append(match.group(1))
    return ids[0], ids[1]


def url_request(name: str, port: int, url_id: str, *, sign: bool = False) -> Target:
    """`POST /bench?x=1` to the URL by its Host name; signed once (SigV4, service lambda) when `sign`."""
    host = f"{url_id}.lambda-url.{REGION}.localhost:{port}"
    path = "/bench?x=1"
    headers = {"Host": host, "Content-Type": "application/json"}
    if sign:
        request = AWSRequest(method="POST", url=f"http://{host}{path}", data=BODY, headers=dict(headers))
        SigV4Auth(Credentials(KEY, SECRET), "lambda", REGION).add_auth(request)
        headers = {"Host": host, **{k: str(v) for k, v in request.headers.items()}}
    headers["Content-Length"] = str(len(BODY))
    head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    return Target(name, port, f"POST {path} HTTP/1.1\r\n{head}\r\n".encode() + BODY, headers, path)


def paired_latency(targets: list[Target], requests: int, warmup: int) -> tuple[dict[str, list[float]], int]:
    """Round-trip times in microseconds, one keep-alive connection per target, requests alternating between the
    targets one by one (so both see the same machine load at the same moment), and the non-200 count."""
    times: dict[str, list[float]] = {t.name: [] for t in targets}
    errors = 0
    socks = [socket.create_connection(("127.0.0.1", t.port)) for t in targets]
    try:
        bufs = [bytearray() for _ in targets]
        for i in range(warmup + requests):
            for target, sock, buf in zip(targets, socks, bufs, strict=True):
                start = time.perf_counter_ns()
                sock.sendall(target.request)
                status, _ = read_response(sock, buf)
                elapsed = (time.perf_counter_ns() - start) / 1000
                if i >= warmup:
                    times[target.name].append(elapsed)
                    errors += status != 200
    finally:
        for sock in socks:
            sock.close()
    return times, errors


def check_answers(targets: dict[str, Target]) -> None:
    """Each request once: the function's own answer must come back (not a platform error that happens to be 200)."""
    for name, target in targets.items():
        expected = b'{"statusCode": 200, "body": "ok"}' if name == "invoke" else b"ok"
        with socket.create_connection(("127.0.0.1", target.port)) as sock:
            sock.sendall(target.request)
            status, body = read_response(sock, bytearray())
        if status != 200 or body != expected:
            raise SystemExit(f"{name}: unexpected answer {status} {body[:200]!r}")


def throughput(target: Target, connections: int, seconds: float, tmp: Path) -> tuple[float, int]:
    """Successful requests per second over `connections` keep-alive connections (after a 1 s warm-up run that
    brings instances up to that concurrency), and the non-200 count."""
    wrk = shutil.which("wrk")
    if wrk is None:
        asyncio.run(_support.drive(target.port, lambda: target.request, _support.status_is(200), connections, 1.0))
        rate = asyncio.run(
            _support.drive(target.port, lambda: target.request, _support.status_is(200), connections, seconds)
        )
        return rate.per_second, rate.failed
    script = tmp / f"{target.name}.lua"
    lines = ['wrk.method = "POST"', f"wrk.body = {json.dumps(BODY.decode())}"]
    lines += [f"wrk.headers[{json.dumps(k)}] = {json.dumps(v)}" for k, v in target.headers.items()]
    script.write_text("\n".join(lines) + "\n")
    url = f"http://127.0.0.1:{target.port}{target.path}"
    for duration in (1, max(1, round(seconds))):
        result = subprocess.run([wrk, "-t", "2", "-c", str(connections), "-d", f"{duration}s", "-s", str(script), url],
                                capture_output=True, text=True, check=True, timeout=duration + 60)  # fmt: skip
    return wrk_rate(result.stdout, seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3, help="alternating invoke/url measurement rounds")
    parser.add_argument("--requests", type=int, default=2000, help="sequential requests for latency")
    parser.add_argument("--warmup", type=int, default=200, help="sequential requests before measuring")
    parser.add_argument("--seconds", type=float, default=5.0, help="duration of each throughput run")
    parser.add_argument("--connections", type=int, default=32, help="concurrent connections for throughput")
    args = parser.parse_args()
    if min(args.rounds, args.requests, args.connections) < 1 or args.seconds <= 0:
        parser.error("--rounds, --requests, --seconds and --connections must be positive")

    client = "wrk" if shutil.which("wrk") else "asyncio client"
    print(f"function URL vs sync Invoke: {args.rounds} rounds; {args.requests} sequential requests; "
          f"{args.connections} connections x {args.seconds:g} s ({client}); body {len(BODY)} bytes")  # fmt: skip
    rows: list[tuple[int, str, float, float, float, int]] = []
    with tempfile.TemporaryDirectory(prefix="nimbus-bench-") as tmp_name:
        tmp = Path(tmp_name)
        with nimbus_server(tmp, "--keep-alive", "600") as server:
            public_id, iam_id = deploy(lambda_client(server.port))
            targets = {"invoke": _support.signed_invoke("invoke", server.port, FUNCTION, BODY),
                       "url": url_request("url", server.port, public_id),
                       "url-iam": url_request("url-iam", server.port, iam_id, sign=True)}  # fmt: skip
            check_answers(targets)
            names = list(targets)
            for round_no in range(1, args.rounds + 1):
                shift = (round_no - 1) % len(names)
                order = names[shift:] + names[:shift]
                times, lat_errors = paired_latency([targets[name] for name in order], args.requests, args.warmup)
                for name in order:
                    rate, tp_errors = throughput(targets[name], args.connections, args.seconds, tmp)
                    t = times[name]
                    rows.append((round_no, name, percentile(t, 0.5), percentile(t, 0.99), rate, tp_errors))
                if lat_errors:
                    print(f"  warning: round {round_no}: {lat_errors} non-200 responses in the latency run")

    print(f"\n{'round':<7}{'':9}{'p50 µs':>10}{'p99 µs':>10}{'req/s':>10}{'non-200':>9}")
    for round_no, name, p50, p99, rate, errors in rows:
        print(f"{round_no:<7}{name:9}{p50:>10.0f}{p99:>10.0f}{rate:>10.0f}{errors:>9}")
    print()
    for url in ("url", "url-iam"):
        p50_ratios, rps_ratios = [], []
        for round_no in range(1, args.rounds + 1):
            got = {name: (p50, rate) for r, name, p50, _, rate, _ in rows if r == round_no}
            p50_ratios.append(got[url][0] / got["invoke"][0])
            rps_ratios.append(got[url][1] / got["invoke"][1] if got["invoke"][1] else 0.0)
        p50_ratio, rps_ratio = statistics.median(p50_ratios), statistics.median(rps_ratios)
        listed = ", ".join(f"{r:.2f}" for r in p50_ratios)
        print(f"{url:8} p50 {p50_ratio:.2f}x invoke (rounds {listed}; target <= {P50_TARGET:.2f}x: "
              f"{'met' if p50_ratio <= P50_TARGET else 'missed'}); req/s {rps_ratio:.2f}x invoke "
              f"(rounds {', '.join(f'{r:.2f}' for r in rps_ratios)})")  # fmt: skip


if __name__ == "__main__":
    main()
