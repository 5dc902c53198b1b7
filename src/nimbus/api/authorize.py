"""Authorization of every signed API call: who signed it (the key ring), what it does (`api/actions.py`), and the
policies that decide (`protocol/policy_eval.py`).

The account's root is allowed everything, with no policy read (the warm invoke path of the root key pays one
comparison). Any other caller's identity policies are combined with the resource's own policy: a function's
(AddPermission), a queue's or a topic's (their Policy attribute). A decision is cached per (access key, key ring
policy version, resource-policy revision, action, resource, the call's own condition keys) unless it read a key that
changes from request to request (the time, the source IP, a tag, ...): so a non-root caller's warm invoke pays a
few dict lookups.

A denial is `AccessDenied`, worded as AWS words it ("User: <arn> is not authorized to perform: <action> on resource:
<arn> because no identity-based policy allows the <action> action"); api/errors.py gives it each API's own name.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Iterator, Mapping
from functools import lru_cache
from typing import Any
from urllib.parse import parse_qs

from nimbus.api import actions, http
from nimbus.api.actions import Call, Where
from nimbus.api.http import parse_json
from nimbus.api.queryproto import form_of
from nimbus.api.services import Services
from nimbus.control.identity import ROOT, USER, KeyRing, Principal
from nimbus.control.policies import Policies
from nimbus.control.registry import Registry
from nimbus.errors import AccessDenied, NimbusError
from nimbus.protocol import json_text
from nimbus.protocol.policy_eval import Caller, Decision, Outcome, Request, evaluate, principal_context
from nimbus.queue.service import QueueService
from nimbus.sources.topics import Topics

#: decisions kept at most (the cache is emptied when full: entries are cheap to recompute)
CACHE_MAX = 8192
#: Lambda operations whose body names what is authorized (the function created, the role passed, a mapping's target)
_LAMBDA_BODIES = frozenset({"CreateFunction", "UpdateFunctionConfiguration", "CreateEventSourceMapping"})
_TAG_PREFIX = "aws:resourcetag/"
_REASONS = {
    Outcome.DENY_IDENTITY: "with an explicit deny in an identity-based policy",
    Outcome.DENY_RESOURCE: "with an explicit deny in a resource-based policy",
}


def denial(caller_arn: str, action: str, resource: str, outcome: Outcome) -> AccessDenied:
    """AWS's wording. SQS shows the action lower-cased and SNS its prefix upper-cased, as they do."""
    service, _, name = action.partition(":")
    shown = action.lower() if service == "sqs" else f"SNS:{name}" if service == "sns" else action
    reason = _REASONS.get(outcome, f"because no identity-based policy allows the {shown} action")
    return AccessDenied(f"User: {caller_arn} is not authorized to perform: {shown} on resource: {resource} {reason}")


@lru_cache(maxsize=512)
def _document(text: str) -> dict[str, Any] | None:
    """A resource policy's text as a document (None when it is not one: it then grants nothing)."""
    try:
        doc = json_text.loads(text)
    except ValueError:
        return None
    return doc if isinstance(doc, dict) else None


class _Context(Mapping[str, "str | list[str]"]):
    """A request's condition keys; `aws:ResourceTag/<key>` is read from the resource only when a policy asks."""

    def __init__(self, keys: dict[str, str], tags: Callable[[], Mapping[str, str]]) -> None:
        self._keys = keys
        self._tags_of = tags
        self._tags: dict[str, str] | None = None

    def __getitem__(self, key: str) -> str | list[str]:
        if key in self._keys:
            return self._keys[key]
        if key.startswith(_TAG_PREFIX):
            if self._tags is None:
                self._tags = {k.lower(): v for k, v in self._tags_of().items()}
            return self._tags[key[len(_TAG_PREFIX) :]]
        raise KeyError(key)

    def __iter__(self) -> Iterator[str]:
        return iter(self._keys)

    def __len__(self) -> int:
        return len(self._keys)


class Authorizer:
    def __init__(
        self,
        where: Where,
        keys: KeyRing,
        *,
        policies: Policies | None = None,
        registry: Registry | None = None,
        queues: QueueService | None = None,
        topics: Topics | None = None,
        secure_transport: bool = False,
    ) -> None:
        """`keys`: whose identity policies a principal has (the root is asked nothing); the services: where the
        resources' own policies and tags are (None: that kind has none)."""
        self.where = where
        self.keys = keys
        self.policies = policies
        self.registry = registry
        self.queues = queues
        self.topics = topics
        self.secure = "true" if secure_transport else "false"
        self._cache: dict[tuple[str, int, str, str, str, tuple[tuple[str, str], ...]], Decision] = {}
        #: the calls of Lambda's routes that need no body, by (operation, query, route parameters): Calls are values
        self._calls: dict[tuple[str, ...], Call] = {}

    # ---- what a request does ----
    def call_of(self, req: http.Request, *, service: str, operation: str, form: bool = False) -> Call | None:
        """The call `req` makes, from its route (REST), its target (JSON: `operation` is the whole target) or its
        form (query protocol). The body is parsed only where it names the resource, never for an invoke's payload,
        and what is parsed is kept in `req.parsed`, for the handler, which then does not parse it again."""
        params, query = req.params, req.query
        if form:
            fields = form_of(req)
            return actions.form_call(self.where, service, fields.get("Action", ""), fields)
        if service == "lambda" and operation not in _LAMBDA_BODIES:  # the route alone names it: the warm invoke's
            key = (operation, query, *params.values())
            call = self._calls.get(key)
            if call is None:
                if len(self._calls) >= CACHE_MAX:
                    self._calls.clear()
                query_params = parse_qs(query, keep_blank_values=True) if query else {}
                call = self._calls[key] = actions.lambda_call(self.where, operation, params, query_params, {})
            return call
        operation = operation.rpartition(".")[2]
        query_params = parse_qs(query, keep_blank_values=True) if query else {}
        if service == "lambda":
            parsed = self._parsed(req)
            body_fields = parsed if isinstance(parsed, dict) else {}
            return actions.lambda_call(self.where, operation, params, query_params, body_fields)
        if service == "apigateway":
            return actions.apigw_call(self.where, req.method, req.raw_path)
        if service == "cloudformation":  # the stacks API: a code upload's body is a zip, never parsed here
            parsed = self._parsed(req) if operation == "DeployStack" else {}
            dry_run = isinstance(parsed, dict) and parsed.get("DryRun") is True
            return actions.stacks_call(self.where, operation, params, dry_run)
        parsed = self._parsed(req)
        parsed = parsed if isinstance(parsed, dict) else {}
        if service == "scheduler":
            return actions.scheduler_call(self.where, operation, params, query_params, parsed)
        return actions.json_call(self.where, service, operation, parsed)

    @staticmethod
    def _parsed(req: http.Request) -> Any:
        """`req`'s JSON body ({} when empty), parsed once: kept in `req.parsed` for its handler."""
        if not req.body:
            return {}
        if req.parsed is None:
            req.parsed = parse_json(req.body)
        return req.parsed

    # ---- the decision ----
    async def authorize(self, who: Principal | None, call: Call | None, *, source_ip: str = "") -> None:
        """Raise AccessDenied unless `who` may make `call` (None: the root, or a call never denied)."""
        if who is None or who.kind == ROOT or call is None:
            return
        policy, revision, tags = await self._resource_policy(call)
        resources = (who.arn,) if call.own_user and who.kind == USER else call.resources
        for resource in resources:
            self._check(who, call, call.action, resource, policy, revision, tags, source_ip)
        if call.pass_role:
            self._check(who, call, "iam:PassRole", call.pass_role, None, "", dict, source_ip)

    async def permits(self, who: Principal, call: Call, *, source_ip: str = "") -> str:
        """For the HTTP triggers (whose callers get a bare 403): "" when `who` may make `call`, else the denial's
        message, for the log."""
        try:
            await self.authorize(who, call, source_ip=source_ip)
        except AccessDenied as exc:
            return exc.message
        return ""

    def _check(
        self,
        who: Principal,
        call: Call,
        action: str,
        resource: str,
        policy: Mapping[str, Any] | None,
        revision: str,
        tags: Callable[[], Mapping[str, str]],
        source_ip: str,
    ) -> None:
        key = (who.access_key_id, self.keys.policy_version(), revision, action, resource, tuple(call.context.items()))
        decision = self._cache.get(key)
        if decision is None:
            caller = Caller(who.arn, who.account, who.role_arn)
            context = self._context(who, caller, call, source_ip, tags)
            decision = evaluate(self.keys.identity_policies(who), Request(action, resource, caller, context), policy)
            if decision.cacheable:
                if len(self._cache) >= CACHE_MAX:
                    self._cache.clear()
                self._cache[key] = decision
        if not decision.allowed:
            raise denial(who.arn, action, resource, decision.outcome)

    def _context(
        self, who: Principal, caller: Caller, call: Call, source_ip: str, tags: Callable[[], Mapping[str, str]]
    ) -> _Context:
        now = time.time()
        keys = principal_context(caller, username=who.name if who.kind == USER else "", userid=who.user_id)
        keys |= dict(call.context)
        keys["aws:currenttime"] = dt.datetime.fromtimestamp(now, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        keys["aws:epochtime"] = str(int(now))
        keys["aws:securetransport"] = self.secure
        if source_ip:
            keys["aws:sourceip"] = source_ip
        if who.source_function_arn:
            keys["lambda:sourcefunctionarn"] = who.source_function_arn
        return _Context(keys, tags)

    async def _resource_policy(
        self, call: Call
    ) -> tuple[Mapping[str, Any] | None, str, Callable[[], Mapping[str, str]]]:
        """(the resource's policy, its revision, its tags) for the call's resource; none for a resource that does
        not exist (the handler then answers that)."""
        if call.policy == actions.FUNCTION and self.policies is not None:
            attached = self.policies.attached(call.policy_ref, call.qualifier)
            if attached is None:
                return None, "", lambda: self._function_tags(call.policy_ref)
            return attached.document, attached.revision_id, lambda: self._function_tags(call.policy_ref)
        if call.policy == actions.QUEUE and self.queues is not None:
            record = await self.queues.lookup(call.policy_ref)
            text = record.attributes.get("Policy", "") if record else ""
            return (_document(text) if text else None), text, lambda: record.tags if record else {}
        if call.policy == actions.TOPIC and self.topics is not None:
            try:
                topic = self.topics.require(call.policy_ref)
            except NimbusError:
                return None, "", dict
            text = str(topic.get("Attributes", {}).get("Policy", ""))
            topics = self.topics
            return (_document(text) if text else None), text, lambda: topics.tags(call.policy_ref)
        return None, "", dict

    def _function_tags(self, name: str) -> Mapping[str, str]:
        if self.registry is None:
            return {}
        try:
            return self.registry.get(name).tags
        except NimbusError:
            return {}


def authorizer_for(services: Services, keys: KeyRing) -> Authorizer:
    """The server's authorizer over its services' resource policies (what server.run builds)."""
    settings = services.settings
    return Authorizer(
        Where(settings.region, settings.account_id), keys, policies=services.policies,
        registry=services.registry, queues=services.queues, topics=services.topics,
        secure_transport=settings.http_scheme == "https",
    )  # fmt: skip
