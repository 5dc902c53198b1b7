"""The topics service over real parts: the control database and the durable queue store in tmp_path, the real
QueueService and the real delivery path's `submit` (what Publish stores is read back from the delivery queue, and
queue deliveries are attempted through `Deliveries.attempt`). Function deliveries end at the durable submit here;
the e2e tests run them through the function's policy and the async door."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from nimbus.clock import FakeClock
from nimbus.config import Settings
from nimbus.errors import (
    SnsBatchIdsNotDistinct,
    SnsBatchTooLong,
    SnsEmptyBatch,
    SnsInvalidBatchEntryId,
    SnsInvalidParameter,
    SnsNotFound,
    SnsTooManyEntries,
)
from nimbus.protocol import sns_messages as sm
from nimbus.queue.service import QueueService
from nimbus.queue.sqlite import SqliteQueueStore
from nimbus.sources.deliveries import DELIVERY_QUEUE, Deliveries, Delivery, DeliverySettings, decode
from nimbus.sources.sns_fanout import CERT_PATH
from nimbus.sources.sns_signing import SigningKey
from nimbus.sources.topics import Topics
from nimbus.store.db import migrate, sqlite_engine
from nimbus.store.schema import metadata

ACCOUNT = "000000000000"
FN = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:fn"
QUEUE = f"arn:aws:sqs:us-east-1:{ACCOUNT}:target"
BASE = "http://127.0.0.1:9"


@dataclass
class World:
    topics: Topics
    deliveries: Deliveries
    queues: SqliteQueueStore
    service: QueueService

    async def submitted(self) -> list[Delivery]:
        got = await self.queues.reserve(DELIVERY_QUEUE, 100, 60.0)
        return [decode(m.body).delivery for m in got]


def run(tmp_path: Path, body: Callable[[World], Awaitable[None]]) -> None:
    async def main() -> None:
        clock = FakeClock(1_800_000_000.0)
        settings = Settings(data_dir=tmp_path)
        engine = sqlite_engine(tmp_path / "nimbus.db")
        migrate(engine, metadata)
        queues = SqliteQueueStore(tmp_path / "queues.db", clock)
        service = QueueService(queues, settings.region, settings.account_id, clock)
        await service.create_queue("target", {}, {})
        # no function is delivered to here: the async door and policies are the e2e tests' (None: never reached)
        deliveries = Deliveries(DeliverySettings(), queues, service, None, None, clock)  # type: ignore[arg-type]
        await queues.create_queue(DELIVERY_QUEUE, {}, {})
        topics = Topics(settings, engine, deliveries, SigningKey(tmp_path, "us-east-1"), lambda: BASE, clock)
        topics.load()
        try:
            await body(World(topics, deliveries, queues, service))
        finally:
            await queues.close()
            engine.dispose()

    asyncio.run(main())


# ---- topics ---------------------------------------------------------------------------------------------------------


def test_create_topic_is_idempotent_and_refuses_different_attributes(tmp_path: Path) -> None:
    async def body(w: World) -> None:
        t = w.topics
        arn = t.create_topic("orders", {"DisplayName": "Orders"}, {"team": "a"})
        assert arn == f"arn:aws:sns:us-east-1:{ACCOUNT}:orders"
        assert t.create_topic("orders", {"DisplayName": "Orders"}, {}) == arn
        with pytest.raises(SnsInvalidParameter, match="different attributes"):
            t.create_topic("orders", {"DisplayName": "Other"}, {})
        with pytest.raises(SnsInvalidParameter, match="different tags"):
            t.create_topic("orders", {}, {"team": "b"})

    run(tmp_path, body)


def test_topic_names_at_256_and_257_characters_bad_characters_and_fifo(tmp_path: Path) -> None:
    async def body(w: World) -> None:
        t = w.topics
        t.create_topic("a" * 256, {}, {})
        for bad in ("a" * 257, "", "has space", "dot.name"):
            with pytest.raises(SnsInvalidParameter, match="Topic Name"):
                t.create_topic(bad, {}, {})
        with pytest.raises(SnsInvalidParameter, match="FIFO topics"):
            t.create_topic("orders.fifo", {"FifoTopic": "true"}, {})
        with pytest.raises(SnsInvalidParameter, match="AttributeName"):
            t.create_topic("x", {"Nope": "1"}, {})

    run(tmp_path, body)


def test_list_topics_pages_by_100(tmp_path: Path) -> None:
    async def body(w: World) -> None:
        t = w.topics
        for i in range(150):
            t.create_topic(f"t{i:03d}", {}, {})
        first, token = t.list_topics(None)
        assert len(first) == 100
        assert token is not None
        second, end = t.list_topics(token)
        assert len(second) == 50
        assert end is None
        assert sorted(first + second) == first + second
        with pytest.raises(SnsInvalidParameter, match="NextToken"):
            t.list_topics("%%%")

    run(tmp_path, body)


def test_topic_attributes_counts_and_persistence(tmp_path: Path) -> None:
    async def body(w: World) -> None:
        t = w.topics
        arn = t.create_topic("orders", {}, {})
        t.set_topic_attribute(arn, "DisplayName", "Shop")
        await t.subscribe(arn, "sqs", QUEUE, {})
        pending = await t.subscribe(arn, "http", "http://127.0.0.1:9/hook", {})
        gone = await t.subscribe(arn, "lambda", FN, {})
        t.unsubscribe(gone.arn)
        attrs = t.topic_attributes(arn)
        assert (attrs["DisplayName"], attrs["SubscriptionsConfirmed"], attrs["SubscriptionsPending"],
                attrs["SubscriptionsDeleted"]) == ("Shop", "1", "1", "1")  # fmt: skip
        assert json.loads(attrs["Policy"])["Statement"][0]["Resource"] == arn
        again = Topics(Settings(data_dir=tmp_path), t.engine, w.deliveries, t.signing, lambda: BASE)
        again.load()
        assert again.topic_attributes(arn) == attrs
        assert again.require_sub(pending.arn).pending
        t.set_topic_attribute(arn, "DisplayName", "")
        assert t.topic_attributes(arn)["DisplayName"] == ""
        with pytest.raises(SnsNotFound, match="Topic does not exist"):
            t.topic_attributes(arn + "x")
        t.delete_topic(arn)
        t.delete_topic(arn)  # no error, as on SNS
        assert t.list_subscriptions(None, None) == ([], None)

    run(tmp_path, body)


# ---- subscriptions --------------------------------------------------------------------------------------------------


def test_subscribe_checks_protocols_endpoints_and_attributes(tmp_path: Path) -> None:
    async def body(w: World) -> None:
        t = w.topics
        arn = t.create_topic("orders", {}, {})
        cases = [("email", "a@b.c", {}, "does not support this protocol"), ("lambda", "fn", {}, "Lambda endpoint"),
                 ("sqs", "https://q", {}, "SQS endpoint"), ("http", "https://x", {}, "must match"),
                 ("lambda", FN, {"RawMessageDelivery": "true"}, "does not support raw"),
                 ("sqs", QUEUE, {"FilterPolicy": '{"a": 1}'}, "FilterPolicy"),
                 ("sqs", QUEUE, {"FilterPolicyScope": "Body"}, "FilterPolicyScope"),
                 ("sqs", QUEUE, {"RedrivePolicy": '{"deadLetterTargetArn": "x"}'}, "RedrivePolicy"),
                 ("sqs", QUEUE, {"Color": "red"}, "AttributeName")]  # fmt: skip
        for protocol, endpoint, attrs, match in cases:
            with pytest.raises(SnsInvalidParameter, match=match):
                await t.subscribe(arn, protocol, endpoint, attrs)
        with pytest.raises(SnsNotFound):
            await t.subscribe(arn + "x", "sqs", QUEUE, {})
        sub = await t.subscribe(arn, "sqs", QUEUE, {"RawMessageDelivery": "True"})
        assert (await t.subscribe(arn, "sqs", QUEUE, {})).arn == sub.arn  # the same subscription again
        view = sub.view()
        assert (view["RawMessageDelivery"], view["PendingConfirmation"], view["Protocol"]) == ("true", "false", "sqs")
        t.set_subscription_attribute(sub.arn, "FilterPolicy", '{"color": ["red"]}')
        assert t.require_sub(sub.arn).view()["FilterPolicyScope"] == "MessageAttributes"
        with pytest.raises(SnsNotFound, match="Subscription does not exist"):
            t.unsubscribe(sub.arn + "x")

    run(tmp_path, body)


def test_an_http_subscription_is_confirmed_by_its_token(tmp_path: Path) -> None:
    async def body(w: World) -> None:
        t = w.topics
        arn = t.create_topic("orders", {}, {})
        sub = await t.subscribe(arn, "http", "http://127.0.0.1:9/hook", {})
        assert sub.pending
        assert t.list_subscriptions(arn, None)[0][0].shown_arn == "PendingConfirmation"
        [sent] = await w.submitted()
        assert (sent.kind, sent.target, sent.principal) == ("http", "http://127.0.0.1:9/hook", "sns.amazonaws.com")
        assert sent.headers["x-amz-sns-message-type"] == "SubscriptionConfirmation"
        msg = json.loads(sent.payload)
        assert msg["Type"] == "SubscriptionConfirmation"
        assert msg["SigningCertURL"] == BASE + CERT_PATH
        assert msg["SubscribeURL"].startswith(BASE + "/?Action=ConfirmSubscription&TopicArn=")
        assert msg["Token"] in msg["SubscribeURL"]
        with pytest.raises(SnsInvalidParameter, match="Token"):
            t.confirm(arn, "0" * 128)
        assert t.confirm(arn, msg["Token"]) == sub.arn
        assert t.confirm(arn, msg["Token"]) == sub.arn  # confirming twice is fine
        assert not t.require_sub(sub.arn).pending

    run(tmp_path, body)


# ---- publishing -----------------------------------------------------------------------------------------------------


def test_publish_fans_out_by_filter_policy_in_each_protocols_shape(tmp_path: Path) -> None:
    async def body(w: World) -> None:
        t = w.topics
        arn = t.create_topic("orders", {}, {})
        fn = await t.subscribe(arn, "lambda", FN, {"FilterPolicy": '{"color": ["red"]}'})
        await t.subscribe(arn, "lambda", FN + ":live", {"FilterPolicy": '{"color": ["blue"]}'})
        env_q = await t.subscribe(arn, "sqs", QUEUE, {})
        raw_q = await t.subscribe(arn, "sqs", QUEUE + "2", {"RawMessageDelivery": "true"})
        attrs = {"color": {"DataType": "String", "StringValue": "red"}}
        message_id = await t.publish(arn, "hello", "Hi", None, attrs)
        got = {d.target: d for d in await w.submitted()}
        assert set(got) == {FN, QUEUE, QUEUE + "2"}  # the blue function is filtered out
        event = json.loads(got[FN].payload)
        record = event["Records"][0]
        assert (record["EventSource"], record["EventSubscriptionArn"]) == ("aws:sns", fn.arn)
        assert (record["Sns"]["MessageId"], record["Sns"]["Subject"], record["Sns"]["Message"]) == (
            message_id, "Hi", "hello")  # fmt: skip
        assert record["Sns"]["MessageAttributes"] == {"color": {"Type": "String", "Value": "red"}}
        assert (got[FN].principal, got[FN].source_arn) == ("sns.amazonaws.com", arn)
        envelope = json.loads(got[QUEUE].payload)
        assert envelope["Type"] == "Notification"
        assert envelope["UnsubscribeURL"].endswith("SubscriptionArn=" + env_q.arn.replace(":", "%3A"))
        assert got[QUEUE + "2"].payload == b"hello"
        assert got[QUEUE + "2"].attributes == {"color": {"DataType": "String", "StringValue": "red"}}
        assert got[QUEUE + "2"].dlq_attributes["SubscriptionArn"] == raw_q.arn
        # the queue delivery itself, through the delivery path's attempt: the raw body and its attributes
        assert await w.deliveries.attempt(got[QUEUE]) is None
        [(_, received)] = await w.service.receive(QUEUE, max_count=1)
        assert json.loads(received.body)["MessageId"] == message_id

    run(tmp_path, body)


def test_message_structure_json_and_body_scope_policies(tmp_path: Path) -> None:
    async def body(w: World) -> None:
        t = w.topics
        arn = t.create_topic("orders", {}, {})
        await t.subscribe(
            arn,
            "sqs",
            QUEUE,
            {
                "FilterPolicy": '{"total": [{"numeric": [">", 10]}]}',
                "FilterPolicyScope": "MessageBody",
                "RawMessageDelivery": "true",
            },
        )
        await t.subscribe(arn, "lambda", FN, {})
        text = json.dumps({"default": json.dumps({"total": 5}), "sqs": json.dumps({"total": 50})})
        await t.publish(arn, text, None, "json", {})
        got = {d.target: d for d in await w.submitted()}
        assert json.loads(got[QUEUE].payload) == {"total": 50}
        assert json.loads(json.loads(got[FN].payload)["Records"][0]["Sns"]["Message"]) == {"total": 5}

    run(tmp_path, body)


def test_publish_checks_the_message_and_the_topic(tmp_path: Path) -> None:
    async def body(w: World) -> None:
        t = w.topics
        arn = t.create_topic("orders", {}, {})
        await t.publish(arn, "x" * sm.MAX_MESSAGE_BYTES)
        with pytest.raises(SnsInvalidParameter, match="Message too long"):
            await t.publish(arn, "x" * (sm.MAX_MESSAGE_BYTES + 1))
        with pytest.raises(SnsNotFound, match="Topic does not exist"):
            await t.publish(arn + "x", "m")

    run(tmp_path, body)


def test_publish_batch_rules_and_per_entry_outcomes(tmp_path: Path) -> None:
    async def body(w: World) -> None:
        t = w.topics
        arn = t.create_topic("orders", {}, {})
        await t.subscribe(arn, "sqs", QUEUE, {})
        entries = [{"Id": str(i), "Message": f"m{i}"} for i in range(10)]
        entries[3] = {"Id": "3", "Message": "m", "Subject": "s" * 101}
        out = await t.publish_batch(arn, entries)
        assert [s["Id"] for s in out["Successful"]] == [str(i) for i in range(10) if i != 3]
        assert out["Failed"] == [{"Id": "3", "Code": "InvalidParameter", "Message": "Invalid parameter: Subject",
                                  "SenderFault": True}]  # fmt: skip
        assert len(await w.submitted()) == 9
        with pytest.raises(SnsTooManyEntries):
            await t.publish_batch(arn, [{"Id": str(i), "Message": "m"} for i in range(11)])
        with pytest.raises(SnsEmptyBatch):
            await t.publish_batch(arn, [])
        with pytest.raises(SnsBatchIdsNotDistinct):
            await t.publish_batch(arn, [{"Id": "a", "Message": "m"}, {"Id": "a", "Message": "n"}])
        with pytest.raises(SnsInvalidBatchEntryId):
            await t.publish_batch(arn, [{"Id": "a.b", "Message": "m"}])
        half = sm.MAX_MESSAGE_BYTES // 2
        await t.publish_batch(arn, [{"Id": "a", "Message": "x" * half}, {"Id": "b", "Message": "y" * half}])
        with pytest.raises(SnsBatchTooLong):
            await t.publish_batch(arn, [{"Id": "a", "Message": "x" * half}, {"Id": "b", "Message": "y" * (half + 1)}])

    run(tmp_path, body)


def test_published_deliveries_are_durable_before_publish_returns(tmp_path: Path) -> None:
    arns: list[str] = []

    async def first(w: World) -> None:
        arn = w.topics.create_topic("orders", {}, {})
        await w.topics.subscribe(arn, "sqs", QUEUE, {})
        arns.append(await w.topics.publish(arn, "kept"))

    async def second(w: World) -> None:  # a new store over the same files: the delivery is there
        [item] = await w.submitted()
        assert json.loads(item.payload)["MessageId"] == arns[0]

    run(tmp_path, first)
    run(tmp_path, second)


def test_tags(tmp_path: Path) -> None:
    async def body(w: World) -> None:
        t = w.topics
        arn = t.create_topic("orders", {}, {"a": "1"})
        t.tag(arn, {"b": "2"})
        t.untag(arn, ["a"])
        assert t.tags(arn) == {"b": "2"}
        t.tag(arn, {f"k{i}": "v" for i in range(49)})
        with pytest.raises(SnsInvalidParameter, match="at most 50 tags"):
            t.tag(arn, {"one-more": "v"})
        with pytest.raises(SnsNotFound, match="Resource does not exist"):
            t.tags(arn + "x")

    run(tmp_path, body)


def test_the_sns_sink_publishes_an_eventbridge_delivery_to_the_topic(tmp_path: Path) -> None:
    async def body(w: World) -> None:
        t = w.topics
        arn = t.create_topic("orders", {}, {})
        await t.subscribe(arn, "sqs", QUEUE, {"RawMessageDelivery": "true"})
        await t.deliver_to_topic(Delivery("sns", arn, b'{"detail": 1}', "events.amazonaws.com", "arn:rule"))
        [item] = await w.submitted()
        assert item.payload == b'{"detail": 1}'
        with pytest.raises(SnsNotFound):
            await t.deliver_to_topic(Delivery("sns", arn + "x", b"{}", "events.amazonaws.com", "arn:rule"))

    run(tmp_path, body)


def test_raw_delivery_keeps_binary_attributes_through_the_durable_queue(tmp_path: Path) -> None:
    async def body(w: World) -> None:
        t = w.topics
        arn = t.create_topic("orders", {}, {})
        await t.subscribe(arn, "sqs", QUEUE, {"RawMessageDelivery": "true"})
        attrs = {"bin": {"DataType": "Binary", "BinaryValue": b"\x00\xff"},
                 "n": {"DataType": "Number", "StringValue": "7"}}  # fmt: skip
        await t.publish(arn, "raw body", None, None, attrs)
        [item] = await w.submitted()
        assert item.attributes == attrs
        assert await w.deliveries.attempt(item) is None
        [(_, received)] = await w.service.receive(QUEUE, max_count=1)
        assert received.body == "raw body"
        assert received.attributes["bin"]["DataType"] == "Binary"

    run(tmp_path, body)


def test_a_topic_with_signature_version_2_signs_with_sha256(tmp_path: Path) -> None:
    async def body(w: World) -> None:
        t = w.topics
        arn = t.create_topic("orders", {"SignatureVersion": "2"}, {})
        with pytest.raises(SnsInvalidParameter, match="SignatureVersion"):
            t.set_topic_attribute(arn, "SignatureVersion", "3")
        await t.subscribe(arn, "sqs", QUEUE, {})
        await t.publish(arn, "m")
        [item] = await w.submitted()
        env = json.loads(item.payload)
        assert env["SignatureVersion"] == "2"
        assert base64.b64decode(env["Signature"]) == t.signing.sign(sm.string_to_sign(env), "2")

    run(tmp_path, body)
