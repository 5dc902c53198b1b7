"""Parameters: types, defaults, AllowedValues, AllowedPattern, lengths and ranges at and past their limits, NoEcho,
and unknown or missing names refused by name."""

from __future__ import annotations

from typing import Any

import pytest

from nimbus.deploy.parameters import MASK, resolve_parameters
from nimbus.errors import ValidationError

DECLARED: dict[str, Any] = {
    "Stage": {"Type": "String", "Default": "dev", "AllowedValues": ["dev", "prod"]},
    "Memory": {"Type": "Number", "Default": 128, "MinValue": 128, "MaxValue": 10240},
    "Name": {
        "Type": "String",
        "MinLength": 2,
        "MaxLength": 5,
        "AllowedPattern": "[a-z]+",
        "ConstraintDescription": "is lower-case letters",
    },
    "Subnets": {"Type": "CommaDelimitedList", "Default": "a, b"},
    "Ports": {"Type": "List<Number>", "Default": "80,443"},
    "Secret": {"Type": "String", "NoEcho": True},
    "Vpc": {"Type": "AWS::EC2::VPC::Id", "Default": "vpc-1"},
}


def given(**values: str) -> dict[str, str]:
    return {"Name": "abc", "Secret": "s3cr3t"} | values


def test_defaults_lists_and_no_echo() -> None:
    params = resolve_parameters(DECLARED, given())
    assert params.values == {"Stage": "dev", "Memory": "128", "Name": "abc", "Subnets": ["a", "b"],
                             "Ports": ["80", "443"], "Secret": "s3cr3t", "Vpc": "vpc-1"}  # fmt: skip
    assert params.shown()["Secret"] == MASK
    assert params.shown()["Stage"] == "dev"


@pytest.mark.parametrize(
    ("values", "ok"),
    [
        ({"Memory": "128"}, True),
        ({"Memory": "127"}, False),
        ({"Memory": "10240"}, True),
        ({"Memory": "10241"}, False),
        ({"Name": "ab"}, True),
        ({"Name": "a"}, False),
        ({"Name": "abcde"}, True),
        ({"Name": "abcdef"}, False),
        ({"Name": "AB"}, False),
        ({"Stage": "prod"}, True),
        ({"Stage": "qa"}, False),
        ({"Memory": "lots"}, False),
        ({"Ports": "80,x"}, False),
    ],
)
def test_constraints_at_and_past_their_limits(values: dict[str, str], ok: bool) -> None:
    if ok:
        resolve_parameters(DECLARED, given(**values))
        return
    with pytest.raises(ValidationError) as info:
        resolve_parameters(DECLARED, given(**values))
    assert f"Parameter '{next(iter(values))}'" in info.value.message


def test_unknown_and_missing_parameters_are_refused_by_name() -> None:
    with pytest.raises(ValidationError, match=r"Parameters: \['Typo'\] do not exist in the template"):
        resolve_parameters(DECLARED, given(Typo="x"))
    with pytest.raises(ValidationError, match=r"Parameters: \['Name', 'Secret'\] must have values"):
        resolve_parameters(DECLARED, {})


def test_an_unknown_type_is_refused() -> None:
    with pytest.raises(ValidationError, match="Parameters: X: unknown Type 'Strin'"):
        resolve_parameters({"X": {"Type": "Strin", "Default": "a"}}, {})
