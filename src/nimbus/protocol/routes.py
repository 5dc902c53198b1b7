"""HTTP API route keys and route matching, as API Gateway (v2) does it: pure, no I/O.

A route key is `$default` or `METHOD /path` where METHOD is ANY or an HTTP method and the path's segments are
literals, `{name}` (one segment) or, last only, `{name+}` (greedy: the rest of the path). A request is served by
the most specific route that matches it:

1. routes without a greedy variable whose segments all match, the one with a literal earliest winning (for
   `/items/list`: `/items/list` before `/items/{id}` before `/{kind}/list`);
2. then greedy routes, the longest and most literal prefix first (`/items/{proxy+}` before `/{proxy+}`);
3. then `$default`.
For the same path, a route with the request's method wins over `ANY`.

Paths are matched segment by segment on the raw path split at its literal `/`, each segment percent-decoded
before it is compared or captured (so `%2F` stays inside its segment: `/items/a%2Fb` matches `/items/{id}` with
`id` = `a/b`); `+` is a plus, not a space. Path parameters are decoded, as API Gateway passes them. A variable
matches a non-empty segment and a greedy one a non-empty rest, so `/{proxy+}` does not serve `/`, and a trailing
slash is significant: `/items/` is not `/items` (it leaves an empty last segment), only a greedy route or
`$default` serves it.

Stages: a request whose first path segment names a stage is that stage's, with the segment removed for matching
(the event's rawPath keeps it, as API Gateway's does); any other request is the `$default` stage's, if there is one.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Generic, TypeVar
from urllib.parse import unquote

DEFAULT = "$default"
ANY = "ANY"
#: the methods a route key may name (API Gateway's list for HTTP APIs)
METHODS = frozenset(("ANY", "GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"))

_LITERAL, _VARIABLE, _GREEDY = 0, 1, 2

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class RouteKey:
    """A parsed route key: `method` (None for `$default`), `path` (the resource, e.g. `/items/{id}`, or
    `$default`), and its segments as (kind, literal text or variable name)."""

    key: str
    method: str | None
    path: str
    segments: tuple[tuple[int, str], ...] = ()

    @property
    def greedy(self) -> bool:
        return bool(self.segments) and self.segments[-1][0] == _GREEDY


def parse_route_key(key: str) -> RouteKey:
    """The route key's parts, or ValueError saying what is wrong with it (in API Gateway's words where known)."""
    if key == DEFAULT:
        return RouteKey(key, None, DEFAULT)
    method, sep, path = key.partition(" ")
    if not sep or method not in METHODS:
        raise ValueError(f"Invalid route key: '{key}': expected '$default' or 'METHOD /path' with METHOD one of "
                         f"{', '.join(sorted(METHODS))}")  # fmt: skip
    if not path.startswith("/") or " " in path:
        raise ValueError(f"Invalid route key: '{key}': the path must start with '/' and contain no spaces")
    if path == "/":
        return RouteKey(key, method, path)
    parts = path[1:].split("/")
    segments: list[tuple[int, str]] = []
    names: set[str] = set()
    for i, part in enumerate(parts):
        if not part:
            raise ValueError(f"Invalid route key: '{key}': empty path segment (a path may not end with '/')")
        if part.startswith("{") and part.endswith("}"):
            name = part[1:-1]
            kind = _VARIABLE
            if name.endswith("+"):
                name, kind = name[:-1], _GREEDY
                if i != len(parts) - 1:
                    raise ValueError(f"Invalid route key: '{key}': a greedy path variable must be the last segment")
            if not name or not all(c.isalnum() or c in "_-." for c in name):
                raise ValueError(f"Invalid route key: '{key}': bad path variable name '{part}'")
            if name in names:
                raise ValueError(f"Invalid route key: '{key}': path variable '{name}' appears twice")
            names.add(name)
            segments.append((kind, name))
        elif "{" in part or "}" in part:
            raise ValueError(f"Invalid route key: '{key}': a path variable must be a whole segment")
        else:
            segments.append((_LITERAL, part))
    return RouteKey(key, method, path, tuple(segments))


@dataclass(frozen=True, slots=True)
class Match(Generic[T]):
    """The route a request matched: its key, the value the table was built with (e.g. the route's target), the
    resource path (`/items/{id}`, or `$default`) and the decoded path parameters."""

    route: RouteKey
    value: T
    path_parameters: dict[str, str] = field(default_factory=dict)

    @property
    def resource(self) -> str:
        return self.route.path


class RouteTable(Generic[T]):
    """An API's routes, compiled once per change of the API, matched per request."""

    def __init__(self, routes: Iterable[tuple[str, T]]) -> None:
        """`routes`: (route key, value) pairs. A bad key raises ValueError (the control plane refuses them first)."""
        self._default: tuple[RouteKey, T] | None = None
        #: segment count -> routes without a greedy variable, most specific first
        self._exact: dict[int, list[tuple[RouteKey, T]]] = {}
        #: greedy routes, most specific first
        self._greedy: list[tuple[RouteKey, T]] = []
        for key, value in routes:
            parsed = parse_route_key(key)
            if parsed.method is None:
                self._default = (parsed, value)
            elif parsed.greedy:
                self._greedy.append((parsed, value))
            else:
                self._exact.setdefault(len(parsed.segments), []).append((parsed, value))
        for group in self._exact.values():
            group.sort(key=_specificity)
        self._greedy.sort(key=_specificity)

    def match(self, method: str, raw_path: str) -> Match[T] | None:
        """The route serving `method raw_path` (the path within the stage, still percent-encoded, no query)."""
        raw = raw_path[1:].split("/") if raw_path not in ("", "/") else []
        decoded = [unquote(part) for part in raw]
        for route, value in self._exact.get(len(decoded), ()):
            if route.method in (method, ANY):
                params = _match_segments(route.segments, decoded)
                if params is not None:
                    return Match(route, value, params)
        for route, value in self._greedy:
            if route.method in (method, ANY) and len(decoded) >= len(route.segments):
                prefix = len(route.segments) - 1
                params = _match_segments(route.segments[:prefix], decoded[:prefix])
                rest = "/".join(raw[prefix:])
                if params is not None and rest:
                    params[route.segments[-1][1]] = unquote(rest)
                    return Match(route, value, params)
        if self._default is not None:
            return Match(self._default[0], self._default[1])
        return None


def _specificity(item: tuple[RouteKey, object]) -> tuple[tuple[int, ...], int]:
    """Sort key: literal segments before variables, position by position; then the method before ANY. Among greedy
    routes a longer prefix sorts first: its kinds tuple has a lower value where the shorter one has its greedy."""
    route = item[0]
    return tuple(kind for kind, _ in route.segments), int(route.method == ANY)


def _match_segments(segments: tuple[tuple[int, str], ...], decoded: list[str]) -> dict[str, str] | None:
    params: dict[str, str] = {}
    for (kind, text), part in zip(segments, decoded, strict=True):
        if kind == _LITERAL:
            if part != text:
                return None
        elif not part:
            return None
        else:
            params[text] = part
    return params


def select_stage(raw_path: str, stages: Iterable[str]) -> tuple[str, str] | None:
    """(stage name, path within the stage) for a request path: the stage named by its first segment, with that
    segment removed (`/prod/items/1` -> ("prod", "/items/1"); `/prod` -> ("prod", "/")), else `$default` with the
    whole path; None when neither exists (API Gateway's 404 `{"message":"Not Found"}`)."""
    names = set(stages)
    first, sep, rest = raw_path[1:].partition("/")
    if first and first != DEFAULT and first in names:
        return first, "/" + rest if sep else "/"
    if DEFAULT in names:
        return DEFAULT, raw_path or "/"
    return None
