"""Issue 13, resource-based policies: AddPermission / GetPolicy / RemovePermission with boto3 and the AWS CLI, the
document Lambda writes, RevisionId, qualifiers (versions and aliases), every refusal with its name and status, the
20 KB limit, and the policy going with its function."""

from __future__ import annotations

import json
import signal
from pathlib import Path
from typing import Any

import pytest
from e2e_support import ECHO, ROLE, arn, aws_cli, expect_error, make_zip, raw_client, start_server

SNS_TOPIC = "arn:aws:sns:us-east-1:000000000000:orders"


@pytest.fixture
def fn(lam: Any, create_function: Any, fn_name: str) -> str:
    create_function(fn_name, {"app.py": ECHO})
    return fn_name


def policy_of(lam: Any, name: str, **kwargs: Any) -> tuple[dict[str, Any], str]:
    got = lam.get_policy(FunctionName=name, **kwargs)
    assert got["ResponseMetadata"]["HTTPStatusCode"] == 200
    return json.loads(got["Policy"]), got["RevisionId"]


def test_add_get_remove_document(lam: Any, fn: str) -> None:
    missing = expect_error(lam.get_policy, "ResourceNotFoundException", 404, FunctionName=fn)
    assert missing.response["Error"]["Message"] == "The resource you requested does not exist."
    added = lam.add_permission(
        FunctionName=fn, StatementId="sns", Action="lambda:InvokeFunction", Principal="sns.amazonaws.com",
        SourceArn=SNS_TOPIC, SourceAccount="000000000000",
    )  # fmt: skip
    assert added["ResponseMetadata"]["HTTPStatusCode"] == 201
    statement = json.loads(added["Statement"])
    assert statement == {
        "Sid": "sns", "Effect": "Allow", "Principal": {"Service": "sns.amazonaws.com"},
        "Action": "lambda:InvokeFunction", "Resource": arn(fn),
        "Condition": {"ArnLike": {"AWS:SourceArn": SNS_TOPIC}, "StringEquals": {"AWS:SourceAccount": "000000000000"}},
    }  # fmt: skip
    lam.add_permission(FunctionName=fn, StatementId="acct", Action="lambda:*", Principal="123456789012")
    lam.add_permission(FunctionName=fn, StatementId="url", Action="lambda:InvokeFunctionUrl", Principal="*",
                       FunctionUrlAuthType="NONE")  # fmt: skip
    doc, revision = policy_of(lam, fn)
    assert (doc["Version"], doc["Id"]) == ("2012-10-17", "default")
    assert [s["Sid"] for s in doc["Statement"]] == ["sns", "acct", "url"]
    assert doc["Statement"][0] == statement
    assert doc["Statement"][1]["Principal"] == {"AWS": "arn:aws:iam::123456789012:root"}
    assert doc["Statement"][2]["Principal"] == "*"
    assert doc["Statement"][2]["Condition"] == {"StringEquals": {"lambda:FunctionUrlAuthType": "NONE"}}
    assert len(revision) == 36

    removed = lam.remove_permission(FunctionName=fn, StatementId="acct", RevisionId=revision)
    assert removed["ResponseMetadata"]["HTTPStatusCode"] == 204
    doc, after = policy_of(lam, fn)
    assert [s["Sid"] for s in doc["Statement"]] == ["sns", "url"]
    assert after != revision
    lam.remove_permission(FunctionName=fn, StatementId="sns")
    lam.remove_permission(FunctionName=fn, StatementId="url")
    expect_error(lam.get_policy, "ResourceNotFoundException", 404, FunctionName=fn)  # the last one takes it along


def test_refusals_name_and_status(lam: Any, server: Any, fn: str) -> None:
    base = {"FunctionName": fn, "Action": "lambda:InvokeFunction", "Principal": "sns.amazonaws.com"}
    lam.add_permission(StatementId="one", **base)
    dup = expect_error(lam.add_permission, "ResourceConflictException", 409, StatementId="one", **base)
    assert dup.response["Error"]["Message"] == (
        "The statement id (one) provided already exists. Please provide a new statement id, or remove the existing "
        "statement."
    )
    gone = expect_error(lam.remove_permission, "ResourceNotFoundException", 404, FunctionName=fn, StatementId="two")
    assert gone.response["Error"]["Message"] == "Statement two is not found in resource policy."
    _, revision = policy_of(lam, fn)
    lam.add_permission(StatementId="two", RevisionId=revision, **base)
    stale = expect_error(lam.add_permission, "PreconditionFailedException", 412, StatementId="three",
                         RevisionId=revision, **base)  # fmt: skip
    assert stale.response["Error"]["Message"] == (
        "The Revision Id provided does not match the latest Revision Id. Call the GetPolicy API to retrieve the "
        "latest Revision Id"
    )
    expect_error(lam.remove_permission, "PreconditionFailedException", 412, FunctionName=fn, StatementId="two",
                 RevisionId=revision)  # fmt: skip
    bad = expect_error(lam.add_permission, "InvalidParameterValueException", 400, StatementId="x",
                       **(base | {"Principal": "nobody"}))  # fmt: skip
    assert "principal was invalid" in bad.response["Error"]["Message"]
    expect_error(lam.add_permission, "ResourceNotFoundException", 404, StatementId="x", **(base | {"FunctionName":
                 "no-such-function-here"}))  # fmt: skip
    expect_error(lam.get_policy, "ResourceNotFoundException", 404, FunctionName=fn, Qualifier="nope")
    expect_error(lam.add_permission, "InvalidParameterValueException", 400, StatementId="x", Qualifier="$LATEST",
                 **base)  # fmt: skip

    raw = raw_client(server)  # what botocore would refuse before sending: the server's model check answers
    for field, value in [
        ("StatementId", "a b"), ("StatementId", "s" * 101), ("Action", "invoke"), ("SourceAccount", "123"),
        ("FunctionUrlAuthType", "OPEN"), ("SourceArn", "not-an-arn"), ("PrincipalOrgID", "x"),
    ]:  # fmt: skip
        args = base | {"StatementId": "v"} | {field: value}
        err = expect_error(raw.add_permission, "ValidationException", 400, **args)
        camel = field[0].lower() + field[1:]
        assert f"at '{camel}' failed to satisfy constraint" in err.response["Error"]["Message"]
    err = expect_error(raw.add_permission, "ValidationException", 400, FunctionName=fn, StatementId="v",
                       Action="lambda:InvokeFunction")  # fmt: skip
    assert "Value null at 'principal'" in err.response["Error"]["Message"]


def test_policy_length_limit(lam: Any, fn: str) -> None:
    base = {"FunctionName": fn, "Action": "lambda:InvokeFunction", "Principal": "sns.amazonaws.com"}
    topic = "arn:aws:sns:us-east-1:000000000000:"
    lam.add_permission(StatementId="s0", SourceArn=topic + "t", **base)
    used = len(lam.get_policy(FunctionName=fn)["Policy"].encode())
    lam.add_permission(StatementId="s1", SourceArn=topic + "t", **base)
    per_statement = len(lam.get_policy(FunctionName=fn)["Policy"].encode()) - used  # "s1" with a 1-char topic
    lam.remove_permission(FunctionName=fn, StatementId="s1")
    pad = 20_480 - used - per_statement  # extra topic characters that land exactly on the limit
    over = expect_error(lam.add_permission, "PolicyLengthExceededException", 400, StatementId="s1",
                        SourceArn=topic + "t" * (pad + 2), **base)  # fmt: skip
    assert over.response["Error"]["Message"] == "The final policy size (20481) is bigger than the limit (20480)."
    lam.add_permission(StatementId="s1", SourceArn=topic + "t" * (pad + 1), **base)
    assert len(lam.get_policy(FunctionName=fn)["Policy"].encode()) == 20_480


def test_qualifiers_version_and_alias(lam: Any, fn: str) -> None:
    assert lam.publish_version(FunctionName=fn)["Version"] == "1"
    lam.create_alias(FunctionName=fn, Name="live", FunctionVersion="1")
    on_alias = lam.add_permission(FunctionName=fn, Qualifier="live", StatementId="a", Action="lambda:InvokeFunction",
                                  Principal="events.amazonaws.com")  # fmt: skip
    assert json.loads(on_alias["Statement"])["Resource"] == f"{arn(fn)}:live"
    lam.add_permission(FunctionName=f"{fn}:1", StatementId="v", Action="lambda:InvokeFunction", Principal="*")
    doc, _ = policy_of(lam, fn, Qualifier="live")
    assert [(s["Sid"], s["Resource"]) for s in doc["Statement"]] == [("a", f"{arn(fn)}:live")]
    doc, _ = policy_of(lam, f"{fn}:1")
    assert [(s["Sid"], s["Resource"]) for s in doc["Statement"]] == [("v", f"{arn(fn)}:1")]
    expect_error(lam.get_policy, "ResourceNotFoundException", 404, FunctionName=fn)  # the function has none
    lam.add_permission(FunctionName=fn, StatementId="a", Action="lambda:InvokeFunction", Principal="*")  # own sids
    expect_error(lam.add_permission, "ResourceNotFoundException", 404, FunctionName=fn, Qualifier="2",
                 StatementId="x", Action="lambda:InvokeFunction", Principal="*")  # fmt: skip
    lam.remove_permission(FunctionName=fn, Qualifier="live", StatementId="a")
    expect_error(lam.get_policy, "ResourceNotFoundException", 404, FunctionName=fn, Qualifier="live")
    assert [s["Sid"] for s in policy_of(lam, fn)[0]["Statement"]] == ["a"]


def test_function_deletion_removes_its_policies(lam: Any, create_function: Any, fn: str) -> None:
    lam.publish_version(FunctionName=fn)
    lam.add_permission(FunctionName=fn, StatementId="s", Action="lambda:InvokeFunction", Principal="*")
    lam.add_permission(FunctionName=fn, Qualifier="1", StatementId="s", Action="lambda:InvokeFunction", Principal="*")
    lam.delete_function(FunctionName=fn)
    expect_error(lam.get_policy, "ResourceNotFoundException", 404, FunctionName=fn)
    create_function(fn, {"app.py": ECHO})
    missing = expect_error(lam.get_policy, "ResourceNotFoundException", 404, FunctionName=fn)
    assert missing.response["Error"]["Message"] == "The resource you requested does not exist."
    lam.publish_version(FunctionName=fn)
    expect_error(lam.get_policy, "ResourceNotFoundException", 404, FunctionName=fn, Qualifier="2")


def test_cli_add_get_remove(server: Any, fn: str) -> None:
    added = json.loads(aws_cli(
        server, "lambda", "add-permission", "--function-name", fn, "--statement-id", "cli",
        "--action", "lambda:InvokeFunctionUrl", "--principal", "*", "--function-url-auth-type", "NONE",
    ).stdout)  # fmt: skip
    assert json.loads(added["Statement"])["Condition"] == {"StringEquals": {"lambda:FunctionUrlAuthType": "NONE"}}
    got = json.loads(aws_cli(server, "lambda", "get-policy", "--function-name", fn).stdout)
    assert [s["Sid"] for s in json.loads(got["Policy"])["Statement"]] == ["cli"]
    dup = aws_cli(server, "lambda", "add-permission", "--function-name", fn, "--statement-id", "cli",
                  "--action", "lambda:InvokeFunction", "--principal", "*", check=False)  # fmt: skip
    assert dup.returncode != 0
    assert "ResourceConflictException" in dup.stderr
    stale = aws_cli(server, "lambda", "remove-permission", "--function-name", fn, "--statement-id", "cli",
                    "--revision-id", "00000000-0000-0000-0000-000000000000", check=False)  # fmt: skip
    assert "PreconditionFailedException" in stale.stderr
    aws_cli(server, "lambda", "remove-permission", "--function-name", fn, "--statement-id", "cli",
            "--revision-id", got["RevisionId"])  # fmt: skip
    gone = aws_cli(server, "lambda", "get-policy", "--function-name", fn, check=False)
    assert gone.returncode != 0
    assert "ResourceNotFoundException" in gone.stderr


def test_policies_survive_kill_9(tmp_path: Path) -> None:
    data = tmp_path / "data"
    srv = start_server(data)
    try:
        lam = srv.client("lambda")
        lam.create_function(FunctionName="kept", Runtime="python3.11", Role=ROLE, Handler="app.handler",
                            Code={"ZipFile": make_zip({"app.py": ECHO})})  # fmt: skip
        lam.publish_version(FunctionName="kept")
        lam.create_alias(FunctionName="kept", Name="live", FunctionVersion="1")
        lam.add_permission(FunctionName="kept", StatementId="u", Action="lambda:InvokeFunctionUrl", Principal="*",
                           FunctionUrlAuthType="NONE")  # fmt: skip
        lam.add_permission(FunctionName="kept", Qualifier="live", StatementId="s", Action="lambda:InvokeFunction",
                           Principal="sns.amazonaws.com", SourceArn=SNS_TOPIC)  # fmt: skip
        before = [lam.get_policy(FunctionName="kept", **q) for q in ({}, {"Qualifier": "live"})]
    finally:
        srv.stop(signal.SIGKILL)
    srv2 = start_server(data)
    try:
        lam = srv2.client("lambda")
        after = [lam.get_policy(FunctionName="kept", **q) for q in ({}, {"Qualifier": "live"})]
        for b, a in zip(before, after, strict=True):
            assert (a["Policy"], a["RevisionId"]) == (b["Policy"], b["RevisionId"])
        lam.remove_permission(FunctionName="kept", StatementId="u", RevisionId=after[0]["RevisionId"])
        expect_error(lam.get_policy, "ResourceNotFoundException", 404, FunctionName="kept")
    finally:
        srv2.stop()
