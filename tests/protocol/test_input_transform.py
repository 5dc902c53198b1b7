"""Target input: Input, InputPath, and InputTransformer with the examples of EventBridge's "Amazon EventBridge input
transformation" page (the EC2 state-change event, quoted and unquoted placeholders, plain text, escaped quotes)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from nimbus.protocol.input_transform import (
    RuleContext,
    check_paths_map,
    check_template,
    parse_path,
    payload,
    select,
    transform,
)

EVENT: dict[str, Any] = {
    "version": "0",
    "id": "7bf73129-1428-4cd3-a780-95db273d1602",
    "detail-type": "EC2 Instance State-change Notification",
    "source": "aws.ec2",
    "account": "123456789012",
    "time": "2015-11-11T21:29:54Z",
    "region": "us-east-1",
    "resources": ["arn:aws:ec2:us-east-1:123456789012:instance/i-abcd1111"],
    "detail": {"instance-id": "i-0123456789", "state": "RUNNING", "count": 3, "tags": {"team": "a"}},
}
CONTEXT = RuleContext("arn:aws:events:us-east-1:123456789012:rule/r1", "r1", "2015-11-11T21:29:55Z")
PATHS = {"instance": "$.detail.instance-id", "state": "$.detail.state"}


def render(template: str, paths: dict[str, str] | None = None) -> str:
    return transform({"InputPathsMap": PATHS if paths is None else paths, "InputTemplate": template}, EVENT, CONTEXT)


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ('"<instance> is in state <state>"', '"i-0123456789 is in state RUNNING"'),
        ('"instance <instance> is in <state>"', '"instance i-0123456789 is in RUNNING"'),
        ('{"instance" : <instance>, "state": <state>}', '{"instance" : "i-0123456789", "state": "RUNNING"}'),
        ('{"instance" : "<instance>", "state": "<state>"}', '{"instance" : "i-0123456789", "state": "RUNNING"}'),
        (
            '{"instance" : <instance>, "state": [ 9, <state>, true ], "Transformed" : "Yes" }',
            '{"instance" : "i-0123456789", "state": [ 9, "RUNNING", true ], "Transformed" : "Yes" }',
        ),
        (
            '{"instance" : <instance>, "state": "<state>", '
            '"instanceStatus": "instance \\"<instance>\\" is in <state>"}',
            '{"instance" : "i-0123456789", "state": "RUNNING", '
            '"instanceStatus": "instance \\"i-0123456789\\" is in RUNNING"}',
        ),
    ],
)
def test_the_docs_examples(template: str, expected: str) -> None:
    assert render(template) == expected
    if template.startswith("{"):
        json.loads(render(template))


def test_plain_text_takes_strings_as_they_are() -> None:
    assert render("Instance <instance> is <state>") == "Instance i-0123456789 is RUNNING"


def test_objects_and_numbers_unquoted_and_quoted() -> None:
    paths = {"detail": "$.detail", "count": "$.detail.count", "tags": "$.detail.tags"}
    out = json.loads(render('{"d": <detail>, "n": <count>, "s": "n=<count> t=<tags>"}', paths))
    assert out == {"d": EVENT["detail"], "n": 3, "s": 'n=3 t={"team": "a"}'}


def test_missing_values_are_null_unquoted_and_empty_quoted() -> None:
    out = json.loads(render('{"a": <gone>, "b": "x<gone>y"}', {"gone": "$.detail.nope"}))
    assert out == {"a": None, "b": "xy"}


def test_predefined_placeholders() -> None:
    out = json.loads(render('{"arn": <aws.events.rule-arn>, "name": "<aws.events.rule-name>", '
                            '"at": <aws.events.event.ingestion-time>, "e": <aws.events.event>, '
                            '"j": <aws.events.event.json>}', {}))  # fmt: skip
    assert out == {"arn": CONTEXT.rule_arn, "name": "r1", "at": "2015-11-11T21:29:55Z", "e": EVENT, "j": EVENT}


def test_unknown_placeholders_and_escapes_are_left_alone() -> None:
    assert render('"<nobody> \\\\ <state>"') == '"<nobody> \\\\ RUNNING"'
    assert render("a < b > c") == "a < b > c"


def test_paths() -> None:
    assert parse_path("$") == ()
    assert parse_path("$.detail.instance-id") == ("detail", "instance-id")
    assert parse_path("$.resources[0]") == ("resources", 0)
    assert parse_path("$['detail-type']") == ("detail-type",)
    assert select(EVENT, "$.resources[0]") == EVENT["resources"][0]
    assert select(EVENT, "$.resources[5]") is None
    assert select(EVENT, "$.detail.state.deeper") is None
    assert select(EVENT, "$") == EVENT
    for bad in ("detail", "$detail", "$.a..b", "$.a[x]", "$."):
        with pytest.raises(ValueError, match="JSONPath"):
            parse_path(bad)


def test_checks_at_put_targets() -> None:
    check_paths_map(PATHS)
    with pytest.raises(ValueError, match="reserved"):
        check_paths_map({"aws.events.x": "$.a"})
    with pytest.raises(ValueError, match="JSONPath"):
        check_paths_map({"a": "detail.a"})
    check_template('{"a": <a>, "b": "<b>", "c": <aws.events.event>}', {"a": "$.a", "b": "$.b"})
    check_template("plain <text> {not json", {})
    with pytest.raises(ValueError, match="not valid JSON"):
        check_template('{"a": <a>,}', {"a": "$.a"})


def test_payload_picks_input_inputpath_transformer_or_the_event() -> None:
    assert payload({"Input": '{"k": 1}'}, EVENT, CONTEXT) == b'{"k": 1}'
    assert json.loads(payload({"InputPath": "$.detail"}, EVENT, CONTEXT)) == EVENT["detail"]
    assert payload({"InputPath": "$.detail.nope"}, EVENT, CONTEXT) == b"null"
    transformer = {"InputPathsMap": PATHS, "InputTemplate": '"<state>"'}
    assert payload({"InputTransformer": transformer}, EVENT, CONTEXT) == b'"RUNNING"'
    assert json.loads(payload({}, EVENT, CONTEXT)) == EVENT
