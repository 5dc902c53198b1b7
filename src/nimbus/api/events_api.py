"""The EventBridge API (JSON 1.1, `X-Amz-Target: AWSEvents.<Op>`, SigV4 scope `events`): buses, rules, targets,
PutEvents, TestEventPattern and tags, mapped to the event bus. Parsing, validation (lengths, patterns, ranges such
as RetryPolicy's) and serialization come from botocore's model (`jsonproto`); errors are EventBridge's names, shaped
by `api/errors.json_11`."""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable
from typing import Any

from nimbus.api.http import Request, Response
from nimbus.api.jsonproto import JsonProtocol
from nimbus.control.event_records import Bus, Rule, bus_name, check_pattern, page
from nimbus.errors import UnknownOperation, ValidationError
from nimbus.protocol import json_text
from nimbus.protocol.filters import matches
from nimbus.sources.event_bus import EventBus

TARGET_PREFIX = "AWSEvents."
#: PutEvents carries 256 KB of entries, which JSON escapes can triple
BODY_MAX = 1 << 20
#: the fields TestEventPattern's Event must have, as EventBridge's API reference lists them
_EVENT_FIELDS = ("id", "account", "source", "time", "region", "resources", "detail-type")

Handler = Callable[[dict[str, Any]], Awaitable[dict[str, Any] | None]]


def _tags(pairs: list[dict[str, str]] | None) -> dict[str, str]:
    return {p["Key"]: p["Value"] for p in pairs or ()}


def _when(epoch: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(epoch, dt.UTC)


class EventsApi:
    def __init__(self, bus: EventBus) -> None:
        self.bus = bus
        self.rules = bus.rules
        self.protocol = JsonProtocol("events")
        self._ops: dict[str, Handler] = {
            "CreateEventBus": self.create_event_bus,
            "DescribeEventBus": self.describe_event_bus,
            "ListEventBuses": self.list_event_buses,
            "DeleteEventBus": self.delete_event_bus,
            "PutRule": self.put_rule,
            "DescribeRule": self.describe_rule,
            "ListRules": self.list_rules,
            "EnableRule": lambda b: self._state(b, enabled=True),
            "DisableRule": lambda b: self._state(b, enabled=False),
            "DeleteRule": self.delete_rule,
            "PutTargets": self.put_targets,
            "RemoveTargets": self.remove_targets,
            "ListTargetsByRule": self.list_targets_by_rule,
            "ListRuleNamesByTarget": self.list_rule_names_by_target,
            "PutEvents": self.put_events,
            "TestEventPattern": self.test_event_pattern,
            "TagResource": self.tag_resource,
            "UntagResource": self.untag_resource,
            "ListTagsForResource": self.list_tags_for_resource,
        }

    async def handle(self, req: Request, target: str) -> Response:
        op = self.protocol.operation(target)
        handler = self._ops.get(op.name)
        if handler is None:
            raise UnknownOperation(f"Nimbus's EventBridge API does not implement {op.name}.")
        out = await handler(self.protocol.parse(op, req.body, req.parsed))
        return Response(200, self.protocol.serialize(op, out), [(b"content-type", self.protocol.content_type)])

    # ---- buses ----
    def _bus(self, bus: Bus) -> dict[str, Any]:
        return {"Name": bus.name, "Arn": self.rules.bus_arn(bus.name), "Description": bus.description,
                "CreationTime": _when(bus.created), "LastModifiedTime": _when(bus.modified)}  # fmt: skip

    async def create_event_bus(self, b: dict[str, Any]) -> dict[str, Any]:
        if b.get("EventSourceName"):
            raise ValidationError("Nimbus has no partner event sources: leave EventSourceName out.")
        bus = await self.rules.create_bus(b["Name"], b.get("Description"), _tags(b.get("Tags")))
        return {"EventBusArn": self.rules.bus_arn(bus.name), "Description": bus.description}

    async def describe_event_bus(self, b: dict[str, Any]) -> dict[str, Any]:
        return self._bus(self.rules.bus(b.get("Name")))

    async def list_event_buses(self, b: dict[str, Any]) -> dict[str, Any]:
        buses, token = self.rules.list_buses(b.get("NamePrefix"), b.get("NextToken"), b.get("Limit"))
        return {"EventBuses": [self._bus(x) for x in buses], "NextToken": token}

    async def delete_event_bus(self, b: dict[str, Any]) -> None:
        await self.rules.delete_bus(bus_name(b["Name"]))

    # ---- rules ----
    def _rule(self, rule: Rule) -> dict[str, Any]:
        return {"Name": rule.name, "Arn": self.rules.rule_arn(rule.bus, rule.name), "EventPattern": rule.event_pattern,
                "ScheduleExpression": rule.schedule, "State": rule.state, "Description": rule.description,
                "RoleArn": rule.role_arn, "EventBusName": rule.bus}  # fmt: skip

    async def put_rule(self, b: dict[str, Any]) -> dict[str, Any]:
        rule = await self.bus.put_rule(
            b["Name"], b.get("EventBusName"), event_pattern=b.get("EventPattern"),
            schedule=b.get("ScheduleExpression"), state=b.get("State"), description=b.get("Description"),
            role_arn=b.get("RoleArn"), tags=_tags(b.get("Tags")),
        )  # fmt: skip
        return {"RuleArn": self.rules.rule_arn(rule.bus, rule.name)}

    async def describe_rule(self, b: dict[str, Any]) -> dict[str, Any]:
        rule = self.rules.rule(b.get("EventBusName"), b["Name"])
        return {**self._rule(rule), "CreatedBy": self.rules.account}

    async def list_rules(self, b: dict[str, Any]) -> dict[str, Any]:
        rules, token = self.rules.list_rules(b.get("EventBusName"), b.get("NamePrefix"), b.get("NextToken"),
                                             b.get("Limit"))  # fmt: skip
        return {"Rules": [self._rule(r) for r in rules], "NextToken": token}

    async def _state(self, b: dict[str, Any], *, enabled: bool) -> None:
        await self.bus.set_state(b.get("EventBusName"), b["Name"], enabled)

    async def delete_rule(self, b: dict[str, Any]) -> None:
        await self.bus.delete_rule(b.get("EventBusName"), b["Name"], force=bool(b.get("Force")))

    # ---- targets ----
    async def put_targets(self, b: dict[str, Any]) -> dict[str, Any]:
        failed = await self.rules.put_targets(b.get("EventBusName"), b["Rule"], b["Targets"])
        return {"FailedEntryCount": len(failed), "FailedEntries": failed}

    async def remove_targets(self, b: dict[str, Any]) -> dict[str, Any]:
        failed = await self.rules.remove_targets(b.get("EventBusName"), b["Rule"], b["Ids"])
        return {"FailedEntryCount": len(failed), "FailedEntries": failed}

    async def list_targets_by_rule(self, b: dict[str, Any]) -> dict[str, Any]:
        targets = self.rules.rule(b.get("EventBusName"), b["Rule"]).targets
        found, token = page(targets, b.get("NextToken"), b.get("Limit"))
        return {"Targets": found, "NextToken": token}

    async def list_rule_names_by_target(self, b: dict[str, Any]) -> dict[str, Any]:
        names = self.rules.rules_by_target(b.get("EventBusName"), b["TargetArn"])
        found, token = page(names, b.get("NextToken"), b.get("Limit"))
        return {"RuleNames": found, "NextToken": token}

    # ---- events ----
    async def put_events(self, b: dict[str, Any]) -> dict[str, Any]:
        if b.get("EndpointId"):
            raise ValidationError("Nimbus has no global endpoints: leave EndpointId out.")
        results = await self.bus.put_events(b["Entries"])
        entries = [{"EventId": r.event_id} if r.event_id else {"ErrorCode": r.error_code,
                    "ErrorMessage": r.error_message} for r in results]  # fmt: skip
        return {"FailedEntryCount": sum(1 for r in results if not r.event_id), "Entries": entries}

    async def test_event_pattern(self, b: dict[str, Any]) -> dict[str, Any]:
        pattern = check_pattern(b["EventPattern"])
        try:
            event = json_text.loads(b["Event"])
        except ValueError:
            event = None
        if not isinstance(event, dict) or any(k not in event for k in _EVENT_FIELDS):
            fields = ", ".join(_EVENT_FIELDS)
            raise ValidationError(f"Parameter Event is not valid: it must be an event's JSON object, with {fields}.")
        return {"Result": matches(pattern, event)}

    # ---- tags ----
    async def tag_resource(self, b: dict[str, Any]) -> None:
        await self.rules.retag(b["ResourceARN"], _tags(b["Tags"]))

    async def untag_resource(self, b: dict[str, Any]) -> None:
        await self.rules.retag(b["ResourceARN"], {}, b["TagKeys"])

    async def list_tags_for_resource(self, b: dict[str, Any]) -> dict[str, Any]:
        return {"Tags": [{"Key": k, "Value": v} for k, v in self.rules.tags(b["ResourceARN"]).items()]}
