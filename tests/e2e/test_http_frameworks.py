"""Web apps written for Lambda, run unchanged behind Nimbus's HTTP triggers and called over real HTTP: a FastAPI app
behind Mangum (installed from PyPI, shipped as a layer, compiled pydantic_core included) through a function URL and
an HTTP API route, Powertools' event-handler resolvers, a Node.js handler, CORS preflight, and IAM-auth URLs.

Every endpoint is created with boto3 exactly as a user would (create_function_url_config + add_permission,
apigatewayv2 create_api/integration/route/stage) and reached by the Host header that names it, by the path form,
and by a Host written for AWS (`...lambda-url.us-east-1.on.aws`).
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import shutil
import struct
import subprocess
import zlib
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from e2e_support import ACCOUNT, REGION, ROLE, arn, delete_functions, invoke_json, make_zip, wait_active
from http_support import Endpoint, call, call_signed, publish_layer

from nimbus.runtimes.registry import node_binary


def _png() -> bytes:
    """A valid 2x2 PNG: bytes that are not UTF-8 (0x89 first), so only a base64 round trip keeps them."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\x00" + bytes([255, 0, 0, 0, 255, 0]) for _ in range(2))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 2, 2, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))  # fmt: skip


PNG = _png()

FASTAPI_APP = """
import base64
import hashlib
import os
from typing import Annotated

import pydantic_core
from fastapi import Cookie, FastAPI, Query, Request, Response
from fastapi.middleware.gzip import GZipMiddleware
from mangum import Mangum
from pydantic import BaseModel

app = FastAPI()
app.add_middleware(GZipMiddleware, minimum_size=1000)
PNG = base64.b64decode("PNG_B64")


class Item(BaseModel):
    name: str
    price: float
    tags: list[str] = []


@app.get("/items/{item_id}")
def read_item(item_id: int, request: Request, response: Response,
              tag: Annotated[list[str], Query()] = [], session: Annotated[str | None, Cookie()] = None):
    response.set_cookie("seen", str(item_id))
    response.set_cookie("flavour", "oat", httponly=True)
    return {"item_id": item_id, "tags": tag, "session": session, "method": request.method,
            "path": request.url.path, "query": request.url.query, "core": pydantic_core.__version__,
            "core_file": pydantic_core._pydantic_core.__file__, "opt_writable": os.access("/opt/python", os.W_OK)}


@app.post("/items", status_code=201)
def create_item(item: Item):
    return {"created": item.model_dump(), "double": item.price * 2}


@app.put("/items/{item_id}")
def replace_item(item_id: int, item: Item):
    return {"replaced": item_id, "name": item.name}


@app.delete("/items/{item_id}", status_code=204)
def delete_item(item_id: int):
    return Response(status_code=204)


@app.get("/image")
def image():
    return Response(content=PNG, media_type="image/png")


@app.post("/upload")
async def upload(request: Request):
    body = await request.body()
    return {"len": len(body), "sha256": hashlib.sha256(body).hexdigest(), "text": body.decode("utf-8", "replace")[:20]}


@app.get("/big")
def big():
    return {"rows": ["row %d" % i for i in range(2000)], "word": "h\u00e9llo \u2713"}


handler = Mangum(app, lifespan="off")
""".replace("PNG_B64", base64.b64encode(PNG).decode())

POWERTOOLS_APP = """
import json

from aws_lambda_powertools.event_handler import RESOLVER, Response
from aws_lambda_powertools.shared.cookies import Cookie

app = RESOLVER()


@app.get("/hello/<name>")
def hello(name):
    event = app.current_event
    return {"hello": name, "x": event.get_query_string_value("x"), "path": event.path,
            "cookies": event.cookies, "kind": "RESOLVER"}


@app.post("/echo")
def echo():
    return Response(status_code=201, content_type="application/json", body=json.dumps(app.current_event.json_body),
                    cookies=[Cookie("a", "1"), Cookie("b", "2", http_only=True)])


def handler(event, context):
    return app.resolve(event, context)
"""

NODE_HANDLER = """
exports.handler = async (event) => ({
  statusCode: 418,
  headers: { 'content-type': 'application/json', 'x-runtime': 'node' },
  cookies: ['n1=one; Path=/', 'n2=two; HttpOnly'],
  body: JSON.stringify({ method: event.requestContext.http.method, rawPath: event.rawPath,
                         query: event.queryStringParameters, body: event.body, b64: event.isBase64Encoded }),
});
"""

ECHO_EVENT = "def handler(event, context):\n    return {'statusCode': 200, 'body': __import__('json').dumps(event)}\n"


# ---------------------------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def lam(server: Any) -> Any:
    return server.client("lambda")


@pytest.fixture(scope="module")
def apigw(server: Any) -> Any:
    return server.client("apigatewayv2")


@pytest.fixture(scope="module")
def functions(lam: Any) -> Iterator[Callable[..., str]]:
    """Create a function (Python unless a Runtime is given), wait until Active; all deleted at module end."""
    created: list[str] = []

    def _create(name: str, files: dict[str, str | bytes], handler: str = "app.handler", **kwargs: Any) -> str:
        kwargs.setdefault("Runtime", "python3.11")
        lam.create_function(FunctionName=name, Role=ROLE, Handler=handler, Code={"ZipFile": make_zip(files)},
                            **kwargs)  # fmt: skip
        created.append(name)
        wait_active(lam, name)
        return name

    yield _create
    delete_functions(lam, created)


def url_endpoint(server: Any, lam: Any, function: str, *, auth: str = "NONE", public: bool = True,
                 **kwargs: Any) -> Endpoint:  # fmt: skip
    """A function URL for `function` (and, for NONE, the resource policy that makes it public, as on Lambda)."""
    resp = lam.create_function_url_config(FunctionName=function, AuthType=auth, **kwargs)
    match = re.fullmatch(rf"http://([a-z0-9]+)\.lambda-url\.{REGION}\.localhost:{server.port}/", resp["FunctionUrl"])
    assert match, resp["FunctionUrl"]
    if auth == "NONE" and public:
        lam.add_permission(FunctionName=function, StatementId="public-url", Action="lambda:InvokeFunctionUrl",
                           Principal="*", FunctionUrlAuthType="NONE")  # fmt: skip
    return Endpoint(server.port, "lambda-url", match.group(1))


def http_api(server: Any, apigw: Any, lam: Any, name: str, function: str, route_keys: list[str],
             payload: str = "2.0") -> Endpoint:  # fmt: skip
    """An HTTP API with an AWS_PROXY integration to `function` (payload format `payload`), the routes, and `$default`
    stage with AutoDeploy; apigateway.amazonaws.com is allowed to invoke the function for this API (SAM's
    permission)."""
    api = apigw.create_api(Name=name, ProtocolType="HTTP")
    api_id = api["ApiId"]
    assert api["ApiEndpoint"] == f"http://{api_id}.execute-api.{REGION}.localhost:{server.port}", api
    integration = apigw.create_integration(ApiId=api_id, IntegrationType="AWS_PROXY", IntegrationUri=arn(function),
                                           PayloadFormatVersion=payload, IntegrationMethod="POST")  # fmt: skip
    for key in route_keys:
        apigw.create_route(ApiId=api_id, RouteKey=key, Target=f"integrations/{integration['IntegrationId']}")
    apigw.create_stage(ApiId=api_id, StageName="$default", AutoDeploy=True)
    lam.add_permission(FunctionName=function, StatementId=f"apigw-{api_id}", Action="lambda:InvokeFunction",
                       Principal="apigateway.amazonaws.com",
                       SourceArn=f"arn:aws:execute-api:{REGION}:{ACCOUNT}:{api_id}/*")  # fmt: skip
    return Endpoint(server.port, "execute-api", api_id)


@pytest.fixture(scope="module")
def fastapi_layer(server: Any) -> str:
    layer, names = publish_layer(server, "fastapi-mangum", "fastapi", "mangum")
    assert {"fastapi", "mangum", "pydantic", "pydantic_core", "starlette", "anyio"} <= set(names), names
    return layer


@pytest.fixture(scope="module")
def fastapi_fn(functions: Callable[..., str], fastapi_layer: str) -> str:
    return functions("http-fastapi", {"app.py": FASTAPI_APP}, Layers=[fastapi_layer], MemorySize=256, Timeout=30)


@pytest.fixture(scope="module")
def fastapi_url(server: Any, lam: Any, fastapi_fn: str) -> Endpoint:
    return url_endpoint(server, lam, fastapi_fn)


@pytest.fixture(scope="module", params=["2.0", "1.0"])
def fastapi_api(
    server: Any, apigw: Any, lam: Any, fastapi_fn: str, request: pytest.FixtureRequest
) -> Iterator[Endpoint]:
    """Payload 2.0 (cookies in `cookies`) and 1.0 (Mangum answers set-cookie in `multiValueHeaders`)."""
    endpoint = http_api(server, apigw, lam, f"fastapi-items-{request.param}", fastapi_fn,
                        ["GET /items/{item_id}", "POST /items", "GET /image"], payload=request.param)  # fmt: skip
    yield endpoint
    apigw.delete_api(ApiId=endpoint.id)


@pytest.fixture(scope="module")
def powertools_layer(server: Any) -> str:
    return publish_layer(server, "http-powertools", "aws-lambda-powertools")[0]


# ---------------------------------------------------------------------------------------------- FastAPI + Mangum


def test_layer_of_installed_distributions_loads_compiled_extensions(lam: Any, fastapi_fn: str) -> None:
    """pydantic_core's extension module, from a layer (/opt, read-only in the sandbox), imports in the function."""
    event = {"version": "2.0", "routeKey": "$default", "rawPath": "/items/7", "rawQueryString": "", "headers": {},
             "requestContext": {"http": {"method": "GET", "path": "/items/7", "protocol": "HTTP/1.1",
                                         "sourceIp": "127.0.0.1", "userAgent": "t"},
                                "stage": "$default", "requestId": "r", "accountId": ACCOUNT, "apiId": "x",
                                "domainName": "x", "domainPrefix": "x", "routeKey": "$default"},
             "isBase64Encoded": False}  # fmt: skip
    resp, out = invoke_json(lam, fastapi_fn, event)
    assert resp.get("FunctionError") is None, out
    assert out["statusCode"] == 200, out
    body = json.loads(out["body"])
    assert body["core_file"].startswith("/opt/python/pydantic_core/_pydantic_core.cpython-311"), body
    assert body["opt_writable"] is False


@pytest.mark.parametrize("form", ["host", "path", "aws"])
def test_fastapi_url_path_params_repeated_query_and_cookies(fastapi_url: Endpoint, form: str) -> None:
    resp = call(fastapi_url, "GET", "/items/42?tag=a&tag=b%20c&other=1", form="path" if form == "path" else "host",
                domain="on.aws" if form == "aws" else "localhost",
                headers={"Cookie": "session=abc123; theme=dark"})  # fmt: skip
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"] == "application/json"
    body = resp.json()
    assert body["item_id"] == 42
    assert body["tags"] == ["a", "b c"]
    assert body["session"] == "abc123"
    assert body["method"] == "GET"
    assert body["path"] == "/items/42"  # the path form's prefix is not part of the path the app sees
    assert body["query"] == "tag=a&tag=b%20c&other=1"
    cookies = resp.headers.get_list("set-cookie")
    assert len(cookies) == 2, cookies
    assert cookies[0].startswith("seen=42;")
    assert cookies[1].startswith("flavour=oat;")
    assert "HttpOnly" in cookies[1]
    assert resp.headers.get("x-amzn-requestid")


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_function_url_as_returned_works_in_curl(lam: Any, fastapi_fn: str, fastapi_url: Endpoint) -> None:
    """The FunctionUrl exactly as Lambda's API returns it, in curl, with no DNS set-up: curl (like browsers) sends
    `*.localhost` to loopback itself. (Python's resolver does not: those clients use the path form or a Host.)"""
    function_url = lam.get_function_url_config(FunctionName=fastapi_fn)["FunctionUrl"]
    out = subprocess.run(["curl", "-sS", "--max-time", "30", "-b", "session=from-curl", f"{function_url}items/9?tag=q"],
                         capture_output=True, text=True, timeout=60, check=True)  # fmt: skip
    body = json.loads(out.stdout)
    assert (body["item_id"], body["tags"], body["session"]) == (9, ["q"], "from-curl")


def test_fastapi_url_json_body_methods_binary_and_404(fastapi_url: Endpoint) -> None:
    item = {"name": "widget", "price": 2.5, "tags": ["x"]}
    created = call(fastapi_url, "POST", "/items", content=json.dumps(item).encode(),
                   headers={"content-type": "application/json"})  # fmt: skip
    assert created.status_code == 201, created.text
    assert created.json() == {"created": item, "double": 5.0}

    replaced = call(fastapi_url, "PUT", "/items/3", content=b'{"name": "gadget", "price": 1}',
                    headers={"content-type": "application/json"})  # fmt: skip
    assert replaced.status_code == 200, replaced.text
    assert replaced.json() == {"replaced": 3, "name": "gadget"}

    deleted = call(fastapi_url, "DELETE", "/items/3")
    assert deleted.status_code == 204, deleted.text
    assert deleted.content == b""

    invalid = call(fastapi_url, "POST", "/items", content=b'{"name": "no price"}',
                   headers={"content-type": "application/json"})  # fmt: skip
    assert invalid.status_code == 422, invalid.text
    assert invalid.json()["detail"][0]["loc"] == ["body", "price"]

    wrong_method = call(fastapi_url, "PATCH", "/items/3")
    assert wrong_method.status_code == 405, wrong_method.text

    image = call(fastapi_url, "GET", "/image")
    assert image.status_code == 200, image.text
    assert image.headers["content-type"] == "image/png"
    assert image.content == PNG

    missing = call(fastapi_url, "GET", "/nowhere")
    assert missing.status_code == 404
    assert missing.json() == {"detail": "Not Found"}  # FastAPI's own router, not the platform


def test_fastapi_url_binary_upload_gzip_and_unicode(fastapi_url: Endpoint) -> None:
    """Request bodies reach the app byte for byte (a non-UTF-8 body travels base64 in the event), and a gzip-encoded
    response (Starlette's GZipMiddleware, base64 from Mangum) arrives as the app compressed it."""
    blob = bytes(range(256)) * 4096  # 1 MiB, every byte value
    up = call(fastapi_url, "POST", "/upload", content=blob, headers={"content-type": "application/octet-stream"})
    assert up.status_code == 200, up.text
    assert up.json()["len"] == len(blob)
    assert up.json()["sha256"] == hashlib.sha256(blob).hexdigest()

    text = "héllo ✓ 日本".encode()
    up = call(fastapi_url, "POST", "/upload", content=text, headers={"content-type": "text/plain; charset=utf-8"})
    assert up.status_code == 200, up.text
    assert up.json() == {"len": len(text), "sha256": hashlib.sha256(text).hexdigest(), "text": "héllo ✓ 日本"}

    big = call(fastapi_url, "GET", "/big", headers={"accept-encoding": "gzip"})
    assert big.status_code == 200, big.text
    assert big.headers["content-encoding"] == "gzip"
    assert int(big.headers["content-length"]) < 10_000  # compressed on the wire; httpx decoded it below
    assert big.json()["rows"][1999] == "row 1999"
    assert big.json()["word"] == "héllo ✓"


def test_fastapi_http_api_routes(fastapi_api: Endpoint) -> None:
    resp = call(fastapi_api, "GET", "/items/5?tag=x&tag=y", headers={"Cookie": "session=s1"})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert (body["item_id"], body["tags"], body["session"], body["path"]) == (5, ["x", "y"], "s1", "/items/5")
    cookies = resp.headers.get_list("set-cookie")
    assert [c.split(";")[0] for c in cookies] == ["seen=5", "flavour=oat"], cookies

    created = call(fastapi_api, "POST", "/items", form="path", content=b'{"name": "n", "price": 4}',
                   headers={"content-type": "application/json"})  # fmt: skip
    assert created.status_code == 201, created.text
    assert created.json()["double"] == 8.0

    image = call(fastapi_api, "GET", "/image")
    assert image.status_code == 200, image.text
    assert image.headers["content-type"] == "image/png"
    assert image.content == PNG

    not_int = call(fastapi_api, "GET", "/items/abc")  # the route matches; FastAPI's validation answers
    assert not_int.status_code == 422, not_int.text

    for method, path in (("GET", "/nowhere"), ("PUT", "/items/5"), ("GET", "/items")):
        unrouted = call(fastapi_api, method, path)  # no route: API Gateway's 404, the function is not called
        assert unrouted.status_code == 404, (method, path, unrouted.text)
        assert unrouted.json() == {"message": "Not Found"}, (method, path)


# ---------------------------------------------------------------------------------------------- Powertools


def test_powertools_http_resolver_through_http_api(
    server: Any, lam: Any, apigw: Any, functions: Callable[..., str], powertools_layer: str
) -> None:
    code = POWERTOOLS_APP.replace("RESOLVER", "APIGatewayHttpResolver")
    name = functions("http-powertools-api", {"app.py": code}, Layers=[powertools_layer], Timeout=30)
    endpoint = http_api(server, apigw, lam, "powertools", name, ["ANY /{proxy+}"])
    try:
        hello = call(endpoint, "GET", "/hello/ada?x=1", headers={"Cookie": "c1=v1; c2=v2"})
        assert hello.status_code == 200, hello.text
        assert hello.json() == {"hello": "ada", "x": "1", "path": "/hello/ada", "cookies": ["c1=v1", "c2=v2"],
                                "kind": "APIGatewayHttpResolver"}  # fmt: skip
        echo = call(endpoint, "POST", "/echo", content=b'{"k": [1, 2]}', headers={"content-type": "application/json"})
        assert echo.status_code == 201, echo.text
        assert echo.json() == {"k": [1, 2]}
        assert [c.split(";")[0] for c in echo.headers.get_list("set-cookie")] == ["a=1", "b=2"]
        missing = call(endpoint, "GET", "/nope")  # the greedy route matches; Powertools' router answers
        assert missing.status_code == 404, missing.text
        assert missing.json() == {"statusCode": 404, "message": "Not found"}
    finally:
        apigw.delete_api(ApiId=endpoint.id)


def test_powertools_function_url_resolver(
    server: Any, lam: Any, functions: Callable[..., str], powertools_layer: str
) -> None:
    code = POWERTOOLS_APP.replace("RESOLVER", "LambdaFunctionUrlResolver")
    name = functions("http-powertools-url", {"app.py": code}, Layers=[powertools_layer], Timeout=30)
    endpoint = url_endpoint(server, lam, name)
    hello = call(endpoint, "GET", "/hello/grace?x=2", form="path")
    assert hello.status_code == 200, hello.text
    assert hello.json() == {"hello": "grace", "x": "2", "path": "/hello/grace", "cookies": [],
                            "kind": "LambdaFunctionUrlResolver"}  # fmt: skip
    echo = call(endpoint, "POST", "/echo", content=b'{"z": null}', headers={"content-type": "application/json"})
    assert echo.status_code == 201, echo.text
    assert echo.json() == {"z": None}
    assert [c.split(";")[0] for c in echo.headers.get_list("set-cookie")] == ["a=1", "b=2"]


# ---------------------------------------------------------------------------------------------- Node.js


NODE = node_binary()


@pytest.mark.skipif(NODE is None, reason="node is not installed")
def test_node_handler_status_headers_cookies_body(server: Any, lam: Any, functions: Callable[..., str]) -> None:
    assert NODE is not None
    name = functions("http-node", {"index.js": NODE_HANDLER}, handler="index.handler", Runtime=f"nodejs{NODE[1]}.x")
    endpoint = url_endpoint(server, lam, name)
    resp = call(endpoint, "POST", "/any/where?q=1", content=b"hello", headers={"content-type": "text/plain"})
    assert resp.status_code == 418, resp.text
    assert resp.headers["x-runtime"] == "node"
    assert resp.headers["content-type"] == "application/json"
    assert resp.headers.get_list("set-cookie") == ["n1=one; Path=/", "n2=two; HttpOnly"]
    assert resp.json() == {"method": "POST", "rawPath": "/any/where", "query": {"q": "1"}, "body": "hello",
                           "b64": False}  # fmt: skip


# ---------------------------------------------------------------------------------------------- CORS and auth


ORIGIN = "https://app.example.com"


def test_cors_preflight_and_actual_request(server: Any, lam: Any, functions: Callable[..., str]) -> None:
    name = functions("http-cors", {"app.py": ECHO_EVENT})
    cors = {"AllowOrigins": [ORIGIN], "AllowMethods": ["GET", "POST"], "AllowHeaders": ["x-custom", "content-type"],
            "ExposeHeaders": ["x-trace"], "AllowCredentials": True, "MaxAge": 300}  # fmt: skip
    endpoint = url_endpoint(server, lam, name, Cors=cors)
    preflight = {"Origin": ORIGIN, "Access-Control-Request-Method": "POST",
                 "Access-Control-Request-Headers": "x-custom, content-type"}  # fmt: skip
    allowed = call(endpoint, "OPTIONS", "/data", headers=preflight)
    assert allowed.status_code == 200, allowed.text
    h = allowed.headers
    assert h["access-control-allow-origin"] == ORIGIN
    assert "POST" in h["access-control-allow-methods"].upper()
    assert {"x-custom", "content-type"} <= {v.strip().lower() for v in h["access-control-allow-headers"].split(",")}
    assert h["access-control-allow-credentials"] == "true"
    assert h["access-control-max-age"] == "300"

    refused = call(endpoint, "OPTIONS", "/data", headers={**preflight, "Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in refused.headers, refused.headers

    actual = call(endpoint, "GET", "/data", headers={"Origin": ORIGIN})
    assert actual.status_code == 200, actual.text
    assert actual.headers["access-control-allow-origin"] == ORIGIN
    assert actual.headers["access-control-expose-headers"].lower() == "x-trace"
    assert actual.headers["access-control-allow-credentials"] == "true"
    assert json.loads(actual.text)["requestContext"]["http"]["method"] == "GET"

    other = call(endpoint, "GET", "/data", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in other.headers, other.headers


def test_iam_url_signed_unsigned_and_wrong_secret(server: Any, lam: Any, functions: Callable[..., str]) -> None:
    name = functions("http-iam", {"app.py": ECHO_EVENT})
    endpoint = url_endpoint(server, lam, name, auth="AWS_IAM")
    signed = call_signed(endpoint, "POST", "/secure?a=1", content=b'{"signed": true}',
                         headers={"content-type": "application/json"})  # fmt: skip
    assert signed.status_code == 200, signed.text
    event = json.loads(signed.text)
    assert event["body"] == '{"signed": true}'
    assert event["requestContext"]["authorizer"]["iam"]["accessKey"] == "test"

    unsigned = call(endpoint, "POST", "/secure?a=1", content=b"{}")
    assert unsigned.status_code == 403, unsigned.text
    wrong = call_signed(endpoint, "POST", "/secure?a=1", content=b"{}", secret_key="not-the-secret")
    assert wrong.status_code == 403, wrong.text


def test_none_url_needs_a_public_policy(server: Any, lam: Any, functions: Callable[..., str]) -> None:
    """As on Lambda: an AuthType NONE URL answers 403 until a policy allows lambda:InvokeFunctionUrl to `*`."""
    name = functions("http-private", {"app.py": ECHO_EVENT})
    endpoint = url_endpoint(server, lam, name, public=False)
    assert call(endpoint, "GET", "/").status_code == 403
    lam.add_permission(FunctionName=name, StatementId="public-url", Action="lambda:InvokeFunctionUrl",
                       Principal="*", FunctionUrlAuthType="NONE")  # fmt: skip
    assert call(endpoint, "GET", "/").status_code == 200
