"""A function's execution role: trusted by Lambda, refused when it is not, accepted with one warning when the ARN
names no role."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import pytest

from iam_support import ACCOUNT, LAMBDA_TRUST, open_iam
from nimbus.clock import FakeClock
from nimbus.control.execution_roles import CANNOT_ASSUME, ExecutionRoles
from nimbus.errors import InvalidParameterValue

EC2_TRUST = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]})  # fmt: skip
DENY_LAMBDA = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"},
    {"Effect": "Deny", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]})  # fmt: skip


def role(name: str) -> str:
    return f"arn:aws:iam::{ACCOUNT}:role/{name}"


def test_only_a_role_lambda_may_assume_is_taken(tmp_path: Path) -> None:
    iam = open_iam(tmp_path, FakeClock(time.time()))
    for name, trust in (("exec", LAMBDA_TRUST), ("ec2", EC2_TRUST), ("denied", DENY_LAMBDA)):
        iam.create_role(name, trust)
    roles = ExecutionRoles(iam, ACCOUNT)
    roles.check("fn", role("exec"))
    for name in ("ec2", "denied"):
        with pytest.raises(InvalidParameterValue) as caught:
            roles.check("fn", role(name))
        assert caught.value.message == CANNOT_ASSUME == "The role defined for the function cannot be assumed by Lambda."


def test_an_arn_naming_no_role_is_taken_with_one_warning_per_function(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    roles = ExecutionRoles(open_iam(tmp_path, FakeClock(time.time())), ACCOUNT)
    with caplog.at_level(logging.WARNING, logger="nimbus.control"):
        for _ in range(3):
            roles.check("fn", role("ghost"))
        roles.check("other", role("ghost"))
    warned = [r.getMessage() for r in caplog.records if "names no role" in r.getMessage()]
    assert len(warned) == 2
    assert warned[0].startswith(f"function fn: its role {role('ghost')} names no role")
    assert ExecutionRoles(None, ACCOUNT).check("fn", role("any")) is None  # no IAM at all: nothing to refuse
