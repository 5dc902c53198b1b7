"""SQS's request parameters checked against a queue's attributes, pure: what SendMessage makes of its parameters (the
message to store and the digests to answer with), SendMessageBatch's total size, and ReceiveMessage's count,
visibility timeout and wait with the queue's defaults.

Apart from `service.py` (which resolves queues and talks to the store) so that the rules and their exact wire
wording read in one place, with no store and no asyncio; `sqs_messages.py` holds the message-level rules they use
(digests, attribute validation, FIFO ids).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from nimbus.errors import BatchRequestTooLong, SqsInvalidParameterValue
from nimbus.queue import sqs_attributes as qa
from nimbus.queue import sqs_messages as qm
from nimbus.queue.contract import NewMessage

#: bytes of a message (body and attributes) and of a whole SendMessageBatch, as SQS counts them
MAX_MESSAGE_BYTES = 262_144
MAX_WAIT_S = 20
MAX_VISIBILITY_S = 43_200
MAX_DELAY_S = 900


@dataclass(frozen=True)
class Sent:
    message_id: str
    md5_of_body: str
    md5_of_attributes: str | None
    md5_of_system: str | None


def new_message(
    queue: Mapping[str, str],
    body: str,
    attributes: Mapping[str, Mapping[str, Any]],
    delay_s: int | None,
    system: Mapping[str, Mapping[str, Any]],
    group_id: str | None,
    dedup_id: str | None,
) -> tuple[NewMessage, Sent]:
    """The message to store for a send to a queue of attributes `queue`, and its digests (message id still to come)."""
    qm.check_body(body)
    if qa.is_fifo(queue):
        group_id, dedup_id = qm.fifo_ids(queue, body, group_id, dedup_id, delay_s)
    elif dedup_id is not None:
        raise SqsInvalidParameterValue("The request include parameter MessageDeduplicationId that is not valid "
                                       "for this queue type.")  # fmt: skip
    stored = qm.check_message_attributes(attributes)
    system_stored = qm.check_message_attributes(system) if system else {}
    limit = int(queue.get("MaximumMessageSize", MAX_MESSAGE_BYTES))
    size = len(body.encode()) + qm.attributes_size(attributes)
    if size > limit:
        raise SqsInvalidParameterValue(
            f"One or more parameters are invalid. Reason: Message must be shorter than {limit} bytes."
        )
    if delay_s is None:
        delay_s = int(queue.get("DelaySeconds", "0"))
    else:
        _check_range("DelaySeconds", delay_s, 0, MAX_DELAY_S, "must be between {low} and {high}")
    new = NewMessage(body, stored, system_stored, float(delay_s), group_id, dedup_id)
    sent = Sent("", qm.md5_of_body(body), qm.md5_of_attributes(attributes), qm.md5_of_attributes(system))
    return new, sent


def _check_range(
    parameter: str, value: int, low: int, high: int, reason: str = "Must be between {low} and {high}"
) -> None:
    """`value` within [low, high], else SQS's InvalidParameterValue; `reason` is SQS's wording for `parameter`,
    which differs from one to another (formatted with `low` and `high`)."""
    if not low <= value <= high:
        raise SqsInvalidParameterValue(
            f"Value {value} for parameter {parameter} is invalid. Reason: {reason.format(low=low, high=high)}, "
            "if provided."
        )


def check_batch_size(entries: Sequence[Mapping[str, Any]]) -> None:
    """A SendMessageBatch's bodies and attributes together fit in one message's size."""
    total = sum(
        len(str(e.get("MessageBody", "")).encode()) + qm.attributes_size(e.get("MessageAttributes") or {})
        for e in entries
    )
    if total > MAX_MESSAGE_BYTES:
        raise BatchRequestTooLong(
            f"Batch requests cannot be longer than {MAX_MESSAGE_BYTES} bytes. You have sent {total} bytes."
        )


def receive_parameters(
    queue: Mapping[str, str], max_count: int, visibility_s: int | None, wait_s: int | None
) -> tuple[int, int]:
    """ReceiveMessage's visibility timeout and wait, checked, the queue's defaults for those not given."""
    _check_range("MaxNumberOfMessages", max_count, 1, 10)
    if visibility_s is None:
        visibility_s = int(queue.get("VisibilityTimeout", "30"))
    else:
        _check_range("VisibilityTimeout", visibility_s, 0, MAX_VISIBILITY_S)
    if wait_s is None:
        wait_s = int(queue.get("ReceiveMessageWaitTimeSeconds", "0"))
    else:
        _check_range("WaitTimeSeconds", wait_s, 0, MAX_WAIT_S, "Must be >= {low} and <= {high}")
    return visibility_s, wait_s
