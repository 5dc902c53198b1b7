"""Template text -> dict: CloudFormation's short-form tags in their long form, JSON too, and refusals that name
the file and what is wrong (a syntax error's line, aliases, missing Resources, untyped resources)."""

from __future__ import annotations

import pytest

from nimbus.deploy.template import TEMPLATE_DEPTH_MAX, TEMPLATE_MAX, check_shape, is_sam, load_template
from nimbus.errors import ValidationError

SHORT_FORMS = """\
Transform: AWS::Serverless-2016-10-31
Resources:
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      A: !Ref Stage
      B: !GetAtt Queue.Arn
      C: !GetAtt [Queue, QueueName]
      D: !Sub "${AWS::StackName}-x"
      E: !Sub ["${X}", {X: !Ref Stage}]
      F: !Join [",", [a, !Ref Stage]]
      G: !If [IsProd, 1, !Ref AWS::NoValue]
      H: !Select [0, !Split [",", "a,b"]]
      I: !FindInMap [M, !Ref Stage, K]
      J: !Base64 text
      K: !GetAZs ""
      L: !ImportValue shared
      M: !Not [!Equals [a, b]]
      N: !And [!Condition IsProd, !Or [!Equals [1, 1]]]
"""


def test_short_forms_become_the_long_forms() -> None:
    doc = load_template(SHORT_FORMS)
    props = doc["Resources"]["Fn"]["Properties"]
    assert props["A"] == {"Ref": "Stage"}
    assert props["B"] == props["C"] | {"Fn::GetAtt": ["Queue", "Arn"]}
    assert props["C"] == {"Fn::GetAtt": ["Queue", "QueueName"]}
    assert props["D"] == {"Fn::Sub": "${AWS::StackName}-x"}
    assert props["E"] == {"Fn::Sub": ["${X}", {"X": {"Ref": "Stage"}}]}
    assert props["F"] == {"Fn::Join": [",", ["a", {"Ref": "Stage"}]]}
    assert props["G"] == {"Fn::If": ["IsProd", 1, {"Ref": "AWS::NoValue"}]}
    assert props["H"] == {"Fn::Select": [0, {"Fn::Split": [",", "a,b"]}]}
    assert props["I"] == {"Fn::FindInMap": ["M", {"Ref": "Stage"}, "K"]}
    assert props["J"] == {"Fn::Base64": "text"}
    assert props["K"] == {"Fn::GetAZs": ""}
    assert props["L"] == {"Fn::ImportValue": "shared"}
    assert props["M"] == {"Fn::Not": [{"Fn::Equals": ["a", "b"]}]}
    assert props["N"] == {"Fn::And": [{"Condition": "IsProd"}, {"Fn::Or": [{"Fn::Equals": [1, 1]}]}]}
    assert is_sam(doc)


def test_json_templates_read_as_they_are() -> None:
    doc = load_template('{"Resources": {"Q": {"Type": "AWS::SQS::Queue"}}}')
    assert doc == {"Resources": {"Q": {"Type": "AWS::SQS::Queue"}}}
    assert not is_sam(doc)


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("Resources:\n  Q:\n    Type: [unclosed\n", "line 3"),
        ("Resources:\n  Q: &a {Type: AWS::SQS::Queue}\n  R: *a\n", "aliases"),
        ("Description: nothing\n", "no Resources"),
        ("Resources:\n  Q:\n    Properties: {}\n", "resource Q: Type is required"),
        ("Resources:\n  My-Queue:\n    Type: AWS::SQS::Queue\n", "alphanumeric"),
        ("Resources:\n  Q:\n    Type: AWS::SQS::Queue\n    Properties: [1]\n", "Properties must be a mapping"),
        ("Resources:\n  Q:\n    Type: AWS::SQS::Queue\nFoo: 1\n", "unknown template section(s): Foo"),
        ("- a list\n", "a template is a mapping"),
        ('{"Resources": ', "not a valid template"),
        (b"\xff\xfe", "not UTF-8"),
    ],
)
def test_bad_templates_are_refused_naming_what_is_wrong(text: str | bytes, says: str) -> None:
    with pytest.raises(ValidationError) as info:
        load_template(text, "app/template.yaml")
    assert info.value.message.startswith("app/template.yaml: ")
    assert says in info.value.message


def test_template_size_limit_at_and_past() -> None:
    head = "Resources:\n  Q:\n    Type: AWS::SQS::Queue\n"
    at_limit = head + "#" * (TEMPLATE_MAX - len(head) - 1) + "\n"
    assert len(at_limit) == TEMPLATE_MAX
    assert load_template(at_limit)["Resources"]["Q"]["Type"] == "AWS::SQS::Queue"
    with pytest.raises(ValidationError, match="larger than"):
        load_template(at_limit + "#")


def _nested_to(depth: int) -> dict[str, object]:
    """A template whose deepest list sits at `depth` levels (the template itself is level 1; Resources, Q and
    Properties make 4)."""
    value: object = "leaf"
    for _ in range(depth - 4):
        value = [value]
    return {"Resources": {"Q": {"Type": "AWS::SQS::Queue", "Properties": {"Tags": value}}}}


def test_template_depth_limit_at_and_past() -> None:
    assert check_shape(_nested_to(TEMPLATE_DEPTH_MAX))["Resources"]["Q"]["Type"] == "AWS::SQS::Queue"
    with pytest.raises(ValidationError, match=f"nested deeper than {TEMPLATE_DEPTH_MAX} levels"):
        check_shape(_nested_to(TEMPLATE_DEPTH_MAX + 1))
