"""EventBridge's envelope, entry checks and entry sizes (the "Calculating PutEvents event entry size" rules)."""

from __future__ import annotations

import pytest

from nimbus.protocol.event_envelope import (
    EntryError,
    check_entry,
    entry_size,
    entry_time,
    envelope,
    iso_time,
    scheduled_event,
)


def test_envelope_keys_in_eventbridges_order() -> None:
    event = envelope(event_id="e1", source="my.app", detail_type="Order", detail={"n": 1}, account="123456789012",
                     region="us-east-1", time=1_700_000_000.9, resources=["arn:x"])  # fmt: skip
    assert list(event) == ["version", "id", "detail-type", "source", "account", "time", "region", "resources", "detail"]
    assert event["version"] == "0"
    assert event["time"] == "2023-11-14T22:13:20Z"
    assert event["resources"] == ["arn:x"]
    assert event["detail"] == {"n": 1}


def test_scheduled_event() -> None:
    event = scheduled_event(event_id="e", rule_arn="arn:aws:events:us-east-1:1:rule/r", account="1",
                            region="us-east-1", time=0)  # fmt: skip
    assert event["detail-type"] == "Scheduled Event"
    assert event["source"] == "aws.events"
    assert event["resources"] == ["arn:aws:events:us-east-1:1:rule/r"]
    assert event["detail"] == {}
    assert event["time"] == "1970-01-01T00:00:00Z"


def test_entry_size_as_aws_counts_it() -> None:
    entry = {"Source": "my.app", "DetailType": "Ordér", "Detail": '{"a":1}', "Resources": ["r1", "r22"]}
    assert entry_size(entry) == 6 + 6 + 7 + 2 + 3  # UTF-8 bytes: é is two
    assert entry_size({**entry, "Time": 1}) == entry_size(entry) + 14
    assert entry_size({}) == 0


@pytest.mark.parametrize(
    ("entry", "code", "message"),
    [
        ({"DetailType": "t", "Detail": "{}"}, "InvalidArgument", "Parameter Source is not valid"),
        ({"Source": "s", "Detail": "{}"}, "InvalidArgument", "Parameter DetailType is not valid"),
        ({"Source": "s", "DetailType": "t"}, "InvalidArgument", "Parameter Detail is not valid"),
        ({"Source": "s", "DetailType": "t", "Detail": "not json"}, "MalformedDetail", "Detail is malformed."),
        ({"Source": "s", "DetailType": "t", "Detail": "[1]"}, "MalformedDetail", "Detail is malformed."),
    ],
)
def test_refused_entries(entry: dict[str, str], code: str, message: str) -> None:
    with pytest.raises(EntryError) as info:
        check_entry(entry)
    assert info.value.code == code
    assert info.value.message.startswith(message)


def test_detail_is_decoded() -> None:
    assert check_entry({"Source": "s", "DetailType": "t", "Detail": '{"a": [1]}'}) == {"a": [1]}


def test_entry_time() -> None:
    assert entry_time(None, 5.0) == 5.0
    assert entry_time(1_700_000_000, 5.0) == 1_700_000_000
    assert iso_time(entry_time("2023-11-14T22:13:20Z", 0)) == "2023-11-14T22:13:20Z"
    with pytest.raises(EntryError):
        entry_time("yesterday", 0)
