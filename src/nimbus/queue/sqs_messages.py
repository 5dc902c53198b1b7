"""SQS's message rules, pure: the MD5 digests as SQS computes them, message sizes, allowed characters, message
attribute validation, batch entry rules, and the receipt handles we give clients.

The digests must match what SQS computes byte for byte: SDKs (Java, Go, .NET, and boto3 users who check) compare
`MD5OfMessageBody` / `MD5OfMessageAttributes` with their own.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Mapping, Sequence
from typing import Any

from nimbus.errors import (
    BatchEntryIdsNotDistinct,
    EmptyBatchRequest,
    InvalidBatchEntryId,
    InvalidMessageContents,
    ReceiptHandleIsInvalid,
    SqsInvalidParameterValue,
    SqsMissingParameter,
    TooManyEntriesInBatchRequest,
)

MAX_BATCH = 10
MAX_ATTRIBUTES = 10
#: the characters SQS allows in a body and in string attribute values (XML 1.0's Char production)
_INVALID_CHARS = re.compile("[^\x09\x0a\x0d\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_ATTRIBUTE_NAME = re.compile(r"[A-Za-z0-9_.-]{1,256}")
_BATCH_ID = re.compile(r"[A-Za-z0-9_-]{1,80}")
_DATA_TYPE = re.compile(r"(String|Number|Binary)(\.[^\s]{1,250})?")
_RECEIPT_PREFIX = "NIMBUS1"


def md5_hex(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def md5_of_body(body: str) -> str:
    return md5_hex(body.encode())


def _field(data: bytes) -> bytes:
    return len(data).to_bytes(4, "big") + data


def md5_of_attributes(attributes: Mapping[str, Mapping[str, Any]]) -> str | None:
    """SQS's digest of message attributes: for each attribute by name, length-prefixed name and data type, then
    a transport byte (1: string, 2: binary) and the length-prefixed value. None when there are none."""
    if not attributes:
        return None
    out = bytearray()
    for name in sorted(attributes):
        attr = attributes[name]
        data_type = str(attr["DataType"])
        out += _field(name.encode()) + _field(data_type.encode())
        if data_type.startswith("Binary"):
            value = attr.get("BinaryValue", b"")
            out += b"\x02" + _field(value if isinstance(value, bytes) else base64.b64decode(value))
        else:
            out += b"\x01" + _field(str(attr.get("StringValue", "")).encode())
    return md5_hex(bytes(out))


def attributes_size(attributes: Mapping[str, Mapping[str, Any]]) -> int:
    """What message attributes count toward the message size: each name, data type and value, in bytes."""
    size = 0
    for name, attr in attributes.items():
        size += len(name.encode()) + len(str(attr.get("DataType", "")).encode())
        value = attr.get("BinaryValue")
        if isinstance(value, bytes | bytearray):
            size += len(value)
        else:
            size += len(str(attr.get("StringValue", "")).encode())
    return size


def check_body(body: str) -> None:
    if not body:
        raise SqsMissingParameter("The request must contain the parameter MessageBody.")
    bad = _INVALID_CHARS.search(body)
    if bad:
        raise InvalidMessageContents(
            f"Invalid characters found. Valid unicode characters are #x9 | #xA | #xD | #x20 to #xD7FF | "
            f"#xE000 to #xFFFD | #x10000 to #x10FFFF (found U+{ord(bad.group()):04X})"
        )


def check_message_attributes(attributes: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """Validate message attributes as SQS does; returns them in their stored shape (binary values as base64)."""
    if len(attributes) > MAX_ATTRIBUTES:
        raise SqsInvalidParameterValue(
            f"Number of message attributes [{len(attributes)}] exceeds the allowed maximum [{MAX_ATTRIBUTES}]."
        )
    out: dict[str, dict[str, Any]] = {}
    for name, attr in attributes.items():
        lowered = name.lower()
        if (not _ATTRIBUTE_NAME.fullmatch(name) or lowered.startswith(("aws.", "amazon."))
                or name.startswith(".") or name.endswith(".") or ".." in name):  # fmt: skip
            raise SqsInvalidParameterValue(f"Message attribute name '{name}' is invalid.")
        data_type = str(attr.get("DataType") or "")
        if not _DATA_TYPE.fullmatch(data_type):
            raise SqsInvalidParameterValue(
                f"The message attribute '{name}' has an invalid message attribute type, the set of supported type "
                "prefixes is Binary, Number, and String."
            )
        if attr.get("StringListValues") or attr.get("BinaryListValues"):
            raise SqsInvalidParameterValue(f"Message attribute list values in '{name}' are not supported.")
        if data_type.startswith("Binary"):
            value = attr.get("BinaryValue")
            if not isinstance(value, bytes | bytearray) or not value:
                raise SqsInvalidParameterValue(f"The message attribute '{name}' must contain a non-empty value of "
                                               "message attribute type 'Binary'.")  # fmt: skip
            out[name] = {"DataType": data_type, "BinaryValue": base64.b64encode(value).decode()}
            continue
        text = attr.get("StringValue")
        if not isinstance(text, str) or not text:
            kind = data_type.split(".", 1)[0]
            raise SqsInvalidParameterValue(
                f"The message attribute '{name}' must contain a non-empty value of message attribute type '{kind}'."
            )
        if data_type.startswith("Number") and not _is_number(text):
            raise SqsInvalidParameterValue(f"Can't cast the value of message attribute '{name}' to a number.")
        if _INVALID_CHARS.search(text):
            raise InvalidMessageContents(f"Message attribute '{name}' contains invalid characters.")
        out[name] = {"DataType": data_type, "StringValue": text}
    return out


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return text.strip() == text and text.lower() not in ("nan", "inf", "-inf", "+inf", "infinity", "-infinity")


def wire_attributes(stored: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """Stored message attributes (binary as base64) in the shape the API returns (binary as bytes)."""
    out: dict[str, dict[str, Any]] = {}
    for name, attr in stored.items():
        if "BinaryValue" in attr:
            out[name] = {"DataType": attr["DataType"], "BinaryValue": base64.b64decode(attr["BinaryValue"])}
        else:
            out[name] = {"DataType": attr["DataType"], "StringValue": attr.get("StringValue", "")}
    return out


def check_batch(entries: Sequence[Mapping[str, Any]]) -> None:
    """SQS's batch rules: 1 to 10 entries, each Id 1-80 of [A-Za-z0-9_-], all Ids distinct."""
    if not entries:
        raise EmptyBatchRequest("There should be at least one entry in the request.")
    if len(entries) > MAX_BATCH:
        raise TooManyEntriesInBatchRequest(f"Maximum number of entries per request are {MAX_BATCH}. "
                                           f"You have sent {len(entries)}.")  # fmt: skip
    seen: set[str] = set()
    for entry in entries:
        entry_id = str(entry.get("Id", ""))
        if not _BATCH_ID.fullmatch(entry_id):
            raise InvalidBatchEntryId(
                "A batch entry id can only contain alphanumeric characters, hyphens and underscores. "
                "It can be at most 80 letters long."
            )
        if entry_id in seen:
            raise BatchEntryIdsNotDistinct(f"Id {entry_id} repeated.")
        seen.add(entry_id)


def encode_receipt(queue: str, receipt: str) -> str:
    """The receipt handle a client sees: the queue's name and the backend's receipt, so a handle for another
    queue or a forged one is told apart from a stale one (which SQS accepts and ignores)."""
    raw = f"{_RECEIPT_PREFIX}\n{queue}\n{receipt}".encode()
    return base64.urlsafe_b64encode(raw).decode()


def decode_receipt(queue: str, handle: str) -> str:
    """The backend's receipt inside a handle, or ReceiptHandleIsInvalid."""
    try:
        raw = base64.urlsafe_b64decode(handle.encode("ascii")).decode()
        prefix, name, receipt = raw.split("\n", 2)
    except (ValueError, UnicodeError):
        prefix = name = receipt = ""
    if prefix != _RECEIPT_PREFIX or name != queue or not receipt:
        raise ReceiptHandleIsInvalid(f'The input receipt handle "{handle}" is not a valid receipt handle.')
    return receipt


_FIFO_ID = re.compile(r"[!-~]{1,128}")
#: joins the group to the deduplication id when a FIFO queue deduplicates per message group
DEDUP_SCOPE_SEP = "\x1f"


def fifo_ids(queue: Mapping[str, str], body: str, group_id: str | None, dedup_id: str | None,
             delay_s: int | None) -> tuple[str, str]:  # fmt: skip
    """A FIFO message's (group id, deduplication id) as stored, by SQS's rules: a group id is required; the
    deduplication id is given, or the body's SHA-256 with ContentBasedDeduplication; no per-message delay."""
    if delay_s is not None:
        raise SqsInvalidParameterValue(f"Value {delay_s} for parameter DelaySeconds is invalid. Reason: The request "
                                       "include parameter that is not valid for this queue type.")  # fmt: skip
    if group_id is None:
        raise SqsMissingParameter("The request must contain the parameter MessageGroupId.")
    if dedup_id is None:
        if queue.get("ContentBasedDeduplication") != "true":
            raise SqsInvalidParameterValue("The queue should either have ContentBasedDeduplication enabled or "
                                           "MessageDeduplicationId provided explicitly")  # fmt: skip
        dedup_id = hashlib.sha256(body.encode()).hexdigest()
    for name, value in (("MessageGroupId", group_id), ("MessageDeduplicationId", dedup_id)):
        if not _FIFO_ID.fullmatch(value):
            raise SqsInvalidParameterValue(f"Value {value} for parameter {name} is invalid. Reason: 1 to 128 "
                                           "alphanumeric or punctuation characters.")  # fmt: skip
    if queue.get("DeduplicationScope") == "messageGroup":
        dedup_id = f"{group_id}{DEDUP_SCOPE_SEP}{dedup_id}"
    return group_id, dedup_id
