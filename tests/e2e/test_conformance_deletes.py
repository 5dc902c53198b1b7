"""Conformance: every Delete* answers as AWS Lambda does (issue 17, section 4). Cleanup and destroy scripts rely
on these answers: a delete of something already gone succeeds where AWS says so, and is ResourceNotFound where
AWS says that.

Each test names the AWS behaviour it checks and the API reference section
(https://docs.aws.amazon.com/lambda/latest/api/). Driven through boto3.
"""

from __future__ import annotations

import uuid
from typing import Any

from e2e_support import ECHO, expect_error


def status(answer: dict[str, Any]) -> int:
    return int(answer["ResponseMetadata"]["HTTPStatusCode"])


def test_delete_alias_of_a_missing_alias_succeeds(lam: Any, create_function: Any, fn_name: str) -> None:
    """DeleteAlias: 204, and its errors list no ResourceNotFoundException: an alias that is not there is deleted
    (API reference: DeleteAlias, Errors)."""
    create_function(fn_name, {"app.py": ECHO})
    assert status(lam.delete_alias(FunctionName=fn_name, Name="never")) == 204
    lam.publish_version(FunctionName=fn_name)
    lam.create_alias(FunctionName=fn_name, Name="live", FunctionVersion="1")
    assert status(lam.delete_alias(FunctionName=fn_name, Name="live")) == 204
    assert status(lam.delete_alias(FunctionName=fn_name, Name="live")) == 204
    assert lam.list_aliases(FunctionName=fn_name)["Aliases"] == []


def test_delete_function_with_a_missing_version_succeeds(lam: Any, create_function: Any, fn_name: str) -> None:
    """DeleteFunction with a version qualifier that does not exist answers 204; the function stays; $LATEST is
    InvalidParameterValue; the unqualified function a second time is ResourceNotFound (API reference:
    DeleteFunction)."""
    create_function(fn_name, {"app.py": ECHO})
    lam.publish_version(FunctionName=fn_name)
    assert status(lam.delete_function(FunctionName=fn_name, Qualifier="42")) == 204
    assert status(lam.delete_function(FunctionName=fn_name, Qualifier="1")) == 204
    assert status(lam.delete_function(FunctionName=fn_name, Qualifier="1")) == 204
    versions = [v["Version"] for v in lam.list_versions_by_function(FunctionName=fn_name)["Versions"]]
    assert versions == ["$LATEST"]
    expect_error(lam.delete_function, "InvalidParameterValueException", 400, FunctionName=fn_name,
                 Qualifier="$LATEST")  # fmt: skip
    assert status(lam.delete_function(FunctionName=fn_name)) == 204
    expect_error(lam.delete_function, "ResourceNotFoundException", 404, FunctionName=fn_name)


def test_delete_provisioned_concurrency_with_none_succeeds(lam: Any, create_function: Any, fn_name: str) -> None:
    """DeleteProvisionedConcurrencyConfig: 204 when the version or alias has no configuration (its errors list no
    ProvisionedConcurrencyConfigNotFoundException); a missing version or alias is ResourceNotFound, $LATEST
    InvalidParameterValue (API reference: DeleteProvisionedConcurrencyConfig)."""
    create_function(fn_name, {"app.py": ECHO})
    lam.publish_version(FunctionName=fn_name)
    lam.create_alias(FunctionName=fn_name, Name="live", FunctionVersion="1")
    for qualifier in ("1", "live"):
        assert status(lam.delete_provisioned_concurrency_config(FunctionName=fn_name, Qualifier=qualifier)) == 204
    for qualifier in ("7", "gone"):
        expect_error(lam.delete_provisioned_concurrency_config, "ResourceNotFoundException", 404,
                     FunctionName=fn_name, Qualifier=qualifier)  # fmt: skip
    expect_error(lam.delete_provisioned_concurrency_config, "InvalidParameterValueException", 400,
                 FunctionName=fn_name, Qualifier="$LATEST")  # fmt: skip


def test_delete_function_concurrency_without_a_reservation_succeeds(
    lam: Any, create_function: Any, fn_name: str
) -> None:
    """DeleteFunctionConcurrency: 204 whether or not a reservation was set (API reference:
    DeleteFunctionConcurrency)."""
    create_function(fn_name, {"app.py": ECHO})
    assert status(lam.delete_function_concurrency(FunctionName=fn_name)) == 204
    lam.put_function_concurrency(FunctionName=fn_name, ReservedConcurrentExecutions=1)
    assert status(lam.delete_function_concurrency(FunctionName=fn_name)) == 204
    assert "ReservedConcurrentExecutions" not in lam.get_function_concurrency(FunctionName=fn_name)


def test_delete_layer_version_is_idempotent(lam: Any) -> None:
    """DeleteLayerVersion: 204, its errors list neither ResourceNotFound nor InvalidParameterValue for a missing
    version: deleting a version that is gone succeeds (API reference: DeleteLayerVersion)."""
    name = f"gone-{uuid.uuid4().hex[:8]}"
    assert status(lam.delete_layer_version(LayerName=name, VersionNumber=3)) == 204


def test_deletes_of_what_is_not_there_are_resource_not_found(lam: Any, create_function: Any, fn_name: str) -> None:
    """The deletes whose documented errors make a missing resource ResourceNotFound (404):
    DeleteFunctionEventInvokeConfig, DeleteFunctionUrlConfig, RemovePermission, DeleteEventSourceMapping and
    DeleteFunction of a missing function (API reference: each operation's Errors)."""
    create_function(fn_name, {"app.py": ECHO})
    expect_error(lam.delete_function_event_invoke_config, "ResourceNotFoundException", 404, FunctionName=fn_name)
    expect_error(lam.delete_function_url_config, "ResourceNotFoundException", 404, FunctionName=fn_name)
    expect_error(lam.remove_permission, "ResourceNotFoundException", 404, FunctionName=fn_name, StatementId="none")
    expect_error(lam.delete_event_source_mapping, "ResourceNotFoundException", 404, UUID=str(uuid.uuid4()))
    expect_error(lam.delete_function, "ResourceNotFoundException", 404, FunctionName=f"{fn_name}-missing")
