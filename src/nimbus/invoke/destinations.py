"""Where an asynchronous event's outcome goes: Lambda's destination record, the dead-letter message, and delivery
to a built-in queue (a message through the queue store) or to another function (an async invoke through the door).

The record and the dead-letter message are pure functions of the event and its last result; `Deliveries` does the
I/O. A delivery happens before the event's own message is acked, so a crash between the two delivers twice, never
zero times (at-least-once, as Lambda's destinations are).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import uuid
from typing import Any

from nimbus.control.event_invoke import function_target, queue_name
from nimbus.control.validation import FunctionRef
from nimbus.errors import NimbusError
from nimbus.invoke.async_invoke import AsyncEvent, AsyncInvoker
from nimbus.protocol import json_text
from nimbus.protocol.records import InvokeResult
from nimbus.queue.contract import NewMessage, QueueStore

log = logging.getLogger("nimbus.async")

SUCCESS = "Success"
RETRIES_EXHAUSTED = "RetriesExhausted"
EVENT_AGE_EXCEEDED = "EventAgeExceeded"
#: Lambda puts the first 1 KB of the error in a dead-letter message's ErrorMessage attribute
DLQ_ERROR_MAX = 1024


def _json_or_text(data: bytes) -> Any:
    try:
        return json_text.loads(data)
    except ValueError:
        return data.decode(errors="replace")


def _timestamp(epoch_s: float) -> str:
    t = dt.datetime.fromtimestamp(epoch_s, dt.UTC)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


def record(
    event: AsyncEvent, function_arn: str, condition: str, result: InvokeResult | None, now: float
) -> dict[str, Any]:
    """Lambda's invocation record, as destinations receive it. `function_arn` is the qualified ARN invoked."""
    out: dict[str, Any] = {
        "version": "1.0",
        "timestamp": _timestamp(now),
        "requestContext": {
            "requestId": event.request_id,
            "functionArn": function_arn,
            "condition": condition,
            "approximateInvokeCount": event.attempts,
        },
        "requestPayload": _json_or_text(event.payload),
    }
    if result is not None:
        response: dict[str, Any] = {"statusCode": 200, "executedVersion": result.executed_version}
        if result.function_error:
            response["functionError"] = result.function_error
        out["responseContext"] = response
        out["responsePayload"] = _json_or_text(result.payload)
    return out


def dead_letter(event: AsyncEvent, condition: str, result: InvokeResult | None) -> NewMessage:
    """The dead-letter queue's message: the original event as its body, Lambda's three attributes."""
    if result is not None:
        code, message = "200", result.payload.decode(errors="replace")
    else:
        code, message = "429", f"The event expired ({condition}) before it could run."
    return NewMessage(
        event.payload.decode(errors="replace"),
        attributes={
            "RequestID": {"DataType": "String", "StringValue": event.request_id},
            "ErrorCode": {"DataType": "Number", "StringValue": code},
            "ErrorMessage": {"DataType": "String", "StringValue": message[:DLQ_ERROR_MAX] or condition},
        },
    )


class Deliveries:
    def __init__(self, queues: QueueStore, async_invoker: AsyncInvoker) -> None:
        self.queues = queues
        self.async_invoker = async_invoker

    async def to_queue(self, name: str, message: NewMessage) -> bool:
        if await self.queues.get_queue(name) is None:
            log.warning("destination queue %s does not exist: the record is dropped", name)
            return False
        await self.queues.enqueue(name, [message])
        return True

    async def send(self, arn: str, body: dict[str, Any]) -> bool:
        """Deliver a destination record to `arn` (a queue or a function); False (logged) when it names nothing."""
        data = json.dumps(body, separators=(",", ":"))
        queue = queue_name(arn)
        if queue is not None:
            return await self.to_queue(queue, NewMessage(data))
        target = function_target(arn)
        if target is None:
            log.warning("destination %s is neither a queue nor a function: the record is dropped", arn)
            return False
        name, _, qualifier = target.partition(":")
        try:
            await self.async_invoker.accept(FunctionRef(name, qualifier or None), data.encode(), str(uuid.uuid4()))
        except NimbusError as exc:
            log.warning("destination function %s refused the record (%s): dropped", arn, exc)
            return False
        return True
