"""An SQS event source mapping's poller: receive from a built-in queue, filter, invoke, settle, as Lambda does.

- Receive: through the queue service's ReceiveMessage (`QueueService.receive`), so the queue's redrive policy and
  retention apply exactly as they do for an SQS client: a message received more than `maxReceiveCount` times goes
  to the dead-letter queue instead of to the function. Messages stay hidden for the queue's VisibilityTimeout.
  A batch is up to BatchSize messages, gathered until the batching window ends (no window: one long poll).
- Filter: a message that matches none of the mapping's filters is deleted (Lambda does not keep them).
- Invoke: one synchronous invocation through the door (`Invoker.invoke`, source "sqs") with Lambda's SQS event.
- Settle: success deletes the batch; a function error deletes nothing (the batch reappears after the visibility
  timeout, and the redrive policy ends a poison message in the dead-letter queue); with ReportBatchItemFailures only
  the reported messages stay, and a malformed response fails the whole batch. A throttled or refused invoke makes
  the batch visible again at once and the worker backs off.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from nimbus.clock import Clock, RealClock
from nimbus.control.validation import FunctionRef
from nimbus.errors import NimbusError
from nimbus.invoke.invoker import InvokeOptions, Invoker
from nimbus.protocol import json_text
from nimbus.protocol.filters import matches_record
from nimbus.queue.contract import Reserved
from nimbus.queue.service import QueueService
from nimbus.sources.mapping_rules import MappingRecord
from nimbus.sources.poller import Backoff

log = logging.getLogger("nimbus.sources")

#: one long poll, as Lambda's pollers wait (ReceiveMessage's maximum)
LONG_POLL_S = 20
#: messages per ReceiveMessage call
RECEIVE_MAX = 10
#: a window stops gathering once the bodies reach this many bytes: one more receive (10 x 256 KB at most) and the
#: records around them stay under Lambda's 6 MB invoke payload, as Lambda caps a batch at 6 MB
GATHER_BYTES = 3 << 20


@dataclass(frozen=True)
class Message:
    handle: str  # the receipt handle, as an SQS client would get it (DeleteMessage accepts it)
    reserved: Reserved


def record(message: Message, source_arn: str, region: str, account: str) -> dict[str, Any]:
    """One message as Lambda's SQS event has it (Records[i])."""
    m = message.reserved
    attributes = {
        "ApproximateReceiveCount": str(m.receive_count),
        "SentTimestamp": str(m.sent_at_ms),
        "SenderId": _system_value(m.system, "SenderId") or account,
        "ApproximateFirstReceiveTimestamp": str(m.first_received_ms),
    }
    trace = _system_value(m.system, "AWSTraceHeader")
    if trace:
        attributes["AWSTraceHeader"] = trace
    if m.group_id is not None:
        attributes["SequenceNumber"] = str(m.sequence)
        attributes["MessageGroupId"] = m.group_id
        if m.dedup_id is not None:
            attributes["MessageDeduplicationId"] = m.dedup_id
    return {
        "messageId": m.message_id,
        "receiptHandle": message.handle,
        "body": m.body,
        "attributes": attributes,
        "messageAttributes": message_attributes(m.attributes),
        "md5OfBody": hashlib.md5(m.body.encode(), usedforsecurity=False).hexdigest(),
        "eventSource": "aws:sqs",
        "eventSourceARN": source_arn,
        "awsRegion": region,
    }


def _system_value(system: Mapping[str, Any], name: str) -> str | None:
    value = system.get(name)
    if isinstance(value, Mapping):
        value = value.get("StringValue")
    return value if isinstance(value, str) else None


def message_attributes(stored: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """SQS message attributes in Lambda's lower-camel event shape (binary values stay base64)."""
    out: dict[str, dict[str, Any]] = {}
    for name, attr in stored.items():
        item: dict[str, Any] = {}
        if "StringValue" in attr:
            item["stringValue"] = attr["StringValue"]
        if "BinaryValue" in attr:
            item["binaryValue"] = attr["BinaryValue"]
        item["stringListValues"] = list(attr.get("StringListValues", []))
        item["binaryListValues"] = list(attr.get("BinaryListValues", []))
        item["dataType"] = attr.get("DataType", "String")
        out[name] = item
    return out


def failed_items(payload: bytes, ids: set[str]) -> set[str] | None:
    """The message ids a ReportBatchItemFailures response names, or None when the response fails the whole batch
    (not JSON, not an object, or an itemIdentifier that is missing, empty, or names no message of the batch).
    No response, null, or an empty or null `batchItemFailures` mean a complete success."""
    if not payload.strip():
        return set()
    try:
        doc = json_text.loads(payload)
    except ValueError:
        return None
    if doc is None:
        return set()
    if not isinstance(doc, dict):
        return None
    items = doc.get("batchItemFailures")
    if items is None:
        return set()
    if not isinstance(items, list):
        return None
    out: set[str] = set()
    for item in items:
        ident = item.get("itemIdentifier") if isinstance(item, dict) else None
        if not isinstance(ident, str) or ident not in ids:
            return None
        out.add(ident)
    return out


class SqsSource:
    """The Source (see `poller.py`) of one SQS mapping."""

    def __init__(
        self, mapping: MappingRecord, queues: QueueService, invoker: Invoker, clock: Clock | None = None
    ) -> None:
        self.mapping = mapping
        self.queues = queues
        self.invoker = invoker
        self.clock: Clock = clock or RealClock()
        self.ref = FunctionRef(mapping.function_name, mapping.qualifier)
        self.queue = mapping.queue_name

    @property
    def batch_size(self) -> int:
        return self.mapping.batch_size

    async def backlog(self) -> int:
        return (await self.queues.store.depth(self.queue)).visible

    async def receive(self) -> list[Message]:
        """Up to BatchSize messages: one long poll, then, within the batching window, more until it is full."""
        want = self.mapping.batch_size
        got = await self._receive(min(want, RECEIVE_MAX), LONG_POLL_S)
        window = self.mapping.window_s
        if not got or window <= 0:
            return got
        ends = self.clock.monotonic() + window
        while len(got) < want and sum(len(m.reserved.body.encode()) for m in got) < GATHER_BYTES:
            left = ends - self.clock.monotonic()
            if left <= 0:
                break
            got += await self._receive(min(want - len(got), RECEIVE_MAX), min(LONG_POLL_S, max(1, int(left))))
        return got

    async def _receive(self, count: int, wait_s: int) -> list[Message]:
        pairs = await self.queues.receive(self.queue, max_count=count, wait_s=wait_s)
        return [Message(handle, reserved) for handle, reserved in pairs]

    async def handle(self, batch: Sequence[Message]) -> None:
        mapping = self.mapping
        arn = self.queues.arn(self.queue)
        records = [record(m, arn, self.queues.region, self.queues.account) for m in batch]
        keep: list[tuple[Message, dict[str, Any]]] = []
        dropped: list[Message] = []
        for m, r in zip(batch, records, strict=True):
            if matches_record(mapping.patterns, r, "body"):
                keep.append((m, r))
            else:
                dropped.append(m)
        await self._delete(dropped)
        if not keep:
            return
        payload = json.dumps({"Records": [r for _, r in keep]}, ensure_ascii=False).encode()
        options = InvokeOptions(request_id=str(uuid.uuid4()), source="sqs")
        try:
            result = await self.invoker.invoke(self.ref, payload, options)
        except NimbusError as exc:  # throttled, function gone, payload refused: the batch goes back at once
            await self._release([m for m, _ in keep])
            raise Backoff(f"invoke of {mapping.function_name} refused ({exc.wire_name}: {exc.message})") from exc
        if result.function_error:
            log.info("mapping %s: %s failed a batch of %d (%s); it comes back after the visibility timeout",
                     mapping.uuid, mapping.function_name, len(keep), result.function_error)  # fmt: skip
            return
        done = [m for m, _ in keep]
        if mapping.report_failures:
            failed = failed_items(result.payload, {m.reserved.message_id for m in done})
            if failed is None:
                log.info("mapping %s: malformed batchItemFailures from %s: the whole batch failed",
                         mapping.uuid, mapping.function_name)  # fmt: skip
                return
            done = [m for m in done if m.reserved.message_id not in failed]
        await self._delete(done)

    async def _delete(self, messages: Sequence[Message]) -> None:
        if messages:
            await asyncio.gather(*(self.queues.store.ack(self.queue, m.reserved.receipt) for m in messages))

    async def _release(self, messages: Sequence[Message]) -> None:
        if messages:
            await asyncio.gather(*(self.queues.store.nack(self.queue, m.reserved.receipt) for m in messages))
