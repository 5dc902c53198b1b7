"""Conformance: response shapes as AWS Lambda sends them (issue 17, section 5): keys AWS leaves out are left
out, keys AWS includes are there, ARNs qualified exactly as AWS qualifies them, and not-found answers with AWS's
codes and only the keys AWS puts in an error body.

Each test names the AWS behaviour it checks and the API reference section
(https://docs.aws.amazon.com/lambda/latest/api/). Driven through boto3.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from e2e_support import ECHO, arn, expect_error, make_zip


def test_create_function_answer(lam: Any, create_function: Any, fn_name: str) -> None:
    """CreateFunction answers the function Pending with StateReason "The function is being created." and
    StateReasonCode Creating, and without LastUpdateStatus (no update has run); with no Environment set there is
    no Environment key, there nor in later reads (API reference: CreateFunction, FunctionConfiguration)."""
    created = create_function(fn_name, {"app.py": ECHO})
    assert (created["State"], created["StateReason"], created["StateReasonCode"]) == (
        "Pending", "The function is being created.", "Creating",
    )  # fmt: skip
    assert "LastUpdateStatus" not in created
    assert "Environment" not in created
    active = lam.get_function(FunctionName=fn_name)["Configuration"]
    assert (active["State"], active["LastUpdateStatus"]) == ("Active", "Successful")
    for key in ("Environment", "StateReason", "StateReasonCode", "LastUpdateStatusReason"):
        assert key not in active, key
    listed = [f for f in lam.list_functions()["Functions"] if f["FunctionName"] == fn_name]
    assert len(listed) == 1
    assert "Environment" not in listed[0]
    lam.update_function_configuration(FunctionName=fn_name, Environment={"Variables": {"AB": "1"}})
    assert lam.get_function_configuration(FunctionName=fn_name)["Environment"] == {"Variables": {"AB": "1"}}


def test_update_answers_in_progress_with_its_reason(lam: Any, create_function: Any, fn_name: str) -> None:
    """UpdateFunctionCode and UpdateFunctionConfiguration answer LastUpdateStatus InProgress with
    LastUpdateStatusReason "The function is being created." and LastUpdateStatusReasonCode Creating; once it
    completes the reason keys are gone (API reference: UpdateFunctionCode, FunctionConfiguration)."""
    create_function(fn_name, {"app.py": ECHO})
    for answer in (
        lam.update_function_configuration(FunctionName=fn_name, Timeout=5),
        lam.update_function_code(FunctionName=fn_name, ZipFile=make_zip({"app.py": ECHO + "\n"})),
    ):
        assert answer["LastUpdateStatus"] == "InProgress"
        assert answer["LastUpdateStatusReason"] == "The function is being created."
        assert answer["LastUpdateStatusReasonCode"] == "Creating"
    done = lam.get_function_configuration(FunctionName=fn_name)
    assert done["LastUpdateStatus"] == "Successful"
    assert "LastUpdateStatusReason" not in done


def test_version_listing_leaves_out_state(lam: Any, create_function: Any, fn_name: str) -> None:
    """ListVersionsByFunction items carry no State, LastUpdateStatus nor RuntimeVersionConfig, as ListFunctions'
    (API reference: ListVersionsByFunction); GetFunctionConfiguration of a version has them."""
    create_function(fn_name, {"app.py": ECHO})
    lam.publish_version(FunctionName=fn_name)
    items = lam.list_versions_by_function(FunctionName=fn_name)["Versions"]
    assert [i["FunctionArn"] for i in items] == [f"{arn(fn_name)}:$LATEST", f"{arn(fn_name)}:1"]
    for item in items:
        for key in ("State", "LastUpdateStatus", "RuntimeVersionConfig"):
            assert key not in item, (item["Version"], key)
    version = lam.get_function_configuration(FunctionName=fn_name, Qualifier="1")
    assert version["State"] == "Active"


def test_dry_run_has_no_executed_version(lam: Any, create_function: Any, fn_name: str) -> None:
    """Invoke with InvocationType DryRun answers 204 and no X-Amz-Executed-Version: no version ran (API
    reference: Invoke, ExecutedVersion is "The version of the function that executed")."""
    create_function(fn_name, {"app.py": ECHO})
    answer = lam.invoke(FunctionName=fn_name, InvocationType="DryRun")
    assert answer["StatusCode"] == 204
    assert "ExecutedVersion" not in answer
    assert "x-amz-executed-version" not in answer["ResponseMetadata"]["HTTPHeaders"]


def test_function_arn_qualified_as_aws_qualifies_it(lam: Any, create_function: Any, fn_name: str) -> None:
    """FunctionArn: CreateFunction with Publish answers the unqualified ARN; GetFunction with Qualifier $LATEST
    and ListFunctions with FunctionVersion ALL name $LATEST by its qualified ARN (…:$LATEST); an unqualified
    GetFunction the unqualified one (API reference: CreateFunction, GetFunction, ListFunctions)."""
    created = create_function(fn_name, {"app.py": ECHO}, Publish=True)
    assert created["FunctionArn"] == arn(fn_name)
    assert created["Version"] == "1"
    assert lam.get_function(FunctionName=fn_name)["Configuration"]["FunctionArn"] == arn(fn_name)
    latest = lam.get_function(FunctionName=fn_name, Qualifier="$LATEST")["Configuration"]
    assert latest["FunctionArn"] == f"{arn(fn_name)}:$LATEST"
    assert lam.get_function_configuration(FunctionName=fn_name, Qualifier="1")["FunctionArn"] == f"{arn(fn_name)}:1"
    every: list[dict[str, Any]] = []
    for page in lam.get_paginator("list_functions").paginate(FunctionVersion="ALL"):
        every += [f for f in page["Functions"] if f["FunctionName"] == fn_name]
    assert [f["FunctionArn"] for f in every] == [f"{arn(fn_name)}:$LATEST", f"{arn(fn_name)}:1"]


def test_provisioned_concurrency_not_found_codes(lam: Any, create_function: Any, fn_name: str) -> None:
    """Provisioned concurrency of a missing version or alias is ResourceNotFoundException; of $LATEST
    InvalidParameterValueException; of a version without one ProvisionedConcurrencyConfigNotFoundException (API
    reference: GetProvisionedConcurrencyConfig, PutProvisionedConcurrencyConfig)."""
    create_function(fn_name, {"app.py": ECHO})
    lam.publish_version(FunctionName=fn_name)
    for qualifier in ("9", "nosuchalias"):
        expect_error(lam.get_provisioned_concurrency_config, "ResourceNotFoundException", 404,
                     FunctionName=fn_name, Qualifier=qualifier)  # fmt: skip
        expect_error(lam.put_provisioned_concurrency_config, "ResourceNotFoundException", 404,
                     FunctionName=fn_name, Qualifier=qualifier, ProvisionedConcurrentExecutions=1)  # fmt: skip
    expect_error(lam.get_provisioned_concurrency_config, "InvalidParameterValueException", 400,
                 FunctionName=fn_name, Qualifier="$LATEST")  # fmt: skip
    expect_error(lam.put_provisioned_concurrency_config, "InvalidParameterValueException", 400,
                 FunctionName=fn_name, Qualifier="$LATEST", ProvisionedConcurrentExecutions=1)  # fmt: skip
    expect_error(lam.get_provisioned_concurrency_config, "ProvisionedConcurrencyConfigNotFoundException", 404,
                 FunctionName=fn_name, Qualifier="1")  # fmt: skip


def test_layer_version_zero_is_a_bad_request(lam: Any) -> None:
    """A layer version number below 1 is a bad request (400 InvalidParameterValueException), not a missing
    version (API reference: GetLayerVersion)."""
    name = f"zero-{uuid.uuid4().hex[:8]}"
    lam.publish_layer_version(LayerName=name, Content={"ZipFile": make_zip({"python/x.py": "X = 1\n"})})
    expect_error(lam.get_layer_version, "InvalidParameterValueException", 400, LayerName=name, VersionNumber=0)
    expect_error(lam.get_layer_version, "ResourceNotFoundException", 404, LayerName=name, VersionNumber=2)
    lam.delete_layer_version(LayerName=name, VersionNumber=1)


def test_error_bodies_carry_only_aws_keys(lam: Any, create_function: Any, fn_name: str) -> None:
    """An error body is Type plus the message under the model's spelling: Message for ResourceNotFoundException,
    message for InvalidParameterValueException and ProvisionedConcurrencyConfigNotFoundException (API reference:
    Errors; botocore's service model)."""
    bodies: list[dict[str, Any]] = []

    def keep(http_response: Any, **_: Any) -> None:
        if http_response.status_code >= 300:
            bodies.append(json.loads(http_response.content))

    lam.meta.events.register("after-call.lambda", keep)
    create_function(fn_name, {"app.py": ECHO})
    lam.publish_version(FunctionName=fn_name)
    bodies.clear()
    expect_error(lam.get_function, "ResourceNotFoundException", 404, FunctionName=f"{fn_name}-none")
    expect_error(lam.get_provisioned_concurrency_config, "InvalidParameterValueException", 400,
                 FunctionName=fn_name, Qualifier="$LATEST")  # fmt: skip
    expect_error(lam.get_provisioned_concurrency_config, "ProvisionedConcurrencyConfigNotFoundException", 404,
                 FunctionName=fn_name, Qualifier="1")  # fmt: skip
    assert [sorted(b) for b in bodies] == [["Message", "Type"], ["Type", "message"], ["Type", "message"]]
