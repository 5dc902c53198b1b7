"""SQS's queue attribute rules, pure: names, defaults, ranges, the redrive policy, and FIFO queues' own.

Attributes are stored as SQS names them, values as strings, defaults filled in, so GetQueueAttributes answers
from the record and CreateQueue's idempotency check compares like with like.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass

from nimbus.errors import InvalidAttributeName, InvalidAttributeValue, SqsInvalidParameterValue
from nimbus.protocol import json_text

DEFAULTS: dict[str, str] = {
    "VisibilityTimeout": "30",
    "MessageRetentionPeriod": "345600",
    "DelaySeconds": "0",
    "ReceiveMessageWaitTimeSeconds": "0",
    "MaximumMessageSize": "262144",
    "SqsManagedSseEnabled": "false",
}
#: integer attributes and their inclusive ranges, as SQS documents them
RANGES: dict[str, tuple[int, int]] = {
    "DelaySeconds": (0, 900),
    "MaximumMessageSize": (1024, 262_144),
    "MessageRetentionPeriod": (60, 1_209_600),
    "ReceiveMessageWaitTimeSeconds": (0, 20),
    "VisibilityTimeout": (0, 43_200),
    "KmsDataKeyReusePeriodSeconds": (60, 86_400),
}
#: kept as given (accepted so templates that set them work; Nimbus does not enforce policies or encrypt)
_JSON_DOCS = {"Policy", "RedriveAllowPolicy"}
_FREE = {"KmsMasterKeyId"}
_BOOLEAN = {"SqsManagedSseEnabled", "ContentBasedDeduplication"}
_CHOICES = {"DeduplicationScope": ("queue", "messageGroup"), "FifoThroughputLimit": ("perQueue", "perMessageGroupId")}
#: what a FIFO queue has besides DEFAULTS
FIFO_DEFAULTS: dict[str, str] = {
    "FifoQueue": "true",
    "ContentBasedDeduplication": "false",
    "DeduplicationScope": "queue",
    "FifoThroughputLimit": "perQueue",
}
COMPUTED = (
    "QueueArn", "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible",
    "ApproximateNumberOfMessagesDelayed", "CreatedTimestamp", "LastModifiedTimestamp",
)  # fmt: skip
FIFO_ONLY = {"FifoQueue", "ContentBasedDeduplication", "DeduplicationScope", "FifoThroughputLimit"}
SETTABLE = set(RANGES) | _JSON_DOCS | _FREE | _BOOLEAN | {"RedrivePolicy"}
READABLE = SETTABLE | set(COMPUTED) | FIFO_ONLY

_NAME = re.compile(r"[A-Za-z0-9_-]{1,80}")
MAX_RECEIVE_COUNT = (1, 1000)


@dataclass(frozen=True)
class Redrive:
    target_arn: str
    max_receive_count: int


def check_queue_name(name: str, attributes: Mapping[str, str]) -> bool:
    """1 to 80 of [A-Za-z0-9_-], or a FIFO queue's name: the same ending in `.fifo` (80 in all), created with
    FifoQueue=true (and only then). Returns whether the queue is FIFO."""
    fifo = str(attributes.get("FifoQueue", "false")).lower() == "true"
    if fifo:
        if not name.endswith(".fifo") or not _NAME.fullmatch(name.removesuffix(".fifo")) or len(name) > 80:
            raise SqsInvalidParameterValue(
                "The name of a FIFO queue can only include alphanumeric characters, hyphens, or underscores, must "
                "end with .fifo suffix and be 1 to 80 in length."
            )
    elif not _NAME.fullmatch(name):
        raise SqsInvalidParameterValue(
            "Can only include alphanumeric characters, hyphens, or underscores. 1 to 80 in length"
            + (" (a .fifo name needs the attribute FifoQueue=true)" if name.endswith(".fifo") else "")
        )
    return fifo


def is_fifo(attributes: Mapping[str, str]) -> bool:
    return attributes.get("FifoQueue") == "true"


def normalize(attributes: Mapping[str, str], *, creating: bool, fifo: bool) -> dict[str, str]:
    """Check attributes as SQS does (name, then value) and return them in their stored form. An empty
    RedrivePolicy removes it (the value "" is returned so the caller can drop it)."""
    out: dict[str, str] = {}
    for name, value in attributes.items():
        if not isinstance(value, str):
            raise InvalidAttributeValue(f"Invalid value for the parameter {name}.")
        if name == "FifoQueue":
            if not creating and value.lower() != str(fifo).lower():
                raise InvalidAttributeValue("Invalid value for the parameter FifoQueue: it is fixed at creation.")
            if fifo:
                out[name] = "true"
            elif value.lower() not in ("false", "true"):
                raise InvalidAttributeValue("Invalid value for the parameter FifoQueue.")
            continue
        if (name in FIFO_ONLY and not fifo) or name not in SETTABLE | FIFO_ONLY:
            raise InvalidAttributeName(f"Unknown Attribute {name}.")
        out[name] = _value(name, value)
    return out


def _value(name: str, value: str) -> str:
    if name in RANGES:
        lo, hi = RANGES[name]
        if not re.fullmatch(r"-?[0-9]{1,12}", value.strip()) or not lo <= int(value) <= hi:
            raise InvalidAttributeValue(f"Invalid value for the parameter {name}. Reason: must be an integer "
                                        f"from {lo} to {hi}.")  # fmt: skip
        return str(int(value))
    if name in _CHOICES:
        if value not in _CHOICES[name]:
            raise InvalidAttributeValue(f"Invalid value for the parameter {name}: one of {', '.join(_CHOICES[name])}.")
        return value
    if name in _BOOLEAN:
        if value.lower() not in ("true", "false"):
            raise InvalidAttributeValue(f"Invalid value for the parameter {name}.")
        return value.lower()
    if name in _JSON_DOCS:
        if value:
            try:
                json_text.loads(value)
            except ValueError:
                raise InvalidAttributeValue(f"Invalid value for the parameter {name}.") from None
        return value
    if name == "RedrivePolicy":
        if not value:
            return ""
        policy = parse_redrive(value)
        return json.dumps({"deadLetterTargetArn": policy.target_arn, "maxReceiveCount": policy.max_receive_count},
                          separators=(",", ":"))  # fmt: skip
    return value


def parse_redrive(value: str) -> Redrive:
    """A RedrivePolicy's JSON: `deadLetterTargetArn` (an SQS ARN) and `maxReceiveCount` (1-1000, int or str)."""
    try:
        doc = json_text.loads(value)
    except ValueError:
        doc = None
    bad = InvalidAttributeValue(
        f"Value {value} for parameter RedrivePolicy is invalid. Reason: Redrive policy is not a valid JSON map "
        "with deadLetterTargetArn and maxReceiveCount (1 to 1000)."
    )
    if not isinstance(doc, dict) or set(doc) - {"deadLetterTargetArn", "maxReceiveCount"}:
        raise bad
    arn, count = doc.get("deadLetterTargetArn"), doc.get("maxReceiveCount")
    if isinstance(count, str) and count.isdigit():
        count = int(count)
    if (not isinstance(arn, str) or not arn.startswith("arn:aws:sqs:") or isinstance(count, bool)
            or not isinstance(count, int) or not MAX_RECEIVE_COUNT[0] <= count <= MAX_RECEIVE_COUNT[1]):  # fmt: skip
        raise bad
    return Redrive(arn, count)


def redrive_of(attributes: Mapping[str, str]) -> Redrive | None:
    value = attributes.get("RedrivePolicy")
    return parse_redrive(value) if value else None
