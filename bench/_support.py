"""What every benchmark needs: a real `nimbus serve` on loopback, a boto3 client for it, a function deployed and
warmed, one SigV4-signed request to replay, and the raw-HTTP keep-alive load (`drive`) that times such requests,
with the sync-invoke baseline the event-source benchmarks measure against. No botocore call is timed here."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import os
import re
import socket
import subprocess
import sys
import time
import zipfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials

ROOT = Path(__file__).resolve().parent.parent
KEY, SECRET, REGION = "test", "test", "us-east-1"
ROLE = "arn:aws:iam::000000000000:role/nimbus"


@dataclass
class Server:
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path


@dataclass
class Target:
    name: str
    port: int
    request: bytes  # the complete raw HTTP request, replayed verbatim
    headers: dict[str, str]
    path: str


def stop(proc: subprocess.Popen[Any]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextlib.contextmanager
def nimbus_server(
    tmp: Path, *extra: str, tree: Path | None = None, python_args: Sequence[str] = ()
) -> Iterator[Server]:
    """`nimbus serve --port 0` on loopback with a temporary data dir; waits for the ready file, stops at the end.
    `tree`: the source tree to run (its `src`; default: the installed nimbus); `python_args`: before `-m nimbus...`
    (e.g. `-m cProfile -o FILE`)."""
    ready, log_path = tmp / "ready.json", tmp / "server.log"
    # NIMBUS_PURE_PYTHON stays: it picks the pure or compiled modules (src/nimbus/compiled.py), not a setting
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NIMBUS_", "AWS_")) or k == "NIMBUS_PURE_PYTHON"}
    if tree is not None:
        env["PYTHONPATH"] = str(tree / "src")
    cmd = [sys.executable, *python_args, "-m", "nimbus.cli.main", "serve", "--port", "0", "--data-dir",
           str(tmp / "data"), "--ready-file", str(ready), "--log-level", "warning", *extra]  # fmt: skip
    with log_path.open("ab") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=ROOT)
    try:
        deadline = time.monotonic() + 60
        while not ready.exists():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"nimbus serve did not become ready:\n{log_path.read_text()[-4000:]}")
            time.sleep(0.05)
        yield Server(int(json.loads(ready.read_text())["port"]), proc, log_path)
    finally:
        stop(proc)


def lambda_client(port: int, pool: int = 128) -> Any:
    return boto3.client(
        "lambda",
        endpoint_url=f"http://127.0.0.1:{port}",
        region_name=REGION,
        aws_access_key_id=KEY,
        aws_secret_access_key=SECRET,
        config=Config(max_pool_connections=pool, retries={"max_attempts": 0}, read_timeout=120, connect_timeout=10),
    )


def zip_files(files: dict[str, bytes | str]) -> bytes:
    """A deterministic zip; an entry named `bootstrap` is executable."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, content in files.items():
            info = zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0))
            info.external_attr = (0o100755 if name == "bootstrap" else 0o100644) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, content)
    return buf.getvalue()


def deploy(client: Any, name: str, runtime: str, files: dict[str, bytes | str], handler: str, body: bytes,
           memory: int = 128) -> None:  # fmt: skip
    """Create a function that echoes its event, wait until Active, and warm it with one invoke of `body`."""
    client.create_function(FunctionName=name, Runtime=runtime, Handler=handler, Role=ROLE,
                           Code={"ZipFile": zip_files(files)}, MemorySize=memory, Timeout=10)  # fmt: skip
    deadline = time.monotonic() + 60
    while client.get_function_configuration(FunctionName=name).get("State") == "Pending":
        if time.monotonic() > deadline:
            raise SystemExit(f"{name} still Pending after 60 s")
        time.sleep(0.1)
    resp = client.invoke(FunctionName=name, Payload=body)
    payload = resp["Payload"].read()
    if resp.get("FunctionError") or json.loads(payload) != json.loads(body):
        raise SystemExit(f"{name}: warm-up invoke failed: {resp.get('FunctionError')} {payload!r}")


def signed_invoke(label: str, port: int, function: str, body: bytes) -> Target:
    """Sign one Invoke request once (botocore SigV4); every replay sends these exact bytes."""
    host = f"127.0.0.1:{port}"
    path = f"/2015-03-31/functions/{function}/invocations"
    request = AWSRequest(method="POST", url=f"http://{host}{path}", data=body)
    SigV4Auth(Credentials(KEY, SECRET), "lambda", REGION).add_auth(request)
    headers = {"Host": host, **{k: str(v) for k, v in request.headers.items()}}
    headers["Content-Length"] = str(len(body))
    head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    return Target(label, port, f"POST {path} HTTP/1.1\r\n{head}\r\n".encode() + body, headers, path)


def content_length(head: bytes) -> int:
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value)
    raise ValueError(f"response without Content-Length: {head[:200]!r}")


def read_response(sock: socket.socket, buf: bytearray) -> tuple[int, bytes]:
    """(status, body) of the next response on a blocking socket; `buf` carries bytes past it to the next call."""
    while (end := buf.find(b"\r\n\r\n")) < 0:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("server closed the connection")
        buf += chunk
    head = bytes(buf[:end])
    total = end + 4 + content_length(head)
    while len(buf) < total:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("server closed the connection")
        buf += chunk
    body = bytes(buf[end + 4 : total])
    del buf[:total]
    return int(head.split(b" ", 2)[1]), body


# ---------------------------------------------------------------------------------------------- raw-HTTP load
#: what a response counted for: (units done, units failed) from its status and body (an invoke is one unit; a
#: ReceiveMessage, the messages it returned; a batch call, its Successful and Failed entries)
Check = Callable[[int, bytes], tuple[int, int]]


@dataclass
class Rate:
    elapsed: float
    done: int
    failed: int

    @property
    def per_second(self) -> float:
        return self.done / self.elapsed if self.elapsed > 0 else 0.0


def percentile(values: list[float], q: float) -> float:
    """The `q` quantile of `values` (nearest rank, no interpolation): what every report's p50/p99 means."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def wrk_rate(stdout: str, seconds: float) -> tuple[float, int]:
    """Successful requests per second of a wrk run lasting `seconds`, and its non-2xx/3xx count: wrk counts every
    answer in Requests/sec, so the errors are taken out, or a failing target would look fast."""
    rate = re.search(r"Requests/sec:\s+([\d.]+)", stdout)
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", stdout)
    if not rate:
        raise SystemExit(f"cannot parse wrk output:\n{stdout}")
    errors = int(non_2xx.group(1)) if non_2xx else 0
    return float(rate.group(1)) - errors / seconds, errors


def signed_request(port: int, service: str, path: str, body: bytes, headers: dict[str, str]) -> bytes:
    """One complete raw POST, SigV4-signed once by botocore (scope `service`), to replay or send as it is."""
    host = f"127.0.0.1:{port}"
    request = AWSRequest(method="POST", url=f"http://{host}{path}", data=body, headers=headers)
    SigV4Auth(Credentials(KEY, SECRET), service, REGION).add_auth(request)
    signed = {"Host": host, **{k: str(v) for k, v in request.headers.items()}, "Content-Length": str(len(body))}
    head = "".join(f"{k}: {v}\r\n" for k, v in signed.items())
    return f"POST {path} HTTP/1.1\r\n{head}\r\n".encode() + body


async def _connection(port: int, next_request: Callable[[], bytes | None], check: Check, stop_at: float,
                      totals: list[int]) -> None:  # fmt: skip
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    loop = asyncio.get_running_loop()
    try:
        while loop.time() < stop_at and (request := next_request()) is not None:
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            body = await reader.readexactly(content_length(head))
            done, failed = check(int(head.split(b" ", 2)[1]), body)
            totals[0] += done
            totals[1] += failed
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


async def drive(port: int, next_request: Callable[[], bytes | None], check: Check, connections: int,
                seconds: float) -> Rate:  # fmt: skip
    """`connections` keep-alive connections, each sending `next_request()` and waiting for its answer, until
    `seconds` pass or `next_request` returns None (a budget, or a pool of pre-signed requests, runs out)."""
    loop = asyncio.get_running_loop()
    totals = [0, 0]
    start = loop.time()
    await asyncio.gather(*(_connection(port, next_request, check, start + seconds, totals) for _ in range(connections)))
    return Rate(loop.time() - start, totals[0], totals[1])


def status_is(ok: int) -> Check:
    return lambda status, _body: (1, 0) if status == ok else (0, 1)


def sync_invoke_rate(port: int, function: str, body: bytes, connections: int, seconds: float) -> Rate:
    """The baseline of the event-source benchmarks: one signed RequestResponse Invoke of a warm `function`, replayed
    on `connections` keep-alive connections for 1 s (instances warm up to that concurrency), then for `seconds`."""
    request = signed_invoke("sync", port, function, body).request
    asyncio.run(drive(port, lambda: request, status_is(200), connections, 1.0))
    return asyncio.run(drive(port, lambda: request, status_is(200), connections, seconds))
