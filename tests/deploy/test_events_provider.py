"""AWS::Events::Rule and EventBus, AWS::Scheduler::Schedule and ScheduleGroup through the bus and the scheduler: a
scheduled rule (SAM's Schedule event) and a pattern rule on a custom bus with an input transformer (SAM's
EventBridgeRule / CloudWatchEvent), each with its Ref and GetAtt Arn, targets kept in step on update, a target the
bus refuses failing the resource with nothing left; a schedule in a group (SAM's ScheduleV2) made, replaced in place
by UpdateSchedule, refused by the model, deleted; every delete idempotent."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from providers_support import INLINE, Stack, run

from nimbus.deploy.provider import LOGICAL_ID_TAG
from nimbus.errors import ResourceNotFound, ValidationError

FN = "arn:aws:lambda:us-east-1:000000000000:function:fn"
ROLE = "arn:aws:iam::000000000000:role/scheduler"


def test_rules_scheduled_and_patterned_on_a_custom_bus(tmp_path: Path) -> None:
    async def body(stack: Stack) -> None:
        rules = stack.services.event_bus.rules
        await stack.put("Fn", "AWS::Lambda::Function", INLINE | {"FunctionName": "fn"})
        scheduled = {"ScheduleExpression": "rate(1 minute)",
                     "Targets": [{"Id": "t1", "Arn": FN, "Input": '{"a": 1}'}]}  # fmt: skip
        made = await stack.put("Tick", "AWS::Events::Rule", scheduled)
        assert made.ref.startswith("app-Tick-")
        assert made.attributes["Arn"] == f"arn:aws:events:us-east-1:000000000000:rule/{made.ref}"
        rule = rules.rule(None, made.ref)
        assert rule.targets[0]["Input"] == '{"a": 1}'
        assert rule.tags[LOGICAL_ID_TAG] == "Tick"
        bus = await stack.put("Bus", "AWS::Events::EventBus", {"Name": "orders"})
        assert (bus.ref, bus.attributes["Name"]) == ("orders", "orders")
        assert bus.attributes["Arn"] == "arn:aws:events:us-east-1:000000000000:event-bus/orders"
        patterned = {"EventBusName": bus.attributes["Arn"], "EventPattern": {"source": ["shop"]},
                     "Targets": [{"Id": "t", "Arn": FN, "InputTransformer": {
                         "InputPathsMap": {"s": "$.source"}, "InputTemplate": '{"s": <s>}'}}]}  # fmt: skip
        on_bus = await stack.put("Orders", "AWS::Events::Rule", patterned)
        assert on_bus.attributes["Arn"].endswith(f":rule/orders/{on_bus.ref}")
        rule = rules.rule("orders", on_bus.ref)
        assert json.loads(rule.event_pattern or "") == {"source": ["shop"]}
        # targets in step: one replaced by another id, the pattern changed, the rule kept
        changed = patterned | {"EventPattern": {"source": ["shop", "returns"]},
                               "Targets": [{"Id": "u", "Arn": FN}]}  # fmt: skip
        assert not stack.replaces("Orders", changed)
        await stack.put("Orders", "AWS::Events::Rule", changed)
        assert [t["Id"] for t in rules.rule("orders", on_bus.ref).targets] == ["u"]
        assert stack.replaces("Orders", changed | {"EventBusName": "default"})
        bad = {"Name": "bad", "ScheduleExpression": "rate(1 minute)",
               "Targets": [{"Id": "x", "Arn": "arn:aws:s3:::b"}]}  # fmt: skip
        with pytest.raises(ValidationError):  # a target the bus cannot deliver to
            await stack.put("Bad", "AWS::Events::Rule", bad)
        with pytest.raises(ResourceNotFound):
            rules.rule(None, "bad")
        with pytest.raises(ValidationError):
            await stack.put("Bad", "AWS::Events::Rule", {"ScheduleExpression": "every minute"})
        await stack.delete("Orders")
        await stack.delete("Bus")
        await stack.delete("Tick")
        assert rules.list_rules(None, None, None, None)[0] == []

    run(tmp_path, body)


def test_schedule_and_group(tmp_path: Path) -> None:
    async def body(stack: Stack) -> None:
        scheduler = stack.services.scheduler
        await stack.put("Fn", "AWS::Lambda::Function", INLINE | {"FunctionName": "fn"})
        group = await stack.put("G", "AWS::Scheduler::ScheduleGroup", {"Name": "jobs"})
        assert group.attributes["Arn"] == "arn:aws:scheduler:us-east-1:000000000000:schedule-group/jobs"
        props = {"GroupName": "jobs", "ScheduleExpression": "rate(5 minutes)", "FlexibleTimeWindow": {"Mode": "OFF"},
                 "Target": {"Arn": FN, "RoleArn": ROLE, "Input": "{}"}}  # fmt: skip
        made = await stack.put("S", "AWS::Scheduler::Schedule", props)
        assert made.attributes["Arn"] == f"arn:aws:scheduler:us-east-1:000000000000:schedule/jobs/{made.ref}"
        assert scheduler.schedule("jobs", made.ref).expression == "rate(5 minutes)"
        await stack.put("S", "AWS::Scheduler::Schedule", props | {"ScheduleExpression": "rate(10 minutes)",
                                                                  "State": "DISABLED"})  # fmt: skip
        updated = scheduler.schedule("jobs", made.ref)
        assert (updated.expression, updated.state) == ("rate(10 minutes)", "DISABLED")
        assert stack.replaces("S", props | {"GroupName": "default"})
        with pytest.raises(ValidationError):
            await stack.put("Bad", "AWS::Scheduler::Schedule", props | {"FlexibleTimeWindow": {"Mode": "SOMETIMES"}})
        await stack.delete("S")
        with pytest.raises(ResourceNotFound):
            scheduler.schedule("jobs", made.ref)
        await stack.delete("G")
        with pytest.raises(ResourceNotFound):
            scheduler.group("jobs")

    run(tmp_path, body)
