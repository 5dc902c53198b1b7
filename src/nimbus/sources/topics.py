"""SNS topics: topics and their subscriptions, kept in the control database, and Publish fanning a message out.

A Publish is stored durably before it answers: one `Delivery` per subscription whose filter policy the message
passes (policies applied at publish time, over the attributes or the body), submitted together through the one
durable delivery path (`sources/deliveries.py`, principal `sns.amazonaws.com`, source ARN the topic's), which
then invokes functions through their resource policy and the async door, sends to built-in queues and POSTs to
http(s) endpoints, with retries and the subscription's RedrivePolicy queue as the dead-letter queue. Every message
is signed (SignatureVersion 1, or 2 when the topic says so) with the server's key (`sources/sns_signing.py`). What
a message becomes for each subscriber is `sources/sns_fanout.py`'s; this module keeps the topics' state.

An http(s) subscription starts as PendingConfirmation: its endpoint gets a SubscriptionConfirmation whose
SubscribeURL (served by this server without SigV4, as SNS's is) confirms it with the token.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import re
import secrets
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import Engine, delete, insert, select, update

from nimbus.clock import Clock, RealClock
from nimbus.config import Settings
from nimbus.errors import (
    NimbusError,
    SnsInvalidParameter,
    SnsNotFound,
)
from nimbus.protocol import json_text
from nimbus.protocol import sns_messages as sm
from nimbus.sources import subscriptions as subs
from nimbus.sources.deliveries import Deliveries, Delivery
from nimbus.sources.sns_fanout import (
    CERT_PATH,
    HTTP_MAX_AGE_S,
    HTTP_RETRIES,
    PRINCIPAL,
    Message,
    check_batch,
    fan_out,
)
from nimbus.sources.sns_signing import SigningKey
from nimbus.sources.subscriptions import Subscription
from nimbus.store.schema import subscriptions as sub_table
from nimbus.store.schema import topics as topic_table

PAGE = 100
MAX_TAGS = 50
_TOPIC_NAME = re.compile(r"[A-Za-z0-9_-]{1,256}")
#: what a NextToken holds before the last item shown (so that a token of something else is refused)
_TOKEN = "after:"
TOPIC_ATTRIBUTES = (
    "DisplayName", "Policy", "DeliveryPolicy", "KmsMasterKeyId", "TracingConfig", "SignatureVersion",
    "DataProtectionPolicy", "ArchivePolicy", "ContentBasedDeduplication", "FifoThroughputScope",
    *(f"{p}{k}" for p in ("HTTP", "Lambda", "SQS", "Firehose", "Application")
      for k in ("SuccessFeedbackRoleArn", "SuccessFeedbackSampleRate", "FailureFeedbackRoleArn")),
)  # fmt: skip
NO_TOPIC = "Topic does not exist"


class Topics:
    def __init__(
        self,
        settings: Settings,
        engine: Engine,
        deliveries: Deliveries,
        signing: SigningKey,
        base_url: Callable[[], str],
        clock: Clock | None = None,
    ) -> None:
        """`base_url`: this server's address as subscribers reach it (`http://127.0.0.1:9001`), for the signing
        certificate, SubscribeURL and UnsubscribeURL in messages."""
        self.region, self.account = settings.region, settings.account_id
        self.engine = engine
        self.deliveries = deliveries
        self.signing = signing
        self.base_url = base_url
        self.clock: Clock = clock or RealClock()
        self._topics: dict[str, dict[str, Any]] = {}
        self._subs: dict[str, Subscription] = {}

    def load(self) -> None:
        with self.engine.connect() as conn:
            self._topics = {row.arn: json.loads(row.document) for row in conn.execute(select(topic_table))}
            for row in conn.execute(select(sub_table)):
                self._subs[row.arn] = Subscription.from_document(row.arn, json.loads(row.document))

    # ---- storage ----
    def _save_topic(self, arn: str, doc: dict[str, Any], *, new: bool = False) -> None:
        text = json.dumps(doc)
        with self.engine.begin() as conn:
            if new:
                conn.execute(insert(topic_table).values(arn=arn, document=text))
            else:
                conn.execute(update(topic_table).where(topic_table.c.arn == arn).values(document=text))
        self._topics[arn] = doc

    def _save_sub(self, sub: Subscription, *, new: bool = False) -> None:
        text = json.dumps(sub.document())
        with self.engine.begin() as conn:
            if new:
                conn.execute(insert(sub_table).values(arn=sub.arn, topic_arn=sub.topic_arn, document=text))
            else:
                conn.execute(update(sub_table).where(sub_table.c.arn == sub.arn).values(document=text))
        self._subs[sub.arn] = sub

    # ---- topics ----
    def arn(self, name: str) -> str:
        return f"arn:aws:sns:{self.region}:{self.account}:{name}"

    def require(self, arn: str | None) -> dict[str, Any]:
        doc = self._topics.get(arn or "")
        if doc is None:
            raise SnsNotFound(NO_TOPIC)
        return doc

    def create_topic(
        self, name: str, attributes: Mapping[str, str], tags: Mapping[str, str],
        aws_tags: Mapping[str, str] | None = None,
    ) -> str:  # fmt: skip
        """Create the topic, or find the same one (same name, attributes and tags): CreateTopic is idempotent.
        `aws_tags`: tags of the reserved `aws:` namespace, which AWS itself sets (CloudFormation's, on a topic a
        stack makes) and a caller of the API never can."""
        fifo = attributes.get("FifoTopic", "false").lower() == "true"
        if name.endswith(".fifo") or fifo:
            raise SnsInvalidParameter(
                "Invalid parameter: Nimbus does not support FIFO topics yet (a .fifo name or FifoTopic=true): "
                "create a standard topic, without the .fifo suffix"
            )
        if not _TOPIC_NAME.fullmatch(name):
            raise SnsInvalidParameter("Invalid parameter: Topic Name")
        given = {k: self._check_topic_attribute(k, v) for k, v in attributes.items() if k != "FifoTopic"}
        self._check_tags(tags)
        tags = dict(tags) | dict(aws_tags or {})
        arn = self.arn(name)
        existing = self._topics.get(arn)
        if existing is not None:
            if any(existing["Attributes"].get(k, "") != v for k, v in given.items()):
                raise SnsInvalidParameter("Invalid parameter: Attributes Reason: Topic already exists with different "
                                          "attributes")  # fmt: skip
            if tags and any(existing["Tags"].get(k) != v for k, v in tags.items()):
                raise SnsInvalidParameter("Invalid parameter: Tags Reason: Topic already exists with different tags")
            return arn
        self._save_topic(arn, {"Name": name, "Attributes": given, "Tags": dict(tags), "Deleted": 0}, new=True)
        return arn

    def _check_topic_attribute(self, name: str, value: str) -> str:
        if name not in TOPIC_ATTRIBUTES:
            raise SnsInvalidParameter("Invalid parameter: AttributeName")
        if name in ("Policy", "DeliveryPolicy", "DataProtectionPolicy", "ArchivePolicy") and value:
            try:
                json_text.loads(value)
            except ValueError:
                raise SnsInvalidParameter(f"Invalid parameter: {name}: failed to parse JSON") from None
        if name == "SignatureVersion" and value not in ("1", "2"):
            raise SnsInvalidParameter("Invalid parameter: SignatureVersion")
        if name == "DisplayName" and len(value) > 100:
            raise SnsInvalidParameter("Invalid parameter: DisplayName")
        return value

    def _check_tags(self, tags: Mapping[str, str], kept: Mapping[str, str] | None = None) -> None:
        """The tags given (the topic keeps `kept` too, counted against the limit but not checked again)."""
        if len(dict(kept or {}) | dict(tags)) > MAX_TAGS:
            raise SnsInvalidParameter(f"Invalid parameter: Tags: a topic has at most {MAX_TAGS} tags")
        for key, value in tags.items():
            if not 1 <= len(key) <= 128 or len(value) > 256 or key.lower().startswith("aws:"):
                raise SnsInvalidParameter(f"Invalid parameter: Tags: the tag {key!r} is invalid")

    def delete_topic(self, arn: str) -> None:
        """Delete the topic and its subscriptions (deleting a topic that does not exist is no error, as on SNS)."""
        with self.engine.begin() as conn:
            conn.execute(delete(topic_table).where(topic_table.c.arn == arn))
            conn.execute(delete(sub_table).where(sub_table.c.topic_arn == arn))
        self._topics.pop(arn, None)
        for sub_arn in [s.arn for s in self._subs.values() if s.topic_arn == arn]:
            del self._subs[sub_arn]

    def list_topics(self, token: str | None) -> tuple[list[str], str | None]:
        return _page(sorted(self._topics), token)

    def topic_attributes(self, arn: str) -> dict[str, str]:
        doc = self.require(arn)
        mine = [s for s in self._subs.values() if s.topic_arn == arn]
        out = {
            "TopicArn": arn, "Owner": self.account, "DisplayName": "", "Policy": json.dumps(self._default_policy(arn)),
            "SubscriptionsConfirmed": str(sum(not s.pending for s in mine)),
            "SubscriptionsPending": str(sum(s.pending for s in mine)), "SubscriptionsDeleted": str(doc["Deleted"]),
            "EffectiveDeliveryPolicy": json.dumps({"http": {"defaultHealthyRetryPolicy": {
                "minDelayTarget": 20, "maxDelayTarget": 20, "numRetries": 3, "numMaxDelayRetries": 0,
                "numNoDelayRetries": 0, "numMinDelayRetries": 0, "backoffFunction": "linear"},
                "disableSubscriptionOverrides": False}}),
            "SignatureVersion": "1",
        }  # fmt: skip
        return out | dict(doc["Attributes"])

    def _default_policy(self, arn: str) -> dict[str, Any]:
        actions = ["SNS:GetTopicAttributes", "SNS:SetTopicAttributes", "SNS:AddPermission", "SNS:RemovePermission",
                   "SNS:DeleteTopic", "SNS:Subscribe", "SNS:ListSubscriptionsByTopic", "SNS:Publish"]  # fmt: skip
        return {"Version": "2008-10-17", "Id": "__default_policy_ID", "Statement": [{
            "Sid": "__default_statement_ID", "Effect": "Allow", "Principal": {"AWS": "*"}, "Action": actions,
            "Resource": arn, "Condition": {"StringEquals": {"AWS:SourceOwner": self.account}}}]}  # fmt: skip

    def _signature_version(self, arn: str) -> str:
        return str(self._topics.get(arn, {}).get("Attributes", {}).get("SignatureVersion", "1"))

    def set_topic_attribute(self, arn: str, name: str, value: str | None) -> None:
        doc = self.require(arn)
        value = self._check_topic_attribute(name, value or "")
        attributes = dict(doc["Attributes"])
        if value:
            attributes[name] = value
        else:
            attributes.pop(name, None)
        self._save_topic(arn, doc | {"Attributes": attributes})

    # ---- tags ----
    def tag(self, arn: str, tags: Mapping[str, str]) -> None:
        doc = self._tagged(arn)
        self._check_tags(tags, doc["Tags"])
        merged = doc["Tags"] | dict(tags)
        self._save_topic(arn, doc | {"Tags": merged})

    def untag(self, arn: str, keys: Sequence[str]) -> None:
        doc = self._tagged(arn)
        self._save_topic(arn, doc | {"Tags": {k: v for k, v in doc["Tags"].items() if k not in keys}})

    def tags(self, arn: str) -> dict[str, str]:
        return dict(self._tagged(arn)["Tags"])

    def _tagged(self, arn: str) -> dict[str, Any]:
        doc = self._topics.get(arn)
        if doc is None:
            raise SnsNotFound("Resource does not exist")
        return doc

    # ---- subscriptions ----
    async def subscribe(
        self, topic_arn: str, protocol: str, endpoint: str | None, attributes: Mapping[str, str]
    ) -> Subscription:
        """A new subscription (or the same one again); an http(s) one is sent its SubscriptionConfirmation."""
        self.require(topic_arn)
        protocol = protocol.lower()
        endpoint = subs.check_endpoint(protocol, endpoint)
        given = {k: subs.check_attribute(k, v, protocol) for k, v in attributes.items()}
        for sub in self._subs.values():
            if (sub.topic_arn, sub.protocol, sub.endpoint) == (topic_arn, protocol, endpoint):
                if any(sub.attributes.get(k, "") != v for k, v in given.items()):
                    raise SnsInvalidParameter("Invalid parameter: Attributes Reason: Subscription already exists "
                                              "with different attributes")  # fmt: skip
                return sub
        pending = protocol in ("http", "https")
        sub = Subscription(f"{topic_arn}:{uuid.uuid4()}", topic_arn, protocol, endpoint, self.account,
                           {k: v for k, v in given.items() if v}, pending,
                           secrets.token_hex(64) if pending else None)  # fmt: skip
        sub.reparse()
        self._save_sub(sub, new=True)
        if pending:
            await self._send_confirmation(sub)
        return sub

    async def _send_confirmation(self, sub: Subscription) -> None:
        assert sub.token is not None
        version = self._signature_version(sub.topic_arn)
        query = urlencode({"Action": "ConfirmSubscription", "TopicArn": sub.topic_arn, "Token": sub.token})
        message_id = str(uuid.uuid4())
        env = sm.confirmation(topic_arn=sub.topic_arn, message_id=message_id, token=sub.token,
                              subscribe_url=f"{self.base_url()}/?{query}", when=self._now(),
                              cert_url=self.base_url() + CERT_PATH, sign=lambda d: self.signing.sign(d, version),
                              signature_version=version)  # fmt: skip
        headers = {"x-amz-sns-message-type": "SubscriptionConfirmation", "x-amz-sns-message-id": message_id,
                   "x-amz-sns-topic-arn": sub.topic_arn}  # fmt: skip
        item = Delivery(sub.protocol, sub.endpoint, json.dumps(env).encode(), PRINCIPAL, sub.topic_arn, HTTP_RETRIES,
                        HTTP_MAX_AGE_S, headers=headers)  # fmt: skip
        await self.deliveries.submit([item])

    def confirm(self, topic_arn: str, token: str) -> str:
        """ConfirmSubscription: the pending subscription of `topic_arn` with `token`, confirmed; its ARN."""
        self.require(topic_arn)
        for sub in self._subs.values():
            if sub.topic_arn == topic_arn and sub.token is not None and secrets.compare_digest(sub.token, token):
                if sub.pending:
                    sub.pending = False
                    self._save_sub(sub)
                return sub.arn
        raise SnsInvalidParameter("Invalid parameter: Token")

    def unsubscribe(self, arn: str) -> None:
        sub = self.require_sub(arn)
        with self.engine.begin() as conn:
            conn.execute(delete(sub_table).where(sub_table.c.arn == arn))
        del self._subs[arn]
        topic = self._topics.get(sub.topic_arn)
        if topic is not None:
            self._save_topic(sub.topic_arn, topic | {"Deleted": topic["Deleted"] + 1})

    def require_sub(self, arn: str) -> Subscription:
        sub = self._subs.get(arn)
        if sub is None:
            raise SnsNotFound("Subscription does not exist")
        return sub

    def list_subscriptions(self, topic_arn: str | None, token: str | None) -> tuple[list[Subscription], str | None]:
        if topic_arn is not None:
            self.require(topic_arn)
        arns = sorted(a for a, s in self._subs.items() if topic_arn is None or s.topic_arn == topic_arn)
        page, next_token = _page(arns, token)
        return [self._subs[a] for a in page], next_token

    def set_subscription_attribute(self, arn: str, name: str, value: str | None) -> None:
        sub = self.require_sub(arn)
        value = subs.check_attribute(name, value or "", sub.protocol)
        if value:
            sub.attributes[name] = value
        else:
            sub.attributes.pop(name, None)
        sub.reparse()
        self._save_sub(sub)

    # ---- publishing ----
    def _now(self) -> str:
        return sm.timestamp(dt.datetime.fromtimestamp(self.clock.time(), dt.UTC))

    async def publish(
        self,
        topic_arn: str | None,
        message: str,
        subject: str | None = None,
        structure: str | None = None,
        attributes: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> str:
        """Check, fan out and store one message durably; its MessageId."""
        attrs = dict(attributes or {})
        sm.check_message(message, subject, attrs, structure)
        self.require(topic_arn)
        assert topic_arn is not None
        message_id = str(uuid.uuid4())
        await self.deliveries.submit(self._fan_out(topic_arn, message_id, message, subject, structure, attrs))
        return message_id

    async def publish_batch(self, topic_arn: str, entries: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        """PublishBatch: the batch's rules first (all or nothing), then each entry on its own; one durable submit."""
        self.require(topic_arn)
        check_batch(entries)
        successful, failed, items = [], [], []
        for entry in entries:
            attrs = dict(entry.get("MessageAttributes") or {})
            try:
                sm.check_message(entry["Message"], entry.get("Subject"), attrs, entry.get("MessageStructure"))
            except NimbusError as exc:
                failed.append({"Id": entry["Id"], "Code": exc.wire_name, "Message": exc.message, "SenderFault": True})
                continue
            message_id = str(uuid.uuid4())
            items += self._fan_out(topic_arn, message_id, entry["Message"], entry.get("Subject"),
                                   entry.get("MessageStructure"), attrs)  # fmt: skip
            successful.append({"Id": entry["Id"], "MessageId": message_id})
        await self.deliveries.submit(items)
        return {"Successful": successful, "Failed": failed}

    def _fan_out(
        self, topic_arn: str, message_id: str, message: str, subject: str | None, structure: str | None,
        attrs: Mapping[str, Mapping[str, Any]],
    ) -> list[Delivery]:  # fmt: skip
        """One delivery per confirmed subscription of the topic whose filter policy the message passes."""
        version = self._signature_version(topic_arn)
        signatures: dict[bytes, bytes] = {}

        def sign(data: bytes) -> bytes:  # a message is signed once, however many subscribers get it
            if data not in signatures:
                signatures[data] = self.signing.sign(data, version)
            return signatures[data]

        subscribers = [sub for sub in self._subs.values() if sub.topic_arn == topic_arn and not sub.pending]
        message_ = Message(topic_arn, message_id, message, subject, structure, attrs)
        return fan_out(subscribers, message_, when=self._now(), base_url=self.base_url(), sign=sign, version=version)

    async def deliver_to_topic(self, item: Delivery) -> None:
        """The delivery sink for `sns` targets (EventBridge rules, Scheduler): publish the payload to the topic."""
        await self.publish(item.target, item.payload.decode(errors="replace"))


def _page(items: list[str], token: str | None) -> tuple[list[str], str | None]:
    """A page of 100 from sorted `items`, after the one `token` names (an opaque form of the last one shown)."""
    start = 0
    if token:
        try:
            after = base64.b64decode(token.encode(), altchars=b"-_", validate=True).decode()
        except (binascii.Error, UnicodeDecodeError, ValueError):
            after = ""
        if not after.startswith(_TOKEN):
            raise SnsInvalidParameter("Invalid parameter: NextToken")
        after = after[len(_TOKEN) :]
        start = next((i for i, item in enumerate(items) if item > after), len(items))
    page = items[start : start + PAGE]
    more = start + PAGE < len(items)
    return page, base64.urlsafe_b64encode((_TOKEN + page[-1]).encode()).decode() if more else None
