"""Create/Get/Update/Delete/ListFunctionUrlConfig(s) over the wire, with boto3 and the AWS CLI: Lambda's shapes,
status codes and error names, and every model limit at the limit and one past it."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import pytest
from e2e_support import ECHO, arn, aws_cli, expect_error, make_zip, raw_client

TIME_RE = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$"
CORS = {
    "AllowCredentials": True,
    "AllowHeaders": ["x-custom"],
    "AllowMethods": ["GET", "POST"],
    "AllowOrigins": ["https://example.com"],
    "ExposeHeaders": ["x-request-id"],
    "MaxAge": 300,
}


def url_re(port: int) -> str:
    return rf"^http://([a-z0-9]{{32}})\.lambda-url\.us-east-1\.localhost:{port}/$"


def _status(resp: dict[str, Any]) -> int:
    return int(resp["ResponseMetadata"]["HTTPStatusCode"])


@pytest.fixture
def fn(create_function: Callable[..., Any], fn_name: str) -> str:
    create_function(fn_name, {"app.py": ECHO})
    return fn_name


def test_lifecycle_shapes_and_statuses(server: Any, lam: Any, fn: str) -> None:
    created = lam.create_function_url_config(FunctionName=fn, AuthType="NONE", Cors=CORS)
    assert _status(created) == 201
    url = created["FunctionUrl"]
    url_id = re.fullmatch(url_re(server.port), url)
    assert url_id is not None, url
    assert created["FunctionArn"] == arn(fn)
    assert (created["AuthType"], created["Cors"], created["InvokeMode"]) == ("NONE", CORS, "BUFFERED")
    assert re.match(TIME_RE, created["CreationTime"])
    assert "LastModifiedTime" not in created

    got = lam.get_function_url_config(FunctionName=fn)
    assert _status(got) == 200
    assert (got["FunctionUrl"], got["CreationTime"], got["Cors"]) == (url, created["CreationTime"], CORS)
    assert re.match(TIME_RE, got["LastModifiedTime"])
    assert lam.get_function_url_config(FunctionName=fn, Qualifier="$LATEST")["FunctionUrl"] == url
    assert lam.get_function_url_config(FunctionName=arn(fn))["FunctionUrl"] == url

    updated = lam.update_function_url_config(FunctionName=fn, Cors={"AllowOrigins": ["*"]})
    assert _status(updated) == 200
    assert (updated["FunctionUrl"], updated["AuthType"], updated["Cors"]) == (url, "NONE", {"AllowOrigins": ["*"]})
    assert updated["CreationTime"] == created["CreationTime"]
    assert updated["LastModifiedTime"] >= got["LastModifiedTime"]
    iam = lam.update_function_url_config(FunctionName=fn, AuthType="AWS_IAM", InvokeMode="BUFFERED")
    assert (iam["AuthType"], iam["Cors"], iam["InvokeMode"]) == ("AWS_IAM", {"AllowOrigins": ["*"]}, "BUFFERED")

    listed = lam.list_function_url_configs(FunctionName=fn)
    assert [c["FunctionUrl"] for c in listed["FunctionUrlConfigs"]] == [url]
    assert "NextMarker" not in listed
    assert listed["FunctionUrlConfigs"][0]["AuthType"] == "AWS_IAM"

    assert _status(lam.delete_function_url_config(FunctionName=fn)) == 204
    missing = expect_error(lam.get_function_url_config, "ResourceNotFoundException", 404, FunctionName=fn)
    assert missing.response["Error"]["Message"] == "The resource you requested does not exist."
    expect_error(lam.delete_function_url_config, "ResourceNotFoundException", 404, FunctionName=fn)
    expect_error(lam.update_function_url_config, "ResourceNotFoundException", 404, FunctionName=fn, AuthType="NONE")
    assert lam.list_function_url_configs(FunctionName=fn)["FunctionUrlConfigs"] == []
    again = lam.create_function_url_config(FunctionName=fn, AuthType="NONE")
    assert again["FunctionUrl"] != url
    assert "Cors" not in again


def test_aliases_have_their_own_urls_and_versions_none(lam: Any, fn: str) -> None:
    lam.publish_version(FunctionName=fn)
    lam.create_alias(FunctionName=fn, Name="live", FunctionVersion="1")
    latest = lam.create_function_url_config(FunctionName=fn, AuthType="NONE")
    live = lam.create_function_url_config(FunctionName=fn, Qualifier="live", AuthType="AWS_IAM")
    assert live["FunctionArn"] == arn(fn) + ":live"
    assert live["FunctionUrl"] != latest["FunctionUrl"]
    assert lam.get_function_url_config(FunctionName=f"{fn}:live")["FunctionUrl"] == live["FunctionUrl"]
    listed = lam.list_function_url_configs(FunctionName=fn)["FunctionUrlConfigs"]
    assert [c["FunctionArn"] for c in listed] == [arn(fn), arn(fn) + ":live"]

    conflict = expect_error(
        lam.create_function_url_config, "ResourceConflictException", 409, FunctionName=fn, Qualifier="live",
        AuthType="NONE",
    )  # fmt: skip
    assert conflict.response["Error"]["Message"] == (
        f"Failed to create function url config for [functionArn = {arn(fn)}:live]. Error message:  "
        "FunctionUrlConfig exists for this Lambda function"
    )
    expect_error(lam.create_function_url_config, "ResourceConflictException", 409, FunctionName=fn, AuthType="NONE")
    bad = expect_error(
        lam.create_function_url_config, "ValidationException", 400, FunctionName=fn, Qualifier="1", AuthType="NONE"
    )
    assert "at 'qualifier' failed to satisfy constraint" in bad.response["Error"]["Message"]
    expect_error(lam.get_function_url_config, "ValidationException", 400, FunctionName=f"{fn}:1")
    expect_error(
        lam.create_function_url_config, "ResourceNotFoundException", 404, FunctionName=fn, Qualifier="nope",
        AuthType="NONE",
    )  # fmt: skip

    lam.delete_alias(FunctionName=fn, Name="live")
    expect_error(lam.get_function_url_config, "ResourceNotFoundException", 404, FunctionName=fn, Qualifier="live")
    assert len(lam.list_function_url_configs(FunctionName=fn)["FunctionUrlConfigs"]) == 1
    lam.delete_function(FunctionName=fn)
    lam.create_function(
        FunctionName=fn, Runtime="python3.11", Role="arn:aws:iam::000000000000:role/lambda-role",
        Handler="app.handler", Code={"ZipFile": make_zip({"app.py": ECHO})},
    )  # fmt: skip
    expect_error(lam.get_function_url_config, "ResourceNotFoundException", 404, FunctionName=fn)


def test_unknown_function_and_refusals(server: Any, lam: Any, fn: str) -> None:
    ghost = expect_error(lam.get_function_url_config, "ResourceNotFoundException", 404, FunctionName="no-such-fn")
    assert ghost.response["Error"]["Message"] == f"Function not found: {arn('no-such-fn')}"
    expect_error(lam.create_function_url_config, "ResourceNotFoundException", 404, FunctionName="no-such-fn",
                 AuthType="NONE")  # fmt: skip
    expect_error(lam.list_function_url_configs, "ResourceNotFoundException", 404, FunctionName="no-such-fn")
    stream = expect_error(
        lam.create_function_url_config, "InvalidParameterValueException", 400, FunctionName=fn, AuthType="NONE",
        InvokeMode="RESPONSE_STREAM",
    )  # fmt: skip
    assert "BUFFERED only" in stream.response["Error"]["Message"]
    raw = raw_client(server)
    bad = expect_error(raw.create_function_url_config, "ValidationException", 400, FunctionName=fn, AuthType="OPEN")
    assert bad.response["Error"]["Message"] == (
        "1 validation error detected: Value 'OPEN' at 'authType' failed to satisfy constraint: "
        "Member must satisfy enum value set: [NONE, AWS_IAM]"
    )
    expect_error(raw.create_function_url_config, "ValidationException", 400, FunctionName=fn)  # AuthType required
    expect_error(raw.create_function_url_config, "ValidationException", 400, FunctionName=fn, AuthType="NONE",
                 InvokeMode="STREAMED")  # fmt: skip
    lam.create_function_url_config(FunctionName=fn, AuthType="NONE")
    expect_error(
        lam.update_function_url_config, "InvalidParameterValueException", 400, FunctionName=fn,
        InvokeMode="RESPONSE_STREAM",
    )  # fmt: skip
    assert lam.get_function_url_config(FunctionName=fn)["InvokeMode"] == "BUFFERED"


@pytest.mark.parametrize(
    ("cors", "ok"),
    [
        ({"MaxAge": 86400}, True),
        ({"MaxAge": 86401}, False),
        ({"MaxAge": 0}, True),
        ({"MaxAge": -1}, False),
        ({"AllowOrigins": [f"https://o{i}.example" for i in range(100)]}, True),
        ({"AllowOrigins": [f"https://o{i}.example" for i in range(101)]}, False),
        ({"AllowOrigins": ["h" * 253]}, True),
        ({"AllowOrigins": ["h" * 254]}, False),
        ({"AllowOrigins": [""]}, False),
        ({"AllowMethods": ["GET", "PUT", "POST", "DELETE", "PATCH", "HEAD"]}, True),
        ({"AllowMethods": ["GET", "PUT", "POST", "DELETE", "PATCH", "HEAD", "*"]}, False),
        ({"AllowMethods": ["OPTIONS"]}, False),
        ({"AllowHeaders": [f"x-h{i}" for i in range(100)], "ExposeHeaders": ["e" * 1024]}, True),
        ({"AllowHeaders": [f"x-h{i}" for i in range(101)]}, False),
        ({"ExposeHeaders": [f"x-h{i}" for i in range(101)]}, False),
        ({"AllowHeaders": ["h" * 1025]}, False),
        ({"AllowCredentials": "yes"}, False),
    ],
)
def test_cors_limits(server: Any, lam: Any, fn: str, cors: dict[str, Any], ok: bool) -> None:
    raw = raw_client(server)
    if ok:
        assert raw.create_function_url_config(FunctionName=fn, AuthType="NONE", Cors=cors)["Cors"] == cors
        assert raw.update_function_url_config(FunctionName=fn, Cors=cors)["Cors"] == cors
        return
    error = expect_error(raw.create_function_url_config, "ValidationException", 400, FunctionName=fn,
                         AuthType="NONE", Cors=cors)  # fmt: skip
    assert "at 'cors." in error.response["Error"]["Message"]
    lam.create_function_url_config(FunctionName=fn, AuthType="NONE")
    expect_error(raw.update_function_url_config, "ValidationException", 400, FunctionName=fn, Cors=cors)
    assert "Cors" not in lam.get_function_url_config(FunctionName=fn)


def test_max_age_message_names_the_member(server: Any, fn: str) -> None:
    error = expect_error(raw_client(server).create_function_url_config, "ValidationException", 400,
                         FunctionName=fn, AuthType="NONE", Cors={"MaxAge": 86401})  # fmt: skip
    assert error.response["Error"]["Message"] == (
        "1 validation error detected: Value '86401' at 'cors.maxAge' failed to satisfy constraint: "
        "Member must have value less than or equal to 86400"
    )


def test_list_pages_and_max_items_limits(server: Any, lam: Any, fn: str) -> None:
    lam.publish_version(FunctionName=fn)
    for alias in ("a1", "a2"):
        lam.create_alias(FunctionName=fn, Name=alias, FunctionVersion="1")
        lam.create_function_url_config(FunctionName=fn, Qualifier=alias, AuthType="NONE")
    lam.create_function_url_config(FunctionName=fn, AuthType="NONE")
    first = lam.list_function_url_configs(FunctionName=fn, MaxItems=2)
    assert [c["FunctionArn"] for c in first["FunctionUrlConfigs"]] == [arn(fn), arn(fn) + ":a1"]
    second = lam.list_function_url_configs(FunctionName=fn, MaxItems=2, Marker=first["NextMarker"])
    assert [c["FunctionArn"] for c in second["FunctionUrlConfigs"]] == [arn(fn) + ":a2"]
    assert "NextMarker" not in second
    pages = lam.get_paginator("list_function_url_configs").paginate(FunctionName=fn, PaginationConfig={"PageSize": 1})
    assert len([c for p in pages for c in p["FunctionUrlConfigs"]]) == 3
    assert len(lam.list_function_url_configs(FunctionName=fn, MaxItems=50)["FunctionUrlConfigs"]) == 3
    raw = raw_client(server)
    for bad in (51, 0):
        expect_error(raw.list_function_url_configs, "ValidationException", 400, FunctionName=fn, MaxItems=bad)


def test_aws_cli_every_operation(server: Any, lam: Any, fn: str) -> None:
    created = json.loads(aws_cli(
        server, "lambda", "create-function-url-config", "--function-name", fn, "--auth-type", "NONE",
        "--cors", "AllowOrigins=https://example.com,AllowMethods=GET,MaxAge=60",
    ).stdout)  # fmt: skip
    assert re.fullmatch(url_re(server.port), created["FunctionUrl"])
    assert created["Cors"] == {"AllowOrigins": ["https://example.com"], "AllowMethods": ["GET"], "MaxAge": 60}
    got = json.loads(aws_cli(server, "lambda", "get-function-url-config", "--function-name", fn).stdout)
    assert got["FunctionUrl"] == created["FunctionUrl"]
    updated = json.loads(aws_cli(
        server, "lambda", "update-function-url-config", "--function-name", fn, "--auth-type", "AWS_IAM",
    ).stdout)  # fmt: skip
    assert (updated["AuthType"], updated["Cors"]["MaxAge"]) == ("AWS_IAM", 60)
    listed = json.loads(aws_cli(server, "lambda", "list-function-url-configs", "--function-name", fn).stdout)
    assert [c["FunctionUrl"] for c in listed["FunctionUrlConfigs"]] == [created["FunctionUrl"]]
    conflict = aws_cli(server, "lambda", "create-function-url-config", "--function-name", fn, "--auth-type", "NONE",
                       check=False)  # fmt: skip
    assert conflict.returncode != 0
    assert "ResourceConflictException" in conflict.stderr
    stream = aws_cli(server, "lambda", "update-function-url-config", "--function-name", fn, "--invoke-mode",
                     "RESPONSE_STREAM", check=False)  # fmt: skip
    assert "InvalidParameterValueException" in stream.stderr
    assert aws_cli(server, "lambda", "delete-function-url-config", "--function-name", fn).returncode == 0
    missing = aws_cli(server, "lambda", "get-function-url-config", "--function-name", fn, check=False)
    assert missing.returncode != 0
    assert "ResourceNotFoundException" in missing.stderr
    invalid = aws_cli(server, "lambda", "create-function-url-config", "--function-name", fn, "--auth-type",
                      "NONE", "--cors", "MaxAge=86401", check=False)  # fmt: skip
    assert "ValidationException" in invalid.stderr
