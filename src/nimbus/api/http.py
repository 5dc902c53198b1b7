"""The request records (as parsed, as routed), responses, and a regex router: no framework sits on the invoke path."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import parse_qs, unquote

from nimbus.control.identity import Principal
from nimbus.errors import InvalidRequestContent

Headers = list[tuple[bytes, bytes]]

#: body limit of a route that does not name one: control-plane JSON (configurations, aliases, tags) is a few KB
CONTROL_BODY_MAX = 256 * 1024


def parse_json(raw: bytes | str) -> Any:
    """json.loads where every failure is the caller's 400, never our 500: a document nested deeper than the
    parser's recursion limit (100,000 `[` in a row) raises RecursionError, which is not a ValueError."""
    try:
        return json.loads(raw)
    except RecursionError:
        raise InvalidRequestContent(
            "Could not parse request body into json: the document is nested too deeply"
        ) from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidRequestContent(f"Could not parse request body into json: {exc}") from None


@dataclass
class Request:
    method: str
    raw_path: str
    query: str
    headers: dict[str, list[str]]
    body: bytes
    request_id: str
    params: dict[str, str] = field(default_factory=dict)
    #: who signed it (the key ring's Principal), what authorization asks about; None for an unsigned request
    principal: Principal | None = None
    #: the body as parsed already (its JSON value, or a form's fields), by the authorizer or an earlier `json()`:
    #: the handler takes it instead of parsing the body again (None: not parsed yet)
    parsed: Any = None

    def header(self, name: str, default: str | None = None) -> str | None:
        values = self.headers.get(name)
        return values[0] if values else default

    def query_params(self) -> dict[str, list[str]]:
        return parse_qs(self.query, keep_blank_values=True) if self.query else {}

    def query_one(self, name: str) -> str | None:
        values = self.query_params().get(name)
        return values[0] if values else None

    def json(self) -> dict[str, Any]:
        if not self.body:
            return {}
        if self.parsed is None:
            self.parsed = parse_json(self.body)
        value = self.parsed
        if not isinstance(value, dict):
            raise InvalidRequestContent("Could not parse request body into json: expected an object")
        return value


@dataclass
class Response:
    status: int = 200
    body: bytes = b""
    headers: Headers = field(default_factory=list)
    #: a body written as it comes (server-sent events), after `body`; the connection closes when it ends
    stream: AsyncIterator[bytes] | None = None

    @classmethod
    def json(cls, value: Any, status: int = 200) -> Response:
        return cls(status, json.dumps(value).encode(), [(b"content-type", b"application/json")])


Handler = Callable[[Request], Awaitable[Response]]


@dataclass(frozen=True)
class Route:
    method: str
    pattern: re.Pattern[str]
    handler: Handler
    operation: str
    max_body: int
    #: the SigV4 credential scope's service of the API the route belongs to ("apigateway" for API Gateway v2)
    service: str = "lambda"


class Routes(Protocol):
    """A wire API: registers its operations on the router."""

    def register(self, router: Router) -> None: ...


#: paths whose route match is kept (`Router.match`), and the longest kept: a match is made before the request's
#: signature is checked, so what anyone may make the cache hold stays small (an invoke's path is under 300)
MATCH_CACHE = 1024
MATCH_CACHE_PATH = 512


class Router:
    """Routes on the raw (still percent-encoded) path; `{Name}` segments are decoded into Request.params."""

    def __init__(self) -> None:
        self.routes: list[Route] = []
        #: (method, raw path) -> its route and decoded params: clients call the same few paths (a function's
        #: invocations) over and over, and the scan runs a pattern per route before it; bounded, emptied when full
        self._matched: dict[tuple[str, str], tuple[Route, dict[str, str]]] = {}

    def add(
        self,
        method: str,
        template: str,
        handler: Handler,
        operation: str,
        max_body: int = CONTROL_BODY_MAX,
        service: str = "lambda",
    ) -> None:
        regex = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", template)
        self.routes.append(Route(method, re.compile(regex + "/?"), handler, operation, max_body, service))
        self._matched.clear()

    @property
    def kept(self) -> int:
        """Route matches kept for paths seen before (at most MATCH_CACHE)."""
        return len(self._matched)

    def match(self, method: str, raw_path: str) -> tuple[Route, dict[str, str]] | None:
        """The first route of `method` whose pattern takes the whole path, and its `{Name}` segments decoded (a
        dict of the caller's own)."""
        key = (method, raw_path)
        hit = self._matched.get(key)
        if hit is not None:
            return hit[0], dict(hit[1])
        for route in self.routes:
            if route.method == method and (m := route.pattern.fullmatch(raw_path)):
                params = {k: unquote(v) for k, v in m.groupdict().items()}
                if len(raw_path) <= MATCH_CACHE_PATH:
                    if len(self._matched) >= MATCH_CACHE:
                        self._matched.clear()
                    self._matched[key] = (route, dict(params))
                return route, params
        return None


class Incoming:
    """One parsed request: what the application needs, nothing more."""

    __slots__ = (
        "body", "body_size", "content_length", "context", "headers", "keep_alive", "max_body", "method", "peer",
        "reserved", "response", "target",
    )  # fmt: skip

    def __init__(
        self,
        method: str,
        target: bytes,
        headers: dict[str, list[str]],
        body: bytes,
        body_size: int,
        keep_alive: bool,
        content_length: int | None = None,
    ) -> None:
        self.method = method
        self.target = target
        self.headers = headers
        self.body = body
        self.body_size = body_size
        self.keep_alive = keep_alive
        self.content_length = content_length
        #: the most body bytes this request may send (set at the end of the headers, by the gate when there is one)
        self.max_body = 0
        #: whatever the gate attached for the handler (the app: the route and the checked credential scope)
        self.context: object = None
        #: a refusal, answered in turn without calling the handler
        self.response: Response | None = None
        #: bytes of the server's buffer budget held for this request until it is answered
        self.reserved = 0
        #: the client's address (the TCP peer), "" when unknown: HTTP triggers hand it to functions as sourceIp
        self.peer = ""


class Gate(Protocol):
    """The application's say at the end of a request's headers, before its body is read."""

    def admit(self, req: Incoming) -> Response | None:
        """Set req.max_body (and req.context) and return None to read the body, or return the answer to give now."""
        ...

    def refuse(self, req: Incoming, status: int) -> Response:
        """The answer for a request the server refuses itself: 413 (body past req.max_body), 503 (buffer budget)."""
        ...
