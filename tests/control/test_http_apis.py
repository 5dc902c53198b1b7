"""HTTP APIs over a real control database (SQLite in tmp_path): quick create makes what API Gateway makes, the
rules refuse what API Gateway refuses, every change is kept across a restart, and `get` (the HTTP API front's
read) always sees a whole document."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import pytest

from nimbus.config import Settings
from nimbus.control.http_api_records import from_json, to_json
from nimbus.control.http_apis import HttpApis
from nimbus.errors import InvalidParameterValue, ResourceConflict, ResourceNotFound
from nimbus.store.db import migrate, sqlite_engine
from nimbus.store.schema import metadata

FN = "arn:aws:lambda:us-east-1:000000000000:function:web"
INVOCATIONS = f"arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/{FN}/invocations"


def run_with(tmp_path: Path, body: Callable[[HttpApis], Coroutine[Any, Any, None]]) -> HttpApis:
    """Run `body` against a fresh service on `tmp_path`'s database, then return a second one loaded from it."""
    settings = Settings(data_dir=tmp_path)
    engine = sqlite_engine(tmp_path / "nimbus.db")
    migrate(engine, metadata)
    apis = HttpApis(settings, engine)
    apis.load()
    asyncio.run(body(apis))
    reloaded = HttpApis(settings, engine)
    reloaded.load()
    return reloaded


def test_quick_create_makes_an_integration_a_route_and_an_auto_deployed_default_stage(tmp_path: Path) -> None:
    made: dict[str, Any] = {}

    async def body(apis: HttpApis) -> None:
        made["doc"] = await apis.create_api({"Name": "web", "ProtocolType": "HTTP", "Target": FN})

    reloaded = run_with(tmp_path, body)
    doc = made["doc"]
    assert re.fullmatch("[a-z0-9]{10}", doc.api_id)
    (route,) = doc.routes.values()
    (integration,) = doc.integrations.values()
    (stage,) = doc.stages.values()
    assert route.route_key == "$default"
    assert route.target == f"integrations/{integration.integration_id}"
    assert doc.integration_of(route) == integration
    assert (integration.integration_type, integration.function_arn, integration.payload_format_version) == (
        "AWS_PROXY", FN, "2.0",
    )  # fmt: skip
    assert (integration.timeout_ms, integration.integration_method, integration.managed) == (30_000, "POST", True)
    assert (stage.name, stage.auto_deploy, dict(stage.stage_variables)) == ("$default", True, {})
    assert reloaded.get(doc.api_id) == doc
    assert reloaded.get("nope") is None


def test_quick_create_with_a_route_key_and_the_invocations_form(tmp_path: Path) -> None:
    async def body(apis: HttpApis) -> None:
        doc = await apis.create_api(
            {"Name": "w", "ProtocolType": "HTTP", "Target": INVOCATIONS, "RouteKey": "GET /items/{id}"}
        )
        (route,) = doc.routes.values()
        assert route.route_key == "GET /items/{id}"
        assert doc.integration_of(route).function_arn == FN  # type: ignore[union-attr]
        with pytest.raises(InvalidParameterValue, match="send it with a Target"):
            await apis.create_api({"Name": "w", "ProtocolType": "HTTP", "RouteKey": "GET /x"})

    run_with(tmp_path, body)


def test_websocket_and_bad_targets_are_refused_clearly(tmp_path: Path) -> None:
    async def body(apis: HttpApis) -> None:
        with pytest.raises(InvalidParameterValue, match="HTTP APIs only: ProtocolType WEBSOCKET"):
            await apis.create_api({"Name": "w", "ProtocolType": "WEBSOCKET"})
        with pytest.raises(InvalidParameterValue, match="unresolved"):
            await apis.create_api({"Name": "w", "ProtocolType": "HTTP", "Target": "${Fn.Arn}"})
        with pytest.raises(InvalidParameterValue, match="Lambda function ARN"):
            await apis.create_api({"Name": "w", "ProtocolType": "HTTP", "Target": "https://example.com"})
        other = FN.replace("000000000000", "111111111111")
        with pytest.raises(InvalidParameterValue, match="this server's region"):
            await apis.create_api({"Name": "w", "ProtocolType": "HTTP", "Target": other})
        assert apis.apis() == []

    run_with(tmp_path, body)


@pytest.mark.parametrize(
    "key",
    ["GET /", "ANY /{proxy+}", "GET /items/{id}", "POST /a/{b}/c/{d+}", "DELETE /x.y/{a.b-c_d}", "$default"],
)
def test_route_keys_api_gateway_accepts(tmp_path: Path, key: str) -> None:
    async def body(apis: HttpApis) -> None:
        doc = await apis.create_api({"Name": "w", "ProtocolType": "HTTP"})
        assert (await apis.create_route(doc.api_id, {"RouteKey": key})).route_key == key

    run_with(tmp_path, body)


@pytest.mark.parametrize(
    ("key", "words"),
    [
        ("GET", "one space"),
        ("FETCH /x", "HTTP method"),
        ("get /x", "HTTP method"),
        ("GET x", "must start with '/'"),
        ("GET /a//b", "empty segments"),
        ("GET /a?b=1", "query string"),
        ("GET /{proxy+}/x", "greedy path variable"),
        ("GET /a{b}", "whole segment"),
        ("GET /{a}/{a}", "appears twice"),
        ("$connect", "WebSocket"),
    ],
)
def test_route_keys_api_gateway_refuses(tmp_path: Path, key: str, words: str) -> None:
    async def body(apis: HttpApis) -> None:
        doc = await apis.create_api({"Name": "w", "ProtocolType": "HTTP"})
        with pytest.raises(InvalidParameterValue, match=words.replace("?", r"\?").replace("{", r"\{")):
            await apis.create_route(doc.api_id, {"RouteKey": key})

    run_with(tmp_path, body)


def test_crud_of_routes_integrations_and_stages_is_kept_across_a_restart(tmp_path: Path) -> None:
    ids: dict[str, str] = {}

    async def body(apis: HttpApis) -> None:
        doc = await apis.create_api({"Name": "shop", "ProtocolType": "HTTP", "Description": "d"})
        api_id = ids["api"] = doc.api_id
        integ = await apis.create_integration(
            api_id, {"IntegrationType": "AWS_PROXY", "IntegrationUri": FN + ":live", "PayloadFormatVersion": "1.0"}
        )
        ids["integration"] = integ.integration_id
        assert (integ.function_arn, integ.timeout_ms) == (FN + ":live", 30_000)
        route = await apis.create_route(
            api_id, {"RouteKey": "GET /items/{id}", "Target": f"integrations/{integ.integration_id}"}
        )
        ids["route"] = route.route_id
        with pytest.raises(ResourceConflict, match=re.escape("Route with key GET /items/{id} already exists")):
            await apis.create_route(api_id, {"RouteKey": "GET /items/{id}"})
        with pytest.raises(InvalidParameterValue, match="Invalid target"):
            await apis.create_route(api_id, {"RouteKey": "GET /b", "Target": "integrations/nope"})
        other = await apis.create_route(api_id, {"RouteKey": "POST /b"})
        with pytest.raises(ResourceConflict):
            await apis.update_route(api_id, other.route_id, {"RouteKey": "GET /items/{id}"})
        await apis.update_route(api_id, other.route_id, {"RouteKey": "PUT /b", "AuthorizationType": "AWS_IAM"})
        await apis.delete_route(api_id, other.route_id)
        await apis.update_integration(api_id, integ.integration_id, {"TimeoutInMillis": 50})
        with pytest.raises(ResourceConflict, match="target of route"):
            await apis.delete_integration(api_id, integ.integration_id)
        await apis.create_stage(api_id, {"StageName": "prod", "StageVariables": {"color": "blue"}})
        with pytest.raises(ResourceConflict, match="Stage prod already exists"):
            await apis.create_stage(api_id, {"StageName": "prod"})
        await apis.update_stage(api_id, "prod", {"AutoDeploy": True})
        await apis.create_stage(api_id, {"StageName": "gone"})
        await apis.delete_stage(api_id, "gone")
        await apis.update_api(api_id, {"Name": "shop2", "CorsConfiguration": {"AllowOrigins": ["*"]}})

    reloaded = run_with(tmp_path, body)
    doc = reloaded.api(ids["api"])
    assert (doc.name, doc.description, dict(doc.cors or {})) == ("shop2", "d", {"AllowOrigins": ["*"]})
    (route,) = doc.routes.values()
    assert route.route_key == "GET /items/{id}"
    assert route.integration_id == ids["integration"]
    assert doc.integrations[ids["integration"]].timeout_ms == 50
    assert doc.integrations[ids["integration"]].payload_format_version == "1.0"
    assert list(doc.stages) == ["prod"]
    prod = doc.stages["prod"]
    assert (prod.auto_deploy, dict(prod.stage_variables)) == (True, {"color": "blue"})
    assert from_json(to_json(doc)) == doc


def test_missing_things_are_not_found_with_api_gateway_messages(tmp_path: Path) -> None:
    async def body(apis: HttpApis) -> None:
        with pytest.raises(ResourceNotFound, match="Invalid API identifier specified 000000000000:nope"):
            apis.api("nope")
        with pytest.raises(ResourceNotFound):
            await apis.delete_api("nope")
        doc = await apis.create_api({"Name": "w", "ProtocolType": "HTTP"})
        with pytest.raises(ResourceNotFound, match="Invalid Route identifier specified 000000000000:r1"):
            await apis.update_route(doc.api_id, "r1", {})
        with pytest.raises(ResourceNotFound, match="Invalid Integration identifier"):
            await apis.delete_integration(doc.api_id, "i1")
        with pytest.raises(ResourceNotFound, match="Invalid Stage identifier"):
            apis.stage(doc.api_id, "prod")
        await apis.delete_api(doc.api_id)
        assert apis.get(doc.api_id) is None

    assert run_with(tmp_path, body).apis() == []


def test_integration_and_stage_limits(tmp_path: Path) -> None:
    async def body(apis: HttpApis) -> None:
        api_id = (await apis.create_api({"Name": "n" * 128, "ProtocolType": "HTTP"})).api_id
        with pytest.raises(InvalidParameterValue, match="between 1 and 128"):
            await apis.create_api({"Name": "n" * 129, "ProtocolType": "HTTP"})
        base = {"IntegrationType": "AWS_PROXY", "IntegrationUri": FN, "PayloadFormatVersion": "2.0"}
        for ok in (50, 30_000):
            assert (await apis.create_integration(api_id, {**base, "TimeoutInMillis": ok})).timeout_ms == ok
        for bad in (49, 30_001):
            with pytest.raises(InvalidParameterValue, match="between 50 ms and 30000 ms"):
                await apis.create_integration(api_id, {**base, "TimeoutInMillis": bad})
        with pytest.raises(InvalidParameterValue, match="PayloadFormatVersion is required"):
            await apis.create_integration(api_id, {"IntegrationType": "AWS_PROXY", "IntegrationUri": FN})
        with pytest.raises(InvalidParameterValue, match=re.escape("use 1.0 or 2.0")):
            await apis.create_integration(api_id, {**base, "PayloadFormatVersion": "3.0"})
        for kind in ("HTTP_PROXY", "MOCK"):
            with pytest.raises(InvalidParameterValue, match=f"AWS_PROXY .* only; IntegrationType {kind}"):
                await apis.create_integration(api_id, {**base, "IntegrationType": kind})
        assert (await apis.create_stage(api_id, {"StageName": "s" * 128})).name == "s" * 128
        with pytest.raises(InvalidParameterValue, match="Maximum length is 128"):
            await apis.create_stage(api_id, {"StageName": "s" * 129})
        with pytest.raises(InvalidParameterValue, match="Invalid stage name"):
            await apis.create_stage(api_id, {"StageName": "a b"})

    run_with(tmp_path, body)


def test_update_api_changes_the_quick_created_target_and_route_key(tmp_path: Path) -> None:
    other = FN.replace(":web", ":other")

    async def body(apis: HttpApis) -> None:
        doc = await apis.create_api({"Name": "q", "ProtocolType": "HTTP", "Target": FN})
        doc = await apis.update_api(doc.api_id, {"Target": other, "RouteKey": "ANY /{proxy+}"})
        (route,) = doc.routes.values()
        assert route.route_key == "ANY /{proxy+}"
        assert doc.integration_of(route).function_arn == other  # type: ignore[union-attr]
        doc = await apis.update_api(doc.api_id, {"RouteKey": "GET /only"})
        assert [r.route_key for r in doc.routes.values()] == ["GET /only"]
        plain = await apis.create_api({"Name": "p", "ProtocolType": "HTTP"})
        with pytest.raises(InvalidParameterValue, match="not quick-created"):
            await apis.update_api(plain.api_id, {"Target": FN})

    run_with(tmp_path, body)


@pytest.mark.parametrize(
    ("operation", "body", "words"),
    [
        ("api", {"RouteSelectionExpression": "$request.body.action"}, "Unsupported route selection expression"),
        ("api", {"CorsConfiguration": {"AllowOrigins": ["*"], "AllowCredentials": True}}, "AllowCredentials"),
        ("api", {"CorsConfiguration": {"AllowMethods": ["FETCH"]}}, "AllowMethods holds 'FETCH'"),
        ("route", {"RouteKey": "GET /a", "AuthorizationType": "JWT"}, "AuthorizationType JWT is not supported"),
        ("route", {"RouteKey": "GET /a", "AuthorizerId": "abc"}, "no authorizers"),
        ("integration", {"RequestParameters": {"overwrite:path": "/x"}}, "RequestParameters is not supported"),
        ("integration", {"IntegrationMethod": "GET"}, "use POST"),
        ("integration", {"ConnectionType": "VPC_LINK"}, "VPC_LINK"),
        ("integration", {"IntegrationUri": None}, "IntegrationUri is required"),
        ("stage", {"StageName": "s", "StageVariables": {"bad name": "x"}}, "Invalid stage variable name"),
        ("stage", {"StageName": "s", "StageVariables": {"ok": "a b"}}, "Invalid stage variable value"),
        ("stage", {"StageName": "s", "ClientCertificateId": "c"}, "ClientCertificateId"),
    ],
)
def test_what_nimbus_cannot_honour_is_refused_by_name(
    tmp_path: Path, operation: str, body: dict[str, Any], words: str
) -> None:
    async def run(apis: HttpApis) -> None:
        api_id = (await apis.create_api({"Name": "r", "ProtocolType": "HTTP"})).api_id
        base = {"IntegrationType": "AWS_PROXY", "IntegrationUri": FN, "PayloadFormatVersion": "2.0"}
        call = {
            "api": lambda: apis.update_api(api_id, body),
            "route": lambda: apis.create_route(api_id, body),
            "integration": lambda: apis.create_integration(api_id, {k: v for k, v in {**base, **body}.items()
                                                                    if v is not None}),
            "stage": lambda: apis.create_stage(api_id, body),
        }[operation]  # fmt: skip
        with pytest.raises(InvalidParameterValue, match=re.escape(words)):
            await call()
        assert apis.api(api_id).revision == 1  # nothing was written

    run_with(tmp_path, run)


def test_deployments_are_recorded_and_kept_while_a_stage_names_one(tmp_path: Path) -> None:
    async def body(apis: HttpApis) -> None:
        api_id = (await apis.create_api({"Name": "d", "ProtocolType": "HTTP"})).api_id
        await apis.create_stage(api_id, {"StageName": "prod"})
        deployment = await apis.create_deployment(api_id, {"StageName": "prod", "Description": "v1"})
        assert apis.stage(api_id, "prod").deployment_id == deployment.deployment_id
        with pytest.raises(InvalidParameterValue, match="can't be deleted"):
            await apis.delete_deployment(api_id, deployment.deployment_id)
        with pytest.raises(ResourceNotFound, match="Invalid Deployment identifier"):
            await apis.create_stage(api_id, {"StageName": "beta", "DeploymentId": "nope"})
        staged = await apis.create_stage(api_id, {"StageName": "beta", "DeploymentId": deployment.deployment_id})
        assert staged.deployment_id == deployment.deployment_id
        with pytest.raises(ResourceNotFound, match="Invalid Stage identifier"):
            await apis.create_deployment(api_id, {"StageName": "nope"})

    run_with(tmp_path, body)


def test_get_sees_whole_documents_and_each_change_is_a_new_revision(tmp_path: Path) -> None:
    async def body(apis: HttpApis) -> None:
        doc = await apis.create_api({"Name": "r", "ProtocolType": "HTTP", "Target": FN})
        held = apis.get(doc.api_id)
        assert held is doc
        await apis.create_stage(doc.api_id, {"StageName": "prod"})
        now = apis.get(doc.api_id)
        assert now is not None
        assert (held.revision, now.revision) == (1, 2)
        assert list(held.stages) == ["$default"]  # the document a reader holds never changes under it
        assert list(now.stages) == ["$default", "prod"]

    run_with(tmp_path, body)


def test_routes_and_integrations_at_the_quota_and_one_past(tmp_path: Path) -> None:
    async def body(apis: HttpApis) -> None:
        api_id = (await apis.create_api({"Name": "q", "ProtocolType": "HTTP"})).api_id
        base = {"IntegrationType": "AWS_PROXY", "IntegrationUri": FN, "PayloadFormatVersion": "2.0"}
        for i in range(300):
            await apis.create_route(api_id, {"RouteKey": f"GET /r{i}"})
            await apis.create_integration(api_id, base)
        with pytest.raises(InvalidParameterValue, match=r"Maximum number of Routes for this API .*\(300"):
            await apis.create_route(api_id, {"RouteKey": "GET /one-more"})
        with pytest.raises(InvalidParameterValue, match="Maximum number of Integrations"):
            await apis.create_integration(api_id, base)
        assert len(apis.api(api_id).routes) == 300

    run_with(tmp_path, body)


def test_a_route_key_the_router_cannot_serve_is_refused_not_stored() -> None:
    """A trailing slash passes the key's own shape rules, but the front's router refuses it: storing it would make
    every request to the API fail when the API is compiled."""
    from nimbus.control.http_api_rules import check_route_key

    assert check_route_key("GET /a") == "GET /a"
    with pytest.raises(InvalidParameterValue, match="Invalid route key 'GET /a/'"):
        check_route_key("GET /a/")
