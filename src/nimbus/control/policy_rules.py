"""Lambda's resource-based policies as pure data: the statement AddPermission writes, the document GetPolicy
answers, and the evaluation a trigger asks before it invokes (no I/O, no registry: `policies` holds the state).

A statement is kept as Lambda writes it (a JSON-ready dict) and compiled once into a `Rule`, so that the check made
on every function-URL request is a few comparisons and at most one cached regex per condition.

Evaluation follows IAM for the subset Lambda's AddPermission can write: only Allow statements exist; a statement
applies when its Action names the action (or `lambda:*`, `*`), its Principal names the caller (`*` names anyone,
`{"AWS": "arn:aws:iam::<acct>:root"}` any caller of that account), and every condition holds. A condition on a key
the caller did not supply fails (IAM: a missing key never satisfies a positive operator), and an operator outside
the subset fails too, so an unexpected document denies rather than allows.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from nimbus.errors import InvalidParameterValue

POLICY_VERSION = "2012-10-17"
#: Lambda's quota on a function's (or version's, or alias's) resource-based policy, in bytes of its JSON document
POLICY_MAX_BYTES = 20 * 1024

_ACCOUNT_RE = re.compile(r"\d{12}")
_IAM_ARN_RE = re.compile(r"arn:aws[a-zA-Z-]*:iam::(\d{12}):(root|(user|role|assumed-role|federated-user)/\S+)")
_SERVICE_RE = re.compile(r"[a-z0-9][a-z0-9-]*(\.[a-z0-9][a-z0-9-]*)+")
_INVALID_PRINCIPAL = "The provided principal was invalid. Please check the principal and try again."

SOURCE_ARN = "AWS:SourceArn"
SOURCE_ACCOUNT = "AWS:SourceAccount"
URL_AUTH_TYPE = "lambda:FunctionUrlAuthType"
INVOKED_VIA_URL = "lambda:InvokedViaFunctionUrl"
EVENT_SOURCE_TOKEN = "lambda:EventSourceToken"
PRINCIPAL_ORG_ID = "aws:PrincipalOrgID"


# ---- building (AddPermission) ----
def principal_element(principal: str) -> str | dict[str, str]:
    """The Principal element Lambda writes for AddPermission's Principal: `*` stays `*`, an account id becomes its
    root ARN, an IAM ARN stays as given, a service principal (`sns.amazonaws.com`) becomes `{"Service": ...}`."""
    if principal == "*":
        return "*"
    if _ACCOUNT_RE.fullmatch(principal):
        return {"AWS": f"arn:aws:iam::{principal}:root"}
    if _IAM_ARN_RE.fullmatch(principal):
        return {"AWS": principal}
    if _SERVICE_RE.fullmatch(principal):
        return {"Service": principal}
    raise InvalidParameterValue(_INVALID_PRINCIPAL)


def build_statement(
    sid: str,
    action: str,
    principal: str,
    resource: str,
    *,
    source_arn: str | None = None,
    source_account: str | None = None,
    event_source_token: str | None = None,
    principal_org_id: str | None = None,
    url_auth_type: str | None = None,
    invoked_via_url: bool | None = None,
) -> dict[str, Any]:
    """The statement Lambda adds to the policy (keys in Lambda's order; Condition only when there is one)."""
    statement: dict[str, Any] = {
        "Sid": sid, "Effect": "Allow", "Principal": principal_element(principal), "Action": action,
        "Resource": resource,
    }  # fmt: skip
    condition: dict[str, dict[str, str]] = {}
    if source_arn is not None:
        condition["ArnLike"] = {SOURCE_ARN: source_arn}
    equals = {
        SOURCE_ACCOUNT: source_account, EVENT_SOURCE_TOKEN: event_source_token, PRINCIPAL_ORG_ID: principal_org_id,
        URL_AUTH_TYPE: url_auth_type,
    }  # fmt: skip
    if any(value is not None for value in equals.values()):
        condition["StringEquals"] = {key: value for key, value in equals.items() if value is not None}
    if invoked_via_url:
        condition["Bool"] = {INVOKED_VIA_URL: "true"}
    if condition:
        statement["Condition"] = condition
    return statement


def document(statements: Iterable[dict[str, Any]]) -> dict[str, Any]:
    return {"Version": POLICY_VERSION, "Id": "default", "Statement": list(statements)}


def dump(value: Any) -> str:
    """JSON as Lambda answers it inside GetPolicy and AddPermission (compact); the policy's size is measured on it."""
    return json.dumps(value, separators=(",", ":"))


def size(statements: Iterable[dict[str, Any]]) -> int:
    return len(dump(document(statements)).encode())


# ---- evaluation ----
@lru_cache(maxsize=4096)
def _wildcard(pattern: str, ignore_case: bool = False) -> re.Pattern[str]:
    """IAM's `*` (any run of characters, `/` and `:` included) and `?` (one character) as a regex."""
    body = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile(body, re.DOTALL | (re.IGNORECASE if ignore_case else 0))


def _arn_like(pattern: str, value: str) -> bool:
    """IAM's ArnLike/ArnEquals: the six colon-separated parts compared one by one, each with wildcards."""
    want, have = pattern.split(":", 5), value.split(":", 5)
    if len(want) != 6 or len(have) != 6:
        return False
    return all(_wildcard(w).fullmatch(h) is not None for w, h in zip(want, have, strict=True))


def _compare(operator: str, pattern: str, value: str) -> bool:
    if operator == "StringEquals":
        return pattern == value
    if operator == "StringEqualsIgnoreCase":
        return pattern.lower() == value.lower()
    if operator == "StringLike":
        return _wildcard(pattern).fullmatch(value) is not None
    if operator in ("ArnLike", "ArnEquals"):
        return _arn_like(pattern, value)
    if operator == "Bool":
        return pattern.lower() == value.lower()
    return False  # an operator outside Lambda's subset never holds: deny


def _values(value: Any) -> tuple[str, ...]:
    items = value if isinstance(value, list) else [value]
    return tuple(str(v).lower() if isinstance(v, bool) else str(v) for v in items)


def account_of(principal: str) -> str | None:
    """The account a caller principal (account id or IAM ARN) belongs to; None for `*` and service principals."""
    if _ACCOUNT_RE.fullmatch(principal):
        return principal
    m = _IAM_ARN_RE.fullmatch(principal)
    return m.group(1) if m else None


@dataclass(frozen=True)
class Rule:
    """One statement, compiled for evaluation. Action names are compared lower-cased (IAM's are case-blind)."""

    actions: frozenset[str]
    anyone: bool
    services: frozenset[str]
    accounts: frozenset[str]
    arns: frozenset[str]
    #: (operator, lower-cased key, accepted values): each must hold, with any one of its values
    conditions: tuple[tuple[str, str, tuple[str, ...]], ...]

    def applies(self, action: str, principal: str, context: dict[str, str]) -> bool:
        if not ({action.lower(), "lambda:*", "*"} & self.actions):
            return False
        if not self._names(principal):
            return False
        for operator, key, patterns in self.conditions:
            value = context.get(key)
            if value is None or not any(_compare(operator, p, value) for p in patterns):
                return False
        return True

    def _names(self, principal: str) -> bool:
        if self.anyone:
            return True
        if principal in self.services:
            return True
        account = account_of(principal)
        return account is not None and (account in self.accounts or principal in self.arns)


def compile_statement(statement: dict[str, Any]) -> Rule:
    """The Rule of a stored statement. A statement other than Allow compiles to a rule that applies to nothing."""
    raw_actions = statement.get("Action", [])
    actions = frozenset(a.lower() for a in _values(raw_actions))
    if statement.get("Effect") != "Allow":
        actions = frozenset()
    principal = statement.get("Principal")
    anyone = principal == "*"
    services: set[str] = set()
    accounts: set[str] = set()
    arns: set[str] = set()
    if isinstance(principal, dict):
        services.update(_values(principal.get("Service", [])))
        for who in _values(principal.get("AWS", [])):
            if who == "*":
                anyone = True
            elif (_ACCOUNT_RE.fullmatch(who) or who.endswith(":root")) and (account := account_of(who)):
                accounts.add(account)
            else:
                arns.add(who)
    conditions = tuple(
        (operator, key.lower(), _values(value))
        for operator, keys in (statement.get("Condition") or {}).items()
        for key, value in keys.items()
    )
    return Rule(actions, anyone, frozenset(services), frozenset(accounts), frozenset(arns), conditions)


def context(source_arn: str | None, source_account: str | None, url_auth_type: str | None) -> dict[str, str]:
    """The condition keys a request carries (lower-cased, as IAM compares keys). A request through a function URL
    (`url_auth_type` given) also carries `lambda:InvokedViaFunctionUrl` = true."""
    out: dict[str, str] = {}
    if source_arn is not None:
        out["aws:sourcearn"] = source_arn
    if source_account is not None:
        out["aws:sourceaccount"] = source_account
    if url_auth_type is not None:
        out["lambda:functionurlauthtype"] = url_auth_type
        out["lambda:invokedviafunctionurl"] = "true"
    return out


def allows(rules: Iterable[Rule], action: str, principal: str, ctx: dict[str, str]) -> bool:
    return any(rule.applies(action, principal, ctx) for rule in rules)
