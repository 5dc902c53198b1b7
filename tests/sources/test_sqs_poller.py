"""The SQS poller's pure parts: Lambda's SQS record and its reading of a ReportBatchItemFailures response."""

from __future__ import annotations

import hashlib

import pytest

from nimbus.queue.contract import Reserved
from nimbus.sources.sqs_poller import Message, failed_items, record


def test_record_has_lambdas_sqs_event_shape() -> None:
    reserved = Reserved(
        message_id="m-1", receipt="7.abc", body='{"a": 1}',
        attributes={"color": {"DataType": "String", "StringValue": "blue"},
                    "raw": {"DataType": "Binary", "BinaryValue": "AAE="}},
        system={"AWSTraceHeader": {"DataType": "String", "StringValue": "Root=1-abc"}},
        sent_at_ms=1000, first_received_ms=2000, receive_count=3,
    )  # fmt: skip
    rec = record(Message("handle-1", reserved), "arn:aws:sqs:us-east-1:000000000000:q", "us-east-1", "000000000000")
    assert rec == {
        "messageId": "m-1",
        "receiptHandle": "handle-1",
        "body": '{"a": 1}',
        "attributes": {
            "ApproximateReceiveCount": "3",
            "SentTimestamp": "1000",
            "SenderId": "000000000000",
            "ApproximateFirstReceiveTimestamp": "2000",
            "AWSTraceHeader": "Root=1-abc",
        },
        "messageAttributes": {
            "color": {"stringValue": "blue", "stringListValues": [], "binaryListValues": [], "dataType": "String"},
            "raw": {"binaryValue": "AAE=", "stringListValues": [], "binaryListValues": [], "dataType": "Binary"},
        },
        "md5OfBody": hashlib.md5(b'{"a": 1}').hexdigest(),
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:000000000000:q",
        "awsRegion": "us-east-1",
    }


IDS = {"a", "b"}


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        (b"", set()),  # no response: a complete success
        (b"null", set()),
        (b"{}", set()),
        (b'{"batchItemFailures": null}', set()),
        (b'{"batchItemFailures": []}', set()),
        (b'{"batchItemFailures": [{"itemIdentifier": "b"}]}', {"b"}),
        (b'{"batchItemFailures": [{"itemIdentifier": "a"}, {"itemIdentifier": "b"}]}', {"a", "b"}),
        (b"not json", None),  # the whole batch failed
        (b'"done"', None),
        (b'{"batchItemFailures": "b"}', None),
        (b'{"batchItemFailures": [{"itemIdentifier": ""}]}', None),
        (b'{"batchItemFailures": [{"itemIdentifier": null}]}', None),
        (b'{"batchItemFailures": [{"id": "b"}]}', None),
        (b'{"batchItemFailures": [{"itemIdentifier": "zzz"}]}', None),
    ],
)
def test_failed_items(payload: bytes, expected: set[str] | None) -> None:
    assert failed_items(payload, IDS) == expected
