"""EventBridge's event buses and rules (with their targets): the rules the model cannot say, persistence (the
records and the stateless checks, of target ARNs, inputs and patterns, are `event_records.py`'s).

Buses and rules are kept in the control database (`event_buses`, and `event_rules` with each rule's targets in its
one document), written before the API answers, and held in memory for PutEvents' matching, which reads only the
dicts here. The `default` bus always exists and cannot be deleted. What a rule does when an event matches or its
schedule fires is `sources/event_bus.py`'s: this module knows nothing of deliveries or schedules' timers.

EventBridge's rules kept here: a rule has an EventPattern or a ScheduleExpression, and a schedule only on the
default bus; a rule holds at most 5 targets, a bus at most 300 rules, an account at most 100 custom buses; a rule
with targets cannot be deleted (unless forced); a bus with rules cannot be deleted. A target's ARN is a function,
a built-in queue or a topic of this server's region and account; it is not required to exist yet (as on AWS, a
missing target fails at delivery, and goes to the target's dead-letter queue).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from sqlalchemy import Engine, delete, insert, select, update

from nimbus.config import Settings
from nimbus.control.event_records import (
    DEFAULT_BUS,
    ENABLED,
    LIMIT,
    MAX_BUSES,
    MAX_RULES,
    MAX_TARGETS,
    Bus,
    Rule,
    bus_name,
    check_pattern,
    check_target_input,
    page,
    target_failure,
)
from nimbus.errors import (
    EventsLimitExceeded,
    EventsResourceExists,
    ResourceNotFound,
    ValidationError,
)
from nimbus.protocol import schedule_expr
from nimbus.protocol.filters import parse_pattern
from nimbus.store.schema import event_buses, event_rules


class EventRules:
    def __init__(self, settings: Settings, engine: Engine) -> None:
        self.region = settings.region
        self.account = settings.account_id
        self.engine = engine
        self.buses: dict[str, Bus] = {}
        #: rules by bus, then by name
        self.rules: dict[str, dict[str, Rule]] = {}
        self._lock = asyncio.Lock()

    # ---- names ----
    def bus_arn(self, name: str) -> str:
        return f"arn:aws:events:{self.region}:{self.account}:event-bus/{name}"

    def rule_arn(self, bus: str, name: str) -> str:
        path = name if bus == DEFAULT_BUS else f"{bus}/{name}"
        return f"arn:aws:events:{self.region}:{self.account}:rule/{path}"

    # ---- storage ----
    def load(self) -> None:
        """Read every bus and rule; the default bus is stored at the first start."""
        with self.engine.connect() as conn:
            for row in conn.execute(select(event_buses)):
                doc = json.loads(row.document)
                self.buses[row.name] = Bus(row.name, doc.get("Description"), doc["CreationTime"],
                                           doc["LastModifiedTime"], doc.get("Tags") or {})  # fmt: skip
            for row in conn.execute(select(event_rules)):
                doc = json.loads(row.document)
                pattern = doc.get("EventPattern")
                rule = Rule(row.bus, row.name, pattern, doc.get("ScheduleExpression"), doc["State"],
                            doc.get("Description"), doc.get("RoleArn"), tuple(doc.get("Targets") or ()),
                            doc.get("Tags") or {}, parse_pattern(pattern) if pattern else None)  # fmt: skip
                self.rules.setdefault(row.bus, {})[row.name] = rule
        if DEFAULT_BUS not in self.buses:
            now = time.time()
            self._write_bus(Bus(DEFAULT_BUS, None, now, now), new=True)
        for name in self.buses:
            self.rules.setdefault(name, {})

    def _write_bus(self, bus: Bus, *, new: bool) -> None:
        doc = json.dumps({"Description": bus.description, "CreationTime": bus.created,
                          "LastModifiedTime": bus.modified, "Tags": bus.tags})  # fmt: skip
        with self.engine.begin() as conn:
            if new:
                conn.execute(insert(event_buses).values(name=bus.name, document=doc))
            else:
                conn.execute(update(event_buses).where(event_buses.c.name == bus.name).values(document=doc))
        self.buses[bus.name] = bus

    def _write_rule(self, rule: Rule, *, new: bool) -> None:
        with self.engine.begin() as conn:
            if new:
                conn.execute(insert(event_rules).values(bus=rule.bus, name=rule.name, document=rule.document()))
            else:
                where = (event_rules.c.bus == rule.bus) & (event_rules.c.name == rule.name)
                conn.execute(update(event_rules).where(where).values(document=rule.document()))
        self.rules[rule.bus][rule.name] = rule

    def _delete_rule_row(self, rule: Rule) -> None:
        with self.engine.begin() as conn:
            conn.execute(delete(event_rules).where((event_rules.c.bus == rule.bus) & (event_rules.c.name == rule.name)))
        self.rules[rule.bus].pop(rule.name, None)

    # ---- buses ----
    def bus(self, name_or_arn: str | None) -> Bus:
        name = bus_name(name_or_arn)
        found = self.buses.get(name)
        if found is None:
            raise ResourceNotFound(f"Event bus {name} does not exist.")
        return found

    async def create_bus(self, name: str, description: str | None, tags: Mapping[str, str]) -> Bus:
        if "/" in name:
            raise ValidationError("Event bus name must not contain '/' (only partner event buses' names do).")
        if name.startswith("aws."):
            raise ValidationError("Event bus name must not start with 'aws.'.")
        async with self._lock:
            if name in self.buses:
                raise EventsResourceExists(f"Event bus {name} already exists.")
            if len(self.buses) - 1 >= MAX_BUSES:
                raise EventsLimitExceeded(LIMIT)
            now = time.time()
            bus = Bus(name, description, now, now, dict(tags))
            await asyncio.to_thread(self._write_bus, bus, new=True)
            self.rules.setdefault(name, {})
            return bus

    def list_buses(self, prefix: str | None, token: str | None, limit: int | None) -> tuple[list[Bus], str | None]:
        buses = sorted((b for b in self.buses.values() if b.name.startswith(prefix or "")), key=lambda b: b.name)
        return page(buses, token, limit)

    async def delete_bus(self, name: str) -> None:
        """DeleteEventBus: not the default bus, nor one that still has rules; an unknown bus is no error."""
        if name == DEFAULT_BUS:
            raise ValidationError("Cannot delete event bus default.")
        async with self._lock:
            if name not in self.buses:
                return
            if self.rules.get(name):
                names = ", ".join(sorted(self.rules[name])[:5])
                raise ValidationError(f"Event bus {name} still has rules ({names}): delete them first.")

            def gone() -> None:
                with self.engine.begin() as conn:
                    conn.execute(delete(event_buses).where(event_buses.c.name == name))

            await asyncio.to_thread(gone)
            self.buses.pop(name, None)
            self.rules.pop(name, None)

    # ---- rules ----
    def rule(self, bus_or_arn: str | None, name: str) -> Rule:
        bus = self.bus(bus_or_arn).name
        found = self.rules[bus].get(name)
        if found is None:
            raise ResourceNotFound(f"Rule {name} does not exist on EventBus {bus}.")
        return found

    async def put_rule(
        self, name: str, bus_or_arn: str | None, *, event_pattern: str | None, schedule: str | None,
        state: str | None, description: str | None, role_arn: str | None, tags: Mapping[str, str],
    ) -> tuple[Rule, Rule | None]:  # fmt: skip
        """PutRule (creates or replaces; targets and tags are kept): (the rule, the one it replaced or None)."""
        bus = self.bus(bus_or_arn).name
        if not event_pattern and not schedule:
            raise ValidationError("Parameter(s) EventPattern or ScheduleExpression must be specified.")
        if event_pattern and schedule:
            raise ValidationError("Nimbus takes EventPattern or ScheduleExpression for a rule, not both.")
        pattern = check_pattern(event_pattern) if event_pattern else None
        if schedule:
            if bus != DEFAULT_BUS:
                raise ValidationError("ScheduleExpression is supported only on the default event bus.")
            try:
                schedule_expr.parse(schedule)
            except ValidationError as exc:
                raise ValidationError(f"Parameter ScheduleExpression is not valid. {exc.message}") from None
        async with self._lock:
            old = self.rules[bus].get(name)
            if old is None and len(self.rules[bus]) >= MAX_RULES:
                raise EventsLimitExceeded(LIMIT)
            rule = Rule(bus, name, event_pattern or None, schedule or None, state or ENABLED, description, role_arn,
                        old.targets if old else (), {**(old.tags if old else {}), **tags}, pattern)  # fmt: skip
            await asyncio.to_thread(self._write_rule, rule, new=old is None)
            return rule, old

    def list_rules(
        self, bus_or_arn: str | None, prefix: str | None, token: str | None, limit: int | None
    ) -> tuple[list[Rule], str | None]:
        bus = self.bus(bus_or_arn).name
        rules = sorted((r for r in self.rules[bus].values() if r.name.startswith(prefix or "")), key=lambda r: r.name)
        return page(rules, token, limit)

    async def set_state(self, bus_or_arn: str | None, name: str, state: str) -> Rule:
        async with self._lock:
            rule = replace(self.rule(bus_or_arn, name), state=state)
            await asyncio.to_thread(self._write_rule, rule, new=False)
            return rule

    async def delete_rule(self, bus_or_arn: str | None, name: str, *, force: bool) -> Rule | None:
        """DeleteRule: refused while the rule has targets (unless forced); an unknown rule is no error."""
        bus = self.bus(bus_or_arn).name
        async with self._lock:
            rule = self.rules[bus].get(name)
            if rule is None:
                return None
            if rule.targets and not force:
                raise ValidationError("Rule can't be deleted since it has targets.")
            await asyncio.to_thread(self._delete_rule_row, rule)
            return rule

    def rules_by_target(self, bus_or_arn: str | None, arn: str) -> list[str]:
        bus = self.bus(bus_or_arn).name
        return sorted(r.name for r in self.rules[bus].values() if any(t["Arn"] == arn for t in r.targets))

    # ---- targets ----
    async def put_targets(
        self, bus_or_arn: str | None, name: str, targets: Sequence[Mapping[str, Any]]
    ) -> list[dict[str, str]]:
        """PutTargets: adds or replaces targets by Id; the failed ones are returned as FailedEntries."""
        ids = [t["Id"] for t in targets]
        if len(set(ids)) != len(ids):
            raise ValidationError("The same target Id is given more than once.")
        for target in targets:
            check_target_input(target)
        async with self._lock:
            rule = self.rule(bus_or_arn, name)
            failed: list[dict[str, str]] = []
            accepted: dict[str, dict[str, Any]] = {t["Id"]: t for t in rule.targets}
            for target in targets:
                why = target_failure(target, self.region, self.account)
                if why is not None:
                    failed.append({"TargetId": target["Id"], "ErrorCode": "ValidationException", "ErrorMessage": why})
                else:
                    accepted[target["Id"]] = dict(target)
            if len(accepted) > MAX_TARGETS:
                raise EventsLimitExceeded(LIMIT)
            updated = replace(rule, targets=tuple(accepted.values()))
            await asyncio.to_thread(self._write_rule, updated, new=False)
            return failed

    async def remove_targets(self, bus_or_arn: str | None, name: str, ids: Sequence[str]) -> list[dict[str, str]]:
        async with self._lock:
            rule = self.rule(bus_or_arn, name)
            known = {t["Id"] for t in rule.targets}
            failed = [{"TargetId": i, "ErrorCode": "ResourceNotFoundException",
                       "ErrorMessage": f"Target {i} is not a target of rule {name}."}
                      for i in ids if i not in known]  # fmt: skip
            updated = replace(rule, targets=tuple(t for t in rule.targets if t["Id"] not in set(ids)))
            await asyncio.to_thread(self._write_rule, updated, new=False)
            return failed

    # ---- tags (rules and buses, by ARN) ----
    def _tagged(self, arn: str) -> Bus | Rule:
        prefix = f"arn:aws:events:{self.region}:{self.account}:"
        kind, _, path = arn.removeprefix(prefix).partition("/")
        if arn.startswith(prefix) and kind == "event-bus":
            return self.bus(path)
        if arn.startswith(prefix) and kind == "rule":
            bus, _, rule = path.rpartition("/")
            return self.rule(bus or DEFAULT_BUS, rule)
        raise ResourceNotFound(f"Resource {arn} does not exist.")

    def tags(self, arn: str) -> dict[str, str]:
        return dict(self._tagged(arn).tags)

    async def retag(self, arn: str, add: Mapping[str, str], remove: Sequence[str] = ()) -> None:
        async with self._lock:
            found = self._tagged(arn)
            tags = {k: v for k, v in {**found.tags, **add}.items() if k not in set(remove)}
            if isinstance(found, Bus):
                await asyncio.to_thread(self._write_bus, replace(found, tags=tags, modified=time.time()), new=False)
            else:
                await asyncio.to_thread(self._write_rule, replace(found, tags=tags), new=False)

    # ---- matching (PutEvents' hot path: dict reads only) ----
    def pattern_rules(self, bus: str) -> list[Rule]:
        """The enabled pattern rules of `bus` with targets."""
        return [r for r in self.rules.get(bus, {}).values() if r.pattern is not None and r.enabled and r.targets]

    def scheduled(self) -> list[Rule]:
        return [r for rules in self.rules.values() for r in rules.values() if r.schedule and r.enabled]
