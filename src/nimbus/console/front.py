"""The console's door on the API port: `/console` requests, judged like the AWS API's but by session cookie instead
of SigV4 (`api/triggers.Front`: `admit` at the end of the headers, `handle` once the body is in).

Every route names the API call it stands for (`api/actions.Call`: the IAM action and the resources, built from the
route's params), and the session's principal is authorized for it by the API's own authorizer, as that call would
be. A request without a live session is sent to the sign-in page (a page) or answered 401 (a JSON or event-stream
call); a mutating request without the session's CSRF token is answered 403.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from urllib.parse import unquote

from nimbus.api.actions import Call as ApiCall
from nimbus.api.authorize import Authorizer
from nimbus.api.http import Incoming, Response
from nimbus.api.triggers import Target, TriggerContext
from nimbus.console import web
from nimbus.console.sessions import COOKIE, Session, Sessions
from nimbus.errors import NimbusError

log = logging.getLogger(__name__)

#: a console request's largest body: a 6 MB test payload, JSON-escaped
MAX_BODY = 8 * 1024 * 1024
#: a sign-in form's largest body
SIGN_IN_BODY = 4096


#: the API call a route stands for, from its params and body (None: a call never denied, e.g. sign-out)
CallOf = Callable[[Mapping[str, str], bytes], ApiCall | None]


@dataclass(frozen=True, slots=True)
class Call:
    """One console request in hand: its session (None on the sign-in routes), params, query and body."""

    session: Session | None
    params: dict[str, str]
    query: str
    body: bytes
    headers: dict[str, list[str]]

    def arg(self, name: str, default: str = "") -> str:
        return web.form(self.query.encode()).get(name, default)


Handler = Callable[[Call], Awaitable[Response]]


@dataclass(frozen=True, slots=True)
class ConsoleRoute:
    method: str
    pattern: re.Pattern[str]
    handler: Handler
    #: the API call it stands for (sign-in, sign-out and assets stand for none)
    call: CallOf
    #: answers with JSON or an event stream (401 without a session) rather than a page (a redirect to sign-in)
    api: bool = False
    #: served without a session (sign-in, assets)
    public: bool = False


def _no_call(_: Mapping[str, str], __: bytes) -> ApiCall | None:
    return None


@dataclass(slots=True)
class ConsoleContext(TriggerContext):
    route: ConsoleRoute | None
    params: dict[str, str]
    #: the live session the cookie named (None on the public routes)
    session: Session | None = None


class ConsoleFront:
    def __init__(self, sessions: Sessions, authorizer: Authorizer | None, secure_cookie: bool) -> None:
        self.sessions = sessions
        #: the API's authorizer (None: every signed-in key may do everything, as `Front` has it)
        self.authorizer = authorizer
        self.secure_cookie = secure_cookie
        self.routes: list[ConsoleRoute] = []

    def add(self, method: str, template: str, handler: Handler, call: CallOf = _no_call, *, api: bool = False,
            public: bool = False) -> None:  # fmt: skip
        regex = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", web.ROOT + template)
        self.routes.append(ConsoleRoute(method, re.compile(regex), handler, call, api, public))

    def _match(self, method: str, path: str) -> tuple[ConsoleRoute | None, dict[str, str]]:
        for route in self.routes:
            if route.method == method and (m := route.pattern.fullmatch(path)):
                return route, {k: unquote(v) for k, v in m.groupdict().items()}
        return None, {}

    # ---- the Front contract ----
    def admit(self, incoming: Incoming, target: Target) -> Response | None:
        """At the end of the headers: a request without a live session is answered at once (sign in first), so no
        body of an unauthenticated client is ever held; the sign-in form's body is small."""
        route, params = self._match(incoming.method, target.path)
        session = None
        if route is not None and not route.public:
            session = self.sessions.get(web.cookie(incoming.headers, COOKIE))
            if session is None:
                return self._sign_in_first(route)
        incoming.context = ConsoleContext(self, target, route, params, session)
        incoming.max_body = 0 if route is None else SIGN_IN_BODY if route.public else MAX_BODY
        return None

    @staticmethod
    def _sign_in_first(route: ConsoleRoute) -> Response:
        if route.api:
            return web.json_response({"message": "Sign in first."}, 401)
        return web.redirect(f"{web.ROOT}/signin")

    def refuse(self, incoming: Incoming, status: int) -> Response:
        return Response(status, b"the request is too large" if status == 413 else b"busy: retry shortly",
                        [(b"content-type", b"text/plain")])  # fmt: skip

    async def handle(self, incoming: Incoming) -> Response:
        ctx = incoming.context
        assert isinstance(ctx, ConsoleContext)
        route, target = ctx.route, ctx.target
        if target.path == web.ROOT:
            return web.redirect(f"{web.ROOT}/functions")
        if route is None:
            return web.page("message.html", 404, title="Not found", message="There is no such console page.")
        session, who = ctx.session, None
        if not route.public:
            # asked again now that the body is in: the key may have gone meanwhile
            who = self.sessions.principal_of(session.access_key_id) if session is not None else None
            if session is None or who is None:  # never None to the authorizer: None is the root there
                return self._sign_in_first(route)
            if incoming.method != "GET" and not self._csrf_ok(session, incoming):
                return web.json_response({"message": "Missing or wrong CSRF token."}, 403)
        call = Call(session, ctx.params, target.query, incoming.body, incoming.headers)
        try:
            if who is not None and self.authorizer is not None:
                await self.authorizer.authorize(who, route.call(ctx.params, incoming.body), source_ip=incoming.peer)
            return await route.handler(call)
        except NimbusError as exc:  # a denial or the service's own refusal, worded as the API words it
            if route.api:
                return web.json_response({"type": exc.wire_name, "message": exc.message}, exc.status)
            return web.page("message.html", exc.status, title=exc.wire_name, message=exc.message, session=session)

    @staticmethod
    def _csrf_ok(session: Session, incoming: Incoming) -> bool:
        presented = incoming.headers.get("x-csrf-token", [None])[0]
        if presented is None and incoming.headers.get("content-type", [""])[0].startswith(
            "application/x-www-form-urlencoded"
        ):
            presented = web.form(incoming.body).get("csrf")
        return Sessions.csrf_ok(session, presented)
