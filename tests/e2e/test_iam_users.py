"""IAM users and their access keys through boto3 and the AWS CLI against the real server: the user's life, keys made
once and never readable again, keys that sign (and stop signing when made Inactive or deleted), inline and attached
policies, and the quotas at the limit and one past (2 keys per user, 2,048 characters of inline policies, 10
attached policies)."""

from __future__ import annotations

import json
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from e2e_support import aws_cli, expect_error, start_server
from iam_e2e_support import ACCOUNT, allow, cleanup_user, sized, unique

SQS_FULL = "arn:aws:iam::aws:policy/AmazonSQSFullAccess"


@pytest.fixture
def iam(server: Any) -> Any:
    return server.client("iam")


@pytest.fixture
def user(iam: Any, request: pytest.FixtureRequest) -> Iterator[str]:
    name = unique(request, "u-")
    iam.create_user(UserName=name)
    yield name
    cleanup_user(iam, name)


def test_user_lifecycle(iam: Any, request: pytest.FixtureRequest) -> None:
    name = unique(request, "U-")
    created = iam.create_user(UserName=name, Path="/ci/", Tags=[{"Key": "team", "Value": "b"}])["User"]
    assert created["Arn"] == f"arn:aws:iam::{ACCOUNT}:user/ci/{name}"
    assert created["UserId"].startswith("AIDA")
    got = iam.get_user(UserName=name.lower())["User"]
    assert (got["UserName"], got["Tags"]) == (name, [{"Key": "team", "Value": "b"}])
    assert [u["UserName"] for u in iam.list_users(PathPrefix="/ci/")["Users"]] == [name]
    expect_error(iam.create_user, "EntityAlreadyExists", 409, UserName=name.upper())
    iam.delete_user(UserName=name)
    expect_error(iam.get_user, "NoSuchEntity", 404, UserName=name)
    expect_error(iam.delete_user, "NoSuchEntity", 404, UserName=name)


def test_access_keys_two_per_user_secret_shown_once(server: Any, iam: Any, user: str) -> None:
    first = iam.create_access_key(UserName=user)["AccessKey"]
    second = iam.create_access_key(UserName=user)["AccessKey"]
    assert first["AccessKeyId"].startswith("AKIA")
    assert len(first["SecretAccessKey"]) == 40
    assert first["Status"] == "Active"
    expect_error(iam.create_access_key, "LimitExceeded", 409, UserName=user)
    listed = iam.list_access_keys(UserName=user)["AccessKeyMetadata"]
    assert [k["AccessKeyId"] for k in listed] == [first["AccessKeyId"], second["AccessKeyId"]]
    assert all("SecretAccessKey" not in k for k in listed)  # never readable back
    assert first["SecretAccessKey"] not in json.dumps(iam.list_access_keys(UserName=user), default=str)
    assert first["SecretAccessKey"] not in server.log_path.read_text()  # nor logged
    used = iam.get_access_key_last_used(AccessKeyId=first["AccessKeyId"])
    assert used["UserName"] == user
    expect_error(iam.delete_user, "DeleteConflict", 409, UserName=user)
    expect_error(iam.delete_access_key, "NoSuchEntity", 404, UserName=user, AccessKeyId="AKIA0000000000000000")
    iam.delete_access_key(UserName=user, AccessKeyId=second["AccessKeyId"])
    iam.create_access_key(UserName=user)  # room again


def test_a_users_key_signs_until_inactive_or_deleted(server: Any, iam: Any, user: str) -> None:
    key = iam.create_access_key(UserName=user)["AccessKey"]
    sts = server.client("sts", access_key=key["AccessKeyId"], secret_key=key["SecretAccessKey"])
    me = sts.get_caller_identity()
    assert me["Arn"] == f"arn:aws:iam::{ACCOUNT}:user/{user}"
    assert me["UserId"] == iam.get_user(UserName=user)["User"]["UserId"]
    assert me["Account"] == ACCOUNT
    iam.update_access_key(UserName=user, AccessKeyId=key["AccessKeyId"], Status="Inactive")
    assert iam.list_access_keys(UserName=user)["AccessKeyMetadata"][0]["Status"] == "Inactive"
    expect_error(sts.get_caller_identity, "InvalidClientTokenId", 403)
    iam.update_access_key(UserName=user, AccessKeyId=key["AccessKeyId"], Status="Active")
    assert sts.get_caller_identity()["Arn"].endswith(f":user/{user}")
    expect_error(iam.update_access_key, "ValidationError", 400, UserName=user, AccessKeyId=key["AccessKeyId"],
                 Status="Expired")  # fmt: skip
    iam.delete_access_key(UserName=user, AccessKeyId=key["AccessKeyId"])
    expect_error(sts.get_caller_identity, "InvalidClientTokenId", 403)
    lam = server.client("lambda", access_key=key["AccessKeyId"], secret_key=key["SecretAccessKey"])
    expect_error(lam.list_functions, "UnrecognizedClientException", 403)


def test_aws_cli_get_caller_identity_with_a_users_keys(server: Any, iam: Any, user: str) -> None:
    key = iam.create_access_key(UserName=user)["AccessKey"]
    keys = {"AWS_ACCESS_KEY_ID": key["AccessKeyId"], "AWS_SECRET_ACCESS_KEY": key["SecretAccessKey"]}
    out = json.loads(aws_cli(server, "sts", "get-caller-identity", keys=keys).stdout)
    assert out["Arn"] == f"arn:aws:iam::{ACCOUNT}:user/{user}"


def test_user_inline_policies_total_2048_characters(iam: Any, user: str) -> None:
    iam.put_user_policy(UserName=user, PolicyName="a", PolicyDocument=sized(1000))
    iam.put_user_policy(UserName=user, PolicyName="b", PolicyDocument=sized(1048))
    expect_error(iam.put_user_policy, "LimitExceeded", 409, UserName=user, PolicyName="b",
                 PolicyDocument=sized(1049))  # fmt: skip
    assert iam.list_user_policies(UserName=user)["PolicyNames"] == ["a", "b"]
    got = iam.get_user_policy(UserName=user, PolicyName="a")
    assert got["PolicyDocument"] == json.loads(sized(1000))
    expect_error(iam.delete_user, "DeleteConflict", 409, UserName=user)
    iam.delete_user_policy(UserName=user, PolicyName="a")
    expect_error(iam.get_user_policy, "NoSuchEntity", 404, UserName=user, PolicyName="a")


def test_user_attached_policies_up_to_10(iam: Any, user: str, request: pytest.FixtureRequest) -> None:
    arns = [iam.create_policy(PolicyName=unique(request, f"up{i}-"), PolicyDocument=allow())["Policy"]["Arn"]
            for i in range(10)]  # fmt: skip
    try:
        for arn in arns:
            iam.attach_user_policy(UserName=user, PolicyArn=arn)
        expect_error(iam.attach_user_policy, "LimitExceeded", 409, UserName=user, PolicyArn=SQS_FULL)
        listed = iam.list_attached_user_policies(UserName=user)["AttachedPolicies"]
        assert [a["PolicyArn"] for a in listed] == arns
        for arn in arns:
            iam.detach_user_policy(UserName=user, PolicyArn=arn)
        expect_error(iam.detach_user_policy, "NoSuchEntity", 404, UserName=user, PolicyArn=arns[0])
    finally:
        for arn in arns:
            iam.delete_policy(PolicyArn=arn)


def test_get_user_without_a_name_is_the_caller(server: Any, iam: Any, user: str) -> None:
    assert iam.get_user()["User"]["Arn"] == f"arn:aws:iam::{ACCOUNT}:root"
    key = iam.create_access_key(UserName=user)["AccessKey"]
    mine = server.client("iam", access_key=key["AccessKeyId"], secret_key=key["SecretAccessKey"])
    iam.attach_user_policy(UserName=user, PolicyArn="arn:aws:iam::aws:policy/ReadOnlyAccess")
    assert mine.get_user()["User"]["UserName"] == user
    expect_error(iam.create_access_key, "ValidationError", 400)  # the root key is the settings'


def test_identities_survive_kill_9(tmp_path: Path) -> None:
    """Roles, users, policies and keys an API call acknowledged survive `kill -9`; sessions do not (they live in
    memory, as an instance's credentials die with it)."""
    data = tmp_path / "data"
    srv = start_server(data)
    try:
        iam = srv.client("iam")
        iam.create_user(UserName="kept")
        key = iam.create_access_key(UserName="kept")["AccessKey"]
        iam.put_user_policy(UserName="kept", PolicyName="p", PolicyDocument=allow("sts:AssumeRole"))
        policy = iam.create_policy(PolicyName="kept-p", PolicyDocument=allow())["Policy"]["Arn"]
        iam.create_policy_version(PolicyArn=policy, PolicyDocument=allow("sqs:ReceiveMessage"), SetAsDefault=True)
        iam.create_role(RoleName="kept-r", AssumeRolePolicyDocument=trust_user("kept"))
        iam.attach_role_policy(RoleName="kept-r", PolicyArn=policy)
        sts = srv.client("sts", access_key=key["AccessKeyId"], secret_key=key["SecretAccessKey"])
        session = sts.assume_role(RoleArn=f"arn:aws:iam::{ACCOUNT}:role/kept-r", RoleSessionName="s1")["Credentials"]
    finally:
        srv.stop(signal.SIGKILL)
    srv = start_server(data)
    try:
        iam = srv.client("iam")
        sts = srv.client("sts", access_key=key["AccessKeyId"], secret_key=key["SecretAccessKey"])
        assert sts.get_caller_identity()["Arn"] == f"arn:aws:iam::{ACCOUNT}:user/kept"
        assert iam.list_user_policies(UserName="kept")["PolicyNames"] == ["p"]
        assert iam.get_policy(PolicyArn=policy)["Policy"]["DefaultVersionId"] == "v2"
        attached = iam.list_attached_role_policies(RoleName="kept-r")["AttachedPolicies"]
        assert [a["PolicyArn"] for a in attached] == [policy]
        gone = srv.client("sts", access_key=session["AccessKeyId"], secret_key=session["SecretAccessKey"],
                          aws_session_token=session["SessionToken"])  # fmt: skip
        expect_error(gone.get_caller_identity, "InvalidClientTokenId", 403)
        assert key["SecretAccessKey"].encode() not in (data / "nimbus.db").read_bytes()
    finally:
        srv.stop()


def trust_user(name: str) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                       "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:user/{name}"}}]})  # fmt: skip
