"""SNS's messages, pure: Publish's rules (attributes, 256 KB, subject, MessageStructure), the envelope, the
confirmation, the Lambda event, the canonical string to sign, and filter policies by the one engine."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from nimbus.errors import SnsInvalidParameter, SnsInvalidParameterValue
from nimbus.protocol import sns_messages as sm

TOPIC = "arn:aws:sns:us-east-1:000000000000:orders"


def fake_sign(data: bytes) -> bytes:
    return b"sig:" + data


def note(**over: Any) -> dict[str, Any]:
    args: dict[str, Any] = {
        "topic_arn": TOPIC, "message_id": "m-1", "message": "hello", "subject": "Hi",
        "when": "2026-11-30T11:00:00.000Z", "attributes": {"color": {"DataType": "String", "StringValue": "red"}},
        "unsubscribe_url": "http://h/unsub", "cert_url": "http://h/cert.pem", "sign": fake_sign,
    }  # fmt: skip
    args.update(over)
    return sm.notification(**args)


def test_the_envelope_has_snss_fields_in_order_and_signs_the_canonical_string() -> None:
    env = note()
    assert list(env) == ["Type", "MessageId", "TopicArn", "Subject", "Message", "Timestamp", "SignatureVersion",
                         "Signature", "SigningCertURL", "UnsubscribeURL", "MessageAttributes"]  # fmt: skip
    signed = base64.b64decode(env["Signature"])
    assert signed == (b"sig:Message\nhello\nMessageId\nm-1\nSubject\nHi\nTimestamp\n2026-11-30T11:00:00.000Z\n"
                      b"TopicArn\n" + TOPIC.encode() + b"\nType\nNotification\n")  # fmt: skip
    assert env["MessageAttributes"] == {"color": {"Type": "String", "Value": "red"}}


def test_without_a_subject_the_envelope_and_the_string_to_sign_leave_it_out() -> None:
    env = note(subject=None, attributes={})
    assert "Subject" not in env
    assert "MessageAttributes" not in env
    assert b"Subject" not in sm.string_to_sign(env)


def test_the_confirmation_signs_its_own_fields() -> None:
    env = sm.confirmation(topic_arn=TOPIC, message_id="m", token="tok", subscribe_url="http://h/?Action=x",
                          when="t", cert_url="http://h/c.pem", sign=fake_sign)  # fmt: skip
    assert env["Type"] == "SubscriptionConfirmation"
    assert base64.b64decode(env["Signature"]).startswith(b"sig:Message\nYou have chosen to subscribe")
    assert b"\nSubscribeURL\nhttp://h/?Action=x\nTimestamp\nt\nToken\ntok\nTopicArn\n" in sm.string_to_sign(env)


def test_the_lambda_event_is_snss_record_shape() -> None:
    event = sm.lambda_event(TOPIC + ":sub", note(subject=None))
    record = event["Records"][0]
    assert (record["EventSource"], record["EventVersion"], record["EventSubscriptionArn"]) == (
        "aws:sns", "1.0", TOPIC + ":sub")  # fmt: skip
    sns = record["Sns"]
    assert sns["Subject"] is None
    assert sns["SigningCertUrl"] == "http://h/cert.pem"
    assert sns["UnsubscribeUrl"] == "http://h/unsub"
    assert sns["MessageAttributes"] == {"color": {"Type": "String", "Value": "red"}}
    assert set(sns) == {"Type", "MessageId", "TopicArn", "Subject", "Message", "Timestamp", "SignatureVersion",
                        "Signature", "SigningCertUrl", "UnsubscribeUrl", "MessageAttributes"}  # fmt: skip


def test_a_message_of_256_kb_with_its_attributes_fits_and_one_byte_more_does_not() -> None:
    attrs = {"k": {"DataType": "String", "StringValue": "v"}}
    overhead = len("k") + len("String") + len("v")
    sm.check_message("x" * (sm.MAX_MESSAGE_BYTES - overhead), None, attrs, None)
    with pytest.raises(SnsInvalidParameter, match="Message too long"):
        sm.check_message("x" * (sm.MAX_MESSAGE_BYTES - overhead + 1), None, attrs, None)


def test_subject_at_100_and_101_characters_and_control_characters() -> None:
    sm.check_message("m", "s" * 100, {}, None)
    for bad in ("s" * 101, "line\nbreak", ""):
        with pytest.raises(SnsInvalidParameter, match="Subject"):
            sm.check_message("m", bad, {}, None)
    with pytest.raises(SnsInvalidParameter, match="Empty message"):
        sm.check_message("", None, {}, None)


@pytest.mark.parametrize(
    ("attrs", "match"),
    [
        ({"a": {"DataType": "Blob", "StringValue": "x"}}, "invalid message attribute type"),
        ({"a": {"DataType": "String"}}, "non-empty"),
        ({"a": {"DataType": "Number", "StringValue": "abc"}}, "not a number"),
        ({"a": {"DataType": "String.Array", "StringValue": "{}"}}, "JSON array"),
        ({"a": {"DataType": "Binary"}}, "non-empty"),
        ({"AWS.x": {"DataType": "String", "StringValue": "v"}}, "name 'AWS.x' is invalid"),
        ({"a..b": {"DataType": "String", "StringValue": "v"}}, "is invalid"),
        ({f"k{i}": {"DataType": "String", "StringValue": "v"} for i in range(11)}, r"\[11\] exceeds"),
    ],
)
def test_bad_message_attributes_are_parameter_value_invalid(attrs: dict[str, Any], match: str) -> None:
    with pytest.raises(SnsInvalidParameterValue, match=match):
        sm.check_attributes(attrs)


def test_ten_attributes_of_each_type_are_fine() -> None:
    sm.check_attributes({f"k{i}": {"DataType": "String", "StringValue": "v"} for i in range(10)})
    sm.check_attributes({"n": {"DataType": "Number", "StringValue": "-1.5e3"},
                         "a": {"DataType": "String.Array", "StringValue": '["x", 1]'},
                         "b": {"DataType": "Binary", "BinaryValue": b"\x00"},
                         "c": {"DataType": "String.custom", "StringValue": "v"}})  # fmt: skip


def test_message_structure_json_picks_the_protocols_text_or_default() -> None:
    text = json.dumps({"default": "d", "sqs": "for queues", "lambda": 5})
    sm.check_message(text, None, {}, "json")
    assert sm.message_for(text, "json", "sqs") == "for queues"
    assert sm.message_for(text, "json", "lambda") == "d"  # a non-string value is ignored
    assert sm.message_for(text, None, "sqs") == text
    with pytest.raises(SnsInvalidParameter, match="No default entry"):
        sm.check_message(json.dumps({"sqs": "x"}), None, {}, "json")
    with pytest.raises(SnsInvalidParameter, match="failed to parse"):
        sm.check_message("not json", None, {}, "json")
    with pytest.raises(SnsInvalidParameter, match="MessageStructure"):
        sm.check_message("m", None, {}, "xml")


def test_raw_delivery_attributes_become_sqs_message_attributes() -> None:
    out = sm.sqs_attributes({"s": {"DataType": "String", "StringValue": "v"},
                             "a": {"DataType": "String.Array", "StringValue": '["x"]'},
                             "b": {"DataType": "Binary", "BinaryValue": b"\x01"}})  # fmt: skip
    assert out == {"s": {"DataType": "String", "StringValue": "v"}, "a": {"DataType": "String", "StringValue": '["x"]'},
                   "b": {"DataType": "Binary", "BinaryValue": b"\x01"}}  # fmt: skip


ATTRS: dict[str, dict[str, Any]] = {
         "color": {"DataType": "String", "StringValue": "red"}, "price": {"DataType": "Number", "StringValue": "150"},
         "tags": {"DataType": "String.Array", "StringValue": '["a", "b"]'},
         "blob": {"DataType": "Binary", "BinaryValue": b"x"}}  # fmt: skip


@pytest.mark.parametrize(
    ("policy", "expected"),
    [
        ({"color": ["red", "blue"]}, True),
        ({"color": ["green"]}, False),
        ({"price": [{"numeric": [">", 100, "<=", 150]}]}, True),
        ({"price": [{"numeric": [">", 150]}]}, False),
        ({"tags": ["b"]}, True),
        ({"color": [{"prefix": "r"}], "price": [{"exists": True}]}, True),
        ({"missing": [{"exists": False}]}, True),
        ({"blob": [{"exists": True}]}, False),
        ({"color": [{"anything-but": ["red"]}]}, False),
    ],
)
def test_attribute_scope_policies(policy: dict[str, Any], expected: bool) -> None:
    parsed = sm.parse_policy(json.dumps(policy))
    assert sm.policy_matches(parsed, "MessageAttributes", "body", ATTRS) is expected


def test_body_scope_policies_match_the_json_body_and_never_a_plain_one() -> None:
    policy = sm.parse_policy(json.dumps({"order": {"total": [{"numeric": [">=", 10]}]}}))
    assert sm.policy_matches(policy, "MessageBody", json.dumps({"order": {"total": 12}}), {})
    assert not sm.policy_matches(policy, "MessageBody", json.dumps({"order": {"total": 2}}), {})
    assert not sm.policy_matches(policy, "MessageBody", "plain text", {})
    assert sm.policy_matches(None, "MessageBody", "anything", {})


def test_a_bad_policy_is_invalid_parameter() -> None:
    with pytest.raises(SnsInvalidParameter, match="FilterPolicy"):
        sm.parse_policy('{"a": "not a list"}')
    with pytest.raises(SnsInvalidParameter, match="FilterPolicy"):
        sm.parse_policy("nope")
