"""The built-in queues through boto3's `sqs` client (JSON 1.0, as current botocore speaks SQS) and the AWS CLI,
against the real server: every operation, every limit at the limit and one past, SQS's error names and statuses
as botocore models them, digests checked against an independent computation, long polling and visibility by
condition, redrive to a dead-letter queue."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import struct
import subprocess
import threading
import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config
from e2e_support import (
    ACCESS_KEY,
    NIMBUS,
    REGION,
    SECRET_KEY,
    aws_cli,
    expect_error,
    raw_client,
    send,
    signed,
    wait_for,
)

ACCOUNT = "000000000000"
NO_QUEUE = "AWS.SimpleQueueService.NonExistentQueue"


@pytest.fixture
def sqs(server: Any) -> Any:
    return server.client("sqs")


@pytest.fixture
def raw(server: Any) -> Any:
    """Client-side validation off, so out-of-range values reach the server."""
    return raw_client(server, "sqs")


@pytest.fixture
def queue(sqs: Any, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh queue named for the test; deleted at the end."""
    name = ("q-" + request.node.name.replace("[", "-").replace("]", "").replace("_", "-"))[:80]
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    yield url
    with contextlib.suppress(sqs.exceptions.QueueDoesNotExist):
        sqs.delete_queue(QueueUrl=url)


def reference_md5_of_attributes(attrs: dict[str, dict[str, Any]]) -> str:
    """SQS's documented digest, written independently of the server's code (as the AWS Java SDK computes it)."""
    buf = b""
    for name in sorted(attrs):
        a = attrs[name]
        buf += struct.pack(">I", len(name.encode())) + name.encode()
        buf += struct.pack(">I", len(a["DataType"].encode())) + a["DataType"].encode()
        if "BinaryValue" in a:
            buf += b"\x02" + struct.pack(">I", len(a["BinaryValue"])) + a["BinaryValue"]
        else:
            buf += b"\x01" + struct.pack(">I", len(a["StringValue"].encode())) + a["StringValue"].encode()
    return hashlib.md5(buf).hexdigest()


def receive_all(sqs: Any, url: str, **kwargs: Any) -> list[dict[str, Any]]:
    return sqs.receive_message(QueueUrl=url, **kwargs).get("Messages", [])  # type: ignore[no-any-return]


# ---- queues ----
def test_queue_lifecycle_urls_use_the_host_called(server: Any, sqs: Any) -> None:
    url = sqs.create_queue(QueueName="life-1")["QueueUrl"]
    assert url == f"{server.endpoint}/{ACCOUNT}/life-1"
    other = boto3.client(
        "sqs", endpoint_url=f"http://localhost:{server.port}", region_name=REGION, aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY, config=Config(retries={"max_attempts": 0}),
    )  # fmt: skip
    assert other.get_queue_url(QueueName="life-1")["QueueUrl"] == f"http://localhost:{server.port}/{ACCOUNT}/life-1"
    assert sqs.get_queue_url(QueueName="life-1")["QueueUrl"] == url
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]
    assert attrs == {"QueueArn": f"arn:aws:sqs:{REGION}:{ACCOUNT}:life-1"}
    sqs.delete_queue(QueueUrl=url)
    for call, kwargs in [
        (sqs.get_queue_url, {"QueueName": "life-1"}),
        (sqs.delete_queue, {"QueueUrl": url}),
        (sqs.send_message, {"QueueUrl": url, "MessageBody": "x"}),
        (sqs.receive_message, {"QueueUrl": url}),
        (sqs.get_queue_attributes, {"QueueUrl": url}),
        (sqs.purge_queue, {"QueueUrl": url}),
    ]:
        with pytest.raises(sqs.exceptions.QueueDoesNotExist) as info:
            call(**kwargs)
        assert info.value.response["Error"]["Code"] == NO_QUEUE
        assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    # the platform's own queues are not SQS queues
    expect_error(sqs.get_queue_url, NO_QUEUE, 400, QueueName="__nimbus_async")


def test_list_queues_prefix_and_pages(sqs: Any) -> None:
    urls = [sqs.create_queue(QueueName=f"lst-{i}")["QueueUrl"] for i in range(5)]
    sqs.create_queue(QueueName="other-lst")
    assert sqs.list_queues(QueueNamePrefix="lst-")["QueueUrls"] == urls
    assert "QueueUrls" not in sqs.list_queues(QueueNamePrefix="no-such-prefix")
    pages, token = [], None
    while True:
        resp = sqs.list_queues(QueueNamePrefix="lst-", MaxResults=2, **({"NextToken": token} if token else {}))
        pages.append(resp["QueueUrls"])
        token = resp.get("NextToken")
        if not token:
            break
    assert pages == [urls[0:2], urls[2:4], urls[4:5]]
    assert [u for p in sqs.get_paginator("list_queues").paginate(QueueNamePrefix="lst-", MaxResults=1)
            for u in p["QueueUrls"]] == urls  # fmt: skip
    # MaxResults is range-checked by the server: 1..1000
    raw = sqs
    assert len(raw.list_queues(QueueNamePrefix="lst-", MaxResults=1000)["QueueUrls"]) == 5
    expect_error(raw.list_queues, "InvalidParameterValue", 400, MaxResults=1001)
    expect_error(raw.list_queues, "InvalidParameterValue", 400, MaxResults=0)
    for url in urls:
        sqs.delete_queue(QueueUrl=url)


def test_create_queue_is_idempotent_for_the_same_attributes(sqs: Any) -> None:
    url = sqs.create_queue(QueueName="idem", Attributes={"VisibilityTimeout": "40"})["QueueUrl"]
    assert sqs.create_queue(QueueName="idem", Attributes={"VisibilityTimeout": "40"})["QueueUrl"] == url
    assert sqs.create_queue(QueueName="idem")["QueueUrl"] == url
    with pytest.raises(sqs.exceptions.QueueNameExists) as info:
        sqs.create_queue(QueueName="idem", Attributes={"VisibilityTimeout": "41"})
    assert info.value.response["Error"]["Code"] == "QueueAlreadyExists"
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    sqs.delete_queue(QueueUrl=url)


def test_queue_name_rules(sqs: Any) -> None:
    name = "n" * 80
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    assert url.endswith("/" + name)
    sqs.delete_queue(QueueUrl=url)
    for bad in ["n" * 81, "has space", "dot.name", "slash/name"]:
        expect_error(sqs.create_queue, "InvalidParameterValue", 400, QueueName=bad)
    url = sqs.create_queue(QueueName="A-z_09")["QueueUrl"]
    sqs.delete_queue(QueueUrl=url)
    # FIFO queues: `.fifo` names with FifoQueue=true, 80 characters in all
    url = sqs.create_queue(QueueName="f" * 75 + ".fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
    sqs.delete_queue(QueueUrl=url)
    for bad, attrs in [("f" * 76 + ".fifo", {"FifoQueue": "true"}), ("plain", {"FifoQueue": "true"}),
                       ("orders.fifo", {}), ("orders.fifo", {"FifoQueue": "false"})]:  # fmt: skip
        expect_error(sqs.create_queue, "InvalidParameterValue", 400, QueueName=bad, Attributes=attrs)


def test_attributes_defaults_ranges_and_names(sqs: Any, queue: str) -> None:
    attrs = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["All"])["Attributes"]
    assert {k: attrs[k] for k in ("VisibilityTimeout", "MessageRetentionPeriod", "DelaySeconds",
                                  "ReceiveMessageWaitTimeSeconds", "MaximumMessageSize")} == {
        "VisibilityTimeout": "30", "MessageRetentionPeriod": "345600", "DelaySeconds": "0",
        "ReceiveMessageWaitTimeSeconds": "0", "MaximumMessageSize": "262144",
    }  # fmt: skip
    assert attrs["ApproximateNumberOfMessages"] == "0"
    assert attrs["QueueArn"].endswith(":" + queue.rsplit("/", 1)[1])
    limits = {
        "VisibilityTimeout": (0, 43200), "MessageRetentionPeriod": (60, 1209600), "DelaySeconds": (0, 900),
        "ReceiveMessageWaitTimeSeconds": (0, 20), "MaximumMessageSize": (1024, 262144),
    }  # fmt: skip
    for name, (lo, hi) in limits.items():
        for ok in (lo, hi):
            sqs.set_queue_attributes(QueueUrl=queue, Attributes={name: str(ok)})
            got = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=[name])["Attributes"]
            assert got == {name: str(ok)}
        for bad in (str(lo - 1), str(hi + 1), "ten", "1.5", ""):
            with pytest.raises(sqs.exceptions.InvalidAttributeValue):
                sqs.set_queue_attributes(QueueUrl=queue, Attributes={name: bad})
        assert sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=[name])["Attributes"] == {name: str(hi)}
    with pytest.raises(sqs.exceptions.InvalidAttributeName):
        sqs.set_queue_attributes(QueueUrl=queue, Attributes={"Colour": "blue"})
    with pytest.raises(sqs.exceptions.InvalidAttributeName):
        sqs.set_queue_attributes(QueueUrl=queue, Attributes={"QueueArn": "arn:aws:sqs:x"})
    expect_error(sqs.get_queue_attributes, "InvalidAttributeName", 400, QueueUrl=queue, AttributeNames=["Colour"])
    with pytest.raises(sqs.exceptions.InvalidAttributeValue):
        sqs.create_queue(QueueName="bad-attr", Attributes={"DelaySeconds": "901"})
    expect_error(sqs.get_queue_url, NO_QUEUE, 400, QueueName="bad-attr")  # nothing was created


def test_tags(sqs: Any, queue: str) -> None:
    assert "Tags" not in sqs.list_queue_tags(QueueUrl=queue)
    sqs.tag_queue(QueueUrl=queue, Tags={"team": "a", "env": "dev"})
    sqs.tag_queue(QueueUrl=queue, Tags={"team": "b"})
    assert sqs.list_queue_tags(QueueUrl=queue)["Tags"] == {"team": "b", "env": "dev"}
    sqs.untag_queue(QueueUrl=queue, TagKeys=["env", "missing"])
    assert sqs.list_queue_tags(QueueUrl=queue)["Tags"] == {"team": "b"}
    url = sqs.create_queue(QueueName="tagged-at-birth", tags={"k": "v"})["QueueUrl"]
    assert sqs.list_queue_tags(QueueUrl=url)["Tags"] == {"k": "v"}
    sqs.delete_queue(QueueUrl=url)


# ---- messages ----
def test_send_receive_delete_with_digests(sqs: Any, queue: str) -> None:
    attrs = {
        "colour": {"DataType": "String", "StringValue": "blüe"},
        "count": {"DataType": "Number", "StringValue": "42.5"},
        "blob": {"DataType": "Binary", "BinaryValue": b"\x00\x01\xff"},
        "custom": {"DataType": "String.custom", "StringValue": "x"},
    }
    body = "héllo \U0001f600 wörld"
    sent = sqs.send_message(QueueUrl=queue, MessageBody=body, MessageAttributes=attrs,
                            MessageSystemAttributes={"AWSTraceHeader": {"DataType": "String",
                                                                        "StringValue": "Root=1-abc"}})  # fmt: skip
    assert sent["MD5OfMessageBody"] == hashlib.md5(body.encode()).hexdigest()
    assert sent["MD5OfMessageAttributes"] == reference_md5_of_attributes(attrs)
    assert sent["MD5OfMessageSystemAttributes"] == reference_md5_of_attributes(
        {"AWSTraceHeader": {"DataType": "String", "StringValue": "Root=1-abc"}}
    )
    msgs = receive_all(sqs, queue, MessageAttributeNames=["All"], MessageSystemAttributeNames=["All"])
    assert len(msgs) == 1
    m = msgs[0]
    assert m["MessageId"] == sent["MessageId"]
    assert m["Body"] == body
    assert m["MD5OfBody"] == sent["MD5OfMessageBody"]
    assert m["MessageAttributes"] == attrs
    assert m["MD5OfMessageAttributes"] == sent["MD5OfMessageAttributes"]
    system = m["Attributes"]
    assert system["ApproximateReceiveCount"] == "1"
    assert system["SenderId"] == ACCOUNT
    assert system["AWSTraceHeader"] == "Root=1-abc"
    assert abs(int(system["SentTimestamp"]) - time.time() * 1000) < 60_000
    sqs.delete_message(QueueUrl=queue, ReceiptHandle=m["ReceiptHandle"])
    sqs.delete_message(QueueUrl=queue, ReceiptHandle=m["ReceiptHandle"])  # stale: accepted, as SQS does
    assert receive_all(sqs, queue) == []


def test_receive_selects_attributes(sqs: Any, queue: str) -> None:
    attrs = {"a.one": {"DataType": "String", "StringValue": "1"}, "a.two": {"DataType": "String", "StringValue": "2"},
             "b": {"DataType": "Number", "StringValue": "3"}}  # fmt: skip
    sqs.send_message(QueueUrl=queue, MessageBody="x", MessageAttributes=attrs)
    m = receive_all(sqs, queue, MessageAttributeNames=["a.*"], AttributeNames=["SentTimestamp"], VisibilityTimeout=0)[0]
    chosen = {k: attrs[k] for k in ("a.one", "a.two")}
    assert m["MessageAttributes"] == chosen
    assert m["MD5OfMessageAttributes"] == reference_md5_of_attributes(chosen)
    assert set(m["Attributes"]) == {"SentTimestamp"}
    m = receive_all(sqs, queue, VisibilityTimeout=0)[0]
    assert "MessageAttributes" not in m
    assert "Attributes" not in m
    m = receive_all(sqs, queue, MessageAttributeNames=["b", "nope"])[0]
    assert m["MessageAttributes"] == {"b": attrs["b"]}


def test_message_attribute_rules(sqs: Any, raw: Any, queue: str) -> None:
    def bad(**kwargs: Any) -> None:
        expect_error(raw.send_message, "InvalidParameterValue", 400, QueueUrl=queue, MessageBody="x", **kwargs)

    bad(MessageAttributes={"n": {"DataType": "Number", "StringValue": "not a number"}})
    bad(MessageAttributes={"n": {"DataType": "Text", "StringValue": "x"}})
    bad(MessageAttributes={"n": {"DataType": "String", "StringValue": ""}})
    bad(MessageAttributes={"AWS.reserved": {"DataType": "String", "StringValue": "x"}})
    ten = {f"k{i}": {"DataType": "String", "StringValue": "v"} for i in range(10)}
    sqs.send_message(QueueUrl=queue, MessageBody="x", MessageAttributes=ten)
    bad(MessageAttributes=ten | {"k10": {"DataType": "String", "StringValue": "v"}})
    expect_error(raw.send_message, "InvalidMessageContents", 400, QueueUrl=queue, MessageBody="bad \x00 char")
    expect_error(raw.send_message, "MissingParameter", 400, QueueUrl=queue, MessageBody="")


def test_message_size_limit(sqs: Any, raw: Any, queue: str) -> None:
    limit = 262_144
    sqs.send_message(QueueUrl=queue, MessageBody="x" * limit)
    expect_error(raw.send_message, "InvalidParameterValue", 400, QueueUrl=queue, MessageBody="x" * (limit + 1))
    # attributes count: name + type + value
    attr = {"k": {"DataType": "String", "StringValue": "vv"}}  # 1 + 6 + 2 = 9 bytes
    sqs.send_message(QueueUrl=queue, MessageBody="x" * (limit - 9), MessageAttributes=attr)
    expect_error(raw.send_message, "InvalidParameterValue", 400, QueueUrl=queue, MessageBody="x" * (limit - 8),
                 MessageAttributes=attr)  # fmt: skip
    # multi-byte characters count as bytes
    expect_error(raw.send_message, "InvalidParameterValue", 400, QueueUrl=queue,
                 MessageBody="é" * (limit // 2 + 1))  # fmt: skip
    sqs.set_queue_attributes(QueueUrl=queue, Attributes={"MaximumMessageSize": "1024"})
    sqs.send_message(QueueUrl=queue, MessageBody="x" * 1024)
    expect_error(raw.send_message, "InvalidParameterValue", 400, QueueUrl=queue, MessageBody="x" * 1025)
    got = receive_all(sqs, queue, MaxNumberOfMessages=10)
    assert sorted(len(m["Body"]) for m in got) == [1024, limit - 9, limit]


def test_send_batch_rules(sqs: Any, raw: Any, queue: str) -> None:
    ten = [{"Id": f"m{i}", "MessageBody": f"body {i}"} for i in range(10)]
    resp = sqs.send_message_batch(QueueUrl=queue, Entries=ten)
    assert [s["Id"] for s in resp["Successful"]] == [e["Id"] for e in ten]
    assert all(s["MD5OfMessageBody"] == hashlib.md5(f"body {i}".encode()).hexdigest()
               for i, s in enumerate(resp["Successful"]))  # fmt: skip
    assert not resp.get("Failed")
    eleven = [*ten, {"Id": "m10", "MessageBody": "x"}]
    with pytest.raises(sqs.exceptions.TooManyEntriesInBatchRequest) as info:
        raw.send_message_batch(QueueUrl=queue, Entries=eleven)
    assert info.value.response["Error"]["Code"] == "AWS.SimpleQueueService.TooManyEntriesInBatchRequest"
    with pytest.raises(sqs.exceptions.EmptyBatchRequest):
        raw.send_message_batch(QueueUrl=queue, Entries=[])
    with pytest.raises(sqs.exceptions.BatchEntryIdsNotDistinct):
        sqs.send_message_batch(
            QueueUrl=queue, Entries=[{"Id": "a", "MessageBody": "1"}, {"Id": "a", "MessageBody": "2"}]
        )
    sqs.send_message_batch(QueueUrl=queue, Entries=[{"Id": "i" * 80, "MessageBody": "x"}])
    for bad_id in ["i" * 81, "has space", "dot.id", ""]:
        with pytest.raises(sqs.exceptions.InvalidBatchEntryId):
            raw.send_message_batch(QueueUrl=queue, Entries=[{"Id": bad_id, "MessageBody": "x"}])
    # the whole batch is limited to 256 KB, too
    half = 131_072
    sqs.send_message_batch(QueueUrl=queue, Entries=[{"Id": "a", "MessageBody": "x" * half},
                                                    {"Id": "b", "MessageBody": "x" * half}])  # fmt: skip
    with pytest.raises(sqs.exceptions.BatchRequestTooLong):
        raw.send_message_batch(QueueUrl=queue, Entries=[{"Id": "a", "MessageBody": "x" * half},
                                                        {"Id": "b", "MessageBody": "x" * (half + 1)}])  # fmt: skip
    # one bad entry fails alone
    entries = [
        {"Id": "good", "MessageBody": "fine"},
        {"Id": "bad", "MessageBody": "nul \x00"},
        {"Id": "late", "MessageBody": "x", "DelaySeconds": 901},
    ]
    resp = raw.send_message_batch(QueueUrl=queue, Entries=entries)
    assert [s["Id"] for s in resp["Successful"]] == ["good"]
    failed = {f["Id"]: f for f in resp["Failed"]}
    assert failed["bad"]["Code"] == "InvalidMessageContents"
    assert failed["bad"]["SenderFault"] is True
    assert failed["late"]["Code"] == "InvalidParameterValue"


def test_receive_limits(sqs: Any, raw: Any, queue: str) -> None:
    sqs.send_message_batch(QueueUrl=queue, Entries=[{"Id": f"m{i}", "MessageBody": str(i)} for i in range(10)])
    sqs.send_message(QueueUrl=queue, MessageBody="10")
    for bad in (0, 11):
        expect_error(raw.receive_message, "InvalidParameterValue", 400, QueueUrl=queue, MaxNumberOfMessages=bad)
    expect_error(raw.receive_message, "InvalidParameterValue", 400, QueueUrl=queue, WaitTimeSeconds=21)
    expect_error(raw.receive_message, "InvalidParameterValue", 400, QueueUrl=queue, VisibilityTimeout=43201)
    expect_error(raw.receive_message, "InvalidParameterValue", 400, QueueUrl=queue, VisibilityTimeout=-1)
    got = receive_all(sqs, queue, MaxNumberOfMessages=10, WaitTimeSeconds=20, VisibilityTimeout=43200)
    assert len(got) == 10
    assert len(receive_all(sqs, queue, MaxNumberOfMessages=10)) == 1
    assert receive_all(sqs, queue, MaxNumberOfMessages=1) == []
    depth = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["ApproximateNumberOfMessagesNotVisible"])
    assert depth["Attributes"] == {"ApproximateNumberOfMessagesNotVisible": "11"}


def test_long_poll_returns_when_a_message_arrives(sqs: Any, queue: str) -> None:
    result: dict[str, Any] = {}

    def poll() -> None:
        started = time.monotonic()
        result["msgs"] = receive_all(sqs, queue, WaitTimeSeconds=20)
        result["elapsed"] = time.monotonic() - started

    poller = threading.Thread(target=poll)
    poller.start()
    time.sleep(0.3)  # let the poll start waiting (the test holds either way: the message is what ends it)
    sqs.send_message(QueueUrl=queue, MessageBody="wake up")
    poller.join(timeout=25)
    assert [m["Body"] for m in result["msgs"]] == ["wake up"]
    assert result["elapsed"] < 15  # it returned on arrival, not at the end of its 20 s
    # the queue's ReceiveMessageWaitTimeSeconds is the default wait; an empty short poll answers at once
    started = time.monotonic()
    assert receive_all(sqs, queue, WaitTimeSeconds=1) == []
    assert time.monotonic() - started >= 0.9


def test_visibility_timeout_expiry_and_changes(sqs: Any, raw: Any, queue: str) -> None:
    sqs.send_message(QueueUrl=queue, MessageBody="v")
    first = receive_all(sqs, queue, VisibilityTimeout=1)[0]
    assert receive_all(sqs, queue) == []
    again = wait_for(
        lambda: receive_all(sqs, queue, VisibilityTimeout=30, AttributeNames=["ApproximateReceiveCount"]),
        timeout=15.0,
        step=0.1,
    )
    assert again[0]["MessageId"] == first["MessageId"]
    assert again[0]["Attributes"]["ApproximateReceiveCount"] == "2"
    handle = again[0]["ReceiptHandle"]
    expect_error(raw.change_message_visibility, "InvalidParameterValue", 400, QueueUrl=queue, ReceiptHandle=handle,
                 VisibilityTimeout=43201)  # fmt: skip
    with pytest.raises(sqs.exceptions.ReceiptHandleIsInvalid):
        sqs.change_message_visibility(QueueUrl=queue, ReceiptHandle="garbage", VisibilityTimeout=0)
    sqs.change_message_visibility(QueueUrl=queue, ReceiptHandle=handle, VisibilityTimeout=43200)
    sqs.change_message_visibility(QueueUrl=queue, ReceiptHandle=handle, VisibilityTimeout=0)
    third = receive_all(sqs, queue)
    assert third[0]["MessageId"] == first["MessageId"]
    # batch: one good, one bad handle
    resp = sqs.change_message_visibility_batch(QueueUrl=queue, Entries=[
        {"Id": "ok", "ReceiptHandle": third[0]["ReceiptHandle"], "VisibilityTimeout": 0},
        {"Id": "bad", "ReceiptHandle": "garbage", "VisibilityTimeout": 0},
    ])  # fmt: skip
    assert [s["Id"] for s in resp["Successful"]] == ["ok"]
    assert [(f["Id"], f["Code"]) for f in resp["Failed"]] == [("bad", "ReceiptHandleIsInvalid")]
    assert receive_all(sqs, queue)[0]["MessageId"] == first["MessageId"]


def test_delete_message_rules(sqs: Any, raw: Any, queue: str, server: Any) -> None:
    sqs.send_message_batch(QueueUrl=queue, Entries=[{"Id": f"m{i}", "MessageBody": str(i)} for i in range(3)])
    got = receive_all(sqs, queue, MaxNumberOfMessages=10)
    assert len(got) == 3
    with pytest.raises(sqs.exceptions.ReceiptHandleIsInvalid) as info:
        sqs.delete_message(QueueUrl=queue, ReceiptHandle="not-a-handle")
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    other = sqs.create_queue(QueueName="del-other")["QueueUrl"]
    with pytest.raises(sqs.exceptions.ReceiptHandleIsInvalid):  # a handle of another queue
        sqs.delete_message(QueueUrl=other, ReceiptHandle=got[0]["ReceiptHandle"])
    sqs.delete_queue(QueueUrl=other)
    resp = sqs.delete_message_batch(QueueUrl=queue, Entries=[
        {"Id": "a", "ReceiptHandle": got[0]["ReceiptHandle"]},
        {"Id": "b", "ReceiptHandle": got[1]["ReceiptHandle"]},
        {"Id": "c", "ReceiptHandle": "junk"},
    ])  # fmt: skip
    assert sorted(s["Id"] for s in resp["Successful"]) == ["a", "b"]
    assert [(f["Id"], f["Code"], f["SenderFault"]) for f in resp["Failed"]] == [("c", "ReceiptHandleIsInvalid", True)]
    with pytest.raises(sqs.exceptions.TooManyEntriesInBatchRequest):
        raw.delete_message_batch(QueueUrl=queue, Entries=[{"Id": f"x{i}", "ReceiptHandle": "h"} for i in range(11)])
    with pytest.raises(sqs.exceptions.BatchEntryIdsNotDistinct):
        sqs.delete_message_batch(QueueUrl=queue, Entries=[{"Id": "x", "ReceiptHandle": "h"}] * 2)
    sqs.delete_message(QueueUrl=queue, ReceiptHandle=got[2]["ReceiptHandle"])
    depth = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["All"])["Attributes"]
    assert (depth["ApproximateNumberOfMessages"], depth["ApproximateNumberOfMessagesNotVisible"]) == ("0", "0")


def test_delay_seconds(sqs: Any, raw: Any, queue: str) -> None:
    sqs.send_message(QueueUrl=queue, MessageBody="later", DelaySeconds=900)
    expect_error(raw.send_message, "InvalidParameterValue", 400, QueueUrl=queue, MessageBody="x", DelaySeconds=901)
    attrs = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["All"])["Attributes"]
    assert attrs["ApproximateNumberOfMessagesDelayed"] == "1"
    assert receive_all(sqs, queue) == []
    sqs.set_queue_attributes(QueueUrl=queue, Attributes={"DelaySeconds": "1"})
    sqs.send_message(QueueUrl=queue, MessageBody="queue default delay")
    assert receive_all(sqs, queue) == []
    delayed = wait_for(lambda: receive_all(sqs, queue), timeout=15.0, step=0.1)
    assert [m["Body"] for m in delayed] == ["queue default delay"]
    sqs.send_message(QueueUrl=queue, MessageBody="no delay", DelaySeconds=0)
    assert [m["Body"] for m in receive_all(sqs, queue)] == ["no delay"]


def test_redrive_to_dead_letter_queue(sqs: Any) -> None:
    dlq = sqs.create_queue(QueueName="redrive-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    policy = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 2})
    src = sqs.create_queue(QueueName="redrive-src", Attributes={"RedrivePolicy": policy})["QueueUrl"]
    got = sqs.get_queue_attributes(QueueUrl=src, AttributeNames=["RedrivePolicy"])["Attributes"]["RedrivePolicy"]
    assert json.loads(got) == {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 2}
    assert sqs.list_dead_letter_source_queues(QueueUrl=dlq)["queueUrls"] == [src]
    sqs.send_message(QueueUrl=src, MessageBody="poison", MessageAttributes={"k": {"DataType": "String",
                                                                                  "StringValue": "v"}})  # fmt: skip
    for count in (1, 2):
        m = receive_all(sqs, src, VisibilityTimeout=0, AttributeNames=["ApproximateReceiveCount"])
        assert m[0]["Attributes"]["ApproximateReceiveCount"] == str(count)
    assert receive_all(sqs, src, VisibilityTimeout=0) == []  # the third receive moves it instead
    moved = receive_all(sqs, dlq, MessageAttributeNames=["All"])
    assert [m["Body"] for m in moved] == ["poison"]
    assert moved[0]["MessageAttributes"] == {"k": {"DataType": "String", "StringValue": "v"}}
    # bad policies: nothing changes
    for bad in [
        json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 1001}),
        json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 0}),
        json.dumps({"deadLetterTargetArn": f"arn:aws:sqs:{REGION}:{ACCOUNT}:missing", "maxReceiveCount": 1}),
        json.dumps({"maxReceiveCount": 1}),
        "not json",
    ]:
        with pytest.raises(sqs.exceptions.InvalidAttributeValue):
            sqs.set_queue_attributes(QueueUrl=src, Attributes={"RedrivePolicy": bad})
    sqs.set_queue_attributes(QueueUrl=src, Attributes={"RedrivePolicy": json.dumps(
        {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "1000"})})  # fmt: skip
    sqs.set_queue_attributes(QueueUrl=src, Attributes={"RedrivePolicy": ""})  # removes it
    assert "RedrivePolicy" not in sqs.get_queue_attributes(QueueUrl=src, AttributeNames=["All"])["Attributes"]
    sqs.delete_queue(QueueUrl=src)
    sqs.delete_queue(QueueUrl=dlq)


def test_purge(sqs: Any, queue: str) -> None:
    sqs.send_message_batch(QueueUrl=queue, Entries=[{"Id": f"m{i}", "MessageBody": str(i)} for i in range(5)])
    receive_all(sqs, queue)
    sqs.purge_queue(QueueUrl=queue)
    attrs = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["All"])["Attributes"]
    assert (attrs["ApproximateNumberOfMessages"], attrs["ApproximateNumberOfMessagesNotVisible"]) == ("0", "0")
    assert receive_all(sqs, queue) == []


# ---- the wire ----
def test_model_validation_and_error_shape(server: Any, queue: str) -> None:
    def call(op: str, doc: Any, service: str = "sqs") -> tuple[int, dict[str, str], Any]:
        req = signed(server.endpoint + "/", "POST", json.dumps(doc).encode(), service=service, headers={
            "X-Amz-Target": f"AmazonSQS.{op}", "Content-Type": "application/x-amz-json-1.0"})  # fmt: skip
        status, headers, body = send(req)
        return status, {k.lower(): v for k, v in headers.items()}, json.loads(body)

    status, headers, body = call("GetQueueUrl", {"QueueName": "no-such-queue"})
    assert status == 400
    assert body["__type"].endswith("QueueDoesNotExist")
    assert headers["x-amzn-query-error"] == f"{NO_QUEUE};Sender"
    assert headers["content-type"] == "application/x-amz-json-1.0"
    status, headers, body = call("SendMessage", {"QueueUrl": queue})  # MessageBody is required
    assert (status, headers["x-amzn-query-error"]) == (400, "MissingParameter;Sender")
    status, headers, body = call("ReceiveMessage", {"QueueUrl": queue, "MaxNumberOfMessages": "ten"})
    assert (status, headers["x-amzn-query-error"]) == (400, "InvalidParameterValue;Sender")
    status, headers, body = call("GetQueueAttributes", {"QueueUrl": queue, "AttributeNames": ["Colour"]})
    assert (status, headers["x-amzn-query-error"]) == (400, "InvalidAttributeName;Sender")
    status, headers, body = call("SendMessage", {"QueueUrl": queue, "MessageBody": "x",
                                                 "MessageAttributes": {"b": {"DataType": "Binary",
                                                                             "BinaryValue": "%%%"}}})  # fmt: skip
    assert (status, headers["x-amzn-query-error"]) == (400, "InvalidParameterValue;Sender")
    status, _, body = call("AddPermission", {"QueueUrl": queue, "Label": "l", "AWSAccountIds": ["1"],
                                             "Actions": ["SendMessage"]})  # fmt: skip
    assert status == 400
    assert body["__type"] == "UnsupportedOperation"
    status, _, _ = call("ListQueues", {}, service="lambda")  # signed for another service's scope
    assert status == 403


def test_aws_cli(server: Any, sqs: Any) -> None:
    out = json.loads(aws_cli(server, "sqs", "create-queue", "--queue-name", "cli-queue").stdout)
    url = out["QueueUrl"]
    assert url == f"{server.endpoint}/{ACCOUNT}/cli-queue"
    sent = json.loads(aws_cli(server, "sqs", "send-message", "--queue-url", url, "--message-body", "from cli").stdout)
    assert sent["MD5OfMessageBody"] == hashlib.md5(b"from cli").hexdigest()
    got = json.loads(aws_cli(server, "sqs", "receive-message", "--queue-url", url).stdout)
    assert [m["Body"] for m in got["Messages"]] == ["from cli"]
    missing = aws_cli(server, "sqs", "get-queue-url", "--queue-name", "cli-missing", check=False)
    assert missing.returncode != 0
    assert "NonExistentQueue" in missing.stderr
    sqs.delete_queue(QueueUrl=url)


def test_nimbus_queue_cli(server: Any, sqs: Any) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NIMBUS_", "AWS_"))}
    env.update(AWS_SHARED_CREDENTIALS_FILE="/nonexistent", AWS_CONFIG_FILE="/nonexistent", COLUMNS="200",
               NIMBUS_ENDPOINT_URL=server.endpoint)  # fmt: skip

    def nimbus(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*NIMBUS, "queue", *args], capture_output=True, text=True, env=env, timeout=60)

    created = nimbus("create", "cli-dlq")
    assert created.returncode == 0, created.stderr
    created = nimbus("create", "cli-q", "-a", "VisibilityTimeout=5", "--dead-letter", "cli-dlq", "--max-receives", "3")
    assert created.returncode == 0, created.stderr
    url = created.stdout.strip()
    assert url == f"{server.endpoint}/{ACCOUNT}/cli-q"
    policy = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["RedrivePolicy"])["Attributes"]["RedrivePolicy"]
    assert json.loads(policy)["maxReceiveCount"] == 3
    sent = nimbus("send", "cli-q", "hello cli", "-a", "k=v")
    assert sent.returncode == 0, sent.stderr
    listed = nimbus("list", "--prefix", "cli-")
    assert "cli-q" in listed.stdout
    assert "cli-dlq" in listed.stdout
    got = nimbus("receive", "cli-q", "--delete")
    assert got.returncode == 0, got.stderr
    line = json.loads(got.stdout.strip())
    assert (line["Body"], line["MessageId"], line["MessageAttributes"]) == (
        "hello cli",
        sent.stdout.strip(),
        {"k": "v"},
    )
    assert nimbus("receive", "cli-q").stdout.strip() == ""
    nimbus("send", "cli-q", "to purge")
    assert nimbus("purge", "cli-q").returncode == 0
    assert sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])["Attributes"] == {
        "ApproximateNumberOfMessages": "0"
    }
    bad = nimbus("create", "bad name")
    assert bad.returncode == 1
    assert bad.stderr.startswith("error: InvalidParameterValue")
    for name in ("cli-q", "cli-dlq"):
        assert nimbus("delete", name).returncode == 0
    missing = nimbus("send", "cli-q", "x")
    assert missing.returncode == 1
    assert "NonExistentQueue" in missing.stderr


def test_fifo_queues(sqs: Any, raw: Any, queue: str) -> None:
    url = sqs.create_queue(QueueName="jobs.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert (attrs["FifoQueue"], attrs["ContentBasedDeduplication"], attrs["DeduplicationScope"],
            attrs["FifoThroughputLimit"]) == ("true", "false", "queue", "perQueue")  # fmt: skip
    # SQS's FIFO rules
    expect_error(raw.send_message, "MissingParameter", 400, QueueUrl=url, MessageBody="x", MessageDeduplicationId="d")
    expect_error(raw.send_message, "InvalidParameterValue", 400, QueueUrl=url, MessageBody="x", MessageGroupId="g")
    expect_error(raw.send_message, "InvalidParameterValue", 400, QueueUrl=url, MessageBody="x", MessageGroupId="g",
                 MessageDeduplicationId="d", DelaySeconds=1)  # fmt: skip
    expect_error(raw.send_message, "InvalidParameterValue", 400, QueueUrl=url, MessageBody="x",
                 MessageGroupId="g" * 129, MessageDeduplicationId="d")  # fmt: skip
    expect_error(raw.send_message, "InvalidParameterValue", 400, QueueUrl=queue, MessageBody="x",
                 MessageDeduplicationId="d")  # a standard queue takes no deduplication id  # fmt: skip
    with pytest.raises(sqs.exceptions.InvalidAttributeName):
        sqs.set_queue_attributes(QueueUrl=queue, Attributes={"ContentBasedDeduplication": "true"})
    # order per group; a group waits while one of its messages is in flight; other groups go on
    for i, group in enumerate(["a", "a", "b", "a", "b"]):
        sqs.send_message(QueueUrl=url, MessageBody=f"{group}{i}", MessageGroupId="g" * 128 if group == "a" else "b",
                         MessageDeduplicationId=f"d{i}")  # fmt: skip
    dup = sqs.send_message(QueueUrl=url, MessageBody="a0 again", MessageGroupId="b", MessageDeduplicationId="d0")
    first = receive_all(sqs, url, MaxNumberOfMessages=1, MessageSystemAttributeNames=["All"])
    assert [m["Body"] for m in first] == ["a0"]
    assert first[0]["MessageId"] == dup["MessageId"]  # the repeat was dropped and answered the first one's id
    system = first[0]["Attributes"]
    assert (system["MessageGroupId"], system["MessageDeduplicationId"]) == ("g" * 128, "d0")
    assert system["SequenceNumber"].isdigit()
    rest = receive_all(sqs, url, MaxNumberOfMessages=10)
    assert [m["Body"] for m in rest] == ["b2", "b4"]  # group a is blocked behind a0, in flight
    sqs.delete_message(QueueUrl=url, ReceiptHandle=first[0]["ReceiptHandle"])
    assert [m["Body"] for m in receive_all(sqs, url, MaxNumberOfMessages=10)] == ["a1", "a3"]
    # content-based deduplication: the body's SHA-256 is the deduplication id
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"ContentBasedDeduplication": "true"})
    one = sqs.send_message(QueueUrl=url, MessageBody="same", MessageGroupId="c")
    two = sqs.send_message(QueueUrl=url, MessageBody="same", MessageGroupId="c")
    assert one["MessageId"] == two["MessageId"]
    batch = sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": "x", "MessageBody": "other", "MessageGroupId": "c"},
                                                          {"Id": "y", "MessageBody": "x"}])  # fmt: skip
    assert [s["Id"] for s in batch["Successful"]] == ["x"]
    assert [(f["Id"], f["Code"]) for f in batch["Failed"]] == [("y", "MissingParameter")]
    # a FIFO queue's dead-letter queue is FIFO too
    arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    with pytest.raises(sqs.exceptions.InvalidAttributeValue):
        sqs.set_queue_attributes(QueueUrl=url, Attributes={"RedrivePolicy": json.dumps(
            {"deadLetterTargetArn": arn, "maxReceiveCount": 1})})  # fmt: skip
    with pytest.raises(sqs.exceptions.InvalidAttributeValue):
        sqs.set_queue_attributes(QueueUrl=url, Attributes={"FifoQueue": "false"})
    sqs.delete_queue(QueueUrl=url)
