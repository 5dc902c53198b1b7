"""The dependency graph: edges from Ref, Fn::GetAtt, Fn::Sub and DependsOn; Refs to nothing and cycles refused,
naming the resource and the property; waves that put each resource after what it depends on."""

from __future__ import annotations

from typing import Any

import pytest

from nimbus.deploy.graph import dependencies, dependents, waves
from nimbus.deploy.intrinsics import Scope
from nimbus.errors import ValidationError


def scope(resources: dict[str, Any]) -> Scope:
    return Scope({"Stage": "dev"}, {"AWS::Region": "us-east-1"}, resources=frozenset(resources))


RESOURCES: dict[str, Any] = {
    "Queue": {"Type": "AWS::SQS::Queue"},
    "Fn": {"Type": "F", "Properties": {"Env": {"Q": {"Ref": "Queue"}, "S": {"Ref": "Stage"}}}},
    "Mapping": {"Type": "M", "Properties": {"Source": {"Fn::GetAtt": ["Queue", "Arn"]}, "Fn": {"Ref": "Fn"}}},
    "Alarm": {"Type": "A", "Properties": {"Name": {"Fn::Sub": "${Fn}-${AWS::Region}"}}, "DependsOn": "Mapping"},
    "Topic": {"Type": "T", "Properties": {"Gone": {"Ref": "AWS::NoValue"}}},
}


def test_edges_and_waves() -> None:
    deps = dependencies(RESOURCES, scope(RESOURCES))
    assert deps == {"Queue": set(), "Fn": {"Queue"}, "Mapping": {"Queue", "Fn"}, "Alarm": {"Fn", "Mapping"},
                    "Topic": set()}  # fmt: skip
    assert waves(deps) == [["Queue", "Topic"], ["Fn"], ["Mapping"], ["Alarm"]]
    assert dependents(deps)["Queue"] == {"Fn", "Mapping"}


@pytest.mark.parametrize(
    ("resources", "says"),
    [
        (
            {"Fn": {"Type": "F", "Properties": {"Role": {"Fn::GetAtt": ["Role", "Arn"]}}}},
            "Resources.Fn.Properties.Role.Fn::GetAtt: Unresolved resource dependency [Role]",
        ),
        (
            {"Fn": {"Type": "F", "Properties": {"Env": {"A": {"Ref": "Ghost"}}}}},
            "Resources.Fn.Properties.Env.A.Ref: Unresolved resource dependency [Ghost]",
        ),
        ({"Fn": {"Type": "F", "DependsOn": ["Nope"]}}, "Resources.Fn.DependsOn: Unresolved resource dependency [Nope]"),
        (
            {
                "A": {"Type": "X", "Properties": {"B": {"Ref": "B"}}},
                "B": {"Type": "X", "Properties": {"A": {"Ref": "A"}}},
            },
            "Circular dependency between resources: [A, B]",
        ),
        (
            {
                "A": {"Type": "X", "DependsOn": "C"},
                "B": {"Type": "X", "DependsOn": "A"},
                "C": {"Type": "X", "Properties": {"P": {"Fn::Sub": "${B}"}}},
            },
            "Circular dependency between resources: [A, C, B]",
        ),
        ({"A": {"Type": "X", "Properties": {"Self": {"Ref": "A"}}}}, "Resources.A: a resource cannot depend on itself"),
    ],
)
def test_dangling_refs_and_cycles_are_refused_by_name(resources: dict[str, Any], says: str) -> None:
    with pytest.raises(ValidationError) as info:
        dependencies(resources, scope(resources))
    assert says in info.value.message
