"""The stacks API on the wire: its refusals (name, body, template, parameters, code uploads) as REST-JSON errors
with nothing applied, its limits at and past, one operation at a time per stack, and authorization as
CloudFormation's actions for an IAM user's key."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from stack_support import api, events, wait_stack

from conftest import Server, make_zip, start_server
from nimbus.config import Settings
from nimbus.control.iam import Iam
from nimbus.control.iam_store import IamStore
from nimbus.control.secret_box import SecretBox
from nimbus.control.validation import ZIPPED_MAX
from nimbus.deploy.stacks_api import DEPLOY_BODY_MAX
from nimbus.store.db import migrate, sqlite_engine
from nimbus.store.schema import metadata

QUEUE = {"Resources": {"Q": {"Type": "AWS::SQS::Queue"}}}
#: a user who may look at stacks, and deploy only the preview
READER = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Resource": "*", "Action": [
    "cloudformation:ListStacks", "cloudformation:DescribeStacks", "cloudformation:DescribeStackEvents",
    "cloudformation:CreateChangeSet"]}]}  # fmt: skip


def seed_reader(data_dir: Path) -> tuple[str, str]:
    data_dir.mkdir(parents=True, exist_ok=True)
    engine = sqlite_engine(Settings(data_dir=data_dir).db_path)
    migrate(engine, metadata)
    iam = Iam(IamStore(engine, SecretBox.for_data_dir(data_dir), "000000000000"), "000000000000")
    iam.load()
    iam.create_user("reader")
    iam.put_inline("user", "reader", "stacks", json.dumps(READER))
    key = iam.create_key("reader")
    engine.dispose()
    return key.access_key_id, key.secret


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, tuple[str, str]]]:
    data_dir = tmp_path_factory.mktemp("stacks-api") / "data"
    reader = seed_reader(data_dir)
    server = start_server(data_dir)
    yield server, reader
    server.stop()


def refused(server: Server, method: str, path: str, body: Any, status: int, error: str, says: str) -> None:
    got, answer = api(server, method, path, body)
    assert (got, answer.get("ErrorType")) == (status, error), answer
    assert says in (answer.get("message") or answer["Message"]), answer


@pytest.mark.parametrize(
    ("name", "body", "says"),
    [
        ("1bad", {"Template": QUEUE}, "Member must satisfy regular expression pattern: [a-zA-Z][-a-zA-Z0-9]*"),
        ("a" * 129, {"Template": QUEUE}, "length less than or equal to 128"),
        ("ok", {"Template": "Resources: nope"}, "a template is a mapping"),
        (
            "ok",
            {"Template": {"Resources": {"Fn": {"Type": "AWS::SQS::Queue", "Properties": {"X": {"Ref": "Gone"}}}}}},
            "Resources.Fn.Properties.X.Ref: Unresolved resource dependency [Gone]",
        ),
        (
            "ok",
            {
                "Template": {
                    "Resources": {
                        "A": {"Type": "AWS::SQS::Queue", "DependsOn": "B"},
                        "B": {"Type": "AWS::SQS::Queue", "DependsOn": "A"},
                    }
                }
            },
            "Circular dependency between resources: [A, B]",
        ),
        ("ok", {"Template": QUEUE, "Parameters": {"Stage": "dev"}}, "Parameters: ['Stage'] do not exist"),
        ("ok", {"Template": QUEUE | {"Parameters": {"Stage": {"Type": "String"}}}}, "['Stage'] must have values"),
        ("ok", {"Template": QUEUE, "Parameters": {"Stage": 1}}, "Parameters is a mapping of names to string values"),
        (
            "ok",
            {"Template": {"Resources": {"T": {"Type": "AWS::DynamoDB::Table"}, "Q": {"Type": "AWS::SQS::Queue"}}}},
            "Unsupported resource types (nothing was applied; --skip-unsupported deploys the rest): T (AWS::DynamoDB",
        ),
        ("ok", {"Template": QUEUE | {"Transform": "AWS::Serverless-2016-10-31"}}, "still has a SAM Transform"),
    ],
)
def test_bad_deploys_are_refused_and_nothing_is_applied(srv: tuple[Server, Any], name: str, body: Any,
                                                         says: str) -> None:  # fmt: skip
    server, _ = srv
    refused(server, "POST", f"/_nimbus/stacks/{name}", body, 400, "ValidationException", says)
    status, answer = api(server, "GET", f"/_nimbus/stacks/{name}")
    assert status == 400
    assert answer["message"] == f"Stack with id {name} does not exist"


def test_a_body_that_is_not_json_is_refused(srv: tuple[Server, Any]) -> None:
    refused(srv[0], "POST", "/_nimbus/stacks/ok", b"{not json", 400, "InvalidRequestContentException",
            "Could not parse request body into json")  # fmt: skip


def test_code_uploads(srv: tuple[Server, Any]) -> None:
    server, _ = srv
    data = make_zip({"app.py": "def handler(e, c): return 1\n"})
    digest = hashlib.sha256(data).hexdigest()
    refused(server, "GET", f"/_nimbus/stack-code/{digest}", None, 404, "ResourceNotFoundException", "No code zip")
    refused(server, "PUT", f"/_nimbus/stack-code/{'0' * 64}", data, 400, "InvalidParameterValueException",
            "does not match")  # fmt: skip
    refused(server, "PUT", "/_nimbus/stack-code/XYZ", data, 400, "ValidationException", "64 lower-case hex digits")
    refused(server, "PUT", f"/_nimbus/stack-code/{hashlib.sha256(b'no').hexdigest()}", b"no", 400,
            "InvalidParameterValueException", "")  # fmt: skip
    assert api(server, "PUT", f"/_nimbus/stack-code/{digest}", data) == (200, {"CodeSha256": digest,
                                                                               "CodeSize": len(data)})  # fmt: skip
    assert api(server, "GET", f"/_nimbus/stack-code/{digest}")[0] == 200


def _status_of_headers(server: Server, path: str, length: int) -> int:
    """Send only the headers of a signed request of `length` body bytes: the server answers at once, unread."""
    now = dt.datetime.now(dt.UTC)
    scope = f"{now:%Y%m%d}/us-east-1/cloudformation/aws4_request"
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        sock.sendall(f"PUT {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {length}\r\nAuthorization: AWS4-HMAC-SHA256 "
                     f"Credential=test/{scope}, SignedHeaders=host;x-amz-date, Signature={'0' * 64}\r\n"
                     f"X-Amz-Date: {now:%Y%m%dT%H%M%SZ}\r\n\r\n".encode())  # fmt: skip
        return int(sock.recv(4096).split(b" ", 2)[1])


def test_body_limits_at_and_past(srv: tuple[Server, Any]) -> None:
    server, _ = srv
    padding = DEPLOY_BODY_MAX - len(json.dumps({"Template": QUEUE, "Pad": ""}))
    at_limit = json.dumps({"Template": QUEUE, "Pad": "x" * padding}).encode()
    assert len(at_limit) == DEPLOY_BODY_MAX
    status, answer = api(server, "POST", "/_nimbus/stacks/limits", at_limit)
    assert status == 200, answer
    assert wait_stack(server, "limits")["StackStatus"] == "CREATE_COMPLETE"
    refused(server, "POST", "/_nimbus/stacks/limits", at_limit + b" ", 413, "RequestEntityTooLargeException",
            f"smaller than {DEPLOY_BODY_MAX} bytes")  # fmt: skip
    assert _status_of_headers(server, f"/_nimbus/stack-code/{'a' * 64}", ZIPPED_MAX + 1) == 413


def test_one_operation_at_a_time(srv: tuple[Server, Any]) -> None:
    server, _ = srv
    chain = {f"Q{i}": {"Type": "AWS::SQS::Queue"} | ({"DependsOn": f"Q{i - 1}"} if i else {}) for i in range(40)}
    assert api(server, "POST", "/_nimbus/stacks/busy", {"Template": {"Resources": chain}})[0] == 200
    refused(server, "POST", "/_nimbus/stacks/busy", {"Template": QUEUE}, 400, "ValidationException",
            "is in CREATE_IN_PROGRESS state and can not be updated")  # fmt: skip
    refused(server, "DELETE", "/_nimbus/stacks/busy", None, 400, "ValidationException", "can not be deleted")
    assert wait_stack(server, "busy")["StackStatus"] == "CREATE_COMPLETE"
    assert api(server, "DELETE", "/_nimbus/stacks/busy")[0] == 200
    assert wait_stack(server, "busy") == {"message": "Stack with id busy does not exist", "Type": "User",
                                          "ErrorType": "ValidationException"}  # fmt: skip
    assert events(server, "busy")[-1]["ResourceStatus"] == "DELETE_COMPLETE"  # a deleted stack's events stay
    assert "busy" not in [s["StackName"] for s in api(server, "GET", "/_nimbus/stacks")[1]["StackSummaries"]]


def test_authorized_as_cloudformation_actions(srv: tuple[Server, Any]) -> None:
    server, reader = srv
    assert api(server, "POST", "/_nimbus/stacks/authz", {"Template": QUEUE})[0] == 200
    wait_stack(server, "authz")
    assert api(server, "GET", "/_nimbus/stacks/authz", key=reader)[0] == 200
    assert api(server, "GET", "/_nimbus/stacks", key=reader)[0] == 200
    preview = api(server, "POST", "/_nimbus/stacks/authz", {"Template": QUEUE, "DryRun": True}, key=reader)
    assert preview == (200, preview[1] | {"NoChanges": True})
    for method, path, body, action in [
        ("POST", "/_nimbus/stacks/authz", {"Template": QUEUE}, "ExecuteChangeSet"),
        ("DELETE", "/_nimbus/stacks/authz", None, "DeleteStack"),
    ]:
        status, answer = api(server, method, path, body, key=reader)
        assert (status, answer["ErrorType"]) == (403, "AccessDeniedException"), answer
        assert f"is not authorized to perform: cloudformation:{action} on resource: " \
               f"arn:aws:cloudformation:us-east-1:000000000000:stack/authz/*" in answer["Message"]  # fmt: skip


def test_an_output_that_cannot_be_resolved_fails_the_deploy_and_rolls_it_back(srv: tuple[Server, Any]) -> None:
    server, _ = srv
    template = QUEUE | {"Outputs": {"Bad": {"Value": {"Fn::GetAtt": ["Q", "NoSuchAttribute"]}}}}
    assert api(server, "POST", "/_nimbus/stacks/bad-output", {"Template": template})[0] == 200
    stack = wait_stack(server, "bad-output")
    assert stack["StackStatus"] == "ROLLBACK_COMPLETE"
    assert stack["StackStatusReason"].startswith("The following resource(s) failed: [Outputs]. Template error: "
                                                 "Outputs.Bad.Value.Fn::GetAtt: resource Q (AWS::SQS::Queue) has "
                                                 "no attribute 'NoSuchAttribute'")  # fmt: skip
    assert stack["Resources"] == []
