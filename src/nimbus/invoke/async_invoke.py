"""Accepting asynchronous invocations (InvocationType Event): check, then store the event durably, then answer.

An accepted event is one message in the internal queue `ASYNC_QUEUE` of the durable queue store; `Invoke` answers
202 only after `enqueue` returned, so an acknowledged event survives `kill -9`. The message body is the event's
envelope (`AsyncEvent`): the function and qualifier it was invoked through, its request id (kept across every retry,
as Lambda keeps `context.aws_request_id`), when it was accepted (its age is measured from there), how many attempts
it has had, and the payload. A retry after a function error is a new message with the count raised, enqueued with
the retry delay before the old one is acked, so the count survives a crash; a throttle is a nack with a delay, which
costs no attempt. The dispatcher (`async_dispatch`) runs them.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, replace

from nimbus.clock import Clock, RealClock
from nimbus.control.validation import FunctionRef
from nimbus.errors import RequestTooLarge
from nimbus.invoke.invoker import Invoker
from nimbus.invoke.payload import check_payload
from nimbus.queue.contract import NewMessage, QueueStore

#: the internal queue holding accepted events (not a user's queue: the SQS API hides names starting with "__")
ASYNC_QUEUE = "__nimbus_async"
#: Lambda's async payload limit: 1 MB (256 KB until 2025)
ASYNC_PAYLOAD_MAX = 1_048_576


@dataclass(frozen=True)
class AsyncEvent:
    function: str
    qualifier: str | None
    request_id: str
    accepted_ms: int
    attempts: int  # attempts that ended in a function error so far (throttles do not count)
    payload: bytes


def encode_event(event: AsyncEvent) -> str:
    """The queue message body of `event` (JSON; the payload kept as text when it is UTF-8, else Base64)."""
    out: dict[str, object] = {
        "fn": event.function, "q": event.qualifier, "rid": event.request_id, "t": event.accepted_ms,
        "n": event.attempts,
    }  # fmt: skip
    try:
        out["p"] = event.payload.decode()
    except UnicodeDecodeError:
        out["pb"] = base64.b64encode(event.payload).decode()
    return json.dumps(out, separators=(",", ":"))


def decode_event(body: str) -> AsyncEvent:
    raw = json.loads(body)
    payload = raw["p"].encode() if "p" in raw else base64.b64decode(raw["pb"])
    return AsyncEvent(raw["fn"], raw["q"], raw["rid"], int(raw["t"]), int(raw["n"]), payload)


def next_attempt(event: AsyncEvent) -> AsyncEvent:
    return replace(event, attempts=event.attempts + 1)


class AsyncInvoker:
    """The door's asynchronous half: `accept` an event (Invoke with InvocationType Event, and function destinations)
    and `requeue` one for its next attempt."""

    def __init__(self, invoker: Invoker, queues: QueueStore, clock: Clock | None = None) -> None:
        self.invoker = invoker
        self.queues = queues
        self.clock = clock or RealClock()

    async def start(self) -> None:
        await self.queues.create_queue(ASYNC_QUEUE, {}, {})

    async def accept(self, ref: FunctionRef, payload: bytes, request_id: str) -> None:
        """Check the event as Lambda does (the function, version or alias exists: ResourceNotFound at once; the
        payload fits 1 MB and is JSON) and return once it is durably queued."""
        self.invoker.resolve(ref)
        if len(payload) > ASYNC_PAYLOAD_MAX:
            raise RequestTooLarge(
                f"Request must be smaller than {ASYNC_PAYLOAD_MAX} bytes for the InvokeFunction operation"
            )
        payload = check_payload(payload)
        event = AsyncEvent(ref.name, ref.qualifier, request_id, int(self.clock.time() * 1000), 0, payload)
        await self.queues.enqueue(ASYNC_QUEUE, [NewMessage(encode_event(event))])

    async def requeue(self, event: AsyncEvent, delay_s: float) -> None:
        """Queue `event` again (its attempt count already raised), visible after `delay_s`."""
        await self.queues.enqueue(ASYNC_QUEUE, [NewMessage(encode_event(event), delay_s=delay_s)])
