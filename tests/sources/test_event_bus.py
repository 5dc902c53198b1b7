"""The event bus over real parts: EventRules on a sqlite control database, the real Deliveries on a SqliteQueueStore
with a fake clock, the real QueueService, registry, policies and AsyncInvoker (a delivery to a function ends at the
durable accept: the pools are never reached).

What it proves: PutEvents fans a matching event out to a function (with permission) and a built-in queue (whose
message is the event's JSON), and is durable when it answers; an unpermitted function target is refused at delivery
and goes to the target's dead-letter queue; Input / InputPath / InputTransformer shape what a target gets; disabled
rules, other buses and non-matching events deliver nothing; entries are refused one by one; 256 KB at the limit and
one byte past; buses, rules and targets survive a restart; EventBridge's rules (5 targets, schedules on the default
bus only, a rule with targets is not deleted, the default bus is not deleted, patterns checked)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sources_support import delivery_parts
from sqlalchemy import Engine

from nimbus.clock import FakeClock
from nimbus.config import Settings
from nimbus.control.event_records import DEFAULT_BUS
from nimbus.control.event_rules import EventRules
from nimbus.control.policies import Policies
from nimbus.errors import EventsLimitExceeded, InvalidEventPattern, ResourceNotFound, ValidationError
from nimbus.invoke.async_invoke import ASYNC_QUEUE, decode_event
from nimbus.queue.contract import Reserved
from nimbus.queue.sqlite import SqliteQueueStore
from nimbus.sources.deliveries import DELIVERY_QUEUE, Deliveries, DeliverySettings
from nimbus.sources.event_bus import EventBus
from nimbus.sources.schedule_runner import ScheduleRunner

ACCOUNT = "000000000000"
PREFIX = f"arn:aws:events:us-east-1:{ACCOUNT}"
FN_ARN = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:fn"
SQS = f"arn:aws:sqs:us-east-1:{ACCOUNT}:"
ORDERS = json.dumps({"source": ["shop"], "detail": {"total": [{"numeric": [">", 100]}]}})


@dataclass
class World:
    config: Settings
    engine: Engine
    queues: SqliteQueueStore
    policies: Policies
    deliveries: Deliveries
    bus: EventBus
    clock: FakeClock
    runner: ScheduleRunner

    async def deliver_all(self) -> int:
        """Handle every visible delivery; how many there were."""
        n = 0
        while batch := await self.queues.reserve(DELIVERY_QUEUE, 10, 60.0):
            for message in batch:
                await self.deliveries.handle(message)
                n += 1
        return n

    async def drain(self, queue: str) -> list[Reserved]:
        return await self.queues.reserve(queue, 10, 60.0)

    async def allow(self, rule_arn: str) -> None:
        await self.policies.add("fn", None, {"StatementId": "events", "Action": "lambda:InvokeFunction",
                                             "Principal": "events.amazonaws.com", "SourceArn": rule_arn})  # fmt: skip


def run(tmp_path: Path, body: Callable[[World], Awaitable[None]]) -> None:
    async def main() -> None:
        clock = FakeClock(1_800_000_000.0)
        parts = await delivery_parts(tmp_path, clock, DeliverySettings(retry_delays=(10.0,)))
        config, engine, queues, policies, deliveries = (
            parts.config, parts.engine, parts.queues, parts.policies, parts.deliveries
        )  # fmt: skip
        runner = ScheduleRunner(engine, clock)
        bus = EventBus(EventRules(config, engine), deliveries, runner)
        bus.load()
        runner.start(task=False)  # the test calls fire_due itself, after moving the fake clock
        try:
            await body(World(config, engine, queues, policies, deliveries, bus, clock, runner))
        finally:
            await queues.close()
            engine.dispose()

    asyncio.run(main())


def entry(detail: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {"Source": "shop", "DetailType": "Order Placed", "Detail": json.dumps(detail), **fields}


async def rule_with(w: World, name: str, targets: list[dict[str, Any]], pattern: str = ORDERS, **kw: Any) -> str:
    fields = {"event_pattern": pattern, "schedule": None, "state": None, "description": None, "role_arn": None,
              "tags": {}} | kw  # fmt: skip
    rule = await w.bus.put_rule(name, kw.pop("bus", None), **{k: v for k, v in fields.items() if k != "bus"})
    assert await w.bus.rules.put_targets(rule.bus, name, targets) == []
    return w.bus.rules.rule_arn(rule.bus, name)


def test_put_events_fans_out_to_a_permitted_function_and_a_queue(tmp_path: Path) -> None:
    async def body(w: World) -> None:
        arn = await rule_with(w, "orders", [{"Id": "fn", "Arn": FN_ARN}, {"Id": "q", "Arn": SQS + "target"}])
        assert arn == f"{PREFIX}:rule/orders"
        await w.allow(arn)
        (result,) = await w.bus.put_events([entry({"total": 150}, Resources=["arn:r"])])
        assert result.event_id
        assert not result.error_code
        assert (await w.queues.depth(DELIVERY_QUEUE)).visible == 2  # durable before the answer
        assert await w.deliver_all() == 2
        (message,) = await w.drain("target")
        event = json.loads(message.body)
        assert event["id"] == result.event_id
        assert (event["source"], event["detail-type"], event["detail"]) == ("shop", "Order Placed", {"total": 150})
        assert (event["version"], event["account"], event["region"], event["resources"]) == (
            "0", ACCOUNT, "us-east-1", ["arn:r"])  # fmt: skip
        (invoke,) = await w.drain(ASYNC_QUEUE)
        assert json.loads(decode_event(invoke.body).payload) == event
        assert w.deliveries.outcomes == {"delivered": 2}

    run(tmp_path, body)


def test_an_unpermitted_function_target_is_refused_and_dead_lettered(tmp_path: Path) -> None:
    async def body(w: World) -> None:
        target = {"Id": "fn", "Arn": FN_ARN, "RetryPolicy": {"MaximumRetryAttempts": 0},
                  "DeadLetterConfig": {"Arn": SQS + "dlq"}}  # fmt: skip
        arn = await rule_with(w, "orders", [target])
        await w.bus.put_events([entry({"total": 101})])
        assert await w.deliver_all() == 1
        assert await w.drain(ASYNC_QUEUE) == []
        (dead,) = await w.drain("dlq")
        assert json.loads(dead.body)["detail"] == {"total": 101}
        assert dead.attributes["RULE_ARN"]["StringValue"] == arn
        assert dead.attributes["ERROR_CODE"]["StringValue"] == "NO_PERMISSIONS"
        assert w.deliveries.outcomes["unpermitted"] == 1

    run(tmp_path, body)


def test_what_targets_receive_input_inputpath_transformer(tmp_path: Path) -> None:
    async def body(w: World) -> None:
        targets: list[dict[str, Any]] = [
            {"Id": "input", "Arn": SQS + "target", "Input": '{"fixed": true}'},
            {"Id": "path", "Arn": SQS + "target", "InputPath": "$.detail"},
            {"Id": "tx", "Arn": SQS + "target", "InputTransformer": {"InputPathsMap": {"t": "$.detail.total"},
                "InputTemplate": '{"total": <t>, "rule": <aws.events.rule-name>}'}},
        ]  # fmt: skip
        await rule_with(w, "orders", targets)
        await w.bus.put_events([entry({"total": 200})])
        await w.deliver_all()
        bodies = [json.loads(m.body) for m in await w.drain("target")]
        assert sorted(bodies, key=json.dumps) == sorted(
            [{"fixed": True}, {"total": 200}, {"total": 200, "rule": "orders"}], key=json.dumps)  # fmt: skip

    run(tmp_path, body)


def test_what_does_not_match_delivers_nothing(tmp_path: Path) -> None:
    async def body(w: World) -> None:
        await w.bus.rules.create_bus("other", None, {})
        await rule_with(w, "orders", [{"Id": "q", "Arn": SQS + "target"}])
        await rule_with(w, "off", [{"Id": "q", "Arn": SQS + "target"}], pattern='{"source": ["shop"]}',
                        state="DISABLED")  # fmt: skip
        results = await w.bus.put_events([
            entry({"total": 50}),  # the pattern wants more than 100
            entry({"total": 500}, EventBusName="other"),  # no rule on that bus
            entry({"total": 500}, Source="elsewhere"),
        ])  # fmt: skip
        assert all(r.event_id for r in results)
        assert await w.deliver_all() == 0

    run(tmp_path, body)


def test_entries_are_refused_one_by_one(tmp_path: Path) -> None:
    async def body(w: World) -> None:
        results = await w.bus.put_events([
            entry({"a": 1}), {"Source": "s", "DetailType": "t"}, entry({}, Detail="[1]"),
            entry({"a": 1}, EventBusName="nope"), entry({"a": 1}, EventBusName=f"{PREFIX}:event-bus/default"),
        ])  # fmt: skip
        assert [r.error_code for r in results] == [None, "InvalidArgument", "MalformedDetail", "InvalidArgument", None]
        assert results[3].error_message == "Event bus nope does not exist."

    run(tmp_path, body)


def test_256_kb_of_entries_at_the_limit_and_one_byte_past(tmp_path: Path) -> None:
    async def body(w: World) -> None:
        fixed = len("s") + len("t") + len('{"a":""}')
        at_limit = [{"Source": "s", "DetailType": "t", "Detail": json.dumps({"a": "x" * (256 * 1024 - fixed)},
                                                                            separators=(",", ":"))}]  # fmt: skip
        (ok,) = await w.bus.put_events(at_limit)
        assert ok.event_id
        past = [{**at_limit[0], "Resources": ["r"]}]
        with pytest.raises(ValidationError, match="over the limit"):
            await w.bus.put_events(past)

    run(tmp_path, body)


def test_buses_rules_and_targets_survive_a_restart(tmp_path: Path) -> None:
    async def first(w: World) -> None:
        await w.bus.rules.create_bus("orders-bus", "mine", {"team": "a"})
        await rule_with(w, "r", [{"Id": "q", "Arn": SQS + "target", "InputPath": "$.detail"}], bus="orders-bus",
                        description="d")  # fmt: skip

    async def second(w: World) -> None:
        rules = w.bus.rules
        assert set(rules.buses) == {DEFAULT_BUS, "orders-bus"}
        assert rules.bus("orders-bus").tags == {"team": "a"}
        rule = rules.rule("orders-bus", "r")
        assert (rule.description, rule.event_pattern, rule.targets[0]["InputPath"]) == ("d", ORDERS, "$.detail")
        assert rules.rule_arn("orders-bus", "r") == f"{PREFIX}:rule/orders-bus/r"
        await w.bus.put_events([entry({"total": 999}, EventBusName="orders-bus")])
        assert await w.deliver_all() == 1

    run(tmp_path, first)
    run(tmp_path, second)


def test_eventbridges_rules(tmp_path: Path) -> None:
    async def body(w: World) -> None:
        rules = w.bus.rules
        five = [{"Id": str(n), "Arn": SQS + "target"} for n in range(5)]
        await rule_with(w, "r", five)
        with pytest.raises(EventsLimitExceeded):
            await rules.put_targets(None, "r", [{"Id": "5", "Arn": SQS + "target"}])
        assert len(rules.rule(None, "r").targets) == 5
        with pytest.raises(ValidationError, match=r"Rule can't be deleted since it has targets\."):
            await w.bus.delete_rule(None, "r", force=False)
        await w.bus.delete_rule(None, "r", force=True)
        with pytest.raises(ResourceNotFound):
            rules.rule(None, "r")
        with pytest.raises(ValidationError, match="Cannot delete event bus default"):
            await rules.delete_bus(DEFAULT_BUS)
        await rules.create_bus("b", None, {})
        with pytest.raises(ValidationError, match="only on the default event bus"):
            await w.bus.put_rule("s", "b", event_pattern=None, schedule="rate(1 minute)", state=None,
                                 description=None, role_arn=None, tags={})  # fmt: skip
        with pytest.raises(ValidationError, match="ScheduleExpression is not valid"):
            await w.bus.put_rule("s", None, event_pattern=None, schedule="rate(1 minutes)", state=None,
                                 description=None, role_arn=None, tags={})  # fmt: skip
        with pytest.raises(InvalidEventPattern, match="Event pattern is not valid"):
            await w.bus.put_rule("p", None, event_pattern='{"a": "x"}', schedule=None, state=None,
                                 description=None, role_arn=None, tags={})  # fmt: skip
        await _plain_rule(w)
        failed = await rules.put_targets(None, "plain", [
            {"Id": "x", "Arn": "arn:aws:states:us-east-1:000000000000:stateMachine:m"},
            {"Id": "y", "Arn": SQS + "target", "DeadLetterConfig": {"Arn": FN_ARN}},
            {"Id": "z", "Arn": "arn:aws:sqs:eu-west-1:000000000000:target"},
        ])  # fmt: skip
        assert [f["TargetId"] for f in failed] == ["x", "y", "z"]
        with pytest.raises(ValidationError, match="only one of Input"):
            await rules.put_targets(None, "plain", [{"Id": "a", "Arn": SQS + "t", "Input": "{}", "InputPath": "$"}])
        with pytest.raises(ValidationError, match="not valid JSON"):
            await rules.put_targets(None, "plain", [{"Id": "a", "Arn": SQS + "t", "Input": "{"}])

    run(tmp_path, body)


async def _plain_rule(w: World) -> str:
    await w.bus.put_rule("plain", None, event_pattern='{"source": ["x"]}', schedule=None, state=None,
                         description=None, role_arn=None, tags={})  # fmt: skip
    return "plain"


def test_a_scheduled_rule_fires_on_the_clock_until_disabled_and_again_after_a_restart(tmp_path: Path) -> None:
    async def first(w: World) -> None:
        await w.bus.put_rule("tick", None, event_pattern=None, schedule="rate(1 minute)", state=None,
                             description=None, role_arn=None, tags={})  # fmt: skip
        await w.bus.rules.put_targets(None, "tick", [{"Id": "q", "Arn": SQS + "target"}])
        assert w.runner.registered() == ["rule:default/tick"]
        nxt = w.runner.next_fire("rule:default/tick")
        assert nxt is not None
        assert nxt.timestamp() % 60 == 0  # on UTC's minute marks
        w.clock.now = nxt.timestamp()
        assert await w.runner.fire_due() == 1
        assert await w.deliver_all() == 1
        (message,) = await w.drain("target")
        event = json.loads(message.body)
        assert (event["source"], event["detail-type"], event["detail"]) == ("aws.events", "Scheduled Event", {})
        assert event["resources"] == [f"{PREFIX}:rule/tick"]
        assert event["time"] == nxt.strftime("%Y-%m-%dT%H:%M:%SZ")
        await w.bus.set_state(None, "tick", enabled=False)
        assert w.runner.registered() == []
        w.clock.advance(600)
        assert await w.runner.fire_due() == 0
        await w.bus.set_state(None, "tick", enabled=True)
        assert w.runner.registered() == ["rule:default/tick"]

    async def second(w: World) -> None:  # loaded at start: registered again from the rules table
        assert w.runner.registered() == ["rule:default/tick"]
        await w.bus.rules.remove_targets(None, "tick", ["q"])
        await w.bus.delete_rule(None, "tick", force=False)
        assert w.runner.registered() == []

    run(tmp_path, first)
    run(tmp_path, second)
