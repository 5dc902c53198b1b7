"""The SQS API (JSON 1.0, `X-Amz-Target: AmazonSQS.<Op>`, as current botocore speaks it): operations mapped to
the queue service. Parsing, validation and serialization come from botocore's model (`jsonproto`); errors are
shaped by `api/errors.json_10`, with the query-compatible code botocore maps to its modeled exceptions."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from botocore.model import Shape

from nimbus.api.http import Request, Response
from nimbus.api.jsonproto import JsonProtocol
from nimbus.errors import (
    InvalidAttributeName,
    NimbusError,
    SqsInvalidParameterValue,
    SqsMissingParameter,
    UnsupportedOperation,
)
from nimbus.queue import sqs_messages as qm
from nimbus.queue.contract import Reserved
from nimbus.queue.service import BatchResult, QueueService

TARGET_PREFIX = "AmazonSQS."
_SYSTEM_NAMES = ("SenderId", "SentTimestamp", "ApproximateReceiveCount", "ApproximateFirstReceiveTimestamp",
                 "AWSTraceHeader", "SequenceNumber", "MessageGroupId", "MessageDeduplicationId")  # fmt: skip


def _invalid(message: str, shape: Shape) -> NimbusError:
    if shape.name == "QueueAttributeName":
        return InvalidAttributeName(message)
    return SqsInvalidParameterValue(message)


def _missing(path: str) -> NimbusError:
    return SqsMissingParameter(f"The request must contain the parameter {path}.")


class SqsApi:
    def __init__(self, service: QueueService) -> None:
        self.service = service
        self.protocol = JsonProtocol(
            "sqs", invalid=_invalid, missing=_missing, open_enums=frozenset({"ReceiveMessage.AttributeNames"})
        )
        self._ops: dict[str, Callable[[dict[str, Any], str], Awaitable[dict[str, Any] | None]]] = {
            "CreateQueue": self.create_queue,
            "GetQueueUrl": self.get_queue_url,
            "ListQueues": self.list_queues,
            "DeleteQueue": lambda b, h: self._none(self.service.delete_queue(b["QueueUrl"])),
            "GetQueueAttributes": self.get_queue_attributes,
            "SetQueueAttributes": lambda b, h: self._none(
                self.service.set_attributes(b["QueueUrl"], b.get("Attributes") or {})
            ),
            "TagQueue": lambda b, h: self._none(self.service.tag(b["QueueUrl"], b["Tags"])),
            "UntagQueue": lambda b, h: self._none(self.service.untag(b["QueueUrl"], b["TagKeys"])),
            "ListQueueTags": self.list_queue_tags,
            "PurgeQueue": lambda b, h: self._none(self.service.purge(b["QueueUrl"])),
            "SendMessage": self.send_message,
            "SendMessageBatch": self.send_message_batch,
            "ReceiveMessage": self.receive_message,
            "DeleteMessage": lambda b, h: self._none(self.service.delete_message(b["QueueUrl"], b["ReceiptHandle"])),
            "DeleteMessageBatch": lambda b, h: self._batch(self.service.delete_batch(b["QueueUrl"], b["Entries"])),
            "ChangeMessageVisibility": lambda b, h: self._none(
                self.service.change_visibility(b["QueueUrl"], b["ReceiptHandle"], b["VisibilityTimeout"])
            ),
            "ChangeMessageVisibilityBatch": lambda b, h: self._batch(
                self.service.change_visibility_batch(b["QueueUrl"], b["Entries"])
            ),
            "ListDeadLetterSourceQueues": self.list_dead_letter_source_queues,
        }

    async def handle(self, req: Request, target: str) -> Response:
        op = self.protocol.operation(target)
        handler = self._ops.get(op.name)
        if handler is None:
            raise UnsupportedOperation(f"Nimbus's SQS API does not support {op.name}.")
        body = self.protocol.parse(op, req.body, req.parsed)
        host = req.header("host") or f"{self.service.region}.nimbus"
        out = await handler(body, host)
        return Response(200, self.protocol.serialize(op, out), [(b"content-type", self.protocol.content_type)])

    @staticmethod
    async def _none(call: Awaitable[None]) -> None:
        await call

    @staticmethod
    async def _batch(call: Awaitable[BatchResult]) -> dict[str, Any]:
        result = await call
        return {"Successful": result.successful, "Failed": result.failed}

    # ---- queues ----
    async def create_queue(self, body: dict[str, Any], host: str) -> dict[str, Any]:
        name = await self.service.create_queue(body["QueueName"], body.get("Attributes") or {}, body.get("tags") or {})
        return {"QueueUrl": self.service.url(name, host)}

    async def get_queue_url(self, body: dict[str, Any], host: str) -> dict[str, Any]:
        owner = body.get("QueueOwnerAWSAccountId") or self.service.account
        record = await self.service.require(f"arn:aws:sqs:{self.service.region}:{owner}:{body['QueueName']}")
        return {"QueueUrl": self.service.url(record.name, host)}

    async def list_queues(self, body: dict[str, Any], host: str) -> dict[str, Any]:
        names, token = await self.service.list_queues(
            body.get("QueueNamePrefix") or "", body.get("MaxResults"), body.get("NextToken")
        )
        return {"QueueUrls": [self.service.url(n, host) for n in names] or None, "NextToken": token}

    async def get_queue_attributes(self, body: dict[str, Any], host: str) -> dict[str, Any]:
        attrs = await self.service.get_attributes(body["QueueUrl"], body.get("AttributeNames") or [])
        return {"Attributes": attrs or None}

    async def list_queue_tags(self, body: dict[str, Any], host: str) -> dict[str, Any]:
        return {"Tags": await self.service.tags(body["QueueUrl"]) or None}

    async def list_dead_letter_source_queues(self, body: dict[str, Any], host: str) -> dict[str, Any]:
        names = await self.service.dead_letter_sources(body["QueueUrl"])
        return {"queueUrls": [self.service.url(n, host) for n in names]}

    # ---- messages ----
    async def send_message(self, body: dict[str, Any], host: str) -> dict[str, Any]:
        sent = await self.service.send(
            body["QueueUrl"], body["MessageBody"], body.get("MessageAttributes") or {},
            delay_s=body.get("DelaySeconds"), system=body.get("MessageSystemAttributes") or {},
            group_id=body.get("MessageGroupId"), dedup_id=body.get("MessageDeduplicationId"),
        )  # fmt: skip
        return {
            "MessageId": sent.message_id, "MD5OfMessageBody": sent.md5_of_body,
            "MD5OfMessageAttributes": sent.md5_of_attributes, "MD5OfMessageSystemAttributes": sent.md5_of_system,
        }  # fmt: skip

    async def send_message_batch(self, body: dict[str, Any], host: str) -> dict[str, Any]:
        return await self._batch(self.service.send_batch(body["QueueUrl"], body["Entries"]))

    async def receive_message(self, body: dict[str, Any], host: str) -> dict[str, Any]:
        got = await self.service.receive(
            body["QueueUrl"], max_count=body.get("MaxNumberOfMessages", 1),
            visibility_s=body.get("VisibilityTimeout"), wait_s=body.get("WaitTimeSeconds"),
        )  # fmt: skip
        system = {*(body.get("AttributeNames") or []), *(body.get("MessageSystemAttributeNames") or [])}
        wanted = set(_SYSTEM_NAMES) if "All" in system else system
        names = body.get("MessageAttributeNames") or []
        return {"Messages": [self._message(h, m, wanted, names) for h, m in got] or None}

    def _message(self, handle: str, msg: Reserved, system: set[str], names: list[str]) -> dict[str, Any]:
        out: dict[str, Any] = {"MessageId": msg.message_id, "ReceiptHandle": handle, "Body": msg.body,
                               "MD5OfBody": qm.md5_of_body(msg.body)}  # fmt: skip
        values = {
            "SenderId": self.service.account, "SentTimestamp": str(msg.sent_at_ms),
            "ApproximateReceiveCount": str(msg.receive_count),
            "ApproximateFirstReceiveTimestamp": str(msg.first_received_ms),
        }  # fmt: skip
        if msg.group_id is not None:
            values["MessageGroupId"] = msg.group_id
        if msg.dedup_id is not None:
            values["MessageDeduplicationId"] = msg.dedup_id.rsplit(qm.DEDUP_SCOPE_SEP, 1)[-1]
            values["SequenceNumber"] = f"{msg.sequence:020d}"
        trace = msg.system.get("AWSTraceHeader")
        if trace:
            values["AWSTraceHeader"] = str(trace.get("StringValue", ""))
        attrs = {k: v for k, v in values.items() if k in system}
        if attrs:
            out["Attributes"] = attrs
        chosen = {k: v for k, v in msg.attributes.items() if _selected(k, names)}
        if chosen:
            wire = qm.wire_attributes(chosen)
            out["MessageAttributes"] = wire
            out["MD5OfMessageAttributes"] = qm.md5_of_attributes(wire)
        return out


def _selected(name: str, patterns: list[str]) -> bool:
    """MessageAttributeNames: a name, `All` or `.*` for every one, or `prefix.*` for those under a prefix."""
    for pattern in patterns:
        if pattern in ("All", ".*") or pattern == name:
            return True
        if pattern.endswith(".*") and name.startswith(pattern[:-1]):
            return True
    return False
