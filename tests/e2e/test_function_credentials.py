"""Functions reach the platform's services with their execution role, as on Lambda: each instance has a session
of its own in AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN, plain SDK code with no endpoint or
credential code works, and the session is refused once its instance has ended, whichever way it ended."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError
from e2e_support import Server, invoke_json, wait_for

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
    if action == "sleep":
        time.sleep(event["seconds"])
    if action == "exit":
        os._exit(3)
    return {"keys": keys}
"""
ECHO = "def handler(event, context):\n    return {'echo': event}\n"


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


def test_each_instance_gets_a_session_of_its_own(lam: Any, create_function: Callable[..., Any],
                                                 fn_name: str) -> None:  # fmt: skip
    create_function(fn_name, {"app.py": CALLER})
    _, first = invoke_json(lam, fn_name, {})
    keys = first["keys"]
    assert keys["AWS_ACCESS_KEY_ID"].startswith("ASIA")
    assert all(keys[k] for k in CREDENTIAL_KEYS)
    _, again = invoke_json(lam, fn_name, {})
    assert again["keys"] == keys  # the same instance, warm: the same session
    # another function's instance: a session of its own
    other = fn_name[:58] + "-other"
    create_function(other, {"app.py": CALLER})
    _, second = invoke_json(lam, other, {})
    assert second["keys"]["AWS_ACCESS_KEY_ID"] != keys["AWS_ACCESS_KEY_ID"]
    assert second["keys"]["AWS_SESSION_TOKEN"] != keys["AWS_SESSION_TOKEN"]


def test_a_function_invokes_another_through_plain_boto3(lam: Any, create_function: Callable[..., Any],
                                                        fn_name: str) -> None:  # fmt: skip
    callee = fn_name[:56] + "-callee"
    create_function(callee, {"app.py": ECHO})
    create_function(fn_name, {"app.py": CALLER})
    _, out = invoke_json(lam, fn_name, {"action": "invoke", "target": callee, "payload": {"n": 7}})
    assert (out["status"], out["result"]) == (200, {"echo": {"n": 7}})


def test_a_function_sends_to_a_queue_through_plain_boto3(
    server: Server, lam: Any, create_function: Callable[..., Any], fn_name: str
) -> None:
    sqs = server.client("sqs")
    url = sqs.create_queue(QueueName=fn_name[:70])["QueueUrl"]
    try:
        create_function(fn_name, {"app.py": CALLER})
        _, out = invoke_json(lam, fn_name, {"action": "send", "queue_url": url, "body": "hello from a function"})
        assert "message_id" in out, out
        got = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=2)["Messages"]
        assert [m["Body"] for m in got] == ["hello from a function"]
    finally:
        sqs.delete_queue(QueueUrl=url)


@pytest.mark.parametrize("ending", ["retired", "timeout", "crash"])
def test_a_session_is_refused_once_its_instance_has_ended(server: Server, lam: Any,
                                                          create_function: Callable[..., Any], fn_name: str,
                                                          ending: str) -> None:  # fmt: skip
    create_function(fn_name, {"app.py": CALLER}, Timeout=1)
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
