"""The execute-api front's reading of an API document (kept by the real HttpApis service on a temp database): the
function each route invokes (either form of integration URI, qualifier kept), the integration timeout capped at
API Gateway's 30 s, stage variables, CORS, and a recompile only when the document changes."""

from __future__ import annotations

import asyncio
from pathlib import Path

from nimbus.api.api_front import API_BODY_MAX, INTEGRATION_TIMEOUT_MAX_S, compile_api, message
from nimbus.config import Settings
from nimbus.control.http_apis import ApiDocument, HttpApis
from nimbus.control.validation import FunctionRef
from nimbus.store.db import migrate, sqlite_engine
from nimbus.store.schema import metadata

FN = "arn:aws:lambda:us-east-1:000000000000:function:web"
INVOCATIONS = f"arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/{FN}:live/invocations"


def build(tmp_path: Path) -> ApiDocument:
    settings = Settings(data_dir=tmp_path)
    engine = sqlite_engine(tmp_path / "nimbus.db")
    migrate(engine, metadata)
    apis = HttpApis(settings, engine)

    async def body() -> str:
        doc = await apis.create_api({"Name": "web", "ProtocolType": "HTTP",
                                     "CorsConfiguration": {"AllowOrigins": ["https://a.example"]}})  # fmt: skip
        api_id = doc.api_id
        proxy = {"IntegrationType": "AWS_PROXY"}
        fast = await apis.create_integration(
            api_id, {**proxy, "IntegrationUri": INVOCATIONS, "PayloadFormatVersion": "1.0", "TimeoutInMillis": 1500}
        )
        slow = await apis.create_integration(api_id, {**proxy, "IntegrationUri": FN, "PayloadFormatVersion": "2.0"})
        await apis.create_route(api_id, {"RouteKey": "GET /items/{id}",
                                         "Target": f"integrations/{fast.integration_id}"})  # fmt: skip
        await apis.create_route(api_id, {"RouteKey": "ANY /{proxy+}", "Target": f"integrations/{slow.integration_id}"})
        await apis.create_route(api_id, {"RouteKey": "GET /dangling"})
        await apis.create_stage(api_id, {"StageName": "prod", "StageVariables": {"color": "blue"}})
        return api_id

    api_id = asyncio.run(body())
    doc = apis.get(api_id)
    assert doc is not None
    return doc


def test_compile_api(tmp_path: Path) -> None:
    doc = build(tmp_path)
    api = compile_api(doc, region="us-east-1", account="000000000000")
    assert api.api_id == doc.api_id
    assert api.stages == {"prod": {"color": "blue"}}
    assert api.cors is not None
    assert api.cors.allows_origin("https://a.example")
    m = api.routes.match("GET", "/items/7")
    assert m is not None
    assert m.value.integration is not None
    assert m.value.integration.function == FunctionRef("web", "live")
    assert (m.value.integration.payload_format, m.value.integration.timeout_s) == ("1.0", 1.5)
    assert m.path_parameters == {"id": "7"}
    m = api.routes.match("DELETE", "/x/y")
    assert m is not None
    assert m.value.integration is not None
    assert m.value.integration.function == FunctionRef("web", None)
    assert m.value.integration.timeout_s == INTEGRATION_TIMEOUT_MAX_S
    m = api.routes.match("GET", "/dangling")
    assert m is not None
    assert m.value.integration is None  # a route without a target: the front answers 404


def test_api_gateway_error_shape_and_limit() -> None:
    resp = message(404, "Not Found")
    assert (resp.status, resp.body, resp.headers) == (404, b'{"message":"Not Found"}',
                                                      [(b"content-type", b"application/json")])  # fmt: skip
    assert API_BODY_MAX == 10 * 1024 * 1024
