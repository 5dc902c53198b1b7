"""The records of an HTTP API (API Gateway v2, ProtocolType HTTP), as the HTTP API front reads them: an
`ApiDocument` holding its routes, integrations, stages and deployments, and its JSON form in the `http_apis` table.

Records are frozen: a change makes a new document (see `http_apis.HttpApis`), so a reader holding one sees a whole
API. Field names are Python's; `api/apigw_api.py` shapes them as API Gateway answers.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from nimbus.control import http_api_rules as rules
from nimbus.errors import ResourceNotFound


@dataclass(frozen=True, slots=True)
class Integration:
    """An AWS_PROXY integration: the function it invokes, the payload format of its events, its timeout."""

    integration_id: str
    #: as the caller gave it (a function ARN, or the apigateway `.../functions/<arn>/invocations` form)
    integration_uri: str
    #: the function ARN the integration invokes, possibly qualified (`...:function:name:alias`): what the front
    #: hands to `parse_function_ref`
    function_arn: str
    payload_format_version: str  # "1.0" | "2.0"
    timeout_ms: int
    integration_type: str = "AWS_PROXY"
    integration_method: str = "POST"
    connection_type: str = "INTERNET"
    description: str | None = None
    credentials_arn: str | None = None
    #: made by quick create (API Gateway's ApiGatewayManaged)
    managed: bool = False


@dataclass(frozen=True, slots=True)
class Route:
    """`route_key` is `$default` or `<METHOD> <path>` (METHOD may be ANY; the path may hold `{name}` segments and
    a last greedy `{name+}`); `target` is `integrations/<id>` or None (the route answers 404 then)."""

    route_id: str
    route_key: str
    target: str | None
    authorization_type: str = "NONE"  # "NONE" | "AWS_IAM"
    api_key_required: bool = False
    operation_name: str | None = None
    managed: bool = False

    @property
    def integration_id(self) -> str | None:
        return self.target.partition("/")[2] if self.target else None


@dataclass(frozen=True, slots=True)
class Stage:
    """`name` is `$default` (served at the API's root) or the first path segment of the requests it serves."""

    name: str
    auto_deploy: bool
    stage_variables: Mapping[str, str]
    created: float  # epoch seconds
    last_updated: float
    deployment_id: str | None = None
    description: str | None = None
    tags: Mapping[str, str] = field(default_factory=dict)
    #: kept and answered, not enforced (throttling, access logs): DefaultRouteSettings, RouteSettings,
    #: AccessLogSettings by their model member names
    settings: Mapping[str, Any] = field(default_factory=dict)
    managed: bool = False


@dataclass(frozen=True, slots=True)
class Deployment:
    """A record that a deployment was asked for: stages serve the API's current routes whatever it names."""

    deployment_id: str
    created: float
    description: str | None = None
    auto_deployed: bool = False


@dataclass(frozen=True, slots=True)
class ApiDocument:
    """One HTTP API, whole. Never mutated: a change makes a new document with `revision` + 1."""

    api_id: str
    name: str
    created: float  # epoch seconds
    protocol_type: str = "HTTP"
    route_selection_expression: str = rules.HTTP_ROUTE_SELECTION
    api_key_selection_expression: str = rules.API_KEY_SELECTION
    cors: Mapping[str, Any] | None = None  # API Gateway's Cors shape, by model member names
    description: str | None = None
    disable_execute_api_endpoint: bool = False
    version: str | None = None
    ip_address_type: str = "ipv4"
    tags: Mapping[str, str] = field(default_factory=dict)
    routes: Mapping[str, Route] = field(default_factory=dict)  # by route id
    integrations: Mapping[str, Integration] = field(default_factory=dict)  # by integration id
    stages: Mapping[str, Stage] = field(default_factory=dict)  # by stage name
    deployments: Mapping[str, Deployment] = field(default_factory=dict)  # by deployment id
    #: what the last import could not honour (ImportApi's Warnings)
    warnings: tuple[str, ...] = ()
    #: a REST API (API Gateway v1, a stack's AWS::ApiGateway::RestApi) served as this HTTP API: its payload 1.0
    #: events carry the path within the stage and no `version`, as a REST API's proxy events do
    rest: bool = False
    revision: int = 0

    def integration_of(self, route: Route) -> Integration | None:
        ident = route.integration_id
        return self.integrations.get(ident) if ident else None


def to_json(doc: ApiDocument) -> str:
    return json.dumps(asdict(doc), separators=(",", ":"))


def from_json(text: str) -> ApiDocument:
    raw = json.loads(text)
    raw["routes"] = {k: Route(**v) for k, v in raw["routes"].items()}
    raw["integrations"] = {k: Integration(**v) for k, v in raw["integrations"].items()}
    raw["stages"] = {k: Stage(**v) for k, v in raw["stages"].items()}
    raw["deployments"] = {k: Deployment(**v) for k, v in raw["deployments"].items()}
    raw["warnings"] = tuple(raw["warnings"])
    return ApiDocument(**raw)


def not_found(kind: str, account: str, ident: str) -> ResourceNotFound:
    """API Gateway's NotFoundException message: `Invalid API identifier specified 123456789012:a1b2c3d4e5`."""
    return ResourceNotFound(f"Invalid {kind} identifier specified {account}:{ident}")
