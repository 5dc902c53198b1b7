"""Conformance: limits Lambda enforces, each at the limit and one past it, with Lambda's code and message.

Driven through boto3 with client-side validation off, so the server is the one that refuses.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import pytest
from e2e_support import ECHO, ROLE, arn, expect_error, make_zip, raw_client
from versions_support import LayerPublisher

INVALID = "InvalidParameterValueException"
VALIDATION = "ValidationException"
TAG_LIMIT = "Number of tags exceeds resource tag limit."


@pytest.fixture(scope="module")
def raw(server: Any) -> Any:
    return raw_client(server)


def _tags(count: int, prefix: str = "k") -> dict[str, str]:
    return {f"{prefix}{i}": "v" for i in range(count)}


@pytest.fixture
def made(raw: Any, fn_name: str) -> Iterator[Any]:
    """Create functions (deleted at the end); returns the creator."""
    names: list[str] = []

    def create(name: str = fn_name, **kwargs: Any) -> dict[str, Any]:
        out = raw.create_function(FunctionName=name, Runtime="python3.11", Role=ROLE, Handler="app.handler",
                                  Code={"ZipFile": make_zip({"app.py": ECHO})}, **kwargs)  # fmt: skip
        names.append(name)
        return out  # type: ignore[no-any-return]

    yield create
    for name in names:
        with contextlib.suppress(raw.exceptions.ResourceNotFoundException):
            raw.delete_function(FunctionName=name)


def message(error: Any) -> str:
    return str(error.response["Error"]["Message"])


def test_fifty_tags_on_create_and_not_fifty_one(made: Any, raw: Any, fn_name: str) -> None:
    """Lambda quotas: 50 tags per resource. API reference, CreateFunction, Errors: InvalidParameterValueException."""
    e = expect_error(made, INVALID, 400, fn_name + "-51", Tags=_tags(51))
    assert message(e) == TAG_LIMIT
    made(fn_name, Tags=_tags(50))
    assert len(raw.list_tags(Resource=arn(fn_name))["Tags"]) == 50


def test_tag_resource_keeps_fifty_and_not_fifty_one(made: Any, raw: Any, fn_name: str) -> None:
    """API reference, TagResource, Errors: the function's tags together, at most 50."""
    made(fn_name, Tags=_tags(40))
    raw.tag_resource(Resource=arn(fn_name), Tags=_tags(10, "more"))  # 50
    raw.tag_resource(Resource=arn(fn_name), Tags={"k0": "changed"})  # an existing key adds none
    e = expect_error(raw.tag_resource, INVALID, 400, Resource=arn(fn_name), Tags={"one-more": "v"})
    assert message(e) == TAG_LIMIT
    assert len(raw.list_tags(Resource=arn(fn_name))["Tags"]) == 50


def test_tag_resource_needs_a_tag(made: Any, raw: Any, fn_name: str) -> None:
    """API reference, TagResource: an empty Tags map is refused (InvalidParameterValueException); one tag is fine."""
    made(fn_name)
    e = expect_error(raw.tag_resource, INVALID, 400, Resource=arn(fn_name), Tags={})
    assert message(e) == "An error occurred and the request cannot be processed."
    raw.tag_resource(Resource=arn(fn_name), Tags={"one": "v"})


def test_untag_resource_needs_a_key(made: Any, raw: Any, fn_name: str) -> None:
    """API reference, UntagResource, TagKeys (required): an empty list reaches the wire as no tagKeys at all."""
    made(fn_name, Tags={"a": "1"})
    e = expect_error(raw.untag_resource, VALIDATION, 400, Resource=arn(fn_name), TagKeys=[])
    assert message(e) == (
        "1 validation error detected: Value null at 'tagKeys' failed to satisfy constraint: Member must not be null"
    )
    raw.untag_resource(Resource=arn(fn_name), TagKeys=["a"])
    assert raw.list_tags(Resource=arn(fn_name))["Tags"] == {}


def test_reserved_concurrency_on_the_function_not_a_qualified_arn(made: Any, raw: Any, fn_name: str) -> None:
    """API reference, PutFunctionConcurrency: the unqualified function only (InvalidParameterValueException)."""
    made(fn_name, Publish=True)
    e = expect_error(raw.put_function_concurrency, INVALID, 400, FunctionName=f"{arn(fn_name)}:1",
                     ReservedConcurrentExecutions=1)  # fmt: skip
    assert message(e).startswith("This operation is permitted on Lambda functions only.")
    assert raw.put_function_concurrency(FunctionName=arn(fn_name), ReservedConcurrentExecutions=1)[
        "ReservedConcurrentExecutions"
    ] == 1
    raw.delete_function_concurrency(FunctionName=fn_name)


@pytest.fixture(scope="module")
def layer(raw: Any) -> Iterator[tuple[str, str, str]]:
    """Two versions of one layer and one version of another: (v1, v2, other)."""
    publish = LayerPublisher(raw)
    one = publish("t-conformance-layer-a", {"a.txt": "1"})["LayerVersionArn"]
    two = publish("t-conformance-layer-a", {"a.txt": "2"})["LayerVersionArn"]
    other = publish("t-conformance-layer-b", {"b.txt": "b"})["LayerVersionArn"]
    yield one, two, other
    publish.cleanup()


def test_one_version_of_a_layer_per_function(made: Any, layer: tuple[str, str, str], fn_name: str) -> None:
    """API reference, CreateFunction, Layers: two versions of the same layer are refused."""
    one, two, other = layer
    e = expect_error(made, INVALID, 400, fn_name + "-two", Layers=[one, two])
    assert message(e) == f"Two different versions of the same layer are not allowed. {one} and {two}."
    made(fn_name, Layers=[one, other])


def test_a_layer_of_another_region_is_refused(made: Any, layer: tuple[str, str, str], fn_name: str) -> None:
    """API reference, CreateFunction, Layers: layers of the function's region only."""
    one = layer[0]
    elsewhere = one.replace(":us-east-1:", ":eu-west-1:")
    e = expect_error(made, INVALID, 400, fn_name, Layers=[elsewhere])
    assert message(e) == (
        "Layers are not in the same region as the function. Layers are expected to be in region us-east-1."
    )
    missing = one.rpartition(":")[0] + ":999"
    e = expect_error(made, INVALID, 400, fn_name, Layers=[missing])
    assert message(e) == f"Layer version {missing} does not exist."


def test_a_layer_permission_grants_get_layer_version_only(raw: Any, layer: tuple[str, str, str]) -> None:
    """API reference, AddLayerVersionPermission, Action: pattern lambda:GetLayerVersion ("*" is refused)."""
    name, version = "t-conformance-layer-a", int(layer[0].rpartition(":")[2])
    e = expect_error(raw.add_layer_version_permission, VALIDATION, 400, LayerName=name, VersionNumber=version,
                     StatementId="all", Action="*", Principal="*")  # fmt: skip
    assert message(e) == (
        "1 validation error detected: Value '*' at 'action' failed to satisfy constraint: Member must satisfy "
        "regular expression pattern: lambda:GetLayerVersion"
    )
    raw.add_layer_version_permission(LayerName=name, VersionNumber=version, StatementId="get",
                                     Action="lambda:GetLayerVersion", Principal="*")  # fmt: skip
    raw.remove_layer_version_permission(LayerName=name, VersionNumber=version, StatementId="get")


def test_list_layers_filters_are_the_models_enums(raw: Any, layer: tuple[str, str, str]) -> None:
    """API reference, ListLayers: CompatibleRuntime and CompatibleArchitecture are enums."""
    e = expect_error(raw.list_layers, VALIDATION, 400, CompatibleRuntime="cobol")
    assert message(e).startswith(
        "1 validation error detected: Value 'cobol' at 'compatibleRuntime' failed to satisfy constraint: "
        "Member must satisfy enum value set: [nodejs, "
    ), message(e)
    e = expect_error(raw.list_layers, VALIDATION, 400, CompatibleArchitecture="sparc")
    assert message(e) == (
        "1 validation error detected: Value 'sparc' at 'compatibleArchitecture' failed to satisfy constraint: "
        "Member must satisfy enum value set: [x86_64, arm64]"
    )
    raw.list_layers(CompatibleRuntime="python3.11", CompatibleArchitecture="arm64")
