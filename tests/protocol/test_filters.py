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
        '{"a": [{"anything-but": {"wildcard": 5}}]}',
        '{"a": [{"anything-but": {"wildcard": "a**b"}}]}',
        '{"a": [{"wildcard": "a**b"}]}',
        '{"a": [{"cidr": "10.0.0.0/33"}]}',
        '{"a": [{"cidr": "not an address"}]}',
        '{"a": [{"cidr": 10}]}',
        '{"a": [{"cidr": "2001:db8::/129"}]}',
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


# EventBridge's "Content filtering in Amazon EventBridge event patterns" page: one test per operator, with its
# examples (the event is the page's EC2/S3 example event, cut to the fields each example reads)
def test_eventbridge_exact_and_null_and_empty() -> None:
    assert match({"detail": {"state": ["running"]}}, {"detail": {"state": "running"}})
    assert match({"detail": {"responseElements": [None]}}, {"detail": {"responseElements": None}})
    assert match({"detail": {"eventVersion": [""]}}, {"detail": {"eventVersion": ""}})
    assert not match({"detail": {"eventVersion": [""]}}, {"detail": {}})


def test_eventbridge_prefix() -> None:
    assert match({"time": [{"prefix": "2017-10-02"}]}, {"time": "2017-10-02T18:43:48Z"})
    assert not match({"time": [{"prefix": "2017-10-02"}]}, {"time": "2017-10-03T18:43:48Z"})
    folded = {"source": [{"prefix": {"equals-ignore-case": "EXAMPLE"}}]}
    assert match(folded, {"source": "example.service"})
    assert not match(folded, {"source": "other.example"})


def test_eventbridge_suffix() -> None:
    assert match({"FileName": [{"suffix": ".png"}]}, {"FileName": "image.png"})
    assert not match({"FileName": [{"suffix": ".png"}]}, {"FileName": "image.PNG"})
    folded = {"FileName": [{"suffix": {"equals-ignore-case": ".png"}}]}
    assert match(folded, {"FileName": "image.PNG"})
    assert not match(folded, {"FileName": "image.jpg"})


def test_eventbridge_anything_but() -> None:
    assert match({"detail": {"state": [{"anything-but": "initializing"}]}}, {"detail": {"state": "running"}})
    assert not match({"detail": {"state": [{"anything-but": "initializing"}]}}, {"detail": {"state": "initializing"}})
    assert match({"detail": {"x-limit": [{"anything-but": 123}]}}, {"detail": {"x-limit": 456}})
    assert not match({"detail": {"x-limit": [{"anything-but": 123}]}}, {"detail": {"x-limit": 123}})
    listed = {"detail": {"state": [{"anything-but": ["stopped", "overloaded"]}]}}
    assert match(listed, {"detail": {"state": "running"}})
    assert not match(listed, {"detail": {"state": "overloaded"}})
    numbers = {"detail": {"x-limit": [{"anything-but": [100, 200, 300]}]}}
    assert match(numbers, {"detail": {"x-limit": 150}})
    assert not match(numbers, {"detail": {"x-limit": 200}})


def test_eventbridge_anything_but_prefix_suffix_and_ignore_case() -> None:
    assert match({"state": [{"anything-but": {"prefix": "init"}}]}, {"state": "running"})
    assert not match({"state": [{"anything-but": {"prefix": "init"}}]}, {"state": "initializing"})
    assert match({"FileName": [{"anything-but": {"suffix": ".txt"}}]}, {"FileName": "a.png"})
    assert not match({"FileName": [{"anything-but": {"suffix": ".txt"}}]}, {"FileName": "a.txt"})
    folded = {"state": [{"anything-but": {"equals-ignore-case": ["Stopped", "OverLoaded"]}}]}
    assert match(folded, {"state": "running"})
    assert not match(folded, {"state": "STOPPED"})


def test_eventbridge_anything_but_wildcard() -> None:
    one = {"FilePath": [{"anything-but": {"wildcard": "*/lib/*"}}]}
    assert match(one, {"FilePath": "/usr/bin/python"})
    assert not match(one, {"FilePath": "/usr/lib/python"})
    several = {"FilePath": [{"anything-but": {"wildcard": ["*/lib/*", "*/bin/*"]}}]}
    assert match(several, {"FilePath": "/etc/hosts"})
    assert not match(several, {"FilePath": "/usr/bin/python"})


def test_eventbridge_numeric() -> None:
    pattern = {"detail": {"c-count": [{"numeric": [">", 0, "<=", 5]}], "d-count": [{"numeric": ["<", 10]}],
                          "x-limit": [{"numeric": ["=", 3.018e2]}]}}  # fmt: skip
    assert match(pattern, {"detail": {"c-count": 5, "d-count": 7, "x-limit": 301.8}})
    assert not match(pattern, {"detail": {"c-count": 0, "d-count": 7, "x-limit": 301.8}})
    assert not match(pattern, {"detail": {"c-count": 5, "d-count": 10, "x-limit": 301.8}})
    assert not match(pattern, {"detail": {"c-count": 5, "d-count": 7, "x-limit": 301}})


def test_eventbridge_cidr_ipv4() -> None:
    pattern = {"detail": {"sourceIPAddress": [{"cidr": "10.0.0.0/24"}]}}
    assert match(pattern, {"detail": {"sourceIPAddress": "10.0.0.255"}})
    assert not match(pattern, {"detail": {"sourceIPAddress": "10.0.1.0"}})
    assert not match(pattern, {"detail": {"sourceIPAddress": "not an address"}})
    assert not match(pattern, {"detail": {"sourceIPAddress": 167772160}})  # a number is not an address
    assert not match(pattern, {"detail": {"sourceIPAddress": "2001:db8::1"}})  # another family never matches
    assert match({"ip": [{"cidr": "192.168.1.7"}]}, {"ip": "192.168.1.7"})  # a bare address is a /32


def test_eventbridge_cidr_ipv6() -> None:
    pattern = {"detail": {"sourceIPAddress": [{"cidr": "2001:db8::/32"}]}}
    assert match(pattern, {"detail": {"sourceIPAddress": "2001:db8:ffff::1"}})
    assert match(pattern, {"detail": {"sourceIPAddress": "2001:DB8::A"}})
    assert not match(pattern, {"detail": {"sourceIPAddress": "2001:db9::1"}})
    assert not match(pattern, {"detail": {"sourceIPAddress": "10.0.0.1"}})


def test_eventbridge_exists() -> None:
    assert match({"detail": {"state": [{"exists": True}]}}, {"detail": {"state": "running"}})
    assert match({"detail": {"c-count": [{"exists": False}]}}, {"detail": {"state": "running"}})
    assert not match({"detail": {"c-count": [{"exists": False}]}}, {"detail": {"c-count": 1}})


def test_eventbridge_equals_ignore_case() -> None:
    pattern = {"detail-type": [{"equals-ignore-case": "ec2 instance state-change notification"}]}
    assert match(pattern, {"detail-type": "EC2 Instance State-change Notification"})
    assert not match(pattern, {"detail-type": "EC2 Instance State-change"})


def test_eventbridge_wildcard() -> None:
    pattern = {"EventBusArn": [{"wildcard": "arn:aws:events:us-east-1:*:event-bus/*"}]}
    assert match(pattern, {"EventBusArn": "arn:aws:events:us-east-1:123456789012:event-bus/default"})
    assert not match(pattern, {"EventBusArn": "arn:aws:events:us-west-2:123456789012:event-bus/default"})
    assert match({"dir": [{"wildcard": "dir/*.png"}]}, {"dir": "dir/a/b.png"})


def test_eventbridge_or() -> None:
    pattern = {"detail": {"$or": [{"c-count": [{"numeric": [">", 0, "<=", 5]}]},
                                  {"d-count": [{"numeric": ["<", 10]}]},
                                  {"x-limit": [{"numeric": ["=", 3.018e2]}]}]}}  # fmt: skip
    assert match(pattern, {"detail": {"c-count": 3}})
    assert match(pattern, {"detail": {"x-limit": 301.8}})
    assert not match(pattern, {"detail": {"c-count": 9, "d-count": 11}})
    top = {"source": ["aws.ec2"], "$or": [{"detail-type": ["A"]}, {"detail": {"state": ["running"]}}]}
    assert match(top, {"source": "aws.ec2", "detail-type": "B", "detail": {"state": "running"}})
    assert not match(top, {"source": "aws.s3", "detail-type": "A"})
