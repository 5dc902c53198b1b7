"""The evaluator against a table written from the IAM User Guide's "Policy evaluation logic" (requests within one
account), its Action/Resource/Principal element pages and the AWS Lambda resource-policy examples."""

from __future__ import annotations

from typing import Any

import pytest

from nimbus.protocol.policy_eval import (
    Caller,
    Outcome,
    Request,
    evaluate,
    evaluate_trust,
    principal_context,
)

ACCT = "123456789012"
ALICE = Caller(f"arn:aws:iam::{ACCT}:user/alice", ACCT)
BOB = Caller(f"arn:aws:iam::{ACCT}:user/bob", ACCT)
ROOT = Caller(f"arn:aws:iam::{ACCT}:root", ACCT)
ROLE = f"arn:aws:iam::{ACCT}:role/worker"
SESSION = Caller(f"arn:aws:sts::{ACCT}:assumed-role/worker/s1", ACCT, role_arn=ROLE)
SNS = Caller("", ACCT, service="sns.amazonaws.com")
FN_A = f"arn:aws:lambda:us-east-1:{ACCT}:function:fn-a"
FN_OTHER = f"arn:aws:lambda:us-east-1:{ACCT}:function:fn-other"
QUEUE = f"arn:aws:sqs:us-east-1:{ACCT}:orders"


def policy(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def allow(action: Any, resource: Any = "*", **extra: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


def deny(action: Any, resource: Any = "*", **extra: Any) -> dict[str, Any]:
    return {"Effect": "Deny", "Action": action, "Resource": resource, **extra}


INVOKE_FN_STAR = policy(allow("lambda:InvokeFunction", f"arn:aws:lambda:us-east-1:{ACCT}:function:fn-*"))

CASES: list[tuple[str, list[dict[str, Any]], dict[str, Any] | None, Request, Outcome]] = [
    ("no policy at all: the implicit deny", [], None, Request("lambda:InvokeFunction", FN_A, ALICE), Outcome.IMPLICIT),
    ("an allow on a wildcard resource", [INVOKE_FN_STAR], None,
     Request("lambda:InvokeFunction", FN_A, ALICE), Outcome.ALLOW),
    ("the wildcard does not reach another name", [INVOKE_FN_STAR], None,
     Request("lambda:InvokeFunction", f"arn:aws:lambda:us-east-1:{ACCT}:function:gn-a", ALICE), Outcome.IMPLICIT),
    ("fn-* names fn-other too", [INVOKE_FN_STAR], None,
     Request("lambda:InvokeFunction", FN_OTHER, ALICE), Outcome.ALLOW),
    ("an allowed resource but another action", [INVOKE_FN_STAR], None,
     Request("lambda:DeleteFunction", FN_A, ALICE), Outcome.IMPLICIT),
    ("action names are case-insensitive", [policy(allow("LAMBDA:invokefunction", FN_A))], None,
     Request("lambda:InvokeFunction", FN_A, ALICE), Outcome.ALLOW),
    ("a service-wide action wildcard", [policy(allow("lambda:*"))], None,
     Request("lambda:DeleteFunction", FN_A, ALICE), Outcome.ALLOW),
    ("a prefix wildcard: lambda:Get*", [policy(allow("lambda:Get*"))], None,
     Request("lambda:GetFunctionConfiguration", FN_A, ALICE), Outcome.ALLOW),
    ("lambda:Get* does not allow List", [policy(allow("lambda:Get*"))], None,
     Request("lambda:ListFunctions", "*", ALICE), Outcome.IMPLICIT),
    ("? matches exactly one character", [policy(allow("sqs:?eceiveMessage"))], None,
     Request("sqs:ReceiveMessage", QUEUE, ALICE), Outcome.ALLOW),
    ("an explicit deny beats an allow in the same policy",
     [policy(allow("lambda:*"), deny("lambda:DeleteFunction"))], None,
     Request("lambda:DeleteFunction", FN_A, ALICE), Outcome.DENY_IDENTITY),
    ("an explicit deny beats an allow in another policy",
     [policy(allow("*")), policy(deny("lambda:*", FN_A))], None,
     Request("lambda:InvokeFunction", FN_A, ALICE), Outcome.DENY_IDENTITY),
    ("a deny on another resource does not apply",
     [policy(allow("*")), policy(deny("lambda:*", FN_OTHER))], None,
     Request("lambda:InvokeFunction", FN_A, ALICE), Outcome.ALLOW),
    ("NotAction allows everything but the listed actions",
     [policy({"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"})], None,
     Request("sqs:SendMessage", QUEUE, ALICE), Outcome.ALLOW),
    ("NotAction: the listed action is not allowed",
     [policy({"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"})], None,
     Request("iam:CreateUser", f"arn:aws:iam::{ACCT}:user/x", ALICE), Outcome.IMPLICIT),
    ("NotResource: a deny of everything but one queue",
     [policy(allow("sqs:*"), {"Effect": "Deny", "Action": "sqs:*", "NotResource": QUEUE})], None,
     Request("sqs:SendMessage", f"arn:aws:sqs:us-east-1:{ACCT}:other", ALICE), Outcome.DENY_IDENTITY),
    ("NotResource: the exempted queue stays allowed",
     [policy(allow("sqs:*"), {"Effect": "Deny", "Action": "sqs:*", "NotResource": QUEUE})], None,
     Request("sqs:SendMessage", QUEUE, ALICE), Outcome.ALLOW),
    ("ARN wildcards per part: any region", [policy(allow("sqs:*", f"arn:aws:sqs:*:{ACCT}:orders"))], None,
     Request("sqs:SendMessage", QUEUE, ALICE), Outcome.ALLOW),
    ("ARN resource paths are case-sensitive", [policy(allow("sqs:*", f"arn:aws:sqs:*:{ACCT}:Orders"))], None,
     Request("sqs:SendMessage", QUEUE, ALICE), Outcome.IMPLICIT),
    ("a short ARN pattern: its last part takes the rest", [policy(allow("lambda:*", "arn:aws:lambda:*"))], None,
     Request("lambda:InvokeFunction", FN_A, ALICE), Outcome.ALLOW),
    ("a qualified function ARN is not the unqualified one", [policy(allow("lambda:InvokeFunction", FN_A))], None,
     Request("lambda:InvokeFunction", FN_A + ":live", ALICE), Outcome.IMPLICIT),
    ("fn-a:* covers its qualifiers", [policy(allow("lambda:InvokeFunction", FN_A + ":*"))], None,
     Request("lambda:InvokeFunction", FN_A + ":live", ALICE), Outcome.ALLOW),
    ("a policy variable in Resource: the user's own name",
     [policy(allow("sqs:*", f"arn:aws:sqs:*:{ACCT}:" + "${aws:username}-*"))], None,
     Request("sqs:SendMessage", f"arn:aws:sqs:us-east-1:{ACCT}:alice-jobs", ALICE,
             principal_context(ALICE, username="alice")), Outcome.ALLOW),
    ("the variable does not give another user's queue",
     [policy(allow("sqs:*", f"arn:aws:sqs:*:{ACCT}:" + "${aws:username}-*"))], None,
     Request("sqs:SendMessage", f"arn:aws:sqs:us-east-1:{ACCT}:bob-jobs", ALICE,
             principal_context(ALICE, username="alice")), Outcome.IMPLICIT),
    ("a variable with no value: the element does not match",
     [policy(allow("sqs:*", f"arn:aws:sqs:*:{ACCT}:" + "${aws:username}-*"))], None,
     Request("sqs:SendMessage", f"arn:aws:sqs:us-east-1:{ACCT}:-jobs", ROOT, principal_context(ROOT)),
     Outcome.IMPLICIT),
    # resource-based policies, within one account
    ("a resource policy naming the user suffices without an identity policy", [],
     policy(allow("sqs:SendMessage", QUEUE, Principal={"AWS": ALICE.arn})),
     Request("sqs:SendMessage", QUEUE, ALICE), Outcome.ALLOW),
    ("a resource policy naming another user gives nothing", [],
     policy(allow("sqs:SendMessage", QUEUE, Principal={"AWS": [BOB.arn]})),
     Request("sqs:SendMessage", QUEUE, ALICE), Outcome.IMPLICIT),
    ("Principal * allows anyone", [], policy(allow("sqs:SendMessage", QUEUE, Principal="*")),
     Request("sqs:SendMessage", QUEUE, ALICE), Outcome.ALLOW),
    ("Principal {AWS: *} allows anyone", [], policy(allow("sqs:SendMessage", QUEUE, Principal={"AWS": "*"})),
     Request("sqs:SendMessage", QUEUE, ALICE), Outcome.ALLOW),
    ("naming the account delegates to identity policies: alone it allows no user", [],
     policy(allow("sqs:SendMessage", QUEUE, Principal={"AWS": ACCT})),
     Request("sqs:SendMessage", QUEUE, ALICE), Outcome.IMPLICIT),
    ("naming the account, with an identity allow: allowed",
     [policy(allow("sqs:SendMessage", QUEUE))],
     policy(allow("sqs:SendMessage", QUEUE, Principal={"AWS": f"arn:aws:iam::{ACCT}:root"})),
     Request("sqs:SendMessage", QUEUE, ALICE), Outcome.ALLOW),
    ("naming the role grants to its sessions", [],
     policy(allow("sqs:SendMessage", QUEUE, Principal={"AWS": ROLE})),
     Request("sqs:SendMessage", QUEUE, SESSION), Outcome.ALLOW),
    ("a service principal", [],
     policy(allow("lambda:InvokeFunction", FN_A, Principal={"Service": "sns.amazonaws.com"})),
     Request("lambda:InvokeFunction", FN_A, SNS), Outcome.ALLOW),
    ("a service principal does not name a user", [],
     policy(allow("lambda:InvokeFunction", FN_A, Principal={"Service": "sns.amazonaws.com"})),
     Request("lambda:InvokeFunction", FN_A, ALICE), Outcome.IMPLICIT),
    ("a resource-policy deny beats an identity allow", [policy(allow("sqs:*"))],
     policy(deny("sqs:*", QUEUE, Principal={"AWS": ALICE.arn})),
     Request("sqs:DeleteQueue", QUEUE, ALICE), Outcome.DENY_RESOURCE),
    ("an identity deny beats a resource-policy allow", [policy(deny("sqs:*"))],
     policy(allow("sqs:*", QUEUE, Principal="*")),
     Request("sqs:SendMessage", QUEUE, ALICE), Outcome.DENY_IDENTITY),
    ("NotPrincipal: a deny for everyone but bob", [policy(allow("sqs:*"))],
     policy({"Effect": "Deny", "NotPrincipal": {"AWS": [BOB.arn, ACCT]}, "Action": "sqs:*", "Resource": QUEUE}),
     Request("sqs:SendMessage", QUEUE, ALICE), Outcome.DENY_RESOURCE),
    ("NotPrincipal: bob is exempt", [policy(allow("sqs:*"))],
     policy({"Effect": "Deny", "NotPrincipal": {"AWS": [BOB.arn]}, "Action": "sqs:*", "Resource": QUEUE}),
     Request("sqs:SendMessage", QUEUE, BOB), Outcome.ALLOW),
    ("a Statement given as one object", [{"Version": "2012-10-17", "Statement": allow("sqs:*")}], None,
     Request("sqs:SendMessage", QUEUE, ALICE), Outcome.ALLOW),
    ("an Effect other than Allow or Deny does nothing", [policy({"Effect": "allow", "Action": "*", "Resource": "*"})],
     None, Request("sqs:SendMessage", QUEUE, ALICE), Outcome.IMPLICIT),
    # conditions in statements (the operators themselves are in test_policy_conditions)
    ("a condition on aws:SourceArn that holds", [],
     policy(allow("lambda:InvokeFunction", FN_A, Principal={"Service": "sns.amazonaws.com"},
                  Condition={"ArnLike": {"AWS:SourceArn": f"arn:aws:sns:us-east-1:{ACCT}:alerts"}})),
     Request("lambda:InvokeFunction", FN_A, SNS, {"aws:sourcearn": f"arn:aws:sns:us-east-1:{ACCT}:alerts"}),
     Outcome.ALLOW),
    ("the same condition for another topic", [],
     policy(allow("lambda:InvokeFunction", FN_A, Principal={"Service": "sns.amazonaws.com"},
                  Condition={"ArnLike": {"AWS:SourceArn": f"arn:aws:sns:us-east-1:{ACCT}:alerts"}})),
     Request("lambda:InvokeFunction", FN_A, SNS, {"aws:sourcearn": f"arn:aws:sns:us-east-1:{ACCT}:other"}),
     Outcome.IMPLICIT),
    ("a deny only over plain HTTP: it applies without TLS",
     [policy(allow("sqs:*"), deny("sqs:*", Condition={"Bool": {"aws:SecureTransport": "false"}}))], None,
     Request("sqs:SendMessage", QUEUE, ALICE, {"aws:securetransport": "false"}), Outcome.DENY_IDENTITY),
    ("a deny only over plain HTTP: it does not apply with TLS",
     [policy(allow("sqs:*"), deny("sqs:*", Condition={"Bool": {"aws:SecureTransport": "false"}}))], None,
     Request("sqs:SendMessage", QUEUE, ALICE, {"aws:securetransport": "true"}), Outcome.ALLOW),
]  # fmt: skip


@pytest.mark.parametrize(("identity", "resource", "request_", "outcome"),
                         [c[1:] for c in CASES], ids=[c[0] for c in CASES])  # fmt: skip
def test_evaluation_table(
    identity: list[dict[str, Any]], resource: dict[str, Any] | None, request_: Request, outcome: Outcome
) -> None:
    assert evaluate(identity, request_, resource).outcome is outcome


def test_decisions_that_read_only_the_callers_keys_are_cacheable() -> None:
    owned = policy(allow("sqs:*", f"arn:aws:sqs:*:{ACCT}:" + "${aws:username}-*"))
    ctx = principal_context(ALICE, username="alice") | {"aws:sourceip": "10.0.0.1"}
    decision = evaluate([owned], Request("sqs:SendMessage", f"arn:aws:sqs:us-east-1:{ACCT}:alice-q", ALICE, ctx))
    assert decision.allowed
    assert decision.cacheable
    timed = policy(allow("sqs:*", Condition={"DateLessThan": {"aws:CurrentTime": "2030-01-01T00:00:00Z"}}))
    ctx = {"aws:currenttime": "2026-11-30T12:00:00Z"}
    decision = evaluate([timed], Request("sqs:SendMessage", QUEUE, ALICE, ctx))
    assert decision.allowed
    assert not decision.cacheable
    by_ip = policy(allow("sqs:*", Condition={"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}))
    decision = evaluate([by_ip], Request("sqs:SendMessage", QUEUE, ALICE, {"aws:sourceip": "192.168.1.1"}))
    assert not decision.allowed
    assert not decision.cacheable


def test_principal_context_names_the_role_for_a_session() -> None:
    assert principal_context(SESSION)["aws:principalarn"] == ROLE
    assert principal_context(SESSION)["aws:principaltype"] == "AssumedRole"
    assert principal_context(ROOT)["aws:principaltype"] == "Account"
    assert principal_context(ALICE, username="alice") == {
        "aws:principalarn": ALICE.arn, "aws:principalaccount": ACCT, "aws:principaltype": "User",
        "aws:username": "alice",
    }  # fmt: skip


LAMBDA_TRUST = policy({"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"},
                       "Action": "sts:AssumeRole"})  # fmt: skip
ACCOUNT_TRUST = policy({"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCT}:root"},
                        "Action": "sts:AssumeRole"})  # fmt: skip
ALICE_TRUST = policy({"Effect": "Allow", "Principal": {"AWS": ALICE.arn}, "Action": "sts:AssumeRole"})


@pytest.mark.parametrize(("identity", "trust", "caller", "outcome"), [
    ([], LAMBDA_TRUST, Caller("", ACCT, service="lambda.amazonaws.com"), Outcome.ALLOW),
    ([], LAMBDA_TRUST, ALICE, Outcome.IMPLICIT),
    ([policy(allow("sts:AssumeRole", ROLE))], LAMBDA_TRUST, ALICE, Outcome.IMPLICIT),
    ([], ALICE_TRUST, ALICE, Outcome.ALLOW),
    ([], ACCOUNT_TRUST, ALICE, Outcome.IMPLICIT),
    ([policy(allow("sts:AssumeRole", ROLE))], ACCOUNT_TRUST, ALICE, Outcome.ALLOW),
    ([policy(allow("sts:AssumeRole", f"arn:aws:iam::{ACCT}:role/other"))], ACCOUNT_TRUST, ALICE, Outcome.IMPLICIT),
    ([policy(deny("sts:*"))], ALICE_TRUST, ALICE, Outcome.DENY_IDENTITY),
    ([], ACCOUNT_TRUST, ROOT, Outcome.ALLOW),
], ids=["service trusted", "user not trusted", "identity allow without trust", "user named", "account named only",
        "account named + identity allow", "identity allows another role", "explicit deny",
        "root via account"])  # fmt: skip
def test_assume_role_needs_the_trust_policy(
    identity: list[dict[str, Any]], trust: dict[str, Any], caller: Caller, outcome: Outcome
) -> None:
    assert evaluate_trust(identity, trust, Request("sts:AssumeRole", ROLE, caller)).outcome is outcome
