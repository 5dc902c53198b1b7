"""The key ring: root, users' keys, sessions (expiry, revoke), the policies in force, the policy version."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from iam_support import ACCOUNT, LAMBDA_TRUST, ROOT_KEY, ROOT_SECRET, allow, open_ring
from nimbus.clock import FakeClock
from nimbus.control.identity import ASSUMED_ROLE, ROOT, USER


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(time.time())


def test_root_key_is_the_accounts_root(tmp_path: Path, clock: FakeClock) -> None:
    ring = open_ring(tmp_path, clock)
    assert ring.get(ROOT_KEY) == ROOT_SECRET
    root = ring.principal(ROOT_KEY)
    assert root is not None
    assert root.kind == ROOT
    assert (root.arn, root.user_id) == (f"arn:aws:iam::{ACCOUNT}:root", ACCOUNT)
    assert ring.identity_policies(root) == []
    assert ring.get("NOSUCHKEY") is None
    assert ring.principal("NOSUCHKEY") is None


def test_user_key_active_inactive_deleted(tmp_path: Path, clock: FakeClock) -> None:
    ring = open_ring(tmp_path, clock)
    iam = ring.iam
    assert iam is not None
    iam.create_user("ci")
    key = iam.create_key("ci")
    assert key.access_key_id.startswith("AKIA")
    assert len(key.access_key_id) == 20
    assert ring.get(key.access_key_id) == key.secret
    who = ring.principal(key.access_key_id)
    assert who is not None
    assert who.kind == USER
    assert who.arn == f"arn:aws:iam::{ACCOUNT}:user/ci"
    assert who.user_id.startswith("AIDA")
    assert who.name == "ci"
    iam.set_key_status(key.access_key_id, "Inactive")
    assert ring.get(key.access_key_id) is None
    iam.set_key_status(key.access_key_id, "Active")
    assert ring.get(key.access_key_id) == key.secret
    iam.delete_key(key.access_key_id)
    assert ring.get(key.access_key_id) is None


def test_session_expires_at_its_duration(tmp_path: Path, clock: FakeClock) -> None:
    ring = open_ring(tmp_path, clock)
    role_arn = f"arn:aws:iam::{ACCOUNT}:role/worker"
    s = ring.mint_session(role_arn, "fn-1", 900, source_function_arn="arn:aws:lambda:us-east-1:1:function:fn")
    assert s.access_key_id.startswith("ASIA")
    assert s.session_token
    assert s.kind == ASSUMED_ROLE
    assert s.arn == f"arn:aws:sts::{ACCOUNT}:assumed-role/worker/fn-1"
    assert s.role_arn == role_arn
    assert s.source_function_arn.endswith(":function:fn")
    clock.advance(899.9)
    assert ring.get(s.access_key_id) == s.secret
    assert not ring.expired(s.access_key_id)
    clock.advance(0.1)
    assert ring.get(s.access_key_id) is None
    assert ring.principal(s.access_key_id) is None
    assert ring.expired(s.access_key_id)


def test_revoked_session_is_refused_and_not_merely_expired(tmp_path: Path, clock: FakeClock) -> None:
    ring = open_ring(tmp_path, clock)
    s = ring.mint_session(f"arn:aws:iam::{ACCOUNT}:role/worker", "i-1", 3600)
    ring.revoke(s.access_key_id)
    assert ring.get(s.access_key_id) is None
    assert not ring.expired(s.access_key_id)
    ring.revoke(s.access_key_id)  # twice: no error
    ring.revoke(ROOT_KEY)  # only sessions are revoked
    assert ring.get(ROOT_KEY) == ROOT_SECRET


def test_sessions_survive_iam_changes(tmp_path: Path, clock: FakeClock) -> None:
    ring = open_ring(tmp_path, clock)
    s = ring.mint_session(f"arn:aws:iam::{ACCOUNT}:role/worker", "i-1", 3600)
    assert ring.iam is not None
    ring.iam.create_user("someone")  # the users' view is rebuilt
    assert ring.get(s.access_key_id) == s.secret


def test_identity_policies_of_users_and_role_sessions(tmp_path: Path, clock: FakeClock) -> None:
    ring = open_ring(tmp_path, clock)
    iam = ring.iam
    assert iam is not None
    iam.create_user("dev")
    iam.put_inline("user", "dev", "invoke", allow("lambda:InvokeFunction"))
    iam.attach("user", "dev", "arn:aws:iam::aws:policy/AmazonSQSFullAccess")
    key = iam.create_key("dev")
    dev = ring.principal(key.access_key_id)
    assert dev is not None
    actions = [s["Action"] for d in ring.identity_policies(dev) for s in d["Statement"]]
    assert actions == ["lambda:InvokeFunction", ["sqs:*"]]

    role = iam.create_role("worker", LAMBDA_TRUST)
    iam.attach("role", "worker", "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole")
    session = ring.mint_session(role.arn, "fn", 900)
    assert session.user_id == f"{role.role_id}:fn"
    docs = ring.identity_policies(session)
    assert docs[0]["Statement"][0]["Action"] == ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"]
    # a session of a role that does not exist is allowed nothing
    ghost = ring.mint_session(f"arn:aws:iam::{ACCOUNT}:role/ghost", "fn", 900)
    assert ring.identity_policies(ghost) == []
    assert ghost.user_id.startswith("AROA")


def test_policy_version_changes_with_every_change(tmp_path: Path, clock: FakeClock) -> None:
    ring = open_ring(tmp_path, clock)
    assert ring.iam is not None
    seen = {ring.policy_version()}
    ring.iam.create_role("r", LAMBDA_TRUST)
    seen.add(ring.policy_version())
    ring.iam.put_inline("role", "r", "p", allow("sqs:SendMessage"))
    seen.add(ring.policy_version())
    session = ring.mint_session(ring.iam.role("r").arn, "s", 900)
    assert ring.identity_policies(session)[0]["Statement"][0]["Action"] == "sqs:SendMessage"
    ring.iam.put_inline("role", "r", "p", allow("sqs:ReceiveMessage"))
    seen.add(ring.policy_version())
    assert len(seen) == 4
    assert ring.identity_policies(session)[0]["Statement"][0]["Action"] == "sqs:ReceiveMessage"


def test_keys_and_roles_survive_a_restart(tmp_path: Path, clock: FakeClock) -> None:
    ring = open_ring(tmp_path, clock)
    assert ring.iam is not None
    ring.iam.create_user("ci")
    key = ring.iam.create_key("ci")
    ring.iam.create_role("r", LAMBDA_TRUST)
    again = open_ring(tmp_path, clock)
    assert again.get(key.access_key_id) == key.secret
    assert again.iam is not None
    assert again.iam.role("R").name == "r"


def test_a_role_made_again_under_its_name_does_not_empower_old_sessions(tmp_path: Path, clock: FakeClock) -> None:
    ring = open_ring(tmp_path, clock)
    assert ring.iam is not None
    role = ring.iam.create_role("worker", LAMBDA_TRUST)
    old = ring.mint_session(role.arn, "s", 3600)
    ring.iam.delete_role("worker")
    again = ring.iam.create_role("worker", LAMBDA_TRUST)
    ring.iam.put_inline("role", "worker", "p", allow("sqs:SendMessage"))
    assert ring.identity_policies(old) == []
    assert len(ring.identity_policies(ring.mint_session(again.arn, "s", 3600))) == 1


def test_secrets_and_tokens_stay_out_of_reprs(tmp_path: Path, clock: FakeClock) -> None:
    ring = open_ring(tmp_path, clock)
    assert ring.iam is not None
    ring.iam.create_user("ci")
    key = ring.iam.create_key("ci")
    session = ring.mint_session(f"arn:aws:iam::{ACCOUNT}:role/r", "s", 900)
    shown = repr(ring.principal(key.access_key_id)) + repr(key) + repr(session)
    assert key.secret not in shown
    assert session.secret not in shown
    assert session.session_token not in shown
    assert key.access_key_id in shown
