"""IAM's policy evaluation for requests within one account, pure: policies and a request in, a decision out.

As the IAM User Guide's "Policy evaluation logic" has it for one account (no SCPs, boundaries or session policies):
1. an explicit `Deny` in any applicable policy (identity-based or resource-based) denies;
2. otherwise an `Allow` in an identity-based policy, or in the resource-based policy, allows: within one account a
   resource policy whose `Principal` names the caller (its user ARN, its role's ARN or session ARN, or `*`)
   suffices on its own; one that names the account (`123456789012` or `arn:aws:iam::123456789012:root`) delegates
   to the account's identity policies and so allows the root only;
3. otherwise the implicit deny.

The decision says which of these it was (`Outcome`), so that a denial can be worded as AWS words it, and which
context keys it read (`Decision.keys`), so that a caller can cache decisions that read only keys fixed for a given
caller, action and resource.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from nimbus.protocol.policy_conditions import Context, arn_match, conditions_hold, glob_match, substitute

#: context keys fixed by (caller, action, resource): a decision that read no other key can be cached for them
STABLE_KEYS = frozenset({
    "aws:principalarn", "aws:principalaccount", "aws:principaltype", "aws:username", "aws:userid",
    "lambda:functionarn", "lambda:sourcefunctionarn", "lambda:functionurlauthtype",
})  # fmt: skip


class Outcome(enum.Enum):
    ALLOW = "allow"
    #: an explicit deny in an identity-based policy
    DENY_IDENTITY = "explicit deny in an identity-based policy"
    #: an explicit deny in the resource-based policy
    DENY_RESOURCE = "explicit deny in a resource-based policy"
    #: no statement allows: the implicit deny
    IMPLICIT = "no identity-based policy allows"


@dataclass(frozen=True, slots=True)
class Caller:
    """Whom a request is from, as the resource policy's Principal element sees it."""

    #: `arn:aws:iam::<acct>:root | user/<n>`, `arn:aws:sts::<acct>:assumed-role/<role>/<session>`
    arn: str
    account: str
    #: the role's ARN for a role session ("" otherwise): a resource policy naming the role names its sessions
    role_arn: str = ""
    #: an AWS service calling on its own behalf (`sns.amazonaws.com`), "" for IAM principals
    service: str = ""

    @property
    def is_root(self) -> bool:
        return self.arn == f"arn:aws:iam::{self.account}:root"


@dataclass(frozen=True, slots=True)
class Request:
    action: str
    resource: str
    caller: Caller
    #: condition keys, names lower-cased
    context: Context = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Decision:
    outcome: Outcome
    #: the context keys the evaluation read (lower-cased)
    keys: frozenset[str] = frozenset()

    @property
    def allowed(self) -> bool:
        return self.outcome is Outcome.ALLOW

    @property
    def cacheable(self) -> bool:
        """True when the decision read only keys fixed for its caller, action and resource."""
        return self.keys <= STABLE_KEYS


def _listed(value: Any) -> list[str]:
    if value is None:
        return []
    return [str(v) for v in (value if isinstance(value, list) else [value])]


def statements(policy: Mapping[str, Any]) -> list[dict[str, Any]]:
    """A policy's statements (`Statement` may be one object or a list); malformed entries dropped."""
    body = policy.get("Statement", [])
    items = body if isinstance(body, list) else [body]
    return [s for s in items if isinstance(s, dict)]


def _action_matches(stmt: Mapping[str, Any], action: str) -> bool:
    if "Action" in stmt:
        return any(glob_match(p, action, ignore_case=True) for p in _listed(stmt["Action"]))
    if "NotAction" in stmt:
        return not any(glob_match(p, action, ignore_case=True) for p in _listed(stmt["NotAction"]))
    return False


def _resource_matches(stmt: Mapping[str, Any], resource: str, context: Context, read: set[str]) -> bool:
    """Resource/NotResource (a statement with neither, as in a trust policy, applies to its own resource)."""
    key = "Resource" if "Resource" in stmt else "NotResource" if "NotResource" in stmt else ""
    if not key:
        return True
    hit = False
    for pattern in _listed(stmt[key]):
        concrete = substitute(pattern, context, read)
        if concrete is not None and arn_match(concrete, resource):
            hit = True
            break
    return hit if key == "Resource" else not hit


def _names(principal: Any, caller: Caller, *, account_wide: bool) -> bool:
    """Whether a Principal element names the caller in a way that grants on its own (see the module's rule 2), or
    with `account_wide`, names it or its account."""
    if principal == "*":
        return True
    if not isinstance(principal, dict):
        return False
    for kind, values in principal.items():
        for value in _listed(values):
            if kind == "AWS":
                if value == "*" or (value and value in (caller.arn, caller.role_arn)):
                    return True
                if account_wide and value in (caller.account, f"arn:aws:iam::{caller.account}:root"):
                    return True
            elif kind == "Service" and caller.service and value == caller.service:
                return True
    return False


def _principal_matches(stmt: Mapping[str, Any], caller: Caller, *, account_wide: bool = False) -> bool:
    if "Principal" in stmt:
        return _names(stmt["Principal"], caller, account_wide=account_wide or caller.is_root)
    if "NotPrincipal" in stmt:
        return not _names(stmt["NotPrincipal"], caller, account_wide=caller.is_root)
    return False


def _applies(stmt: Mapping[str, Any], request: Request, read: set[str], *, resource_policy: bool) -> bool:
    if resource_policy and not _principal_matches(stmt, request.caller):
        return False
    return (
        _action_matches(stmt, request.action)
        and _resource_matches(stmt, request.resource, request.context, read)
        and conditions_hold(stmt.get("Condition"), request.context, read)
    )


def _effects(
    policies: Iterable[Mapping[str, Any]], request: Request, read: set[str], *, resource_policy: bool
) -> tuple[bool, bool]:
    """(any applicable Deny, any applicable Allow) among the policies' statements."""
    deny = allow = False
    for policy in policies:
        for stmt in statements(policy):
            effect = stmt.get("Effect")
            if effect == "Deny" and not deny and _applies(stmt, request, read, resource_policy=resource_policy):
                deny = True
            elif effect == "Allow" and not allow and _applies(stmt, request, read, resource_policy=resource_policy):
                allow = True
    return deny, allow


def evaluate(
    identity_policies: Sequence[Mapping[str, Any]],
    request: Request,
    resource_policy: Mapping[str, Any] | None = None,
) -> Decision:
    """The decision for one request, from the caller's identity-based policies and the resource's policy."""
    read: set[str] = set()
    identity_deny, identity_allow = _effects(identity_policies, request, read, resource_policy=False)
    resource_deny, resource_allow = (False, False)
    if resource_policy:
        resource_deny, resource_allow = _effects([resource_policy], request, read, resource_policy=True)
    if identity_deny:
        outcome = Outcome.DENY_IDENTITY
    elif resource_deny:
        outcome = Outcome.DENY_RESOURCE
    elif identity_allow or resource_allow:
        outcome = Outcome.ALLOW
    else:
        outcome = Outcome.IMPLICIT
    return Decision(outcome, frozenset(read))


def principal_context(caller: Caller, *, username: str = "", userid: str = "") -> dict[str, str]:
    """The principal's global condition keys (aws:PrincipalArn is the role's ARN for a role session, as on AWS)."""
    context = {"aws:principalarn": caller.role_arn or caller.arn, "aws:principalaccount": caller.account}
    kind = "Account" if caller.is_root else "AssumedRole" if caller.role_arn else "User"
    context["aws:principaltype"] = kind
    if username:
        context["aws:username"] = username
    if userid:
        context["aws:userid"] = userid
    return context


def evaluate_trust(
    identity_policies: Sequence[Mapping[str, Any]], trust_policy: Mapping[str, Any], request: Request
) -> Decision:
    """sts:AssumeRole: unlike other resource policies a role's trust policy must allow the caller. When it names the
    caller (or `*`, or the caller's service), that suffices; when it names the caller's account, the caller's
    identity policies must allow the action too. An explicit deny in either denies."""
    decision = evaluate(identity_policies, request, trust_policy)
    if decision.outcome is not Outcome.ALLOW:
        return decision
    read = set(decision.keys)
    named = delegated = False
    for stmt in statements(trust_policy):
        if stmt.get("Effect") != "Allow" or not _principal_matches(stmt, request.caller, account_wide=True):
            continue
        if not (_action_matches(stmt, request.action) and conditions_hold(stmt.get("Condition"), request.context,
                                                                             read)):  # fmt: skip
            continue
        if _principal_matches(stmt, request.caller):
            named = True
        else:
            delegated = True
    if named or (delegated and _effects(identity_policies, request, read, resource_policy=False)[1]):
        return Decision(Outcome.ALLOW, frozenset(read))
    return Decision(Outcome.IMPLICIT, frozenset(read))
