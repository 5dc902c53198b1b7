"""EventBridge Scheduler's records: schedule groups and schedules, the service rules a request must pass beyond
the model's checks, and their persistence in the `schedule_groups` / `schedules` tables.

A record is frozen and written whole (a JSON document per row) before the change is answered; the service
(`sources/scheduler.py`) keeps them in memory and registers the enabled ones with the schedule runner.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import Engine, delete, insert, select

from nimbus.errors import ValidationError
from nimbus.protocol.schedule_expr import Expression, parse, parse_timezone
from nimbus.store.schema import schedule_groups as groups_table
from nimbus.store.schema import schedules as schedules_table

DEFAULT_GROUP = "default"
#: Scheduler's default RetryPolicy of a target, which GetSchedule answers when the caller sent none
DEFAULT_MAX_AGE_S = 86400
DEFAULT_MAX_ATTEMPTS = 185
#: how far in the past a StartDate may be (Scheduler's own rule)
START_DATE_SLACK_S = 300
#: Target members Nimbus cannot act on (other AWS services' parameters): refused rather than silently ignored
UNSUPPORTED_TARGET_PARAMETERS = (
    "EcsParameters", "EventBridgeParameters", "KinesisParameters", "SageMakerPipelineParameters",
)  # fmt: skip

_FUNCTION_ARN = re.compile(r"arn:aws[a-z-]*:lambda:([a-z0-9-]+):(\d{12}):function:[A-Za-z0-9_-]{1,64}(:[\w$-]+)?")
_QUEUE_ARN = re.compile(r"arn:aws[a-z-]*:sqs:([a-z0-9-]+):(\d{12}):[A-Za-z0-9_-]{1,80}(\.fifo)?")
_TOPIC_ARN = re.compile(r"arn:aws[a-z-]*:sns:([a-z0-9-]+):(\d{12}):[A-Za-z0-9_-]{1,256}(\.fifo)?")


@dataclass(frozen=True)
class ScheduleGroup:
    name: str
    arn: str
    created: float
    modified: float
    tags: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Schedule:
    """A schedule as GetSchedule answers it (times in epoch seconds), plus the ClientToken that created it."""

    group: str
    name: str
    arn: str
    expression: str
    timezone: str | None
    start: float | None
    end: float | None
    description: str | None
    state: str
    flexible_time_window: dict[str, Any]
    #: the Target as the model names its members, with RetryPolicy filled with Scheduler's defaults
    target: dict[str, Any]
    action_after_completion: str
    kms_key_arn: str | None
    client_token: str | None
    created: float
    modified: float

    @property
    def key(self) -> str:
        """The schedule runner's key of this schedule (`schedule_fires.key`)."""
        return f"schedule:{self.group}/{self.name}"

    @property
    def one_time(self) -> bool:
        return self.expression.startswith("at(")

    def start_dt(self) -> dt.datetime | None:
        return None if self.start is None else dt.datetime.fromtimestamp(self.start, dt.UTC)

    def end_dt(self) -> dt.datetime | None:
        return None if self.end is None else dt.datetime.fromtimestamp(self.end, dt.UTC)


def target_kind(arn: str) -> str:
    """The delivery kind of a target ARN: "lambda", "sqs" or "sns"; anything else is refused (ValidationError)."""
    for kind, pattern in (("lambda", _FUNCTION_ARN), ("sqs", _QUEUE_ARN), ("sns", _TOPIC_ARN)):
        if pattern.fullmatch(arn):
            return kind
    raise ValidationError(
        f"Invalid Target Arn {arn!r}: Nimbus's Scheduler delivers to a function "
        "(arn:aws:lambda:<region>:<account>:function:<name>[:<qualifier>]), a built-in queue "
        "(arn:aws:sqs:<region>:<account>:<name>) or a topic (arn:aws:sns:<region>:<account>:<name>)."
    )


def epoch(value: Any, member: str) -> float:
    """A timestamp member as the wire sent it (epoch seconds, or ISO 8601 text from a hand-written request)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            pass
        try:
            when = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise ValidationError(f"Invalid {member} {value!r}: send epoch seconds or ISO 8601.") from None
        return (when if when.tzinfo else when.replace(tzinfo=dt.UTC)).timestamp()
    raise ValidationError(f"Invalid {member}: send a timestamp.")


def check_schedule(inp: dict[str, Any], now: float) -> Expression:
    """The service rules of CreateSchedule / UpdateSchedule beyond the model's (expression, time zone, dates,
    flexible window, target); returns the parsed expression. Raises ValidationError naming the member."""
    expr = parse(inp["ScheduleExpression"], allow_at=True)
    parse_timezone(inp.get("ScheduleExpressionTimezone"))
    window = inp["FlexibleTimeWindow"]
    if window["Mode"] == "FLEXIBLE" and window.get("MaximumWindowInMinutes") is None:
        raise ValidationError("MaximumWindowInMinutes is required when FlexibleTimeWindow Mode is FLEXIBLE.")
    if window["Mode"] == "OFF" and window.get("MaximumWindowInMinutes") is not None:
        raise ValidationError("MaximumWindowInMinutes is only allowed when FlexibleTimeWindow Mode is FLEXIBLE.")
    start = epoch(inp["StartDate"], "StartDate") if inp.get("StartDate") is not None else None
    end = epoch(inp["EndDate"], "EndDate") if inp.get("EndDate") is not None else None
    if start is not None and start < now - START_DATE_SLACK_S:
        raise ValidationError("The StartDate you specify cannot be earlier than 5 minutes prior to the current time.")
    if end is not None and end <= now:
        raise ValidationError("The EndDate you specify cannot be earlier than the current time.")
    if start is not None and end is not None and end <= start:
        raise ValidationError("The EndDate you specify must be after the StartDate.")
    target = inp["Target"]
    kind = target_kind(target["Arn"])
    if target.get("SqsParameters") is not None and kind != "sqs":
        raise ValidationError("Target.SqsParameters is for a queue target: send it only with a queue ARN.")
    for member in UNSUPPORTED_TARGET_PARAMETERS:
        if target.get(member) is not None:
            raise ValidationError(
                f"Target.{member} is not supported by Nimbus's Scheduler: it delivers the Input to a function, "
                "a built-in queue or a topic; send the Target without it."
            )
    return expr


def new_schedule(inp: dict[str, Any], arn: str, now: float, created: float | None = None) -> Schedule:
    """The record of a checked CreateSchedule / UpdateSchedule input (UpdateSchedule replaces every member, as on
    AWS: a member left out takes its default)."""
    target = dict(inp["Target"])
    retry = dict(target.get("RetryPolicy") or {})
    retry.setdefault("MaximumEventAgeInSeconds", DEFAULT_MAX_AGE_S)
    retry.setdefault("MaximumRetryAttempts", DEFAULT_MAX_ATTEMPTS)
    target["RetryPolicy"] = retry
    return Schedule(
        group=inp.get("GroupName") or DEFAULT_GROUP, name=inp["Name"], arn=arn,
        expression=inp["ScheduleExpression"], timezone=inp.get("ScheduleExpressionTimezone"),
        start=epoch(inp["StartDate"], "StartDate") if inp.get("StartDate") is not None else None,
        end=epoch(inp["EndDate"], "EndDate") if inp.get("EndDate") is not None else None,
        description=inp.get("Description"), state=inp.get("State") or "ENABLED",
        flexible_time_window=dict(inp["FlexibleTimeWindow"]), target=target,
        action_after_completion=inp.get("ActionAfterCompletion") or "NONE", kms_key_arn=inp.get("KmsKeyArn"),
        client_token=inp.get("ClientToken"), created=now if created is None else created, modified=now,
    )  # fmt: skip


class ScheduleStore:
    """Reads and writes the two tables; every method is one transaction (called off the event loop)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def load(self) -> tuple[list[ScheduleGroup], list[Schedule]]:
        with self.engine.connect() as conn:
            groups = [ScheduleGroup(**json.loads(r.document)) for r in conn.execute(select(groups_table))]
            schedules = [Schedule(**json.loads(r.document)) for r in conn.execute(select(schedules_table))]
        return groups, schedules

    def put_group(self, group: ScheduleGroup) -> None:
        with self.engine.begin() as conn:
            conn.execute(delete(groups_table).where(groups_table.c.name == group.name))
            conn.execute(insert(groups_table).values(name=group.name, document=json.dumps(asdict(group))))

    def delete_group(self, name: str) -> None:
        """The group and every schedule in it, in one transaction."""
        with self.engine.begin() as conn:
            conn.execute(delete(schedules_table).where(schedules_table.c.group_name == name))
            conn.execute(delete(groups_table).where(groups_table.c.name == name))

    def put_schedule(self, schedule: Schedule) -> None:
        t = schedules_table
        with self.engine.begin() as conn:
            conn.execute(delete(t).where(t.c.group_name == schedule.group, t.c.name == schedule.name))
            conn.execute(insert(t).values(group_name=schedule.group, name=schedule.name,
                                          document=json.dumps(asdict(schedule))))  # fmt: skip

    def delete_schedule(self, group: str, name: str) -> None:
        t = schedules_table
        with self.engine.begin() as conn:
            conn.execute(delete(t).where(t.c.group_name == group, t.c.name == name))
