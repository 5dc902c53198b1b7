"""The built-in queues as SQS defines them, over any `QueueStore`: names, URLs and ARNs, attributes and their
defaults, redrive to a dead-letter queue, retention, message digests and limits, batch rules, receipt handles.

The store knows messages; this module knows SQS (the checks of a request's parameters are `sqs_requests.py`'s).
The SQS API (`api/sqs_api.py`) maps operations onto it, and the platform's own senders (async destinations and
dead-letter queues, pollers) use `send`, `lookup` and `name_of`. FIFO queues (`.fifo`, FifoQueue=true): the store
orders them per message group and drops repeated deduplication ids within 5 minutes; this module adds SQS's rules
(MessageGroupId required, a deduplication id or ContentBasedDeduplication, no per-message delay, a DLQ of the same
type).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlsplit

from nimbus.clock import Clock, RealClock
from nimbus.errors import (
    InvalidAttributeName,
    InvalidAttributeValue,
    NimbusError,
    QueueDoesNotExist,
    QueueNameExists,
    ResourceNotFound,
    SqsInvalidParameterValue,
    SqsMissingParameter,
)
from nimbus.queue import sqs_attributes as qa
from nimbus.queue import sqs_messages as qm
from nimbus.queue import sqs_requests as qr
from nimbus.queue.contract import NewMessage, QueueRecord, QueueStore, Reserved
from nimbus.queue.sqs_requests import Sent

T = TypeVar("T")
_NO_QUEUE = "The specified queue does not exist."
#: the platform's own queues in the same store (async events): not SQS queues, invisible to the SQS API
INTERNAL_PREFIX = "__nimbus"


@dataclass(frozen=True)
class BatchResult:
    successful: list[dict[str, Any]]
    failed: list[dict[str, Any]]


class QueueService:
    def __init__(self, store: QueueStore, region: str, account: str, clock: Clock | None = None) -> None:
        self.store = store
        self.region = region
        self.account = account
        self.clock: Clock = clock or RealClock()

    # ---- names, URLs, ARNs ----
    def arn(self, name: str) -> str:
        return f"arn:aws:sqs:{self.region}:{self.account}:{name}"

    def url(self, name: str, host: str) -> str:
        """The queue URL on the address the client called (`Host`), as SQS answers on its own endpoint."""
        return f"http://{host}/{self.account}/{name}"

    def name_of(self, ref: str) -> str:
        """The queue name in a queue URL, an SQS ARN of this region and account, or a bare name."""
        if ref.startswith("arn:"):
            parts = ref.split(":")
            if len(parts) != 6 or parts[2] != "sqs" or parts[3] != self.region or parts[4] != self.account:
                raise QueueDoesNotExist(_NO_QUEUE)
            name = parts[5]
        elif "/" in ref:
            path = [p for p in urlsplit(ref).path.split("/") if p]
            if len(path) != 2 or path[0] != self.account:
                raise QueueDoesNotExist(_NO_QUEUE)
            name = path[1]
        else:
            name = ref
        if name.startswith(INTERNAL_PREFIX):
            raise QueueDoesNotExist(_NO_QUEUE)
        return name

    async def lookup(self, ref: str) -> QueueRecord | None:
        """The queue a URL, ARN or name names, or None (for event source mappings and destinations)."""
        try:
            return await self.store.get_queue(self.name_of(ref))
        except QueueDoesNotExist:
            return None

    async def require(self, ref: str) -> QueueRecord:
        record = await self.lookup(ref)
        if record is None:
            raise QueueDoesNotExist(_NO_QUEUE)
        return record

    async def _on(self, call: Awaitable[T]) -> T:
        """Await a store call, translating its unknown-queue error (the queue went away meanwhile)."""
        try:
            return await call
        except ResourceNotFound:
            raise QueueDoesNotExist(_NO_QUEUE) from None

    # ---- queues ----
    async def create_queue(self, name: str, attributes: Mapping[str, str], tags: Mapping[str, str]) -> str:
        """Create the queue (or find the same one: same name and same given attributes); returns its name."""
        fifo = qa.check_queue_name(name, attributes)
        if name.startswith(INTERNAL_PREFIX):
            raise SqsInvalidParameterValue(f"Queue names starting with {INTERNAL_PREFIX} are reserved by Nimbus.")
        given = {k: v for k, v in qa.normalize(attributes, creating=True, fifo=fifo).items() if v != ""}
        await self._check_redrive(name, given, fifo)
        defaults = qa.DEFAULTS | qa.FIFO_DEFAULTS if fifo else qa.DEFAULTS
        record = await self.store.create_queue(name, defaults | given, dict(tags))
        if any(record.attributes.get(k, defaults.get(k)) != v for k, v in given.items()):
            raise QueueNameExists(
                f"A queue already exists with the same name and a different value for attribute(s) "
                f"{', '.join(sorted(k for k in given if record.attributes.get(k) != given[k]))}"
            )
        return name

    async def _check_redrive(self, name: str, attributes: Mapping[str, str], fifo: bool) -> None:
        redrive = qa.redrive_of(attributes)
        if redrive is None:
            return
        target = await self.lookup(redrive.target_arn)
        if target is not None and qa.is_fifo(target.attributes) != fifo:
            raise InvalidAttributeValue(
                f"Value {attributes['RedrivePolicy']} for parameter RedrivePolicy is invalid. "
                "Reason: Dead-letter queue must be same type of queue as the source."
            )
        if target is None or target.name == name:
            raise InvalidAttributeValue(
                f"Value {attributes['RedrivePolicy']} for parameter RedrivePolicy is "
                "invalid. Reason: Dead letter target does not exist."
            )

    async def list_queues(
        self, prefix: str, max_results: int | None, token: str | None
    ) -> tuple[list[str], str | None]:
        if max_results is not None and not 1 <= max_results <= 1000:
            raise SqsInvalidParameterValue("Value for parameter MaxResults is invalid. Reason: must be 1 to 1000.")
        names = [r.name for r in await self.store.list_queues(prefix) if not r.name.startswith(INTERNAL_PREFIX)]
        if token:
            names = [n for n in names if n > token]
        if max_results is None:
            return names[:1000], None
        page = names[:max_results]
        return page, page[-1] if len(names) > max_results else None

    async def dead_letter_sources(self, ref: str) -> list[str]:
        """The queues whose redrive policy names this one (ListDeadLetterSourceQueues)."""
        arn = self.arn((await self.require(ref)).name)
        return [r.name for r in await self.store.list_queues() if not r.name.startswith(INTERNAL_PREFIX)
                and (p := qa.redrive_of(r.attributes)) is not None and p.target_arn == arn]  # fmt: skip

    async def delete_queue(self, ref: str) -> None:
        if not await self.store.delete_queue(self.name_of(ref)):
            raise QueueDoesNotExist(_NO_QUEUE)

    async def get_attributes(self, ref: str, names: Sequence[str]) -> dict[str, str]:
        record = await self.require(ref)
        wanted = set(qa.READABLE) if "All" in names else set(names)
        unknown = wanted - qa.READABLE - qa.FIFO_ONLY
        if unknown:
            raise InvalidAttributeName(f"Unknown Attribute {sorted(unknown)[0]}.")
        out = {k: v for k, v in record.attributes.items() if k in wanted and v != ""}
        if wanted & {
            "ApproximateNumberOfMessages",
            "ApproximateNumberOfMessagesNotVisible",
            "ApproximateNumberOfMessagesDelayed",
        }:
            depth = await self._on(self.store.depth(record.name))
            out["ApproximateNumberOfMessages"] = str(depth.visible)
            out["ApproximateNumberOfMessagesNotVisible"] = str(depth.in_flight)
            out["ApproximateNumberOfMessagesDelayed"] = str(depth.delayed)
        out["QueueArn"] = self.arn(record.name)
        out["CreatedTimestamp"] = str(record.created_ms // 1000)
        out["LastModifiedTimestamp"] = str(record.modified_ms // 1000)
        return {k: v for k, v in out.items() if k in wanted}

    async def set_attributes(self, ref: str, attributes: Mapping[str, str]) -> None:
        record = await self.require(ref)
        fifo = qa.is_fifo(record.attributes)
        given = qa.normalize(attributes, creating=False, fifo=fifo)
        await self._check_redrive(record.name, given, fifo)
        merged = {k: v for k, v in (dict(record.attributes) | given).items() if v != ""}
        if await self.store.update_queue(record.name, attributes=merged) is None:
            raise QueueDoesNotExist(_NO_QUEUE)

    async def tag(self, ref: str, tags: Mapping[str, str]) -> None:
        record = await self.require(ref)
        if len(dict(record.tags) | dict(tags)) > 50:
            raise SqsInvalidParameterValue("Too many tags added for queue: a queue has at most 50 tags.")
        await self.store.update_queue(record.name, tags=dict(record.tags) | dict(tags))

    async def untag(self, ref: str, keys: Sequence[str]) -> None:
        record = await self.require(ref)
        await self.store.update_queue(record.name, tags={k: v for k, v in record.tags.items() if k not in keys})

    async def tags(self, ref: str) -> dict[str, str]:
        return dict((await self.require(ref)).tags)

    async def purge(self, ref: str) -> None:
        record = await self.require(ref)
        await self._on(self.store.purge(record.name))

    # ---- messages ----
    async def send(
        self,
        ref: str,
        body: str,
        attributes: Mapping[str, Mapping[str, Any]] | None = None,
        *,
        delay_s: int | None = None,
        system: Mapping[str, Mapping[str, Any]] | None = None,
        group_id: str | None = None,
        dedup_id: str | None = None,
    ) -> Sent:
        """Send one message to the queue a URL, ARN or name names (also the door for destinations and DLQs)."""
        record = await self.require(ref)
        new, sent = qr.new_message(record.attributes, body, attributes or {}, delay_s, system or {}, group_id, dedup_id)
        ids = await self._on(self.store.enqueue(record.name, [new]))
        return Sent(ids[0], sent.md5_of_body, sent.md5_of_attributes, sent.md5_of_system)

    async def send_batch(self, ref: str, entries: Sequence[Mapping[str, Any]]) -> BatchResult:
        record = await self.require(ref)
        qm.check_batch(entries)
        qr.check_batch_size(entries)
        ok: list[tuple[str, NewMessage, Sent]] = []
        failed: list[dict[str, Any]] = []
        for entry in entries:
            try:
                new, sent = qr.new_message(
                    record.attributes,
                    str(entry.get("MessageBody", "")),
                    entry.get("MessageAttributes") or {},
                    entry.get("DelaySeconds"),
                    entry.get("MessageSystemAttributes") or {},
                    entry.get("MessageGroupId"),
                    entry.get("MessageDeduplicationId"),
                )
                ok.append((entry["Id"], new, sent))
            except NimbusError as exc:
                failed.append(_failure(entry["Id"], exc))
        ids = (await self._on(self.store.enqueue(record.name, [n for _, n, _ in ok]))) if ok else []
        successful = [
            {"Id": entry_id, "MessageId": mid, "MD5OfMessageBody": s.md5_of_body,
             "MD5OfMessageAttributes": s.md5_of_attributes, "MD5OfMessageSystemAttributes": s.md5_of_system}
            for (entry_id, _, s), mid in zip(ok, ids, strict=True)
        ]  # fmt: skip
        return BatchResult(successful, failed)

    async def receive(
        self, ref: str, *, max_count: int = 1, visibility_s: int | None = None, wait_s: int | None = None
    ) -> list[tuple[str, Reserved]]:
        """Reserve up to `max_count` messages: returns (receipt handle, message) pairs. Messages past their
        redrive policy's maxReceiveCount move to the dead-letter queue instead; expired ones are deleted."""
        record = await self.require(ref)
        visibility_s, wait_s = qr.receive_parameters(record.attributes, max_count, visibility_s, wait_s)
        redrive = qa.redrive_of(record.attributes)
        retention_ms = int(record.attributes.get("MessageRetentionPeriod", "345600")) * 1000
        deadline = self.clock.monotonic() + wait_s
        while True:
            remaining = max(0.0, deadline - self.clock.monotonic())
            got = await self._on(self.store.reserve(record.name, max_count, visibility_s, remaining))
            out = []
            for msg in got:
                if msg.sent_at_ms + retention_ms <= self.clock.time() * 1000:
                    await self.store.ack(record.name, msg.receipt)
                    continue
                if (
                    redrive is not None
                    and msg.receive_count > redrive.max_receive_count
                    and await self._dead_letter(record.name, msg, redrive.target_arn)
                ):
                    continue
                out.append((qm.encode_receipt(record.name, msg.receipt), msg))
            # every message left out is gone from the queue (expired or moved): those behind it may be visible
            if out or not got:
                return out

    async def _dead_letter(self, queue: str, msg: Reserved, target_arn: str) -> bool:
        """Move the message to the dead-letter queue; False when that queue is gone (the message is handed out,
        as SQS leaves it in the source queue)."""
        target = await self.lookup(target_arn)
        if target is None:
            return False
        return await self.store.dead_letter(queue, msg.receipt, target.name)

    async def delete_message(self, ref: str, handle: str) -> None:
        """Delete by receipt handle; a stale handle of this queue is accepted and changes nothing, as in SQS."""
        await self._delete((await self.require(ref)).name, handle)

    async def change_visibility(self, ref: str, handle: str, timeout_s: int) -> None:
        await self._change((await self.require(ref)).name, handle, timeout_s)

    async def delete_batch(self, ref: str, entries: Sequence[Mapping[str, Any]]) -> BatchResult:
        return await self._batch(ref, entries, lambda q, e: self._delete(q, str(e.get("ReceiptHandle", ""))))

    async def change_visibility_batch(self, ref: str, entries: Sequence[Mapping[str, Any]]) -> BatchResult:
        return await self._batch(
            ref, entries, lambda q, e: self._change(q, str(e.get("ReceiptHandle", "")), e.get("VisibilityTimeout"))
        )

    async def _delete(self, queue: str, handle: str) -> None:
        receipt = qm.decode_receipt(queue, handle)
        await self._on(self.store.ack(queue, receipt))

    async def _change(self, queue: str, handle: str, timeout_s: int | None) -> None:
        receipt = qm.decode_receipt(queue, handle)
        if timeout_s is None:
            raise SqsMissingParameter("The request must contain the parameter VisibilityTimeout.")
        if not 0 <= timeout_s <= qr.MAX_VISIBILITY_S:
            raise SqsInvalidParameterValue(
                f"Value {timeout_s} for parameter VisibilityTimeout is invalid. "
                f"Reason: Must be between 0 and {qr.MAX_VISIBILITY_S}."
            )
        if not await self._on(self.store.nack(queue, receipt, float(timeout_s))):
            raise SqsInvalidParameterValue(
                f"Value {handle} for parameter ReceiptHandle is invalid. Reason: Message "
                "does not exist or is not available for visibility timeout change."
            )

    async def _batch(
        self, ref: str, entries: Sequence[Mapping[str, Any]], each: Callable[[str, Mapping[str, Any]], Awaitable[None]]
    ) -> BatchResult:
        """The batch rules, then `each(queue, entry)` per entry, its failures reported per entry."""
        record = await self.require(ref)
        qm.check_batch(entries)
        ok, failed = [], []
        results = await asyncio.gather(*(each(record.name, e) for e in entries), return_exceptions=True)
        for entry, result in zip(entries, results, strict=True):
            if isinstance(result, NimbusError):
                failed.append(_failure(entry["Id"], result))
            elif isinstance(result, BaseException):
                raise result
            else:
                ok.append({"Id": entry["Id"]})
        return BatchResult(ok, failed)


def _failure(entry_id: str, exc: NimbusError) -> dict[str, Any]:
    return {
        "Id": entry_id,
        "SenderFault": exc.status < 500,
        "Code": exc.query_code or exc.wire_name,
        "Message": exc.message,
    }
