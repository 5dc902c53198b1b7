"""Lambda's single-value rules (function references, sizes, revisions, reserved concurrency, tags), as pure
checks: each refusal is the error Lambda answers with. A create or update body as a whole:
test_function_requests.py."""

from __future__ import annotations

from typing import Any

import pytest

from nimbus.control import validation as v
from nimbus.errors import InvalidParameterValue, PreconditionFailed, ResourceNotFound, ValidationError


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
