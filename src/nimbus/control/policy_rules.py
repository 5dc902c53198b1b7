"""Lambda's resource-based policies as pure data: the statement AddPermission writes, the document GetPolicy
answers, its quota, and how a trigger's request is put to the one evaluator (no I/O, no registry: `policies` holds
the state).

There is no second evaluator here: `allows` hands the document to `protocol/policy_eval` (IAM's logic, the same
that authorizes signed calls), with the trigger's principal as a `Caller` ("*" anonymous, a service principal, an
account's root, an IAM ARN) and its condition values as the context. So a missing condition key, an unknown
operator or a Deny statement means what it means to IAM; `policies` caches the decisions per policy revision, as
the function-URL check runs on every request.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

from nimbus.errors import InvalidParameterValue
from nimbus.protocol.policy_eval import Caller, Request, evaluate

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


# ---- evaluation (protocol/policy_eval decides; this maps a trigger's request onto it) ----
def caller(principal: str) -> Caller:
    """Whom a trigger's `principal` stands for: "*" an anonymous caller (named only by `*`), a service principal
    (`sns.amazonaws.com`) that service, an account id its root, an IAM ARN that identity."""
    if principal == "*":
        return Caller("", "")
    if _ACCOUNT_RE.fullmatch(principal):
        return Caller(f"arn:aws:iam::{principal}:root", principal)
    if m := _IAM_ARN_RE.fullmatch(principal):
        return Caller(principal, m.group(1))
    return Caller("", "", service=principal)


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


def allows(statements: Iterable[dict[str, Any]], resource: str, action: str, principal: str,
           ctx: dict[str, str]) -> bool:  # fmt: skip
    """Whether the resource policy made of `statements`, on its own (a trigger has no identity policies), allows
    `principal` to do `action` on `resource`: IAM's evaluation (`policy_eval.evaluate`)."""
    request = Request(action, resource, caller(principal), ctx)
    return evaluate((), request, document(statements)).allowed
