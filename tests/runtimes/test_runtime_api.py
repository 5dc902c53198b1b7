"""The pure Runtime API layer: HTTP parsing, routing, the invocation state machine, rendering, error bodies."""

from __future__ import annotations

import json

import pytest

from nimbus.protocol import runtime_api as api

NEXT = b"GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\nHost: 127.0.0.1:9001\r\n\r\n"


def post(path: str, body: bytes, *extra: str) -> bytes:
    head = [f"POST {path} HTTP/1.1", "Host: x", f"Content-Length: {len(body)}", *extra]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


def test_parse_get_and_post_byte_by_byte() -> None:
    parser = api.RequestParser()
    data = NEXT + post("/2018-06-01/runtime/invocation/abc/response", b'{"ok":true}', "Content-Type: application/json")
    out: list[api.Request] = []
    for i in range(len(data)):
        out += parser.feed(data[i : i + 1])
    assert [(r.method, r.path, r.body) for r in out] == [
        ("GET", "/2018-06-01/runtime/invocation/next", b""),
        ("POST", "/2018-06-01/runtime/invocation/abc/response", b'{"ok":true}'),
    ]
    assert out[1].headers["content-type"] == "application/json"
    assert all(r.keep_alive for r in out)


def test_parse_chunked_and_connection_close() -> None:
    raw = (
        b"POST /2018-06-01/runtime/invocation/r1/error HTTP/1.1\r\nTransfer-Encoding: chunked\r\n"
        b"Connection: close\r\nLambda-Runtime-Function-Error-Type: E\r\n\r\n"
        b"5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nTrailer: x\r\n\r\n"
    )
    (req,) = api.RequestParser().feed(raw)
    assert req.body == b"hello world"
    assert not req.keep_alive
    assert req.headers["lambda-runtime-function-error-type"] == "E"


def test_http10_closes_by_default() -> None:
    (req,) = api.RequestParser().feed(b"GET /x HTTP/1.0\r\n\r\n")
    assert not req.keep_alive


def test_oversize_body_is_read_and_flagged() -> None:
    parser = api.RequestParser(max_body=10)
    out = parser.feed(post("/p", b"x" * 11) + NEXT)
    assert out[0].oversize
    assert out[0].body == b""
    assert out[1].path.endswith("/next")
    (ok,) = parser.feed(post("/p", b"x" * 10))
    assert not ok.oversize
    assert ok.body == b"x" * 10


@pytest.mark.parametrize(
    "raw",
    [
        b"GARBAGE\r\n\r\n",
        b"GET /x HTTP/2\r\n\r\n",
        b"GET /x HTTP/1.1\r\nno colon\r\n\r\n",
        b"POST /x HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
        b"POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    ],
)
def test_malformed_requests(raw: bytes) -> None:
    with pytest.raises(api.HttpError) as info:
        api.RequestParser().feed(raw)
    assert info.value.status == 400


def test_header_too_large() -> None:
    with pytest.raises(api.HttpError):
        api.RequestParser().feed(b"GET /x HTTP/1.1\r\nX: " + b"a" * (api.MAX_HEAD_BYTES + 1))


def test_routes() -> None:
    assert api.route("GET", "/2018-06-01/runtime/invocation/next") == api.Route(api.NEXT, "")
    assert api.route("POST", "/2018-06-01/runtime/invocation/id-1/response") == api.Route(api.RESPONSE, "id-1")
    assert api.route("POST", "/2018-06-01/runtime/invocation/id-1/error") == api.Route(api.ERROR, "id-1")
    assert api.route("POST", "/2018-06-01/runtime/init/error") == api.Route(api.INIT_ERROR, "")
    for path in ("/", "/2018-06-01/runtime/invocation//response", "/2018-06-01/runtime/invocation/x/other",
                 "/2020-01-01/extension/register"):
        with pytest.raises(api.HttpError) as info:
            api.route("POST", path)
        assert info.value.status == 404
    with pytest.raises(api.HttpError) as info:
        api.route("GET", "/2018-06-01/runtime/invocation/x/response")
    assert info.value.status == 405


def test_state_machine_happy_path() -> None:
    state = api.RuntimeState()
    state.on_init_error()  # allowed during init
    assert state.on_next() is True  # the first /next ends init
    assert state.take_event() is None
    assert state.take_event("event-1") == "event-1"
    state.delivered("r1")
    state.on_result("r1")
    assert state.take_event("event-2") is None  # queued: the runtime has not asked yet
    assert state.on_next() is False
    assert state.take_event() == "event-2"
    state.delivered("r2")
    state.on_result("r2")


def test_state_machine_errors() -> None:
    state = api.RuntimeState()
    with pytest.raises(api.HttpError) as info:
        state.on_result("r0")
    assert (info.value.status, info.value.error_type) == (400, "InvalidRequestID")
    state.on_next()
    with pytest.raises(api.HttpError) as info:
        state.on_next()  # a second parked /next
    assert info.value.status == 403
    state.take_event("e")
    state.delivered("r1")
    with pytest.raises(api.HttpError) as info:
        state.on_next()  # before answering r1
    assert info.value.error_type == "InvalidStateTransition"
    with pytest.raises(api.HttpError) as info:
        state.on_result("other")
    assert info.value.error_type == "InvalidRequestID"
    state.on_result("r1")
    with pytest.raises(api.HttpError) as info:
        state.on_result("r1")  # posted twice
    assert (info.value.status, info.value.error_type) == (403, "InvalidStateTransition")
    with pytest.raises(api.HttpError) as info:
        state.on_init_error()
    assert info.value.status == 403


def test_abandoned_next_can_be_asked_again() -> None:
    state = api.RuntimeState()
    state.on_next()
    state.next_abandoned()
    assert state.take_event("e") is None
    assert state.on_next() is False
    assert state.take_event() == "e"


def test_render_is_one_buffer_with_length() -> None:
    raw = api.render(200, b'{"a":1}', [("Lambda-Runtime-Aws-Request-Id", "r1")])
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    assert lines[0] == "HTTP/1.1 200 OK"
    assert "Content-Length: 7" in lines
    assert "Content-Type: application/json" in lines
    assert body == b'{"a":1}'
    assert b"Connection: close" in api.render(202, b"", keep_alive=False)
    assert api.render_accepted().endswith(b'{"status":"OK"}')


def test_error_renderings() -> None:
    raw = api.render_error(api.too_large())
    assert raw.startswith(b"HTTP/1.1 413 Request Entity Too Large\r\n")
    assert json.loads(raw.partition(b"\r\n\r\n")[2]) == {
        "errorMessage": "Exceeded maximum allowed payload size (6291556 bytes).",
        "errorType": "RequestEntityTooLarge",
    }
    assert api.invalid_request_id().status == 400
    assert api.invalid_state_transition().status == 403


def test_next_headers() -> None:
    header = {"request_id": "r1", "deadline_ms": 1700000000000, "invoked_arn": "arn:x:1", "trace_id": "Root=1",
              "client_context": '{"custom":{}}\r\nX-Injected: 1'}
    headers = dict(api.next_headers(header))
    assert headers["Lambda-Runtime-Aws-Request-Id"] == "r1"
    assert headers["Lambda-Runtime-Deadline-Ms"] == "1700000000000"
    assert headers["Lambda-Runtime-Invoked-Function-Arn"] == "arn:x:1"
    assert headers["Lambda-Runtime-Trace-Id"] == "Root=1"
    assert "\r" not in headers["Lambda-Runtime-Client-Context"]
    assert "Lambda-Runtime-Cognito-Identity" not in headers
    sparse = dict(api.next_headers({"request_id": "r", "deadline_ms": 1, "invoked_arn": "a", "trace_id": ""}))
    assert "Lambda-Runtime-Trace-Id" not in sparse
    assert "Lambda-Runtime-Client-Context" not in sparse


def test_function_error_bodies() -> None:
    posted = b'{"errorMessage":"m","errorType":"T","stackTrace":[]}'
    assert api.function_error(posted, "Header") == posted  # passed through as posted
    assert json.loads(api.function_error(b'{"errorMessage":"m"}', "H")) == {"errorMessage": "m", "errorType": "H"}
    assert json.loads(api.function_error(b"oops", None)) == {"errorMessage": "oops", "errorType": "Runtime.Unknown"}
    assert json.loads(api.function_error(b"", "H"))["errorType"] == "H"
    assert json.loads(api.function_error(b"[1]", "H")) == {"errorMessage": "[1]", "errorType": "H"}
