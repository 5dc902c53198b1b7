"""EventBridge Scheduler: schedule groups and schedules, kept in memory and written through to the store before a
change is answered, each ENABLED schedule registered with the schedule runner, and each fire turned into one
durable delivery to the schedule's target.

A fire sends the target's `Input` verbatim (`{}` when there is none), as Scheduler does, from the principal
`scheduler.amazonaws.com` with the schedule's ARN as the source, under the target's RetryPolicy and dead-letter
queue. On AWS Scheduler a delivery is authorised by the schedule's execution role (RoleArn), not by the
function's resource policy; roles come with identity (issue 15), so until then RoleArn is stored and a delivery
is checked for nothing beyond its target existing.

A schedule that has made its last fire (a one-time `at()`, or one whose next time is past its EndDate) is
deleted after that fire when its ActionAfterCompletion is DELETE; with NONE it stays, and fires no more.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Iterable
from typing import Any

from sqlalchemy import Engine

from nimbus.clock import Clock
from nimbus.config import Settings
from nimbus.control.schedules import (
    DEFAULT_GROUP,
    Schedule,
    ScheduleGroup,
    ScheduleStore,
    check_schedule,
    new_schedule,
    target_kind,
)
from nimbus.errors import QuotaExceeded, ResourceConflict, ResourceNotFound, ValidationError
from nimbus.protocol.schedule_expr import parse_timezone
from nimbus.sources.deliveries import Deliveries, Delivery
from nimbus.sources.schedule_runner import ScheduleRunner

log = logging.getLogger("nimbus.scheduler")

PRINCIPAL = "scheduler.amazonaws.com"
#: Scheduler's default quota of schedule groups per account and region (the `default` group counts)
MAX_GROUPS = 500
#: what a target without Input receives
EMPTY_INPUT = b"{}"


class Scheduler:
    """The schedules and groups on record, and their registrations with the runner."""

    def __init__(
        self, settings: Settings, engine: Engine, runner: ScheduleRunner, deliveries: Deliveries,
        clock: Clock | None = None,
    ) -> None:
        """`clock`: what creation and modification times are read from (the runner's by default)."""
        self.settings = settings
        self.store = ScheduleStore(engine)
        self.clock = clock or runner.clock
        self.runner = runner
        self.deliveries = deliveries
        self._groups: dict[str, ScheduleGroup] = {}
        self._schedules: dict[tuple[str, str], Schedule] = {}
        self._lock = asyncio.Lock()
        #: fires whose delivery was submitted, for tests and metrics
        self.fired = 0

    # ---- ARNs ----
    def group_arn(self, group: str) -> str:
        return f"arn:aws:scheduler:{self.settings.region}:{self.settings.account_id}:schedule-group/{group}"

    def schedule_arn(self, group: str, name: str) -> str:
        return f"arn:aws:scheduler:{self.settings.region}:{self.settings.account_id}:schedule/{group}/{name}"

    # ---- storage ----
    def load(self) -> None:
        """Read groups and schedules, make the `default` group if there is none yet, and register every ENABLED
        schedule with the runner (which catches up on fires missed while the server was down)."""
        groups, schedules = self.store.load()
        self._groups = {g.name: g for g in groups}
        if DEFAULT_GROUP not in self._groups:
            now = self.clock.time()
            default = ScheduleGroup(DEFAULT_GROUP, self.group_arn(DEFAULT_GROUP), now, now)
            self.store.put_group(default)
            self._groups[DEFAULT_GROUP] = default
        self._schedules = {(s.group, s.name): s for s in schedules}
        for schedule in schedules:
            self._register(schedule)

    # ---- groups ----
    def group(self, name: str) -> ScheduleGroup:
        group = self._groups.get(name)
        if group is None:
            raise ResourceNotFound(f"Schedule group {name} does not exist.")
        return group

    def groups(self, prefix: str | None = None) -> list[ScheduleGroup]:
        return sorted((g for g in self._groups.values() if g.name.startswith(prefix or "")), key=lambda g: g.name)

    async def create_group(self, name: str, tags: dict[str, str]) -> ScheduleGroup:
        async with self._lock:
            if name in self._groups:
                raise ResourceConflict(f"Schedule group {name} already exists.")
            if len(self._groups) >= MAX_GROUPS:
                raise QuotaExceeded(
                    f"You have reached the quota of {MAX_GROUPS} schedule groups: delete a group you no longer need."
                )
            now = self.clock.time()
            group = ScheduleGroup(name, self.group_arn(name), now, now, dict(tags))
            await asyncio.to_thread(self.store.put_group, group)
            self._groups[name] = group
            return group

    async def delete_group(self, name: str) -> None:
        """The group and its schedules; the `default` group stays."""
        async with self._lock:
            if name == DEFAULT_GROUP:
                raise ValidationError("The default schedule group cannot be deleted.")
            self.group(name)
            doomed = [s for s in self._schedules.values() if s.group == name]
            await asyncio.to_thread(self.store.delete_group, name)
            for schedule in doomed:
                self._forget(schedule)
            del self._groups[name]

    def group_by_arn(self, arn: str) -> ScheduleGroup:
        prefix = self.group_arn("")
        name = arn[len(prefix) :] if arn.startswith(prefix) else None
        if not name or name not in self._groups:
            raise ResourceNotFound(f"Schedule group {arn} does not exist.")
        return self._groups[name]

    async def set_tags(self, arn: str, add: dict[str, str], remove: Iterable[str] = ()) -> ScheduleGroup:
        async with self._lock:
            group = self.group_by_arn(arn)
            tags = {k: v for k, v in group.tags.items() if k not in set(remove)} | add
            if len(tags) > 200:
                raise ValidationError("A schedule group can have at most 200 tags.")
            changed = ScheduleGroup(group.name, group.arn, group.created, self.clock.time(), tags)
            await asyncio.to_thread(self.store.put_group, changed)
            self._groups[group.name] = changed
            return changed

    # ---- schedules ----
    def schedule(self, group: str | None, name: str) -> Schedule:
        group = group or DEFAULT_GROUP
        schedule = self._schedules.get((group, name))
        if schedule is None:
            self.group(group)
            raise ResourceNotFound(f"Schedule {name} does not exist.")
        return schedule

    def schedules(
        self, group: str | None = None, prefix: str | None = None, state: str | None = None
    ) -> list[Schedule]:
        if group is not None:
            self.group(group)
        found = (
            s for s in self._schedules.values()
            if (group is None or s.group == group) and s.name.startswith(prefix or "")
            and (state is None or s.state == state)
        )  # fmt: skip
        return sorted(found, key=lambda s: (s.group, s.name))

    async def create_schedule(self, inp: dict[str, Any]) -> Schedule:
        async with self._lock:
            group, name = inp.get("GroupName") or DEFAULT_GROUP, inp["Name"]
            self.group(group)
            existing = self._schedules.get((group, name))
            if existing is not None:
                if existing.client_token is not None and existing.client_token == inp.get("ClientToken"):
                    return existing  # a retried request: the same answer
                raise ResourceConflict(f"Schedule {name} already exists.")
            now = self.clock.time()
            check_schedule(inp, now)
            schedule = new_schedule(inp, self.schedule_arn(group, name), now)
            await asyncio.to_thread(self.store.put_schedule, schedule)
            self._schedules[(group, name)] = schedule
            self._register(schedule)
            return schedule

    async def update_schedule(self, inp: dict[str, Any]) -> Schedule:
        """UpdateSchedule replaces the whole schedule (members left out take their defaults), as on AWS."""
        async with self._lock:
            old = self.schedule(inp.get("GroupName"), inp["Name"])
            now = self.clock.time()
            check_schedule(inp, now)
            schedule = new_schedule(inp, old.arn, now, created=old.created)
            await asyncio.to_thread(self.store.put_schedule, schedule)
            self.runner.unregister(old.key)
            self._schedules[(schedule.group, schedule.name)] = schedule
            self._register(schedule)
            return schedule

    async def delete_schedule(self, group: str | None, name: str) -> None:
        async with self._lock:
            schedule = self.schedule(group, name)
            await asyncio.to_thread(self.store.delete_schedule, schedule.group, schedule.name)
            self._forget(schedule)

    def _forget(self, schedule: Schedule) -> None:
        self.runner.unregister(schedule.key)
        self._schedules.pop((schedule.group, schedule.name), None)

    # ---- firing ----
    def _register(self, schedule: Schedule) -> None:
        """Hand an ENABLED schedule to the runner. A one-time schedule ignores StartDate and EndDate, as on AWS; a
        FLEXIBLE window fires at a random moment within MaximumWindowInMinutes after each time."""
        if schedule.state != "ENABLED":
            return
        window = schedule.flexible_time_window
        window_s = 60.0 * window["MaximumWindowInMinutes"] if window["Mode"] == "FLEXIBLE" else 0.0
        start, end = (None, None) if schedule.one_time else (schedule.start_dt(), schedule.end_dt())
        self.runner.register(schedule.key, schedule.expression, parse_timezone(schedule.timezone), start, end,
                             self._fire, window_s=window_s)  # fmt: skip

    def delivery(self, schedule: Schedule) -> Delivery:
        """The one delivery a fire of `schedule` makes."""
        target = schedule.target
        retry = target["RetryPolicy"]
        payload = target["Input"].encode() if target.get("Input") is not None else EMPTY_INPUT
        return Delivery(
            kind=target_kind(target["Arn"]), target=target["Arn"], payload=payload, principal=PRINCIPAL,
            source_arn=schedule.arn, max_attempts=retry["MaximumRetryAttempts"],
            max_age_s=retry["MaximumEventAgeInSeconds"],
            dead_letter_arn=(target.get("DeadLetterConfig") or {}).get("Arn"),
            dlq_attributes={"SCHEDULE_ARN": schedule.arn, "TARGET_ARN": target["Arn"]},
            group_id=(target.get("SqsParameters") or {}).get("MessageGroupId"),
        )  # fmt: skip

    async def _fire(self, key: str, when: dt.datetime) -> None:
        """One fire: its delivery made durable; then, when it was the schedule's last and the schedule says
        DELETE, the schedule deleted (a crash in between fires it again at start-up, then deletes it)."""
        group, _, name = key.removeprefix("schedule:").partition("/")
        schedule = self._schedules.get((group, name))
        if schedule is None or schedule.state != "ENABLED":
            return
        await self.deliveries.submit([self.delivery(schedule)])
        self.fired += 1
        if schedule.action_after_completion == "DELETE" and self.runner.next_fire(key) is None:
            async with self._lock:
                if self._schedules.get((group, name)) is schedule:
                    await asyncio.to_thread(self.store.delete_schedule, group, name)
                    self._forget(schedule)
                    log.info("schedule %s/%s made its last fire and was deleted (ActionAfterCompletion DELETE)",
                             group, name)  # fmt: skip
