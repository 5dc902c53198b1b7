"""The application: admit, authenticate, route, answer. Errors become wire errors in api/errors.py only.

A request is judged twice. At the end of its headers (`admit`, before any body byte is held): its route, its size
against the route's limit, and everything about its signature but the signature itself (a present Authorization
header whose credential scope names a known key, this server's region and the service of the API it calls). Once
its body is in (`handle`): the signature, then the operation.

JSON-protocol APIs (`POST /` with `X-Amz-Target: <Prefix>.<Operation>`: SQS, CloudWatch Logs, EventBridge, ...) are
entries of one table keyed by the target's prefix (`JsonService`: credential scope, body limit, handler, error
shape), found with one dict lookup at the gate.

A request no route serves (another AWS service, or an operation Nimbus does not implement) is answered in the
caller's own protocol (`api/unserved.py`); `GET /_nimbus/health` is answered without SigV4 (`api/health.py`).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from nimbus import __version__
from nimbus.api import authn, sigv4
from nimbus.api import errors as wire
from nimbus.api.authorize import Authorizer
from nimbus.api.code_links import PREFIX as CODE_PREFIX
from nimbus.api.code_links import CodeLinks
from nimbus.api.health import PATH as HEALTH_PATH
from nimbus.api.health import Health
from nimbus.api.http import Incoming, Request, Response, Route, Router, Routes
from nimbus.api.triggers import CONSOLE, Front, TriggerContext, find_target
from nimbus.api.unserved import BODY_MAX as UNSERVED_BODY_MAX
from nimbus.api.unserved import Unserved, classify
from nimbus.config import Settings
from nimbus.control.codestore import CodeStore
from nimbus.control.identity import ROOT, KeyRing, Principal
from nimbus.control.keyring import KeyRing as RootKeyRing
from nimbus.control.keyring import root_principal
from nimbus.errors import NimbusError, RequestTooLarge, ResourceNotFound, ServiceUnavailable
from nimbus.protocol import random_ids

log = logging.getLogger("nimbus.api")

#: the credential scope service of API Gateway's routes, whose errors are shaped as API Gateway's
APIGW = "apigateway"
#: the credential scope service of EventBridge Scheduler's routes, whose errors are shaped as Scheduler's
SCHEDULER = "scheduler"
#: the served APIs' names in what an unserved request is told, by credential scope (besides lambda and JSON APIs)
SERVICE_NAMES = {APIGW: "API Gateway", SCHEDULER: "EventBridge Scheduler"}
#: body limit of the CloudWatch Logs JSON API (its read operations take a few hundred bytes)
JSON_BODY_MAX = 1 << 20
#: body limit of the SQS API: a 256 KB message (or batch) can triple in JSON (\uXXXX escapes of astral characters)
SQS_BODY_MAX = 1 << 20
#: the path prefix of Nimbus's own APIs (the stacks API): signed like AWS's, but not an AWS service an unserved
#: request is told Nimbus serves (a CloudFormation call is refused as not served)
NIMBUS_PREFIX = "/_nimbus/"

WireShape = Callable[[BaseException], tuple[int, list[tuple[bytes, bytes]], bytes]]


@dataclass(frozen=True, slots=True)
class JsonService:
    """One JSON-protocol API served on `POST /`, chosen by its `X-Amz-Target` prefix (e.g. `AmazonSQS.`)."""

    #: the target's prefix up to and including its last dot
    prefix: str
    #: the SigV4 credential scope's service its requests must be signed for
    service: str
    #: its name in words (what an unserved request is told, what health lists)
    name: str
    max_body: int
    #: `handler(request, target)`: the whole target, operation included
    handler: Callable[[Request, str], Awaitable[Response]]
    #: its wire error shape (`api/errors.json_10`, `json_11`)
    error: WireShape


#: a query-protocol error shape: (error, request id) -> status, headers, body (the body carries the request id)
QueryErrorShape = Callable[[BaseException, str], tuple[int, list[tuple[bytes, bytes]], bytes]]


@dataclass(frozen=True, slots=True)
class QueryService:
    """One query-protocol API served on `POST /` (a form body naming its `Action`: SNS), chosen by the SigV4
    credential scope's service, which no JSON target or REST route claims."""

    service: str
    name: str
    max_body: int
    #: `handler(request)`: the form is in the request's body (and query string)
    handler: Callable[[Request], Awaitable[Response]]
    error: QueryErrorShape
    #: `is_public(raw_path, query)`: an unsigned GET the API answers itself, by `public` (SNS: its signing
    #: certificate, and the SubscribeURL/UnsubscribeURL of its messages, which work without SigV4 on AWS too)
    is_public: Callable[[str, str], bool] | None = None
    public: Callable[[Request], Awaitable[Response]] | None = None
    #: regions its credential scope may name besides the server's (IAM is global: clients may sign for us-east-1)
    regions: frozenset[str] = frozenset()


#: the REST APIs whose errors are not Lambda's, by credential scope
REST_ERRORS: dict[str, WireShape] = {APIGW: wire.apigw_json, SCHEDULER: wire.scheduler_json}


def _rest_shape(route: Route | None) -> WireShape:
    """The error shape of a REST route's API (Lambda's when it is none of REST_ERRORS')."""
    return wire.rest_json if route is None else REST_ERRORS.get(route.service, wire.rest_json)


def target_prefix(target: str) -> str:
    """`AWSEvents.PutEvents` -> `AWSEvents.`: the key of the JSON services' table."""
    return target[: target.rfind(".") + 1]


#: a random (version 4) UUID as text, as str(uuid.uuid4()) makes it, from pooled random bytes (per request)
new_request_id = random_ids.request_id


@dataclass(slots=True)
class Admitted:
    """What `admit` established for `handle`: no second route match, no second scope check. Made once per request
    and never changed: not frozen, as a frozen dataclass's __init__ costs 4x (object.__setattr__ per field)."""

    raw_path: str
    query: str
    #: the JSON-protocol API a `POST /` with an `X-Amz-Target` calls (None: a REST route)
    json: JsonService | None
    route: Route | None
    params: dict[str, str]
    #: None for a code download, which its link's own HMAC authorises
    head: sigv4.Head | None
    #: the query-protocol API a form `POST /` calls (by credential scope), or whose unsigned GET this is
    form: QueryService | None = None
    #: who signed it (None: an unsigned request the route answers itself)
    principal: Principal | None = None


def root_keys(settings: Settings) -> KeyRing:
    """A key ring of the settings' root key alone (an App built without IAM's)."""
    ((key, secret),) = settings.credentials.items()
    return RootKeyRing(root_principal(key, secret, settings.account_id))


class App:
    def __init__(
        self,
        settings: Settings,
        apis: list[Routes],
        json_services: Sequence[JsonService],
        codes: CodeStore,
        links: CodeLinks,
        fronts: dict[str, Front] | None = None,
        isolation: str = "unknown",
        query_services: Sequence[QueryService] = (),
        keys: KeyRing | None = None,
        authorizer: Authorizer | None = None,
    ) -> None:
        """`isolation`: the level instances run at (`full`, `partial`, `none`), which the health answer reports.
        `keys`: every access key accepted (None: the settings' root key alone); `authorizer`: who may make which
        call (None: no policy is asked)."""
        self.settings = settings
        self.authorizer = authorizer
        #: the HTTP triggers' fronts by kind (`triggers.URL`, `triggers.API`); a kind without one is not served
        self.fronts = fronts or {}
        #: the JSON-protocol APIs by their `X-Amz-Target` prefix
        self.json_services = {s.prefix: s for s in json_services}
        #: the query-protocol APIs by credential scope
        self.query_services = {s.service: s for s in query_services}
        self.keys = keys or root_keys(settings)
        self.codes = codes
        self.links = links
        self.router = Router()
        for api in apis:
            api.register(self.router)
        #: the AWS APIs served, by credential scope, in words: what an unserved request is told, and health lists
        self.services = {"lambda": "Lambda"} | {s.service: s.name for s in json_services}
        self.services |= {s.service: s.name for s in query_services}
        for route in self.router.routes:
            if route.pattern.pattern.startswith(NIMBUS_PREFIX):  # Nimbus's own APIs (stacks) are no AWS service
                continue
            self.services.setdefault(route.service, SERVICE_NAMES.get(route.service, route.service))
        triggers = [kind for kind in self.fronts if kind != CONSOLE]  # the console is a page, not a trigger
        self.health = Health(__version__, self.services, isolation, triggers)

    # ---- the gate: the end of a request's headers ----
    def admit(self, incoming: Incoming) -> Response | None:
        """Route and credential scope (dict lookups and cached parses), then None to read up to max_body, or the
        wire error to answer at once."""
        host = incoming.headers.get("host")
        if self.fronts and (target := find_target(host[0] if host else None, incoming.target, self.settings)):
            front = self.fronts.get(target.kind)
            if front is not None:
                return front.admit(incoming, target)
        method = incoming.method
        raw_path, _, query = incoming.target.decode("latin-1").partition("?")
        json_call = method == "POST" and raw_path == "/" and "x-amz-target" in incoming.headers
        json = self.json_services.get(target_prefix(incoming.headers["x-amz-target"][0])) if json_call else None
        route_match = None
        try:
            if method == "GET" and (raw_path.startswith(CODE_PREFIX) or raw_path == HEALTH_PATH):
                incoming.context = Admitted(raw_path, query, None, None, {}, None)
                return None  # max_body stays 0: a download or a health probe sends no body
            # a query-protocol form (POST / without a target), or an unsigned GET a query API answers publicly
            if self.query_services and ((raw_path == "/" and not json_call) or method == "GET"):
                form = self._query_service(method, raw_path, query, incoming.headers)
                if form is not None:
                    return self._admit_form(incoming, raw_path, query, form)
            if not json_call:
                route_match = self.router.match(method, raw_path)
                if route_match is None:
                    return self._admit_unserved(incoming, raw_path, query)
            elif json is None:
                return self._admit_unserved(incoming, raw_path, query)
            service = json.service if json else route_match[0].service if route_match else "lambda"
            head, who = authn.check_head(self.keys, incoming.headers, region=self.settings.region, service=service)
            if json is not None:
                incoming.max_body = json.max_body
                incoming.context = Admitted(raw_path, query, json, None, {}, head, principal=who)
                return None
            assert route_match is not None
            route, params = route_match
            incoming.max_body = route.max_body
            incoming.context = Admitted(raw_path, query, None, route, params, head, principal=who)
        except Exception as exc:
            return self._error(exc, json, rest=_rest_shape(route_match[0] if route_match else None))
        return None

    def _query_service(
        self, method: str, raw_path: str, query: str, headers: dict[str, list[str]]
    ) -> QueryService | None:
        """The query-protocol API a request is for: a signed POST / by its credential scope, or an unsigned GET one
        of them answers publicly."""
        if "authorization" not in headers:
            if method != "GET":
                return None
            return next((s for s in self.query_services.values() if s.is_public and s.is_public(raw_path, query)),
                        None)  # fmt: skip
        if method != "POST":
            return None
        with contextlib.suppress(NimbusError):  # a malformed header is the unserved path's to answer
            return self.query_services.get(sigv4.parse_authorization(headers["authorization"][0]).service)
        return None

    def _admit_form(self, incoming: Incoming, raw_path: str, query: str, form: QueryService) -> Response | None:
        if "authorization" not in incoming.headers:  # a public GET: no body, no signature
            incoming.context = Admitted(raw_path, query, None, None, {}, None, form)
            return None
        try:
            region = self.settings.region
            if form.regions:  # a global API (IAM): its clients may sign for us-east-1 as well as for our region
                scoped = sigv4.parse_authorization(incoming.headers["authorization"][0]).region
                region = scoped if scoped in form.regions else region
            head, who = authn.check_head(self.keys, incoming.headers, region=region, service=form.service)
        except Exception as exc:
            return self._form_error(exc, form, new_request_id())
        incoming.max_body = form.max_body
        incoming.context = Admitted(raw_path, query, None, None, {}, head, form, who)
        return None

    @staticmethod
    def _form_error(exc: Exception, form: QueryService, request_id: str) -> Response:
        status, headers, body = form.error(exc, request_id)
        headers.append((b"x-amzn-requestid", request_id.encode()))
        return Response(status, body, headers)

    def _admit_unserved(self, incoming: Incoming, raw_path: str, query: str) -> Response | None:
        """A request for an API or operation Nimbus does not serve: answered in the caller's protocol, at once, or
        once its (small) body is in when a query-protocol form names the operation there."""
        headers = incoming.headers
        scope = ""
        with contextlib.suppress(NimbusError):  # a malformed header: check_head raises it again, to be answered
            scope = sigv4.parse_authorization(headers["authorization"][0]).service if "authorization" in headers else ""
        try:
            authn.check_head(self.keys, headers, region=self.settings.region, service=None)
        except Exception as exc:  # a caller without a known key does not get botocore's models read for it
            asked = classify(incoming.method, raw_path, query, headers, scope, self.services, models=False)
            return self._unserved_error(asked, exc)
        asked = classify(incoming.method, raw_path, query, headers, scope, self.services)
        if not asked.needs_body:
            return self._unserved_error(asked, asked.error())
        incoming.max_body = UNSERVED_BODY_MAX
        incoming.context = asked
        return None

    def _unserved_error(self, asked: Unserved, exc: Exception) -> Response:
        request_id = new_request_id()
        status, headers, body = wire.unserved(asked.protocol, asked.json_version, exc, request_id,
                                              apigw=asked.scope == APIGW)  # fmt: skip
        headers.append((b"x-amzn-requestid", request_id.encode()))
        return Response(status, body, headers)

    def refuse(self, incoming: Incoming, status: int) -> Response:
        """The wire error for a request the HTTP server refuses: too large for its route, or too many bytes held."""
        ctx = incoming.context
        if isinstance(ctx, TriggerContext):
            return ctx.front.refuse(incoming, status)
        if isinstance(ctx, Unserved):
            return self._unserved_error(ctx, ctx.error())
        json = ctx.json if isinstance(ctx, Admitted) else None
        rest = _rest_shape(ctx.route if isinstance(ctx, Admitted) else None)
        if status == 413:
            op = ctx.route.operation if isinstance(ctx, Admitted) and ctx.route else "request"
            name = "InvokeFunction" if op == "Invoke" else op
            exc: NimbusError = RequestTooLarge(
                f"Request must be smaller than {incoming.max_body} bytes for the {name} operation"
            )
        else:
            exc = ServiceUnavailable("The server holds too many request bytes at the moment: retry shortly.")
        if isinstance(ctx, Admitted) and ctx.form is not None:
            return self._form_error(exc, ctx.form, new_request_id())
        return self._error(exc, json, rest=rest)

    @staticmethod
    def _error(exc: Exception, json: JsonService | None, *, rest: WireShape = wire.rest_json) -> Response:
        shape = json.error if json else rest
        status, headers, body = shape(exc)
        headers.append((b"x-amzn-requestid", new_request_id().encode()))
        return Response(status, body, headers)

    # ---- the handler: the whole request ----
    async def handle(self, incoming: Incoming) -> Response:
        """Answer one request; every failure becomes a wire error, never a traceback to the client."""
        ctx = incoming.context
        if not isinstance(ctx, Admitted):  # (the usual case first: one isinstance on the warm path)
            if not isinstance(ctx, TriggerContext | Unserved):  # no gate ran: judge it now
                refused = self.admit(incoming)
                if refused is not None:
                    return refused
                ctx = incoming.context
            if isinstance(ctx, TriggerContext):
                return await ctx.front.handle(incoming)
            if isinstance(ctx, Unserved):
                asked = ctx.with_body(incoming.body)
                return self._unserved_error(asked, asked.error())
            assert isinstance(ctx, Admitted)
        request_id = new_request_id()
        try:
            if ctx.head is None and ctx.form is not None and ctx.form.public is not None:  # e.g. SNS's SubscribeURL
                resp = await ctx.form.public(Request(incoming.method, ctx.raw_path, ctx.query, incoming.headers,
                                                     b"", request_id))  # fmt: skip
            elif ctx.head is None:  # the routes without SigV4: the health probe, code downloads (their link's HMAC)
                health = ctx.raw_path == HEALTH_PATH
                resp = self.health.response() if health else self._serve_code(ctx.raw_path, ctx.query)
            else:
                resp = await self._dispatch(incoming, request_id, ctx, ctx.head)
        except Exception as exc:
            if not isinstance(exc, NimbusError):
                log.exception("unhandled error in %s %s", incoming.method, ctx.raw_path)
            if ctx.form is not None:
                status, err_headers, err_body = ctx.form.error(exc, request_id)
            else:
                shape = ctx.json.error if ctx.json else _rest_shape(ctx.route)
                status, err_headers, err_body = shape(exc)
            resp = Response(status, err_body, err_headers)
        resp.headers.append((b"x-amzn-requestid", request_id.encode()))
        return resp

    async def _dispatch(self, incoming: Incoming, request_id: str, ctx: Admitted, head: sigv4.Head) -> Response:
        method, headers, body = incoming.method, incoming.headers, incoming.body
        if incoming.body_size > incoming.max_body:  # the server refuses these first; kept for gate-less use
            raise RequestTooLarge(f"Request must be smaller than {incoming.max_body} bytes")
        sigv4.check_signature(head, method=method, raw_path=ctx.raw_path, query=ctx.query, headers=headers, body=body)
        req = Request(method, ctx.raw_path, ctx.query, headers, body, request_id, ctx.params, ctx.principal)
        auth, who = self.authorizer, ctx.principal
        if auth is not None and who is not None and who.kind != ROOT:  # the root asks no policy
            service, op = ((ctx.json.service, headers["x-amz-target"][0]) if ctx.json else
                           (ctx.form.service, "") if ctx.form else (ctx.route.service, ctx.route.operation) if ctx.route
                           else ("", ""))  # fmt: skip
            call = auth.call_of(req, service=service, operation=op, form=ctx.form is not None)
            await auth.authorize(who, call, source_ip=incoming.peer)
        if ctx.json is not None:
            return await ctx.json.handler(req, headers["x-amz-target"][0])
        if ctx.form is not None:
            return await ctx.form.handler(req)
        assert ctx.route is not None
        return await ctx.route.handler(req)

    def _serve_code(self, raw_path: str, query: str) -> Response:
        """Code.Location downloads: authorised by the link's own HMAC, like a presigned S3 URL."""
        req = Request("GET", raw_path, query, {}, b"", "")
        name = raw_path[len(CODE_PREFIX) :].removesuffix(".zip")
        expires, signature = req.query_one("Expires") or "", req.query_one("Signature") or ""
        blob = self.codes.blob_path(name)
        if not (len(name) == 64 and name.isalnum() and self.links.check(name, expires, signature)):
            resp = Response(403, b"Request has expired or the signature does not match.")
        elif not blob.exists():
            _, h, b = wire.rest_json(ResourceNotFound("Code not found."))
            resp = Response(404, b, h)
        else:
            resp = Response(200, blob.read_bytes(), [(b"content-type", b"application/zip")])
        return resp
