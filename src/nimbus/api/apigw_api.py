"""The API Gateway v2 wire API (apigatewayv2 2018-11-29), the HTTP API subset: apis (with quick create, import and
reimport), routes, integrations, stages and deployments.

Routes, input and output come from botocore's model through `RestJsonProtocol`; this module maps each operation to
`HttpApis` and shapes records as API Gateway answers them. Requests are signed for the `apigateway` service (what
boto3's apigatewayv2 client and the AWS CLI sign with); errors are API Gateway's (`api/errors.apigw_json`).
`ApiEndpoint` is computed at answer time, so it follows the server's listening port and domain settings.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from nimbus.api.app import APIGW
from nimbus.api.http import Request, Response, Router
from nimbus.api.restjson import Operation, RestJsonProtocol
from nimbus.api.triggers import API, PublicEndpoints
from nimbus.control.http_apis import ApiDocument, Deployment, HttpApis, Integration, Route, Stage
from nimbus.errors import InvalidParameterValue

#: body limit of ImportApi and ReimportApi: an OpenAPI document of a few hundred routes, JSON-escaped
IMPORT_BODY_MAX = 2 << 20
#: the most items one page of GetApis, GetRoutes... holds when the caller names no MaxResults
PAGE_DEFAULT = 100


def _page(items: list[Any], inp: dict[str, Any]) -> tuple[list[Any], str | None]:
    """Index pagination: NextToken is the index of the next page's first item."""
    raw_max, token = inp.get("MaxResults"), inp.get("NextToken")
    if raw_max is not None and not (raw_max.isdigit() and 1 <= int(raw_max) <= 500):
        raise InvalidParameterValue(f"Invalid MaxResults '{raw_max}': send an integer from 1 to 500.")
    if token is not None and not token.isdigit():
        raise InvalidParameterValue(f"Invalid NextToken '{token}': send the NextToken of the previous page.")
    start, size = int(token or 0), int(raw_max or PAGE_DEFAULT)
    return items[start : start + size], (str(start + size) if start + size < len(items) else None)


def describe_route(route: Route) -> dict[str, Any]:
    return {
        "ApiGatewayManaged": route.managed, "ApiKeyRequired": route.api_key_required,
        "AuthorizationType": route.authorization_type, "OperationName": route.operation_name,
        "RouteId": route.route_id, "RouteKey": route.route_key, "Target": route.target,
    }  # fmt: skip


def describe_integration(integration: Integration) -> dict[str, Any]:
    return {
        "ApiGatewayManaged": integration.managed, "ConnectionType": integration.connection_type,
        "CredentialsArn": integration.credentials_arn, "Description": integration.description,
        "IntegrationId": integration.integration_id, "IntegrationMethod": integration.integration_method,
        "IntegrationType": integration.integration_type, "IntegrationUri": integration.integration_uri,
        "PayloadFormatVersion": integration.payload_format_version, "TimeoutInMillis": integration.timeout_ms,
    }  # fmt: skip


def describe_stage(stage: Stage) -> dict[str, Any]:
    return {
        "ApiGatewayManaged": stage.managed, "AutoDeploy": stage.auto_deploy, "CreatedDate": stage.created,
        "DefaultRouteSettings": stage.settings.get("DefaultRouteSettings", {}), "DeploymentId": stage.deployment_id,
        "Description": stage.description, "LastUpdatedDate": stage.last_updated,
        "RouteSettings": stage.settings.get("RouteSettings", {}), "AccessLogSettings": stage.settings.get(
            "AccessLogSettings"), "StageName": stage.name, "StageVariables": dict(stage.stage_variables),
        "Tags": dict(stage.tags),
    }  # fmt: skip


def describe_deployment(deployment: Deployment) -> dict[str, Any]:
    return {
        "AutoDeployed": deployment.auto_deployed, "CreatedDate": deployment.created,
        "DeploymentId": deployment.deployment_id, "DeploymentStatus": "DEPLOYED",
        "Description": deployment.description,
    }  # fmt: skip


class ApiGatewayApi:
    """Registers apigatewayv2's HTTP API operations on the router, under the `apigateway` signing scope."""

    def __init__(self, apis: HttpApis, endpoints: PublicEndpoints) -> None:
        self.apis = apis
        self.endpoints = endpoints
        self.protocol = RestJsonProtocol("apigatewayv2")
        self.operations: dict[str, Operation] = {
            "CreateApi": self.create_api, "GetApi": self.get_api, "GetApis": self.get_apis,
            "UpdateApi": self.update_api, "DeleteApi": self.delete_api, "ImportApi": self.import_api,
            "ReimportApi": self.reimport_api, "DeleteCorsConfiguration": self.delete_cors,
            "CreateRoute": self.create_route, "GetRoute": self.get_route, "GetRoutes": self.get_routes,
            "UpdateRoute": self.update_route, "DeleteRoute": self.delete_route,
            "CreateIntegration": self.create_integration, "GetIntegration": self.get_integration,
            "GetIntegrations": self.get_integrations, "UpdateIntegration": self.update_integration,
            "DeleteIntegration": self.delete_integration,
            "CreateStage": self.create_stage, "GetStage": self.get_stage, "GetStages": self.get_stages,
            "UpdateStage": self.update_stage, "DeleteStage": self.delete_stage,
            "CreateDeployment": self.create_deployment, "GetDeployment": self.get_deployment,
            "GetDeployments": self.get_deployments, "DeleteDeployment": self.delete_deployment,
        }  # fmt: skip

    def register(self, router: Router) -> None:
        for name, call in self.operations.items():
            method, template = self.protocol.route(name)
            limit = IMPORT_BODY_MAX if name in ("ImportApi", "ReimportApi") else None
            handler = self._handler(name, call)
            if limit is None:
                router.add(method, template, handler, name, service=APIGW)
            else:
                router.add(method, template, handler, name, limit, service=APIGW)

    def _handler(self, name: str, call: Operation) -> Callable[[Request], Any]:
        async def handle(req: Request) -> Response:
            return self.protocol.respond(name, await call(self.protocol.parse(name, req)))

        return handle

    # ---- apis ----
    def describe_api(self, doc: ApiDocument) -> dict[str, Any]:
        return {
            "ApiEndpoint": self.endpoints.base(API, doc.api_id), "ApiId": doc.api_id,
            "ApiKeySelectionExpression": doc.api_key_selection_expression,
            "CorsConfiguration": dict(doc.cors) if doc.cors else None, "CreatedDate": doc.created,
            "Description": doc.description, "DisableExecuteApiEndpoint": doc.disable_execute_api_endpoint,
            "IpAddressType": doc.ip_address_type, "Name": doc.name, "ProtocolType": doc.protocol_type,
            "RouteSelectionExpression": doc.route_selection_expression, "Tags": dict(doc.tags),
            "Version": doc.version, "Warnings": list(doc.warnings) or None,
        }  # fmt: skip

    async def create_api(self, inp: dict[str, Any]) -> dict[str, Any]:
        return self.describe_api(await self.apis.create_api(inp))

    async def get_api(self, inp: dict[str, Any]) -> dict[str, Any]:
        return self.describe_api(self.apis.api(inp["ApiId"]))

    async def get_apis(self, inp: dict[str, Any]) -> dict[str, Any]:
        items, token = _page(self.apis.apis(), inp)
        return {"Items": [self.describe_api(d) for d in items], "NextToken": token}

    async def update_api(self, inp: dict[str, Any]) -> dict[str, Any]:
        return self.describe_api(await self.apis.update_api(inp.pop("ApiId"), inp))

    async def delete_api(self, inp: dict[str, Any]) -> None:
        await self.apis.delete_api(inp["ApiId"])

    async def delete_cors(self, inp: dict[str, Any]) -> None:
        await self.apis.update_api(inp["ApiId"], {"CorsConfiguration": None})

    async def import_api(self, inp: dict[str, Any]) -> dict[str, Any]:
        doc = await self.apis.import_api(inp["Body"], fail_on_warnings=bool(inp.get("FailOnWarnings")))
        return self.describe_api(doc)

    async def reimport_api(self, inp: dict[str, Any]) -> dict[str, Any]:
        doc = await self.apis.import_api(
            inp["Body"], fail_on_warnings=bool(inp.get("FailOnWarnings")), api_id=inp["ApiId"]
        )
        return self.describe_api(doc)

    # ---- routes ----
    async def create_route(self, inp: dict[str, Any]) -> dict[str, Any]:
        return describe_route(await self.apis.create_route(inp.pop("ApiId"), inp))

    async def get_route(self, inp: dict[str, Any]) -> dict[str, Any]:
        return describe_route(self.apis.route(inp["ApiId"], inp["RouteId"]))

    async def get_routes(self, inp: dict[str, Any]) -> dict[str, Any]:
        routes = sorted(self.apis.api(inp["ApiId"]).routes.values(), key=lambda r: r.route_key)
        items, token = _page(routes, inp)
        return {"Items": [describe_route(r) for r in items], "NextToken": token}

    async def update_route(self, inp: dict[str, Any]) -> dict[str, Any]:
        return describe_route(await self.apis.update_route(inp.pop("ApiId"), inp.pop("RouteId"), inp))

    async def delete_route(self, inp: dict[str, Any]) -> None:
        await self.apis.delete_route(inp["ApiId"], inp["RouteId"])

    # ---- integrations ----
    async def create_integration(self, inp: dict[str, Any]) -> dict[str, Any]:
        return describe_integration(await self.apis.create_integration(inp.pop("ApiId"), inp))

    async def get_integration(self, inp: dict[str, Any]) -> dict[str, Any]:
        return describe_integration(self.apis.integration(inp["ApiId"], inp["IntegrationId"]))

    async def get_integrations(self, inp: dict[str, Any]) -> dict[str, Any]:
        items, token = _page(list(self.apis.api(inp["ApiId"]).integrations.values()), inp)
        return {"Items": [describe_integration(i) for i in items], "NextToken": token}

    async def update_integration(self, inp: dict[str, Any]) -> dict[str, Any]:
        api_id, integration_id = inp.pop("ApiId"), inp.pop("IntegrationId")
        return describe_integration(await self.apis.update_integration(api_id, integration_id, inp))

    async def delete_integration(self, inp: dict[str, Any]) -> None:
        await self.apis.delete_integration(inp["ApiId"], inp["IntegrationId"])

    # ---- stages ----
    async def create_stage(self, inp: dict[str, Any]) -> dict[str, Any]:
        return describe_stage(await self.apis.create_stage(inp.pop("ApiId"), inp))

    async def get_stage(self, inp: dict[str, Any]) -> dict[str, Any]:
        return describe_stage(self.apis.stage(inp["ApiId"], inp["StageName"]))

    async def get_stages(self, inp: dict[str, Any]) -> dict[str, Any]:
        items, token = _page(list(self.apis.api(inp["ApiId"]).stages.values()), inp)
        return {"Items": [describe_stage(s) for s in items], "NextToken": token}

    async def update_stage(self, inp: dict[str, Any]) -> dict[str, Any]:
        return describe_stage(await self.apis.update_stage(inp.pop("ApiId"), inp.pop("StageName"), inp))

    async def delete_stage(self, inp: dict[str, Any]) -> None:
        await self.apis.delete_stage(inp["ApiId"], inp["StageName"])

    # ---- deployments ----
    async def create_deployment(self, inp: dict[str, Any]) -> dict[str, Any]:
        return describe_deployment(await self.apis.create_deployment(inp.pop("ApiId"), inp))

    async def get_deployment(self, inp: dict[str, Any]) -> dict[str, Any]:
        return describe_deployment(self.apis.deployment(inp["ApiId"], inp["DeploymentId"]))

    async def get_deployments(self, inp: dict[str, Any]) -> dict[str, Any]:
        items, token = _page(list(self.apis.api(inp["ApiId"]).deployments.values()), inp)
        return {"Items": [describe_deployment(d) for d in items], "NextToken": token}

    async def delete_deployment(self, inp: dict[str, Any]) -> None:
        await self.apis.delete_deployment(inp["ApiId"], inp["DeploymentId"])
