"""The Authorizer over a real key ring (IAM's service on a temporary store): the root asks nothing, decisions are
cached per the call's own condition keys too, and the key ring's policy version drops them; a body it parses is
handed on to the handler."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest

from nimbus.api.actions import Where, lambda_call
from nimbus.api.authorize import Authorizer
from nimbus.api.http import Request
from nimbus.api.jsonproto import JsonProtocol
from nimbus.api.queryproto import form_of
from nimbus.clock import FakeClock
from nimbus.control.iam import Iam
from nimbus.control.iam_store import IamStore
from nimbus.control.identity import Principal
from nimbus.control.keyring import KeyRing, root_principal
from nimbus.control.secret_box import SecretBox
from nimbus.errors import AccessDenied
from nimbus.store.db import migrate, sqlite_engine
from nimbus.store.schema import metadata

ACCOUNT = "123456789012"
WHERE = Where("us-east-1", ACCOUNT)
FN = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function"


def ring(tmp_path: Path) -> KeyRing:
    engine = sqlite_engine(tmp_path / "nimbus.db")
    migrate(engine, metadata)
    iam = Iam(IamStore(engine, SecretBox.for_data_dir(tmp_path), ACCOUNT), ACCOUNT, FakeClock(time.time()))
    iam.load()
    return KeyRing(root_principal("ROOT", "secret", ACCOUNT), iam)


def user(keys: KeyRing, name: str, *statements: dict[str, object]) -> Principal:
    assert keys.iam is not None
    keys.iam.create_user(name)
    keys.iam.put_inline("user", name, "p", json.dumps({"Version": "2012-10-17", "Statement": list(statements)}))
    who = keys.principal(keys.iam.create_key(name).access_key_id)
    assert who is not None
    return who


def allowed(auth: Authorizer, who: Principal | None, operation: str, body: dict[str, object]) -> bool:
    try:
        asyncio.run(auth.authorize(who, lambda_call(WHERE, operation, {}, {}, body)))
    except AccessDenied:
        return False
    return True


def test_the_root_is_asked_nothing(tmp_path: Path) -> None:
    keys = ring(tmp_path)
    auth = Authorizer(WHERE, keys)
    assert allowed(auth, keys.principal("ROOT"), "ListFunctions", {})
    assert allowed(auth, None, "ListFunctions", {})


def test_a_cached_decision_is_per_condition_key_and_policy_version(tmp_path: Path) -> None:
    keys = ring(tmp_path)
    who = user(keys, "mapper", {"Effect": "Allow", "Action": "lambda:CreateEventSourceMapping", "Resource": "*",
                                "Condition": {"ArnLike": {"lambda:FunctionArn": f"{FN}:fn-a"}}})  # fmt: skip
    auth = Authorizer(WHERE, keys)
    for _ in range(2):  # the second time from the cache
        assert allowed(auth, who, "CreateEventSourceMapping", {"FunctionName": "fn-a"})
        assert not allowed(auth, who, "CreateEventSourceMapping", {"FunctionName": "fn-b"})
    assert keys.iam is not None
    keys.iam.delete_inline("user", "mapper", "p")
    assert not allowed(auth, who, "CreateEventSourceMapping", {"FunctionName": "fn-a"})


def test_pass_role_is_asked_on_the_role(tmp_path: Path) -> None:
    keys = ring(tmp_path)
    role = f"arn:aws:iam::{ACCOUNT}:role/worker"
    create = {"Effect": "Allow", "Action": "lambda:CreateFunction", "Resource": "*"}
    who = user(keys, "dev", create)
    passer = user(keys, "ops", create, {"Effect": "Allow", "Action": "iam:PassRole", "Resource": role})
    auth = Authorizer(WHERE, keys)
    with pytest.raises(AccessDenied, match=f"perform: iam:PassRole on resource: {role} because"):
        asyncio.run(auth.authorize(who, lambda_call(WHERE, "CreateFunction", {}, {}, {"FunctionName": "f",
                                                                                      "Role": role})))  # fmt: skip
    assert allowed(auth, passer, "CreateFunction", {"FunctionName": "f", "Role": role})


def test_a_body_the_authorizer_parsed_is_handed_to_the_handler_not_parsed_again(tmp_path: Path) -> None:
    """A non-root caller's body is parsed where it names the resource (a Lambda body, a JSON target's, a form):
    the parse is kept on the request, and the handler's parse (`Request.json`, `JsonProtocol.parse`, `form_of`)
    takes that very value instead of parsing the body a second time."""
    auth = Authorizer(WHERE, ring(tmp_path))
    create = Request("POST", "/2015-03-31/functions", "", {}, b'{"FunctionName": "f", "Role": "r"}', "id")
    call = auth.call_of(create, service="lambda", operation="CreateFunction")
    assert call is not None
    assert call.pass_role == "r"
    assert create.parsed == {"FunctionName": "f", "Role": "r"}
    assert create.json() is create.parsed

    send = Request("POST", "/", "", {}, b'{"QueueUrl": "http://h/123456789012/q", "MessageBody": "m"}', "id")
    call = auth.call_of(send, service="sqs", operation="AmazonSQS.SendMessage")
    assert call is not None
    assert call.resources == (f"arn:aws:sqs:us-east-1:{ACCOUNT}:q",)
    sqs = JsonProtocol("sqs")
    send.parsed["MessageBody"] = "as parsed"  # (what the handler gets is the authorizer's value, not a new parse)
    assert sqs.parse(sqs.operation("AmazonSQS.SendMessage"), send.body, send.parsed)["MessageBody"] == "as parsed"

    publish = Request("POST", "/", "", {}, b"Action=Publish&TopicArn=arn%3Aaws%3Asns%3Aus-east-1%3A1%3At", "id")
    assert auth.call_of(publish, service="sns", operation="", form=True) is not None
    assert form_of(publish) is publish.parsed
    assert publish.parsed["Action"] == "Publish"
