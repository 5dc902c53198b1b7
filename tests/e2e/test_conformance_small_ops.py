"""Conformance: the small operations tools call after every create (issue 17, section 6): recursion config,
code signing config and runtime management config, answered as AWS Lambda answers them, kept across a restart
where they are kept, and their inputs checked against the service model.

Each test names the AWS behaviour it checks and the API reference section
(https://docs.aws.amazon.com/lambda/latest/api/). Driven through boto3 (parameter validation off where the
server's own validation is the point) and the AWS CLI.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from e2e_support import ECHO, arn, aws_cli, expect_error, make_zip, raw_client, start_server

RUNTIME_ARN = "arn:aws:lambda:us-east-1::runtime:0123456789abcdef"
CSC_ARN = "arn:aws:lambda:us-east-1:000000000000:code-signing-config:csc-0123456789abcdefg"


def test_recursion_config_defaults_to_terminate_and_is_kept(lam: Any, create_function: Any, fn_name: str) -> None:
    """GetFunctionRecursionConfig: "By default, Lambda sets your function's configuration to Terminate";
    PutFunctionRecursionConfig sets Allow or Terminate and answers the value (API reference:
    GetFunctionRecursionConfig, PutFunctionRecursionConfig)."""
    create_function(fn_name, {"app.py": ECHO})
    assert lam.get_function_recursion_config(FunctionName=fn_name)["RecursiveLoop"] == "Terminate"
    assert lam.put_function_recursion_config(FunctionName=fn_name, RecursiveLoop="Allow")["RecursiveLoop"] == "Allow"
    assert lam.get_function_recursion_config(FunctionName=arn(fn_name))["RecursiveLoop"] == "Allow"
    # a setting beside the configuration: no new version for it
    lam.publish_version(FunctionName=fn_name)
    lam.put_function_recursion_config(FunctionName=fn_name, RecursiveLoop="Terminate")
    assert lam.publish_version(FunctionName=fn_name)["Version"] == "1"


def test_recursion_config_inputs_checked_by_the_model(server: Any, create_function: Any, fn_name: str) -> None:
    """RecursiveLoop is an enum (Allow | Terminate) and FunctionName an unqualified name: a value outside is a
    ValidationException; a missing function ResourceNotFoundException (API reference: PutFunctionRecursionConfig,
    Errors; botocore's model)."""
    create_function(fn_name, {"app.py": ECHO})
    raw = raw_client(server)
    error = expect_error(raw.put_function_recursion_config, "ValidationException", 400, FunctionName=fn_name,
                         RecursiveLoop="Sometimes")  # fmt: skip
    assert "Member must satisfy enum value set: [Allow, Terminate]" in str(error)
    expect_error(raw.get_function_recursion_config, "ValidationException", 400, FunctionName=f"{fn_name}:1")
    expect_error(raw.get_function_recursion_config, "ResourceNotFoundException", 404, FunctionName=f"{fn_name}-x")


def test_function_code_signing_config_is_empty(lam: Any, create_function: Any, fn_name: str) -> None:
    """GetFunctionCodeSigningConfig of a function without one answers CodeSigningConfigArn "" and the function's
    name (what Terraform reads after every create); DeleteFunctionCodeSigningConfig answers 204;
    PutFunctionCodeSigningConfig of a configuration that does not exist is CodeSigningConfigNotFoundException,
    and Nimbus has none; ListCodeSigningConfigs is empty (API reference: GetFunctionCodeSigningConfig,
    DeleteFunctionCodeSigningConfig, PutFunctionCodeSigningConfig, ListCodeSigningConfigs)."""
    create_function(fn_name, {"app.py": ECHO})
    got = lam.get_function_code_signing_config(FunctionName=fn_name)
    assert (got["CodeSigningConfigArn"], got["FunctionName"]) == ("", fn_name)
    deleted = lam.delete_function_code_signing_config(FunctionName=fn_name)
    assert deleted["ResponseMetadata"]["HTTPStatusCode"] == 204
    expect_error(lam.put_function_code_signing_config, "CodeSigningConfigNotFoundException", 404,
                 FunctionName=fn_name, CodeSigningConfigArn=CSC_ARN)  # fmt: skip
    assert lam.list_code_signing_configs()["CodeSigningConfigs"] == []
    expect_error(lam.get_code_signing_config, "ResourceNotFoundException", 404, CodeSigningConfigArn=CSC_ARN)
    expect_error(lam.list_functions_by_code_signing_config, "ResourceNotFoundException", 404,
                 CodeSigningConfigArn=CSC_ARN)  # fmt: skip
    expect_error(lam.get_function_code_signing_config, "ResourceNotFoundException", 404,
                 FunctionName=f"{fn_name}-none")  # fmt: skip


def test_runtime_management_config(lam: Any, create_function: Any, fn_name: str) -> None:
    """GetRuntimeManagementConfig: UpdateRuntimeOn Auto by default, RuntimeVersionArn only in Manual mode, and the
    function's ARN; PutRuntimeManagementConfig sets it per version ($LATEST by default) and answers the same
    shape (API reference: GetRuntimeManagementConfig, PutRuntimeManagementConfig)."""
    create_function(fn_name, {"app.py": ECHO})
    lam.publish_version(FunctionName=fn_name)
    got = lam.get_runtime_management_config(FunctionName=fn_name)
    assert (got["UpdateRuntimeOn"], got["FunctionArn"]) == ("Auto", arn(fn_name))
    assert "RuntimeVersionArn" not in got
    put = lam.put_runtime_management_config(FunctionName=fn_name, UpdateRuntimeOn="Manual",
                                            RuntimeVersionArn=RUNTIME_ARN)  # fmt: skip
    assert (put["UpdateRuntimeOn"], put["RuntimeVersionArn"], put["FunctionArn"]) == (
        "Manual", RUNTIME_ARN, arn(fn_name),
    )  # fmt: skip
    assert lam.get_runtime_management_config(FunctionName=fn_name)["RuntimeVersionArn"] == RUNTIME_ARN
    assert lam.get_runtime_management_config(FunctionName=fn_name, Qualifier="1")["UpdateRuntimeOn"] == "Auto"
    lam.put_runtime_management_config(FunctionName=fn_name, Qualifier="1", UpdateRuntimeOn="FunctionUpdate")
    version = lam.get_runtime_management_config(FunctionName=fn_name, Qualifier="1")
    assert (version["UpdateRuntimeOn"], version["FunctionArn"]) == ("FunctionUpdate", f"{arn(fn_name)}:1")
    assert lam.get_runtime_management_config(FunctionName=fn_name)["UpdateRuntimeOn"] == "Manual"
    expect_error(lam.get_runtime_management_config, "ResourceNotFoundException", 404, FunctionName=fn_name,
                 Qualifier="7")  # fmt: skip


def test_runtime_management_inputs_checked(server: Any, create_function: Any, fn_name: str) -> None:
    """UpdateRuntimeOn is an enum (Auto | Manual | FunctionUpdate) and RuntimeVersionArn has the model's pattern
    (ValidationException); Manual needs a RuntimeVersionArn and only Manual takes one (InvalidParameterValue)
    (API reference: PutRuntimeManagementConfig)."""
    create_function(fn_name, {"app.py": ECHO})
    raw = raw_client(server)
    expect_error(raw.put_runtime_management_config, "ValidationException", 400, FunctionName=fn_name,
                 UpdateRuntimeOn="Sometimes")  # fmt: skip
    expect_error(raw.put_runtime_management_config, "ValidationException", 400, FunctionName=fn_name,
                 UpdateRuntimeOn="Manual", RuntimeVersionArn="not-an-arn-but-long-enough-26")  # fmt: skip
    expect_error(raw.put_runtime_management_config, "InvalidParameterValueException", 400, FunctionName=fn_name,
                 UpdateRuntimeOn="Manual")  # fmt: skip
    expect_error(raw.put_runtime_management_config, "InvalidParameterValueException", 400, FunctionName=fn_name,
                 UpdateRuntimeOn="Auto", RuntimeVersionArn=RUNTIME_ARN)  # fmt: skip


def test_settings_survive_a_restart_and_read_by_the_aws_cli(tmp_path: Path) -> None:
    """The recursion and runtime management settings are kept with the function: a restarted server answers
    them as set (API reference: PutFunctionRecursionConfig, PutRuntimeManagementConfig); the AWS CLI reads them."""
    data = tmp_path / "data"
    srv = start_server(data)
    try:
        lam = srv.client("lambda")
        lam.create_function(FunctionName="kept", Runtime="python3.11", Handler="app.handler",
                            Role="arn:aws:iam::000000000000:role/r",
                            Code={"ZipFile": make_zip({"app.py": ECHO})})  # fmt: skip
        lam.put_function_recursion_config(FunctionName="kept", RecursiveLoop="Allow")
        lam.put_runtime_management_config(FunctionName="kept", UpdateRuntimeOn="FunctionUpdate")
    finally:
        srv.stop()
    srv = start_server(data)
    try:
        lam = srv.client("lambda")
        assert lam.get_function_recursion_config(FunctionName="kept")["RecursiveLoop"] == "Allow"
        assert lam.get_runtime_management_config(FunctionName="kept")["UpdateRuntimeOn"] == "FunctionUpdate"
        out = aws_cli(srv, "lambda", "get-function-code-signing-config", "--function-name", "kept")
        assert json.loads(out.stdout) == {"CodeSigningConfigArn": "", "FunctionName": "kept"}
        out = aws_cli(srv, "lambda", "get-function-recursion-config", "--function-name", "kept")
        assert json.loads(out.stdout) == {"RecursiveLoop": "Allow"}
    finally:
        srv.stop()
