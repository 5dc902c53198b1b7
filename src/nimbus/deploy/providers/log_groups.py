"""AWS::Logs::LogGroup through the log store: a group made on purpose, with its own RetentionInDays (CloudWatch
Logs' allowed periods; the server's retention when none), which the store's purge honours. A template usually names
a function's group (`/aws/lambda/<name>`) to give its logs a retention. The group's name needs a replacement;
deleting it deletes its events, as DeleteLogGroup does. Ref: the name; GetAtt Arn.

What CloudWatch Logs keeps and Nimbus does not (KMS keys, log classes, data protection policies) is refused, as
the unsupported members of other types are.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from nimbus.deploy.provider import Made, StackContext
from nimbus.deploy.providers.common import name_of, numbers
from nimbus.errors import InvalidParameterValue

LOG_GROUP = "AWS::Logs::LogGroup"
_UNSUPPORTED = ("KmsKeyId", "DataProtectionPolicy", "FieldIndexPolicies")


def _retention(props: Mapping[str, Any]) -> int | None:
    for key in _UNSUPPORTED:
        if props.get(key):
            raise InvalidParameterValue(f"{key}: Nimbus keeps logs on its own disk, without {key}.")
    value = numbers(dict(props), ("RetentionInDays",)).get("RetentionInDays")
    if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
        raise InvalidParameterValue("RetentionInDays must be a whole number of days.")
    return value


class LogGroups:
    types: tuple[str, ...] = (LOG_GROUP,)

    def replaces(self, type_: str, old: Mapping[str, Any], new: Mapping[str, Any]) -> bool:
        return old.get("LogGroupName") != new.get("LogGroupName")

    def _made(self, ctx: StackContext, name: str) -> Made:
        return Made(name, name, {"Arn": f"arn:aws:logs:{ctx.region}:{ctx.account}:log-group:{name}:*"})

    async def create(self, ctx: StackContext, type_: str, logical_id: str, props: Mapping[str, Any]) -> Made:
        name = name_of(ctx, logical_id, props, "LogGroupName", 512)
        await asyncio.to_thread(ctx.services.logs.put_group, name, _retention(props), creating=True)
        return self._made(ctx, name)

    async def update(self, ctx: StackContext, type_: str, logical_id: str, physical_id: str,
                     old: Mapping[str, Any], new: Mapping[str, Any]) -> Made:  # fmt: skip
        await asyncio.to_thread(ctx.services.logs.put_group, physical_id, _retention(new), creating=False)
        return self._made(ctx, physical_id)

    async def delete(self, ctx: StackContext, type_: str, logical_id: str, physical_id: str,
                     props: Mapping[str, Any]) -> None:  # fmt: skip
        name = str(props.get("LogGroupName") or physical_id)  # the template's name wins over a guessed id
        await asyncio.to_thread(ctx.services.logs.delete_group, name)
