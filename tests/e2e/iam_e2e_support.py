"""What the IAM and STS end-to-end tests share: documents of an exact size, trust policies, unique names."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

ACCOUNT = "000000000000"
LAMBDA_TRUST = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]})  # fmt: skip


def trust(*principals: str) -> str:
    """A trust policy letting these ARNs assume the role."""
    return json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": list(principals)}, "Action": "sts:AssumeRole"}]})  # fmt: skip


def allow(action: str | list[str] = "sqs:SendMessage", resource: str = "*") -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": action,
                                                               "Resource": resource}]})  # fmt: skip


def sized(size: int) -> str:
    """An identity policy of exactly `size` characters as IAM counts them (no white space)."""
    def doc(pad: str) -> str:
        statement = {"Effect": "Allow", "Action": "sqs:SendMessage", "Resource": f"arn:aws:sqs:::{pad}"}
        return json.dumps({"Version": "2012-10-17", "Statement": [statement]}, separators=(",", ":"))

    base = len(doc(""))
    assert size >= base
    return doc("q" * (size - base))


def sized_trust(size: int) -> str:
    def doc(pad: str) -> str:
        statement = {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole",
                     "Sid": pad}  # fmt: skip
        return json.dumps({"Version": "2012-10-17", "Statement": [statement]}, separators=(",", ":"))

    return doc("S" * (size - len(doc(""))))


def unique(request: pytest.FixtureRequest, prefix: str = "") -> str:
    """A name unique to the test (the session server's IAM is shared), within IAM's 64 characters."""
    base = re.sub(r"[^\w+=,.@-]", "-", request.node.name).replace("_", "-")
    return (prefix + base)[:56]


def cleanup_role(iam: Any, name: str) -> None:
    """Remove a role and what it holds (a test's teardown)."""
    _cleanup(iam, "role", name)


def cleanup_user(iam: Any, name: str) -> None:
    """Remove a user and what it holds: access keys, policies."""
    _cleanup(iam, "user", name)


def _cleanup(iam: Any, kind: str, name: str) -> None:
    member = {f"{kind.title()}Name": name}
    try:
        if kind == "user":
            for key in iam.list_access_keys(UserName=name)["AccessKeyMetadata"]:
                iam.delete_access_key(UserName=name, AccessKeyId=key["AccessKeyId"])
        for policy in getattr(iam, f"list_{kind}_policies")(**member)["PolicyNames"]:
            getattr(iam, f"delete_{kind}_policy")(**member, PolicyName=policy)
        for attached in getattr(iam, f"list_attached_{kind}_policies")(**member)["AttachedPolicies"]:
            getattr(iam, f"detach_{kind}_policy")(**member, PolicyArn=attached["PolicyArn"])
        getattr(iam, f"delete_{kind}")(**member)
    except iam.exceptions.NoSuchEntityException:
        pass
