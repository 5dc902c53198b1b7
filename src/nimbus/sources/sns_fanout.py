"""SNS's fan-out: one published message turned into one `Delivery` per subscriber that wants it.

Apart from `topics.py` (the topics and subscriptions, and their state) because this is the message's side, with no
state of its own: PublishBatch's rules over the whole batch, the filter policy applied at publish time (over the
attributes or the body), the signed notification envelope, and what each protocol gets (a lambda event, the
envelope or the raw message with its attributes for sqs, a POST with SNS's headers and SNS's default retries for
http(s)). The deliveries then go through the one durable delivery path (`sources/deliveries.py`) as principal
`sns.amazonaws.com`, the topic's ARN their source.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from nimbus.errors import (
    SnsBatchIdsNotDistinct,
    SnsBatchTooLong,
    SnsEmptyBatch,
    SnsInvalidBatchEntryId,
    SnsTooManyEntries,
)
from nimbus.protocol import sns_messages as sm
from nimbus.sources.deliveries import Delivery
from nimbus.sources.subscriptions import Subscription

PRINCIPAL = "sns.amazonaws.com"
CERT_PATH = "/_nimbus/sns/SimpleNotificationService.pem"
MAX_BATCH = 10
_BATCH_ID = re.compile(r"[A-Za-z0-9_-]{1,80}")
#: SNS's retries for a lambda or sqs subscriber (the delivery path's defaults), and for http(s) (SNS's default
#: delivery policy: 3 retries)
HTTP_RETRIES, HTTP_MAX_AGE_S = 3, 3600


@dataclass(frozen=True, slots=True)
class Message:
    """One message as published to a topic, checked."""

    topic_arn: str
    message_id: str
    text: str
    subject: str | None
    structure: str | None
    attributes: Mapping[str, Mapping[str, Any]]


def check_batch(entries: Sequence[Mapping[str, Any]]) -> None:
    """PublishBatch's rules over the whole batch (all or nothing), before any entry is looked at on its own."""
    if not entries:
        raise SnsEmptyBatch("The batch request doesn't contain any entries.")
    if len(entries) > MAX_BATCH:
        raise SnsTooManyEntries("The batch request contains more entries than permissible.")
    ids = [str(e["Id"]) for e in entries]
    if len(set(ids)) != len(ids):
        raise SnsBatchIdsNotDistinct("Two or more batch entries in the request have the same Id.")
    if any(not _BATCH_ID.fullmatch(i) for i in ids):
        raise SnsInvalidBatchEntryId("A batch entry id can only contain alphanumeric characters, hyphens and "
                                     "underscores. It can be at most 80 letters long.")  # fmt: skip
    total = sum(sm.message_size(str(e["Message"]), e.get("MessageAttributes") or {}) for e in entries)
    if total > sm.MAX_MESSAGE_BYTES:
        raise SnsBatchTooLong("The length of all the messages put together is more than the limit.")


def fan_out(
    subscribers: Sequence[Subscription], message: Message, *, when: str, base_url: str,
    sign: Callable[[bytes], bytes], version: str,
) -> list[Delivery]:  # fmt: skip
    """One delivery per subscriber (confirmed ones of the topic) whose filter policy the message passes; `sign`
    signs an envelope's canonical text (SignatureVersion `version`), `base_url` is this server's for the links."""
    out = []
    for sub in subscribers:
        text = sm.message_for(message.text, message.structure, sub.protocol)
        if not sm.policy_matches(sub.policy, sub.scope, text, message.attributes):
            continue
        unsubscribe = f"{base_url}/?{urlencode({'Action': 'Unsubscribe', 'SubscriptionArn': sub.arn})}"
        env = sm.notification(topic_arn=message.topic_arn, message_id=message.message_id, message=text,
                              subject=message.subject, when=when, attributes=message.attributes,
                              unsubscribe_url=unsubscribe, cert_url=base_url + CERT_PATH, sign=sign,
                              signature_version=version)  # fmt: skip
        out.append(_delivery(sub, env, text, message.attributes))
    return out


def _delivery(sub: Subscription, env: dict[str, Any], text: str, attrs: Mapping[str, Mapping[str, Any]]) -> Delivery:
    common: dict[str, Any] = {
        "principal": PRINCIPAL, "source_arn": sub.topic_arn, "dead_letter_arn": sub.dead_letter_arn,
        "dlq_attributes": {"TopicArn": sub.topic_arn, "SubscriptionArn": sub.arn},
    }  # fmt: skip
    if sub.protocol == "lambda":
        payload = json.dumps(sm.lambda_event(sub.arn, env)).encode()
        return Delivery("lambda", sub.endpoint, payload, **common)
    if sub.protocol == "sqs":
        if sub.raw:
            return Delivery("sqs", sub.endpoint, text.encode(), attributes=sm.sqs_attributes(attrs), **common)
        return Delivery("sqs", sub.endpoint, json.dumps(env).encode(), **common)
    headers = {"x-amz-sns-message-type": "Notification", "x-amz-sns-message-id": env["MessageId"],
               "x-amz-sns-topic-arn": sub.topic_arn, "x-amz-sns-subscription-arn": sub.arn}  # fmt: skip
    if sub.raw:
        headers["x-amz-sns-rawdelivery"] = "true"
    payload = text.encode() if sub.raw else json.dumps(env).encode()
    common |= {"max_attempts": HTTP_RETRIES, "max_age_s": HTTP_MAX_AGE_S}
    return Delivery(sub.protocol, sub.endpoint, payload, headers=headers, **common)
