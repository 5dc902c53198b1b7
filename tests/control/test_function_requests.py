"""The configuration rules of CreateFunction and UpdateFunction* (`control/function_requests.py`), as pure checks:
each refusal is the error Lambda answers with, and what passes is what gets stored."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from nimbus.control import function_requests as fr
from nimbus.control.records import new_config
from nimbus.errors import InvalidParameterValue, NimbusError, ValidationError

ROLE = "arn:aws:iam::000000000000:role/r"


def installed(name: str) -> None:
    if name != "python3.12":
        raise InvalidParameterValue(f"runtime {name} is not installed")


def no_layers(arns: Any) -> list[dict[str, Any]]:
    if arns:
        raise InvalidParameterValue("no such layer")
    return []


def config(body: dict[str, Any]) -> dict[str, Any]:
    return fr.function_config(body, new_config("f"), installed, no_layers, run_foreign_architecture=True)


def test_function_config_applies_checked_fields_over_the_base() -> None:
    base = new_config("f")
    out = config({"Runtime": "python3.12", "Handler": "app.handler", "MemorySize": 512, "Role": ROLE,
                  "Environment": {"Variables": {"AB": "1"}}, "EphemeralStorage": {"Size": 1024},
                  "SnapStart": {"ApplyOn": "PublishedVersions"}, "Architectures": ["arm64"], "Layers": []})  # fmt: skip
    assert (out["Runtime"], out["Handler"], out["MemorySize"], out["Role"]) == ("python3.12", "app.handler", 512, ROLE)
    assert out["Environment"] == {"Variables": {"AB": "1"}}
    assert out["EphemeralStorage"] == {"Size": 1024}
    assert out["SnapStart"] == {"ApplyOn": "PublishedVersions", "OptimizationStatus": "Off"}
    assert out["Architectures"] == ["arm64"]
    assert "Layers" not in out, "an empty Layers list detaches them all"
    assert base == new_config("f"), "the base is not changed"


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({"Runtime": 3}, InvalidParameterValue),
        ({"Runtime": "cobol"}, InvalidParameterValue),
        ({"MemorySize": 64}, ValidationError),
        ({"MemorySize": True}, InvalidParameterValue),
        ({"Timeout": 901}, ValidationError),
        ({"Handler": "a b"}, ValidationError),
        ({"Role": "nope"}, ValidationError),
        ({"Architectures": ["x86_64", "arm64"]}, InvalidParameterValue),
        ({"PackageType": "Image"}, InvalidParameterValue),
        ({"Layers": ["arn"]}, InvalidParameterValue),
        ({"Environment": {"Variables": {"AWS_REGION": "x"}}}, InvalidParameterValue),
    ],
)
def test_function_config_refusals(body: dict[str, Any], error: type[NimbusError]) -> None:
    with pytest.raises(error):
        config(body)


def test_create_request_needs_role_code_runtime_and_handler() -> None:
    body = {"FunctionName": "f", "Role": ROLE, "Code": {}, "Runtime": "python3.12", "Handler": "a.b"}
    assert fr.create_request(body) == "f"
    for missing in ("Role", "Code", "Runtime", "Handler"):
        with pytest.raises(InvalidParameterValue, match="required"):
            fr.create_request({k: x for k, x in body.items() if k != missing})
    for name in ("x" * 65, "a.b", f"arn:aws:lambda:us-east-1:000000000000:function:{'x' * 65}"):
        with pytest.raises(InvalidParameterValue):  # the model takes them (up to 140): a service rule refuses
            fr.create_request(body | {"FunctionName": name})


def test_zip_file() -> None:
    assert fr.zip_file({"ZipFile": base64.b64encode(b"PK..").decode()}) == b"PK.."
    for code, message in [
        ("zip", "must be an object"),
        ({}, "ZipFile is required"),
        ({"S3Bucket": "b", "S3Key": "k"}, "no S3"),
        ({"ZipFile": "%%%"}, "base64"),
    ]:
        with pytest.raises(InvalidParameterValue, match=message):
            fr.zip_file(code)
