"""HTTP APIs through the HTTP API service (control/http_apis), which the front serves: AWS::ApiGatewayV2::Api
(CreateApi, or ImportApi / ReimportApi for a `Body`, as SAM's HttpApi emits), Stage, Route, Integration and
Deployment; and SAM's REST APIs, AWS::ApiGateway::RestApi (its Swagger 2.0 `Body` imported: integrations without a
payloadFormatVersion take 1.0, the REST proxy event's shape), Deployment and Stage, served by the same front at
`<id>.execute-api.<region>.<domain>/<stage>/...` as on AWS. A REST API's Deployment with a StageName makes that
stage too, as API Gateway does.

Ref: an API's id (GetAtt ApiEndpoint and ApiId; a REST API's RootResourceId), a stage's name, a route's,
integration's or deployment's id. Sub-resources keep `<api id>|<id>` as their physical id.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from nimbus.api.triggers import API
from nimbus.deploy.provider import Made, StackContext
from nimbus.deploy.providers.common import endpoints, gone_ok, model, stack_tags, tag_map
from nimbus.errors import InvalidParameterValue

V2 = "AWS::ApiGatewayV2::"
V1 = "AWS::ApiGateway::"
HTTP_API, REST_API = V2 + "Api", V1 + "RestApi"
_API_KEYS = ("Name", "ProtocolType", "CorsConfiguration", "Description", "DisableExecuteApiEndpoint", "Version",
             "RouteSelectionExpression", "ApiKeySelectionExpression", "Target", "RouteKey", "CredentialsArn",
             "IpAddressType")  # fmt: skip
#: the model's create operation of each sub-resource, and the members a change of which replaces it
_SUB = {
    V2 + "Stage": ("CreateStage", ("ApiId", "StageName")),
    V2 + "Route": ("CreateRoute", ("ApiId",)),
    V2 + "Integration": ("CreateIntegration", ("ApiId",)),
    V2 + "Deployment": ("CreateDeployment", ("ApiId",)),
    V1 + "Stage": ("", ("RestApiId", "StageName")),
    V1 + "Deployment": ("", ("RestApiId", "StageName", "Description", "StageDescription", "DeploymentCanarySettings")),
}  # fmt: skip


def _body_text(props: Mapping[str, Any]) -> str | None:
    body = props.get("Body")
    if body is None:
        if props.get("BodyS3Location"):
            raise InvalidParameterValue("BodyS3Location: Nimbus has no S3; give the OpenAPI document as Body.")
        return None
    return body if isinstance(body, str) else json.dumps(body)


def _api_id(props: Mapping[str, Any]) -> str:
    api_id = props.get("ApiId", props.get("RestApiId"))
    if not isinstance(api_id, str) or not api_id:
        raise InvalidParameterValue("ApiId (RestApiId) is required.")
    return api_id


class Apis:
    types: tuple[str, ...] = (HTTP_API, REST_API, *_SUB)

    def replaces(self, type_: str, old: Mapping[str, Any], new: Mapping[str, Any]) -> bool:
        if type_ in (HTTP_API, REST_API):
            return False
        return any(old.get(k) != new.get(k) for k in _SUB[type_][1])

    def _api(self, ctx: StackContext, type_: str, api_id: str) -> Made:
        if type_ == REST_API:
            root = hashlib.sha256(api_id.encode()).hexdigest()[:10]
            return Made(api_id, api_id, {"RootResourceId": root})
        return Made(api_id, api_id, {"ApiId": api_id, "ApiEndpoint": endpoints(ctx).base(API, api_id)})

    async def create(self, ctx: StackContext, type_: str, logical_id: str, props: Mapping[str, Any]) -> Made:
        apis = ctx.services.http_apis
        if type_ in (HTTP_API, REST_API):
            tags = stack_tags(ctx, logical_id, props)
            text = _body_text(props)
            if text is None and type_ == REST_API:
                raise InvalidParameterValue("Nimbus makes a REST API from its Body (the Swagger document SAM writes);"
                                            " AWS::ApiGateway::Resource and Method are not supported.")  # fmt: skip
            if text is None:
                body = {k: props[k] for k in _API_KEYS if k in props} | {"Tags": tags}
                model("apigatewayv2").validate("CreateApi", body)
                return self._api(ctx, type_, (await apis.create_api(body)).api_id)
            doc = await apis.import_api(text, fail_on_warnings=bool(props.get("FailOnWarnings")), tags=tags,
                                        rest=type_ == REST_API)  # fmt: skip
            if props.get("Name") or props.get("Description"):
                named = {k: props[k] for k in ("Name", "Description") if props.get(k)}
                await apis.update_api(doc.api_id, named)
            return self._api(ctx, type_, doc.api_id)
        api_id = _api_id(props)
        if type_ == V1 + "Stage":
            return await self._rest_stage(ctx, api_id, props)
        if type_ == V1 + "Deployment":
            stage = props.get("StageName")
            if stage is not None and stage not in apis.api(api_id).stages:
                await apis.create_stage(api_id, {"StageName": stage, "Description": props.get("StageDescription", "")})
            made = await apis.create_deployment(api_id, {k: props[k] for k in ("StageName", "Description")
                                                         if k in props})  # fmt: skip
            return Made(f"{api_id}|{made.deployment_id}", made.deployment_id)
        body = {k: v for k, v in props.items() if k != "ApiId"}
        if type_ == V2 + "Stage":
            body["Tags"] = tag_map(body.get("Tags")) | ctx.tags(logical_id)
        model("apigatewayv2").validate(_SUB[type_][0], body | {"ApiId": api_id})
        if type_ == V2 + "Stage":
            stage = await apis.create_stage(api_id, body)
            return Made(f"{api_id}|{stage.name}", stage.name)
        if type_ == V2 + "Route":
            route = await apis.create_route(api_id, body)
            return Made(f"{api_id}|{route.route_id}", route.route_id)
        if type_ == V2 + "Integration":
            integration = await apis.create_integration(api_id, body)
            return Made(f"{api_id}|{integration.integration_id}", integration.integration_id)
        deployment = await apis.create_deployment(api_id, body)
        return Made(f"{api_id}|{deployment.deployment_id}", deployment.deployment_id)

    async def _rest_stage(self, ctx: StackContext, api_id: str, props: Mapping[str, Any]) -> Made:
        name = props.get("StageName")
        if not isinstance(name, str):
            raise InvalidParameterValue("StageName is required.")
        body = {"StageName": name, "Description": props.get("Description", ""),
                "StageVariables": props.get("Variables") or {}}  # fmt: skip
        if props.get("DeploymentId"):
            body["DeploymentId"] = props["DeploymentId"]
        apis = ctx.services.http_apis
        if name in apis.api(api_id).stages:  # made by a Deployment's StageName first
            await apis.update_stage(api_id, name, {k: v for k, v in body.items() if k != "StageName"})
        else:
            await apis.create_stage(api_id, body)
        return Made(f"{api_id}|{name}", name)

    async def update(self, ctx: StackContext, type_: str, logical_id: str, physical_id: str,
                     old: Mapping[str, Any], new: Mapping[str, Any]) -> Made:  # fmt: skip
        apis = ctx.services.http_apis
        if type_ in (HTTP_API, REST_API):
            text = _body_text(new)
            if text is not None and text != _body_text(old):
                await apis.import_api(text, fail_on_warnings=bool(new.get("FailOnWarnings")), api_id=physical_id)
            fields = {k: new[k] for k in ("Name", "Description", "CorsConfiguration", "DisableExecuteApiEndpoint",
                                          "Version") if k in new and new[k] != old.get(k)}  # fmt: skip
            if fields:
                await apis.update_api(physical_id, fields)
            return self._api(ctx, type_, physical_id)
        api_id, ident = physical_id.split("|", 1)
        if type_ == V1 + "Stage":
            return await self._rest_stage(ctx, api_id, new)
        body = {k: v for k, v in new.items() if k not in ("ApiId", "StageName", "Tags") and v != old.get(k)}
        if type_ == V2 + "Stage" and body:
            await apis.update_stage(api_id, ident, body)
        elif type_ == V2 + "Route" and body:
            await apis.update_route(api_id, ident, body)
        elif type_ == V2 + "Integration" and body:
            await apis.update_integration(api_id, ident, body)
        return Made(physical_id, ident)

    async def delete(self, ctx: StackContext, type_: str, logical_id: str, physical_id: str,
                     props: Mapping[str, Any]) -> None:  # fmt: skip
        apis = ctx.services.http_apis
        if type_ in (HTTP_API, REST_API):
            await gone_ok(apis.delete_api(physical_id))
            return
        api_id, ident = physical_id.split("|", 1)
        if apis.get(api_id) is None:
            return  # the API went first, and everything of it with it
        if type_ in (V2 + "Stage", V1 + "Stage"):
            await gone_ok(apis.delete_stage(api_id, ident))
        elif type_ == V2 + "Route":
            await gone_ok(apis.delete_route(api_id, ident))
        elif type_ == V2 + "Integration":
            await gone_ok(apis.delete_integration(api_id, ident))
        else:
            stage = apis.api(api_id).stages.get(str(props.get("StageName")))
            if type_ == V1 + "Deployment" and stage is not None and stage.deployment_id == ident:
                await gone_ok(apis.delete_stage(api_id, stage.name))  # the stage it made goes with it
            await gone_ok(apis.delete_deployment(api_id, ident))
