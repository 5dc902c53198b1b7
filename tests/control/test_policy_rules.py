"""Resource-policy statements as Lambda writes them, and their evaluation by IAM's evaluator as a trigger asks it:
principal forms, action wildcards, ArnLike wildcards, missing condition keys, unknown operators, Deny, Resource."""

from __future__ import annotations

import json

import pytest

from nimbus.control import policy_rules as r
from nimbus.errors import InvalidParameterValue

FN = "arn:aws:lambda:us-east-1:000000000000:function:fn"
API = "arn:aws:execute-api:us-east-1:000000000000:abc123"


def check(statement: dict[str, object], action: str, principal: str, **ctx: str | None) -> bool:
    stored = json.loads(json.dumps(statement))  # as stored: through JSON
    return r.allows([stored], FN, action, principal, r.context(ctx.get("arn"), ctx.get("account"), ctx.get("auth")))


@pytest.mark.parametrize(
    ("principal", "element"),
    [
        ("*", "*"),
        ("123456789012", {"AWS": "arn:aws:iam::123456789012:root"}),
        ("arn:aws:iam::123456789012:root", {"AWS": "arn:aws:iam::123456789012:root"}),
        ("arn:aws:iam::123456789012:role/deployer", {"AWS": "arn:aws:iam::123456789012:role/deployer"}),
        ("sns.amazonaws.com", {"Service": "sns.amazonaws.com"}),
        ("apigateway.amazonaws.com", {"Service": "apigateway.amazonaws.com"}),
    ],
)
def test_principal_forms(principal: str, element: object) -> None:
    assert r.principal_element(principal) == element


@pytest.mark.parametrize("principal", ["12345", "arn:aws:iam::12:root", "nobody", "arn:aws:s3:::bucket", "Sns.com!"])
def test_invalid_principal(principal: str) -> None:
    with pytest.raises(InvalidParameterValue, match="The provided principal was invalid"):
        r.principal_element(principal)


def test_statement_as_lambda_writes_it() -> None:
    st = r.build_statement(
        "s1", "lambda:InvokeFunction", "sns.amazonaws.com", FN, source_arn="arn:aws:sns:us-east-1:000000000000:t",
        source_account="000000000000",
    )  # fmt: skip
    assert st == {
        "Sid": "s1", "Effect": "Allow", "Principal": {"Service": "sns.amazonaws.com"},
        "Action": "lambda:InvokeFunction", "Resource": FN,
        "Condition": {
            "ArnLike": {"AWS:SourceArn": "arn:aws:sns:us-east-1:000000000000:t"},
            "StringEquals": {"AWS:SourceAccount": "000000000000"},
        },
    }  # fmt: skip
    assert list(st) == ["Sid", "Effect", "Principal", "Action", "Resource", "Condition"]
    url = r.build_statement("u", "lambda:InvokeFunctionUrl", "*", FN, url_auth_type="NONE", invoked_via_url=True)
    assert url["Principal"] == "*"
    assert url["Condition"] == {
        "StringEquals": {"lambda:FunctionUrlAuthType": "NONE"},
        "Bool": {"lambda:InvokedViaFunctionUrl": "true"},
    }
    plain = r.build_statement("p", "lambda:*", "123456789012", FN)
    assert "Condition" not in plain
    doc = r.document([plain])
    assert (doc["Version"], doc["Id"]) == ("2012-10-17", "default")
    assert r.size([plain]) == len(r.dump(doc).encode())
    assert " " not in r.dump(doc)


def test_public_url_permission() -> None:
    st = r.build_statement("u", "lambda:InvokeFunctionUrl", "*", FN, url_auth_type="NONE")
    assert check(st, "lambda:InvokeFunctionUrl", "*", auth="NONE")
    assert not check(st, "lambda:InvokeFunctionUrl", "*", auth="AWS_IAM")
    assert not check(st, "lambda:InvokeFunctionUrl", "*")  # the key is missing: the condition fails
    assert not check(st, "lambda:InvokeFunction", "*", auth="NONE")
    assert check(st, "lambda:invokefunctionurl", "*", auth="NONE")  # IAM actions are case-blind


@pytest.mark.parametrize(
    ("action", "asked", "expected"),
    [
        ("lambda:InvokeFunction", "lambda:InvokeFunction", True),
        ("lambda:*", "lambda:InvokeFunctionUrl", True),
        ("*", "lambda:InvokeFunction", True),
        ("lambda:GetFunction", "lambda:InvokeFunction", False),
    ],
)
def test_action_wildcards(action: str, asked: str, expected: bool) -> None:
    assert check(r.build_statement("a", action, "*", FN), asked, "*") is expected


def test_principal_matching() -> None:
    svc = r.build_statement("s", "lambda:InvokeFunction", "sns.amazonaws.com", FN)
    assert check(svc, "lambda:InvokeFunction", "sns.amazonaws.com")
    assert not check(svc, "lambda:InvokeFunction", "events.amazonaws.com")
    assert not check(svc, "lambda:InvokeFunction", "*")  # an anonymous caller is not the service
    acct = r.build_statement("a", "lambda:InvokeFunction", "123456789012", FN)
    assert check(acct, "lambda:InvokeFunction", "123456789012")
    assert check(acct, "lambda:InvokeFunction", "arn:aws:iam::123456789012:root")
    # naming the account delegates to its identity policies, which a trigger's caller does not have (IAM User Guide,
    # "Cross-account policy evaluation logic"): it alone allows the account's root, not its roles
    assert not check(acct, "lambda:InvokeFunction", "arn:aws:iam::123456789012:role/any")
    assert not check(acct, "lambda:InvokeFunction", "210987654321")
    assert not check(acct, "lambda:InvokeFunction", "*")
    assert not check(acct, "lambda:InvokeFunction", "sns.amazonaws.com")
    role = r.build_statement("r", "lambda:InvokeFunction", "arn:aws:iam::123456789012:role/deployer", FN)
    assert check(role, "lambda:InvokeFunction", "arn:aws:iam::123456789012:role/deployer")
    assert not check(role, "lambda:InvokeFunction", "arn:aws:iam::123456789012:role/other")
    assert not check(role, "lambda:InvokeFunction", "123456789012")
    anyone = r.build_statement("x", "lambda:InvokeFunction", "*", FN)
    for who in ("*", "sns.amazonaws.com", "123456789012"):
        assert check(anyone, "lambda:InvokeFunction", who)
    aws_star = {**anyone, "Principal": {"AWS": "*"}}
    assert check(aws_star, "lambda:InvokeFunction", "*")
    listed = {**anyone, "Principal": {"Service": ["sns.amazonaws.com", "events.amazonaws.com"]}}
    assert check(listed, "lambda:InvokeFunction", "events.amazonaws.com")


@pytest.mark.parametrize(
    ("pattern", "arn", "expected"),
    [
        (f"{API}/*/GET/items", f"{API}/prod/GET/items", True),
        (f"{API}/*/*/items/*", f"{API}/$default/POST/items/7", True),
        (f"{API}/*", f"{API}/prod/GET/a/b/c", True),
        (f"{API}/*/GET/items", f"{API}/prod/POST/items", False),
        (f"{API}/prod/GET/item?", f"{API}/prod/GET/items", True),
        (f"{API}/prod/GET/item?", f"{API}/prod/GET/item", False),
        ("arn:aws:execute-api:*:000000000000:abc123/*", f"{API}/prod/GET/x", True),
        ("arn:aws:execute-api:us-east-1:*:*", f"{API}/prod/GET/x", True),
        ("arn:aws:execute-api:us-west-2:000000000000:abc123/*", f"{API}/prod/GET/x", False),
        (f"{API}/prod/GET/items", f"{API}/prod/GET/items", True),
        (f"{API}/prod/GET/items", f"{API}/prod/GET/items/x", False),
        ("arn:aws:sns:us-east-1:000000000000:topic", "arn:aws:sns:us-east-1:000000000000:topic", True),
        ("arn:aws:sns:us-east-1:000000000000:topic", "not-an-arn", False),
    ],
)
def test_arn_like(pattern: str, arn: str, expected: bool) -> None:
    st = r.build_statement("g", "lambda:InvokeFunction", "apigateway.amazonaws.com", FN, source_arn=pattern)
    assert check(st, "lambda:InvokeFunction", "apigateway.amazonaws.com", arn=arn) is expected


def test_conditions_all_hold() -> None:
    st = r.build_statement(
        "s", "lambda:InvokeFunction", "s3.amazonaws.com", FN, source_arn="arn:aws:s3:::bucket-*",
        source_account="123456789012",
    )  # fmt: skip
    ok = {"arn": "arn:aws:s3:::bucket-1", "account": "123456789012"}
    assert check(st, "lambda:InvokeFunction", "s3.amazonaws.com", **ok)
    assert not check(st, "lambda:InvokeFunction", "s3.amazonaws.com", **(ok | {"account": "210987654321"}))
    assert not check(st, "lambda:InvokeFunction", "s3.amazonaws.com", **(ok | {"arn": "arn:aws:s3:::other"}))
    assert not check(st, "lambda:InvokeFunction", "s3.amazonaws.com", account="123456789012")  # no source ARN
    like = {**st, "Condition": {"StringLike": {"AWS:SourceAccount": "1234*"}}}
    assert check(like, "lambda:InvokeFunction", "s3.amazonaws.com", account="123456789012")
    lower = {**st, "Condition": {"StringEquals": {"aws:sourceaccount": ["1", "123456789012"]}}}
    assert check(lower, "lambda:InvokeFunction", "s3.amazonaws.com", account="123456789012")


def test_unknown_operator_token_and_deny_never_allow() -> None:
    st = r.build_statement("s", "lambda:InvokeFunction", "*", FN)
    assert not check({**st, "Condition": {"NumericLessThanish": {"aws:SourceAccount": "5"}}},
                     "lambda:InvokeFunction", "*", account="1")  # fmt: skip
    numeric = {**st, "Condition": {"NumericLessThan": {"aws:SourceAccount": "5"}}}  # IAM's operator: it holds
    assert check(numeric, "lambda:InvokeFunction", "*", account="1")
    assert not check(numeric, "lambda:InvokeFunction", "*", account="7")
    assert not check({**st, "Effect": "Deny"}, "lambda:InvokeFunction", "*")
    deny = {**st, "Sid": "d", "Effect": "Deny", "Condition": {"StringEquals": {"aws:SourceAccount": "1"}}}
    assert r.allows([st], FN, "lambda:InvokeFunction", "*", r.context(None, "1", None))
    assert not r.allows([st, deny], FN, "lambda:InvokeFunction", "*", r.context(None, "1", None))  # Deny wins
    assert not r.allows([st], f"{FN}:live", "lambda:InvokeFunction", "*", {})  # Resource names the function only
    token = r.build_statement("t", "lambda:InvokeFunction", "*", FN, event_source_token="tok")
    assert not check(token, "lambda:InvokeFunction", "*")  # no caller supplies a token here
    assert not r.allows([], FN, "lambda:InvokeFunction", "*", {})
