"""The request record, responses, and a regex router: no framework sits on the invoke path."""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import parse_qs, unquote

from nimbus.errors import InvalidRequestContent

Headers = list[tuple[bytes, bytes]]


@dataclass
class Request:
    method: str
    raw_path: str
    query: str
    headers: dict[str, list[str]]
    body: bytes
    request_id: str
    params: dict[str, str] = field(default_factory=dict)

    def header(self, name: str, default: str | None = None) -> str | None:
        values = self.headers.get(name)
        return values[0] if values else default

    def query_params(self) -> dict[str, list[str]]:
        return parse_qs(self.query, keep_blank_values=True)

    def query_one(self, name: str) -> str | None:
        values = self.query_params().get(name)
        return values[0] if values else None

    def json(self) -> dict[str, Any]:
        if not self.body:
            return {}
        try:
            value = json.loads(self.body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise InvalidRequestContent(f"Could not parse request body into json: {exc}") from None
        if not isinstance(value, dict):
            raise InvalidRequestContent("Could not parse request body into json: expected an object")
        return value


@dataclass
class Response:
    status: int = 200
    body: bytes = b""
    headers: Headers = field(default_factory=list)

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


class Routes(Protocol):
    """A wire API: registers its operations on the router."""

    def register(self, router: Router) -> None: ...


class Router:
    """Routes on the raw (still percent-encoded) path; `{Name}` segments are decoded into Request.params."""

    def __init__(self) -> None:
        self.routes: list[Route] = []

    def add(self, method: str, template: str, handler: Handler, operation: str, max_body: int = 6_291_456) -> None:
        regex = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", template)
        self.routes.append(Route(method, re.compile(regex + "/?"), handler, operation, max_body))

    def match(self, method: str, raw_path: str) -> tuple[Route, dict[str, str]] | None:
        for route in self.routes:
            if route.method == method and (m := route.pattern.fullmatch(raw_path)):
                return route, {k: unquote(v) for k, v in m.groupdict().items()}
        return None
