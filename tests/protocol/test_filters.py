"""The filter engine, from the examples of Lambda's "Control which events Lambda sends to your function" page
(filter rule syntax table) and its SQS filtering page, plus the parser's refusals."""

from __future__ import annotations

import json
from typing import Any

import pytest

from nimbus.errors import InvalidParameterValue
from nimbus.protocol.filters import INVALID, matches, matches_record, parse_pattern


def match(pattern: dict[str, Any], event: Any) -> bool:
    return matches(parse_pattern(json.dumps(pattern)), event)


# the syntax table: (pattern, matching event, non-matching event)
TABLE = [
    ({"UserID": [None]}, {"UserID": None}, {"UserID": "x"}),
    ({"LastName": [""]}, {"LastName": ""}, {"LastName": "Doe"}),
    ({"Name": ["Alice"]}, {"Name": "Alice"}, {"Name": "alice"}),
    ({"Name": [{"equals-ignore-case": "alice"}]}, {"Name": "ALICE"}, {"Name": "Alicia"}),
    (
        {"Location": ["New York"], "Day": ["Monday"]},
        {"Location": "New York", "Day": "Monday"},
        {"Location": "New York", "Day": "Sunday"},
    ),
    ({"PaymentType": ["Credit", "Debit"]}, {"PaymentType": "Debit"}, {"PaymentType": "Cash"}),
    (
        {"$or": [{"Location": ["New York"]}, {"Day": ["Monday"]}]},
        {"Location": "Paris", "Day": "Monday"},
        {"Location": "Paris", "Day": "Sunday"},
    ),
    ({"Weather": [{"anything-but": ["Raining"]}]}, {"Weather": "Sunny"}, {"Weather": "Raining"}),
    ({"Price": [{"numeric": ["=", 100]}]}, {"Price": 100.0}, {"Price": 101}),
    ({"Price": [{"numeric": [">", 10, "<=", 20]}]}, {"Price": 20}, {"Price": 10}),
    ({"ProductName": [{"exists": True}]}, {"ProductName": "x"}, {"Other": 1}),
    ({"ProductName": [{"exists": False}]}, {"Other": 1}, {"ProductName": "x"}),
    ({"Region": [{"prefix": "us-"}]}, {"Region": "us-east-1"}, {"Region": "eu-west-1"}),
    ({"FileName": [{"suffix": ".png"}]}, {"FileName": "cat.png"}, {"FileName": "cat.jpg"}),
]


@pytest.mark.parametrize(("pattern", "yes", "no"), TABLE, ids=[json.dumps(t[0]) for t in TABLE])
def test_the_syntax_table(pattern: dict[str, Any], yes: Any, no: Any) -> None:
    assert match(pattern, yes)
    assert not match(pattern, no)


@pytest.mark.parametrize(
    ("pattern", "event", "expected"),
    [
        ({"a": {"b": {"c": ["x"]}}}, {"a": {"b": {"c": "x"}}}, True),
        ({"a": {"b": {"c": ["x"]}}}, {"a": {"b": "x"}}, False),
        ({"tags": ["red"]}, {"tags": ["blue", "red"]}, True),  # arrays match any element
        ({"items": {"sku": ["A1"]}}, {"items": [{"sku": "B2"}, {"sku": "A1"}]}, True),
        ({"n": [5]}, {"n": 5.0}, True),
        ({"n": [5]}, {"n": "5"}, False),
        ({"b": [True]}, {"b": 1}, False),
        ({"b": [True]}, {"b": True}, True),
        ({"UserID": [None]}, {}, False),  # null matches a present null, not a missing key
        ({"w": [{"anything-but": "x"}]}, {}, False),  # anything-but needs the field
        ({"w": [{"anything-but": {"prefix": "in"}}]}, {"w": "out"}, True),
        ({"w": [{"anything-but": {"prefix": "in"}}]}, {"w": "inside"}, False),
        ({"w": [{"anything-but": {"suffix": ".tmp"}}]}, {"w": "a.tmp"}, False),
        ({"w": [{"anything-but": {"equals-ignore-case": ["A", "b"]}}]}, {"w": "B"}, False),
        ({"w": [{"anything-but": [1, 2]}]}, {"w": 3}, True),
        ({"w": [{"prefix": {"equals-ignore-case": "US-"}}]}, {"w": "us-west"}, True),
        ({"w": [{"suffix": {"equals-ignore-case": ".PNG"}}]}, {"w": "a.png"}, True),
        ({"w": [{"numeric": [">=", 0, "<", 1]}]}, {"w": True}, False),  # booleans are not numbers
        ({"w": [{"numeric": ["<", 0]}]}, {"w": -0.5}, True),
        ({"w": [{"wildcard": "a*c*e"}]}, {"w": "abcde"}, True),
        ({"w": [{"wildcard": "a*c"}]}, {"w": "abd"}, False),
        ({"w": [{"exists": True}]}, {"w": []}, False),  # an empty array counts as absent
        ({"w": [{"exists": False}]}, {"w": {"x": 1}}, False),  # a leaf rule never matches an object
        ({"$or": [{"a": ["1"]}, {"$or": [{"b": ["2"]}, {"c": ["3"]}]}], "d": ["4"]}, {"c": "3", "d": "4"}, True),
        ({"$or": [{"a": ["1"]}, {"b": ["2"]}], "d": ["4"]}, {"a": "1", "d": "5"}, False),
        ({}, {"anything": 1}, True),
    ],
)
def test_matching_rules(pattern: dict[str, Any], event: Any, expected: bool) -> None:
    assert match(pattern, event) is expected


@pytest.mark.parametrize(
    "text",
    [
        "not json",
        "[1]",
        '"x"',
        '{"a": "x"}',  # a leaf must be a list
        '{"a": 1}',
        '{"a": []}',
        '{"a": [{"prefix": 1}]}',
        '{"a": [{"prefix": "x", "suffix": "y"}]}',
        '{"a": [{"nope": "x"}]}',
        '{"a": [{"exists": "yes"}]}',
        '{"a": [{"numeric": ["!=", 1]}]}',
        '{"a": [{"numeric": ["<", 10, ">", 1]}]}',
        '{"a": [{"numeric": [">", 10, "<", 1]}]}',
        '{"a": [{"numeric": ["=", "1"]}]}',
        '{"a": [{"numeric": [">", 1, "<", 5, "<", 9]}]}',
        '{"a": [{"anything-but": []}]}',
        '{"a": [{"anything-but": ["x", 1]}]}',
        '{"a": [{"anything-but": {"wildcard": "x"}}]}',
        '{"a": [[1]]}',
        '{"$or": [{"a": ["1"]}]}',
        '{"$or": {"a": ["1"]}}',
        '{"a": [{"equals-ignore-case": 5}]}',
    ],
)
def test_invalid_patterns_are_refused_in_lambdas_words(text: str) -> None:
    with pytest.raises(InvalidParameterValue) as info:
        parse_pattern(text)
    assert info.value.message == INVALID == "Invalid filter pattern definition."
    assert info.value.wire_name == "InvalidParameterValueException"


def sqs_record(body: str) -> dict[str, Any]:
    return {"messageId": "m1", "body": body, "attributes": {"ApproximateReceiveCount": "1"},
            "messageAttributes": {}, "eventSource": "aws:sqs"}  # fmt: skip


def test_sqs_body_rules_from_the_docs() -> None:
    code = parse_pattern('{ "body" : { "RequestCode" : [ "BBBB" ] } }')
    number = parse_pattern('{ "body" : { "RecordNumber" : [ { "numeric": [ ">", 9999 ] } ] } }')
    plain = parse_pattern('{ "body" : [ { "prefix": "Data: " } ] }')
    bbbb = sqs_record(json.dumps({"RecordNumber": 1234, "TimeStamp": "t", "RequestCode": "BBBB"}))
    big = sqs_record(json.dumps({"RecordNumber": 12345, "RequestCode": "AAAA"}))
    text = sqs_record("Data: hello")
    assert matches_record([code], bbbb, "body")
    assert not matches_record([code], big, "body")
    assert matches_record([number], big, "body")
    assert not matches_record([number], bbbb, "body")
    assert matches_record([plain], text, "body")
    # a plain-string rule never matches a JSON body, and an object rule never matches a plain body
    assert not matches_record([plain], sqs_record('{"x": "Data: y"}'), "body")
    assert not matches_record([code], text, "body")
    # filters are ORed; no filters pass everything; metadata keys match as they are
    assert matches_record([code, plain], text, "body")
    assert matches_record([], text, "body")
    assert matches_record([parse_pattern('{"attributes": {"ApproximateReceiveCount": ["1"]}}')], text, "body")
    assert not matches_record([parse_pattern('{"eventSource": ["aws:kinesis"]}')], text, "body")
