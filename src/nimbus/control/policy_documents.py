"""Checks on the policy documents IAM stores (identity policies, trust policies) and the sizes IAM counts them by.

IAM refuses a document that is not a JSON object with a `Statement` (one statement or a list), whose statements lack
an `Effect` of Allow or Deny, an action (`Action`/`NotAction`), or, for identity policies, a resource; an identity
policy must not name a `Principal`, and a trust policy must. The answer is `MalformedPolicyDocument`, worded as IAM
words it. `Version`, when given, is `2012-10-17` or `2008-10-17` (left out, IAM takes 2008-10-17). Sizes are counted
as IAM counts them: characters other than white space.
"""

from __future__ import annotations

import json
from typing import Any

from nimbus.errors import MalformedPolicyDocument
from nimbus.protocol import json_text

VERSIONS = ("2012-10-17", "2008-10-17")
_EFFECTS = ("Allow", "Deny")


def policy_size(document: str) -> int:
    """The size IAM's quotas count: characters other than white space."""
    return sum(1 for c in document if not c.isspace())


def _statements(document: str) -> list[Any]:
    try:
        parsed = json_text.loads(document)
    except ValueError:
        raise MalformedPolicyDocument("Syntax errors in policy.") from None
    if not isinstance(parsed, dict):
        raise MalformedPolicyDocument("Syntax errors in policy.")
    version = parsed.get("Version")
    if version is not None and version not in VERSIONS:
        raise MalformedPolicyDocument("The policy failed legacy parsing")
    if "Statement" not in parsed:
        raise MalformedPolicyDocument("Syntax errors in policy.")
    statements = parsed["Statement"]
    statements = statements if isinstance(statements, list) else [statements]
    if not statements:
        raise MalformedPolicyDocument("Syntax errors in policy.")
    for statement in statements:
        if not isinstance(statement, dict):
            raise MalformedPolicyDocument("Syntax errors in policy.")
        if "Effect" not in statement:
            raise MalformedPolicyDocument("Missing required field Effect")
        if statement["Effect"] not in _EFFECTS:
            raise MalformedPolicyDocument(f"Invalid effect: {statement['Effect']}")
        if "Action" not in statement and "NotAction" not in statement:
            raise MalformedPolicyDocument("Policy statement must contain actions.")
        for key in ("Action", "NotAction", "Resource", "NotResource"):
            if key in statement and not _strings(statement[key]):
                raise MalformedPolicyDocument("Syntax errors in policy.")
    return statements


def _strings(value: Any) -> bool:
    values = value if isinstance(value, list) else [value]
    return bool(values) and all(isinstance(v, str) and v for v in values)


def check_identity_policy(document: str) -> None:
    """An identity policy (inline, or a managed policy's version): statements with actions and resources, no
    principal."""
    for statement in _statements(document):
        if "Principal" in statement or "NotPrincipal" in statement:
            raise MalformedPolicyDocument("Policy document should not specify a principal.")
        if "Resource" not in statement and "NotResource" not in statement:
            raise MalformedPolicyDocument("Policy statement must contain resources.")


def check_trust_policy(document: str) -> None:
    """A role's trust policy: each statement names who may assume the role (`Principal`), and no resource."""
    for statement in _statements(document):
        if "Principal" not in statement and "NotPrincipal" not in statement:
            raise MalformedPolicyDocument("Missing required field Principal")
        if "Resource" in statement or "NotResource" in statement:
            raise MalformedPolicyDocument("Has prohibited field Resource")
        principal = statement.get("Principal", statement.get("NotPrincipal"))
        if principal != "*" and not (isinstance(principal, dict) and principal
                                     and all(_strings(v) for v in principal.values())):  # fmt: skip
            raise MalformedPolicyDocument("Invalid principal in policy")


def parse(document: str) -> dict[str, Any]:
    """A stored (already checked) document as parsed JSON."""
    parsed: dict[str, Any] = json.loads(document)
    return parsed
