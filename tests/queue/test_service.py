"""The SQS rules over a queue store (queue/service.py and its pure helpers), on the SQLite store and a fake clock:
retention and redrive without sleeping, references by URL, ARN and name, and the digests and receipts."""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from nimbus.clock import FakeClock
from nimbus.errors import (
    InvalidAttributeName,
    InvalidAttributeValue,
    QueueDoesNotExist,
    QueueNameExists,
    ReceiptHandleIsInvalid,
    SqsInvalidParameterValue,
    SqsMissingParameter,
)
from nimbus.queue import sqs_attributes as qa
from nimbus.queue import sqs_messages as qm
from nimbus.queue.service import QueueService
from nimbus.queue.sqlite import SqliteQueueStore

Body = Callable[[QueueService, FakeClock], Awaitable[None]]


def run(tmp_path: Path, body: Body) -> None:
    async def main() -> None:
        clock = FakeClock()
        store = SqliteQueueStore(tmp_path / "queues.db", clock)
        try:
            await body(QueueService(store, "eu-west-1", "123456789012", clock), clock)
        finally:
            await store.close()

    asyncio.run(main())


def test_references_by_url_arn_and_name(tmp_path: Path) -> None:
    async def body(svc: QueueService, clock: FakeClock) -> None:
        await svc.create_queue("orders", {}, {})
        arn = "arn:aws:sqs:eu-west-1:123456789012:orders"
        assert svc.arn("orders") == arn
        assert svc.url("orders", "example:9001") == "http://example:9001/123456789012/orders"
        for ref in ("orders", arn, "http://anyhost:1/123456789012/orders"):
            record = await svc.lookup(ref)
            assert record is not None
            assert record.name == "orders"
        for ref in ("arn:aws:sqs:us-east-1:123456789012:orders", "arn:aws:sqs:eu-west-1:999999999999:orders",
                    "http://h/999999999999/orders", "missing", "__nimbus_async"):  # fmt: skip
            assert await svc.lookup(ref) is None
        with pytest.raises(QueueDoesNotExist):
            await svc.send("missing", "x")
        with pytest.raises(SqsInvalidParameterValue):
            await svc.create_queue("__nimbus_mine", {}, {})

    run(tmp_path, body)


def test_send_is_the_door_for_platform_senders(tmp_path: Path) -> None:
    async def body(svc: QueueService, clock: FakeClock) -> None:
        await svc.create_queue("dlq", {}, {})
        attrs = {"RequestID": {"DataType": "String", "StringValue": "r-1"}}
        sent = await svc.send("arn:aws:sqs:eu-west-1:123456789012:dlq", '{"a": 1}', attrs)
        assert sent.md5_of_body == qm.md5_of_body('{"a": 1}')
        assert sent.md5_of_attributes == qm.md5_of_attributes(attrs)
        got = await svc.receive("dlq")
        assert [(m.message_id, m.body, dict(m.attributes)) for _, m in got] == [(sent.message_id, '{"a": 1}', attrs)]

    run(tmp_path, body)


def test_create_is_idempotent_for_the_same_attributes(tmp_path: Path) -> None:
    async def body(svc: QueueService, clock: FakeClock) -> None:
        await svc.create_queue("q", {"DelaySeconds": "5"}, {})
        await svc.create_queue("q", {"DelaySeconds": "5"}, {})
        await svc.create_queue("q", {}, {})
        await svc.create_queue("q", {"VisibilityTimeout": "30"}, {})  # the default, unchanged
        with pytest.raises(QueueNameExists):
            await svc.create_queue("q", {"DelaySeconds": "6"}, {})

    run(tmp_path, body)


def test_retention_expires_messages_on_receive(tmp_path: Path) -> None:
    async def body(svc: QueueService, clock: FakeClock) -> None:
        await svc.create_queue("q", {"MessageRetentionPeriod": "60"}, {})
        await svc.send("q", "old")
        clock.advance(59)
        await svc.send("q", "young")
        clock.advance(1.5)  # "old" is now 60.5 s old, "young" 1.5 s
        got = await svc.receive("q", max_count=10)
        assert [m.body for _, m in got] == ["young"]
        depth = await svc.get_attributes("q", ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])
        assert depth == {"ApproximateNumberOfMessages": "0", "ApproximateNumberOfMessagesNotVisible": "1"}

    run(tmp_path, body)


def test_redrive_moves_after_max_receive_count(tmp_path: Path) -> None:
    async def body(svc: QueueService, clock: FakeClock) -> None:
        await svc.create_queue("dlq", {}, {})
        policy = json.dumps({"deadLetterTargetArn": svc.arn("dlq"), "maxReceiveCount": "3"})
        await svc.create_queue("src", {"RedrivePolicy": policy, "VisibilityTimeout": "10"}, {})
        await svc.send("src", "poison")
        for count in (1, 2, 3):
            got = await svc.receive("src")
            assert [m.receive_count for _, m in got] == [count]
            clock.advance(10)  # the visibility timeout lapses: the message is back
        assert await svc.receive("src") == []  # the fourth receive moved it
        moved = await svc.receive("dlq")
        assert [m.body for _, m in moved] == ["poison"]
        assert await svc.dead_letter_sources("dlq") == ["src"]

    run(tmp_path, body)


def test_receive_looks_past_expired_messages_and_keeps_messages_of_a_deleted_dlq(tmp_path: Path) -> None:
    async def body(svc: QueueService, clock: FakeClock) -> None:
        await svc.create_queue("q", {"MessageRetentionPeriod": "60"}, {})
        for i in range(3):
            await svc.send("q", f"old{i}")
        clock.advance(61)
        await svc.send("q", "new")
        got = await svc.receive("q", max_count=2, wait_s=0)  # the first reservation holds only expired ones
        assert [m.body for _, m in got] == ["new"]

        await svc.create_queue("dlq", {}, {})
        policy = json.dumps({"deadLetterTargetArn": svc.arn("dlq"), "maxReceiveCount": 1})
        await svc.create_queue("src", {"RedrivePolicy": policy}, {})
        await svc.send("src", "m")
        await svc.delete_queue("dlq")
        for count in (1, 2):
            got = await svc.receive("src", visibility_s=0)
            assert [(m.body, m.receive_count) for _, m in got] == [("m", count)]

    run(tmp_path, body)


def test_receipt_handles(tmp_path: Path) -> None:
    async def body(svc: QueueService, clock: FakeClock) -> None:
        await svc.create_queue("a", {}, {})
        await svc.create_queue("b", {}, {})
        await svc.send("a", "m")
        ((handle, _),) = await svc.receive("a", visibility_s=30)
        with pytest.raises(ReceiptHandleIsInvalid):
            await svc.delete_message("b", handle)
        for bad in ("", "junk", "TklNQlVTMQphCg=="):
            with pytest.raises(ReceiptHandleIsInvalid):
                await svc.delete_message("a", bad)
        await svc.change_visibility("a", handle, 0)
        ((again, _),) = await svc.receive("a")
        await svc.delete_message("a", handle)  # stale: accepted, changes nothing
        with pytest.raises(SqsInvalidParameterValue):
            await svc.change_visibility("a", handle, 5)  # stale: no longer in flight under it
        await svc.delete_message("a", again)
        assert await svc.receive("a") == []

    run(tmp_path, body)


def test_receipt_encoding_round_trips() -> None:
    handle = qm.encode_receipt("q", "17.abc")
    assert qm.decode_receipt("q", handle) == "17.abc"
    with pytest.raises(ReceiptHandleIsInvalid):
        qm.decode_receipt("other", handle)


def test_attribute_rules() -> None:
    assert qa.normalize({"VisibilityTimeout": "043200"}, creating=True, fifo=False) == {"VisibilityTimeout": "43200"}
    with pytest.raises(InvalidAttributeValue):
        qa.normalize({"VisibilityTimeout": "43201"}, creating=True, fifo=False)
    with pytest.raises(InvalidAttributeName):  # a FIFO attribute on a standard queue
        qa.normalize({"ContentBasedDeduplication": "true"}, creating=True, fifo=False)
    assert qa.normalize({"FifoQueue": "false"}, creating=True, fifo=False) == {}
    fifo = {"FifoQueue": "true", "ContentBasedDeduplication": "TRUE", "DeduplicationScope": "messageGroup"}
    assert qa.normalize(fifo, creating=True, fifo=True) == fifo | {"ContentBasedDeduplication": "true"}
    with pytest.raises(InvalidAttributeValue):
        qa.normalize({"DeduplicationScope": "group"}, creating=True, fifo=True)
    with pytest.raises(InvalidAttributeValue):  # fixed at creation
        qa.normalize({"FifoQueue": "false"}, creating=False, fifo=True)
    assert qa.check_queue_name("jobs.fifo", {"FifoQueue": "true"}) is True
    assert qa.check_queue_name("jobs", {}) is False
    for name, attrs in [
        ("jobs.fifo", {}),
        ("jobs", {"FifoQueue": "true"}),
        ("j" * 76 + ".fifo", {"FifoQueue": "true"}),
    ]:
        with pytest.raises(SqsInvalidParameterValue):
            qa.check_queue_name(name, attrs)
    assert qa.check_queue_name("j" * 75 + ".fifo", {"FifoQueue": "true"})
    assert qa.parse_redrive('{"deadLetterTargetArn": "arn:aws:sqs:r:a:d", "maxReceiveCount": "7"}') == qa.Redrive(
        "arn:aws:sqs:r:a:d", 7
    )


def test_fifo_ids() -> None:
    queue = {"FifoQueue": "true", "ContentBasedDeduplication": "false", "DeduplicationScope": "queue"}
    assert qm.fifo_ids(queue, "b", "g", "d", None) == ("g", "d")
    with pytest.raises(SqsMissingParameter):
        qm.fifo_ids(queue, "b", None, "d", None)
    with pytest.raises(SqsInvalidParameterValue):  # neither a deduplication id nor content-based deduplication
        qm.fifo_ids(queue, "b", "g", None, None)
    with pytest.raises(SqsInvalidParameterValue):  # no per-message delay on FIFO queues
        qm.fifo_ids(queue, "b", "g", "d", 0)
    with pytest.raises(SqsInvalidParameterValue):
        qm.fifo_ids(queue, "b", "g" * 129, "d", None)
    content = queue | {"ContentBasedDeduplication": "true"}
    assert qm.fifo_ids(content, "b", "g", None, None) == ("g", hashlib.sha256(b"b").hexdigest())
    per_group = queue | {"DeduplicationScope": "messageGroup"}
    assert qm.fifo_ids(per_group, "b", "g", "d", None) == ("g", "g\x1fd")


def test_md5_of_attributes_encoding() -> None:
    """Length-prefixed name, type, then transport byte 1 (string) or 2 (binary) and the length-prefixed value."""
    s = {"n": {"DataType": "String", "StringValue": "v"}}
    assert qm.md5_of_attributes(s) == hashlib.md5(b"\0\0\0\1n\0\0\0\6String\1\0\0\0\1v").hexdigest()
    b = {"n": {"DataType": "Binary", "BinaryValue": b"\xff"}}
    assert qm.md5_of_attributes(b) == hashlib.md5(b"\0\0\0\1n\0\0\0\6Binary\2\0\0\0\1\xff").hexdigest()
    assert qm.md5_of_attributes({}) is None
