"""EventBridge's events, pure: a PutEvents entry checked and sized as AWS sizes it, and the envelope it becomes.

An accepted entry becomes the event every rule's pattern sees and every target receives:

    {"version": "0", "id": <uuid>, "detail-type": ..., "source": ..., "account": ..., "time": "...Z",
     "region": ..., "resources": [...], "detail": {...}}

An entry's failures are answered per entry (PutEvents' `Entries[n].ErrorCode` / `ErrorMessage`), never as the
call's error: `EntryError` carries them. The size of an entry is computed as EventBridge's "Calculating PutEvents
event entry size" says: 14 bytes for a Time, plus the UTF-8 bytes of Source, DetailType, Detail and each Resource.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from nimbus.protocol import json_text

#: PutEvents' cap on the total size of its entries, computed with `entry_size`
MAX_ENTRIES_SIZE = 256 * 1024
#: what a Time adds to an entry's size
TIME_SIZE = 14
#: the scheduled event's detail-type and source
SCHEDULED_DETAIL_TYPE = "Scheduled Event"
SCHEDULED_SOURCE = "aws.events"


class EntryError(Exception):
    """One PutEvents entry refused: `code` and `message` are what its result entry says."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def entry_size(entry: Mapping[str, Any]) -> int:
    """An entry's size as EventBridge counts it toward the 256 KB of a PutEvents call."""
    size = TIME_SIZE if entry.get("Time") is not None else 0
    for key in ("Source", "DetailType", "Detail"):
        value = entry.get(key)
        if isinstance(value, str):
            size += len(value.encode())
    for resource in entry.get("Resources") or ():
        if isinstance(resource, str):
            size += len(resource.encode())
    return size


def iso_time(epoch: float) -> str:
    """EventBridge's event time: ISO 8601 in UTC to the second, with a `Z`."""
    return dt.datetime.fromtimestamp(int(epoch), dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def entry_time(value: Any, now: float) -> float:
    """The epoch seconds of an entry's Time (the JSON protocol's epoch number, or an ISO 8601 string); `now`
    when it has none."""
    if value is None:
        return now
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        try:
            parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            try:
                return float(value)
            except ValueError:
                raise EntryError("InvalidArgument", "Parameter Time is not valid.") from None
        return (parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)).timestamp()
    raise EntryError("InvalidArgument", "Parameter Time is not valid.")


def check_entry(entry: Mapping[str, Any]) -> dict[str, Any]:
    """The entry's decoded Detail (a JSON object), or EntryError with what EventBridge answers for it."""
    for key in ("Source", "DetailType", "Detail"):
        if not entry.get(key):
            raise EntryError("InvalidArgument", f"Parameter {key} is not valid. Reason: {key} is a required argument.")
    try:
        detail = json_text.loads(entry["Detail"])
    except ValueError:
        raise EntryError("MalformedDetail", "Detail is malformed.") from None
    if not isinstance(detail, dict):
        raise EntryError("MalformedDetail", "Detail is malformed.")
    return detail


def envelope(
    *,
    event_id: str,
    source: str,
    detail_type: str,
    detail: Mapping[str, Any],
    account: str,
    region: str,
    time: float,
    resources: Sequence[str] = (),
) -> dict[str, Any]:
    """The event as rules match it and targets receive it, in EventBridge's key order."""
    return {
        "version": "0",
        "id": event_id,
        "detail-type": detail_type,
        "source": source,
        "account": account,
        "time": iso_time(time),
        "region": region,
        "resources": list(resources),
        "detail": dict(detail),
    }


def scheduled_event(*, event_id: str, rule_arn: str, account: str, region: str, time: float) -> dict[str, Any]:
    """The event a scheduled rule's fire sends its targets: detail-type "Scheduled Event", source "aws.events",
    the rule's ARN as the one resource, an empty detail."""
    return envelope(event_id=event_id, source=SCHEDULED_SOURCE, detail_type=SCHEDULED_DETAIL_TYPE, detail={},
                    account=account, region=region, time=time, resources=[rule_arn])  # fmt: skip
