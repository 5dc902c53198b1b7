"""Managed policies through boto3 against the real server: AWS's preloaded ones with their real documents and paths,
the account's own, their versions (at most 5, one default), IAM's errors, and 6,144 characters at the limit and one
past."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from e2e_support import expect_error
from iam_e2e_support import ACCOUNT, allow, sized, unique

AWS_POLICIES = {
    "AWSLambdaBasicExecutionRole": "/service-role/", "AWSLambdaSQSQueueExecutionRole": "/service-role/",
    "AWSLambdaRole": "/service-role/", "AWSLambda_FullAccess": "/", "AmazonSQSFullAccess": "/",
    "AmazonSNSFullAccess": "/", "ReadOnlyAccess": "/", "AdministratorAccess": "/",
}  # fmt: skip


@pytest.fixture
def iam(server: Any) -> Any:
    return server.client("iam")


@pytest.fixture
def policy(iam: Any, request: pytest.FixtureRequest) -> Iterator[str]:
    arn = iam.create_policy(PolicyName=unique(request, "p-"), PolicyDocument=allow())["Policy"]["Arn"]
    yield arn
    for version in iam.list_policy_versions(PolicyArn=arn)["Versions"]:
        if not version["IsDefaultVersion"]:
            iam.delete_policy_version(PolicyArn=arn, VersionId=version["VersionId"])
    iam.delete_policy(PolicyArn=arn)


def test_aws_managed_policies_are_preloaded(iam: Any) -> None:
    listed = {p["PolicyName"]: p for p in iam.list_policies(Scope="AWS", MaxItems=1000)["Policies"]}
    assert set(AWS_POLICIES) <= set(listed)
    for name, path in AWS_POLICIES.items():
        assert listed[name]["Arn"] == f"arn:aws:iam::aws:policy{path}{name}"
    basic = iam.get_policy(PolicyArn="arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole")["Policy"]
    version = iam.get_policy_version(PolicyArn=basic["Arn"], VersionId=basic["DefaultVersionId"])["PolicyVersion"]
    assert version["Document"]["Statement"] == [{"Effect": "Allow", "Resource": "*", "Action": [
        "logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"]}]  # fmt: skip
    full = iam.get_policy_version(PolicyArn="arn:aws:iam::aws:policy/AWSLambda_FullAccess", VersionId="v1")
    pass_role = full["PolicyVersion"]["Document"]["Statement"][1]
    assert pass_role["Condition"] == {"StringEquals": {"iam:PassedToService": "lambda.amazonaws.com"}}
    expect_error(iam.delete_policy, "InvalidInput", 400, PolicyArn="arn:aws:iam::aws:policy/AdministratorAccess")
    expect_error(iam.create_policy_version, "InvalidInput", 400,
                 PolicyArn="arn:aws:iam::aws:policy/AdministratorAccess", PolicyDocument=allow())  # fmt: skip


def test_customer_policy_lifecycle(iam: Any, request: pytest.FixtureRequest) -> None:
    name = unique(request, "P-")
    created = iam.create_policy(PolicyName=name, Path="/team/", PolicyDocument=allow(), Description="send",
                                Tags=[{"Key": "k", "Value": "v"}])["Policy"]  # fmt: skip
    arn = created["Arn"]
    assert arn == f"arn:aws:iam::{ACCOUNT}:policy/team/{name}"
    assert (created["DefaultVersionId"], created["AttachmentCount"], created["IsAttachable"]) == ("v1", 0, True)
    assert created["PolicyId"].startswith("ANPA")
    expect_error(iam.create_policy, "EntityAlreadyExists", 409, PolicyName=name.lower(), PolicyDocument=allow())
    local = iam.list_policies(Scope="Local", PathPrefix="/team/")["Policies"]
    assert [p["Arn"] for p in local] == [arn]
    assert all(not p["Arn"].startswith("arn:aws:iam::aws:") for p in iam.list_policies(Scope="Local")["Policies"])
    assert iam.get_policy(PolicyArn=arn)["Policy"]["Description"] == "send"
    iam.delete_policy(PolicyArn=arn)
    expect_error(iam.get_policy, "NoSuchEntity", 404, PolicyArn=arn)
    expect_error(iam.delete_policy, "NoSuchEntity", 404, PolicyArn=arn)


def test_policy_size_6144_characters(iam: Any, request: pytest.FixtureRequest) -> None:
    name = unique(request, "p-")
    err = expect_error(iam.create_policy, "LimitExceeded", 409, PolicyName=name, PolicyDocument=sized(6145))
    assert err.response["Error"]["Message"] == "Cannot exceed quota for PolicySize: 6144"
    arn = iam.create_policy(PolicyName=name, PolicyDocument=sized(6144))["Policy"]["Arn"]
    try:
        expect_error(iam.create_policy_version, "LimitExceeded", 409, PolicyArn=arn, PolicyDocument=sized(6145))
    finally:
        iam.delete_policy(PolicyArn=arn)
    expect_error(iam.create_policy, "MalformedPolicyDocument", 400, PolicyName=name, PolicyDocument="{}")


def test_versions_up_to_5_and_the_default(iam: Any, policy: str) -> None:
    for i in range(2, 6):
        made = iam.create_policy_version(PolicyArn=policy, PolicyDocument=allow(f"sqs:Op{i}"))["PolicyVersion"]
        assert (made["VersionId"], made["IsDefaultVersion"]) == (f"v{i}", False)
    expect_error(iam.create_policy_version, "LimitExceeded", 409, PolicyArn=policy, PolicyDocument=allow())
    versions = iam.list_policy_versions(PolicyArn=policy)["Versions"]
    assert [v["VersionId"] for v in versions] == ["v5", "v4", "v3", "v2", "v1"]
    iam.set_default_policy_version(PolicyArn=policy, VersionId="v3")
    assert iam.get_policy(PolicyArn=policy)["Policy"]["DefaultVersionId"] == "v3"
    got = iam.get_policy_version(PolicyArn=policy, VersionId="v3")["PolicyVersion"]
    assert got["Document"] == json.loads(allow("sqs:Op3"))
    assert got["IsDefaultVersion"] is True
    expect_error(iam.delete_policy_version, "DeleteConflict", 409, PolicyArn=policy, VersionId="v3")
    expect_error(iam.delete_policy, "DeleteConflict", 409, PolicyArn=policy)  # versions left
    iam.delete_policy_version(PolicyArn=policy, VersionId="v5")
    made = iam.create_policy_version(PolicyArn=policy, PolicyDocument=allow(), SetAsDefault=True)["PolicyVersion"]
    assert (made["VersionId"], made["IsDefaultVersion"]) == ("v6", True)  # numbers are never reused
    expect_error(iam.get_policy_version, "NoSuchEntity", 404, PolicyArn=policy, VersionId="v5")
    expect_error(iam.set_default_policy_version, "NoSuchEntity", 404, PolicyArn=policy, VersionId="v9")
