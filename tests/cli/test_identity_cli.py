"""`nimbus role create|list|delete`, `nimbus user create|list|delete` and `nimbus whoami`, run as a subprocess
against the session server, as a user would: the key printed once works, and deleting takes everything with it."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from cli_support import nimbus_runner
from test_cli import Run, _env, _ok, _one_line_error

from conftest import NIMBUS, ROOT, Server

ACCOUNT = "000000000000"
BASIC = "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"


@pytest.fixture
def run(server: Server) -> Run:
    return nimbus_runner(server.endpoint)


def policy_file(tmp_path: Path, action: str = "sqs:SendMessage") -> str:
    path = tmp_path / "policy.json"
    path.write_text(json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": action, "Resource": "*"}]}))  # fmt: skip
    return str(path)


def test_role_create_list_delete(run: Run, server: Server, tmp_path: Path) -> None:
    iam = server.client("iam")
    arn = _ok(run("role", "create", "cli-worker", "--policy", policy_file(tmp_path), "--managed",
                  "AWSLambdaBasicExecutionRole")).stdout.strip()  # fmt: skip
    assert arn == f"arn:aws:iam::{ACCOUNT}:role/cli-worker"
    role = iam.get_role(RoleName="cli-worker")["Role"]
    assert role["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {"Service": ["lambda.amazonaws.com"]}
    assert iam.list_role_policies(RoleName="cli-worker")["PolicyNames"] == ["nimbus-cli"]
    attached = iam.list_attached_role_policies(RoleName="cli-worker")["AttachedPolicies"]
    assert [a["PolicyArn"] for a in attached] == [BASIC]
    listed = _ok(run("role", "list")).stdout
    assert "cli-worker" in listed
    assert "lambda.amazonaws.com" in listed
    _ok(run("role", "delete", "cli-worker"))
    with pytest.raises(iam.exceptions.NoSuchEntityException):
        iam.get_role(RoleName="cli-worker")


def test_role_create_refusals_are_one_line(run: Run, tmp_path: Path) -> None:
    assert "no managed policy named NoSuchPolicy" in _one_line_error(run("role", "create", "cli-x", "--managed",
                                                                         "NoSuchPolicy"))  # fmt: skip
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    assert "is not JSON" in _one_line_error(run("role", "create", "cli-x", "--policy", str(bad)), code=2)
    assert "ValidationError" in _one_line_error(run("role", "create", "bad name"))
    assert "NoSuchEntity" in _one_line_error(run("role", "delete", "cli-no-such-role"))


def test_user_create_prints_a_working_key_once(run: Run, server: Server, tmp_path: Path) -> None:
    result = _ok(run("user", "create", "cli-deployer", "--policy", policy_file(tmp_path, "lambda:InvokeFunction")))
    exports = dict(line.removeprefix("export ").split("=", 1) for line in result.stdout.strip().splitlines())
    assert exports["AWS_ACCESS_KEY_ID"].startswith("AKIA")
    assert len(exports["AWS_SECRET_ACCESS_KEY"]) == 40
    assert "shown this once" in result.stderr
    try:
        env = _env(server.endpoint) | exports
        me = subprocess.run([*NIMBUS, "whoami"], capture_output=True, text=True, env=env, cwd=ROOT, timeout=120)
        assert _ok(me).stdout.strip() == f"arn:aws:iam::{ACCOUNT}:user/cli-deployer"
        listed = _ok(run("user", "list")).stdout
        assert exports["AWS_ACCESS_KEY_ID"] in listed
        assert exports["AWS_SECRET_ACCESS_KEY"] not in listed
    finally:
        _ok(run("user", "delete", "cli-deployer"))
    gone = subprocess.run([*NIMBUS, "whoami"], capture_output=True, text=True, env=env, cwd=ROOT, timeout=120)
    assert "InvalidClientTokenId" in _one_line_error(gone)


def test_whoami_as_root(run: Run) -> None:
    result = _ok(run("whoami"))
    assert result.stdout.strip() == f"arn:aws:iam::{ACCOUNT}:root"
    assert f"account {ACCOUNT}" in result.stderr


def test_whoami_with_a_session(run: Run, server: Server, tmp_path: Path) -> None:
    iam = server.client("iam")
    iam.create_user(UserName="cli-assumer")
    key = iam.create_access_key(UserName="cli-assumer")["AccessKey"]
    trust = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                        "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:user/cli-assumer"}}]})  # fmt: skip
    iam.create_role(RoleName="cli-assumed", AssumeRolePolicyDocument=trust)
    try:
        mine = server.client("sts", access_key=key["AccessKeyId"], secret_key=key["SecretAccessKey"])
        creds: dict[str, Any] = mine.assume_role(RoleArn=f"arn:aws:iam::{ACCOUNT}:role/cli-assumed",
                                                 RoleSessionName="cli-s")["Credentials"]  # fmt: skip
        env = _env(server.endpoint) | {"AWS_ACCESS_KEY_ID": creds["AccessKeyId"],
                                       "AWS_SECRET_ACCESS_KEY": creds["SecretAccessKey"],
                                       "AWS_SESSION_TOKEN": creds["SessionToken"]}  # fmt: skip
        me = subprocess.run([*NIMBUS, "whoami"], capture_output=True, text=True, env=env, cwd=ROOT, timeout=120)
        assert _ok(me).stdout.strip() == f"arn:aws:sts::{ACCOUNT}:assumed-role/cli-assumed/cli-s"
    finally:
        iam.delete_role(RoleName="cli-assumed")
        iam.delete_access_key(UserName="cli-assumer", AccessKeyId=key["AccessKeyId"])
        iam.delete_user(UserName="cli-assumer")

