"""The API port against hostile clients (issue 10, items 3, 4, 7, 8a and the Slowloris bullet of 9), on a real
`nimbus serve` driven by raw sockets and boto3. Waits are for conditions (an answer, an EOF, RSS settling) with
bounds that only guard against hangs; nothing passes or fails on a timing."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from e2e_support import (
    ECHO,
    REGION,
    ROLE,
    Server,
    error_code,
    expect_error,
    make_zip,
    raw_client,
    send,
    serving,
    signed,
    start_server,
)

CREATE_BODY_MAX = 70_167_211
INVOKE_MAX = 6_291_456
BOUND_S = 30.0
MB = 1 << 20


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A server with a short header timeout, so that the Slowloris test waits one second, not ten."""
    yield from serving(tmp_path_factory, "hostile", "--header-timeout", "1", "--body-timeout", "2")


def head_of(req: AWSRequest, length: int) -> bytes:
    """The request line and headers of a signed request, declaring `length` body bytes."""
    path = req.url.split("/", 3)[3] if req.url.count("/") >= 3 else ""
    lines = [f"{req.method} /{path} HTTP/1.1"]
    lines += [f"{k}: {v}" for k, v in req.headers.items() if k.lower() != "content-length"]
    lines.append(f"Content-Length: {length}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def unsigned_head(server: Server, method: str, path: str, length: int) -> bytes:
    return (f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\nContent-Length: {length}\r\n\r\n").encode()


def read_answer(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """One response from a raw socket (status, lower-case headers, body)."""
    sock.settimeout(BOUND_S)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError(f"closed before an answer: {data!r}")
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    length = int(headers.get("content-length", "0"))
    while len(rest) < length:
        rest += sock.recv(65536)
    return int(lines[0].split()[1]), headers, rest[:length]


def answered_before_body(server: Server, head: bytes) -> tuple[int, str, dict[str, Any]]:
    """Send a head alone and read the answer: it must come without a single body byte sent."""
    with socket.create_connection(("127.0.0.1", server.port)) as sock:
        sock.sendall(head)
        status, headers, body = read_answer(sock)
    return status, error_code(headers, body), json.loads(body)


def vm_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


# ---------------------------------------------------------------------------------------------- item 3: at the headers


@pytest.mark.parametrize(
    ("method", "path"),
    [("POST", "/2015-03-31/functions"), ("PUT", "/2015-03-31/functions/f/code"),
     ("POST", "/2015-03-31/functions/f/invocations"), ("POST", "/2018-10-31/layers/l/versions")],
    ids=["create", "update-code", "invoke", "publish-layer"],
)  # fmt: skip
def test_unsigned_upload_refused_before_its_body(hostile: Server, method: str, path: str) -> None:
    status, code, body = answered_before_body(hostile, unsigned_head(hostile, method, path, CREATE_BODY_MAX))
    assert (status, code) == (403, "MissingAuthenticationTokenException"), body
    assert body["message"] == "Missing Authentication Token"


@pytest.mark.parametrize(
    ("path", "limit", "operation"),
    [("/2015-03-31/functions", CREATE_BODY_MAX, "CreateFunction"),
     ("/2015-03-31/functions/f/invocations", INVOKE_MAX, "InvokeFunction"),
     ("/2015-03-31/functions/f/versions", 256 * 1024, "PublishVersion")],
    ids=["create", "invoke", "control"],
)  # fmt: skip
def test_content_length_past_the_route_limit_refused_at_the_headers(
    hostile: Server, path: str, limit: int, operation: str
) -> None:
    req = signed(hostile.endpoint + path, "POST")
    status, code, body = answered_before_body(hostile, head_of(req, limit + 1))
    assert (status, code) == (413, "RequestEntityTooLargeException"), body
    assert body["message"] == f"Request must be smaller than {limit} bytes for the {operation} operation"


def test_content_length_at_the_create_limit_is_read(hostile: Server) -> None:
    """Exactly 70,167,211 bytes are read and judged as a request (here: not JSON), not refused for their size."""
    body = b" " * (CREATE_BODY_MAX - 2) + b"[]"
    status, headers, answer = send(signed(hostile.endpoint + "/2015-03-31/functions", "POST", body))
    assert (status, error_code(headers, answer)) == (400, "InvalidRequestContentException"), answer[:300]


def test_oversized_invoke_through_boto3_still_reads_413(hostile: Server) -> None:
    """boto3 sends the whole body before it reads: the refused body is read and dropped, so it sees the 413."""
    lam = raw_client(hostile)
    lam.create_function(
        FunctionName="big-payload",
        Runtime="python3.11",
        Role=ROLE,
        Handler="app.handler",
        Code={"ZipFile": make_zip({"app.py": ECHO})},
    )
    try:
        expect_error(
            lam.invoke,
            "RequestEntityTooLargeException",
            413,
            FunctionName="big-payload",
            Payload=b'"' + b"a" * (INVOKE_MAX - 1) + b'"',
        )
        assert lam.get_function(FunctionName="big-payload")  # the same client, still served
    finally:
        lam.delete_function(FunctionName="big-payload")


def _stall(server: Server, heads: list[bytes], send_mb: int) -> list[socket.socket]:
    """Open one connection per head, send it and `send_mb` MB of body (as far as the server reads), then stall."""
    socks = []
    for head in heads:
        sock = socket.create_connection(("127.0.0.1", server.port))
        sock.sendall(head)
        sock.settimeout(BOUND_S)
        with contextlib.suppress(OSError):  # a refused upload may be closed before all of it is sent
            for _ in range(send_mb):
                sock.sendall(b"\0" * MB)
        socks.append(sock)
    return socks


def _settled_rss(pid: int, below_mb: float) -> float:
    """RSS once it is under `below_mb` (freed buffers go back at the next sweep), or its value after BOUND_S."""
    deadline = time.monotonic() + BOUND_S
    rss = vm_rss_mb(pid)
    while rss > below_mb and time.monotonic() < deadline:
        time.sleep(0.2)
        rss = vm_rss_mb(pid)
    return rss


def test_stalled_uploads_do_not_hold_memory(tmp_path: Path) -> None:
    """20 unsigned uploads declaring 70 MB each (sending 30 MB, then stalling) and 20 with a forged signature (a
    valid scope, so read until the signature can be checked; sending 60 MB): RSS stays under the buffer budget
    plus a margin, and falls back near where it started once they close. Figures go to the test's output."""
    srv = start_server(tmp_path / "data", "--max-buffered-mb", "100", "--header-timeout", "60", "--body-timeout", "60")
    try:
        pid = srv.process.pid
        raw_client(srv).list_functions()
        start = vm_rss_mb(pid)
        path = "/2015-03-31/functions"
        unsigned = _stall(srv, [unsigned_head(srv, "POST", path, CREATE_BODY_MAX)] * 20, send_mb=30)
        stalled_unsigned = vm_rss_mb(pid)
        forged = _stall(srv, [head_of(signed(srv.endpoint + path, "POST"), CREATE_BODY_MAX)] * 20, send_mb=60)
        stalled_all = vm_rss_mb(pid)
        assert raw_client(srv).list_functions()["Functions"] == []  # still serving meanwhile
        for sock in unsigned + forged:
            sock.close()
        after = _settled_rss(pid, start + 20)
        print(f"VmRSS MB: start {start:.0f}, 20 unsigned stalled {stalled_unsigned:.0f}, "
              f"+20 forged stalled {stalled_all:.0f}, after close {after:.0f}")  # fmt: skip
        assert stalled_unsigned < start + 40, (start, stalled_unsigned)
        assert stalled_all < start + 100 + 80, (start, stalled_all)  # the 100 MB budget, plus a margin
        assert after < start + 20, (start, after)
    finally:
        srv.stop()


# ---------------------------------------------------------------------------------------------- item 4: huge heads


def test_150mb_header_does_not_stall_other_clients(hostile: Server) -> None:
    """An attacker streams a 150 MB header in 1 MB writes. Another client is answered while the attacker has not
    finished sending, and the attacker is cut off (431 or a reset) long before 150 MB."""
    total, sent, finished = 150 * MB, [0], threading.Event()

    def attack() -> None:
        with socket.create_connection(("127.0.0.1", hostile.port)) as sock:
            try:
                sock.sendall(b"GET /2015-03-31/functions HTTP/1.1\r\nHost: x\r\nX-Big: ")
                while sent[0] < total:
                    sock.sendall(b"a" * MB)
                    sent[0] += MB
                finished.set()
            except OSError:
                pass

    thread = threading.Thread(target=attack, daemon=True)
    thread.start()
    while sent[0] == 0 and thread.is_alive():
        time.sleep(0.001)
    assert raw_client(hostile).list_functions()["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert not finished.is_set(), "the other client was answered only once the whole 150 MB header was in"
    thread.join(BOUND_S)
    assert not thread.is_alive()
    assert not finished.is_set()
    assert sent[0] < 32 * MB, sent[0]  # the server stopped reading at the caps; kernel buffers took the rest


@pytest.mark.parametrize(("target_extra", "header_extra", "status"),
                         [(1, 0, 414), (0, 1, 431)], ids=["target", "headers"])  # fmt: skip
def test_huge_target_or_headers_answered_at_once(
    hostile: Server, target_extra: int, header_extra: int, status: int
) -> None:
    target = "/2015-03-31/functions?x=" + "a" * (16 * 1024 - len("/2015-03-31/functions?x=") + target_extra)
    value = "v" * (64 * 1024 - len("hostx-big") - len(f"127.0.0.1:{hostile.port}") + header_extra)
    head = f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1:{hostile.port}\r\nX-Big: {value}\r\n\r\n".encode()
    with socket.create_connection(("127.0.0.1", hostile.port)) as sock:
        sock.sendall(head)
        assert read_answer(sock)[0] == status


# ---------------------------------------------------------------------------------------------- item 9: Slowloris


def test_slowloris_is_closed_by_the_header_timeout(hostile: Server) -> None:
    """One header byte at a time (every 20 ms: never idle): the server closes the connection once its head is
    older than --header-timeout (1 s here), while the client is still sending."""
    with socket.create_connection(("127.0.0.1", hostile.port)) as sock:
        sock.sendall(b"GET /2015-03-31/functions HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        sock.setblocking(False)
        closed = False
        for _ in range(1500):  # 30 s of bytes: far past the timeout and the sweep
            try:
                sock.send(b"a")
                data = sock.recv(4096)
                closed = True  # an answer (408) or EOF
                assert data == b"" or data.startswith(b"HTTP/1.1 408"), data
                break
            except BlockingIOError:
                time.sleep(0.02)
            except OSError:  # reset: closed under our unread bytes
                closed = True
                break
        assert closed, "a client sending one header byte at a time was never closed"
    assert raw_client(hostile).list_functions()  # and everyone else is served


# ---------------------------------------------------------------------------------------------- item 7: SigV4 scope


def _client(server: Server, service: str = "lambda", region: str = REGION) -> Any:
    return boto3.client(service, endpoint_url=server.endpoint, region_name=region, aws_access_key_id="test",
                        aws_secret_access_key="test", config=Config(retries={"max_attempts": 0}))  # fmt: skip


def test_credential_scoped_to_another_region_refused(hostile: Server) -> None:
    other = _client(hostile, region="eu-west-1")
    e = expect_error(other.list_functions, "InvalidSignatureException", 403)
    assert e.response["Error"]["Message"] == "Credential should be scoped to a valid region, not 'eu-west-1'. "
    expect_error(_client(hostile, "logs", region="eu-west-1").describe_log_groups, "InvalidSignatureException", 403)
    assert _client(hostile).list_functions()["Functions"] is not None  # the right region is accepted


@pytest.mark.parametrize(
    ("path", "headers", "signed_for", "expected"),
    [("/2015-03-31/functions", {}, "s3", "lambda"),
     ("/2015-03-31/functions", {}, "logs", "lambda"),
     ("/", {"X-Amz-Target": "Logs_20140328.DescribeLogGroups", "Content-Type": "application/x-amz-json-1.1"},
      "lambda", "logs")],
    ids=["lambda-signed-for-s3", "lambda-signed-for-logs", "logs-signed-for-lambda"],
)  # fmt: skip
def test_credential_scoped_to_another_service_refused(
    hostile: Server, path: str, headers: dict[str, str], signed_for: str, expected: str
) -> None:
    method, data = ("POST", b"{}") if path == "/" else ("GET", b"")
    status, resp_headers, body = send(signed(hostile.endpoint + path, method, data, service=signed_for,
                                             headers=headers))  # fmt: skip
    assert (status, error_code(resp_headers, body)) == (403, "InvalidSignatureException"), body
    assert json.loads(body)["message"] == f"Credential should be scoped to correct service: '{expected}'. "
    ok_status, _, _ = send(signed(hostile.endpoint + path, method, data, service=expected, headers=headers))
    assert ok_status == 200


def test_credential_scoped_to_another_region_and_service_names_both(hostile: Server) -> None:
    from botocore.auth import SigV4Auth
    from botocore.credentials import Credentials

    req = AWSRequest(method="GET", url=hostile.endpoint + "/2015-03-31/functions", data=b"")
    SigV4Auth(Credentials("test", "test"), "s3", "eu-west-1").add_auth(req)
    status, headers, body = send(req)
    assert (status, error_code(headers, body)) == (403, "InvalidSignatureException"), body
    assert json.loads(body)["message"] == (
        "Credential should be scoped to a valid region, not 'eu-west-1'. "
        "Credential should be scoped to correct service: 'lambda'. "
    )


def test_unknown_route_refused_at_the_headers(hostile: Server) -> None:
    status, code, body = answered_before_body(
        hostile, head_of(signed(hostile.endpoint + "/2015-03-31/nothing-here", "POST"), CREATE_BODY_MAX)
    )
    assert (status, code) == (404, "UnknownOperationException"), body


def test_code_download_takes_no_body(hostile: Server) -> None:
    """The one route without SigV4 (Code.Location, authorised by its link): a body is refused before it is read."""
    head = unsigned_head(hostile, "GET", "/_nimbus/code/" + "0" * 64 + ".zip", 1)
    status, code, _ = answered_before_body(hostile, head)
    assert (status, code) == (413, "RequestEntityTooLargeException")


# ---------------------------------------------------------------------------------------------- item 8a: deep JSON

DEEP = b"[" * 100_000 + b"]" * 100_000


@pytest.mark.parametrize(
    ("method", "path", "headers", "code"),
    [("POST", "/2015-03-31/functions", {}, "InvalidRequestContentException"),
     ("PUT", "/2015-03-31/functions/deep-json/configuration", {}, "InvalidRequestContentException"),
     ("POST", "/2015-03-31/functions/deep-json/invocations", {}, "InvalidRequestContentException"),
     ("PUT", "/2017-10-31/functions/deep-json/concurrency", {}, "InvalidRequestContentException"),
     ("POST", "/2018-10-31/layers/deep-json/versions", {}, "InvalidRequestContentException"),
     ("POST", "/", {"X-Amz-Target": "Logs_20140328.DescribeLogGroups",
                    "Content-Type": "application/x-amz-json-1.1"}, "InvalidRequestContentException")],
    ids=["create", "update-configuration", "invoke", "concurrency", "publish-layer", "logs"],
)  # fmt: skip
def test_json_nested_100000_deep_is_a_400(
    hostile: Server, method: str, path: str, headers: dict[str, str], code: str
) -> None:
    lam = raw_client(hostile)
    with contextlib.suppress(lam.exceptions.ResourceConflictException):
        lam.create_function(
            FunctionName="deep-json",
            Runtime="python3.11",
            Role=ROLE,
            Handler="app.handler",
            Code={"ZipFile": make_zip({"app.py": ECHO})},
        )
    doc = b'{"Tags": ' + DEEP + b"}" if method == "PUT" else DEEP
    service = "logs" if path == "/" else "lambda"
    status, resp_headers, body = send(signed(hostile.endpoint + path, method, doc, headers=headers, service=service))
    assert (status, error_code(resp_headers, body)) == (400, code), body[:300]
    assert b"Could not parse request body into json" in body
    assert "RecursionError" not in hostile.log_path.read_text()  # no traceback in the server's log either


def test_deep_payload_through_boto3_invoke(hostile: Server) -> None:
    lam = raw_client(hostile)
    with contextlib.suppress(lam.exceptions.ResourceConflictException):
        lam.create_function(
            FunctionName="deep-json",
            Runtime="python3.11",
            Role=ROLE,
            Handler="app.handler",
            Code={"ZipFile": make_zip({"app.py": ECHO})},
        )
    expect_error(lam.invoke, "InvalidRequestContentException", 400, FunctionName="deep-json", Payload=DEEP)


def _yaml_bomb(where: str) -> str:
    """An OpenAPI document whose YAML aliases would expand to 9**10 strings if anything copied them out."""
    lines = ['openapi: "3.0.1"', "info: {title: bomb}", "x0: &a0 [" + ",".join(['"lol"'] * 9) + "]"]
    lines += [f"x{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, 10)]
    fn = f"arn:aws:lambda:{REGION}:000000000000:function:bomb"
    integration = f'{{type: aws_proxy, httpMethod: POST, uri: "{fn}", payloadFormatVersion: "2.0"}}'
    if where == "cors":
        lines.append("x-amazon-apigateway-cors: {allowOrigins: *a9}")
    lines += ["paths:", "  /a:", "    get:", f"      x-amazon-apigateway-integration: {integration}"]
    if where == "extension":
        lines.append("      x-unused: *a9")
    return "\n".join(lines)


@pytest.mark.parametrize("where", ["cors", "extension"])
def test_yaml_alias_bomb_in_import_api_is_answered_at_once(hostile: Server, where: str) -> None:
    """A billion-laughs OpenAPI body: a nested CORS list is the caller's 400, an unread extension is ignored; neither
    is ever expanded (the server answers within the bound and stays up)."""
    apigw = hostile.client("apigatewayv2")
    started = time.monotonic()
    if where == "cors":
        with pytest.raises(apigw.exceptions.BadRequestException):
            apigw.import_api(Body=_yaml_bomb(where))
    else:
        api_id = apigw.import_api(Body=_yaml_bomb(where))["ApiId"]
        apigw.delete_api(ApiId=api_id)
    assert time.monotonic() - started < BOUND_S
    assert hostile.client("lambda").list_functions()["Functions"] is not None
