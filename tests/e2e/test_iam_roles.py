"""IAM roles through boto3's `iam` client and the AWS CLI against the real server: the role's life, its inline and
attached policies, tags, IAM's errors by code and status, and its quotas at the limit and one past (10,240
characters of inline policies, 2,048 of trust policy, 10 attached policies, 64-character names)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from e2e_support import aws_cli, expect_error, raw_client
from iam_e2e_support import ACCOUNT, LAMBDA_TRUST, allow, cleanup_role, sized, sized_trust, unique

BASIC = "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"


@pytest.fixture
def iam(server: Any) -> Any:
    return server.client("iam")


@pytest.fixture
def role(iam: Any, request: pytest.FixtureRequest) -> Iterator[str]:
    name = unique(request, "r-")
    iam.create_role(RoleName=name, AssumeRolePolicyDocument=LAMBDA_TRUST)
    yield name
    cleanup_role(iam, name)


def test_role_lifecycle(iam: Any, request: pytest.FixtureRequest) -> None:
    name = unique(request, "R-")
    created = iam.create_role(RoleName=name, Path="/app/", AssumeRolePolicyDocument=LAMBDA_TRUST,
                              Description="the worker", MaxSessionDuration=7200,
                              Tags=[{"Key": "team", "Value": "a"}])["Role"]  # fmt: skip
    try:
        assert created["Arn"] == f"arn:aws:iam::{ACCOUNT}:role/app/{name}"
        assert created["RoleId"].startswith("AROA")
        assert created["AssumeRolePolicyDocument"] == json.loads(LAMBDA_TRUST)  # URL-encoded on the wire
        got = iam.get_role(RoleName=name.lower())["Role"]  # names are not case-sensitive
        assert (got["RoleName"], got["Description"], got["MaxSessionDuration"]) == (name, "the worker", 7200)
        assert got["Tags"] == [{"Key": "team", "Value": "a"}]
        listed = iam.list_roles(PathPrefix="/app/")["Roles"]
        assert [r["RoleName"] for r in listed] == [name]
        assert name not in [r["RoleName"] for r in iam.list_roles(PathPrefix="/other/")["Roles"]]
        expect_error(iam.create_role, "EntityAlreadyExists", 409, RoleName=name.upper(),
                     AssumeRolePolicyDocument=LAMBDA_TRUST)  # fmt: skip
        narrower = json.dumps({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": "sts:AssumeRole"}]})
        iam.update_assume_role_policy(RoleName=name, PolicyDocument=narrower)
        assert iam.get_role(RoleName=name)["Role"]["AssumeRolePolicyDocument"] == json.loads(narrower)
        iam.update_role(RoleName=name, Description="changed", MaxSessionDuration=3600)
        assert iam.get_role(RoleName=name)["Role"]["Description"] == "changed"
    finally:
        iam.delete_role(RoleName=name)
    expect_error(iam.get_role, "NoSuchEntity", 404, RoleName=name)
    expect_error(iam.delete_role, "NoSuchEntity", 404, RoleName=name)


def test_inline_policies(iam: Any, role: str) -> None:
    iam.put_role_policy(RoleName=role, PolicyName="send", PolicyDocument=allow())
    iam.put_role_policy(RoleName=role, PolicyName="a-recv", PolicyDocument=allow("sqs:ReceiveMessage"))
    assert iam.list_role_policies(RoleName=role)["PolicyNames"] == ["a-recv", "send"]
    got = iam.get_role_policy(RoleName=role, PolicyName="send")
    assert got["PolicyDocument"] == json.loads(allow())
    assert (got["RoleName"], got["PolicyName"]) == (role, "send")
    expect_error(iam.delete_role, "DeleteConflict", 409, RoleName=role)
    iam.delete_role_policy(RoleName=role, PolicyName="send")
    expect_error(iam.get_role_policy, "NoSuchEntity", 404, RoleName=role, PolicyName="send")
    expect_error(iam.delete_role_policy, "NoSuchEntity", 404, RoleName=role, PolicyName="send")
    expect_error(iam.put_role_policy, "NoSuchEntity", 404, RoleName="no-such-role", PolicyName="p",
                 PolicyDocument=allow())  # fmt: skip


@pytest.mark.parametrize("document", [
    "not json", "[]", '{"Version": "2012-10-17"}', '{"Statement": [{"Action": "s3:*", "Resource": "*"}]}',
    json.dumps({"Statement": [{"Effect": "Maybe", "Action": "s3:*", "Resource": "*"}]}),
    json.dumps({"Statement": [{"Effect": "Allow", "Resource": "*"}]}),
    json.dumps({"Statement": [{"Effect": "Allow", "Action": "s3:*"}]}),
    json.dumps({"Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*", "Principal": "*"}]}),
    json.dumps({"Version": "2020-01-01", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}),
])  # fmt: skip
def test_malformed_policy_documents(iam: Any, role: str, document: str) -> None:
    expect_error(iam.put_role_policy, "MalformedPolicyDocument", 400, RoleName=role, PolicyName="p",
                 PolicyDocument=document)  # fmt: skip


def test_malformed_trust_policies(iam: Any, request: pytest.FixtureRequest) -> None:
    name = unique(request, "r-")
    for document in ("{", allow()):  # not JSON; no Principal (and a Resource)
        expect_error(iam.create_role, "MalformedPolicyDocument", 400, RoleName=name, AssumeRolePolicyDocument=document)
    expect_error(iam.get_role, "NoSuchEntity", 404, RoleName=name)


def test_inline_policies_total_10240_characters(iam: Any, role: str) -> None:
    iam.put_role_policy(RoleName=role, PolicyName="a", PolicyDocument=sized(5000))
    iam.put_role_policy(RoleName=role, PolicyName="b", PolicyDocument=sized(5240))  # 10,240 in all
    err = expect_error(iam.put_role_policy, "LimitExceeded", 409, RoleName=role, PolicyName="c",
                       PolicyDocument=sized(200))  # fmt: skip
    assert "10240" in err.response["Error"]["Message"]
    iam.put_role_policy(RoleName=role, PolicyName="b", PolicyDocument=sized(5240))  # replacing counts once
    # white space is not counted
    iam.put_role_policy(RoleName=role, PolicyName="b", PolicyDocument=sized(5240).replace(",", ",   "))
    expect_error(iam.put_role_policy, "LimitExceeded", 409, RoleName=role, PolicyName="b",
                 PolicyDocument=sized(5241))  # fmt: skip


def test_trust_policy_2048_characters(iam: Any, request: pytest.FixtureRequest) -> None:
    name = unique(request, "r-")
    expect_error(iam.create_role, "LimitExceeded", 409, RoleName=name, AssumeRolePolicyDocument=sized_trust(2049))
    iam.create_role(RoleName=name, AssumeRolePolicyDocument=sized_trust(2048))
    try:
        expect_error(iam.update_assume_role_policy, "LimitExceeded", 409, RoleName=name,
                     PolicyDocument=sized_trust(2049))  # fmt: skip
    finally:
        iam.delete_role(RoleName=name)


def test_attached_policies_up_to_10(iam: Any, role: str, request: pytest.FixtureRequest) -> None:
    arns = [iam.create_policy(PolicyName=unique(request, f"p{i}-"), PolicyDocument=allow())["Policy"]["Arn"]
            for i in range(10)]  # fmt: skip
    try:
        for arn in arns:
            iam.attach_role_policy(RoleName=role, PolicyArn=arn)
        iam.attach_role_policy(RoleName=role, PolicyArn=arns[0])  # again: no-op
        expect_error(iam.attach_role_policy, "LimitExceeded", 409, RoleName=role, PolicyArn=BASIC)
        attached = iam.list_attached_role_policies(RoleName=role)["AttachedPolicies"]
        assert [a["PolicyArn"] for a in attached] == arns
        assert iam.get_policy(PolicyArn=arns[0])["Policy"]["AttachmentCount"] == 1
        expect_error(iam.delete_policy, "DeleteConflict", 409, PolicyArn=arns[0])
        expect_error(iam.delete_role, "DeleteConflict", 409, RoleName=role)
        for arn in arns:
            iam.detach_role_policy(RoleName=role, PolicyArn=arn)
        expect_error(iam.detach_role_policy, "NoSuchEntity", 404, RoleName=role, PolicyArn=arns[0])
    finally:
        for arn in arns:
            iam.delete_policy(PolicyArn=arn)


def test_attach_aws_managed_and_missing_policies(iam: Any, role: str) -> None:
    iam.attach_role_policy(RoleName=role, PolicyArn=BASIC)
    attached = iam.list_attached_role_policies(RoleName=role)["AttachedPolicies"]
    assert attached == [{"PolicyName": "AWSLambdaBasicExecutionRole", "PolicyArn": BASIC}]
    assert iam.list_attached_role_policies(RoleName=role, PathPrefix="/other/")["AttachedPolicies"] == []
    expect_error(iam.attach_role_policy, "NoSuchEntity", 404, RoleName=role,
                 PolicyArn=f"arn:aws:iam::{ACCOUNT}:policy/none-such")  # fmt: skip


def test_role_tags(iam: Any, role: str) -> None:
    iam.tag_role(RoleName=role, Tags=[{"Key": "a", "Value": "1"}, {"Key": "b", "Value": "2"}])
    iam.untag_role(RoleName=role, TagKeys=["a"])
    assert iam.list_role_tags(RoleName=role)["Tags"] == [{"Key": "b", "Value": "2"}]


def test_names_and_values_checked_by_the_model(server: Any, request: pytest.FixtureRequest) -> None:
    raw = raw_client(server, "iam")
    name = "r" * 64
    raw.create_role(RoleName=name, AssumeRolePolicyDocument=LAMBDA_TRUST)
    raw.delete_role(RoleName=name)
    err = expect_error(raw.create_role, "ValidationError", 400, RoleName="r" * 65,
                       AssumeRolePolicyDocument=LAMBDA_TRUST)  # fmt: skip
    assert "at 'roleName' failed to satisfy constraint" in err.response["Error"]["Message"]
    expect_error(raw.create_role, "ValidationError", 400, RoleName="bad name", AssumeRolePolicyDocument=LAMBDA_TRUST)
    expect_error(raw.create_role, "ValidationError", 400, RoleName=unique(request), Path="no-slashes",
                 AssumeRolePolicyDocument=LAMBDA_TRUST)  # fmt: skip
    for seconds in (3599, 43201):
        expect_error(raw.create_role, "ValidationError", 400, RoleName=unique(request),
                     AssumeRolePolicyDocument=LAMBDA_TRUST, MaxSessionDuration=seconds)  # fmt: skip
    expect_error(raw.create_role, "ValidationError", 400, RoleName=unique(request),
                 AssumeRolePolicyDocument=LAMBDA_TRUST,
                 PermissionsBoundary=f"arn:aws:iam::{ACCOUNT}:policy/boundary")  # fmt: skip
    expect_error(raw.list_roles, "ValidationError", 400, Marker="not-ours")


def test_list_roles_pages(iam: Any, request: pytest.FixtureRequest) -> None:
    names = [unique(request, f"pg{i}-") for i in range(3)]
    for name in names:
        iam.create_role(RoleName=name, Path="/paged/", AssumeRolePolicyDocument=LAMBDA_TRUST)
    try:
        first = iam.list_roles(PathPrefix="/paged/", MaxItems=2)
        assert first["IsTruncated"] is True
        rest = iam.list_roles(PathPrefix="/paged/", MaxItems=2, Marker=first["Marker"])
        assert rest["IsTruncated"] is False
        assert [r["RoleName"] for r in first["Roles"] + rest["Roles"]] == sorted(names, key=str.lower)
    finally:
        for name in names:
            iam.delete_role(RoleName=name)


def test_aws_cli_roles(server: Any, iam: Any, request: pytest.FixtureRequest) -> None:
    name = unique(request, "cli-")
    out = json.loads(aws_cli(server, "iam", "create-role", "--role-name", name, "--assume-role-policy-document",
                             LAMBDA_TRUST).stdout)  # fmt: skip
    try:
        assert out["Role"]["Arn"] == f"arn:aws:iam::{ACCOUNT}:role/{name}"
        aws_cli(server, "iam", "attach-role-policy", "--role-name", name, "--policy-arn", BASIC)
        got = json.loads(aws_cli(server, "iam", "list-attached-role-policies", "--role-name", name).stdout)
        assert got["AttachedPolicies"][0]["PolicyArn"] == BASIC
        missing = aws_cli(server, "iam", "get-role", "--role-name", name + "-x", check=False)
        assert missing.returncode != 0
        assert "NoSuchEntity" in missing.stderr
    finally:
        cleanup_role(iam, name)
