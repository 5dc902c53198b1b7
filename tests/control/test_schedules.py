"""Scheduler's records and rules: the service rules beyond the model (expression, time zone, dates, flexible
window, target kinds), the defaults a new schedule takes, and the tables' round trip."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from nimbus.control.schedules import (
    DEFAULT_MAX_AGE_S,
    DEFAULT_MAX_ATTEMPTS,
    ScheduleGroup,
    ScheduleStore,
    check_schedule,
    epoch,
    new_schedule,
    target_kind,
)
from nimbus.errors import ValidationError
from nimbus.store.db import migrate, sqlite_engine
from nimbus.store.schema import metadata

NOW = 1_800_000_000.0
ROLE = "arn:aws:iam::000000000000:role/r"
QUEUE = "arn:aws:sqs:us-east-1:000000000000:q"
FUNCTION = "arn:aws:lambda:us-east-1:000000000000:function:fn"


def inp(**over: Any) -> dict[str, Any]:
    return {"Name": "s", "ScheduleExpression": "rate(5 minutes)", "FlexibleTimeWindow": {"Mode": "OFF"},
            "Target": {"Arn": QUEUE, "RoleArn": ROLE}} | over  # fmt: skip


@pytest.mark.parametrize(
    "arn",
    [FUNCTION, f"{FUNCTION}:live", f"{FUNCTION}:7", f"{FUNCTION}:$LATEST", QUEUE, f"{QUEUE}.fifo",
     "arn:aws:sns:us-east-1:000000000000:topic"],
)  # fmt: skip
def test_target_kinds_accepted(arn: str) -> None:
    assert target_kind(arn) in ("lambda", "sqs", "sns")


@pytest.mark.parametrize(
    "arn",
    ["arn:aws:events:us-east-1:000000000000:event-bus/default", "arn:aws:scheduler:::aws-sdk:sqs:sendMessage",
     "arn:aws:lambda:us-east-1:000000000000:function:", "function-name", "arn:aws:sqs:us-east-1:0:q"],
)  # fmt: skip
def test_other_targets_refused_naming_what_is_served(arn: str) -> None:
    with pytest.raises(ValidationError, match="delivers to a function"):
        target_kind(arn)


@pytest.mark.parametrize(
    ("over", "words"),
    [
        ({"ScheduleExpression": "rate(1 minutes)"}, "singular"),
        ({"ScheduleExpression": "cron(0 0 * * * *)"}, "cron"),
        ({"ScheduleExpressionTimezone": "Nowhere/Land"}, "Nowhere/Land"),
        ({"FlexibleTimeWindow": {"Mode": "FLEXIBLE"}}, "required when FlexibleTimeWindow Mode is FLEXIBLE"),
        ({"FlexibleTimeWindow": {"Mode": "OFF", "MaximumWindowInMinutes": 3}}, "only allowed"),
        ({"StartDate": NOW - 301}, "5 minutes prior"),
        ({"EndDate": NOW}, "earlier than the current time"),
        ({"StartDate": NOW + 100, "EndDate": NOW + 50}, "after the StartDate"),
        ({"StartDate": "yesterday"}, "StartDate"),
        ({"Target": {"Arn": QUEUE, "RoleArn": ROLE, "KinesisParameters": {"PartitionKey": "k"}}},
         "KinesisParameters"),
        ({"Target": {"Arn": FUNCTION, "RoleArn": ROLE, "SqsParameters": {"MessageGroupId": "g"}}}, "queue target"),
    ],
)
def test_service_rules(over: dict[str, Any], words: str) -> None:
    with pytest.raises(ValidationError) as exc:
        check_schedule(inp(**over), NOW)
    assert words in exc.value.message


def test_accepted_edges() -> None:
    check_schedule(inp(StartDate=NOW - 300, EndDate=NOW + 1), NOW)
    check_schedule(inp(ScheduleExpression="at(2030-01-01T00:00:00)", ScheduleExpressionTimezone="Asia/Tokyo"), NOW)
    check_schedule(inp(FlexibleTimeWindow={"Mode": "FLEXIBLE", "MaximumWindowInMinutes": 1440}), NOW)
    check_schedule(inp(Target={"Arn": f"{QUEUE}.fifo", "RoleArn": ROLE, "SqsParameters": {"MessageGroupId": "g"}}),
                   NOW)  # fmt: skip


def test_epoch_accepts_numbers_and_iso_text() -> None:
    assert epoch(5, "StartDate") == 5.0
    assert epoch("1800000000.5", "StartDate") == 1800000000.5
    assert epoch("2027-01-15T08:00:00Z", "StartDate") == epoch("2027-01-15T08:00:00+00:00", "StartDate")
    assert epoch("2027-01-15T08:00:00", "StartDate") == epoch("2027-01-15T08:00:00Z", "StartDate")


def test_a_new_schedule_takes_schedulers_defaults() -> None:
    s = new_schedule(inp(), "arn:x", NOW)
    assert (s.group, s.state, s.action_after_completion) == ("default", "ENABLED", "NONE")
    assert s.target["RetryPolicy"] == {"MaximumEventAgeInSeconds": DEFAULT_MAX_AGE_S,
                                       "MaximumRetryAttempts": DEFAULT_MAX_ATTEMPTS}  # fmt: skip
    assert s.created == s.modified == NOW
    assert s.key == "schedule:default/s"
    assert not s.one_time
    kept = new_schedule(inp(ScheduleExpression="at(2030-01-01T00:00:00)", StartDate=NOW + 10), "arn:x", NOW + 5,
                        created=NOW)  # fmt: skip
    assert kept.created == NOW
    assert kept.modified == NOW + 5
    assert kept.one_time
    start = kept.start_dt()
    assert start is not None
    assert start.timestamp() == NOW + 10


def test_store_round_trip_and_group_delete_takes_its_schedules(tmp_path: Path) -> None:
    engine = sqlite_engine(tmp_path / "nimbus.db")
    migrate(engine, metadata)
    store = ScheduleStore(engine)
    store.put_group(ScheduleGroup("g", "arn:g", NOW, NOW, {"k": "v"}))
    a = new_schedule(inp(GroupName="g", Name="a"), "arn:a", NOW)
    b = new_schedule(inp(Name="b"), "arn:b", NOW)
    store.put_schedule(a)
    store.put_schedule(b)
    store.put_schedule(a)  # written whole again: one row
    groups, schedules = store.load()
    assert groups == [ScheduleGroup("g", "arn:g", NOW, NOW, {"k": "v"})]
    assert sorted(schedules, key=lambda s: s.name) == [a, b]
    store.delete_group("g")
    groups, schedules = store.load()
    assert groups == []
    assert schedules == [b]
    store.delete_schedule("default", "b")
    assert store.load() == ([], [])
    engine.dispose()
