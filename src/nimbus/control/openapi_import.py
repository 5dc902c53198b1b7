"""ImportApi / ReimportApi: an HTTP API from an OpenAPI 3 (or 2.0) document, as SAM generates for `HttpApi` events.

Read here: `info.title` (the API's name), `info.description`, `info.version`, the top-level
`x-amazon-apigateway-cors`, and each `paths.<path>.<method | x-amazon-apigateway-any-method>` with its
`x-amazon-apigateway-integration` (type `aws_proxy`, httpMethod `POST`, a function's `uri`, `payloadFormatVersion`,
`timeoutInMillis`) and a `security` requirement naming an `awsSigv4` scheme (AWS_IAM). What Nimbus cannot honour
and can safely leave out (authorizers, request validators, other extensions) becomes a warning, which the import
answers in `Warnings` or, with FailOnWarnings, refuses; what it cannot serve at all (another integration type, an
unresolved `${...}` URI) is refused.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from typing import Any

import yaml

from nimbus.control import http_api_rules as rules
from nimbus.control.http_api_records import ApiDocument, Integration, Route
from nimbus.errors import InvalidParameterValue

_METHODS = {m.lower(): m for m in rules.ROUTE_METHODS if m != "ANY"} | {"x-amazon-apigateway-any-method": "ANY"}
_CORS_KEYS = {
    "allowOrigins": "AllowOrigins", "allowMethods": "AllowMethods", "allowHeaders": "AllowHeaders",
    "exposeHeaders": "ExposeHeaders", "allowCredentials": "AllowCredentials", "maxAge": "MaxAge",
}  # fmt: skip
#: libyaml's safe loader where PyYAML was built with it (twice as fast), else the pure-Python one
_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
#: extensions read (or harmless to leave out: they only describe the document)
_KNOWN = {"x-amazon-apigateway-cors", "x-amazon-apigateway-importexport-version", "x-amazon-apigateway-tag-value"}


@dataclass(frozen=True, slots=True)
class ImportedRoute:
    route_key: str
    #: None: the operation has no integration (its route answers 404, as on API Gateway)
    integration_uri: str | None
    function_arn: str | None
    payload_format_version: str
    timeout_ms: int
    authorization_type: str
    operation_name: str | None


@dataclass(frozen=True, slots=True)
class Imported:
    name: str
    description: str | None
    version: str | None
    cors: dict[str, Any] | None
    routes: tuple[ImportedRoute, ...]
    warnings: tuple[str, ...]


def _bad(detail: str) -> InvalidParameterValue:
    return InvalidParameterValue(f"Invalid OpenAPI definition: {detail}")


def _load(text: str) -> dict[str, Any]:
    try:
        doc = json.loads(text) if text.lstrip().startswith("{") else yaml.load(text, Loader=_SAFE_LOADER)
    except (ValueError, yaml.YAMLError) as exc:
        raise _bad(f"the body is neither JSON nor YAML ({str(exc).splitlines()[0]})") from None
    except RecursionError:
        raise _bad("the document is nested too deeply") from None
    if not isinstance(doc, dict):
        raise _bad("the body must be an OpenAPI document (an object with openapi, info and paths)")
    version = str(doc.get("openapi", doc.get("swagger", "")))
    if not (version.startswith("3.") or version == "2.0"):
        raise _bad(f"unsupported OpenAPI version '{version}': send an OpenAPI 3.0 (or 2.0) document")
    return doc


def _integration(where: str, spec: Any, region: str, account: str) -> tuple[str, str, str, int]:
    """(uri, function ARN, payload format version, timeout) of an operation's x-amazon-apigateway-integration."""
    if not isinstance(spec, dict):
        raise _bad(f"{where}: x-amazon-apigateway-integration must be an object")
    kind = str(spec.get("type", "")).upper()
    if kind != "AWS_PROXY":
        raise _bad(
            f"{where}: integration type '{spec.get('type')}' is not supported; Nimbus imports aws_proxy "
            "integrations of Lambda functions only"
        )
    if str(spec.get("httpMethod", "POST")).upper() != "POST":
        raise _bad(f"{where}: a Lambda integration's httpMethod must be POST")
    uri = spec.get("uri")
    if not isinstance(uri, str):
        raise _bad(
            f"{where}: the integration uri must be a string (a function ARN); an intrinsic function such as "
            "Fn::Sub is left unresolved: resolve it before importing"
        )
    try:
        function_arn = rules.function_arn_of(uri, region=region, account=account)
        fmt = rules.check_payload_format(str(spec.get("payloadFormatVersion", "1.0")))
        timeout = spec.get("timeoutInMillis")
        timeout_ms = rules.check_timeout(None if timeout is None else int(timeout))
    except (ValueError, TypeError):
        raise _bad(f"{where}: timeoutInMillis must be an integer") from None
    except InvalidParameterValue as exc:
        raise _bad(f"{where}: {exc.message}") from None
    return uri, function_arn, fmt, timeout_ms


def _authorization(where: str, op: dict[str, Any], doc: dict[str, Any], warnings: list[str]) -> str:
    """AWS_IAM for a security requirement naming an awsSigv4 scheme; any other (authorizers) is left out."""
    security = op.get("security", doc.get("security"))
    if not security:
        return "NONE"
    if not isinstance(security, list):
        raise _bad(f"{where}: security must be a list of security requirements")
    components: dict[str, Any] = doc["components"] if isinstance(doc.get("components"), dict) else {}
    schemes = components.get("securitySchemes") or doc.get("securityDefinitions") or {}
    schemes = schemes if isinstance(schemes, dict) else {}
    names = [str(name) for requirement in security if isinstance(requirement, dict) for name in requirement]
    sigv4 = [n for n in names if isinstance(schemes.get(n), dict) and
             schemes[n].get("x-amazon-apigateway-authtype") == "awsSigv4"]  # fmt: skip
    if sigv4:
        return "AWS_IAM"
    warnings.append(
        f"{where}: authorizer(s) {', '.join(names)} not imported (Nimbus has no authorizers): the route is "
        "served without authorization"
    )
    return "NONE"


def read_openapi(text: str, *, region: str, account: str) -> Imported:
    """The API an OpenAPI document describes, checked; InvalidParameterValue (BadRequestException) if it is not
    one Nimbus can serve."""
    doc = _load(text)
    info: dict[str, Any] = doc["info"] if isinstance(doc.get("info"), dict) else {}
    title = info.get("title")
    if not isinstance(title, str) or not title:
        raise _bad("info.title is required: it is the API's name")
    warnings = [f"extension {k} is not supported and was ignored" for k in doc
                if str(k).startswith("x-") and k not in _KNOWN]  # fmt: skip
    cors = doc.get("x-amazon-apigateway-cors")
    if cors is not None and not isinstance(cors, dict):
        raise _bad("x-amazon-apigateway-cors must be an object")
    routes: list[ImportedRoute] = []
    paths = doc.get("paths") or {}
    if not isinstance(paths, dict):
        raise _bad("paths must be an object")
    for path, item in paths.items():
        if not isinstance(item, dict):
            raise _bad(f"paths.{path} must be an object")
        for key, op in item.items():
            method = _METHODS.get(str(key).lower())
            if method is None or not isinstance(op, dict):
                continue
            where = f"paths.{path}.{key}"
            route_key = rules.DEFAULT_ROUTE if path == rules.DEFAULT_ROUTE else f"{method} {path}"
            try:
                rules.check_route_key(route_key)
            except InvalidParameterValue as exc:
                raise _bad(f"{where}: {exc.message}") from None
            spec = op.get("x-amazon-apigateway-integration")
            uri = function_arn = None
            fmt, timeout_ms = "1.0", rules.DEFAULT_TIMEOUT_MS
            if spec is None:
                warnings.append(f"{where}: no x-amazon-apigateway-integration; the route has no target")
            else:
                uri, function_arn, fmt, timeout_ms = _integration(where, spec, region, account)
            auth = _authorization(where, op, doc, warnings)
            operation_name = op.get("operationId") if isinstance(op.get("operationId"), str) else None
            routes.append(ImportedRoute(route_key, uri, function_arn, fmt, timeout_ms, auth, operation_name))
            if len(routes) > rules.ROUTES_MAX:
                raise _bad(f"the document has more than {rules.ROUTES_MAX} routes, API Gateway's quota per API")
    description = info.get("description")
    return Imported(
        title, None if description is None else str(description),
        None if info.get("version") is None else str(info["version"]),
        {_CORS_KEYS[k]: v for k, v in cors.items() if k in _CORS_KEYS} if cors else None,
        tuple(routes), tuple(warnings),
    )  # fmt: skip


def apply_import(base: ApiDocument, imported: Imported, cors: dict[str, Any] | None) -> ApiDocument:
    """`base` (a new API, or the one reimported: its id, stages, deployments and tags kept) with the imported
    definition in place of its name, description, version, CORS, routes and integrations."""
    routes: dict[str, Route] = {}
    integrations: dict[str, Integration] = {}
    for r in imported.routes:
        target = None
        if r.integration_uri is not None and r.function_arn is not None:
            integration = Integration(rules.new_id(), r.integration_uri, r.function_arn, r.payload_format_version,
                                      r.timeout_ms)  # fmt: skip
            integrations[integration.integration_id] = integration
            target = f"integrations/{integration.integration_id}"
        route = Route(rules.new_id(), r.route_key, target, r.authorization_type, operation_name=r.operation_name)
        routes[route.route_id] = route
    return replace(
        base, name=rules.check_length(imported.name, "info.title", 1, 128) or base.name,
        description=imported.description, version=imported.version, cors=cors, routes=routes,
        integrations=integrations, warnings=imported.warnings,
    )  # fmt: skip
