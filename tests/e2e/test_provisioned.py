"""Provisioned concurrency through boto3: configs per version and alias, Status IN_PROGRESS → READY from the
instance manager's ready count, instances kept initialised and used first, configs gone with their function."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from botocore.exceptions import ClientError

INIT_COUNTER = """
import os
INIT_PID = os.getpid()
INIT_TYPE = os.environ.get("AWS_LAMBDA_INITIALIZATION_TYPE")
def handler(event, context):
    return {"init_type": INIT_TYPE}
"""


def wait_ready(lam: Any, name: str, qualifier: str, timeout: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        cfg = lam.get_provisioned_concurrency_config(FunctionName=name, Qualifier=qualifier)
        if cfg["Status"] == "READY" or time.monotonic() > deadline:
            return cfg  # type: ignore[no-any-return]
        time.sleep(0.2)


def test_provisioned_lifecycle(lam: Any, create_function: Any, fn_name: str) -> None:
    create_function(fn_name, {"app.py": INIT_COUNTER})
    version = lam.publish_version(FunctionName=fn_name)["Version"]
    put = lam.put_provisioned_concurrency_config(
        FunctionName=fn_name, Qualifier=version, ProvisionedConcurrentExecutions=2
    )
    assert put["ResponseMetadata"]["HTTPStatusCode"] == 202
    assert put["RequestedProvisionedConcurrentExecutions"] == 2
    assert put["Status"] in ("IN_PROGRESS", "READY")
    cfg = wait_ready(lam, fn_name, version)
    assert cfg["Status"] == "READY", cfg
    assert cfg["AllocatedProvisionedConcurrentExecutions"] == 2
    assert cfg["AvailableProvisionedConcurrentExecutions"] == 2

    out = json.load(lam.invoke(FunctionName=fn_name, Qualifier=version, Payload=b"{}")["Payload"])
    assert out == {"init_type": "provisioned-concurrency"}, "provisioned instances are used first"
    listed = lam.list_provisioned_concurrency_configs(FunctionName=fn_name)["ProvisionedConcurrencyConfigs"]
    assert [c["FunctionArn"].rsplit(":", 1)[1] for c in listed] == [version]

    lam.delete_provisioned_concurrency_config(FunctionName=fn_name, Qualifier=version)
    with pytest.raises(ClientError) as err:
        lam.get_provisioned_concurrency_config(FunctionName=fn_name, Qualifier=version)
    assert err.value.response["Error"]["Code"] == "ProvisionedConcurrencyConfigNotFoundException"
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


def test_provisioned_on_an_alias(lam: Any, create_function: Any, fn_name: str) -> None:
    create_function(fn_name, {"app.py": INIT_COUNTER})
    version = lam.publish_version(FunctionName=fn_name)["Version"]
    lam.create_alias(FunctionName=fn_name, Name="live", FunctionVersion=version)
    lam.put_provisioned_concurrency_config(FunctionName=fn_name, Qualifier="live", ProvisionedConcurrentExecutions=1)
    assert wait_ready(lam, fn_name, "live")["Status"] == "READY"
    with pytest.raises(ClientError) as err:  # the alias's version cannot get its own config as well
        lam.put_provisioned_concurrency_config(
            FunctionName=fn_name, Qualifier=version, ProvisionedConcurrentExecutions=1
        )
    assert err.value.response["Error"]["Code"] == "ResourceConflictException"
    out = json.load(lam.invoke(FunctionName=fn_name, Qualifier="live", Payload=b"{}")["Payload"])
    assert out == {"init_type": "provisioned-concurrency"}


def test_provisioned_refusals(server: Any, lam: Any, create_function: Any, fn_name: str) -> None:
    from e2e_support import raw_client

    raw = raw_client(server)  # botocore would refuse a count of 0 before sending it
    create_function(fn_name, {"app.py": INIT_COUNTER})
    lam.publish_version(FunctionName=fn_name)
    for qualifier, count, code in (
        ("$LATEST", 1, "InvalidParameterValueException"),
        ("9", 1, "ResourceNotFoundException"),
        ("1", 0, "ValidationException"),  # the model's PositiveInteger (min 1) refuses it
    ):
        with pytest.raises(ClientError) as err:
            raw.put_provisioned_concurrency_config(
                FunctionName=fn_name, Qualifier=qualifier, ProvisionedConcurrentExecutions=count
            )
        assert err.value.response["Error"]["Code"] == code, (qualifier, count)
    with pytest.raises(ClientError) as err:
        lam.get_provisioned_concurrency_config(FunctionName=fn_name, Qualifier="1")
    assert err.value.response["Error"]["Code"] == "ProvisionedConcurrencyConfigNotFoundException"


def test_deleting_the_function_drops_its_configs(lam: Any, fn_name: str) -> None:
    from e2e_support import ROLE, make_zip

    lam.create_function(FunctionName=fn_name, Runtime="python3.11", Role=ROLE, Handler="app.handler",
                        Code={"ZipFile": make_zip({"app.py": INIT_COUNTER})}, Publish=True)  # fmt: skip
    lam.put_provisioned_concurrency_config(FunctionName=fn_name, Qualifier="1", ProvisionedConcurrentExecutions=1)
    lam.delete_function(FunctionName=fn_name)
    lam.create_function(FunctionName=fn_name, Runtime="python3.11", Role=ROLE, Handler="app.handler",
                        Code={"ZipFile": make_zip({"app.py": INIT_COUNTER})}, Publish=True)  # fmt: skip
    try:
        assert lam.list_provisioned_concurrency_configs(FunctionName=fn_name)["ProvisionedConcurrencyConfigs"] == []
    finally:
        lam.delete_function(FunctionName=fn_name)
