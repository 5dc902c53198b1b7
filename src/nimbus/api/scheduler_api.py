"""The EventBridge Scheduler wire API (scheduler 2021-06-30, REST-JSON): schedules, schedule groups and group tags.

Routes, input and output come from botocore's model through `RestJsonProtocol`; this module maps each operation
to `Scheduler` and shapes records as Scheduler answers them (timestamps in epoch seconds, the model's default).
Requests are signed for the `scheduler` service; errors are Scheduler's (`api/errors.scheduler_json`).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from typing import Any

from nimbus.api.http import Request, Response, Router
from nimbus.api.restjson import Operation, RestJsonProtocol
from nimbus.control.schedules import Schedule, ScheduleGroup
from nimbus.errors import ValidationError
from nimbus.sources.scheduler import Scheduler

#: the credential scope service of Scheduler's routes (what boto3's scheduler client signs with)
SERVICE = "scheduler"
#: the most items one page of ListSchedules / ListScheduleGroups holds when the caller names no MaxResults
PAGE_DEFAULT = 100


def _page(items: list[Any], key: Callable[[Any], str], inp: dict[str, Any]) -> tuple[list[Any], str | None]:
    """Key pagination: NextToken names (opaquely) the first item of the next page, so a page stays right when
    items before it are deleted between calls."""
    size = inp.get("MaxResults") or PAGE_DEFAULT
    start = 0
    if inp.get("NextToken") is not None:
        try:
            after = base64.b64decode(inp["NextToken"].encode(), altchars=b"-_", validate=True).decode()
        except (binascii.Error, ValueError):
            raise ValidationError("Invalid NextToken: send the NextToken of the previous page.") from None
        start = next((i for i, item in enumerate(items) if key(item) >= after), len(items))
    page = items[start : start + size]
    more = start + size < len(items)
    token = base64.urlsafe_b64encode(key(items[start + size]).encode()).decode() if more else None
    return page, token


def describe_group(group: ScheduleGroup) -> dict[str, Any]:
    return {"Arn": group.arn, "CreationDate": group.created, "LastModificationDate": group.modified,
            "Name": group.name, "State": "ACTIVE"}  # fmt: skip


def describe_schedule(s: Schedule) -> dict[str, Any]:
    return {
        "ActionAfterCompletion": s.action_after_completion, "Arn": s.arn, "CreationDate": s.created,
        "Description": s.description, "EndDate": s.end, "FlexibleTimeWindow": s.flexible_time_window,
        "GroupName": s.group, "KmsKeyArn": s.kms_key_arn, "LastModificationDate": s.modified, "Name": s.name,
        "ScheduleExpression": s.expression, "ScheduleExpressionTimezone": s.timezone, "StartDate": s.start,
        "State": s.state, "Target": s.target,
    }  # fmt: skip


def summarize_schedule(s: Schedule) -> dict[str, Any]:
    return {"Arn": s.arn, "CreationDate": s.created, "GroupName": s.group, "LastModificationDate": s.modified,
            "Name": s.name, "State": s.state, "Target": {"Arn": s.target["Arn"]}}  # fmt: skip


def _tags(tag_list: list[dict[str, str]] | None) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in tag_list or []}


class SchedulerApi:
    """Registers Scheduler's operations on the router, under the `scheduler` signing scope."""

    def __init__(self, scheduler: Scheduler) -> None:
        self.scheduler = scheduler
        self.protocol = RestJsonProtocol("scheduler")
        self.operations: dict[str, Operation] = {
            "CreateSchedule": self.create_schedule, "GetSchedule": self.get_schedule,
            "UpdateSchedule": self.update_schedule, "DeleteSchedule": self.delete_schedule,
            "ListSchedules": self.list_schedules, "CreateScheduleGroup": self.create_group,
            "GetScheduleGroup": self.get_group, "ListScheduleGroups": self.list_groups,
            "DeleteScheduleGroup": self.delete_group, "TagResource": self.tag_resource,
            "UntagResource": self.untag_resource, "ListTagsForResource": self.list_tags,
        }  # fmt: skip

    def register(self, router: Router) -> None:
        for name, call in self.operations.items():
            method, template = self.protocol.route(name)
            router.add(method, template, self._handler(name, call), name, service=SERVICE)

    def _handler(self, name: str, call: Operation) -> Callable[[Request], Any]:
        async def handle(req: Request) -> Response:
            return self.protocol.respond(name, await call(self.protocol.parse(name, req)))

        return handle

    # ---- schedules ----
    async def create_schedule(self, inp: dict[str, Any]) -> dict[str, Any]:
        return {"ScheduleArn": (await self.scheduler.create_schedule(inp)).arn}

    async def get_schedule(self, inp: dict[str, Any]) -> dict[str, Any]:
        return describe_schedule(self.scheduler.schedule(inp.get("GroupName"), inp["Name"]))

    async def update_schedule(self, inp: dict[str, Any]) -> dict[str, Any]:
        return {"ScheduleArn": (await self.scheduler.update_schedule(inp)).arn}

    async def delete_schedule(self, inp: dict[str, Any]) -> dict[str, Any]:
        await self.scheduler.delete_schedule(inp.get("GroupName"), inp["Name"])
        return {}

    async def list_schedules(self, inp: dict[str, Any]) -> dict[str, Any]:
        found = self.scheduler.schedules(inp.get("GroupName"), inp.get("NamePrefix"), inp.get("State"))
        page, token = _page(found, lambda s: f"{s.group}\x00{s.name}", inp)
        return {"Schedules": [summarize_schedule(s) for s in page], "NextToken": token}

    # ---- groups ----
    async def create_group(self, inp: dict[str, Any]) -> dict[str, Any]:
        group = await self.scheduler.create_group(inp["Name"], _tags(inp.get("Tags")))
        return {"ScheduleGroupArn": group.arn}

    async def get_group(self, inp: dict[str, Any]) -> dict[str, Any]:
        return describe_group(self.scheduler.group(inp["Name"]))

    async def list_groups(self, inp: dict[str, Any]) -> dict[str, Any]:
        page, token = _page(self.scheduler.groups(inp.get("NamePrefix")), lambda g: g.name, inp)
        return {"ScheduleGroups": [describe_group(g) for g in page], "NextToken": token}

    async def delete_group(self, inp: dict[str, Any]) -> dict[str, Any]:
        await self.scheduler.delete_group(inp["Name"])
        return {}

    # ---- tags (schedule groups only, as the model's TagResourceArn says) ----
    async def tag_resource(self, inp: dict[str, Any]) -> dict[str, Any]:
        await self.scheduler.set_tags(inp["ResourceArn"], _tags(inp["Tags"]))
        return {}

    async def untag_resource(self, inp: dict[str, Any]) -> dict[str, Any]:
        await self.scheduler.set_tags(inp["ResourceArn"], {}, inp["TagKeys"])
        return {}

    async def list_tags(self, inp: dict[str, Any]) -> dict[str, Any]:
        group = self.scheduler.group_by_arn(inp["ResourceArn"])
        return {"Tags": [{"Key": k, "Value": v} for k, v in sorted(group.tags.items())]}
