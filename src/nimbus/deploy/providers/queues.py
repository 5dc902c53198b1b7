"""AWS::SQS::Queue and AWS::SQS::QueuePolicy through the queue service, as CreateQueue / SetQueueAttributes /
TagQueue / DeleteQueue would.

A queue's properties are SQS attributes by the same names (objects such as RedrivePolicy become their JSON text);
QueueName and FifoQueue need a replacement. A generated name of a FIFO queue ends in `.fifo`, as CloudFormation
makes it. Ref is the queue URL; GetAtt gives Arn, QueueName and QueueUrl.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from nimbus.deploy.provider import Made, StackContext
from nimbus.deploy.providers.common import attribute_text, document, gone_ok, name_of, stack_tags, string_list
from nimbus.errors import InvalidParameterValue
from nimbus.queue import sqs_attributes as qa

ATTRIBUTES = (
    "ContentBasedDeduplication", "DeduplicationScope", "DelaySeconds", "FifoQueue", "FifoThroughputLimit",
    "KmsDataKeyReusePeriodSeconds", "KmsMasterKeyId", "MaximumMessageSize", "MessageRetentionPeriod",
    "ReceiveMessageWaitTimeSeconds", "RedriveAllowPolicy", "RedrivePolicy", "SqsManagedSseEnabled",
    "VisibilityTimeout",
)  # fmt: skip
NAME_MAX = 80


def queue_url(ctx: StackContext, name: str) -> str:
    """The queue's URL on this server (what CreateQueue answers to a client of its address)."""
    settings = ctx.services.settings
    endpoints = ctx.services.endpoints
    port = endpoints.listening_port if endpoints is not None else settings.port
    host = settings.host if settings.host not in ("0.0.0.0", "::", "") else "127.0.0.1"
    host = f"[{host}]" if ":" in host else host
    return ctx.services.queues.url(name, f"{host}:{port}")


def _attributes(props: Mapping[str, Any]) -> dict[str, str]:
    return {k: attribute_text(props[k]) for k in ATTRIBUTES if k in props and props[k] is not None}


def _fifo(props: Mapping[str, Any]) -> bool:
    return attribute_text(props.get("FifoQueue", False)).lower() == "true"


class Queues:
    types: tuple[str, ...] = ("AWS::SQS::Queue", "AWS::SQS::QueuePolicy")

    def replaces(self, type_: str, old: Mapping[str, Any], new: Mapping[str, Any]) -> bool:
        if type_ == "AWS::SQS::QueuePolicy":
            return False
        return old.get("QueueName") != new.get("QueueName") or _fifo(old) != _fifo(new)

    def _made(self, ctx: StackContext, name: str) -> Made:
        url = queue_url(ctx, name)
        return Made(name, url, {"Arn": ctx.services.queues.arn(name), "QueueName": name, "QueueUrl": url})

    async def create(self, ctx: StackContext, type_: str, logical_id: str, props: Mapping[str, Any]) -> Made:
        if type_ == "AWS::SQS::QueuePolicy":
            return await self._put_policy(ctx, logical_id, None, props)
        end = ".fifo" if _fifo(props) else ""
        name = name_of(ctx, logical_id, props, "QueueName", NAME_MAX, end=end)
        await ctx.services.queues.create_queue(name, _attributes(props), stack_tags(ctx, logical_id, props))
        return self._made(ctx, name)

    async def update(self, ctx: StackContext, type_: str, logical_id: str, physical_id: str,
                     old: Mapping[str, Any], new: Mapping[str, Any]) -> Made:  # fmt: skip
        if type_ == "AWS::SQS::QueuePolicy":
            for url in set(_queues(old)) - set(_queues(new)):
                await gone_ok(ctx.services.queues.set_attributes(url, {"Policy": ""}))
            return await self._put_policy(ctx, logical_id, physical_id, new)
        queues = ctx.services.queues
        fifo = _fifo(new)
        wanted = _attributes(new)
        defaults = qa.DEFAULTS | qa.FIFO_DEFAULTS if fifo else qa.DEFAULTS
        # a member removed from the template goes back to SQS's default (a removed redrive policy: none)
        dropped = {k: defaults.get(k, "") for k in _attributes(old) if k not in wanted and k != "FifoQueue"}
        changes = {k: v for k, v in (dropped | wanted).items() if k != "FifoQueue"}
        if changes:
            await queues.set_attributes(physical_id, changes)
        tags, old_tags = stack_tags(ctx, logical_id, new), stack_tags(ctx, logical_id, old)
        if removed := [k for k in old_tags if k not in tags]:
            await queues.untag(physical_id, removed)
        if tags != old_tags:
            await queues.tag(physical_id, tags)
        return self._made(ctx, physical_id)

    async def _put_policy(self, ctx: StackContext, logical_id: str, physical_id: str | None,
                          props: Mapping[str, Any]) -> Made:  # fmt: skip
        if "PolicyDocument" not in props:
            raise InvalidParameterValue("PolicyDocument is required.")
        policy = document(props["PolicyDocument"])
        for url in _queues(props):
            await ctx.services.queues.set_attributes(url, {"Policy": policy})
        ident = physical_id or ctx.name(logical_id, 256)
        return Made(ident, ident)

    async def delete(self, ctx: StackContext, type_: str, logical_id: str, physical_id: str,
                     props: Mapping[str, Any]) -> None:  # fmt: skip
        queues = ctx.services.queues
        if type_ == "AWS::SQS::QueuePolicy":
            for url in _queues(props):
                await gone_ok(queues.set_attributes(url, {"Policy": ""}))
            return
        name = str(props.get("QueueName") or physical_id)
        if _fifo(props) and not name.endswith(".fifo"):  # the engine's guess of a generated name, after a crash
            name += ".fifo"
        await gone_ok(queues.delete_queue(name))


def _queues(props: Mapping[str, Any]) -> list[str]:
    return string_list(props, "Queues", "queue URLs")
