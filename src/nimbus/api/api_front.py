"""The execute-api front: HTTP APIs served on the API port, as API Gateway serves them.

A request for `<api-id>.execute-api.<region>.<domain>` (or the path form `/execute-api/<api-id>/...`) is judged at
the end of its headers (the API exists, the 10 MB body limit), then served once its body is in: the stage (the
first path segment naming one, else `$default`), the route (`protocol.routes`), the route's integration and the
function it names, the function's resource policy (API Gateway needs `lambda:InvokeFunction` for the principal
`apigateway.amazonaws.com` with the route's source ARN, as on AWS), the event in the integration's payload format
(`protocol.http_events`), the door, and the reply made a response.

Errors are API Gateway's, `{"message": ...}` with its status: 404 Not Found (no API, stage or route), 413 Request
Entity Too Large, 429 Too Many Requests (throttled), 500 Internal Server Error (function error, a reply no response
can be made of, a missing permission), 503 Service Unavailable (the integration timeout, at most 30 s, passed: the
invocation runs on to its end in a task this front owns, awaited by `close`).
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import os
import shlex
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from nimbus.api import authn
from nimbus.api.actions import execute_api_call
from nimbus.api.app import new_request_id, root_keys
from nimbus.api.cors import CorsRules, is_preflight
from nimbus.api.http import Incoming, Response
from nimbus.api.trigger_common import DateHeader, client_port, iam_authorizer
from nimbus.api.triggers import PublicEndpoints, Target, TriggerContext
from nimbus.config import Settings
from nimbus.control.http_apis import ApiDocument, HttpApis
from nimbus.control.identity import KeyRing
from nimbus.control.policies import Policies
from nimbus.control.validation import FunctionRef, parse_function_ref
from nimbus.errors import (
    AuthError,
    InvalidFunctionReply,
    MissingAuthenticationToken,
    NimbusError,
    RequestTooLarge,
    TooManyRequests,
)
from nimbus.invoke.invoker import InvokeOptions, Invoker
from nimbus.protocol import http_events
from nimbus.protocol.routes import DEFAULT, RouteTable, select_stage

if TYPE_CHECKING:  # the authorizer imports the services, whose owners import the fronts
    from nimbus.api.authorize import Authorizer

log = logging.getLogger("nimbus.apigw")

#: API Gateway's request payload limit for HTTP APIs (10 MB)
API_BODY_MAX = 10 * 1024 * 1024
#: API Gateway's longest integration timeout for HTTP APIs
INTEGRATION_TIMEOUT_MAX_S = 30.0
APIGATEWAY_PRINCIPAL = "apigateway.amazonaws.com"
#: a missing permission is logged at most this often per (API, route, function)
_WARN_EVERY_S = 60.0
_JSON = (b"content-type", b"application/json")


def message(status: int, text: str) -> Response:
    """API Gateway's own error shape: `{"message":"Not Found"}`."""
    return Response(status, json.dumps({"message": text}, separators=(",", ":")).encode(), [_JSON])


def not_found() -> Response:
    return message(404, "Not Found")


def apigw_request_id() -> str:
    """An id shaped as API Gateway's (`apigw-requestid`, `requestContext.requestId`): 16 base64 characters."""
    return base64.b64encode(os.urandom(11)).decode()


@dataclass(frozen=True, slots=True)
class Integration:
    """What a route invokes: the function (ref and ARN), the payload format, the timeout in seconds."""

    integration_id: str
    function: FunctionRef
    payload_format: str
    timeout_s: float


@dataclass(frozen=True, slots=True)
class RouteTarget:
    route_id: str
    integration: Integration | None
    #: the route's AuthorizationType is AWS_IAM: requests must be SigV4-signed for `execute-api`
    iam: bool = False


@dataclass(frozen=True, slots=True)
class CompiledApi:
    """An API document as the front serves it: compiled once per version of the document."""

    api_id: str
    routes: RouteTable[RouteTarget]
    #: stage name -> its stage variables
    stages: dict[str, dict[str, str]]
    cors: CorsRules | None
    #: DisableExecuteApiEndpoint: the execute-api endpoint answers 403
    disabled: bool = False
    #: a REST API's (ApiDocument.rest): its 1.0 events carry the path within the stage
    rest: bool = False


@dataclass(slots=True)
class ApiContext(TriggerContext):
    api: CompiledApi


class ApiFront:
    """The `Front` (api/triggers.py) for HTTP APIs."""

    def __init__(
        self, settings: Settings, apis: HttpApis, policies: Policies, invoker: Invoker, endpoints: PublicEndpoints,
        keys: KeyRing | None = None,
    ) -> None:
        self.settings = settings
        #: every access key accepted (None: the settings' root key alone)
        self.keys = keys or root_keys(settings)
        #: decides whom an AWS_IAM route lets in (execute-api:Invoke); None: every signer
        self.authorizer: Authorizer | None = None
        self.apis = apis
        self.policies = policies
        self.invoker = invoker
        self.endpoints = endpoints
        #: api id -> (the document it was compiled from, the compiled API): recompiled when the document changes
        self._compiled: dict[str, tuple[object, CompiledApi]] = {}
        #: invocations that outlived their integration timeout, running on to their end
        self._running: set[asyncio.Task[Any]] = set()
        self._warned: dict[tuple[str, str, str], float] = {}
        #: the Date header's value, formatted once a second
        self._date = DateHeader()

    # ---- the gate ----
    def admit(self, incoming: Incoming, target: Target) -> Response | None:
        doc = self.apis.get(target.id)
        if doc is None:
            return self._finish(not_found(), apigw_request_id())
        try:
            compiled = self._compile(target.id, doc)
        except Exception:  # a stored document the rules let through but the front cannot serve: a bug, loud
            log.exception("HTTP API %s: cannot serve its document", target.id)
            return self._finish(message(500, "Internal Server Error"), apigw_request_id())
        if compiled.disabled:
            return self._finish(message(403, "Forbidden"), apigw_request_id())
        incoming.max_body = API_BODY_MAX
        incoming.context = ApiContext(self, target, compiled)
        return None

    def refuse(self, incoming: Incoming, status: int) -> Response:
        if status == 413:
            return self._finish(message(413, "Request Entity Too Large"), apigw_request_id())
        return self._finish(message(503, "Service Unavailable"), apigw_request_id())

    # ---- the handler ----
    async def handle(self, incoming: Incoming) -> Response:
        ctx = incoming.context
        assert isinstance(ctx, ApiContext)
        request_id = apigw_request_id()
        try:
            resp = await self._serve(incoming, ctx, request_id)
        except Exception:
            log.exception("HTTP API %s: unhandled error for %s %s", ctx.api.api_id, incoming.method, ctx.target.path)
            resp = message(500, "Internal Server Error")
        cors = ctx.api.cors
        if cors is not None and not is_preflight(incoming.method, incoming.headers):
            origin = incoming.headers.get("origin")
            cors.apply(origin[0] if origin else None, resp.headers)
        if incoming.method == "HEAD":
            resp.body = b""
        return self._finish(resp, request_id)

    async def _serve(self, incoming: Incoming, ctx: ApiContext, request_id: str) -> Response:
        api, target, method = ctx.api, ctx.target, incoming.method
        headers = incoming.headers
        if api.cors is not None and is_preflight(method, headers):  # answered whatever the routes, as API Gateway does
            request_headers = headers.get("access-control-request-headers")
            cors = api.cors.preflight(
                headers["origin"][0], headers["access-control-request-method"][0],
                ",".join(request_headers) if request_headers else None,
            )  # fmt: skip
            return Response(204, b"", cors)
        staged = select_stage(target.path, api.stages)
        if staged is None:
            return not_found()
        stage, path = staged
        matched = api.routes.match(method, path)
        if matched is None or matched.value.integration is None:
            return not_found()
        integration = matched.value.integration
        authorizer = None
        if matched.value.iam:
            denied, authorizer = await self._check_iam(incoming, api.api_id, stage, path)
            if denied is not None:
                return denied
        fn = integration.function
        source_arn = self._source_arn(api.api_id, stage, method, matched.resource)
        if not self.policies.allows(
            fn.name, fn.qualifier, action="lambda:InvokeFunction", principal=APIGATEWAY_PRINCIPAL,
            source_arn=source_arn,
        ):  # fmt: skip
            self._warn_permission(api.api_id, matched.route.key, fn, source_arn)
            return message(500, "Internal Server Error")
        req = http_events.HttpRequest(
            method=method, raw_path=target.path, raw_query=target.query, headers=incoming.headers,
            body=incoming.body, source_ip=_source_ip(incoming), domain_name=target.domain, request_id=request_id,
            time_ms=int(time.time() * 1000), scheme=self.settings.http_scheme,
            port=client_port(incoming, self.settings),
        )  # fmt: skip
        variables = api.stages.get(stage) or None
        if integration.payload_format == "1.0":
            event = http_events.event_v1(
                req, resource=matched.resource, api_id=api.api_id, account_id=self.settings.account_id,
                stage=stage, path_parameters=matched.path_parameters, stage_variables=variables,
                resource_id=matched.value.route_id, stage_path=path if api.rest else None,
            )  # fmt: skip
        else:
            event = http_events.event_v2(
                req, route_key=matched.route.key, api_id=api.api_id, account_id=self.settings.account_id,
                stage=stage, path_parameters=matched.path_parameters, stage_variables=variables,
                authorizer=authorizer,
            )  # fmt: skip
        return await self._invoke(fn, event, integration, api.api_id)

    async def _invoke(self, fn: FunctionRef, event: bytes, integration: Integration, api_id: str) -> Response:
        """The door, within the integration timeout; the reply as a response, or API Gateway's error for it."""
        options = InvokeOptions(new_request_id(), source="apigw")
        task = asyncio.ensure_future(self.invoker.invoke(fn, event, options))
        try:
            done, _ = await asyncio.wait((task,), timeout=integration.timeout_s)
        finally:
            if not task.done():  # timed out (or this request was cancelled): the invocation runs on, owned here
                self._running.add(task)
                task.add_done_callback(self._finished)
        if not done:
            log.info("HTTP API %s: integration %s timed out after %.3g s (the invocation runs on)",
                     api_id, integration.integration_id, integration.timeout_s)  # fmt: skip
            return message(503, "Service Unavailable")
        try:
            result = task.result()
        except TooManyRequests:
            return message(429, "Too Many Requests")
        except RequestTooLarge:
            return message(413, "Request Entity Too Large")
        except NimbusError as exc:  # the function is gone, failed to deploy, ...: API Gateway's 500
            log.warning("HTTP API %s: cannot invoke %s: %s", api_id, fn.name, exc)
            return message(500, "Internal Server Error")
        if result.function_error:
            log.info("HTTP API %s: 500, function %s failed (%s): %s", api_id, fn.name, result.function_error,
                     result.payload[:300].decode("utf-8", "replace"))  # fmt: skip
            return message(500, "Internal Server Error")
        try:
            reply = (http_events.reply_v1 if integration.payload_format == "1.0" else http_events.reply_v2)(
                result.payload
            )
        except InvalidFunctionReply as exc:
            log.warning("HTTP API %s: malformed Lambda proxy response from %s: %s", api_id, fn.name, exc)
            return message(500, "Internal Server Error")
        return Response(reply.status, reply.body, reply.headers)

    def _finished(self, task: asyncio.Task[Any]) -> None:
        self._running.discard(task)
        if not task.cancelled() and (exc := task.exception()) is not None and not isinstance(exc, NimbusError):
            log.error("HTTP API invocation failed after its integration timeout", exc_info=exc)

    async def close(self, grace_s: float = 30.0) -> None:
        """At server stop (after the HTTP server, before the instances): let invocations that outlived their
        integration timeout finish for up to `grace_s`, then cancel what is left; none is left unawaited."""
        if self._running:
            await asyncio.wait(set(self._running), timeout=grace_s)
        left = set(self._running)
        for task in left:
            task.cancel()
        if left:
            await asyncio.wait(left)

    # ---- helpers ----
    def _finish(self, resp: Response, request_id: str) -> Response:
        resp.headers += ((b"apigw-requestid", request_id.encode()), (b"date", self._date.now()))
        return resp

    async def _check_iam(
        self, incoming: Incoming, api_id: str, stage: str, path: str
    ) -> tuple[Response | None, dict[str, Any] | None]:
        """A route with AuthorizationType AWS_IAM: the request must be SigV4-signed for `execute-api` by a key of
        this server (the path as the client sent it, path-form prefix included), whose policies allow
        execute-api:Invoke on the request's ARN. API Gateway's 403 otherwise."""
        raw_path, _, query = incoming.target.decode("latin-1").partition("?")
        try:
            who = authn.verify(
                self.keys, method=incoming.method, raw_path=raw_path, query=query, headers=incoming.headers,
                body=incoming.body, region=self.settings.region, service="execute-api",
            )  # fmt: skip
        except MissingAuthenticationToken:
            return message(403, "Forbidden"), None
        except AuthError as exc:
            return message(403, str(exc)), None
        if self.authorizer is not None:
            call = execute_api_call(self.authorizer.where, api_id, stage, incoming.method, path)
            refusal = await self.authorizer.permits(who, call, source_ip=_source_ip(incoming))
            if refusal:
                return message(403, refusal), None
        return None, iam_authorizer(who)

    def _source_arn(self, api_id: str, stage: str, method: str, resource: str) -> str:
        """The ARN API Gateway invokes with: `.../<api>/<stage>/<METHOD>/<route path>` (the route's path as written,
        `items/{id}`), or `.../<api>/<stage>/$default` for the default route."""
        s = self.settings
        tail = DEFAULT if resource == DEFAULT else f"{method}/{resource[1:]}"
        return f"arn:aws:execute-api:{s.region}:{s.account_id}:{api_id}/{stage}/{tail}"

    def _warn_permission(self, api_id: str, route_key: str, fn: FunctionRef, source_arn: str) -> None:
        key = (api_id, route_key, f"{fn.name}:{fn.qualifier}")
        now = time.monotonic()
        if now - self._warned.get(key, -_WARN_EVERY_S) < _WARN_EVERY_S:
            return
        self._warned[key] = now
        s = self.settings
        route_path = "$default" if route_key == DEFAULT else "*/" + route_key.partition(" ")[2][1:]
        grant = f"arn:aws:execute-api:{s.region}:{s.account_id}:{api_id}/*/{route_path}"
        qualifier = f" --qualifier {shlex.quote(fn.qualifier)}" if fn.qualifier else ""
        log.warning(
            "HTTP API %s route %r answered 500: function %s%s does not allow API Gateway to invoke it "
            "(its resource policy has no statement allowing lambda:InvokeFunction to principal %s for source ARN "
            "%s). Grant it with: aws lambda add-permission --function-name %s%s --statement-id apigateway-%s "
            "--action lambda:InvokeFunction --principal %s --source-arn %s --endpoint-url http://%s:%s",
            api_id, route_key, fn.name, f":{fn.qualifier}" if fn.qualifier else "", APIGATEWAY_PRINCIPAL,
            source_arn, shlex.quote(fn.name), qualifier, api_id, APIGATEWAY_PRINCIPAL, shlex.quote(grant),
            s.host, self.endpoints.listening_port,
        )  # fmt: skip

    def _compile(self, api_id: str, doc: ApiDocument) -> CompiledApi:
        cached = self._compiled.get(api_id)
        if cached is not None and cached[0] is doc:
            return cached[1]
        compiled = compile_api(doc, region=self.settings.region, account=self.settings.account_id)
        self._compiled[api_id] = (doc, compiled)
        return compiled


def compile_api(doc: ApiDocument, *, region: str, account: str) -> CompiledApi:
    """The routes, stages and CORS of one API document, ready to serve. Every stage serves the API's current
    routes (Nimbus deploys at once, whatever a stage's AutoDeploy says: `http_api_records.Deployment`)."""
    integrations: dict[str, Integration] = {}
    for ident, rec in doc.integrations.items():
        fn = parse_function_ref(rec.function_arn, region=region, account=account)
        timeout_s = min(rec.timeout_ms / 1000, INTEGRATION_TIMEOUT_MAX_S)
        integrations[ident] = Integration(ident, fn, rec.payload_format_version, timeout_s)
    routes = []
    for route in doc.routes.values():
        integration = integrations.get(route.integration_id or "")
        iam = route.authorization_type == "AWS_IAM"
        routes.append((route.route_key, RouteTarget(route.route_id, integration, iam)))
    stages = {name: dict(stage.stage_variables) for name, stage in doc.stages.items()}
    cors = CorsRules.of(dict(doc.cors)) if doc.cors is not None else None
    return CompiledApi(doc.api_id, RouteTable(routes), stages, cors, doc.disable_execute_api_endpoint, doc.rest)


def _source_ip(incoming: Incoming) -> str:
    return incoming.peer or "127.0.0.1"
