"""STS through boto3 and the AWS CLI against the real server: GetCallerIdentity for root, users and role sessions;
AssumeRole honouring the trust policy (a policy naming the caller, one naming the account that needs the caller's
own Allow, ExternalId conditions), DurationSeconds at its limits, session credentials that need their token, and
STS's errors by code and status."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from typing import Any

import pytest
from e2e_support import aws_cli, expect_error, raw_client
from iam_e2e_support import ACCOUNT, allow, cleanup_role, cleanup_user, trust, unique


@pytest.fixture
def iam(server: Any) -> Any:
    return server.client("iam")


@pytest.fixture
def user(server: Any, iam: Any, request: pytest.FixtureRequest) -> Iterator[tuple[str, Any]]:
    """A user and an STS client signed with its key."""
    name = unique(request, "u-")
    iam.create_user(UserName=name)
    key = iam.create_access_key(UserName=name)["AccessKey"]
    yield name, server.client("sts", access_key=key["AccessKeyId"], secret_key=key["SecretAccessKey"])
    cleanup_user(iam, name)


@pytest.fixture
def role_name(iam: Any, request: pytest.FixtureRequest) -> Iterator[str]:
    name = unique(request, "r-")
    yield name
    cleanup_role(iam, name)


def user_arn(name: str) -> str:
    return f"arn:aws:iam::{ACCOUNT}:user/{name}"


def session_client(server: Any, service: str, creds: dict[str, Any], token: bool = True) -> Any:
    extra = {"aws_session_token": creds["SessionToken"]} if token else {}
    return server.client(service, access_key=creds["AccessKeyId"], secret_key=creds["SecretAccessKey"], **extra)


def test_get_caller_identity_as_root(server: Any) -> None:
    me = server.client("sts").get_caller_identity()
    assert (me["Arn"], me["UserId"], me["Account"]) == (f"arn:aws:iam::{ACCOUNT}:root", ACCOUNT, ACCOUNT)


def test_assume_role_trusting_the_user(server: Any, iam: Any, user: tuple[str, Any], role_name: str) -> None:
    name, sts = user
    role = iam.create_role(RoleName=role_name, AssumeRolePolicyDocument=trust(user_arn(name)))["Role"]
    before = dt.datetime.now(dt.UTC)
    out = sts.assume_role(RoleArn=role["Arn"], RoleSessionName="build-42", DurationSeconds=900)
    creds, assumed = out["Credentials"], out["AssumedRoleUser"]
    assert creds["AccessKeyId"].startswith("ASIA")
    assert creds["SessionToken"]
    assert before + dt.timedelta(seconds=895) <= creds["Expiration"] <= before + dt.timedelta(seconds=905)
    assert assumed == {"AssumedRoleId": f"{role['RoleId']}:build-42",
                       "Arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/{role_name}/build-42"}  # fmt: skip
    me = session_client(server, "sts", creds).get_caller_identity()
    assert (me["Arn"], me["UserId"]) == (assumed["Arn"], assumed["AssumedRoleId"])
    # without its token a session key is refused, in each protocol's words
    expect_error(session_client(server, "sts", creds, token=False).get_caller_identity, "InvalidClientTokenId", 403)
    err = expect_error(session_client(server, "lambda", creds, token=False).list_functions,
                       "UnrecognizedClientException", 403)  # fmt: skip
    assert err.response["Error"]["Message"] == "The security token included in the request is invalid."
    forged = dict(creds, SessionToken=creds["SessionToken"][:-4] + "AAAA")
    expect_error(session_client(server, "sqs", forged).list_queues, ("UnrecognizedClientException",
                                                                     "InvalidClientTokenId"), 403)  # fmt: skip


def test_trust_naming_the_account_needs_the_callers_allow(iam: Any, user: tuple[str, Any], role_name: str) -> None:
    name, sts = user
    arn = iam.create_role(RoleName=role_name, AssumeRolePolicyDocument=trust(f"arn:aws:iam::{ACCOUNT}:root"))["Role"]
    err = expect_error(sts.assume_role, "AccessDenied", 403, RoleArn=arn["Arn"], RoleSessionName="s1")
    assert err.response["Error"]["Message"] == (
        f"User: {user_arn(name)} is not authorized to perform: sts:AssumeRole on resource: {arn['Arn']}"
    )
    iam.put_user_policy(UserName=name, PolicyName="assume", PolicyDocument=allow("sts:AssumeRole", arn["Arn"]))
    assert sts.assume_role(RoleArn=arn["Arn"], RoleSessionName="s1")["AssumedRoleUser"]["Arn"].endswith("/s1")


def test_untrusted_missing_and_root_are_denied(server: Any, iam: Any, user: tuple[str, Any], role_name: str) -> None:
    _, sts = user
    role = iam.create_role(RoleName=role_name, AssumeRolePolicyDocument=trust(user_arn("someone-else")))["Role"]
    expect_error(sts.assume_role, "AccessDenied", 403, RoleArn=role["Arn"], RoleSessionName="s1")
    expect_error(sts.assume_role, "AccessDenied", 403, RoleArn=f"arn:aws:iam::{ACCOUNT}:role/none-such",
                 RoleSessionName="s1")  # fmt: skip
    expect_error(server.client("sts").assume_role, "AccessDenied", 403, RoleArn=role["Arn"], RoleSessionName="s1")


def test_external_id_condition(iam: Any, user: tuple[str, Any], role_name: str) -> None:
    name, sts = user
    document = json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"AWS": user_arn(name)}, "Action": "sts:AssumeRole",
        "Condition": {"StringEquals": {"sts:ExternalId": "open-sesame"}}}]})  # fmt: skip
    arn = iam.create_role(RoleName=role_name, AssumeRolePolicyDocument=document)["Role"]["Arn"]
    expect_error(sts.assume_role, "AccessDenied", 403, RoleArn=arn, RoleSessionName="s1")
    expect_error(sts.assume_role, "AccessDenied", 403, RoleArn=arn, RoleSessionName="s1", ExternalId="wrong-one")
    assert sts.assume_role(RoleArn=arn, RoleSessionName="s1", ExternalId="open-sesame")["Credentials"]


def test_duration_seconds_limits(server: Any, iam: Any, user: tuple[str, Any], role_name: str) -> None:
    name, sts = user
    arn = iam.create_role(RoleName=role_name, AssumeRolePolicyDocument=trust(user_arn(name)),
                          MaxSessionDuration=7200)["Role"]["Arn"]  # fmt: skip
    creds = sts.assume_role(RoleArn=arn, RoleSessionName="s1", DurationSeconds=7200)["Credentials"]
    err = expect_error(sts.assume_role, "ValidationError", 400, RoleArn=arn, RoleSessionName="s1",
                       DurationSeconds=7201)  # fmt: skip
    assert "MaxSessionDuration" in err.response["Error"]["Message"]
    raw = raw_client(server, "sts", access_key=sts._request_signer._credentials.access_key,
                     secret_key=sts._request_signer._credentials.secret_key)  # fmt: skip
    expect_error(raw.assume_role, "ValidationError", 400, RoleArn=arn, RoleSessionName="s1", DurationSeconds=899)
    expect_error(raw.assume_role, "ValidationError", 400, RoleArn=arn, RoleSessionName="x")  # 2 characters at least
    expect_error(sts.assume_role, "ValidationError", 400, RoleArn=arn, RoleSessionName="s1", Policy=allow())
    # a role session assuming a role (chaining): an hour at most
    iam.update_assume_role_policy(RoleName=role_name, PolicyDocument=trust(user_arn(name), arn))
    chained = session_client(server, "sts", creds)
    expect_error(chained.assume_role, "ValidationError", 400, RoleArn=arn, RoleSessionName="c1", DurationSeconds=3601)
    assert chained.assume_role(RoleArn=arn, RoleSessionName="c1", DurationSeconds=3600)["Credentials"]


def test_aws_cli_assume_role(server: Any, iam: Any, user: tuple[str, Any], role_name: str) -> None:
    name, sts = user
    arn = iam.create_role(RoleName=role_name, AssumeRolePolicyDocument=trust(user_arn(name)))["Role"]["Arn"]
    creds = sts._request_signer._credentials
    keys = {"AWS_ACCESS_KEY_ID": creds.access_key, "AWS_SECRET_ACCESS_KEY": creds.secret_key}
    out = json.loads(aws_cli(server, "sts", "assume-role", "--role-arn", arn, "--role-session-name", "cli",
                             keys=keys).stdout)  # fmt: skip
    session = out["Credentials"]
    keys = {"AWS_ACCESS_KEY_ID": session["AccessKeyId"], "AWS_SECRET_ACCESS_KEY": session["SecretAccessKey"],
            "AWS_SESSION_TOKEN": session["SessionToken"]}  # fmt: skip
    me = json.loads(aws_cli(server, "sts", "get-caller-identity", keys=keys).stdout)
    assert me["Arn"] == f"arn:aws:sts::{ACCOUNT}:assumed-role/{role_name}/cli"
