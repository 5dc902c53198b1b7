"""SNS subscriptions: the record, and SNS's rules for protocols, endpoints and subscription attributes.

The topics service (`sources/topics.py`) keeps them; this module says what a subscription may be and shows one
as GetSubscriptionAttributes does. Nimbus delivers to `lambda` (a function ARN), `sqs` (a built-in queue's ARN),
and `http`/`https` endpoints (confirmed by a SubscriptionConfirmation first); SNS's other protocols (email, sms,
application, firehose) are refused as such.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from nimbus.errors import SnsInvalidParameter
from nimbus.protocol import filters, json_text
from nimbus.protocol import sns_messages as sm

PROTOCOLS = ("lambda", "sqs", "http", "https")
#: attributes Subscribe and SetSubscriptionAttributes take
SETTABLE = ("DeliveryPolicy", "FilterPolicy", "FilterPolicyScope", "RawMessageDelivery", "RedrivePolicy",
            "SubscriptionRoleArn", "ReplayPolicy")  # fmt: skip
SCOPES = ("MessageAttributes", "MessageBody")
_FUNCTION_ARN = re.compile(r"arn:aws[a-zA-Z-]*:lambda:[a-z0-9-]+:\d{12}:function:[A-Za-z0-9_-]+(:[A-Za-z0-9$_-]+)?")
_QUEUE_ARN = re.compile(r"arn:aws[a-zA-Z-]*:sqs:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,80}(\.fifo)?")
#: what SubscriptionArn reads while an http(s) subscription awaits confirmation
PENDING = "PendingConfirmation"


@dataclass
class Subscription:
    arn: str
    topic_arn: str
    protocol: str
    endpoint: str
    owner: str
    attributes: dict[str, str] = field(default_factory=dict)
    #: an http(s) subscription until its endpoint confirms with `token`
    pending: bool = False
    token: str | None = None
    #: the FilterPolicy, parsed once (None: everything passes)
    policy: filters.Pattern | None = None

    @classmethod
    def from_document(cls, arn: str, doc: dict[str, Any]) -> Subscription:
        sub = cls(arn, doc["TopicArn"], doc["Protocol"], doc["Endpoint"], doc["Owner"], dict(doc["Attributes"]),
                  bool(doc.get("Pending")), doc.get("Token"))  # fmt: skip
        sub.reparse()
        return sub

    def document(self) -> dict[str, Any]:
        return {"TopicArn": self.topic_arn, "Protocol": self.protocol, "Endpoint": self.endpoint,
                "Owner": self.owner, "Attributes": self.attributes, "Pending": self.pending,
                "Token": self.token}  # fmt: skip

    def reparse(self) -> None:
        text = self.attributes.get("FilterPolicy")
        self.policy = sm.parse_policy(text) if text else None

    @property
    def shown_arn(self) -> str:
        """The ARN as the list operations show it ("PendingConfirmation" until confirmed)."""
        return PENDING if self.pending else self.arn

    @property
    def raw(self) -> bool:
        return self.attributes.get("RawMessageDelivery", "false").lower() == "true"

    @property
    def scope(self) -> str:
        return self.attributes.get("FilterPolicyScope", "MessageAttributes")

    @property
    def dead_letter_arn(self) -> str | None:
        text = self.attributes.get("RedrivePolicy")
        if not text:
            return None
        target = json.loads(text).get("deadLetterTargetArn")
        return target if isinstance(target, str) else None

    def view(self) -> dict[str, str]:
        """GetSubscriptionAttributes' answer."""
        out = {
            "SubscriptionArn": self.arn, "TopicArn": self.topic_arn, "Owner": self.owner, "Protocol": self.protocol,
            "Endpoint": self.endpoint, "PendingConfirmation": str(self.pending).lower(),
            "ConfirmationWasAuthenticated": "false" if self.pending else "true",
            "RawMessageDelivery": str(self.raw).lower(),
            "EffectiveDeliveryPolicy": json.dumps(DEFAULT_DELIVERY_POLICY, separators=(",", ":")),
        }  # fmt: skip
        out |= {k: v for k, v in self.attributes.items() if k != "RawMessageDelivery"}
        if "FilterPolicy" in self.attributes:
            out.setdefault("FilterPolicyScope", "MessageAttributes")
        return out


#: SNS's default delivery policy (the http(s) retry schedule), as EffectiveDeliveryPolicy shows it
DEFAULT_DELIVERY_POLICY = {
    "healthyRetryPolicy": {"minDelayTarget": 20, "maxDelayTarget": 20, "numRetries": 3, "numMaxDelayRetries": 0,
                           "numNoDelayRetries": 0, "numMinDelayRetries": 0, "backoffFunction": "linear"},
    "sicklyRetryPolicy": None, "throttlePolicy": None, "guaranteed": False,
}  # fmt: skip


def check_endpoint(protocol: str, endpoint: str | None) -> str:
    """SNS's rules for Subscribe's Protocol and Endpoint; returns the endpoint."""
    if protocol not in PROTOCOLS:
        raise SnsInvalidParameter(
            f"Invalid parameter: Amazon SNS does not support this protocol string: {protocol} (Nimbus delivers to "
            f"{', '.join(PROTOCOLS)} subscriptions)"
        )
    if not endpoint:
        raise SnsInvalidParameter("Invalid parameter: Endpoint")
    if protocol == "lambda" and not _FUNCTION_ARN.fullmatch(endpoint):
        raise SnsInvalidParameter("Invalid parameter: Lambda endpoint ARN")
    if protocol == "sqs" and not _QUEUE_ARN.fullmatch(endpoint):
        raise SnsInvalidParameter("Invalid parameter: SQS endpoint ARN")
    if protocol in ("http", "https") and not re.fullmatch(rf"{protocol}://[^/\s]+(/\S*)?", endpoint):
        raise SnsInvalidParameter(f"Invalid parameter: Endpoint must match the specified protocol: {protocol}")
    return endpoint


def check_attribute(name: str, value: str, protocol: str) -> str:
    """One subscription attribute by SNS's rules; returns the value as kept."""
    if name not in SETTABLE:
        raise SnsInvalidParameter("Invalid parameter: AttributeName")
    if name == "FilterPolicy":
        if value:
            sm.parse_policy(value)
    elif name == "FilterPolicyScope":
        if value not in SCOPES:
            raise SnsInvalidParameter(
                "Invalid parameter: Attributes Reason: FilterPolicyScope: Invalid value [" + value + "]. Please use "
                "either MessageBody or MessageAttributes"
            )
    elif name == "RawMessageDelivery":
        if value.lower() not in ("true", "false"):
            raise SnsInvalidParameter("Invalid parameter: Attributes Reason: RawMessageDelivery: Invalid value")
        if protocol == "lambda" and value.lower() == "true":
            raise SnsInvalidParameter(
                "Invalid parameter: Attributes Reason: Delivery protocol [lambda] does not support raw message "
                "delivery."
            )
        value = value.lower()
    elif name == "RedrivePolicy" and value:
        try:
            doc = json_text.loads(value)
        except ValueError:
            doc = None
        target = doc.get("deadLetterTargetArn") if isinstance(doc, dict) else None
        if not isinstance(target, str) or not _QUEUE_ARN.fullmatch(target):
            raise SnsInvalidParameter(
                "Invalid parameter: RedrivePolicy: deadLetterTargetArn must be the ARN of an SQS queue"
            )
    elif name == "DeliveryPolicy" and value:
        try:
            json_text.loads(value)
        except ValueError:
            raise SnsInvalidParameter("Invalid parameter: DeliveryPolicy: failed to parse JSON") from None
    return value
