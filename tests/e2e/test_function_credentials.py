"""Functions reach the platform's services with their execution role, as on Lambda: each instance has a session
of its own in AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN, plain SDK code with no endpoint or
credential code works, and the session is refused once its instance has ended, whichever way it ended."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from botocore.exceptions import ClientError
from e2e_support import ACCOUNT, Server, aws_cli, delete_functions, invoke_json, make_zip, node_sdk_runtime, wait_for
from iam_e2e_support import LAMBDA_TRUST, cleanup_role

from sandbox.support import needs_namespaces

CREDENTIAL_KEYS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")

CALLER = """
import json, os, time
import boto3

def handler(event, context):
    keys = {k: os.environ.get(k) for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")}
    action = event.get("action")
    if action == "invoke":
        out = boto3.client("lambda").invoke(FunctionName=event["target"], Payload=json.dumps(event["payload"]))
        return {"keys": keys, "status": out["StatusCode"], "result": json.loads(out["Payload"].read())}
    if action == "send":
        sqs = boto3.client("sqs")
        try:
            sent = sqs.send_message(QueueUrl=event["queue_url"], MessageBody=event["body"])
        except boto3.exceptions.botocore.exceptions.ClientError as e:
            return {"keys": keys, "error": e.response["Error"]["Code"], "message": e.response["Error"]["Message"]}
        return {"keys": keys, "message_id": sent["MessageId"]}
    if action == "whoami":
        return {"keys": keys, "identity": boto3.client("sts").get_caller_identity()}
    if action == "sleep":
        time.sleep(event["seconds"])
    if action == "exit":
        os._exit(3)
    return {"keys": keys}
"""
ECHO = "def handler(event, context):\n    return {'echo': event}\n"


@pytest.fixture
def role(server: Server, request: pytest.FixtureRequest) -> Iterator[Callable[..., str]]:
    """Make an execution role trusting Lambda, with one inline policy of `statements`; its ARN. Removed after."""
    iam = server.client("iam")
    made: list[str] = []

    def make(*statements: dict[str, Any]) -> str:
        name = f"creds-{len(made)}-{request.node.name}"[:64].replace("[", "-").replace("]", "")
        arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=LAMBDA_TRUST)["Role"]["Arn"]
        made.append(name)
        if statements:
            document = json.dumps({"Version": "2012-10-17", "Statement": list(statements)})
            iam.put_role_policy(RoleName=name, PolicyName="inline", PolicyDocument=document)
        return str(arn)

    yield make
    for name in made:
        cleanup_role(iam, name)


def fn_arn(name: str) -> str:
    return f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:{name}"


def queue_arn(name: str) -> str:
    return f"arn:aws:sqs:us-east-1:{ACCOUNT}:{name}"


@pytest.fixture
def queues(server: Server, fn_name: str) -> Iterator[tuple[str, str, str]]:
    """Two queues: (allowed's name, its URL, the other's URL)."""
    sqs = server.client("sqs")
    allowed, other = fn_name[:60] + "-ok", fn_name[:60] + "-no"
    urls = [sqs.create_queue(QueueName=q)["QueueUrl"] for q in (allowed, other)]
    yield allowed, urls[0], urls[1]
    for url in urls:
        sqs.delete_queue(QueueUrl=url)


def session_client(server: Server, keys: dict[str, str], service: str = "lambda") -> Any:
    return server.client(service, access_key=keys["AWS_ACCESS_KEY_ID"], secret_key=keys["AWS_SECRET_ACCESS_KEY"],
                         aws_session_token=keys["AWS_SESSION_TOKEN"])  # fmt: skip


def auth_error(server: Server, keys: dict[str, str]) -> str | None:
    """What the server says to a call signed with `keys`: None when it authenticated them (allowed or denied by
    policy), else the authentication error's code."""
    try:
        session_client(server, keys).list_functions(MaxItems=1)
    except ClientError as e:
        code = str(e.response["Error"]["Code"])
        return None if code == "AccessDeniedException" else code
    return None


def test_each_instance_gets_a_session_of_its_own(server: Server, lam: Any, create_function: Callable[..., Any],
                                                 fn_name: str, role: Callable[..., str]) -> None:  # fmt: skip
    execution_role = role()
    create_function(fn_name, {"app.py": CALLER}, Role=execution_role)
    _, first = invoke_json(lam, fn_name, {"action": "whoami"})
    keys = first["keys"]
    assert keys["AWS_ACCESS_KEY_ID"].startswith("ASIA")
    assert all(keys[k] for k in CREDENTIAL_KEYS)
    role_name = execution_role.rsplit("/", 1)[1]
    assert first["identity"]["Arn"] == f"arn:aws:sts::{ACCOUNT}:assumed-role/{role_name}/{fn_name}"
    assert first["identity"]["UserId"].endswith(f":{fn_name}")
    _, again = invoke_json(lam, fn_name, {})
    assert again["keys"] == keys  # the same instance, warm: the same session
    other = fn_name[:58] + "-other"  # another function's instance: a session of its own
    create_function(other, {"app.py": CALLER}, Role=execution_role)
    _, second = invoke_json(lam, other, {})
    assert second["keys"]["AWS_ACCESS_KEY_ID"] != keys["AWS_ACCESS_KEY_ID"]
    assert second["keys"]["AWS_SESSION_TOKEN"] != keys["AWS_SESSION_TOKEN"]
    log = server.log_path.read_text()
    assert keys["AWS_SECRET_ACCESS_KEY"] not in log
    assert keys["AWS_SESSION_TOKEN"] not in log


def test_the_aws_cli_gets_the_callers_identity_with_a_functions_keys(
    server: Server, lam: Any, create_function: Callable[..., Any], fn_name: str, role: Callable[..., str]
) -> None:
    execution_role = role()  # no policy at all: GetCallerIdentity is never denied, as on AWS
    create_function(fn_name, {"app.py": CALLER}, Role=execution_role)
    _, out = invoke_json(lam, fn_name, {"action": "whoami"})
    cli = aws_cli(server, "sts", "get-caller-identity", keys=out["keys"])
    identity = json.loads(cli.stdout)
    assert identity == {k: out["identity"][k] for k in ("UserId", "Account", "Arn")}
    assert identity["Arn"] == f"arn:aws:sts::{ACCOUNT}:assumed-role/{execution_role.rsplit('/', 1)[1]}/{fn_name}"


def test_a_function_invokes_another_through_plain_boto3(lam: Any, create_function: Callable[..., Any],
                                                        fn_name: str, role: Callable[..., str]) -> None:  # fmt: skip
    callee = fn_name[:56] + "-callee"
    create_function(callee, {"app.py": ECHO})
    allowed = role({"Effect": "Allow", "Action": "lambda:InvokeFunction", "Resource": fn_arn(callee)})
    create_function(fn_name, {"app.py": CALLER}, Role=allowed)
    _, out = invoke_json(lam, fn_name, {"action": "invoke", "target": callee, "payload": {"n": 7}})
    assert (out["status"], out["result"]) == (200, {"echo": {"n": 7}})
    # its role allows that function only: invoking itself is denied, in Lambda's own form
    _, out = invoke_json(lam, fn_name, {"action": "invoke", "target": fn_name, "payload": {}})
    assert "AccessDeniedException" in out["errorMessage"]
    assert f"is not authorized to perform: lambda:InvokeFunction on resource: {fn_arn(fn_name)}" in out["errorMessage"]


@pytest.mark.parametrize("network", ["host", pytest.param("none", marks=needs_namespaces)])
def test_a_python_function_sends_to_the_queue_its_role_allows_and_is_denied_another(
    server: Server, lam: Any, create_function: Callable[..., Any], fn_name: str, role: Callable[..., str],
    queues: tuple[str, str, str], network: str,
) -> None:  # fmt: skip
    """In both network modes: with the host's, AWS_ENDPOINT_URL is the server's address; with none (a network
    namespace of its own), a listening socket inside it that the server serves."""
    allowed, url, other_url = queues
    execution_role = role({"Effect": "Allow", "Action": "sqs:SendMessage", "Resource": queue_arn(allowed)})
    create_function(fn_name, {"app.py": CALLER}, Role=execution_role, Tags={"nimbus:network": network})
    _, out = invoke_json(lam, fn_name, {"action": "send", "queue_url": url, "body": "hello from a function"})
    assert "message_id" in out, out
    sqs = server.client("sqs")
    got = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=2)["Messages"]
    assert [m["Body"] for m in got] == ["hello from a function"]
    _, out = invoke_json(lam, fn_name, {"action": "send", "queue_url": other_url, "body": "sneaky"})
    assert out["error"] == "AccessDenied"
    assert "is not authorized to perform: sqs:sendmessage" in out["message"].lower()
    assert "Messages" not in sqs.receive_message(QueueUrl=other_url, WaitTimeSeconds=0)


NODE_SENDER = """
import { SQSClient, SendMessageCommand } from '@aws-sdk/client-sqs';
const sqs = new SQSClient({});
export const handler = async (event) => {
  try {
    const out = await sqs.send(new SendMessageCommand({ QueueUrl: event.queue_url, MessageBody: event.body }));
    return { message_id: out.MessageId };
  } catch (e) {
    return { error: e.name, message: e.message };
  }
};
"""


@pytest.mark.parametrize("network", ["host", pytest.param("none", marks=needs_namespaces)])
def test_a_node_function_sends_with_the_aws_sdk_v3_and_is_denied_another_queue(
    server: Server, lam: Any, fn_name: str, role: Callable[..., str], queues: tuple[str, str, str], network: str,
) -> None:  # fmt: skip
    runtime = node_sdk_runtime()
    allowed, url, other_url = queues
    execution_role = role({"Effect": "Allow", "Action": "sqs:SendMessage", "Resource": queue_arn(allowed)})
    lam.create_function(FunctionName=fn_name, Role=execution_role, Runtime=runtime,
                        Handler="index.handler", Code={"ZipFile": make_zip({"index.mjs": NODE_SENDER})},
                        Tags={"nimbus:network": network})  # fmt: skip
    try:
        _, out = invoke_json(lam, fn_name, {"queue_url": url, "body": "hello from node"})
        assert "message_id" in out, out
        got = server.client("sqs").receive_message(QueueUrl=url, WaitTimeSeconds=2)["Messages"]
        assert [m["Body"] for m in got] == ["hello from node"]
        _, out = invoke_json(lam, fn_name, {"queue_url": other_url, "body": "sneaky"})
        assert out["error"] == "AccessDenied", out
    finally:
        delete_functions(lam, [fn_name])


@pytest.mark.parametrize("ending", ["retired", "timeout", "crash"])
def test_a_session_is_refused_once_its_instance_has_ended(server: Server, lam: Any,
                                                          create_function: Callable[..., Any], fn_name: str,
                                                          role: Callable[..., str], ending: str) -> None:  # fmt: skip
    create_function(fn_name, {"app.py": CALLER}, Timeout=1, Role=role())
    _, out = invoke_json(lam, fn_name, {})
    keys = out["keys"]
    assert auth_error(server, keys) is None  # accepted while its instance lives
    if ending == "retired":  # a configuration change replaces the instance
        lam.update_function_configuration(FunctionName=fn_name, Environment={"Variables": {"VERSION": "2"}})
    elif ending == "timeout":
        resp = lam.invoke(FunctionName=fn_name, Payload=json.dumps({"action": "sleep", "seconds": 5}))
        assert resp.get("FunctionError") == "Unhandled"
    else:
        resp = lam.invoke(FunctionName=fn_name, Payload=json.dumps({"action": "exit"}))
        assert resp.get("FunctionError") == "Unhandled"
    assert wait_for(lambda: auth_error(server, keys) == "UnrecognizedClientException", timeout=20)
    # and the next instance has a session of its own, accepted
    _, fresh = invoke_json(lam, fn_name, {})
    assert fresh["keys"]["AWS_ACCESS_KEY_ID"] != keys["AWS_ACCESS_KEY_ID"]
    assert auth_error(server, fresh["keys"]) is None


SNAPSHOTTED = """
import os, time
import boto3

KEYS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")
AT_INIT = {k: os.environ[k] for k in KEYS}  # the template's session: init runs once, in the template
STS = boto3.client("sts")  # made at init, before the snapshot, as functions do

def handler(event, context):
    time.sleep(event.get("hold", 0))
    arn = STS.get_caller_identity()["Arn"]  # after the restore: the SDK finds the instance's own session
    used = STS._request_signer._credentials.get_frozen_credentials().access_key
    return {"at_init": AT_INIT, "keys": {k: os.environ[k] for k in KEYS}, "used": used, "arn": arn}
"""


@needs_namespaces
def test_snapstart_restores_each_get_a_session_and_the_templates_is_refused(
    server: Server, lam: Any, create_function: Callable[..., Any], fn_name: str, role: Callable[..., str]
) -> None:
    """A SnapStart version's instances are forks of one initialised template: each restored one gets a session of
    its own (in its FORK), clients made at init use it, and the template's own session is revoked at the snapshot."""
    create_function(fn_name, {"app.py": SNAPSHOTTED}, Role=role(), SnapStart={"ApplyOn": "PublishedVersions"},
                    Timeout=30)  # fmt: skip
    version = lam.publish_version(FunctionName=fn_name)["Version"]
    with ThreadPoolExecutor(2) as pool:
        outs = list(pool.map(lambda _: invoke_json(lam, fn_name, {"hold": 1.5}, Qualifier=version)[1], range(2)))
    keys = [out["keys"]["AWS_ACCESS_KEY_ID"] for out in outs]
    assert len(set(keys)) == 2, outs  # two restored instances, two sessions
    assert outs[0]["at_init"] == outs[1]["at_init"]  # one template
    template = outs[0]["at_init"]
    assert template["AWS_ACCESS_KEY_ID"] not in keys
    for out in outs:
        assert out["used"] == out["keys"]["AWS_ACCESS_KEY_ID"]
        assert out["arn"].endswith(f"/{fn_name}")
        assert auth_error(server, out["keys"]) is None
    assert auth_error(server, template) == "UnrecognizedClientException"
