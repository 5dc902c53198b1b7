"""The configuration rules of CreateFunction and UpdateFunction*, as pure checks: each refusal is the error
Lambda answers with, and what passes is what gets stored."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from nimbus.control import function_requests as fr
from nimbus.control import validation as v
from nimbus.control.records import new_config
from nimbus.errors import InvalidParameterValue, NimbusError, PreconditionFailed, ResourceNotFound, ValidationError

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


def test_function_refs_as_lookups_resolve_them() -> None:
    """Lookups (API reference, GetFunction, Errors): a name no function can have is not found, not invalid; an
    ARN of another region is not reachable; what the model's pattern refuses is a ValidationException."""
    ref = v.parse_function_ref
    here = {"region": "us-east-1", "account": "000000000000"}
    assert ref("arn:aws:lambda:us-east-1:000000000000:function:f:live", **here) == v.FunctionRef("f", "live")
    assert ref("000000000000:function:f", **here, qualifier="$LATEST") == v.FunctionRef("f", "$LATEST")
    with pytest.raises(
        ResourceNotFound, match=r"Function not found: arn:aws:lambda:us-east-1:000000000000:function:x{65}$"
    ):
        ref("x" * 65, **here)
    with pytest.raises(
        ResourceNotFound, match=r"^Functions from 'eu-central-1' are not reachable in this region \('us-east-1'\)$"
    ):
        ref("arn:aws:lambda:eu-central-1:000000000000:function:f", **here)
    for bad in ("bad name", "f:$latest", "x" * 257):
        with pytest.raises(ValidationError, match="at 'functionName'"):
            ref(bad, **here)
    with pytest.raises(ValidationError, match="at 'qualifier'"):
        ref("f", **here, qualifier="a b")


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


def test_total_size_counts_layers() -> None:
    v.total_size(v.UNZIPPED_MAX - 10, [10])
    with pytest.raises(InvalidParameterValue, match=f"actual size is {v.UNZIPPED_MAX + 1} bytes"):
        v.total_size(v.UNZIPPED_MAX - 10, [10, 1])


def test_revision() -> None:
    v.revision("r1", None)
    v.revision("r1", "r1")
    with pytest.raises(PreconditionFailed, match="does not match the latest Revision Id"):
        v.revision("r1", "r0")


def test_reserved_concurrency_keeps_the_unreserved_minimum() -> None:
    v.reserved_concurrency(900, 0, 1000)
    with pytest.raises(InvalidParameterValue, match=r"minimum value of \[100\]"):
        v.reserved_concurrency(901, 0, 1000)
    v.reserved_concurrency(40, 5, 50)  # a limit under 1000 keeps a tenth of it: 5
    with pytest.raises(InvalidParameterValue, match=r"\[5\]"):
        v.reserved_concurrency(41, 5, 50)


def test_tags() -> None:
    assert v.check_tags({"a": "b", v.NETWORK_TAG: "none"}) == {"a": "b", v.NETWORK_TAG: "none"}
    bad: list[Any] = [[], {"a": 1}, {v.NETWORK_TAG: "bridge"}]
    for tags in bad:
        with pytest.raises(InvalidParameterValue):
            v.check_tags(tags)
