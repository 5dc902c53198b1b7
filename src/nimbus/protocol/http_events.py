"""HTTP requests as Lambda events, and Lambda replies as HTTP responses: payload formats 1.0 and 2.0, pure.

Function URLs always speak 2.0; HTTP APIs speak either, per integration. Both directions follow what Lambda and API
Gateway do, so code written for them (Mangum, Powertools, a hand-written handler) runs unchanged:

- a request body goes as text when its content type is textual and it is valid UTF-8, else base64 with
  `isBase64Encoded` true (a form post, `application/x-www-form-urlencoded`, arrives base64, as on AWS);
- 2.0 joins repeated headers and query keys with commas and moves `Cookie` headers into `cookies`; 1.0 keeps the
  last value in `headers` / `queryStringParameters` and every value in the `multiValue*` twins;
- a 2.0 reply that is not an object with `statusCode` is 200 `application/json` with the reply as its body
  (unchanged, not copied); a 1.0 reply must have `statusCode`.

A reply the platform cannot turn into a response (not JSON, a bad status, bad base64, a header that would split
the response) raises `InvalidFunctionReply`: the front answers its own error for it (502 for URLs), never a crash.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import time
from dataclasses import dataclass
from functools import lru_cache
from typing import Any
from urllib.parse import unquote

from nimbus.errors import InvalidFunctionReply
from nimbus.protocol import json_text

Headers = list[tuple[bytes, bytes]]

_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
#: content types whose bodies go as text (when they decode as UTF-8); everything else goes base64
_TEXT_TYPES = frozenset(
    (
        "application/json", "application/javascript", "application/ecmascript", "application/xml",
        "application/x-javascript", "application/graphql", "application/yaml", "application/x-yaml",
        "application/x-ndjson", "application/xhtml+xml",
    )
)  # fmt: skip
#: a header name as RFC 9110 allows it (a token); anything else in a reply would corrupt the response
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
#: headers the HTTP server writes itself (framing): a function's own copies are dropped, as API Gateway drops them
_FRAMING = frozenset((b"content-length", b"transfer-encoding", b"connection", b"keep-alive", b"upgrade"))
_JSON_TYPE = (b"content-type", b"application/json")
#: the 1.0 identity's members an HTTP API leaves null (no Cognito, no IAM caller)
_IDENTITY_NULLS = (
    "accessKey", "accountId", "caller", "cognitoAuthenticationProvider", "cognitoAuthenticationType",
    "cognitoIdentityId", "cognitoIdentityPoolId", "principalOrgId", "user", "userArn",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class HttpRequest:
    """One HTTP request as a trigger received it: the path and query still percent-encoded, header names
    lower-case with every value received (as our HTTP server gives them)."""

    method: str
    raw_path: str
    raw_query: str
    headers: dict[str, list[str]]
    body: bytes
    source_ip: str
    #: the host the request named, without port (`requestContext.domainName`)
    domain_name: str
    request_id: str
    #: when the request arrived, epoch milliseconds
    time_ms: int
    protocol: str = "HTTP/1.1"
    #: what the function sees in `x-forwarded-proto` / `x-forwarded-port` (frameworks build absolute URLs from them)
    scheme: str = "http"
    port: int = 0


@dataclass(slots=True)
class HttpReply:
    """The response a function's reply stands for: status, headers (repeated `set-cookie` included), body."""

    status: int
    headers: Headers
    body: bytes


def clf_time(time_ms: int) -> str:
    """`30/Nov/2026:10:00:00 +0000`, the Common Log Format time API Gateway puts in events (locale-independent)."""
    return _clf_second(time_ms // 1000)


@lru_cache(maxsize=8)
def _clf_second(second: int) -> str:
    """Formatted once per second, however many requests arrive in it."""
    t = time.gmtime(second)
    return f"{t.tm_mday:02d}/{_MONTHS[t.tm_mon - 1]}/{t.tm_year}:{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d} +0000"


def is_textual(content_type: str | None) -> bool:
    """Whether a body of this content type goes to the function as text: `text/*`, JSON, XML, JavaScript, YAML, and
    their `+json` / `+xml` kin; a missing content type counts as text (the body must still be UTF-8)."""
    if content_type is None:
        return True
    kind = content_type.partition(";")[0].strip().lower()
    return kind.startswith("text/") or kind in _TEXT_TYPES or kind.endswith(("+json", "+xml"))


def encode_body(body: bytes, content_type: str | None) -> tuple[str | None, bool]:
    """The event's `body` and `isBase64Encoded` for a request body (None for an empty one)."""
    if not body:
        return None, False
    if is_textual(content_type):
        try:
            return body.decode("utf-8"), False
        except UnicodeDecodeError:
            pass
    return base64.b64encode(body).decode("ascii"), True


def parse_query(raw_query: str) -> dict[str, list[str]]:
    """Every value of every key, in order, percent-decoded (a `+` stays a `+`, as API Gateway leaves it); a key
    without `=` has the empty value."""
    out: dict[str, list[str]] = {}
    if not raw_query:
        return out
    for item in raw_query.split("&"):
        if not item:
            continue
        key, _, value = item.partition("=")
        if "%" in key:
            key = unquote(key)
        if "%" in value:
            value = unquote(value)
        out.setdefault(key, []).append(value)
    return out


def _forwarded(req: HttpRequest) -> dict[str, str]:
    """The x-forwarded-* headers AWS's front ends add, so frameworks see the client and the scheme."""
    forwarded_for = req.headers.get("x-forwarded-for")
    out = {
        "x-forwarded-for": f"{','.join(forwarded_for)}, {req.source_ip}" if forwarded_for else req.source_ip,
        "x-forwarded-proto": req.scheme,
    }
    if req.port:
        out["x-forwarded-port"] = str(req.port)
    return out


def event_v2(
    req: HttpRequest,
    *,
    route_key: str,
    api_id: str,
    account_id: str,
    stage: str,
    path_parameters: dict[str, str] | None = None,
    stage_variables: dict[str, str] | None = None,
    authorizer: dict[str, Any] | None = None,
) -> bytes:
    """Payload format 2.0 (function URLs, HTTP APIs), as JSON bytes. Members that are empty are left out, as AWS
    leaves them out (cookies, queryStringParameters, pathParameters, stageVariables, body)."""
    headers: dict[str, str] = {}
    cookies: list[str] = []
    for name, values in req.headers.items():
        if name == "cookie":
            for value in values:
                cookies += [c for c in (part.strip() for part in value.split(";")) if c]
        else:
            headers[name] = values[0] if len(values) == 1 else ",".join(values)
    headers.update(_forwarded(req))
    content_type = req.headers.get("content-type")
    body, is_b64 = encode_body(req.body, content_type[0] if content_type else None)
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": req.raw_path,
        "rawQueryString": req.raw_query,
    }
    if cookies:
        event["cookies"] = cookies
    event["headers"] = headers
    if req.raw_query and (query := parse_query(req.raw_query)):
        event["queryStringParameters"] = {k: v[0] if len(v) == 1 else ",".join(v) for k, v in query.items()}
    if path_parameters:
        event["pathParameters"] = path_parameters
    if stage_variables:
        event["stageVariables"] = stage_variables
    context: dict[str, Any] = {
        "accountId": account_id,
        "apiId": api_id,
        "domainName": req.domain_name,
        "domainPrefix": req.domain_name.partition(".")[0],
        "http": {
            "method": req.method,
            "path": req.raw_path,
            "protocol": req.protocol,
            "sourceIp": req.source_ip,
            "userAgent": headers.get("user-agent", ""),
        },
        "requestId": req.request_id,
        "routeKey": route_key,
        "stage": stage,
        "time": clf_time(req.time_ms),
        "timeEpoch": req.time_ms,
    }
    if authorizer is not None:
        context["authorizer"] = authorizer
    event["requestContext"] = context
    if body is not None:
        event["body"] = body
    event["isBase64Encoded"] = is_b64
    return json.dumps(event).encode()


def event_v1(
    req: HttpRequest,
    *,
    resource: str,
    api_id: str,
    account_id: str,
    stage: str,
    path_parameters: dict[str, str] | None,
    stage_variables: dict[str, str] | None,
    resource_id: str | None = None,
    stage_path: str | None = None,
) -> bytes:
    """Payload format 1.0 (API Gateway's REST-style proxy event), as JSON bytes. Empty maps and bodies are null, as
    API Gateway sends them; `headers` and `queryStringParameters` hold each name's last value. `stage_path`: a REST
    API's event, whose `path` is the path within the stage (`requestContext.path` keeps the whole path) and which
    has no `version`."""
    multi_headers = dict(req.headers) | {k: [v] for k, v in _forwarded(req).items()}
    query = parse_query(req.raw_query)
    content_type = req.headers.get("content-type")
    body, is_b64 = encode_body(req.body, content_type[0] if content_type else None)
    user_agent = req.headers.get("user-agent")
    identity = dict.fromkeys(_IDENTITY_NULLS) | {
        "sourceIp": req.source_ip, "userAgent": user_agent[-1] if user_agent else "",
    }  # fmt: skip
    event = {
        "version": "1.0",
        "resource": resource,
        "path": req.raw_path if stage_path is None else stage_path,
        "httpMethod": req.method,
        "headers": {k: v[-1] for k, v in multi_headers.items()},
        "multiValueHeaders": multi_headers,
        "queryStringParameters": {k: v[-1] for k, v in query.items()} or None,
        "multiValueQueryStringParameters": query or None,
        "requestContext": {
            "accountId": account_id,
            "apiId": api_id,
            "domainName": req.domain_name,
            "domainPrefix": req.domain_name.partition(".")[0],
            "extendedRequestId": req.request_id,
            "httpMethod": req.method,
            "identity": identity,
            "path": req.raw_path,
            "protocol": req.protocol,
            "requestId": req.request_id,
            "requestTime": clf_time(req.time_ms),
            "requestTimeEpoch": req.time_ms,
            "resourceId": resource_id,
            "resourcePath": resource,
            "stage": stage,
        },
        "pathParameters": path_parameters or None,
        "stageVariables": stage_variables or None,
        "body": body,
        "isBase64Encoded": is_b64,
    }
    if stage_path is not None:
        del event["version"]
    return json.dumps(event).encode()


# ---- replies ----
def reply_v2(payload: bytes) -> HttpReply:
    """A payload format 2.0 reply as Lambda reads it: an object with `statusCode` names the response; anything
    else (a string, a number, an object without `statusCode`) is a 200 `application/json` whose body is the
    reply's JSON text itself (a bare string keeps its quotes, as function URLs send it)."""
    value = _loads(payload)
    if isinstance(value, dict) and "statusCode" in value:
        return _proxy_reply(value, v1=False)
    return HttpReply(200, [_JSON_TYPE], payload)


def reply_v1(payload: bytes) -> HttpReply:
    """A payload format 1.0 reply: an object that must carry `statusCode` (API Gateway answers a 500 for one
    without it, which the front does on `InvalidFunctionReply`); `multiValueHeaders` merge with `headers`, the
    multi-valued ones winning a name both give."""
    value = _loads(payload)
    if not isinstance(value, dict) or "statusCode" not in value:
        raise InvalidFunctionReply("The function's reply has no statusCode (payload format 1.0 requires one).")
    return _proxy_reply(value, v1=True)


def _loads(payload: bytes) -> Any:
    try:
        return json_text.loads(payload)
    except ValueError:
        raise InvalidFunctionReply("The function's reply is not JSON.") from None


def _proxy_reply(value: dict[str, Any], *, v1: bool) -> HttpReply:
    status = value["statusCode"]
    if isinstance(status, str) and status.isdigit():
        status = int(status)
    if not isinstance(status, int) or isinstance(status, bool) or not 100 <= status <= 599:
        raise InvalidFunctionReply(f"The function's reply has an invalid statusCode: {status!r}.")
    headers: Headers = []
    multi = value.get("multiValueHeaders") if v1 else None
    if multi is not None and not isinstance(multi, dict):
        raise InvalidFunctionReply("The function's reply has multiValueHeaders that are not an object.")
    multi_names = {str(k).lower() for k in multi} if multi else set()
    single = value.get("headers")
    if single is not None and not isinstance(single, dict):
        raise InvalidFunctionReply("The function's reply has headers that are not an object.")
    for name, raw in (single or {}).items():
        if name.lower() not in multi_names:
            _add_header(headers, name, raw)
    for name, raws in (multi or {}).items():
        if not isinstance(raws, list):
            raise InvalidFunctionReply(f"The function's reply has multiValueHeaders[{name!r}] that is not a list.")
        for raw in raws:
            _add_header(headers, name, raw)
    cookies = None if v1 else value.get("cookies")
    if cookies is not None:
        if not isinstance(cookies, list):
            raise InvalidFunctionReply("The function's reply has cookies that are not a list.")
        for cookie in cookies:
            _add_header(headers, "set-cookie", cookie)
    if not any(name == b"content-type" for name, _ in headers):
        headers.append(_JSON_TYPE)
    return HttpReply(status, headers, _reply_body(value, v1))


def _add_header(headers: Headers, name: Any, raw: Any) -> None:
    """One response header, checked: a name that is not a token or a value with CR, LF or NUL would let the function
    write past its own response, so the reply is refused instead."""
    if raw is None:
        return
    if not isinstance(name, str) or not _TOKEN.fullmatch(name):
        raise InvalidFunctionReply(f"The function's reply has an invalid header name: {name!r}.")
    if isinstance(raw, bool):
        text = "true" if raw else "false"
    elif isinstance(raw, str | int | float):
        text = str(raw)
    else:
        raise InvalidFunctionReply(f"The function's reply has a header {name!r} whose value is not a string.")
    if "\r" in text or "\n" in text or "\0" in text:
        raise InvalidFunctionReply(f"The function's reply has a header {name!r} with a line break in its value.")
    key = name.lower().encode("ascii")
    if key not in _FRAMING:
        headers.append((key, text.encode("utf-8", "replace")))


def _reply_body(value: dict[str, Any], v1: bool) -> bytes:
    body = value.get("body")
    if body is None:
        return b""
    if not isinstance(body, str):
        if v1:  # API Gateway: "Malformed Lambda proxy response"
            raise InvalidFunctionReply("The function's reply has a body that is not a string.")
        return json.dumps(body).encode()
    if value.get("isBase64Encoded") is True:
        try:
            return base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            raise InvalidFunctionReply("The function's reply has isBase64Encoded but its body is not base64.") from None
    return body.encode("utf-8", "replace")  # a lone surrogate (JSON allows "\\ud800") becomes "?"
