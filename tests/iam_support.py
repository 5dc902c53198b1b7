"""An IAM service and key ring over a real store in a temporary data dir, on a clock the test moves; and users and
roles made in a data dir before a server opens it (`seed_identities`), for module servers whose tests sign as
those users."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from nimbus.clock import FakeClock
from nimbus.control.iam import Iam
from nimbus.control.iam_store import IamStore
from nimbus.control.keyring import KeyRing, root_principal
from nimbus.control.secret_box import SecretBox
from nimbus.store.db import migrate, sqlite_engine
from nimbus.store.schema import metadata

ACCOUNT = "123456789012"
ROOT_KEY, ROOT_SECRET = "ROOTKEY", "root-secret"
LAMBDA_TRUST = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]})  # fmt: skip


def allow(action: str, resource: str = "*") -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": action,
                                                               "Resource": resource}]})  # fmt: skip


def open_iam(data_dir: Path, clock: FakeClock) -> Iam:
    engine = sqlite_engine(data_dir / "nimbus.db")
    migrate(engine, metadata)
    iam = Iam(IamStore(engine, SecretBox.for_data_dir(data_dir), ACCOUNT), ACCOUNT, clock)
    iam.load()
    return iam


def open_ring(data_dir: Path, clock: FakeClock) -> KeyRing:
    return KeyRing(root_principal(ROOT_KEY, ROOT_SECRET, ACCOUNT), open_iam(data_dir, clock), clock)


def seed_identities(
    data_dir: Path, account: str, users: Mapping[str, Any], roles: Mapping[str, Any] | None = None
) -> dict[str, tuple[str, str]]:
    """Make `users` (name -> identity policy document, or None for none; one access key each) and `roles` (name ->
    trust policy document) through IAM's own service, the rows the IAM API writes; answer each user's (access key
    id, secret)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    engine = sqlite_engine(data_dir / "nimbus.db")
    migrate(engine, metadata)
    iam = Iam(IamStore(engine, SecretBox.for_data_dir(data_dir), account), account)
    iam.load()
    for role, trust in (roles or {}).items():
        iam.create_role(role, json.dumps(trust))
    keys = {}
    for name, policy in users.items():
        iam.create_user(name)
        if policy is not None:
            iam.put_inline("user", name, "p", json.dumps(policy))
        key = iam.create_key(name)
        keys[name] = (key.access_key_id, key.secret)
    engine.dispose()
    return keys
