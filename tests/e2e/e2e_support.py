"""Helpers shared by the end-to-end tests (not a test module).

The session fixtures live in tests/conftest.py; its plain helpers (Server, start_server, make_zip, aws_cli)
are loaded here by path so that a future second conftest.py elsewhere cannot shadow them.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import json
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from nimbus.runtimes import sdk
from nimbus.runtimes.registry import node_binary

_CONFTEST = Path(__file__).resolve().parent.parent / "conftest.py"
_conftest = sys.modules.get("conftest")
if _conftest is None or Path(getattr(_conftest, "__file__", "")).resolve() != _CONFTEST:
    _spec = importlib.util.spec_from_file_location("nimbus_tests_conftest", _CONFTEST)
    assert _spec is not None
    assert _spec.loader is not None
    _conftest = importlib.util.module_from_spec(_spec)
    sys.modules["nimbus_tests_conftest"] = _conftest
    _spec.loader.exec_module(_conftest)

Server = _conftest.Server
start_server = _conftest.start_server
serving = _conftest.serving
delete_functions = _conftest.delete_functions
make_zip = _conftest.make_zip
aws_cli = _conftest.aws_cli
ACCESS_KEY: str = _conftest.ACCESS_KEY
SECRET_KEY: str = _conftest.SECRET_KEY
REGION: str = _conftest.REGION
NIMBUS: list[str] = _conftest.NIMBUS
ROOT: Path = _conftest.ROOT

ACCOUNT = "000000000000"
ROLE = "arn:aws:iam::000000000000:role/lambda-role"
LAST_MODIFIED_RE = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}\+0000$"
LOG_STREAM_RE = r"^\d{4}/\d{2}/\d{2}/\[\$LATEST\][0-9a-f]{32}$"

ECHO = "def handler(event, context):\n    return event\n"


def node_sdk_runtime() -> str:
    """The Node.js runtime (`nodejsNN.x`) whose functions get the AWS SDK v3 on this host; skips the test where
    there is no node, or no SDK (`make install` without npm)."""
    node = node_binary()
    if node is None:
        pytest.skip("no node on this host")
    if sdk.node_sdk() is None:
        pytest.skip("the Node.js SDK is not installed (make install without npm)")
    return f"nodejs{node[1]}.x"


def arn(name: str) -> str:
    return f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}"


def sha256_b64(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


def raw_client(server: Any, service: str = "lambda", *, access_key: str = ACCESS_KEY,
               secret_key: str = SECRET_KEY, read_timeout: int = 120) -> Any:
    """A client with client-side parameter validation OFF, so out-of-range values reach the server."""
    return boto3.client(
        service,
        endpoint_url=server.endpoint,
        region_name=REGION,
        aws_access_key_id=access_key,
        aws_secret_access_key=secret_key,
        config=Config(retries={"max_attempts": 0}, read_timeout=read_timeout, connect_timeout=5,
                      parameter_validation=False),
    )


def err(exc: ClientError) -> tuple[str, int]:
    return exc.response["Error"]["Code"], exc.response["ResponseMetadata"]["HTTPStatusCode"]


def expect_error(call: Callable[..., Any], codes: str | tuple[str, ...], status: int | tuple[int, ...],
                 *args: Any, **kwargs: Any) -> ClientError:
    """Call and require a ClientError with one of `codes` and one of `status`; returns the error."""
    codes = (codes,) if isinstance(codes, str) else codes
    statuses = (status,) if isinstance(status, int) else status
    with pytest.raises(ClientError) as info:
        call(*args, **kwargs)
    code, got = err(info.value)
    detail = f"expected {codes} / HTTP {statuses}, got {code} / HTTP {got}: {info.value.response.get('Error')}"
    assert code in codes, detail
    assert got in statuses, detail
    return info.value


def invoke_json(lam: Any, name: str, payload: Any = None, **kwargs: Any) -> tuple[dict[str, Any], Any]:
    """Invoke synchronously; returns (response, decoded JSON payload)."""
    body = json.dumps({} if payload is None else payload).encode()
    resp = lam.invoke(FunctionName=name, Payload=body, **kwargs)
    raw = resp["Payload"].read()
    return resp, json.loads(raw) if raw else None


def wait_active(lam: Any, name: str, timeout: float = 20.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        cfg = lam.get_function_configuration(FunctionName=name)
        if cfg.get("State") == "Active" or time.monotonic() > deadline:
            return cfg  # type: ignore[no-any-return]
        time.sleep(0.1)


def wait_for(check: Callable[[], Any], timeout: float = 30.0, step: float = 0.2) -> Any:
    """Call `check` every `step` seconds until it returns something truthy or `timeout` passes; its last value."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(step)


def receive_all(sqs: Any, url: str, count: int, timeout: float = 30.0) -> list[dict[str, Any]]:
    """Receive (with all message attributes) and delete the messages of queue `url` until `count` have come or
    `timeout` passes; those that came."""
    got: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    while len(got) < count and time.monotonic() < deadline:
        resp = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1,
                                   MessageAttributeNames=["All"])  # fmt: skip
        for m in resp.get("Messages", []):
            got.append(m)
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
    return got


def http(url: str, method: str = "GET", data: bytes | None = None,
         headers: dict[str, str] | None = None, timeout: float = 30) -> tuple[int, dict[str, str], bytes]:
    """Plain urllib request that returns (status, headers, body) for any status."""
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as e:
        with e:
            return e.code, dict(e.headers), e.read()


def signed(url: str, method: str = "GET", data: bytes = b"", *, access_key: str = ACCESS_KEY,
           secret_key: str = SECRET_KEY, service: str = "lambda",
           headers: dict[str, str] | None = None) -> AWSRequest:
    """A SigV4-signed request built by botocore's signer (send it with `send`)."""
    from botocore.auth import SigV4Auth

    req = AWSRequest(method=method, url=url, data=data, headers=dict(headers or {}))
    SigV4Auth(Credentials(access_key, secret_key), service, REGION).add_auth(req)
    return req


def send(req: AWSRequest, data: bytes | None = None) -> tuple[int, dict[str, str], bytes]:
    body = req.body if data is None else data
    if isinstance(body, str):
        body = body.encode()
    return http(req.url, req.method, data=body or None, headers=dict(req.headers.items()))


def error_code(headers: dict[str, str], body: bytes) -> str:
    """The error name as botocore would parse it (x-amzn-ErrorType header first, then body)."""
    lower = {k.lower(): v for k, v in headers.items()}
    code = lower.get("x-amzn-errortype", "")
    if not code:
        try:
            doc = json.loads(body)
            code = doc.get("__type") or doc.get("code") or doc.get("Code") or ""
        except ValueError:
            code = ""
    return code.split(":")[0].split("#")[-1]
