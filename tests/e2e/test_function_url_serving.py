"""Function URLs served over real HTTP (httpx) by the shared server: the 2.0 event a function receives, its reply
read as Lambda reads it, auth (a public NONE URL needs its resource policy; AWS_IAM needs a SigV4 signature for
`lambda`), CORS answered by the platform, Lambda's error answers, and the 6 MB payload limit at and one past.

Each URL is made with boto3 as a user makes it (create_function_url_config, add_permission for NONE) and reached by
the Host header that names it, by the path form `/lambda-url/<id>/...`, and by a Host written for AWS.
"""

from __future__ import annotations

import base64
import email.utils
import re
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from e2e_support import ACCESS_KEY, ACCOUNT, REGION, ROLE, delete_functions, make_zip, wait_active
from http_support import Endpoint, call, call_signed

BODY_MAX = 6_291_456

APP = """
import base64, json, time

def handler(event, context):
    path = event["rawPath"]
    if path == "/status":
        return {"statusCode": 201, "headers": {"Content-Type": "text/plain", "X-Custom": "yes"},
                "cookies": ["a=1; Path=/", "b=2"], "body": "created"}
    if path == "/string":
        return "Hello, world!"
    if path == "/binary":
        return {"statusCode": 200, "headers": {"content-type": "application/octet-stream"},
                "isBase64Encoded": True, "body": base64.b64encode(bytes(range(256))).decode()}
    if path == "/error":
        raise RuntimeError("boom")
    if path == "/malformed":
        return {"statusCode": "abc"}
    if path == "/split":
        return {"statusCode": 200, "headers": {"X-A": "a\\r\\nInjected: 1"}, "body": "x"}
    if path == "/sleep":
        time.sleep(30)
    if path == "/size":
        return {"statusCode": 200, "body": str(len(json.dumps(event)))}
    if path == "/request-id":
        return {"statusCode": 200, "body": context.aws_request_id}
    return event
"""


@pytest.fixture(scope="module")
def lam(server: Any) -> Any:
    return server.client("lambda")


@pytest.fixture(scope="module")
def make_url(server: Any, lam: Any) -> Iterator[Callable[..., Endpoint]]:
    """Create a function running APP (Timeout 3 s) and a URL for it; for NONE, public unless asked otherwise."""
    created: list[str] = []

    def _make(name: str, *, auth: str = "NONE", public: bool = True, **url_kwargs: Any) -> Endpoint:
        lam.create_function(FunctionName=name, Runtime="python3.11", Role=ROLE, Handler="app.handler",
                            Code={"ZipFile": make_zip({"app.py": APP})}, Timeout=3)  # fmt: skip
        created.append(name)
        wait_active(lam, name)
        resp = lam.create_function_url_config(FunctionName=name, AuthType=auth, **url_kwargs)
        match = re.fullmatch(rf"http://([a-z0-9]+)\.lambda-url\.{REGION}\.localhost:{server.port}/",
                             resp["FunctionUrl"])  # fmt: skip
        assert match, resp["FunctionUrl"]
        if auth == "NONE" and public:
            lam.add_permission(FunctionName=name, StatementId="public-url", Action="lambda:InvokeFunctionUrl",
                               Principal="*", FunctionUrlAuthType="NONE")  # fmt: skip
        return Endpoint(server.port, "lambda-url", match.group(1))

    yield _make
    delete_functions(lam, created)


@pytest.fixture(scope="module")
def public(make_url: Callable[..., Endpoint]) -> Endpoint:
    return make_url("t-furl-public")


def event_of(resp: httpx.Response) -> dict[str, Any]:
    assert resp.status_code == 200, (resp.status_code, resp.text)
    assert resp.headers["content-type"] == "application/json"
    return resp.json()  # type: ignore[no-any-return]


# ---- the event ----
def test_event_by_host_header(public: Endpoint) -> None:
    before = int(time.time() * 1000)
    resp = call(public, "GET", "/my/path%20x?a=1&a=2&b=J%C3%B6rg&flag", headers={
        "User-Agent": "agent/1.0", "Cookie": "c1=v1; c2=v2", "X-Custom": "yes",
    })  # fmt: skip
    event = event_of(resp)
    request_id = resp.headers["x-amzn-requestid"]
    assert email.utils.parsedate_to_datetime(resp.headers["date"]) is not None
    assert event["version"] == "2.0"
    assert event["routeKey"] == "$default"
    assert event["rawPath"] == "/my/path%20x"
    assert event["rawQueryString"] == "a=1&a=2&b=J%C3%B6rg&flag"
    assert event["cookies"] == ["c1=v1", "c2=v2"]
    assert "cookie" not in event["headers"]
    assert event["headers"]["x-custom"] == "yes"
    assert event["headers"]["host"] == public.host()
    assert event["headers"]["x-forwarded-proto"] == "http"
    assert event["headers"]["x-forwarded-port"] == str(public.port)
    assert event["queryStringParameters"] == {"a": "1,2", "b": "Jörg", "flag": ""}
    assert event["isBase64Encoded"] is False
    assert "body" not in event
    ctx = event["requestContext"]
    assert ctx["accountId"] == ACCOUNT
    assert ctx["apiId"] == ctx["domainPrefix"] == public.id
    assert ctx["domainName"] == f"{public.id}.lambda-url.{REGION}.localhost"
    assert ctx["http"] == {"method": "GET", "path": "/my/path%20x", "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1",
                           "userAgent": "agent/1.0"}  # fmt: skip
    assert ctx["requestId"] == request_id
    assert ctx["routeKey"] == ctx["stage"] == "$default"
    assert re.fullmatch(r"\d\d/[A-Z][a-z]{2}/\d{4}:\d\d:\d\d:\d\d \+0000", ctx["time"])
    assert before <= ctx["timeEpoch"] <= int(time.time() * 1000)
    assert "authorizer" not in ctx


def test_event_by_path_form_and_by_aws_host(public: Endpoint) -> None:
    event = event_of(call(public, "POST", "/items/7?q=1", form="path", content=b"{}"))
    assert event["rawPath"] == "/items/7"  # the /lambda-url/<id> prefix is not the function's
    assert event["rawQueryString"] == "q=1"
    assert event["requestContext"]["domainName"] == f"{public.id}.lambda-url.{REGION}.localhost"
    event = event_of(call(public, "GET", "/", domain="on.aws"))
    assert event["requestContext"]["domainName"] == f"{public.id}.lambda-url.{REGION}.on.aws"
    assert event["rawPath"] == "/"


def test_request_id_is_the_invocations(public: Endpoint) -> None:
    resp = call(public, "GET", "/request-id")
    assert resp.text == resp.headers["x-amzn-requestid"]


def test_text_and_binary_bodies(public: Endpoint) -> None:
    event = event_of(call(public, "POST", "/", headers={"Content-Type": "application/json"}, content=b'{"k": 1}'))
    assert (event["body"], event["isBase64Encoded"]) == ('{"k": 1}', False)
    blob = bytes(range(256))
    event = event_of(call(public, "PUT", "/", headers={"Content-Type": "application/octet-stream"}, content=blob))
    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == blob
    form = call(public, "POST", "/", headers={"Content-Type": "application/x-www-form-urlencoded"}, content=b"a=1")
    assert (event_of(form)["body"], event_of(form)["isBase64Encoded"]) == ("YT0x", True)  # as Lambda sends forms


# ---- the reply ----
def test_reply_with_status_headers_and_cookies(public: Endpoint) -> None:
    resp = call(public, "GET", "/status")
    assert resp.status_code == 201
    assert resp.text == "created"
    assert resp.headers["content-type"] == "text/plain"
    assert resp.headers["x-custom"] == "yes"
    assert resp.headers.get_list("set-cookie") == ["a=1; Path=/", "b=2"]
    assert resp.headers["x-amzn-requestid"]


def test_bare_string_reply_is_json(public: Endpoint) -> None:
    resp = call(public, "GET", "/string")
    assert (resp.status_code, resp.headers["content-type"], resp.content) == (200, "application/json",
                                                                             b'"Hello, world!"')  # fmt: skip


def test_base64_reply_is_decoded(public: Endpoint) -> None:
    resp = call(public, "GET", "/binary")
    assert resp.content == bytes(range(256))
    assert resp.headers["content-type"] == "application/octet-stream"


def test_head_has_no_body(public: Endpoint) -> None:
    resp = call(public, "HEAD", "/status")
    assert resp.status_code == 201
    assert resp.content == b""
    assert resp.headers["x-amzn-requestid"]


@pytest.mark.parametrize("path", ["/error", "/malformed", "/split", "/sleep"])
def test_function_errors_timeouts_and_bad_replies_are_502(public: Endpoint, path: str) -> None:
    resp = call(public, "GET", path)
    assert (resp.status_code, resp.text) == (502, "Internal Server Error")
    assert resp.headers["x-amzn-requestid"]
    assert "injected" not in resp.headers


# ---- auth ----
def test_none_url_needs_its_public_permission(lam: Any, make_url: Callable[..., Endpoint]) -> None:
    endpoint = make_url("t-furl-private", public=False)
    resp = call(endpoint, "GET", "/")
    assert (resp.status_code, resp.json()) == (403, {"Message": "Forbidden"})
    assert resp.headers["x-amzn-requestid"]
    lam.add_permission(FunctionName="t-furl-private", StatementId="wrong-auth-type", Action="lambda:InvokeFunctionUrl",
                       Principal="*", FunctionUrlAuthType="AWS_IAM")  # fmt: skip
    assert call(endpoint, "GET", "/").status_code == 403
    lam.add_permission(FunctionName="t-furl-private", StatementId="public", Action="lambda:InvokeFunctionUrl",
                       Principal="*", FunctionUrlAuthType="NONE")  # fmt: skip
    assert event_of(call(endpoint, "GET", "/"))["rawPath"] == "/"
    lam.remove_permission(FunctionName="t-furl-private", StatementId="public")
    assert call(endpoint, "GET", "/").status_code == 403


def test_iam_url_needs_a_sigv4_signature(make_url: Callable[..., Endpoint]) -> None:
    endpoint = make_url("t-furl-iam", auth="AWS_IAM")
    resp = call_signed(endpoint, "POST", "/signed?x=1", headers={"Content-Type": "application/json"},
                       content=b'{"a": 1}')  # fmt: skip
    event = event_of(resp)
    assert event["body"] == '{"a": 1}'
    iam = event["requestContext"]["authorizer"]["iam"]
    assert iam["accessKey"] == ACCESS_KEY
    assert iam["accountId"] == ACCOUNT
    assert iam["userArn"] == f"arn:aws:iam::{ACCOUNT}:root"
    unsigned = call(endpoint, "GET", "/")
    assert (unsigned.status_code, unsigned.json()) == (403, {"Message": "Forbidden"})
    assert call_signed(endpoint, "GET", "/", secret_key="wrong").status_code == 403


# ---- CORS ----
CORS = {"AllowOrigins": ["https://app.example"], "AllowMethods": ["GET", "POST"], "AllowHeaders": ["x-custom"],
        "ExposeHeaders": ["x-custom"], "MaxAge": 300, "AllowCredentials": True}  # fmt: skip


def test_cors_preflight_is_answered_by_the_platform(make_url: Callable[..., Endpoint]) -> None:
    endpoint = make_url("t-furl-cors", Cors=CORS)
    resp = call(endpoint, "OPTIONS", "/anything", headers={
        "Origin": "https://app.example", "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "x-custom",
    })  # fmt: skip
    assert resp.status_code == 200
    assert resp.content == b""  # the function (which echoes its event) was not called
    assert resp.headers["access-control-allow-origin"] == "https://app.example"
    assert resp.headers["access-control-allow-methods"] == "GET,POST"
    assert resp.headers["access-control-allow-headers"] == "x-custom"
    assert resp.headers["access-control-allow-credentials"] == "true"
    assert resp.headers["access-control-max-age"] == "300"
    assert resp.headers["vary"] == "Origin"
    refused = call(endpoint, "OPTIONS", "/", headers={"Origin": "https://evil.example",
                                                      "Access-Control-Request-Method": "POST"})  # fmt: skip
    assert refused.status_code == 200
    assert "access-control-allow-origin" not in refused.headers
    wrong_method = call(endpoint, "OPTIONS", "/", headers={"Origin": "https://app.example",
                                                           "Access-Control-Request-Method": "DELETE"})  # fmt: skip
    assert "access-control-allow-origin" not in wrong_method.headers

    allowed = call(endpoint, "GET", "/status", headers={"Origin": "https://app.example"})
    assert allowed.status_code == 201
    assert allowed.headers["access-control-allow-origin"] == "https://app.example"
    assert allowed.headers["access-control-expose-headers"] == "x-custom"
    assert allowed.headers["access-control-allow-credentials"] == "true"
    other = call(endpoint, "GET", "/status", headers={"Origin": "https://evil.example"})
    assert other.status_code == 201
    assert "access-control-allow-origin" not in other.headers


# ---- not found, limits ----
def test_unknown_url_is_404(server: Any) -> None:
    resp = call(Endpoint(server.port, "lambda-url", "nosuchurlid0000000000000000000000"), "GET", "/")
    assert (resp.status_code, resp.json()) == (404, {"Message": "Not Found"})


def test_payload_limit_at_and_one_past(public: Endpoint) -> None:
    """The event must fit Lambda's 6 MB synchronous payload: a body whose event is exactly 6,291,456 bytes runs,
    one byte more is 413; a body past 6 MB is refused before it is read."""
    text = {"Content-Type": "text/plain"}
    probe = 1_000_000  # the same number of digits in content-length as the bodies below
    size = int(call(public, "POST", "/size", headers=text, content=b"a" * probe).text)
    fits = BODY_MAX - size + probe
    at_limit = call(public, "POST", "/size", headers=text, content=b"a" * fits)
    assert (at_limit.status_code, at_limit.text) == (200, str(BODY_MAX))
    past = call(public, "POST", "/size", headers=text, content=b"a" * (fits + 1))
    assert past.status_code == 413
    assert past.json() == {"Message": f"Request must be smaller than {BODY_MAX} bytes for the InvokeFunction operation"}
    too_big = call(public, "POST", "/size", headers=text, content=b"a" * (BODY_MAX + 1))
    assert too_big.status_code == 413
    assert too_big.headers["x-amzn-requestid"]


def test_throttled_is_429(lam: Any, make_url: Callable[..., Endpoint]) -> None:
    endpoint = make_url("t-furl-throttled")
    lam.put_function_concurrency(FunctionName="t-furl-throttled", ReservedConcurrentExecutions=0)
    resp = call(endpoint, "GET", "/")
    assert (resp.status_code, resp.json()) == (429, {"Message": "Rate Exceeded."})
    assert resp.headers["x-amzn-requestid"]
    lam.delete_function_concurrency(FunctionName="t-furl-throttled")
    assert event_of(call(endpoint, "GET", "/"))["rawPath"] == "/"
