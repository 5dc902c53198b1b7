"""Condition operators against a table written from the IAM User Guide's "Condition operators", "Multiple keys and
values", "Single-valued vs. multivalued context keys" and "Policy variables" pages."""

from __future__ import annotations

from typing import Any

import pytest

from nimbus.protocol.policy_conditions import arn_match, conditions_hold, glob_match, substitute

ACCT = "123456789012"
TOPIC = f"arn:aws:sns:us-east-1:{ACCT}:alerts"
NOW = "2026-11-30T12:00:00Z"

CASES: list[tuple[str, dict[str, Any], dict[str, Any], bool]] = [
    ("StringEquals", {"StringEquals": {"aws:PrincipalAccount": ACCT}}, {"aws:principalaccount": ACCT}, True),
    ("StringEquals is case-sensitive", {"StringEquals": {"aws:username": "Alice"}}, {"aws:username": "alice"}, False),
    ("key names are case-insensitive", {"StringEquals": {"AWS:USERNAME": "alice"}}, {"aws:username": "alice"}, True),
    ("StringEqualsIgnoreCase", {"StringEqualsIgnoreCase": {"aws:username": "ALICE"}}, {"aws:username": "alice"},
     True),
    ("several values of one key are ORed", {"StringEquals": {"aws:username": ["bob", "alice"]}},
     {"aws:username": "alice"}, True),
    ("several keys are ANDed", {"StringEquals": {"aws:username": "alice", "aws:principalaccount": "999"}},
     {"aws:username": "alice", "aws:principalaccount": ACCT}, False),
    ("several operators are ANDed",
     {"StringEquals": {"aws:username": "alice"}, "Bool": {"aws:securetransport": "true"}},
     {"aws:username": "alice", "aws:securetransport": "false"}, False),
    ("StringNotEquals: none of the values", {"StringNotEquals": {"aws:username": ["bob", "carol"]}},
     {"aws:username": "alice"}, True),
    ("StringNotEquals: one of the values", {"StringNotEquals": {"aws:username": ["bob", "alice"]}},
     {"aws:username": "alice"}, False),
    ("StringNotEqualsIgnoreCase", {"StringNotEqualsIgnoreCase": {"aws:username": "ALICE"}},
     {"aws:username": "alice"}, False),
    ("StringLike with *", {"StringLike": {"aws:username": "al*"}}, {"aws:username": "alice"}, True),
    ("StringLike with ?", {"StringLike": {"aws:username": "al?ce"}}, {"aws:username": "alice"}, True),
    ("StringLike is case-sensitive", {"StringLike": {"aws:username": "AL*"}}, {"aws:username": "alice"}, False),
    ("StringNotLike", {"StringNotLike": {"aws:username": "b*"}}, {"aws:username": "alice"}, True),
    ("an absent key: a positive operator is false", {"StringEquals": {"aws:sourcearn": TOPIC}}, {}, False),
    ("an absent key: a negated operator is true", {"StringNotEquals": {"aws:sourcearn": TOPIC}}, {}, True),
    ("...IfExists: an absent key is true", {"StringEqualsIfExists": {"aws:sourcearn": TOPIC}}, {}, True),
    ("...IfExists: a present key is compared", {"StringEqualsIfExists": {"aws:sourcearn": TOPIC}},
     {"aws:sourcearn": TOPIC + "x"}, False),
    ("ArnLike: a wildcard region and name", {"ArnLike": {"aws:SourceArn": f"arn:aws:sns:*:{ACCT}:al*"}},
     {"aws:sourcearn": TOPIC}, True),
    ("ArnLike: another account", {"ArnLike": {"aws:SourceArn": "arn:aws:sns:*:999999999999:*"}},
     {"aws:sourcearn": TOPIC}, False),
    ("ArnEquals", {"ArnEquals": {"aws:SourceArn": TOPIC}}, {"aws:sourcearn": TOPIC}, True),
    ("ArnNotEquals", {"ArnNotEquals": {"aws:SourceArn": TOPIC}}, {"aws:sourcearn": TOPIC}, False),
    ("ArnNotLike", {"ArnNotLike": {"aws:SourceArn": "arn:aws:sqs:*"}}, {"aws:sourcearn": TOPIC}, True),
    ("ArnLike: a non-ARN value does not match", {"ArnLike": {"aws:SourceArn": f"arn:aws:sns:*:{ACCT}:*"}},
     {"aws:sourcearn": "alerts"}, False),
    ("Bool true", {"Bool": {"aws:SecureTransport": "true"}}, {"aws:securetransport": "true"}, True),
    ("Bool given as a JSON boolean", {"Bool": {"aws:SecureTransport": False}}, {"aws:securetransport": "false"}, True),
    ("Bool false vs true", {"Bool": {"aws:SecureTransport": "false"}}, {"aws:securetransport": "true"}, False),
    ("IpAddress in a CIDR", {"IpAddress": {"aws:SourceIp": "203.0.113.0/24"}}, {"aws:sourceip": "203.0.113.7"}, True),
    ("IpAddress outside", {"IpAddress": {"aws:SourceIp": "203.0.113.0/24"}}, {"aws:sourceip": "198.51.100.7"}, False),
    ("IpAddress, a single address", {"IpAddress": {"aws:SourceIp": "127.0.0.1"}}, {"aws:sourceip": "127.0.0.1"},
     True),
    ("IpAddress, IPv6", {"IpAddress": {"aws:SourceIp": "2001:db8::/32"}}, {"aws:sourceip": "2001:db8::1"}, True),
    ("NotIpAddress", {"NotIpAddress": {"aws:SourceIp": ["10.0.0.0/8", "192.168.0.0/16"]}},
     {"aws:sourceip": "203.0.113.7"}, True),
    ("IpAddress against a non-address", {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}, {"aws:sourceip": "x"}, False),
    ("NumericLessThan", {"NumericLessThan": {"aws:EpochTime": "2000000000"}}, {"aws:epochtime": "1796040000"}, True),
    ("NumericLessThan at the limit", {"NumericLessThan": {"s3:max-keys": "10"}}, {"s3:max-keys": "10"}, False),
    ("NumericLessThanEquals at the limit", {"NumericLessThanEquals": {"s3:max-keys": "10"}}, {"s3:max-keys": "10"},
     True),
    ("NumericGreaterThan", {"NumericGreaterThan": {"s3:max-keys": "10"}}, {"s3:max-keys": "11"}, True),
    ("NumericGreaterThanEquals", {"NumericGreaterThanEquals": {"s3:max-keys": "10"}}, {"s3:max-keys": "9"}, False),
    ("NumericEquals", {"NumericEquals": {"s3:max-keys": "10"}}, {"s3:max-keys": "10.0"}, True),
    ("NumericNotEquals", {"NumericNotEquals": {"s3:max-keys": "10"}}, {"s3:max-keys": "10"}, False),
    ("Numeric against a non-number", {"NumericEquals": {"s3:max-keys": "10"}}, {"s3:max-keys": "ten"}, False),
    ("DateLessThan", {"DateLessThan": {"aws:CurrentTime": "2027-01-01T00:00:00Z"}}, {"aws:currenttime": NOW}, True),
    ("DateGreaterThan", {"DateGreaterThan": {"aws:CurrentTime": "2027-01-01T00:00:00Z"}}, {"aws:currenttime": NOW},
     False),
    ("a date range: both ends", {"DateGreaterThan": {"aws:CurrentTime": "2026-11-01T00:00:00Z"},
                                 "DateLessThan": {"aws:CurrentTime": "2026-12-01T00:00:00Z"}},
     {"aws:currenttime": NOW}, True),
    ("DateEquals against epoch seconds", {"DateEquals": {"aws:CurrentTime": "1796040000"}},
     {"aws:currenttime": "2026-11-30T12:00:00Z"}, True),
    ("DateLessThanEquals, a date only", {"DateLessThanEquals": {"aws:CurrentTime": "2026-11-30"}},
     {"aws:currenttime": NOW}, False),
    ("DateGreaterThanEquals", {"DateGreaterThanEquals": {"aws:CurrentTime": NOW}}, {"aws:currenttime": NOW}, True),
    ("DateNotEquals", {"DateNotEquals": {"aws:CurrentTime": NOW}}, {"aws:currenttime": NOW}, False),
    ("Null true: the key is absent", {"Null": {"aws:sourcearn": "true"}}, {}, True),
    ("Null true: the key is present", {"Null": {"aws:sourcearn": "true"}}, {"aws:sourcearn": TOPIC}, False),
    ("Null false: the key is present", {"Null": {"aws:sourcearn": "false"}}, {"aws:sourcearn": TOPIC}, True),
    ("ForAnyValue: one tag key matches", {"ForAnyValue:StringEquals": {"aws:TagKeys": ["env", "team"]}},
     {"aws:tagkeys": ["owner", "team"]}, True),
    ("ForAnyValue: none matches", {"ForAnyValue:StringEquals": {"aws:TagKeys": ["env"]}},
     {"aws:tagkeys": ["owner", "team"]}, False),
    ("ForAnyValue: an absent key is false", {"ForAnyValue:StringEquals": {"aws:TagKeys": ["env"]}}, {}, False),
    ("ForAllValues: every value is listed", {"ForAllValues:StringEquals": {"aws:TagKeys": ["env", "team"]}},
     {"aws:tagkeys": ["team", "env"]}, True),
    ("ForAllValues: one value is not", {"ForAllValues:StringEquals": {"aws:TagKeys": ["env", "team"]}},
     {"aws:tagkeys": ["team", "owner"]}, False),
    ("ForAllValues: an absent key is true", {"ForAllValues:StringEquals": {"aws:TagKeys": ["env"]}}, {}, True),
    ("ForAllValues: an empty set is true", {"ForAllValues:StringLike": {"aws:TagKeys": ["e*"]}},
     {"aws:tagkeys": []}, True),
    ("ForAllValues:StringNotEquals", {"ForAllValues:StringNotEquals": {"aws:TagKeys": ["secret"]}},
     {"aws:tagkeys": ["env", "team"]}, True),
    ("ForAnyValue:StringLike", {"ForAnyValue:StringLike": {"aws:TagKeys": "te*"}}, {"aws:tagkeys": ["env", "team"]},
     True),
    ("aws:ResourceTag/<key>", {"StringEquals": {"aws:ResourceTag/team": "web"}}, {"aws:resourcetag/team": "web"},
     True),
    ("a policy variable in a value", {"StringLike": {"aws:SourceArn": "arn:aws:sns:*:*:${aws:username}-*"}},
     {"aws:sourcearn": "arn:aws:sns:us-east-1:1:alice-events", "aws:username": "alice"}, True),
    ("a policy variable's default", {"StringEquals": {"aws:ResourceTag/owner": "${aws:username, 'nobody'}"}},
     {"aws:resourcetag/owner": "nobody"}, True),
    ("an unknown operator matches nothing", {"StringSoundsLike": {"aws:username": "alice"}},
     {"aws:username": "alice"}, False),
    ("an unknown set qualifier matches nothing", {"ForSomeValues:StringEquals": {"aws:username": "alice"}},
     {"aws:username": "alice"}, False),
    ("a malformed block matches nothing", {"StringEquals": "alice"}, {"aws:username": "alice"}, False),
    ("an empty block holds", {}, {}, True),
]  # fmt: skip


@pytest.mark.parametrize(("block", "context", "holds"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_condition_table(block: dict[str, Any], context: dict[str, Any], holds: bool) -> None:
    read: set[str] = set()
    assert conditions_hold(block, context, read) is holds


def test_read_keys_are_recorded_lower_cased() -> None:
    read: set[str] = set()
    conditions_hold({"StringLike": {"AWS:SourceArn": "${aws:username}*"}}, {"aws:username": "a"}, read)
    assert read == {"aws:sourcearn", "aws:username"}


def test_wildcards() -> None:
    assert glob_match("lambda:Get*", "LAMBDA:getfunction", ignore_case=True)
    assert not glob_match("lambda:Get*", "LAMBDA:getfunction")
    assert glob_match("a.b", "a.b")
    assert not glob_match("a.b", "axb")
    assert arn_match("arn:aws:lambda:*:*:function:fn-*", "arn:aws:lambda:us-east-1:1:function:fn-a:live")
    assert not arn_match("arn:aws:lambda:*:2:function:*", "arn:aws:lambda:us-east-1:1:function:f")
    assert not arn_match("arn:aws:lambda:us-east-1:1:function:f", "not-an-arn")


def test_substitute_escapes_and_missing_values() -> None:
    assert substitute("${*}${?}${$}", {}) == "*?$"
    assert substitute("home/${aws:username}/", {"aws:username": "alice"}) == "home/alice/"
    assert substitute("home/${aws:username}/", {}) is None
