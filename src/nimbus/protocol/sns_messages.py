"""SNS's messages, pure: what Publish accepts, and what each kind of subscriber receives.

- Publish's rules: message attributes (names, DataType String / String.Array / Number / Binary, values), the
  256 KB limit over the message and its attributes, the subject, and `MessageStructure=json` (a `default` key,
  per-protocol keys).
- The JSON envelope an SQS queue or an HTTP endpoint receives (`Type`, `MessageId`, `TopicArn`, `Subject`,
  `Message`, `Timestamp`, `SignatureVersion`, `Signature`, `SigningCertURL`, `UnsubscribeURL`,
  `MessageAttributes`), the SubscriptionConfirmation, and the Lambda event (`Records[].Sns`, which spells
  `SigningCertUrl` and `UnsubscribeUrl` so).
- The canonical string SignatureVersion 1 (SHA1withRSA) and 2 (SHA256withRSA) sign, in AWS's documented order.
- Filter policies over the attributes or the body, by the one filter engine (`protocol/filters.py`).
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import re
from collections.abc import Callable, Mapping
from typing import Any

from nimbus.errors import InvalidParameterValue, SnsInvalidParameter, SnsInvalidParameterValue
from nimbus.protocol import filters, json_text

#: bytes of a message with its attributes (names, types and values), and of a whole PublishBatch
MAX_MESSAGE_BYTES = 262_144
MAX_SUBJECT = 100
MAX_ATTRIBUTES = 10
MAX_ATTRIBUTE_NAME = 256
DATA_TYPES = ("String", "String.Array", "Number", "Binary")
_NAME = re.compile(r"[A-Za-z0-9_.\-]+")
#: SNS's protocols that a MessageStructure=json message can address by key
PROTOCOL_KEYS = ("default", "lambda", "sqs", "http", "https", "email", "email-json", "sms", "application", "firehose")

Attributes = Mapping[str, Mapping[str, Any]]
#: signs the canonical string (bytes) and returns the raw signature
Signer = Callable[[bytes], bytes]


def timestamp(now: dt.datetime) -> str:
    """SNS's Timestamp: ISO 8601 in UTC with milliseconds, `2026-11-30T11:45:00.123Z`."""
    return now.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


# ---- what Publish accepts ----
def check_attributes(attributes: Attributes) -> None:
    """Publish's rules for MessageAttributes (SNS's ParameterValueInvalid and wording)."""
    if len(attributes) > MAX_ATTRIBUTES:
        raise SnsInvalidParameterValue(
            f"Number of message attributes [{len(attributes)}] exceeds the allowed maximum [{MAX_ATTRIBUTES}]."
        )
    for name, value in attributes.items():
        if (
            not name
            or len(name) > MAX_ATTRIBUTE_NAME
            or not _NAME.fullmatch(name)
            or name.startswith(".")
            or name.endswith(".")
            or ".." in name
            or name.lower().startswith(("aws.", "amazon."))
        ):
            raise SnsInvalidParameterValue(f"The message attribute name '{name}' is invalid.")
        kind = str(value.get("DataType", ""))
        base = kind.split(".", 1)[0]
        if kind != "String.Array" and base not in ("String", "Number", "Binary"):
            raise SnsInvalidParameterValue(
                f"The message attribute '{name}' has an invalid message attribute type, the set of supported type "
                "prefixes is Binary, Number, and String."
            )
        if base == "Binary":
            if not value.get("BinaryValue"):
                raise SnsInvalidParameterValue(
                    f"The message attribute '{name}' must contain non-empty message attribute value for message "
                    f"attribute type '{kind}'."
                )
            continue
        text = value.get("StringValue")
        if not isinstance(text, str) or text == "":
            raise SnsInvalidParameterValue(
                f"The message attribute '{name}' must contain non-empty message attribute value for message "
                f"attribute type '{kind}'."
            )
        if base == "Number" and not _is_number(text):
            raise SnsInvalidParameterValue(
                f"An error occurred while trying to deliver the value '{text}' of the message attribute '{name}': "
                "it is not a number."
            )
        if kind == "String.Array":
            try:
                array = json_text.loads(text)
            except ValueError:
                array = None
            if not isinstance(array, list):
                raise SnsInvalidParameterValue(
                    f"The message attribute '{name}' with type 'String.Array' has an invalid value: it must be a "
                    "JSON array."
                )


def _is_number(text: str) -> bool:
    try:
        value = float(text)
    except ValueError:
        return False
    return value == value and abs(value) != float("inf")


def message_size(message: str, attributes: Attributes) -> int:
    """Bytes SNS counts against 256 KB: the message, and each attribute's name, type and value."""
    size = len(message.encode())
    for name, value in attributes.items():
        size += len(name.encode()) + len(str(value.get("DataType", "")).encode())
        binary = value.get("BinaryValue")
        size += (
            len(binary) if isinstance(binary, bytes | bytearray) else len(str(value.get("StringValue", "")).encode())
        )
    return size


def check_message(message: str, subject: str | None, attributes: Attributes, structure: str | None) -> None:
    """Publish's rules for one message: not empty, 256 KB with its attributes, subject, MessageStructure."""
    if message == "":
        raise SnsInvalidParameter("Invalid parameter: Empty message")
    if message_size(message, attributes) > MAX_MESSAGE_BYTES:
        raise SnsInvalidParameter("Invalid parameter: Message too long")
    if subject is not None:
        if subject == "" or len(subject) > MAX_SUBJECT:
            raise SnsInvalidParameter("Invalid parameter: Subject")
        if any(ord(c) < 32 or ord(c) == 127 for c in subject):
            raise SnsInvalidParameter("Invalid parameter: Subject")
    check_attributes(attributes)
    if structure is not None:
        if structure != "json":
            raise SnsInvalidParameter("Invalid parameter: MessageStructure")
        per_protocol(message)


def per_protocol(message: str) -> dict[str, str]:
    """A MessageStructure=json message's texts by protocol key (`default` always there); non-string values and
    unknown keys are ignored, as SNS does."""
    try:
        doc = json_text.loads(message)
    except ValueError:
        doc = None
    if not isinstance(doc, dict):
        raise SnsInvalidParameter("Invalid parameter: Message Structure - JSON message body failed to parse")
    if not isinstance(doc.get("default"), str):
        raise SnsInvalidParameter("Invalid parameter: Message Structure - No default entry in JSON message body")
    return {k: v for k, v in doc.items() if k in PROTOCOL_KEYS and isinstance(v, str)}


def message_for(message: str, structure: str | None, protocol: str) -> str:
    """The text a subscriber of `protocol` receives."""
    if structure != "json":
        return message
    texts = per_protocol(message)
    return texts.get(protocol, texts["default"])


# ---- what subscribers receive ----
def envelope_attributes(attributes: Attributes) -> dict[str, dict[str, str]]:
    """Attributes as the JSON envelope and the Lambda event carry them: `{name: {"Type", "Value"}}`, binary values
    in base64."""
    out: dict[str, dict[str, str]] = {}
    for name, value in attributes.items():
        binary = value.get("BinaryValue")
        text = base64.b64encode(binary).decode() if isinstance(binary, bytes | bytearray) else value.get("StringValue")
        out[name] = {"Type": str(value.get("DataType", "")), "Value": str(text)}
    return out


def sqs_attributes(attributes: Attributes) -> dict[str, dict[str, Any]]:
    """Attributes as SQS message attributes (raw message delivery to a queue)."""
    out: dict[str, dict[str, Any]] = {}
    for name, value in attributes.items():
        kind = str(value.get("DataType", ""))
        if isinstance(value.get("BinaryValue"), bytes | bytearray):
            out[name] = {"DataType": kind, "BinaryValue": bytes(value["BinaryValue"])}
        else:
            # SQS has no String.Array: it arrives as a String holding the JSON array, as SNS sends it
            out[name] = {"DataType": "String" if kind == "String.Array" else kind,
                         "StringValue": str(value.get("StringValue"))}  # fmt: skip
    return out


def notification(
    *,
    topic_arn: str,
    message_id: str,
    message: str,
    subject: str | None,
    when: str,
    attributes: Attributes,
    unsubscribe_url: str,
    cert_url: str,
    sign: Signer,
    signature_version: str = "1",
) -> dict[str, Any]:
    """The signed JSON envelope of a Notification (queues and HTTP endpoints), in SNS's key order; `sign` signs
    by `signature_version`."""
    env: dict[str, Any] = {"Type": "Notification", "MessageId": message_id, "TopicArn": topic_arn}
    if subject is not None:
        env["Subject"] = subject
    env |= {"Message": message, "Timestamp": when, "SignatureVersion": signature_version}
    env["Signature"] = base64.b64encode(sign(string_to_sign(env))).decode()
    env |= {"SigningCertURL": cert_url, "UnsubscribeURL": unsubscribe_url}
    if attributes:
        env["MessageAttributes"] = envelope_attributes(attributes)
    return env


def confirmation(
    *,
    topic_arn: str,
    message_id: str,
    token: str,
    subscribe_url: str,
    when: str,
    cert_url: str,
    sign: Signer,
    signature_version: str = "1",
) -> dict[str, Any]:
    """The signed SubscriptionConfirmation an http(s) endpoint receives when it is subscribed."""
    env: dict[str, Any] = {
        "Type": "SubscriptionConfirmation", "MessageId": message_id, "Token": token, "TopicArn": topic_arn,
        "Message": f"You have chosen to subscribe to the topic {topic_arn}.\n"
                   "To confirm the subscription, visit the SubscribeURL included in this message.",
        "SubscribeURL": subscribe_url, "Timestamp": when, "SignatureVersion": signature_version,
    }  # fmt: skip
    env["Signature"] = base64.b64encode(sign(string_to_sign(env))).decode()
    env["SigningCertURL"] = cert_url
    return env


def lambda_event(subscription_arn: str, envelope: Mapping[str, Any]) -> dict[str, Any]:
    """SNS's Lambda event for one notification envelope (one record, as SNS always sends)."""
    sns = {
        "Type": envelope["Type"], "MessageId": envelope["MessageId"], "TopicArn": envelope["TopicArn"],
        "Subject": envelope.get("Subject"), "Message": envelope["Message"], "Timestamp": envelope["Timestamp"],
        "SignatureVersion": envelope["SignatureVersion"], "Signature": envelope["Signature"],
        "SigningCertUrl": envelope["SigningCertURL"], "UnsubscribeUrl": envelope["UnsubscribeURL"],
        "MessageAttributes": envelope.get("MessageAttributes", {}),
    }  # fmt: skip
    record = {"EventSource": "aws:sns", "EventVersion": "1.0", "EventSubscriptionArn": subscription_arn, "Sns": sns}
    return {"Records": [record]}


#: the fields SignatureVersion 1 and 2 sign, in AWS's documented order, by message type
_SIGNED = {
    "Notification": ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"),
    "SubscriptionConfirmation": ("Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"),
    "UnsubscribeConfirmation": ("Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"),
}


def string_to_sign(message: Mapping[str, Any]) -> bytes:
    """The canonical string: each signed field's name and value on their own lines, in AWS's order; a
    Notification's Subject only when it has one."""
    lines = []
    for key in _SIGNED[str(message["Type"])]:
        value = message.get(key)
        if value is None:
            continue
        lines += [key, str(value)]
    return ("\n".join(lines) + "\n").encode()


# ---- filter policies ----
def parse_policy(text: str) -> filters.Pattern:
    """A FilterPolicy, validated by the one filter engine (SNS's InvalidParameter wording)."""
    try:
        return filters.parse_pattern(text)
    except InvalidParameterValue:
        raise SnsInvalidParameter("Invalid parameter: FilterPolicy: failed to parse JSON or invalid policy") from None


def attribute_values(attributes: Attributes) -> dict[str, Any]:
    """Message attributes as a filter policy sees them: a String as text, a Number as a number, a String.Array as
    its array; Binary attributes are not matched (SNS ignores them)."""
    out: dict[str, Any] = {}
    for name, value in attributes.items():
        kind = str(value.get("DataType", ""))
        text = value.get("StringValue")
        if kind.startswith("Binary") or not isinstance(text, str):
            continue
        if kind.startswith("Number"):
            number = float(text)
            out[name] = int(number) if number.is_integer() and "." not in text and "e" not in text.lower() else number
        elif kind == "String.Array":
            out[name] = json.loads(text)
        else:
            out[name] = text
    return out


def policy_matches(policy: filters.Pattern | None, scope: str, message: str, attributes: Attributes) -> bool:
    """Whether a message passes a subscription's filter policy (no policy: everything passes). Scope
    `MessageAttributes` (the default) matches the attributes; `MessageBody` the message as JSON (a body that is
    not a JSON object never matches)."""
    if policy is None:
        return True
    if scope == "MessageBody":
        body = filters.decode_data(message)
        return isinstance(body, dict) and filters.matches(policy, body)
    return filters.matches(policy, attribute_values(attributes))
