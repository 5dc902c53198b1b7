"""Function URLs served: `<url-id>.lambda-url.<region>.<domain>` (or `/lambda-url/<url-id>/...`) to the function.

Judged as the AWS API is, in two phases. At the end of the headers (`admit`): the URL is looked up (one dict
lookup), a CORS preflight is marked for the platform to answer, an AWS_IAM URL's signature head is checked (key,
scope for service `lambda`, date) and a NONE URL's resource-based policy must allow `lambda:InvokeFunctionUrl` to
`*` with `FunctionUrlAuthType: NONE`; refusals are answered before any body byte is read. Once the body is in
(`handle`): the signature, then the event (payload format 2.0, one `json.dumps`), the door, and the reply read as
Lambda reads it.

The answers are Lambda's for URLs: 403 `{"Message":"Forbidden"}` (the reason is logged at INFO, since the caller
is not told), 413 past the 6 MB synchronous payload limit, 429 `{"Message":"Rate Exceeded."}` when throttled, 502
`Internal Server Error` for a function error, a timeout or a reply no response can be made of. Every response
carries `x-amzn-RequestId` (the invocation's request id, also `requestContext.requestId` and the function's
`context.aws_request_id`) and a `Date`.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from nimbus.api import authn, sigv4
from nimbus.api.actions import url_call
from nimbus.api.app import new_request_id, root_keys
from nimbus.api.cors import CorsRules, is_preflight
from nimbus.api.http import Headers, Incoming, Response
from nimbus.api.trigger_common import DateHeader, client_port, iam_authorizer
from nimbus.api.triggers import Target, TriggerContext
from nimbus.config import Settings
from nimbus.control.function_urls import UrlConfig
from nimbus.control.identity import KeyRing, Principal
from nimbus.control.validation import INVOKE_PAYLOAD_MAX, FunctionRef
from nimbus.errors import (
    InvalidFunctionReply,
    NimbusError,
    RequestTooLarge,
    ResourceNotFound,
    TooManyRequests,
)
from nimbus.invoke.invoker import InvokeOptions
from nimbus.protocol.http_events import HttpRequest, event_v2, reply_v2
from nimbus.protocol.records import InvokeResult

if TYPE_CHECKING:  # the authorizer imports the services, whose owners import the fronts
    from nimbus.api.authorize import Authorizer

log = logging.getLogger("nimbus.url")

#: a function URL's request body limit: Lambda's synchronous invocation payload (the event must fit it too)
BODY_MAX = INVOKE_PAYLOAD_MAX
_JSON = (b"content-type", b"application/json")
_FORBIDDEN = b'{"Message":"Forbidden"}'
_NOT_FOUND = b'{"Message":"Not Found"}'
_THROTTLED = b'{"Message":"Rate Exceeded."}'
_BAD_GATEWAY = b"Internal Server Error"
_TOO_LARGE = f'{{"Message":"Request must be smaller than {BODY_MAX} bytes for the InvokeFunction operation"}}'.encode()


class UrlLookup(Protocol):
    """`control.function_urls.FunctionUrls`'s hot-path lookup."""

    def by_id(self, url_id: str) -> UrlConfig | None: ...


class PolicyCheck(Protocol):
    """`control.policies.Policies`'s check."""

    def allows(
        self, function: str, qualifier: str | None, *, action: str, principal: str, source_arn: str | None = None,
        source_account: str | None = None, url_auth_type: str | None = None,
    ) -> bool: ...  # fmt: skip


class Door(Protocol):
    """`invoke.Invoker`: the one door."""

    async def invoke(self, ref: FunctionRef, payload: bytes, options: InvokeOptions) -> InvokeResult: ...


@dataclass(slots=True)
class UrlContext(TriggerContext):
    """What `admit` found for `handle`: the URL, the checked signature head of an AWS_IAM request, the request id."""

    config: UrlConfig
    head: sigv4.Head | None
    request_id: str
    preflight: bool
    #: who signed an AWS_IAM request
    principal: Principal | None = None


class UrlFront:
    def __init__(
        self, settings: Settings, urls: UrlLookup, policies: PolicyCheck, door: Door, keys: KeyRing | None = None
    ) -> None:
        self.settings = settings
        self.urls = urls
        self.policies = policies
        self.door = door
        self.keys = keys or root_keys(settings)
        #: decides whom an AWS_IAM URL lets in (lambda:InvokeFunctionUrl); None: every signer
        self.authorizer: Authorizer | None = None
        #: url id -> (the Cors dict it was parsed from, its rules): parsed once per configuration
        self._cors: dict[str, tuple[dict[str, Any], CorsRules]] = {}
        #: the Date header's value, formatted once a second
        self._date = DateHeader()

    # ---- the end of the headers ----
    def admit(self, incoming: Incoming, target: Target) -> Response | None:
        request_id = new_request_id()
        config = self.urls.by_id(target.id)
        if config is None:
            log.info("function URL %s: 404, no such URL", target.id)
            return self._answer(404, _NOT_FOUND, request_id)
        preflight = config.cors is not None and is_preflight(incoming.method, incoming.headers)
        head = who = None
        if preflight:  # answered by the platform, unauthenticated (browsers send preflights without credentials)
            incoming.max_body = 0
            incoming.context = UrlContext(self, target, config, None, request_id, True)
            return None
        if config.auth_type == "AWS_IAM":
            try:
                head, who = authn.check_head(self.keys, incoming.headers, region=self.settings.region,
                                             service="lambda")  # fmt: skip
            except NimbusError as exc:
                log.info("function URL %s (%s): 403, AWS_IAM auth: %s", target.id, config.function, exc.message)
                return self._answer(403, _FORBIDDEN, request_id)
        elif not self.policies.allows(
            config.function, config.qualifier, action="lambda:InvokeFunctionUrl", principal="*", url_auth_type="NONE"
        ):
            log.info(
                "function URL %s (%s%s): 403, AuthType NONE but no resource-based policy statement allows "
                "lambda:InvokeFunctionUrl to principal * with FunctionUrlAuthType NONE (aws lambda add-permission "
                "--action lambda:InvokeFunctionUrl --principal '*' --function-url-auth-type NONE)",
                target.id, config.function, f":{config.qualifier}" if config.qualifier else "",
            )  # fmt: skip
            return self._answer(403, _FORBIDDEN, request_id)
        incoming.max_body = BODY_MAX
        incoming.context = UrlContext(self, target, config, head, request_id, False, who)
        return None

    def refuse(self, incoming: Incoming, status: int) -> Response:
        ctx = incoming.context
        request_id = ctx.request_id if isinstance(ctx, UrlContext) else new_request_id()
        if status == 413:
            return self._answer(413, _TOO_LARGE, request_id)
        return self._answer(status, b'{"Message":"Service Unavailable"}', request_id)

    # ---- the whole request ----
    async def handle(self, incoming: Incoming) -> Response:
        ctx = incoming.context
        assert isinstance(ctx, UrlContext)
        config, target, request_id = ctx.config, ctx.target, ctx.request_id
        if ctx.preflight:
            return self._preflight(incoming, config, request_id)
        authorizer = None
        if ctx.head is not None:
            raw_path, _, query = incoming.target.decode("latin-1").partition("?")
            try:
                sigv4.check_signature(
                    ctx.head, method=incoming.method, raw_path=raw_path, query=query, headers=incoming.headers,
                    body=incoming.body,
                )  # fmt: skip
            except NimbusError as exc:
                log.info("function URL %s (%s): 403, AWS_IAM auth: %s", target.id, config.function, exc.message)
                return self._answer(403, _FORBIDDEN, request_id)
            assert ctx.principal is not None
            if self.authorizer is not None:
                call = url_call(self.authorizer.where, config.function, config.qualifier)
                refusal = await self.authorizer.permits(ctx.principal, call, source_ip=incoming.peer)
                if refusal:
                    log.info("function URL %s (%s): 403, %s", target.id, config.function, refusal)
                    return self._answer(403, _FORBIDDEN, request_id)
            authorizer = iam_authorizer(ctx.principal)
        req = HttpRequest(
            incoming.method, target.path, target.query, incoming.headers, incoming.body, incoming.peer or "127.0.0.1",
            target.domain, request_id, time.time_ns() // 1_000_000, scheme=self.settings.http_scheme,
            port=client_port(incoming, self.settings),
        )  # fmt: skip
        event = event_v2(
            req, route_key="$default", api_id=config.url_id, account_id=self.settings.account_id, stage="$default",
            authorizer=authorizer,
        )  # fmt: skip
        resp = await self._invoke(config, event, request_id)
        if config.cors is not None:
            origin = incoming.headers.get("origin")
            self._rules(config).apply(origin[0] if origin else None, resp.headers)
        if incoming.method == "HEAD":
            resp.body = b""
        resp.headers += ((b"x-amzn-requestid", request_id.encode()), (b"date", self._date.now()))
        return resp

    async def _invoke(self, config: UrlConfig, event: bytes, request_id: str) -> Response:
        """The door, and its outcome as the URL's response (never an exception)."""
        name = config.function
        try:
            result = await self.door.invoke(
                FunctionRef(name, config.qualifier), event, InvokeOptions(request_id, source="url")
            )
        except TooManyRequests:
            return Response(429, _THROTTLED, [_JSON])
        except RequestTooLarge as exc:
            log.info("function URL %s (%s): 413, %s", config.url_id, name, exc.message)
            return Response(413, _TOO_LARGE, [_JSON])
        except ResourceNotFound as exc:  # deleted between the lookup and the invocation
            log.info("function URL %s (%s): 404, %s", config.url_id, name, exc.message)
            return Response(404, _NOT_FOUND, [_JSON])
        except Exception as exc:
            if isinstance(exc, NimbusError):
                log.warning("function URL %s (%s): 500, %s", config.url_id, name, exc.message)
            else:
                log.exception("function URL %s (%s): unexpected error", config.url_id, name)
            return Response(500, b'{"Message":"Internal Server Error"}', [_JSON])
        if result.function_error:
            log.info("function URL %s (%s): 502, the function failed (%s)", config.url_id, name, result.function_error)
            return Response(502, _BAD_GATEWAY, [(b"content-type", b"text/plain")])
        try:
            reply = reply_v2(result.payload)
        except InvalidFunctionReply as exc:
            log.info("function URL %s (%s): 502, %s", config.url_id, name, exc.message)
            return Response(502, _BAD_GATEWAY, [(b"content-type", b"text/plain")])
        return Response(reply.status, reply.body, reply.headers)

    def _preflight(self, incoming: Incoming, config: UrlConfig, request_id: str) -> Response:
        headers = incoming.headers
        requested = headers.get("access-control-request-headers")
        allowed = self._rules(config).preflight(
            headers["origin"][0], headers["access-control-request-method"][0], requested[0] if requested else None
        )
        allowed += ((b"x-amzn-requestid", request_id.encode()), (b"date", self._date.now()))
        return Response(200, b"", allowed)

    # ---- helpers ----
    def _rules(self, config: UrlConfig) -> CorsRules:
        assert config.cors is not None
        cached = self._cors.get(config.url_id)
        if cached is None or cached[0] is not config.cors:
            cached = self._cors[config.url_id] = (config.cors, CorsRules.of(config.cors))
        return cached[1]

    def _answer(self, status: int, body: bytes, request_id: str) -> Response:
        headers: Headers = [_JSON, (b"x-amzn-requestid", request_id.encode()), (b"date", self._date.now())]
        if status == 403:
            headers.append((b"x-amzn-errortype", b"AccessDeniedException"))
        return Response(status, body, headers)
