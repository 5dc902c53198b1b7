"""The Authorizer over a real key ring (IAM's service on a temporary store): the root asks nothing, decisions are
cached per the call's own condition keys too, and the key ring's policy version drops them."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest

from nimbus.api.actions import Where, lambda_call
from nimbus.api.authorize import Authorizer
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
