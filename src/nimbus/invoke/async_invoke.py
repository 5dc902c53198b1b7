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

import asyncio
import base64
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Generic, TypeVar

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
#: the most events one gathered enqueue (or ack) takes, and the most payload bytes one enqueue gathers
GATHER_MAX = 256
GATHER_MAX_BYTES = 8 * 1_048_576

T = TypeVar("T")
R = TypeVar("R")


class Gathered(Generic[T, R]):
    """Concurrent calls of one store operation, gathered into one call: the first caller starts a flush; callers
    arriving while it runs wait for the next flush, which takes them all (up to `max_items`, `max_bytes` by
    `size`). Under load a store round trip (a future, a thread hop, a statement or a savepoint on the store's
    thread) is paid once per batch instead of once per event; alone, a call waits no longer than before. A failed
    flush fails every caller in it. The flushing task is owned here and ends when nothing is left."""

    def __init__(
        self,
        flush: Callable[[list[T]], Awaitable[list[R]]],
        *,
        name: str,
        max_items: int = GATHER_MAX,
        size: Callable[[T], int] | None = None,
        max_bytes: int = GATHER_MAX_BYTES,
    ) -> None:
        self._flush = flush
        self._name = name
        self._max_items = max_items
        self._size = size
        self._max_bytes = max_bytes
        self._pending: list[tuple[T, asyncio.Future[R]]] = []
        self._task: asyncio.Task[None] | None = None

    async def __call__(self, item: T) -> R:
        fut: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._pending.append((item, fut))
        if self._task is None:
            self._task = asyncio.create_task(self._drain(), name=self._name)
        return await fut

    def _take(self) -> list[tuple[T, asyncio.Future[R]]]:
        count, total = 0, 0
        for item, _ in self._pending:
            if count >= self._max_items:
                break
            if self._size is not None:
                total += self._size(item)
                if count and total > self._max_bytes:
                    break
            count += 1
        batch, self._pending = self._pending[:count], self._pending[count:]
        return batch

    async def _drain(self) -> None:
        try:
            while self._pending:
                batch = self._take()
                try:
                    results = await self._flush([item for item, _ in batch])
                except BaseException as exc:
                    for _, fut in batch:
                        if fut.done():
                            continue
                        if isinstance(exc, Exception):
                            fut.set_exception(exc)
                        else:
                            fut.cancel()
                    if not isinstance(exc, Exception):
                        raise
                    continue
                for (_, fut), result in zip(batch, results, strict=True):
                    if not fut.done():
                        fut.set_result(result)
        finally:
            self._task = None
            for _, fut in self._pending:  # only when cancelled: nobody is left to flush them
                fut.cancel()
            self._pending = []


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
        self._enqueue = Gathered(self._enqueue_many, name="async-accept", size=lambda m: len(m.body))

    async def _enqueue_many(self, messages: list[NewMessage]) -> list[str]:
        return await self.queues.enqueue(ASYNC_QUEUE, messages)

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
        await self._enqueue(NewMessage(encode_event(event)))  # gathered with the other accepts waiting

    async def requeue(self, event: AsyncEvent, delay_s: float) -> None:
        """Queue `event` again (its attempt count already raised), visible after `delay_s`."""
        await self.queues.enqueue(ASYNC_QUEUE, [NewMessage(encode_event(event), delay_s=delay_s)])
