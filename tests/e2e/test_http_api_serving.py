"""HTTP APIs served over real HTTP, as API Gateway serves them: routes with path parameters and query strings in
both payload formats, a named stage and `$default`, the 404s, the resource-policy check (500 without the
permission, 200 with it), the integration timeout (503 while the invocation runs on), 413 past 10 MB, function
errors, throttles, CORS and IAM-authorised routes. The APIs are made with boto3's apigatewayv2 client and reached by
the Host that names them and by the path form.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from e2e_support import ACCESS_KEY, ACCOUNT, REGION, ROLE, SECRET_KEY, arn, make_zip, start_server, wait_active
from http_support import Endpoint, call

ECHO_APP = """
import json
import time


def handler(event, context):
    query = event.get("queryStringParameters") or {}
    if "sleep" in query:
        time.sleep(float(query["sleep"]))
    if "fail" in query:
        raise RuntimeError("boom")
    if "bad" in query:
        return {"statusCode": "not a status"}
    if "nostatus" in query:
        return {"body": "no status code"}
    return {
        "statusCode": 200,
        "headers": {"content-type": "application/json", "x-echo": "yes", "access-control-allow-origin": "evil"},
        "body": json.dumps(event),
    }
"""


@pytest.fixture
def apigw(server: Any) -> Any:
    return server.client("apigatewayv2")


@pytest.fixture
def echo(fn_name: str, create_function: Callable[..., Any], lam: Any) -> str:
    create_function(fn_name, {"app.py": ECHO_APP}, Timeout=10)
    wait_active(lam, fn_name)
    return fn_name


@pytest.fixture
def new_api(apigw: Any) -> Iterator[Callable[..., str]]:
    made: list[str] = []

    def _make(name: str, **kwargs: Any) -> str:
        api_id = str(apigw.create_api(Name=name, ProtocolType="HTTP", **kwargs)["ApiId"])
        made.append(api_id)
        return api_id

    yield _make
    for api_id in made:
        apigw.delete_api(ApiId=api_id)


def integrate(apigw: Any, api_id: str, function: str, fmt: str = "2.0", **kwargs: Any) -> str:
    resp = apigw.create_integration(
        ApiId=api_id, IntegrationType="AWS_PROXY", IntegrationUri=arn(function), PayloadFormatVersion=fmt, **kwargs
    )
    return str(resp["IntegrationId"])


def route(apigw: Any, api_id: str, key: str, integration: str, **kwargs: Any) -> None:
    apigw.create_route(ApiId=api_id, RouteKey=key, Target=f"integrations/{integration}", **kwargs)


def allow(lam: Any, function: str, api_id: str, source: str = "*") -> None:
    lam.add_permission(
        FunctionName=function, StatementId=f"apigw-{api_id}", Action="lambda:InvokeFunction",
        Principal="apigateway.amazonaws.com", SourceArn=f"arn:aws:execute-api:{REGION}:{ACCOUNT}:{api_id}/{source}",
    )  # fmt: skip


def simple_api(new_api: Callable[..., str], apigw: Any, lam: Any, function: str, name: str, **integration: Any) -> str:
    """An API with `ANY /{proxy+}` and a `$default` stage, allowed to invoke `function`."""
    api_id = new_api(name)
    route(apigw, api_id, "ANY /{proxy+}", integrate(apigw, api_id, function, **integration))
    apigw.create_stage(ApiId=api_id, StageName="$default", AutoDeploy=True)
    allow(lam, function, api_id)
    return api_id


def message(resp: httpx.Response) -> str:
    assert resp.headers["content-type"] == "application/json"
    return str(resp.json()["message"])


def test_routes_payload_formats_stages_and_path_form(
    server: Any, apigw: Any, lam: Any, echo: str, new_api: Callable[..., str]
) -> None:
    api_id = new_api("routes")
    v2 = integrate(apigw, api_id, echo, "2.0")
    v1 = integrate(apigw, api_id, echo, "1.0")
    route(apigw, api_id, "GET /items/{id}", v2)
    route(apigw, api_id, "GET /items/special", v2)
    route(apigw, api_id, "ANY /{proxy+}", v1)
    route(apigw, api_id, "$default", v2)
    apigw.create_stage(ApiId=api_id, StageName="$default", AutoDeploy=True)
    apigw.create_stage(ApiId=api_id, StageName="prod", AutoDeploy=True, StageVariables={"color": "blue"})
    allow(lam, echo, api_id)
    ep = Endpoint(server.port, "execute-api", api_id)

    resp = call(ep, "GET", "/items/42?x=1&x=2&y=a%20b", headers={"Cookie": "a=1; b=2"})
    assert resp.status_code == 200, resp.text
    assert resp.headers["x-echo"] == "yes"
    assert resp.headers["content-type"] == "application/json"
    assert resp.headers["apigw-requestid"]
    assert resp.headers["date"].endswith(" GMT")
    event = resp.json()
    assert event["version"] == "2.0"
    assert event["routeKey"] == "GET /items/{id}"
    assert event["rawPath"] == "/items/42"
    assert event["rawQueryString"] == "x=1&x=2&y=a%20b"
    assert event["queryStringParameters"] == {"x": "1,2", "y": "a b"}
    assert event["pathParameters"] == {"id": "42"}
    assert event["cookies"] == ["a=1", "b=2"]
    ctx = event["requestContext"]
    assert (ctx["apiId"], ctx["stage"], ctx["routeKey"], ctx["accountId"]) == (api_id, "$default", event["routeKey"],
                                                                                ACCOUNT)  # fmt: skip
    assert ctx["domainName"] == f"{api_id}.execute-api.{REGION}.localhost"
    assert ctx["requestId"] == resp.headers["apigw-requestid"]
    assert ctx["http"]["method"] == "GET"
    assert "stageVariables" not in event

    # a literal route beats the parameter one
    assert call(ep, "GET", "/items/special").json()["routeKey"] == "GET /items/special"

    # the named stage, by the path form: rawPath keeps the stage, the route does not see it; decoded parameters
    resp = call(ep, "GET", "/prod/items/a%20b", form="path")
    assert resp.status_code == 200, resp.text
    event = resp.json()
    assert event["routeKey"] == "GET /items/{id}"
    assert event["rawPath"] == "/prod/items/a%20b"
    assert event["pathParameters"] == {"id": "a b"}
    assert event["requestContext"]["stage"] == "prod"
    assert event["stageVariables"] == {"color": "blue"}

    # payload format 1.0 through the greedy route, with a body
    resp = call(ep, "POST", "/things/1/2?q=v", content=b'{"k": 1}', headers={"content-type": "application/json"})
    assert resp.status_code == 200, resp.text
    event = resp.json()
    assert event["version"] == "1.0"
    assert event["resource"] == "/{proxy+}"
    assert event["path"] == "/things/1/2"
    assert event["httpMethod"] == "POST"
    assert event["pathParameters"] == {"proxy": "things/1/2"}
    assert event["queryStringParameters"] == {"q": "v"}
    assert event["body"] == '{"k": 1}'
    assert event["requestContext"]["stage"] == "$default"

    # the $default route: what no other route matches (here: the root, which a greedy variable does not serve)
    resp = call(ep, "GET", "/")
    assert resp.status_code == 200, resp.text
    assert resp.json()["routeKey"] == "$default"
    assert resp.json()["requestContext"]["routeKey"] == "$default"


def test_not_found(server: Any, apigw: Any, lam: Any, echo: str, new_api: Callable[..., str]) -> None:
    missing = call(Endpoint(server.port, "execute-api", "nosuchapi1"), "GET", "/")
    assert (missing.status_code, message(missing)) == (404, "Not Found")
    assert missing.headers["apigw-requestid"]

    api_id = new_api("only-prod")
    route(apigw, api_id, "GET /a", integrate(apigw, api_id, echo))
    apigw.create_stage(ApiId=api_id, StageName="prod", AutoDeploy=True)
    allow(lam, echo, api_id)
    ep = Endpoint(server.port, "execute-api", api_id)
    assert call(ep, "GET", "/prod/a").status_code == 200
    for method, path in (("GET", "/a"), ("GET", "/prod/b"), ("POST", "/prod/a"), ("GET", "/prod/a/")):
        resp = call(ep, method, path)
        assert (resp.status_code, message(resp)) == (404, "Not Found"), (method, path)


def test_permission_is_required(server: Any, apigw: Any, lam: Any, echo: str, new_api: Callable[..., str]) -> None:
    api_id = new_api("perm")
    route(apigw, api_id, "GET /items/{id}", integrate(apigw, api_id, echo))
    apigw.create_stage(ApiId=api_id, StageName="$default", AutoDeploy=True)
    ep = Endpoint(server.port, "execute-api", api_id)
    resp = call(ep, "GET", "/items/1")
    assert (resp.status_code, message(resp)) == (500, "Internal Server Error")
    log = server.log_path.read_text()
    assert f"aws lambda add-permission --function-name {echo}" in log
    assert "apigateway.amazonaws.com" in log

    # a permission for another route does not do; the route's own (as the console writes it) does
    allow(lam, echo, api_id, "*/*/other")
    assert call(ep, "GET", "/items/1").status_code == 500
    lam.remove_permission(FunctionName=echo, StatementId=f"apigw-{api_id}")
    allow(lam, echo, api_id, "*/*/items/{id}")
    resp = call(ep, "GET", "/items/1")
    assert resp.status_code == 200, resp.text


def test_integration_timeout_is_503_and_quick(
    server: Any, apigw: Any, lam: Any, echo: str, new_api: Callable[..., str]
) -> None:
    api_id = simple_api(new_api, apigw, lam, echo, "slow", TimeoutInMillis=1000)
    ep = Endpoint(server.port, "execute-api", api_id)
    start = time.monotonic()
    resp = call(ep, "GET", "/x?sleep=3")
    took = time.monotonic() - start
    assert (resp.status_code, message(resp)) == (503, "Service Unavailable")
    assert 0.9 < took < 2.5
    resp = call(ep, "GET", "/x")  # the server still serves (the slow invocation runs on to its end meanwhile)
    assert resp.status_code == 200, resp.text


def test_a_timed_out_invocation_runs_to_its_end_through_a_stop(tmp_path: Path) -> None:
    """The 503 does not cut the invocation short, nor does a server stop right after it: the front owns the task and
    the stop awaits it (its log line is there after a restart)."""
    srv = start_server(tmp_path / "data")
    try:
        lam = srv.client("lambda")
        code = "import time\ndef handler(event, context):\n    time.sleep(3)\n    print('ran to its end')\n"
        lam.create_function(FunctionName="slow", Runtime="python3.11", Role=ROLE, Handler="app.handler", Timeout=20,
                            Code={"ZipFile": make_zip({"app.py": code})})  # fmt: skip
        wait_active(lam, "slow")
        apigw = srv.client("apigatewayv2")
        api_id = apigw.create_api(Name="slow", ProtocolType="HTTP", Target=arn("slow"))["ApiId"]
        (integration,) = apigw.get_integrations(ApiId=api_id)["Items"]
        apigw.update_integration(ApiId=api_id, IntegrationId=integration["IntegrationId"], TimeoutInMillis=500)
        allow(lam, "slow", api_id)
        resp = call(Endpoint(srv.port, "execute-api", api_id), "GET", "/")
        assert (resp.status_code, message(resp)) == (503, "Service Unavailable")
    finally:
        srv.stop()
    assert srv.process.returncode == 0
    assert "Task was destroyed but it is pending" not in srv.log_path.read_text()
    srv = start_server(tmp_path / "data")
    try:
        events = srv.client("logs").filter_log_events(logGroupName="/aws/lambda/slow")["events"]
        assert any("ran to its end" in e["message"] for e in events)
    finally:
        srv.stop()


def test_request_size_limit(server: Any, apigw: Any, lam: Any, echo: str, new_api: Callable[..., str]) -> None:
    api_id = simple_api(new_api, apigw, lam, echo, "big")
    ep = Endpoint(server.port, "execute-api", api_id)
    limit = 10 * 1024 * 1024
    past = call(ep, "POST", "/x", content=b"a" * (limit + 1))
    assert (past.status_code, message(past)) == (413, "Request Entity Too Large")
    # at the limit the front takes the body; the event it makes is past Lambda's 6 MB invoke payload: the same 413
    at = call(ep, "POST", "/x", content=b"a" * limit)
    assert (at.status_code, message(at)) == (413, "Request Entity Too Large")
    ok = call(ep, "POST", "/x", content=b"a" * (1 << 20))
    assert ok.status_code == 200, ok.text
    assert len(ok.json()["body"]) == 1 << 20


def test_function_errors_and_malformed_replies_are_500(
    server: Any, apigw: Any, lam: Any, echo: str, new_api: Callable[..., str]
) -> None:
    api_id = new_api("errors")
    v2 = integrate(apigw, api_id, echo, "2.0")
    v1 = integrate(apigw, api_id, echo, "1.0")
    route(apigw, api_id, "GET /v2", v2)
    route(apigw, api_id, "GET /v1", v1)
    apigw.create_stage(ApiId=api_id, StageName="$default", AutoDeploy=True)
    allow(lam, echo, api_id)
    ep = Endpoint(server.port, "execute-api", api_id)
    for path in ("/v2?fail=1", "/v1?fail=1", "/v2?bad=1", "/v1?bad=1", "/v1?nostatus=1"):
        resp = call(ep, "GET", path)
        assert (resp.status_code, message(resp)) == (500, "Internal Server Error"), path
    # payload 2.0: an object without statusCode is a 200 with the object as its JSON body
    resp = call(ep, "GET", "/v2?nostatus=1")
    assert resp.status_code == 200
    assert resp.json() == {"body": "no status code"}


def test_throttled_is_429(server: Any, apigw: Any, lam: Any, echo: str, new_api: Callable[..., str]) -> None:
    api_id = simple_api(new_api, apigw, lam, echo, "throttled")
    lam.put_function_concurrency(FunctionName=echo, ReservedConcurrentExecutions=0)
    resp = call(Endpoint(server.port, "execute-api", api_id), "GET", "/x")
    assert (resp.status_code, message(resp)) == (429, "Too Many Requests")


def test_cors(server: Any, apigw: Any, lam: Any, echo: str, new_api: Callable[..., str]) -> None:
    cors = {"AllowOrigins": ["https://app.example"], "AllowMethods": ["GET", "POST"],
            "AllowHeaders": ["content-type", "x-custom"], "ExposeHeaders": ["x-echo"], "MaxAge": 300}  # fmt: skip
    api_id = new_api("cors", CorsConfiguration=cors)
    route(apigw, api_id, "GET /items", integrate(apigw, api_id, echo))
    apigw.create_stage(ApiId=api_id, StageName="$default", AutoDeploy=True)
    allow(lam, echo, api_id)
    ep = Endpoint(server.port, "execute-api", api_id)
    preflight = {"Origin": "https://app.example", "Access-Control-Request-Method": "POST"}
    resp = call(ep, "OPTIONS", "/items", headers=preflight)
    assert resp.status_code == 204
    assert resp.headers["access-control-allow-origin"] == "https://app.example"
    assert resp.headers["access-control-allow-methods"] == "GET,POST"
    assert resp.headers["access-control-allow-headers"] == "content-type,x-custom"
    assert resp.headers["access-control-max-age"] == "300"
    resp = call(ep, "OPTIONS", "/items", headers={**preflight, "Origin": "https://other.example"})
    assert resp.status_code == 204
    assert "access-control-allow-origin" not in resp.headers
    resp = call(ep, "GET", "/items", headers={"Origin": "https://app.example"})
    assert resp.status_code == 200
    # the configuration's headers, not the function's own ("evil")
    assert resp.headers.get_list("access-control-allow-origin") == ["https://app.example"]
    assert resp.headers["access-control-expose-headers"] == "x-echo"


def test_iam_authorised_route(server: Any, apigw: Any, lam: Any, echo: str, new_api: Callable[..., str]) -> None:
    api_id = new_api("iam")
    route(apigw, api_id, "GET /private", integrate(apigw, api_id, echo), AuthorizationType="AWS_IAM")
    apigw.create_stage(ApiId=api_id, StageName="$default", AutoDeploy=True)
    allow(lam, echo, api_id)
    ep = Endpoint(server.port, "execute-api", api_id)
    resp = call(ep, "GET", "/private")
    assert (resp.status_code, message(resp)) == (403, "Forbidden")

    def signed(secret: str) -> httpx.Response:
        request = AWSRequest(method="GET", url=f"http://{ep.host()}/private?a=1")
        SigV4Auth(Credentials(ACCESS_KEY, secret), "execute-api", REGION).add_auth(request)
        headers = {k: str(v) for k, v in request.headers.items()} | {"Host": ep.host()}
        return httpx.get(f"http://127.0.0.1:{server.port}/private?a=1", headers=headers, timeout=60)

    assert signed("wrong").status_code == 403
    resp = signed(SECRET_KEY)
    assert resp.status_code == 200, resp.text
    assert resp.json()["requestContext"]["authorizer"]["iam"]["accessKey"] == ACCESS_KEY
