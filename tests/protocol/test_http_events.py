"""Payload formats 1.0 and 2.0 both ways: HTTP requests as events, function replies as HTTP responses."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from nimbus.errors import InvalidFunctionReply
from nimbus.protocol.http_events import (
    HttpRequest,
    clf_time,
    encode_body,
    event_v1,
    event_v2,
    is_textual,
    parse_query,
    reply_v1,
    reply_v2,
)

T = 1_796_032_800_123  # 2026-11-30 10:00:00.123 UTC


def request(
    method: str = "GET",
    path: str = "/my/path",
    query: str = "",
    headers: dict[str, list[str]] | None = None,
    body: bytes = b"",
) -> HttpRequest:
    return HttpRequest(
        method=method,
        raw_path=path,
        raw_query=query,
        headers={"host": ["abc.lambda-url.us-east-1.localhost:9001"], "user-agent": ["curl/8"]} | (headers or {}),
        body=body,
        source_ip="127.0.0.1",
        domain_name="abc.lambda-url.us-east-1.localhost",
        request_id="rid-1",
        time_ms=T,
        port=9001,
    )


def v2(req: HttpRequest, **kw: Any) -> dict[str, Any]:
    args: dict[str, Any] = {"route_key": "$default", "api_id": "abc", "account_id": "123456789012", "stage": "$default"}
    return json.loads(event_v2(req, **(args | kw)))  # type: ignore[no-any-return]


def v1(req: HttpRequest, **kw: Any) -> dict[str, Any]:
    args: dict[str, Any] = {
        "resource": "/items/{id}", "api_id": "api1", "account_id": "123456789012", "stage": "$default",
        "path_parameters": None, "stage_variables": None,
    }  # fmt: skip
    return json.loads(event_v1(req, **(args | kw)))  # type: ignore[no-any-return]


# ---- shared pieces ----
def test_clf_time_is_the_common_log_format_in_utc() -> None:
    assert clf_time(T) == "30/Nov/2026:10:00:00 +0000"
    assert clf_time(0) == "01/Jan/1970:00:00:00 +0000"


@pytest.mark.parametrize(
    ("content_type", "textual"),
    [
        (None, True), ("text/plain", True), ("text/html; charset=utf-8", True), ("application/json", True),
        ("Application/JSON", True), ("application/vnd.api+json", True), ("application/atom+xml", True),
        ("application/xml", True), ("application/javascript", True), ("application/octet-stream", False),
        ("application/x-www-form-urlencoded", False), ("multipart/form-data; boundary=x", False),
        ("image/png", False),
    ],
)  # fmt: skip
def test_textual_content_types(content_type: str | None, textual: bool) -> None:
    assert is_textual(content_type) is textual


def test_body_text_base64_and_empty() -> None:
    assert encode_body(b"", "image/png") == (None, False)
    assert encode_body("héllo".encode(), "text/plain") == ("héllo", False)
    assert encode_body(b"\xff\xfe", "text/plain") == ("//4=", True)  # not UTF-8: base64 whatever the type
    assert encode_body(b"a=1", "application/x-www-form-urlencoded") == ("YT0x", True)
    assert encode_body(b"{}", None) == ("{}", False)


def test_query_parsing_keeps_order_repeats_blanks_and_decodes_percent_escapes() -> None:
    assert parse_query("") == {}
    assert parse_query("a=1&a=2&b=x") == {"a": ["1", "2"], "b": ["x"]}
    assert parse_query("flag&e=&&x%20y=1%2C2") == {"flag": [""], "e": [""], "x y": ["1,2"]}
    assert parse_query("q=a+b") == {"q": ["a+b"]}  # a plus stays a plus, as API Gateway leaves it


# ---- payload format 2.0 ----
def test_v2_event_fields() -> None:
    req = request(
        "POST", "/my/path%20x", "a=1&a=2&b=x",
        {"content-type": ["application/json"], "x-multi": ["v1", "v2"]}, b'{"k": 1}',
    )  # fmt: skip
    event = v2(req)
    assert event["version"] == "2.0"
    assert event["routeKey"] == "$default"
    assert event["rawPath"] == "/my/path%20x"
    assert event["rawQueryString"] == "a=1&a=2&b=x"
    assert event["headers"]["x-multi"] == "v1,v2"
    assert event["headers"]["content-type"] == "application/json"
    assert event["headers"]["x-forwarded-for"] == "127.0.0.1"
    assert event["headers"]["x-forwarded-proto"] == "http"
    assert event["headers"]["x-forwarded-port"] == "9001"
    assert event["queryStringParameters"] == {"a": "1,2", "b": "x"}
    assert event["body"] == '{"k": 1}'
    assert event["isBase64Encoded"] is False
    ctx = event["requestContext"]
    assert ctx == {
        "accountId": "123456789012",
        "apiId": "abc",
        "domainName": "abc.lambda-url.us-east-1.localhost",
        "domainPrefix": "abc",
        "http": {
            "method": "POST",
            "path": "/my/path%20x",
            "protocol": "HTTP/1.1",
            "sourceIp": "127.0.0.1",
            "userAgent": "curl/8",
        },
        "requestId": "rid-1",
        "routeKey": "$default",
        "stage": "$default",
        "time": "30/Nov/2026:10:00:00 +0000",
        "timeEpoch": T,
    }
    for absent in ("cookies", "pathParameters", "stageVariables"):
        assert absent not in event


def test_v2_cookies_come_out_of_the_headers() -> None:
    event = v2(request(headers={"cookie": ["a=1; b=2", "c=3"]}))
    assert event["cookies"] == ["a=1", "b=2", "c=3"]
    assert "cookie" not in event["headers"]


def test_v2_empty_parts_are_left_out() -> None:
    event = v2(request())
    for absent in ("cookies", "queryStringParameters", "body", "pathParameters", "stageVariables"):
        assert absent not in event
    assert event["isBase64Encoded"] is False
    assert "authorizer" not in event["requestContext"]


def test_v2_encoded_and_repeated_query_keys() -> None:
    event = v2(request(query="na%20me=J%C3%B6rg&na%20me=x&empty"))
    assert event["rawQueryString"] == "na%20me=J%C3%B6rg&na%20me=x&empty"
    assert event["queryStringParameters"] == {"na me": "Jörg,x", "empty": ""}


def test_v2_binary_body_is_base64() -> None:
    blob = bytes(range(256))
    event = v2(request("PUT", headers={"content-type": ["application/octet-stream"]}, body=blob))
    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == blob


def test_v2_route_parameters_stage_variables_and_authorizer() -> None:
    iam = {"iam": {"accessKey": "AKID", "accountId": "123456789012", "callerId": "AIDA", "principalOrgId": None,
                   "userArn": "arn:aws:iam::123456789012:user/u", "userId": "AIDA"}}  # fmt: skip
    event = v2(
        request(), route_key="GET /items/{id}", stage="prod", path_parameters={"id": "7"},
        stage_variables={"env": "p"}, authorizer=iam,
    )  # fmt: skip
    assert event["routeKey"] == event["requestContext"]["routeKey"] == "GET /items/{id}"
    assert event["requestContext"]["stage"] == "prod"
    assert event["pathParameters"] == {"id": "7"}
    assert event["stageVariables"] == {"env": "p"}
    assert event["requestContext"]["authorizer"] == iam


def test_v2_forwarded_for_appends_the_peer() -> None:
    event = v2(request(headers={"x-forwarded-for": ["10.0.0.1"]}))
    assert event["headers"]["x-forwarded-for"] == "10.0.0.1, 127.0.0.1"


# ---- payload format 1.0 ----
def test_v1_event_fields() -> None:
    req = request(
        "POST", "/items/7", "a=1&a=2&b=x",
        {"content-type": ["text/plain"], "x-multi": ["v1", "v2"], "cookie": ["a=1"]}, b"hi",
    )  # fmt: skip
    event = v1(req, path_parameters={"id": "7"}, stage_variables={"s": "v"}, resource_id="GET /items/{id}")
    assert event["version"] == "1.0"
    assert event["resource"] == "/items/{id}"
    assert event["path"] == "/items/7"
    assert event["httpMethod"] == "POST"
    assert event["headers"]["x-multi"] == "v2"
    assert event["multiValueHeaders"]["x-multi"] == ["v1", "v2"]
    assert event["headers"]["cookie"] == "a=1"  # 1.0 has no cookies member: the header stays
    assert event["queryStringParameters"] == {"a": "2", "b": "x"}
    assert event["multiValueQueryStringParameters"] == {"a": ["1", "2"], "b": ["x"]}
    assert event["pathParameters"] == {"id": "7"}
    assert event["stageVariables"] == {"s": "v"}
    assert event["body"] == "hi"
    assert event["isBase64Encoded"] is False
    ctx = event["requestContext"]
    assert ctx["accountId"] == "123456789012"
    assert ctx["apiId"] == "api1"
    assert ctx["domainPrefix"] == "abc"
    assert ctx["httpMethod"] == "POST"
    assert ctx["identity"]["sourceIp"] == "127.0.0.1"
    assert ctx["identity"]["userAgent"] == "curl/8"
    assert ctx["path"] == "/items/7"
    assert ctx["protocol"] == "HTTP/1.1"
    assert ctx["requestId"] == ctx["extendedRequestId"] == "rid-1"
    assert ctx["requestTime"] == "30/Nov/2026:10:00:00 +0000"
    assert ctx["requestTimeEpoch"] == T
    assert ctx["resourceId"] == "GET /items/{id}"
    assert ctx["resourcePath"] == "/items/{id}"
    assert ctx["stage"] == "$default"


def test_v1_rest_api_event_has_the_path_within_its_stage_and_no_version() -> None:
    event = v1(request("GET", "/Prod/items/7"), stage="Prod", stage_path="/items/7")
    assert event["path"] == "/items/7"
    assert event["requestContext"]["path"] == "/Prod/items/7"
    assert event["requestContext"]["stage"] == "Prod"
    assert "version" not in event


def test_v1_empty_parts_are_null() -> None:
    event = v1(request())
    for null in ("queryStringParameters", "multiValueQueryStringParameters", "pathParameters", "stageVariables",
                 "body"):  # fmt: skip
        assert event[null] is None
    assert event["isBase64Encoded"] is False


def test_v1_binary_body_is_base64() -> None:
    event = v1(request("POST", headers={"content-type": ["image/png"]}, body=b"\x89PNG"))
    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == b"\x89PNG"


# ---- replies, format 2.0 ----
def dumps(value: Any) -> bytes:
    return json.dumps(value).encode()


def test_v2_reply_with_status_code() -> None:
    reply = reply_v2(dumps({
        "statusCode": 201, "headers": {"Content-Type": "text/plain", "X-Num": 5, "X-Flag": True, "X-None": None},
        "cookies": ["a=1; Path=/", "b=2"], "body": "made",
    }))  # fmt: skip
    assert reply.status == 201
    assert reply.body == b"made"
    assert reply.headers == [
        (b"content-type", b"text/plain"), (b"x-num", b"5"), (b"x-flag", b"true"),
        (b"set-cookie", b"a=1; Path=/"), (b"set-cookie", b"b=2"),
    ]  # fmt: skip


def test_v2_reply_defaults_to_json_and_an_empty_body() -> None:
    reply = reply_v2(dumps({"statusCode": 204}))
    assert (reply.status, reply.headers, reply.body) == (204, [(b"content-type", b"application/json")], b"")


def test_v2_reply_base64_body() -> None:
    blob = bytes(range(256))
    reply = reply_v2(dumps({"statusCode": 200, "isBase64Encoded": True, "body": base64.b64encode(blob).decode(),
                            "headers": {"content-type": "image/png"}}))  # fmt: skip
    assert reply.body == blob


@pytest.mark.parametrize(
    "payload",
    [b'"Hello, world!"', b'{"message": "hi"}', b"42", b"null", b"[1, 2]", b'{"status": 200}'],
)
def test_v2_reply_without_status_code_is_200_json_with_the_reply_as_body(payload: bytes) -> None:
    reply = reply_v2(payload)
    assert (reply.status, reply.headers) == (200, [(b"content-type", b"application/json")])
    assert reply.body is payload  # no copy


def test_v2_reply_status_as_text_and_object_body() -> None:
    reply = reply_v2(dumps({"statusCode": "404", "body": {"error": "nope"}}))
    assert reply.status == 404
    assert json.loads(reply.body) == {"error": "nope"}


def test_v2_reply_drops_framing_headers_and_ignores_multi_value_headers() -> None:
    reply = reply_v2(dumps({
        "statusCode": 200, "body": "x",
        "headers": {"Content-Length": "999", "Transfer-Encoding": "chunked", "Connection": "close", "X-A": "1"},
        "multiValueHeaders": {"X-B": ["2"]},
    }))  # fmt: skip
    assert reply.headers == [(b"x-a", b"1"), (b"content-type", b"application/json")]


@pytest.mark.parametrize(
    "payload",
    [
        b"not json", b"{", b"[" * 100_000,
        dumps({"statusCode": "abc"}), dumps({"statusCode": None}), dumps({"statusCode": True}),
        dumps({"statusCode": 99}), dumps({"statusCode": 600}), dumps({"statusCode": 2.5}),
        dumps({"statusCode": 200, "isBase64Encoded": True, "body": "not base64!"}),
        dumps({"statusCode": 200, "headers": ["x"]}),
        dumps({"statusCode": 200, "headers": {"X-A": {"nested": 1}}}),
        dumps({"statusCode": 200, "headers": {"X-A": "a\r\nInjected: 1"}}),
        dumps({"statusCode": 200, "headers": {"Bad Name": "1"}}),
        dumps({"statusCode": 200, "headers": {"X:Y": "1"}}),
        dumps({"statusCode": 200, "cookies": "a=1"}),
        dumps({"statusCode": 200, "cookies": ["a=1\nb"]}),
    ],
)  # fmt: skip
def test_v2_malformed_replies_raise_invalid_function_reply(payload: bytes) -> None:
    with pytest.raises(InvalidFunctionReply):
        reply_v2(payload)


# ---- replies, format 1.0 ----
def test_v1_reply_merges_multi_value_headers() -> None:
    reply = reply_v1(dumps({
        "statusCode": 200, "body": "ok",
        "headers": {"X-A": "single", "X-B": "only-single", "Content-Type": "text/plain"},
        "multiValueHeaders": {"X-A": ["m1", "m2"], "Set-Cookie": ["a=1", "b=2"]},
        "cookies": ["ignored=1"],
    }))  # fmt: skip
    assert reply.headers == [
        (b"x-b", b"only-single"), (b"content-type", b"text/plain"), (b"x-a", b"m1"), (b"x-a", b"m2"),
        (b"set-cookie", b"a=1"), (b"set-cookie", b"b=2"),
    ]  # fmt: skip
    assert reply.body == b"ok"


@pytest.mark.parametrize(
    "payload",
    [
        b'"Hello"', dumps({"body": "no status"}), b"not json",
        dumps({"statusCode": 200, "body": {"object": True}}),
        dumps({"statusCode": 200, "multiValueHeaders": {"X-A": "not a list"}}),
        dumps({"statusCode": 200, "multiValueHeaders": ["x"]}),
    ],
)  # fmt: skip
def test_v1_reply_requires_status_code_and_a_string_body(payload: bytes) -> None:
    with pytest.raises(InvalidFunctionReply):
        reply_v1(payload)


def test_v1_reply_base64() -> None:
    reply = reply_v1(dumps({"statusCode": 200, "isBase64Encoded": True, "body": "AAE="}))
    assert reply.body == b"\x00\x01"
