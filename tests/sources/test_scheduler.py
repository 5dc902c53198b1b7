"""EventBridge Scheduler's service on a fake clock, over real parts: SQLite stores in tmp_path, the real
ScheduleRunner, Deliveries, QueueService, registry, policies, Invoker and AsyncInvoker (the instance pools are a
stand-in never reached: a delivery to a function ends at the durable accept). Nothing sleeps: the clock is moved
by hand and the runner's `fire_due` and the deliveries' `handle` are stepped.

What it proves: a one-time at() schedule fires once and is deleted with ActionAfterCompletion DELETE (kept with
NONE); a rate schedule fires every period; a DISABLED schedule never fires and UpdateSchedule re-registers; a cron
in a time zone fires at its local time; a rate with an EndDate and DELETE is deleted after its last fire; a fire is
one delivery with the Input verbatim (`{}` without one), Scheduler's principal, the schedule ARN, the target's
retry policy and dead-letter queue; a restart re-registers the schedules and catches up once on a missed time;
deleting a group ends its schedules; a flexible window fires within the window."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sources_support import UnreachablePools, delivery_parts
from sqlalchemy import Engine

from nimbus.clock import FakeClock
from nimbus.errors import ResourceNotFound, ValidationError
from nimbus.invoke.async_invoke import ASYNC_QUEUE, decode_event
from nimbus.queue.sqlite import SqliteQueueStore
from nimbus.sources.deliveries import DELIVERY_QUEUE, Deliveries, DeliverySettings, decode
from nimbus.sources.schedule_runner import ScheduleRunner
from nimbus.sources.scheduler import PRINCIPAL, Scheduler

START = 1_800_000_000.0  # 2027-01-15T08:00:00Z, a Friday, winter in New York (UTC-5)
ACCOUNT = "000000000000"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/r"
QUEUE = f"arn:aws:sqs:us-east-1:{ACCOUNT}:target"
DLQ = f"arn:aws:sqs:us-east-1:{ACCOUNT}:dlq"
FUNCTION = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:fn"


@dataclass
class World:
    clock: FakeClock
    engine: Engine
    queues: SqliteQueueStore
    runner: ScheduleRunner
    deliveries: Deliveries
    scheduler: Scheduler
    make: Callable[[], tuple[ScheduleRunner, Scheduler]]

    async def tick(self, seconds: float) -> int:
        """Move the clock, fire what is due, and deliver every delivery that is visible; returns fires."""
        self.clock.advance(seconds)
        fired = await self.runner.fire_due()
        while batch := await self.queues.reserve(DELIVERY_QUEUE, 10, 60.0):
            for message in batch:
                await self.deliveries.handle(message)
        return fired

    async def received(self, queue: str = "target") -> list[str]:
        return [m.body for m in await self.queues.reserve(queue, 10, 1e9)]  # hidden for good once read


def run(tmp_path: Path, body: Callable[[World], Awaitable[None]]) -> None:
    async def main() -> None:
        clock = FakeClock(START)
        pools = UnreachablePools("a scheduled delivery never invokes synchronously")
        parts = await delivery_parts(tmp_path, clock, DeliverySettings(retry_delays=(10.0,)), pools=pools)
        config, engine, queues, deliveries = parts.config, parts.engine, parts.queues, parts.deliveries

        def make() -> tuple[ScheduleRunner, Scheduler]:
            """A runner and scheduler as a (re)started server builds them from the tables."""
            runner = ScheduleRunner(engine, clock)
            scheduler = Scheduler(config, engine, runner, deliveries)
            scheduler.load()
            return runner, scheduler

        runner, scheduler = make()
        try:
            await body(World(clock, engine, queues, runner, deliveries, scheduler, make))
        finally:
            await queues.close()
            engine.dispose()

    asyncio.run(main())


def params(name: str, expression: str, **over: Any) -> dict[str, Any]:
    return {"Name": name, "ScheduleExpression": expression, "FlexibleTimeWindow": {"Mode": "OFF"},
            "Target": {"Arn": QUEUE, "RoleArn": ROLE}} | over  # fmt: skip


def utc(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC)


def test_at_fires_once_and_is_deleted_with_delete(tmp_path: Path) -> None:
    async def body(w: World) -> None:
        target = {"Arn": QUEUE, "RoleArn": ROLE, "Input": '{"once": true}'}
        await w.scheduler.create_schedule(params("once", "at(2027-01-15T08:01:00)", Target=target,
                                                 ActionAfterCompletion="DELETE"))  # fmt: skip
        await w.scheduler.create_schedule(params("kept", "at(2027-01-15T08:01:00)"))
        assert w.runner.next_fire("schedule:default/once") == utc("2027-01-15T08:01:00")
        assert await w.tick(59) == 0
        assert await w.received() == []
        assert await w.tick(1) == 2
        assert sorted(await w.received()) == ['{"once": true}', "{}"]
        with pytest.raises(ResourceNotFound):
            w.scheduler.schedule("default", "once")
        assert w.scheduler.schedule("default", "kept").name == "kept"  # NONE: kept, fires no more
        assert w.runner.registered() == []
        assert [s.name for s in w.scheduler.store.load()[1]] == ["kept"]
        assert await w.tick(86400) == 0
        assert await w.received() == []

    run(tmp_path, body)


def test_rate_fires_every_period(tmp_path: Path) -> None:
    async def body(w: World) -> None:
        await w.scheduler.create_schedule(params("every5", "rate(5 minutes)"))
        fires = [await w.tick(300) for _ in range(3)]
        assert fires == [1, 1, 1]
        assert await w.received() == ["{}", "{}", "{}"]
        assert w.scheduler.fired == 3
        assert w.runner.next_fire("schedule:default/every5") == utc("2027-01-15T08:20:00")

    run(tmp_path, body)


def test_disabled_does_not_fire_and_update_reregisters(tmp_path: Path) -> None:
    async def body(w: World) -> None:
        await w.scheduler.create_schedule(params("off", "rate(1 minute)", State="DISABLED"))
        assert w.runner.registered() == []
        assert await w.tick(600) == 0
        await w.scheduler.update_schedule(params("off", "rate(1 minute)"))
        assert w.runner.registered() == ["schedule:default/off"]
        assert await w.tick(60) == 1
        await w.scheduler.update_schedule(params("off", "rate(1 minute)", State="DISABLED"))
        assert w.runner.registered() == []
        assert await w.tick(600) == 0
        assert await w.received() == ["{}"]

    run(tmp_path, body)


def test_cron_in_a_time_zone_fires_at_its_local_time(tmp_path: Path) -> None:
    async def body(w: World) -> None:
        ny = params("ny9", "cron(0 9 * * ? *)", ScheduleExpressionTimezone="America/New_York")
        await w.scheduler.create_schedule(ny)
        await w.scheduler.create_schedule(params("utc9", "cron(0 9 * * ? *)"))
        assert w.runner.next_fire("schedule:default/utc9") == utc("2027-01-15T09:00:00")
        assert w.runner.next_fire("schedule:default/ny9") == utc("2027-01-15T14:00:00")  # 09:00 EST
        assert await w.tick(3600) == 1  # 09:00 UTC
        assert await w.tick(5 * 3600) == 1  # 14:00 UTC = 09:00 in New York
        assert w.runner.next_fire("schedule:default/ny9") == utc("2027-01-16T14:00:00")

    run(tmp_path, body)


def test_rate_with_an_end_date_is_deleted_after_its_last_fire(tmp_path: Path) -> None:
    async def body(w: World) -> None:
        await w.scheduler.create_schedule(params("ends", "rate(1 minute)", EndDate=START + 150,
                                                 ActionAfterCompletion="DELETE"))  # fmt: skip
        assert [await w.tick(60) for _ in range(3)] == [1, 1, 0]
        with pytest.raises(ResourceNotFound):
            w.scheduler.schedule(None, "ends")

    run(tmp_path, body)


def test_a_fire_is_one_delivery_as_scheduler_sends_it(tmp_path: Path) -> None:
    async def body(w: World) -> None:
        target = {"Arn": FUNCTION, "RoleArn": ROLE, "Input": '["any", "JSON"]',
                  "RetryPolicy": {"MaximumRetryAttempts": 2, "MaximumEventAgeInSeconds": 120},
                  "DeadLetterConfig": {"Arn": DLQ}}  # fmt: skip
        s = await w.scheduler.create_schedule(params("fn", "rate(1 minute)", Target=target))
        delivery = w.scheduler.delivery(s)
        assert (delivery.kind, delivery.target, delivery.payload) == ("lambda", FUNCTION, b'["any", "JSON"]')
        assert (delivery.principal, delivery.source_arn) == (PRINCIPAL, s.arn)
        assert (delivery.max_attempts, delivery.max_age_s, delivery.dead_letter_arn) == (2, 120, DLQ)
        assert delivery.dlq_attributes == {"SCHEDULE_ARN": s.arn, "TARGET_ARN": FUNCTION}
        w.clock.advance(60)
        assert await w.runner.fire_due() == 1
        (pending,) = await w.queues.reserve(DELIVERY_QUEUE, 10, 60.0)
        assert dataclasses.replace(decode(pending.body).delivery, request_id="") == delivery
        await w.deliveries.handle(pending)  # Scheduler's deliveries need no resource policy (roles: issue 15)
        (event,) = await w.queues.reserve(ASYNC_QUEUE, 10, 60.0)
        assert decode_event(event.body).payload == b'["any", "JSON"]'

    run(tmp_path, body)


def test_a_restart_reregisters_and_catches_up_once(tmp_path: Path) -> None:
    async def body(w: World) -> None:
        await w.scheduler.create_schedule(params("r", "rate(10 minutes)"))
        await w.scheduler.create_schedule(params("later", "at(2027-01-16T00:00:00)", ActionAfterCompletion="DELETE"))
        await w.scheduler.create_schedule(params("off", "rate(1 minute)", State="DISABLED"))
        assert await w.tick(600) == 1  # 08:10, recorded in schedule_fires
        w.clock.advance(3600)  # "down" for an hour: six times missed
        w.runner, w.scheduler = w.make()
        assert w.runner.registered() == ["schedule:default/later", "schedule:default/r"]
        assert sorted(s.name for s in w.scheduler.schedules()) == ["later", "off", "r"]
        assert await w.tick(0) == 1  # one catch-up fire, not six
        assert await w.tick(600) == 1  # then on schedule
        assert len(await w.received()) == 3

    run(tmp_path, body)


def test_deleting_a_group_ends_its_schedules(tmp_path: Path) -> None:
    async def body(w: World) -> None:
        await w.scheduler.create_group("team", {"k": "v"})
        await w.scheduler.create_schedule(params("a", "rate(1 minute)", GroupName="team"))
        await w.scheduler.create_schedule(params("a", "rate(1 minute)"))
        assert w.runner.registered() == ["schedule:default/a", "schedule:team/a"]
        await w.scheduler.delete_group("team")
        assert w.runner.registered() == ["schedule:default/a"]
        assert await w.tick(60) == 1
        w.runner, w.scheduler = w.make()
        assert [g.name for g in w.scheduler.groups()] == ["default"]

    run(tmp_path, body)


def test_a_flexible_window_fires_within_the_window(tmp_path: Path) -> None:
    async def body(w: World) -> None:
        window = {"Mode": "FLEXIBLE", "MaximumWindowInMinutes": 10}
        await w.scheduler.create_schedule(params("flex", "at(2027-01-15T09:00:00)", FlexibleTimeWindow=window))
        assert await w.tick(3600 - 1) == 0  # before the scheduled time: never
        fired = 0
        for _ in range(10 * 60 // 30 + 1):  # within the ten minutes after it: exactly once
            fired += await w.tick(30)
        assert fired == 1
        body = json.loads((await w.received())[0])
        assert body == {}

    run(tmp_path, body)


def test_a_group_holds_200_tags_and_not_201(tmp_path: Path) -> None:
    async def body(w: World) -> None:
        group = await w.scheduler.create_group("tagged", {f"k{i}": "v" for i in range(199)})
        await w.scheduler.set_tags(group.arn, {"k199": "v"})
        with pytest.raises(ValidationError, match="at most 200 tags"):
            await w.scheduler.set_tags(group.arn, {"k200": "v"})
        await w.scheduler.set_tags(group.arn, {"k200": "v"}, ["k0"])  # one out, one in: still 200
        assert len(w.scheduler.group("tagged").tags) == 200
        with pytest.raises(ResourceNotFound):
            await w.scheduler.set_tags(w.scheduler.group_arn("nope"), {"k": "v"})

    run(tmp_path, body)
