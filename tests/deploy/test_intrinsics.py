"""Every intrinsic function and pseudo parameter over plain values, and their errors naming where they happened."""

from __future__ import annotations

from typing import Any

import pytest

from nimbus.deploy.intrinsics import Scope, references
from nimbus.errors import ValidationError

PSEUDO = {"AWS::Region": "eu-west-1", "AWS::AccountId": "123456789012", "AWS::StackName": "shop",
          "AWS::StackId": "arn:aws:cloudformation:eu-west-1:123456789012:stack/shop/1", "AWS::Partition": "aws",
          "AWS::URLSuffix": "amazonaws.com"}  # fmt: skip


def scope(**conditions: Any) -> Scope:
    return Scope(
        {"Stage": "prod", "Sizes": ["1", "2", "3"]},
        PSEUDO,
        {"Settings": {"prod": {"Memory": 512}}},
        condition_defs={
            "IsProd": {"Fn::Equals": [{"Ref": "Stage"}, "prod"]},
            "IsDev": {"Fn::Not": [{"Condition": "IsProd"}]},
        }
        | conditions,
        resources=frozenset({"Queue", "Fn"}),
        ref=lambda name: f"ref-of-{name}",
        att=lambda name, attr, where: f"{name}-{attr}",
        import_value=lambda name: f"exported-{name}",
    )


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ({"Ref": "Stage"}, "prod"),
        ({"Ref": "AWS::Region"}, "eu-west-1"),
        ({"Ref": "Queue"}, "ref-of-Queue"),
        ({"Fn::GetAtt": ["Queue", "Arn"]}, "Queue-Arn"),
        ({"Fn::GetAtt": "Queue.Arn"}, "Queue-Arn"),
        (
            {"Fn::Sub": "${AWS::StackName}-${Stage}-${Queue}-${Queue.Arn}-${!Literal}"},
            "shop-prod-ref-of-Queue-Queue-Arn-${Literal}",
        ),
        ({"Fn::Sub": ["${A}/${Stage}", {"A": {"Ref": "AWS::AccountId"}}]}, "123456789012/prod"),
        ({"Fn::Join": ["-", ["a", {"Ref": "Stage"}, 3]]}, "a-prod-3"),
        ({"Fn::Join": [",", {"Ref": "Sizes"}]}, "1,2,3"),
        ({"Fn::Select": [1, {"Ref": "Sizes"}]}, "2"),
        ({"Fn::Select": ["0", {"Fn::Split": ["/", "a/b"]}]}, "a"),
        ({"Fn::Split": [",", "x,y"]}, ["x", "y"]),
        ({"Fn::If": ["IsProd", "big", "small"]}, "big"),
        ({"Fn::If": ["IsDev", "big", "small"]}, "small"),
        ({"Fn::Equals": ["prod", {"Ref": "Stage"}]}, True),
        ({"Fn::And": [{"Condition": "IsProd"}, {"Fn::Equals": [1, "1"]}]}, True),
        ({"Fn::Or": [{"Condition": "IsDev"}, False]}, False),
        ({"Fn::Not": [{"Condition": "IsDev"}]}, True),
        ({"Fn::FindInMap": ["Settings", {"Ref": "Stage"}, "Memory"]}, 512),
        ({"Fn::Base64": "hi"}, "aGk="),
        ({"Fn::GetAZs": ""}, ["eu-west-1a", "eu-west-1b", "eu-west-1c"]),
        ({"Fn::ImportValue": {"Fn::Sub": "${Stage}-url"}}, "exported-prod-url"),
        ({"A": {"Ref": "AWS::NoValue"}, "B": [1, {"Ref": "AWS::NoValue"}, 2]}, {"B": [1, 2]}),
        ({"Env": {"Fn::If": ["IsDev", {"X": 1}, {"Ref": "AWS::NoValue"}]}, "Keep": 1}, {"Keep": 1}),
        ({"Ref": "AWS::URLSuffix"}, "amazonaws.com"),
    ],
)
def test_intrinsics(value: Any, expected: Any) -> None:
    assert scope().resolve(value, "Resources.Fn.Properties") == expected


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ({"Ref": "Nothing"}, "Resources.Fn.Properties.X.Ref: Unresolved resource dependency [Nothing]"),
        ({"Fn::GetAtt": ["Ghost", "Arn"]}, "Unresolved resource dependency [Ghost]"),
        ({"Fn::Sub": "${Ghost}"}, "Unresolved resource dependency [Ghost]"),
        ({"Fn::If": ["NoSuch", 1, 2]}, "Unresolved condition: 'NoSuch'"),
        ({"Fn::Select": [5, ["a"]]}, "index 5 is out of range"),
        ({"Fn::FindInMap": ["Settings", "dev", "Memory"]}, "Settings/dev/Memory is not in Mappings"),
        ({"Fn::Join": [",", [{"a": 1}]]}, "joins strings only"),
        ({"Fn::Transform": {}}, "Fn::Transform is not supported"),
        ({"Fn::Sub": ["${A}", "not a map"]}, "Fn::Sub takes a string"),
        ({"Fn::Sub": "${Sizes}"}, "is not a string"),
    ],
)
def test_errors_name_the_place(value: Any, says: str) -> None:
    with pytest.raises(ValidationError) as info:
        scope().resolve({"X": value}, "Resources.Fn.Properties")
    assert says in info.value.message
    assert "Resources.Fn.Properties.X" in info.value.message


def test_conditions_refer_to_conditions_and_cycles_are_refused() -> None:
    assert scope().evaluate_conditions() == {"IsProd": True, "IsDev": False}
    looping = scope(A={"Condition": "B"}, B={"Fn::Not": [{"Condition": "A"}]})
    with pytest.raises(ValidationError, match="depends on itself"):
        looping.evaluate_conditions()
    with pytest.raises(ValidationError, match="a condition must be a condition function"):
        scope(Bad="text").evaluate_conditions()


def test_references_follow_ref_getatt_sub_and_the_chosen_branch_only() -> None:
    value = {
        "A": {"Ref": "Queue"},
        "B": {"Fn::Sub": "${Fn.Arn}/${Stage}/${AWS::Region}/${!NotARef}"},
        "C": {"Fn::If": ["IsDev", {"Ref": "Other"}, "literal"]},
        "D": {"Fn::Sub": ["${Local}", {"Local": {"Fn::GetAtt": "Bucket.Arn"}}]},
    }
    found = sorted(references(value, "P", scope()))
    assert found == [("Bucket", "P.D.Fn::Sub.Local.Fn::GetAtt"), ("Fn", "P.B.Fn::Sub"), ("Queue", "P.A.Ref")]
