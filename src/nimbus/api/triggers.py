"""HTTP triggers on the API port: which requests are for a function URL or an HTTP API, and who answers them.

A request is a trigger's when its `Host` starts with `<id>.lambda-url.<region>.` or `<id>.execute-api.<region>.`,
whatever domain follows (so a URL written for AWS, `...lambda-url.us-east-1.on.aws`, reaches Nimbus when sent to its
port with that Host), or when its path is the documented path form `/lambda-url/<id>/...` or
`/execute-api/<id>/...`, for clients that cannot resolve the host names (the prefix is not part of `rawPath`).
Everything else is an AWS API call. The check is two substring searches on the Host: the Lambda API's warm path
pays nothing more.

A trigger's requests are answered by its `Front` (function URLs, HTTP APIs), not by the AWS API's wire rules: no
SigV4 unless the URL asks for it, and errors in API Gateway's and Lambda URLs' own shapes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from nimbus.api.http import Incoming, Response
from nimbus.config import Settings

if TYPE_CHECKING:  # the authorizer imports the services, whose owners import the fronts
    from nimbus.api.authorize import Authorizer

URL = "lambda-url"
API = "execute-api"
#: the web console (`nimbus.console`), served under /console by cookie sessions, not SigV4
CONSOLE = "console"
_KINDS = frozenset((URL, API))


@dataclass(frozen=True, slots=True)
class Target:
    """Where a trigger request goes: `kind` (URL or API), the URL's or API's `id`, the path the function sees
    (still percent-encoded, the path form's prefix removed) and the query string."""

    kind: str
    id: str
    path: str
    query: str
    #: the host the request named, without its port (`requestContext.domainName`); for the path form, the canonical
    #: host of the URL or API under this server's domain
    domain: str


def find_target(host: str | None, raw_target: bytes, settings: Settings) -> Target | None:
    """The trigger `raw_target` (the request line's target) addresses, or None for an AWS API request."""
    if host is not None and (".lambda-url." in host or ".execute-api." in host):
        name = host.rpartition(":")[0] if host.count(":") == 1 else host
        labels = name.lower().split(".")
        if len(labels) >= 3 and labels[1] in _KINDS and labels[0]:
            path, _, query = raw_target.decode("latin-1").partition("?")
            return Target(labels[1], labels[0], path or "/", query, name.lower())
    if raw_target.startswith((b"/lambda-url/", b"/execute-api/", b"/console")):
        if raw_target.startswith(b"/console"):
            path, _, query = raw_target.decode("latin-1").partition("?")
            console = path == "/console" or path.startswith("/console/")
            return Target(CONSOLE, "", path, query, host or "") if console else None
        text = raw_target.decode("latin-1")
        path, _, query = text.partition("?")
        _, kind, rest = path.split("/", 2) if path.count("/") >= 2 else ("", "", "")
        ident, slash, tail = rest.partition("/")
        if ident:
            domain = f"{ident}.{kind}.{settings.region}.{settings.http_domain}".lower()
            return Target(kind, ident.lower(), slash + tail if slash else "/", query, domain)
    return None


class PublicEndpoints:
    """The endpoints Nimbus hands out (FunctionUrl, ApiEndpoint): scheme, host under `http_domain`, and the port
    the server listens on (known once it listens) unless `http_public_port` names another, or none (0)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        #: the listening port, set by the server once it listens
        self.listening_port = settings.port

    def base(self, kind: str, ident: str) -> str:
        """`http://<id>.lambda-url.us-east-1.localhost:9001` (no trailing slash)."""
        s = self.settings
        port = self.listening_port if s.http_public_port is None else s.http_public_port
        default = 443 if s.http_scheme == "https" else 80
        shown = "" if port in (0, default) else f":{port}"
        return f"{s.http_scheme}://{ident}.{kind}.{s.region}.{s.http_domain}{shown}"

    def path_form(self, kind: str, ident: str) -> str:
        """The same endpoint by path, for clients that cannot resolve the host: `http://127.0.0.1:9001/lambda-url/<id>`."""
        host = self.settings.host if self.settings.host not in ("0.0.0.0", "::") else "127.0.0.1"
        return f"http://{host}:{self.listening_port}/{kind}/{ident}"


class Front(Protocol):
    """Answers one kind of trigger (function URLs, HTTP APIs), with the same two-phase judgement as the AWS API:
    `admit` at the end of the headers (set `incoming.max_body` and `incoming.context` to a `TriggerContext`, or
    answer at once), `handle` once the body is in. `authorizer` decides AWS_IAM requests (None: every signer may)."""

    authorizer: Authorizer | None

    def admit(self, incoming: Incoming, target: Target) -> Response | None: ...

    def refuse(self, incoming: Incoming, status: int) -> Response:
        """The answer when the HTTP server refuses the request itself: 413 (past max_body), 503 (buffer budget)."""
        ...

    async def handle(self, incoming: Incoming) -> Response: ...


@dataclass(slots=True)
class TriggerContext:
    """What a front's `admit` attaches to the request (fronts subclass it to carry more): the app hands the
    request back to `front` for every later phase."""

    front: Front
    target: Target
