"""HTTP and REST APIs through the HTTP API service: SAM's HttpApi (an OpenAPI Body, imported; reimported when it
changes, its stage kept) with Ref (the API id) and GetAtt ApiEndpoint; an API built from Api, Integration, Route
and Stage resources, each updated in place; SAM's REST API (a Swagger 2.0 Body whose integrations take payload
format 1.0, a Deployment whose StageName makes the `Stage` stage, a `Prod` Stage pointing at it) with GetAtt
RootResourceId; refusals from the model and the service; deletes idempotent, also after the API is gone."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from providers_support import INLINE, Stack, run

from nimbus.deploy.provider import STACK_NAME_TAG
from nimbus.errors import InvalidParameterValue, NimbusError

ALIAS = "arn:aws:lambda:us-east-1:000000000000:function:fn:live"
URI = f"arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/{ALIAS}/invocations"


def _openapi(path: str, *, swagger: bool = False) -> dict[str, Any]:
    integration: dict[str, Any] = {"httpMethod": "POST", "type": "aws_proxy", "uri": URI}
    if not swagger:
        integration["payloadFormatVersion"] = "2.0"
    head = {"swagger": "2.0"} if swagger else {"openapi": "3.0.1"}
    return head | {"info": {"version": "1.0", "title": "app"},
                   "paths": {path: {"get": {"x-amazon-apigateway-integration": integration, "responses": {}}}}}


async def _function(stack: Stack) -> None:
    await stack.put("Fn", "AWS::Lambda::Function", INLINE | {"FunctionName": "fn"})
    await stack.put("V", "AWS::Lambda::Version", {"FunctionName": "fn"})
    await stack.put("A", "AWS::Lambda::Alias", {"FunctionName": "fn", "Name": "live", "FunctionVersion": "1"})


def test_sam_http_api_imported_reimported_and_staged(tmp_path: Path) -> None:
    async def body(stack: Stack) -> None:
        apis = stack.services.http_apis
        await _function(stack)
        made = await stack.put("ServerlessHttpApi", "AWS::ApiGatewayV2::Api", {"Body": _openapi("/hi")})
        api_id = made.ref
        assert made.attributes["ApiId"] == api_id
        assert made.attributes["ApiEndpoint"] == f"http://{api_id}.execute-api.us-east-1.localhost:9001"
        doc = apis.api(api_id)
        assert [r.route_key for r in doc.routes.values()] == ["GET /hi"]
        assert doc.tags[STACK_NAME_TAG] == "app"
        stage = await stack.put("DefaultStage", "AWS::ApiGatewayV2::Stage",
                                {"ApiId": api_id, "StageName": "$default", "AutoDeploy": True})  # fmt: skip
        assert stage.ref == "$default"
        await stack.put("ServerlessHttpApi", "AWS::ApiGatewayV2::Api", {"Body": _openapi("/hello")})
        doc = apis.api(api_id)
        assert [r.route_key for r in doc.routes.values()] == ["GET /hello"]
        assert list(doc.stages) == ["$default"]
        assert next(iter(doc.integrations.values())).function_arn == ALIAS
        await stack.delete("ServerlessHttpApi")
        assert apis.get(api_id) is None
        await stack.delete("DefaultStage")  # its API went first: nothing to do, no error

    run(tmp_path, body)


def test_api_from_integration_route_stage_resources(tmp_path: Path) -> None:
    async def body(stack: Stack) -> None:
        apis = stack.services.http_apis
        await _function(stack)
        api_id = (await stack.put("Api", "AWS::ApiGatewayV2::Api", {"Name": "shop", "ProtocolType": "HTTP"})).ref
        integration = await stack.put("Int", "AWS::ApiGatewayV2::Integration", {
            "ApiId": api_id, "IntegrationType": "AWS_PROXY", "IntegrationUri": ALIAS, "PayloadFormatVersion": "2.0"})
        route = await stack.put("Route", "AWS::ApiGatewayV2::Route", {
            "ApiId": api_id, "RouteKey": "GET /items", "Target": f"integrations/{integration.ref}"})
        await stack.put("Stage", "AWS::ApiGatewayV2::Stage", {"ApiId": api_id, "StageName": "prod"})
        assert apis.route(api_id, route.ref).route_key == "GET /items"
        await stack.put("Route", "AWS::ApiGatewayV2::Route", {
            "ApiId": api_id, "RouteKey": "GET /items/{id}", "Target": f"integrations/{integration.ref}"})
        assert apis.route(api_id, route.ref).route_key == "GET /items/{id}"  # in place: the same route id
        await stack.put("Stage", "AWS::ApiGatewayV2::Stage", {"ApiId": api_id, "StageName": "prod",
                                                              "StageVariables": {"color": "blue"}})  # fmt: skip
        assert apis.stage(api_id, "prod").stage_variables == {"color": "blue"}
        assert stack.replaces("Stage", {"ApiId": api_id, "StageName": "live"})
        await stack.put("Api", "AWS::ApiGatewayV2::Api", {"Name": "shop2", "ProtocolType": "HTTP"})
        assert apis.api(api_id).name == "shop2"
        bad = {"ApiId": api_id, "RouteKey": "GET /x/", "Target": f"integrations/{integration.ref}"}
        with pytest.raises(InvalidParameterValue):
            await stack.put("Bad", "AWS::ApiGatewayV2::Route", bad)
        websocket = {"Name": "ws", "ProtocolType": "WEBSOCKET", "RouteSelectionExpression": "$request.body.action"}
        with pytest.raises(NimbusError):
            await stack.put("Ws", "AWS::ApiGatewayV2::Api", websocket)
        for logical in ("Stage", "Route", "Int", "Api"):
            await stack.delete(logical)
        assert apis.apis() == []

    run(tmp_path, body)


def test_sam_rest_api_deployment_and_stage(tmp_path: Path) -> None:
    async def body(stack: Stack) -> None:
        apis = stack.services.http_apis
        await _function(stack)
        swagger = {"Body": _openapi("/rest", swagger=True)}
        rest = await stack.put("ServerlessRestApi", "AWS::ApiGateway::RestApi", swagger)
        api_id = rest.ref
        assert re.fullmatch(r"[0-9a-f]{10}", rest.attributes["RootResourceId"])
        doc = apis.api(api_id)
        assert [(r.route_key, doc.integration_of(r).payload_format_version) for r in doc.routes.values()] == [
            ("GET /rest", "1.0")]  # fmt: skip
        deployment = await stack.put("Deployment1", "AWS::ApiGateway::Deployment",
                                     {"RestApiId": api_id, "StageName": "Stage", "Description": "one"})  # fmt: skip
        prod = await stack.put("ProdStage", "AWS::ApiGateway::Stage",
                               {"RestApiId": api_id, "StageName": "Prod", "DeploymentId": deployment.ref})  # fmt: skip
        assert prod.ref == "Prod"
        stages = apis.api(api_id).stages
        assert sorted(stages) == ["Prod", "Stage"]
        assert stages["Prod"].deployment_id == deployment.ref == stages["Stage"].deployment_id
        # a changed body: SAM writes a new Deployment (a new logical id) and points the stage at it
        await stack.put("ServerlessRestApi", "AWS::ApiGateway::RestApi", {"Body": _openapi("/v2", swagger=True)})
        second = await stack.put("Deployment2", "AWS::ApiGateway::Deployment",
                                 {"RestApiId": api_id, "StageName": "Stage", "Description": "two"})  # fmt: skip
        await stack.put("ProdStage", "AWS::ApiGateway::Stage",
                        {"RestApiId": api_id, "StageName": "Prod", "DeploymentId": second.ref})  # fmt: skip
        await stack.delete("Deployment1")
        doc = apis.api(api_id)
        assert [r.route_key for r in doc.routes.values()] == ["GET /v2"]
        assert doc.stages["Prod"].deployment_id == second.ref
        assert deployment.ref not in doc.deployments
        with pytest.raises(InvalidParameterValue, match="Body"):
            await stack.put("NoBody", "AWS::ApiGateway::RestApi", {"Name": "x"})
        await stack.delete("ServerlessRestApi")
        await stack.delete("ProdStage")
        await stack.delete("Deployment2")
        assert apis.apis() == []

    run(tmp_path, body)
