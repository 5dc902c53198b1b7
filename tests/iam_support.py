"""An IAM service and key ring over a real store in a temporary data dir, on a clock the test moves."""

from __future__ import annotations

import json
from pathlib import Path

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
