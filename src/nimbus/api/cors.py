"""CORS as function URLs and HTTP APIs apply it from their configuration, so the function never has to.

Lambda's `Cors` and API Gateway v2's `CorsConfiguration` have the same members (AllowOrigins, AllowMethods,
AllowHeaders, ExposeHeaders, AllowCredentials, MaxAge), so one `CorsRules` serves both. A preflight (OPTIONS with
`Origin` and `Access-Control-Request-Method`) is answered by the platform without calling the function; an allowed
origin's ordinary responses get `Access-Control-Allow-Origin` (and credentials, exposed headers), replacing any
CORS headers the function set, as both services do. A disallowed origin gets no CORS headers, so its browser
refuses the response. Origins match exactly (scheme, host and port, case-insensitive) or by `*`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

Headers = list[tuple[bytes, bytes]]

_VARY = (b"vary", b"Origin")


def _clean(values: Any) -> tuple[str, ...]:
    """A configured list as header-safe strings (a value with a line break would split the response: dropped)."""
    if not isinstance(values, list):
        return ()
    return tuple(v.strip() for v in values if isinstance(v, str) and v.strip() and not set(v) & {"\r", "\n", "\0"})


@dataclass(frozen=True, slots=True)
class CorsRules:
    """One URL's or API's CORS configuration, parsed once (the front caches it with the configuration)."""

    origins: frozenset[str]
    any_origin: bool
    methods: tuple[str, ...]
    any_method: bool
    allow_headers: tuple[str, ...]
    expose_headers: tuple[str, ...]
    credentials: bool
    max_age: int | None

    @classmethod
    def of(cls, config: dict[str, Any]) -> CorsRules:
        """From Lambda's `Cors` or API Gateway's `CorsConfiguration` (members left out mean none)."""
        origins = _clean(config.get("AllowOrigins"))
        methods = tuple(m.upper() for m in _clean(config.get("AllowMethods")))
        max_age = config.get("MaxAge")
        return cls(
            origins=frozenset(o.lower() for o in origins if o != "*"),
            any_origin="*" in origins,
            methods=methods,
            any_method="*" in methods,
            allow_headers=_clean(config.get("AllowHeaders")),
            expose_headers=_clean(config.get("ExposeHeaders")),
            credentials=config.get("AllowCredentials") is True,
            max_age=max_age if isinstance(max_age, int) and not isinstance(max_age, bool) else None,
        )

    def allows_origin(self, origin: str) -> bool:
        return self.any_origin or origin.lower() in self.origins

    def _allow_origin(self, origin: str) -> tuple[bytes, bytes]:
        """`*` when any origin may call and no credentials are allowed; otherwise the caller's own origin (a
        browser refuses `*` on a credentialed response)."""
        shown = "*" if self.any_origin and not self.credentials else origin
        return (b"access-control-allow-origin", shown.encode("latin-1", "replace"))

    def preflight(self, origin: str, method: str, request_headers: str | None) -> Headers:
        """The headers answering a preflight: the allowances when the origin and method are allowed, else none
        (the browser then refuses the actual request). Always `Vary: Origin`, since the answer depends on it."""
        method = method.strip().upper()
        if not self.allows_origin(origin) or not (self.any_method or method in self.methods):
            return [_VARY]
        headers = [self._allow_origin(origin)]
        shown_methods = method if self.any_method and self.credentials else ",".join(self.methods)
        headers.append((b"access-control-allow-methods", shown_methods.encode("latin-1", "replace")))
        if self.allow_headers:
            if "*" in self.allow_headers and self.credentials and request_headers:  # `*` is literal with credentials
                shown = request_headers
            else:
                shown = ",".join(self.allow_headers)
            headers.append((b"access-control-allow-headers", shown.encode("latin-1", "replace")))
        if self.credentials:
            headers.append((b"access-control-allow-credentials", b"true"))
        if self.max_age is not None:
            headers.append((b"access-control-max-age", str(self.max_age).encode()))
        headers.append(_VARY)
        return headers

    def apply(self, origin: str | None, headers: Headers) -> None:
        """Set the CORS headers of an ordinary response in place: the function's own access-control-* headers go,
        and an allowed origin gets the configured ones."""
        if any(name.startswith(b"access-control-") for name, _ in headers):
            headers[:] = [(n, v) for n, v in headers if not n.startswith(b"access-control-")]
        if origin is None or not self.allows_origin(origin):
            return
        headers.append(self._allow_origin(origin))
        if self.credentials:
            headers.append((b"access-control-allow-credentials", b"true"))
        if self.expose_headers:
            headers.append(
                (b"access-control-expose-headers", ",".join(self.expose_headers).encode("latin-1", "replace"))
            )
        headers.append(_VARY)


def is_preflight(method: str, headers: dict[str, list[str]]) -> bool:
    """An OPTIONS request a browser sends before a cross-origin call."""
    return method == "OPTIONS" and "origin" in headers and "access-control-request-method" in headers
