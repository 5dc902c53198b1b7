"""The SDKs the runtimes include (`runtimes/sdk.py`): pinned as the project pins them, the Node.js clients the
issue lists, a lock file that agrees with its package.json, and what `make install` put in place matching the pins."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

import pytest

from nimbus.runtimes import sdk

ROOT = Path(__file__).resolve().parents[2]
CLIENTS = {"client-lambda", "client-sqs", "client-sns", "client-eventbridge", "client-scheduler", "client-sts",
           "client-s3", "client-dynamodb", "lib-dynamodb", "credential-providers"}  # fmt: skip


def _pins() -> dict[str, str]:
    lines = sdk.PYTHON_SDK_REQUIREMENTS.read_text().splitlines()
    return dict(line.split("==") for line in lines if line and not line.startswith("#"))


def test_boto3_and_botocore_are_pinned_as_the_project_pins_them() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    pinned = dict(d.split("==") for d in project if "==" in d)
    pins = _pins()
    assert pins["boto3"] == pinned["boto3"]
    assert pins["botocore"] == pinned["botocore"]
    assert all(re.fullmatch(r"[\w.]+", version) for version in pins.values())  # exact versions only


def test_the_node_sdk_has_the_clients_functions_use_most_pinned_and_locked() -> None:
    package = json.loads((sdk.NODE_SDK_PACKAGE / "package.json").read_text())
    lock = json.loads((sdk.NODE_SDK_PACKAGE / "package-lock.json").read_text())
    deps = package["dependencies"]
    assert {name.removeprefix("@aws-sdk/") for name in deps} == CLIENTS
    assert all(re.fullmatch(r"\d+\.\d+\.\d+", version) for version in deps.values())  # exact, no ranges
    for name, version in deps.items():
        assert lock["packages"][f"node_modules/{name}"]["version"] == version
    assert lock["packages"][""]["dependencies"] == deps


def test_what_make_install_put_in_place_matches_the_pins() -> None:
    installed = sdk.python_sdk()
    if installed is None:
        pytest.skip("the Python SDK is not installed here (make install)")
    infos = (re.fullmatch(r"(.+)-([^-]+)\.dist-info", p.name) for p in installed.glob("*.dist-info"))
    found = {m.group(1).replace("_", "-").lower(): m.group(2) for m in infos if m}
    assert found == {name.lower(): version for name, version in _pins().items()}
    modules = sdk.node_sdk()
    if modules is not None:
        for name, version in json.loads((sdk.NODE_SDK_PACKAGE / "package.json").read_text())["dependencies"].items():
            assert json.loads((modules / name / "package.json").read_text())["version"] == version
