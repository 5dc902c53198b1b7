"""The event bus: PutEvents matched against the rules, scheduled rules fired, and every match made a durable delivery.

`put_events` answers only once every matched (rule, target) pair is stored by `Deliveries.submit` (one submit for
the whole call, group-committed), so an accepted entry survives `kill -9`. Each delivery carries the principal
`events.amazonaws.com`, the rule's ARN as its source (the function's resource policy must allow both, checked at
delivery), the target's RetryPolicy and DeadLetterConfig, and what the target receives (`protocol/input_transform`).
A built-in queue receives the event's JSON as its message body (a FIFO queue: the target's MessageGroupId and the
event id as deduplication id).

Scheduled rules are registered with the schedule runner as `rule:<bus>/<name>` while they are enabled (at load,
PutRule, EnableRule) and unregistered when disabled or deleted; a fire sends the scheduled event (detail-type
"Scheduled Event", source "aws.events", the rule ARN as its resource) to the rule's targets as they are then.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from nimbus.control.event_records import DISABLED, ENABLED, Rule, bus_name, target_kind
from nimbus.control.event_rules import EventRules
from nimbus.errors import ValidationError
from nimbus.protocol import event_envelope as envelope
from nimbus.protocol.filters import matches
from nimbus.protocol.input_transform import RuleContext, payload
from nimbus.sources.deliveries import DEFAULT_MAX_AGE_S, DEFAULT_RETRIES, Delivery

log = logging.getLogger("nimbus.events")

PRINCIPAL = "events.amazonaws.com"
TOTAL_TOO_LARGE = "Total size of the entries in the request is over the limit."

#: the schedule runner's callback: (key, the scheduled time)
FireCallback = Callable[[str, dt.datetime], Awaitable[None]]


class Submitter(Protocol):
    async def submit(self, items: Sequence[Delivery]) -> list[str]: ...


class Runner(Protocol):
    def register(
        self, key: str, expression: str, tz: ZoneInfo | None, start: dt.datetime | None, end: dt.datetime | None,
        callback: FireCallback,
    ) -> object: ...  # fmt: skip

    def unregister(self, key: str) -> None: ...


@dataclass(frozen=True, slots=True)
class EntryResult:
    """One PutEvents entry's answer: an EventId, or an ErrorCode and ErrorMessage."""

    event_id: str | None = None
    error_code: str | None = None
    error_message: str | None = None


def schedule_key(rule: Rule) -> str:
    return f"rule:{rule.bus}/{rule.name}"


class EventBus:
    def __init__(self, rules: EventRules, deliveries: Submitter, schedule_runner: Runner | None = None) -> None:
        self.rules = rules
        self.deliveries = deliveries
        self.runner = schedule_runner
        #: events accepted, deliveries submitted, entries refused (for metrics and tests)
        self.counts: dict[str, int] = {"events": 0, "deliveries": 0, "refused": 0}

    def load(self) -> None:
        """Read buses and rules, and schedule the enabled scheduled rules."""
        self.rules.load()
        for rule in self.rules.scheduled():
            self._schedule(rule)

    # ---- scheduled rules ----
    def _schedule(self, rule: Rule) -> None:
        if self.runner is None:
            return
        key = schedule_key(rule)
        if rule.schedule and rule.enabled:
            self.runner.register(key, rule.schedule, None, None, None, self._fired)
        else:
            self.runner.unregister(key)

    def _unschedule(self, rule: Rule) -> None:
        if self.runner is not None and rule.schedule:
            self.runner.unregister(schedule_key(rule))

    async def _fired(self, key: str, when: dt.datetime) -> None:
        bus, _, name = key.removeprefix("rule:").rpartition("/")
        await self.fire(bus, name, when)

    async def fire(self, bus: str, name: str, when: dt.datetime) -> None:
        """A scheduled rule's fire: the scheduled event to each of its targets."""
        rule = self.rules.rules.get(bus, {}).get(name)
        if rule is None or not rule.enabled or not rule.targets:
            return
        arn = self.rules.rule_arn(bus, name)
        event = envelope.scheduled_event(event_id=str(uuid.uuid4()), rule_arn=arn, account=self.rules.account,
                                         region=self.rules.region, time=when.timestamp())  # fmt: skip
        items = self.deliveries_for(rule, event, when.timestamp())
        await self.deliveries.submit(items)
        self.counts["deliveries"] += len(items)

    # ---- rules (the control records, plus their schedules) ----
    async def put_rule(self, name: str, bus: str | None, **fields: Any) -> Rule:
        rule, old = await self.rules.put_rule(name, bus, **fields)
        if old is not None and old.schedule and not rule.schedule:
            self._unschedule(old)
        if rule.schedule or (old is not None and old.schedule):
            self._schedule(rule)
        return rule

    async def set_state(self, bus: str | None, name: str, enabled: bool) -> Rule:
        rule = await self.rules.set_state(bus, name, ENABLED if enabled else DISABLED)
        if rule.schedule:
            self._schedule(rule)
        return rule

    async def delete_rule(self, bus: str | None, name: str, *, force: bool) -> None:
        rule = await self.rules.delete_rule(bus, name, force=force)
        if rule is not None:
            self._unschedule(rule)

    # ---- events ----
    def deliveries_for(self, rule: Rule, event: Mapping[str, Any], now: float) -> list[Delivery]:
        """One delivery per target of `rule` for `event`."""
        arn = self.rules.rule_arn(rule.bus, rule.name)
        context = RuleContext(arn, rule.name, envelope.iso_time(now))
        items = []
        for target in rule.targets:
            policy = target.get("RetryPolicy") or {}
            group = (target.get("SqsParameters") or {}).get("MessageGroupId")
            items.append(Delivery(
                target_kind(target["Arn"]), target["Arn"], payload(target, event, context), PRINCIPAL, arn,
                int(policy.get("MaximumRetryAttempts", DEFAULT_RETRIES)),
                int(policy.get("MaximumEventAgeInSeconds", DEFAULT_MAX_AGE_S)),
                (target.get("DeadLetterConfig") or {}).get("Arn"),
                dlq_attributes={"RULE_ARN": arn, "TARGET_ARN": target["Arn"]},
                group_id=group, dedup_id=str(event["id"]) if group else None,
            ))  # fmt: skip
        return items

    async def put_events(self, entries: Sequence[Mapping[str, Any]]) -> list[EntryResult]:
        """PutEvents: each entry checked, matched and fanned out; answers once every delivery is durable."""
        if sum(envelope.entry_size(e) for e in entries) > envelope.MAX_ENTRIES_SIZE:
            raise ValidationError(TOTAL_TOO_LARGE)
        now = time.time()
        results: list[EntryResult] = []
        items: list[Delivery] = []
        for entry in entries:
            try:
                detail = envelope.check_entry(entry)
                bus = bus_name(entry.get("EventBusName"))
                if bus not in self.rules.buses:
                    raise envelope.EntryError("InvalidArgument", f"Event bus {bus} does not exist.")
                when = envelope.entry_time(entry.get("Time"), now)
            except envelope.EntryError as exc:
                results.append(EntryResult(error_code=exc.code, error_message=exc.message))
                self.counts["refused"] += 1
                continue
            event_id = str(uuid.uuid4())
            event = envelope.envelope(event_id=event_id, source=entry["Source"], detail_type=entry["DetailType"],
                                      detail=detail, account=self.rules.account, region=self.rules.region,
                                      time=when, resources=entry.get("Resources") or ())  # fmt: skip
            for rule in self.rules.pattern_rules(bus):
                assert rule.pattern is not None
                if matches(rule.pattern, event):
                    items.extend(self.deliveries_for(rule, event, now))
            results.append(EntryResult(event_id=event_id))
        if items:
            await self.deliveries.submit(items)
        self.counts["events"] += sum(1 for r in results if r.event_id)
        self.counts["deliveries"] += len(items)
        return results
