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
    try:
        for policy in iam.list_role_policies(RoleName=name)["PolicyNames"]:
            iam.delete_role_policy(RoleName=name, PolicyName=policy)
        for attached in iam.list_attached_role_policies(RoleName=name)["AttachedPolicies"]:
            iam.detach_role_policy(RoleName=name, PolicyArn=attached["PolicyArn"])
        iam.delete_role(RoleName=name)
    except iam.exceptions.NoSuchEntityException:
        pass


def cleanup_user(iam: Any, name: str) -> None:
    try:
        for key in iam.list_access_keys(UserName=name)["AccessKeyMetadata"]:
            iam.delete_access_key(UserName=name, AccessKeyId=key["AccessKeyId"])
        for policy in iam.list_user_policies(UserName=name)["PolicyNames"]:
            iam.delete_user_policy(UserName=name, PolicyName=policy)
        for attached in iam.list_attached_user_policies(UserName=name)["AttachedPolicies"]:
            iam.detach_user_policy(UserName=name, PolicyArn=attached["PolicyArn"])
        iam.delete_user(UserName=name)
    except iam.exceptions.NoSuchEntityException:
        pass
