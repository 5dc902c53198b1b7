"""The console's HTTP plumbing: templates, responses with the security headers every page carries, cookies, forms.

Pages are Jinja2 templates rendered on the server with autoescaping on; the only scripts are the console's own
static files (the Content-Security-Policy allows no other origin and no inline script), so nothing a function's
name, tag or log line holds can run in the page.
"""

from __future__ import annotations

import json
from http.cookies import CookieError, SimpleCookie
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote

from jinja2 import Environment, FileSystemLoader, select_autoescape

from nimbus.api.http import Headers, Response

HERE = Path(__file__).parent
STATIC = HERE / "static"
#: the mount point: every page and asset is under it
ROOT = "/console"

_SECURITY: Headers = [
    (b"content-security-policy", b"default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
                                 b"img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; "
                                 b"form-action 'self'; base-uri 'none'"),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
    (b"cache-control", b"no-store"),
]  # fmt: skip

_TYPES = {".js": b"text/javascript", ".css": b"text/css", ".txt": b"text/plain; charset=utf-8",
          ".svg": b"image/svg+xml"}  # fmt: skip

templates = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(default=True))
templates.filters["url"] = lambda s: quote(str(s), safe="")


def page(template: str, status: int = 200, headers: Headers | None = None, **context: Any) -> Response:
    body = templates.get_template(template).render(root=ROOT, **context).encode()
    return Response(status, body, [(b"content-type", b"text/html; charset=utf-8"), *_SECURITY, *(headers or [])])


def redirect(location: str, headers: Headers | None = None) -> Response:
    return Response(303, b"", [(b"location", location.encode()), *_SECURITY, *(headers or [])])


def json_response(value: Any, status: int = 200) -> Response:
    body = json.dumps(value).encode()
    return Response(status, body, [(b"content-type", b"application/json"), *_SECURITY])


def static(name: str) -> Response | None:
    """A file of static/ (no directories, no dot files), cached for an hour: it changes only with Nimbus."""
    path = STATIC / name
    if "/" in name or name.startswith(".") or not path.is_file():
        return None
    kind = _TYPES.get(path.suffix, b"application/octet-stream")
    return Response(200, path.read_bytes(), [(b"content-type", kind), (b"x-content-type-options", b"nosniff"),
                                              (b"cache-control", b"public, max-age=3600")])  # fmt: skip


def cookie(headers: dict[str, list[str]], name: str) -> str | None:
    for raw in headers.get("cookie", []):
        jar: SimpleCookie = SimpleCookie()
        try:
            jar.load(raw)
        except CookieError:
            continue
        if name in jar:
            return jar[name].value
    return None


def set_cookie(name: str, value: str, max_age: int, secure: bool) -> tuple[bytes, bytes]:
    """The session cookie: HttpOnly (no script reads it), SameSite=Strict (no other site's request carries it),
    scoped to the console's path, with an expiry."""
    flags = f"{name}={value}; Path={ROOT}; Max-Age={max_age}; HttpOnly; SameSite=Strict"
    flags += "; Secure" if secure else ""
    return b"set-cookie", flags.encode()


def form(body: bytes) -> dict[str, str]:
    """An urlencoded form body: each field's first value."""
    return {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True).items()}
