"""API Gateway's rules for HTTP APIs: identifiers, route keys, Lambda integration URIs, stage names, CORS.

Pure functions of their input (and the server's region and account): the service in `http_apis` calls them before
it changes anything, so a refused request leaves the API as it was. Refusals are `InvalidParameterValue` (API
Gateway's BadRequestException on the wire) worded as API Gateway words them where we know it, and saying what to
send instead where we do not.
"""

from __future__ import annotations

import re
import secrets
import string
from collections.abc import Mapping
from typing import Any

from nimbus.errors import InvalidParameterValue
from nimbus.protocol.routes import parse_route_key

#: the route key that catches every request no other route matches
DEFAULT_ROUTE = "$default"
#: the stage served at the API's root (no stage segment in the path)
DEFAULT_STAGE = "$default"
ROUTE_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "ANY")
PAYLOAD_FORMATS = ("1.0", "2.0")
TIMEOUT_RANGE = (50, 30_000)
#: API Gateway's default quota of routes (and so of integrations Nimbus makes for them) per HTTP API
ROUTES_MAX = 300
DEFAULT_TIMEOUT_MS = 30_000
AUTHORIZATION_TYPES = ("NONE", "AWS_IAM")
HTTP_ROUTE_SELECTION = "$request.method $request.path"
API_KEY_SELECTION = "$request.header.x-api-key"
CORS_METHODS = frozenset((*ROUTE_METHODS[:-1], "*"))

_ALPHABET = string.ascii_lowercase + string.digits
_PARAM = re.compile(r"\{([A-Za-z0-9._-]+)(\+?)\}")
_STAGE = re.compile(r"[A-Za-z0-9_-]{1,128}")
_STAGE_VAR_NAME = re.compile(r"[A-Za-z0-9_]{1,64}")
_STAGE_VAR_VALUE = re.compile(r"[A-Za-z0-9\-._~:/?#&=,]*")
_REGION = r"[a-z]{2}(?:-gov)?-[a-z]+-\d"
_FUNCTION_ARN = re.compile(
    rf"arn:aws[a-zA-Z-]*:lambda:(?P<region>{_REGION}):(?P<account>\d{{12}}):function:"
    r"(?P<name>[a-zA-Z0-9_-]{1,64})(?::(?P<qualifier>\$LATEST|[a-zA-Z0-9_-]{1,128}))?"
)
_INVOCATIONS_ARN = re.compile(
    rf"arn:aws[a-zA-Z-]*:apigateway:(?P<region>{_REGION}):lambda:path/2015-03-31/functions/(?P<function>.+)/invocations"
)


def new_id(length: int = 7) -> str:
    """A random identifier of lowercase letters and digits (API ids are 10 long, route and integration ids 7)."""
    return "".join(secrets.choice(_ALPHABET) for _ in range(length))


def check_length(value: str | None, field: str, lo: int, hi: int) -> str | None:
    if value is not None and not lo <= len(value) <= hi:
        raise InvalidParameterValue(f"{field} must be between {lo} and {hi} characters long.")
    return value


def check_quota(count: int, kind: str) -> None:
    """Refuse one more route or integration past ROUTES_MAX (`count`: how many the API has)."""
    if count >= ROUTES_MAX:
        raise InvalidParameterValue(
            f"Maximum number of {kind} for this API has been reached ({ROUTES_MAX}, API Gateway's default quota)."
        )


def check_route_key(key: str) -> str:
    """`$default` or `<METHOD> <path>`: the path starts with `/`, `{name}` parameters are whole segments, and a
    greedy `{name+}` may only be the last one."""
    if key == DEFAULT_ROUTE:
        return key
    if key.startswith("$"):
        raise InvalidParameterValue(
            f"Route key '{key}' is not valid for an HTTP API: the only special route key is $default "
            "($connect, $disconnect and other selection keys belong to WebSocket APIs)."
        )
    method, sep, path = key.partition(" ")
    if not sep or method not in ROUTE_METHODS:
        raise InvalidParameterValue(
            f"Invalid route key '{key}': expected $default or an HTTP method ({', '.join(ROUTE_METHODS)}), "
            "one space and a path starting with '/', such as 'GET /items/{id}'."
        )
    if not path.startswith("/") or " " in path or "//" in path or "?" in path or "#" in path:
        raise InvalidParameterValue(
            f"Invalid route key '{key}': the path must start with '/' and hold no spaces, empty segments, "
            "query string or fragment."
        )
    segments = path[1:].split("/")
    names: set[str] = set()
    for i, segment in enumerate(segments):
        if "{" not in segment and "}" not in segment:
            continue
        m = _PARAM.fullmatch(segment)
        if m is None:
            raise InvalidParameterValue(
                f"Invalid route key '{key}': a path parameter must be a whole segment, "
                "'{name}' or a greedy '{name+}', with a name of letters, digits, '.', '_' or '-'."
            )
        if m.group(2) and i != len(segments) - 1:
            raise InvalidParameterValue(
                f"Invalid route key '{key}': a greedy path variable ({segment}) must be the last segment of the path."
            )
        if m.group(1) in names:
            raise InvalidParameterValue(f"Invalid route key '{key}': path parameter '{m.group(1)}' appears twice.")
        names.add(m.group(1))
    try:  # and what the front's router compiles: a key it cannot serve must never be stored (it would break the API)
        parse_route_key(key)
    except ValueError as exc:
        raise InvalidParameterValue(f"Invalid route key '{key}': {exc}") from None
    return key


def check_stage_name(name: str) -> str:
    if name != DEFAULT_STAGE and not _STAGE.fullmatch(name):
        raise InvalidParameterValue(
            f"Invalid stage name '{name}': stage names can contain only alphanumeric characters, hyphens and "
            "underscores, or be $default. Maximum length is 128 characters."
        )
    return name


def check_stage_variables(variables: dict[str, str] | None) -> dict[str, str]:
    for name, value in (variables or {}).items():
        if not _STAGE_VAR_NAME.fullmatch(name):
            raise InvalidParameterValue(
                f"Invalid stage variable name '{name}': use 1 to 64 letters, digits and underscores."
            )
        if len(value) > 2048 or not _STAGE_VAR_VALUE.fullmatch(value):
            raise InvalidParameterValue(
                f"Invalid stage variable value for '{name}': at most 2048 characters of [A-Za-z0-9-._~:/?#&=,]."
            )
    return dict(variables or {})


def function_arn_of(uri: str, *, region: str, account: str) -> str:
    """The Lambda function ARN (possibly qualified) an AWS_PROXY integration's URI names: the function ARN itself,
    or the `arn:aws:apigateway:<region>:lambda:path/2015-03-31/functions/<function arn>/invocations` form that
    SAM and OpenAPI documents use."""
    if "${" in uri:
        raise InvalidParameterValue(
            f"Invalid integration URI '{uri}': it holds an unresolved ${{...}} substitution. Resolve it (the "
            "function's ARN) before sending the API."
        )
    m = _INVOCATIONS_ARN.fullmatch(uri)
    arn = m.group("function") if m else uri
    f = _FUNCTION_ARN.fullmatch(arn)
    if f is None:
        raise InvalidParameterValue(
            f"Invalid integration URI '{uri}': an AWS_PROXY integration takes a Lambda function ARN "
            "(arn:aws:lambda:<region>:<account>:function:<name>[:<alias or version>]) or "
            "arn:aws:apigateway:<region>:lambda:path/2015-03-31/functions/<function ARN>/invocations."
        )
    if f.group("region") != region or f.group("account") != account or (m and m.group("region") != region):
        raise InvalidParameterValue(
            f"Invalid integration URI '{uri}': the function must be in this server's region ({region}) "
            f"and account ({account})."
        )
    return arn


def check_cors(cors: dict[str, Any] | None) -> dict[str, Any] | None:
    """The CorsConfiguration as API Gateway keeps it: methods upper case, and no credentials with a wildcard
    origin (browsers refuse that combination)."""
    if cors is None:
        return None
    out = dict(cors)
    for key in ("AllowOrigins", "AllowMethods", "AllowHeaders", "ExposeHeaders"):
        if key in out and not (isinstance(out[key], list) and all(isinstance(v, str) for v in out[key])):
            raise InvalidParameterValue(f"Invalid CORS configuration: {key} must be a list of strings.")
    if not isinstance(out.get("AllowCredentials", False), bool):
        raise InvalidParameterValue("Invalid CORS configuration: AllowCredentials must be true or false.")
    max_age = out.get("MaxAge", 0)
    if isinstance(max_age, bool) or not isinstance(max_age, int) or not -1 <= max_age <= 86_400:
        raise InvalidParameterValue("Invalid CORS configuration: MaxAge must be an integer from -1 to 86400.")
    methods = [m.upper() for m in out.get("AllowMethods", [])]
    for method in methods:
        if method not in CORS_METHODS:
            raise InvalidParameterValue(
                f"Invalid CORS configuration: AllowMethods holds '{method}'; use HTTP methods or '*'."
            )
    if "AllowMethods" in out:
        out["AllowMethods"] = methods
    if out.get("AllowCredentials") and "*" in out.get("AllowOrigins", []):
        raise InvalidParameterValue(
            "Invalid CORS configuration: AllowCredentials can't be true when AllowOrigins contains '*'; "
            "list the origins instead."
        )
    return out


def check_payload_format(value: str | None) -> str:
    if value is None:
        raise InvalidParameterValue(
            "PayloadFormatVersion is required for AWS_PROXY integrations of HTTP APIs: send 1.0 or 2.0."
        )
    if value not in PAYLOAD_FORMATS:
        raise InvalidParameterValue(f"Invalid payload format version '{value}': use 1.0 or 2.0.")
    return value


def check_timeout(value: int | None) -> int:
    if value is None:
        return DEFAULT_TIMEOUT_MS
    lo, hi = TIMEOUT_RANGE
    if not lo <= value <= hi:
        raise InvalidParameterValue(f"Timeout must be between {lo} ms and {hi} ms (TimeoutInMillis {value}).")
    return value


def check_integration_type(value: str) -> str:
    if value != "AWS_PROXY":
        raise InvalidParameterValue(
            f"Nimbus supports integrations of type AWS_PROXY (a Lambda function) only; IntegrationType {value} "
            "is not supported."
        )
    return value


def check_authorization(value: str | None) -> str:
    if value is None:
        return "NONE"
    if value not in AUTHORIZATION_TYPES:
        raise InvalidParameterValue(
            f"AuthorizationType {value} is not supported by Nimbus (it has no authorizers): use NONE or AWS_IAM."
        )
    return value


def target_integration(target: str | None, integrations: dict[str, Any]) -> str | None:
    """The integration id a route's `integrations/<id>` Target names, which must be one of the API's."""
    if target is None:
        return None
    prefix, _, ident = target.partition("/")
    if prefix != "integrations" or ident not in integrations:
        raise InvalidParameterValue(
            f"Invalid target '{target}': a route's target is integrations/<IntegrationId> of an integration of "
            "this API."
        )
    return ident


def api_fields(body: Mapping[str, Any]) -> dict[str, Any]:
    """The API-level members of a CreateApi/UpdateApi body that are present, checked, by `ApiDocument` field."""
    out: dict[str, Any] = {}
    if "Name" in body:
        out["name"] = check_length(body["Name"], "Name", 1, 128)
    if "Description" in body:
        out["description"] = check_length(body["Description"], "Description", 0, 1024)
    if "Version" in body:
        out["version"] = check_length(body["Version"], "Version", 1, 64)
    if "CorsConfiguration" in body:
        out["cors"] = check_cors(body["CorsConfiguration"])
    if "DisableExecuteApiEndpoint" in body:
        out["disable_execute_api_endpoint"] = body["DisableExecuteApiEndpoint"]
    if "IpAddressType" in body:
        out["ip_address_type"] = body["IpAddressType"]
    if "ApiKeySelectionExpression" in body:
        out["api_key_selection_expression"] = body["ApiKeySelectionExpression"]
    expression = body.get("RouteSelectionExpression")
    if expression is not None:
        if expression not in (HTTP_ROUTE_SELECTION, "${request.method} ${request.path}"):
            raise InvalidParameterValue(
                f"Unsupported route selection expression for HTTP API: {expression}. "
                f"HTTP APIs use {HTTP_ROUTE_SELECTION}."
            )
        out["route_selection_expression"] = HTTP_ROUTE_SELECTION
    return out


def integration_fields(body: Mapping[str, Any], old: object | None, *, region: str, account: str) -> dict[str, Any]:
    """The members of a CreateIntegration (`old` None: the required ones too) or UpdateIntegration body, checked,
    by `Integration` field; what is not an AWS_PROXY call of a function is refused by name."""
    for unsupported in ("RequestParameters", "ResponseParameters", "RequestTemplates", "TlsConfig",
                        "IntegrationSubtype", "ConnectionId"):  # fmt: skip
        if body.get(unsupported):
            raise InvalidParameterValue(
                f"{unsupported} is not supported by Nimbus: an integration is an AWS_PROXY call of a function."
            )
    out: dict[str, Any] = {}
    if "IntegrationType" in body:
        out["integration_type"] = check_integration_type(body["IntegrationType"])
    if body.get("ConnectionType", "INTERNET") != "INTERNET":
        raise InvalidParameterValue("ConnectionType VPC_LINK is not supported by Nimbus: use INTERNET.")
    if "IntegrationUri" in body or old is None:
        uri = body.get("IntegrationUri")
        if uri is None:
            raise InvalidParameterValue("IntegrationUri is required for AWS_PROXY integrations: send the "
                                        "function's ARN.")  # fmt: skip
        out["integration_uri"] = uri
        out["function_arn"] = function_arn_of(uri, region=region, account=account)
    if "PayloadFormatVersion" in body or old is None:
        out["payload_format_version"] = check_payload_format(body.get("PayloadFormatVersion"))
    if "TimeoutInMillis" in body or old is None:
        out["timeout_ms"] = check_timeout(body.get("TimeoutInMillis"))
    method = body.get("IntegrationMethod")
    if method is not None and method != "POST":
        raise InvalidParameterValue(f"IntegrationMethod {method} is not valid for a Lambda integration: use POST.")
    if "Description" in body:
        out["description"] = check_length(body["Description"], "Description", 0, 1024)
    if "CredentialsArn" in body:
        out["credentials_arn"] = body["CredentialsArn"]
    return out
