"""EventBridge's event buses and rules (with their targets): records, the rules the model cannot say, persistence.

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
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from sqlalchemy import Engine, delete, insert, select, update

from nimbus.config import Settings
from nimbus.errors import (
    EventsLimitExceeded,
    EventsResourceExists,
    InvalidEventPattern,
    InvalidParameterValue,
    ResourceNotFound,
    ValidationError,
)
from nimbus.protocol import input_transform, schedule_expr
from nimbus.protocol.filters import Pattern, parse_pattern
from nimbus.store.schema import event_buses, event_rules

DEFAULT_BUS = "default"
#: EventBridge's quotas: targets per rule, rules per bus, custom buses per account
MAX_TARGETS = 5
MAX_RULES = 300
MAX_BUSES = 100
LIST_MAX = 100
ENABLED, DISABLED = "ENABLED", "DISABLED"
_TARGET_ARN = re.compile(r"arn:aws[\w-]*:(lambda|sqs|sns):([a-z0-9-]+):(\d{12}):(.+)\Z")
_FUNCTION = re.compile(r"function:[A-Za-z0-9_-]+(:[A-Za-z0-9$_-]+)?\Z")
LIMIT = "The requested resource exceeds the maximum number allowed."


@dataclass(frozen=True, slots=True)
class Bus:
    name: str
    description: str | None
    created: float
    modified: float
    tags: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Rule:
    """One rule. `targets` are PutTargets' Target dicts as accepted (validated, only the members given)."""

    bus: str
    name: str
    event_pattern: str | None
    schedule: str | None
    state: str
    description: str | None
    role_arn: str | None
    targets: tuple[dict[str, Any], ...] = ()
    tags: dict[str, str] = field(default_factory=dict)
    #: the parsed EventPattern (not stored: parsed again at load)
    pattern: Pattern | None = None

    @property
    def enabled(self) -> bool:
        return self.state != DISABLED

    def document(self) -> str:
        doc = {"EventPattern": self.event_pattern, "ScheduleExpression": self.schedule, "State": self.state,
               "Description": self.description, "RoleArn": self.role_arn, "Targets": list(self.targets),
               "Tags": self.tags}  # fmt: skip
        return json.dumps(doc)


def target_kind(arn: str) -> str:
    """The delivery kind of a target ARN: "lambda", "sqs" or "sns" ("" for none Nimbus delivers to)."""
    found = _TARGET_ARN.match(arn)
    if found is None or (found.group(1) == "lambda" and not _FUNCTION.match(found.group(4))):
        return ""
    return found.group(1)


def bus_name(name_or_arn: str | None) -> str:
    """A bus's name from EventBusName (a name or an event-bus ARN); the default bus when absent."""
    if not name_or_arn:
        return DEFAULT_BUS
    return name_or_arn.partition(":event-bus/")[2] if name_or_arn.startswith("arn:") else name_or_arn


def page(items: Sequence[Any], token: str | None, limit: int | None) -> tuple[list[Any], str | None]:
    """One page of a List* answer: NextToken is the next item's index."""
    start = 0
    if token is not None:
        if not token.isdigit():
            raise ValidationError("The NextToken is not valid.")
        start = int(token)
    end = start + (limit or LIST_MAX)
    return list(items[start:end]), (str(end) if end < len(items) else None)


def _pattern(text: str) -> Pattern:
    try:
        return parse_pattern(text)
    except InvalidParameterValue as exc:
        reason = "; ".join(getattr(exc, "__notes__", [])) or "it is not an event pattern"
        raise InvalidEventPattern(f"Event pattern is not valid. Reason: {reason}") from None


def check_pattern(text: str) -> Pattern:
    """An EventPattern parsed, or InvalidEventPattern with the reason."""
    return _pattern(text)


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
        pattern = _pattern(event_pattern) if event_pattern else None
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
    def _target_failure(self, target: Mapping[str, Any]) -> str | None:
        """Why a target cannot be delivered to (reported in FailedEntries), or None."""
        arn = target["Arn"]
        kind = target_kind(arn)
        found = _TARGET_ARN.match(arn)
        if not kind or found is None:
            return (
                f"Target {arn} is not a target Nimbus delivers to: use the ARN of a function "
                "(arn:aws:lambda:...:function:NAME), a queue (arn:aws:sqs:...) or a topic (arn:aws:sns:...)."
            )
        if (found.group(2), found.group(3)) != (self.region, self.account):
            return f"Target {arn} is not in this server's region {self.region} and account {self.account}."
        dlq = (target.get("DeadLetterConfig") or {}).get("Arn")
        if dlq and target_kind(dlq) != "sqs":
            return f"DeadLetterConfig.Arn {dlq} is not a queue's ARN (arn:aws:sqs:{self.region}:{self.account}:NAME)."
        return None

    @staticmethod
    def check_target_input(target: Mapping[str, Any]) -> None:
        """Input, InputPath, InputTransformer: at most one, each well formed (ValidationError otherwise)."""
        given = [k for k in ("Input", "InputPath", "InputTransformer") if target.get(k) is not None]
        if len(given) > 1:
            raise ValidationError(f"Target {target['Id']}: only one of Input, InputPath and InputTransformer.")
        try:
            if target.get("Input") is not None:
                json.loads(target["Input"])
            if target.get("InputPath"):
                input_transform.parse_path(target["InputPath"])
            if target.get("InputTransformer") is not None:
                paths = target["InputTransformer"].get("InputPathsMap") or {}
                input_transform.check_paths_map(paths)
                input_transform.check_template(target["InputTransformer"]["InputTemplate"], paths)
        except (ValueError, RecursionError) as exc:
            reason = "Input is not valid JSON." if isinstance(exc, json.JSONDecodeError) else str(exc)
            raise ValidationError(f"Target {target['Id']}: {reason}") from None

    async def put_targets(
        self, bus_or_arn: str | None, name: str, targets: Sequence[Mapping[str, Any]]
    ) -> list[dict[str, str]]:
        """PutTargets: adds or replaces targets by Id; the failed ones are returned as FailedEntries."""
        ids = [t["Id"] for t in targets]
        if len(set(ids)) != len(ids):
            raise ValidationError("The same target Id is given more than once.")
        for target in targets:
            self.check_target_input(target)
        async with self._lock:
            rule = self.rule(bus_or_arn, name)
            failed: list[dict[str, str]] = []
            accepted: dict[str, dict[str, Any]] = {t["Id"]: t for t in rule.targets}
            for target in targets:
                why = self._target_failure(target)
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
