"""The function URL front in process: real URL configurations, policies, registry and door (SQLite in tmp_path),
with a scripted stub in place of the instance pools (the seam where processes start, as the door's own tests do).

What it proves beside the end-to-end tests (tests/e2e/test_function_url_serving.py): each refusal at the end of
the headers (unknown URL, no public policy, no or a bad signature) with its status and body, the 2.0 event the
door receives, every reply outcome, preflights answered without the door, and the server's own refusals in the
URL's shape.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from nimbus.api.http import Incoming, Response
from nimbus.api.triggers import find_target
from nimbus.api.url_front import BODY_MAX, UrlContext, UrlFront
from nimbus.config import Settings
from nimbus.control.function_urls import FunctionUrls
from nimbus.control.policies import Policies
from nimbus.invoke.invoker import Invoker
from nimbus.invoke.throttle import Throttle
from nimbus.protocol.records import FunctionSpec, InvokeRequest, InvokeResult
from registry_support import echo_registry

KEY, SECRET = "AKIDTEST", "secret-for-tests"
PUBLIC = {"StatementId": "public", "Action": "lambda:InvokeFunctionUrl", "Principal": "*",
          "FunctionUrlAuthType": "NONE"}  # fmt: skip


class ScriptedPools:
    """Answers each request with `reply(request)` (payload, function error); records what it was asked."""

    def __init__(self) -> None:
        self.requests: list[InvokeRequest] = []
        self.reply: Callable[[InvokeRequest], tuple[bytes, str | None]] = lambda r: (b'{"statusCode":200}', None)

    async def invoke(self, spec: FunctionSpec, request: InvokeRequest) -> InvokeResult:
        self.requests.append(request)
        payload, error = self.reply(request)
        return InvokeResult(payload, function_error=error, executed_version=spec.version)

    async def retire(self, function_name: str) -> None:
        pass


class World:
    def __init__(self, settings: Settings, front: UrlFront, urls: FunctionUrls, policies: Policies,
                 pools: ScriptedPools, throttle: Throttle) -> None:  # fmt: skip
        self.settings, self.front, self.urls, self.policies = settings, front, urls, policies
        self.pools, self.throttle = pools, throttle

    def incoming(self, url_id: str, method: str = "GET", target: bytes = b"/", headers: dict[str, str] | None = None,
                 body: bytes = b"") -> Incoming:  # fmt: skip
        host = f"{url_id}.lambda-url.us-east-1.localhost:9001"
        all_headers = {"host": [host]} | {k.lower(): [v] for k, v in (headers or {}).items()}
        req = Incoming(method, target, all_headers, body, len(body), True)
        req.peer = "10.1.2.3"
        return req

    async def send(self, req: Incoming) -> Response:
        """Both phases, as the app drives them: admit's answer, or handle's once the body is in."""
        host = req.headers["host"][0]
        target = find_target(host, req.target, self.settings)
        assert target is not None
        refused = self.front.admit(req, target)
        if refused is not None:
            return refused
        return await self.front.handle(req)


def run(tmp_path: Path, body: Callable[[World], Awaitable[None]], account_limit: int = 10) -> None:
    async def main() -> None:
        settings = Settings(data_dir=tmp_path, access_key_id=KEY, secret_access_key=SECRET, port=9001)
        engine, registry = await echo_registry(settings)
        urls = FunctionUrls(settings, registry, engine)
        policies = Policies(settings, registry, engine)
        pools = ScriptedPools()
        throttle = Throttle(account_limit, 100_000)
        invoker = Invoker(registry, pools, throttle)
        front = UrlFront(settings, urls, policies, invoker)
        try:
            await body(World(settings, front, urls, policies, pools, throttle))
        finally:
            engine.dispose()

    asyncio.run(main())


def headers_of(resp: Response) -> dict[str, str]:
    return {k.decode(): v.decode() for k, v in resp.headers}


def common(resp: Response) -> None:
    got = headers_of(resp)
    assert len(got["x-amzn-requestid"]) == 36
    assert got["date"].endswith(" GMT")


def test_unknown_url_is_404(tmp_path: Path) -> None:
    async def body(w: World) -> None:
        resp = await w.send(w.incoming("nosuchid"))
        assert (resp.status, resp.body) == (404, b'{"Message":"Not Found"}')
        common(resp)

    run(tmp_path, body)


def test_none_url_without_its_public_policy_is_403(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    async def body(w: World) -> None:
        cfg = await w.urls.create("fn", None, auth_type="NONE")
        with caplog.at_level("INFO", "nimbus.url"):
            resp = await w.send(w.incoming(cfg.url_id))
        assert (resp.status, resp.body) == (403, b'{"Message":"Forbidden"}')
        common(resp)
        assert "lambda:InvokeFunctionUrl" in caplog.text  # the reason is in the server log
        assert not w.pools.requests
        await w.policies.add("fn", None, PUBLIC)
        req = w.incoming(cfg.url_id)
        target = find_target(req.headers["host"][0], req.target, w.settings)
        assert target is not None
        assert w.front.admit(req, target) is None
        assert req.max_body == BODY_MAX == 6_291_456
        assert isinstance(req.context, UrlContext)
        assert (await w.front.handle(req)).status == 200

    run(tmp_path, body)


def test_the_event_the_door_receives(tmp_path: Path) -> None:
    async def body(w: World) -> None:
        cfg = await w.urls.create("fn", None, auth_type="NONE")
        await w.policies.add("fn", None, PUBLIC)
        resp = await w.send(w.incoming(cfg.url_id, "POST", b"/a/b?x=1&x=2", {"Cookie": "k=v", "User-Agent": "ua"},
                                       b'{"n": 1}'))  # fmt: skip
        assert resp.status == 200
        request = w.pools.requests[-1]
        event = json.loads(request.payload)
        assert event["rawPath"] == "/a/b"
        assert event["queryStringParameters"] == {"x": "1,2"}
        assert event["cookies"] == ["k=v"]
        assert event["body"] == '{"n": 1}'
        ctx = event["requestContext"]
        assert ctx["apiId"] == ctx["domainPrefix"] == cfg.url_id
        assert ctx["http"]["sourceIp"] == "10.1.2.3"
        assert ctx["requestId"] == request.request_id == headers_of(resp)["x-amzn-requestid"]
        assert event["headers"]["x-forwarded-port"] == "9001"
        assert "authorizer" not in ctx

    run(tmp_path, body)


@pytest.mark.parametrize(
    ("payload", "error", "status", "body"),
    [
        (b'{"statusCode": 201, "body": "made", "cookies": ["a=1"]}', None, 201, b"made"),
        (b'"Hello"', None, 200, b'"Hello"'),
        (b'{"errorMessage": "boom"}', "Unhandled", 502, b"Internal Server Error"),
        (b'{"statusCode": "abc"}', None, 502, b"Internal Server Error"),
        (b"not json", None, 502, b"Internal Server Error"),
    ],
)
def test_reply_outcomes(tmp_path: Path, payload: bytes, error: str | None, status: int, body: bytes) -> None:
    async def main(w: World) -> None:
        cfg = await w.urls.create("fn", None, auth_type="NONE")
        await w.policies.add("fn", None, PUBLIC)
        w.pools.reply = lambda r: (payload, error)
        resp = await w.send(w.incoming(cfg.url_id))
        assert (resp.status, resp.body) == (status, body)
        common(resp)
        head = await w.send(w.incoming(cfg.url_id, "HEAD"))
        assert (head.status, head.body) == (status, b"")

    run(tmp_path, main)


def test_throttled_is_429(tmp_path: Path) -> None:
    async def body(w: World) -> None:
        cfg = await w.urls.create("fn", None, auth_type="NONE")
        await w.policies.add("fn", None, PUBLIC)
        resp = await w.send(w.incoming(cfg.url_id))
        assert (resp.status, resp.body) == (429, b'{"Message":"Rate Exceeded."}')
        common(resp)

    run(tmp_path, body, account_limit=0)


def signed_headers(url_id: str, method: str, path: str, body: bytes, secret: str = SECRET) -> dict[str, str]:
    host = f"{url_id}.lambda-url.us-east-1.localhost:9001"
    request = AWSRequest(method=method, url=f"http://{host}{path}", data=body)
    SigV4Auth(Credentials(KEY, secret), "lambda", "us-east-1").add_auth(request)
    return {k: str(v) for k, v in request.headers.items()}


def test_iam_url_needs_a_good_signature(tmp_path: Path) -> None:
    async def body(w: World) -> None:
        cfg = await w.urls.create("fn", None, auth_type="AWS_IAM")
        assert (await w.send(w.incoming(cfg.url_id))).status == 403  # no Authorization
        bad = signed_headers(cfg.url_id, "POST", "/p", b"{}", secret="wrong")
        assert (await w.send(w.incoming(cfg.url_id, "POST", b"/p", bad, b"{}"))).status == 403  # at handle
        tampered = signed_headers(cfg.url_id, "POST", "/p", b"{}")
        assert (await w.send(w.incoming(cfg.url_id, "POST", b"/p", tampered, b'{"x": 1}'))).status == 403
        assert not w.pools.requests
        good = signed_headers(cfg.url_id, "POST", "/p?q=1", b"{}")
        resp = await w.send(w.incoming(cfg.url_id, "POST", b"/p?q=1", good, b"{}"))
        assert resp.status == 200
        iam = json.loads(w.pools.requests[-1].payload)["requestContext"]["authorizer"]["iam"]
        assert iam["accessKey"] == KEY
        assert iam["userArn"] == f"arn:aws:iam::{w.settings.account_id}:root"

    run(tmp_path, body)


def test_preflight_is_answered_without_the_function(tmp_path: Path) -> None:
    async def body(w: World) -> None:
        cors = {"AllowOrigins": ["https://a.example"], "AllowMethods": ["PUT"], "MaxAge": 60}
        cfg = await w.urls.create("fn", None, auth_type="AWS_IAM", cors=cors)  # no signature needed to preflight
        req = w.incoming(cfg.url_id, "OPTIONS", b"/x", {"Origin": "https://a.example",
                                                        "Access-Control-Request-Method": "PUT"})  # fmt: skip
        resp = await w.send(req)
        assert req.max_body == 0
        assert (resp.status, resp.body) == (200, b"")
        got = headers_of(resp)
        assert got["access-control-allow-origin"] == "https://a.example"
        assert got["access-control-allow-methods"] == "PUT"
        assert got["access-control-max-age"] == "60"
        common(resp)
        assert not w.pools.requests

    run(tmp_path, body)


@pytest.mark.parametrize(("status", "body"), [(413, b"6291456 bytes"), (503, b"Service Unavailable")])
def test_the_servers_refusals_in_the_urls_shape(tmp_path: Path, status: int, body: bytes) -> None:
    async def main(w: World) -> None:
        cfg = await w.urls.create("fn", None, auth_type="NONE")
        await w.policies.add("fn", None, PUBLIC)
        resp = w.front.refuse(w.incoming(cfg.url_id), status)
        assert resp.status == status
        assert body in resp.body
        common(resp)

    run(tmp_path, main)


def test_payload_past_the_door_limit_is_413(tmp_path: Path) -> None:
    async def body(w: World) -> None:
        cfg = await w.urls.create("fn", None, auth_type="NONE")
        await w.policies.add("fn", None, PUBLIC)
        resp = await w.send(w.incoming(cfg.url_id, "POST", b"/", {"Content-Type": "text/plain"}, b"a" * BODY_MAX))
        assert resp.status == 413  # the body fits, its event does not
        assert not w.pools.requests

    run(tmp_path, body)
