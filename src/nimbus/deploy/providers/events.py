"""AWS::Events::Rule and EventBus through the event bus (PutRule / PutTargets / RemoveTargets / DeleteRule,
CreateEventBus / DeleteEventBus), and AWS::Scheduler::Schedule and ScheduleGroup through the scheduler
(CreateSchedule / UpdateSchedule / DeleteSchedule, CreateScheduleGroup / DeleteScheduleGroup), each body checked
against the service's model first.

A rule's targets keep their template form (Input, InputPath, InputTransformer, RetryPolicy, DeadLetterConfig): the
bus's own checks apply, and a target the bus refuses fails the resource with the bus's reason. A rule's or bus's
name and a schedule's name and group need a replacement. Ref: a rule's name (GetAtt Arn), a bus's name (GetAtt
Arn, Name), a schedule's name (GetAtt Arn), a group's name (GetAtt Arn).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from nimbus.deploy.provider import Made, StackContext
from nimbus.deploy.providers.common import document, gone_ok, model, name_of, stack_tags, tag_map
from nimbus.errors import InvalidParameterValue, ValidationError

RULE, BUS = "AWS::Events::Rule", "AWS::Events::EventBus"
SCHEDULE, GROUP = "AWS::Scheduler::Schedule", "AWS::Scheduler::ScheduleGroup"
DEFAULT_BUS = "default"
_SCHEDULE_KEYS = ("Description", "EndDate", "FlexibleTimeWindow", "KmsKeyArn", "ScheduleExpression",
                  "ScheduleExpressionTimezone", "StartDate", "State", "Target")  # fmt: skip
_REPLACING = {RULE: ("Name", "EventBusName"), BUS: ("Name", "EventSourceName"), SCHEDULE: ("Name", "GroupName"),
              GROUP: ("Name",)}  # fmt: skip


def _bus_name(props: Mapping[str, Any]) -> str:
    """EventBusName as a name (templates give a name or the bus's ARN)."""
    return str(props.get("EventBusName") or DEFAULT_BUS).rsplit("/", 1)[-1]


def _targets(props: Mapping[str, Any]) -> list[dict[str, Any]]:
    targets = props.get("Targets") or []
    if not isinstance(targets, list) or not all(isinstance(t, Mapping) and "Id" in t for t in targets):
        raise InvalidParameterValue("Targets must be a list of targets, each with an Id and an Arn.")
    return [dict(t) for t in targets]


class Events:
    types: tuple[str, ...] = (RULE, BUS, SCHEDULE, GROUP)

    def replaces(self, type_: str, old: Mapping[str, Any], new: Mapping[str, Any]) -> bool:
        if type_ == RULE and _bus_name(old) != _bus_name(new):
            return True
        return any(old.get(k) != new.get(k) for k in _REPLACING[type_] if k != "EventBusName")

    async def create(self, ctx: StackContext, type_: str, logical_id: str, props: Mapping[str, Any]) -> Made:
        s = ctx.services
        if type_ == RULE:
            name = name_of(ctx, logical_id, props, "Name", 64)
            try:
                return await self._put_rule(ctx, name, logical_id, {}, props)
            except BaseException:
                await gone_ok(s.event_bus.delete_rule(_bus_name(props), name, force=True))  # not half made
                raise
        if type_ == BUS:
            if "Name" not in props:
                raise InvalidParameterValue("Name is required.")
            name = str(props["Name"])
            described = {"Description": props["Description"]} if "Description" in props else {}
            model("events").validate("CreateEventBus", {"Name": name} | described)
            await s.event_bus.rules.create_bus(name, props.get("Description"), stack_tags(ctx, logical_id, props))
            arn = s.event_bus.rules.bus_arn(name)
            return Made(name, name, {"Arn": arn, "Name": name})
        if type_ == GROUP:
            name = name_of(ctx, logical_id, props, "Name", 64)
            model("scheduler").validate("CreateScheduleGroup", {"Name": name})
            group = await s.scheduler.create_group(name, stack_tags(ctx, logical_id, props))
            return Made(name, name, {"Arn": group.arn})
        name = name_of(ctx, logical_id, props, "Name", 64)
        schedule = await s.scheduler.create_schedule(self._schedule_input(name, props))
        return Made(f"{schedule.group}|{name}", name, {"Arn": schedule.arn})

    def _schedule_input(self, name: str, props: Mapping[str, Any]) -> dict[str, Any]:
        inp = {k: props[k] for k in _SCHEDULE_KEYS if k in props} | {"Name": name}
        if props.get("GroupName"):
            inp["GroupName"] = props["GroupName"]
        model("scheduler").validate("CreateSchedule", {k: v for k, v in inp.items() if k not in ("StartDate",
                                                                                             "EndDate")})  # fmt: skip
        return inp

    async def _put_rule(self, ctx: StackContext, name: str, logical_id: str, old: Mapping[str, Any],
                        props: Mapping[str, Any]) -> Made:  # fmt: skip
        bus, rules = ctx.services.event_bus, ctx.services.event_bus.rules
        bus_name = _bus_name(props)
        pattern = document(props["EventPattern"]) if props.get("EventPattern") is not None else None
        fields = {"event_pattern": pattern, "schedule": props.get("ScheduleExpression"),
                  "state": props.get("State"), "description": props.get("Description"),
                  "role_arn": props.get("RoleArn")}  # fmt: skip
        wire = {"Name": name, "EventBusName": bus_name, "EventPattern": pattern, "ScheduleExpression":
                fields["schedule"], "State": fields["state"], "Description": fields["description"],
                "RoleArn": fields["role_arn"]}  # fmt: skip
        model("events").validate("PutRule", {k: v for k, v in wire.items() if v is not None})
        await bus.put_rule(name, bus_name, **fields, tags=stack_tags(ctx, logical_id, props))
        targets = _targets(props)
        if targets:
            model("events").validate("PutTargets", {"Rule": name, "EventBusName": bus_name, "Targets": targets})
        gone = [t["Id"] for t in _targets(old) if t["Id"] not in {t["Id"] for t in targets}]
        if gone:
            await rules.remove_targets(bus_name, name, gone)
        if targets:
            failed = await rules.put_targets(bus_name, name, targets)
            if failed:
                raise ValidationError(f"Target {failed[0]['TargetId']}: {failed[0]['ErrorMessage']}")
        return Made(name if bus_name == DEFAULT_BUS else f"{bus_name}|{name}", name,
                    {"Arn": rules.rule_arn(bus_name, name)})  # fmt: skip

    async def update(self, ctx: StackContext, type_: str, logical_id: str, physical_id: str,
                     old: Mapping[str, Any], new: Mapping[str, Any]) -> Made:  # fmt: skip
        s = ctx.services
        name = physical_id.rsplit("|", 1)[-1]
        if type_ == RULE:
            return await self._put_rule(ctx, name, logical_id, old, new)
        tags, old_tags = tag_map(new.get("Tags")), tag_map(old.get("Tags"))
        removed = [k for k in old_tags if k not in tags]
        if type_ == BUS:
            arn = s.event_bus.rules.bus_arn(name)
            if tags != old_tags:
                await s.event_bus.rules.retag(arn, tags, removed)
            return Made(name, name, {"Arn": arn, "Name": name})
        if type_ == GROUP:
            arn = s.scheduler.group_arn(name)
            if tags != old_tags:
                await s.scheduler.set_tags(arn, tags, removed)
            return Made(name, name, {"Arn": arn})
        schedule = await s.scheduler.update_schedule(self._schedule_input(name, new))
        return Made(physical_id, name, {"Arn": schedule.arn})

    async def delete(self, ctx: StackContext, type_: str, logical_id: str, physical_id: str,
                     props: Mapping[str, Any]) -> None:  # fmt: skip
        s = ctx.services
        # a name the template gives wins over the id held: after a crash the engine holds only a guess
        name = str(props.get("Name") or physical_id.rsplit("|", 1)[-1])
        if type_ == RULE:
            await gone_ok(s.event_bus.delete_rule(_bus_name(props), name, force=True))
        elif type_ == BUS:
            await gone_ok(s.event_bus.rules.delete_bus(name))
        elif type_ == GROUP:
            await gone_ok(s.scheduler.delete_group(name))
        else:
            await gone_ok(s.scheduler.delete_schedule(str(props.get("GroupName") or "default"), name))
