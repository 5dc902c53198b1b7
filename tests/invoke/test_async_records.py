"""The pure parts of asynchronous invocation: the queued event's envelope, Lambda's destination record and the
dead-letter message, and how destination ARNs are read."""

from __future__ import annotations

import json

import pytest

from nimbus.control.event_invoke import function_target, queue_name
from nimbus.invoke.async_invoke import AsyncEvent, decode_event, encode_event, next_attempt
from nimbus.invoke.destinations import DLQ_ERROR_MAX, dead_letter, record
from nimbus.protocol.records import InvokeResult


@pytest.mark.parametrize("payload", [b'{"a": "\xc3\xa9"}', b'"\xff\xfe"', b"{}"])
def test_the_envelope_round_trips(payload: bytes) -> None:
    event = AsyncEvent("fn", "live", "rid", 1_800_000_000_123, 2, payload)
    assert decode_event(encode_event(event)) == event
    assert next_attempt(event).attempts == 3


def test_the_envelope_of_an_unqualified_event() -> None:
    event = AsyncEvent("fn", None, "rid", 1, 0, b"[1]")
    assert json.loads(encode_event(event)) == {"fn": "fn", "q": None, "rid": "rid", "t": 1, "n": 0, "p": "[1]"}


def test_the_destination_record_is_lambdas() -> None:
    event = AsyncEvent("fn", None, "rid", 0, 3, b'{"in": 1}')
    result = InvokeResult(b'{"errorMessage": "x"}', "Unhandled", executed_version="4")
    out = record(event, "arn:aws:lambda:us-east-1:000000000000:function:fn:$LATEST", "RetriesExhausted", result,
                 1_573_755_365.568)  # fmt: skip
    assert out == {
        "version": "1.0",
        "timestamp": "2019-11-14T18:16:05.568Z",
        "requestContext": {
            "requestId": "rid",
            "functionArn": "arn:aws:lambda:us-east-1:000000000000:function:fn:$LATEST",
            "condition": "RetriesExhausted",
            "approximateInvokeCount": 3,
        },
        "requestPayload": {"in": 1},
        "responseContext": {"statusCode": 200, "executedVersion": "4", "functionError": "Unhandled"},
        "responsePayload": {"errorMessage": "x"},
    }
    ok = record(event, "arn", "Success", InvokeResult(b"not json"), 0.0)
    assert ok["responseContext"] == {"statusCode": 200, "executedVersion": "$LATEST"}
    assert ok["responsePayload"] == "not json"


def test_the_dead_letter_message_carries_the_event_and_three_attributes() -> None:
    event = AsyncEvent("fn", None, "rid", 0, 3, b'{"in": 1}')
    msg = dead_letter(event, "RetriesExhausted", InvokeResult(b"e" * 5000, "Unhandled"))
    assert msg.body == '{"in": 1}'
    assert set(msg.attributes) == {"RequestID", "ErrorCode", "ErrorMessage"}
    assert msg.attributes["ErrorCode"] == {"DataType": "Number", "StringValue": "200"}
    assert len(msg.attributes["ErrorMessage"]["StringValue"]) == DLQ_ERROR_MAX
    expired = dead_letter(event, "EventAgeExceeded", None)
    assert "EventAgeExceeded" in expired.attributes["ErrorMessage"]["StringValue"]


def test_destination_arns() -> None:
    assert queue_name("arn:aws:sqs:us-east-1:000000000000:q-1") == "q-1"
    assert queue_name("arn:aws:lambda:us-east-1:000000000000:function:f") is None
    assert function_target("arn:aws:lambda:us-east-1:000000000000:function:f") == "f"
    assert function_target("arn:aws:lambda:us-east-1:000000000000:function:f:live") == "f:live"
    assert function_target("arn:aws:lambda:us-east-1:000000000000:layer:l:1") is None
    assert function_target("arn:aws:sqs:us-east-1:000000000000:q") is None
