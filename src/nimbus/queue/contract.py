"""The durable queue contract: what every queue backend does, and nothing more.

Async invocations, the built-in SQS-compatible queues, retries and destination deliveries all sit on this one
contract, so a second backend (NATS JetStream for clusters: a stream per queue, AckWait as the visibility
timeout, MaxDeliver as maxReceiveCount) is a new class, not a new code path. The contract tests in
`tests/queue/` run against every backend.

Semantics, in SQS's words:
- `enqueue` returns only once the messages are durable (they survive `kill -9`); a message becomes visible
  after its delay.
- `reserve` hands out up to `max_count` visible messages, oldest first, each under a fresh receipt handle, and
  hides them until the visibility deadline; each reservation adds one to the message's receive count. With
  `wait_s` it waits (long polling) until a message is visible, the wait ends, or the queue is deleted.
- `ack` deletes a reserved message; `nack` makes it visible again after a delay (ChangeMessageVisibility);
  `dead_letter` moves it, in one transaction, to another queue (its body, attributes and receive count kept).
  All three take the receipt handle of the *latest* reservation; a stale or unknown handle answers False and
  changes nothing.
- A message that nobody acks becomes visible again at its deadline: at-least-once delivery.
- Queue records (name, attributes as SQS names them, tags) live in the backend too, so that a queue and its
  messages are created and deleted together.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True)
class NewMessage:
    """A message to enqueue. `attributes` are SQS message attributes in their wire shape
    ({"Name": {"DataType": "String", "StringValue": "..."}}); `system` are system attributes (AWSTraceHeader)."""

    body: str
    attributes: Mapping[str, Any] = field(default_factory=dict)
    system: Mapping[str, Any] = field(default_factory=dict)
    delay_s: float = 0.0
    group_id: str | None = None  # FIFO queues
    dedup_id: str | None = None  # FIFO queues


@dataclass(frozen=True)
class Reserved:
    """A message handed out by `reserve`: its identity, content, and the receipt of this reservation."""

    message_id: str
    receipt: str
    body: str
    attributes: Mapping[str, Any]
    system: Mapping[str, Any]
    sent_at_ms: int  # when it was first enqueued (SentTimestamp; kept through dead-lettering)
    first_received_ms: int  # ApproximateFirstReceiveTimestamp
    receive_count: int  # ApproximateReceiveCount, this reservation included
    group_id: str | None = None
    dedup_id: str | None = None
    sequence: int = 0  # enqueue order within the queue (FIFO SequenceNumber)


@dataclass(frozen=True)
class Depth:
    visible: int  # ApproximateNumberOfMessages
    in_flight: int  # ApproximateNumberOfMessagesNotVisible
    delayed: int  # ApproximateNumberOfMessagesDelayed


@dataclass(frozen=True)
class QueueRecord:
    name: str
    attributes: Mapping[str, str]  # SQS attribute names and string values, as set (defaults filled by the service)
    tags: Mapping[str, str]
    created_ms: int
    modified_ms: int


class QueueStore(Protocol):
    """A durable queue backend. Every method is safe to call concurrently from the event loop."""

    # -- queue records --
    async def create_queue(self, name: str, attributes: Mapping[str, str], tags: Mapping[str, str]) -> QueueRecord:
        """Create the queue, or return the existing record unchanged if it exists (the caller compares)."""
        ...

    async def get_queue(self, name: str) -> QueueRecord | None: ...

    async def list_queues(self, prefix: str = "") -> list[QueueRecord]:
        """Every queue whose name starts with `prefix`, by name."""
        ...

    async def update_queue(
        self, name: str, *, attributes: Mapping[str, str] | None = None, tags: Mapping[str, str] | None = None
    ) -> QueueRecord | None:
        """Replace the attributes and/or tags wholesale; None when the queue does not exist."""
        ...

    async def delete_queue(self, name: str) -> bool:
        """Delete the queue and every message in it; wakes its waiting `reserve` calls. False if it did not exist."""
        ...

    # -- messages --
    async def enqueue(self, queue: str, messages: Sequence[NewMessage]) -> list[str]:
        """Store the messages durably (all or none) and return their message ids, in order."""
        ...

    async def reserve(self, queue: str, max_count: int, visibility_s: float, wait_s: float = 0.0) -> list[Reserved]:
        ...

    async def ack(self, queue: str, receipt: str) -> bool: ...

    async def ack_many(self, queue: str, receipts: Sequence[str]) -> list[bool]:
        """`ack` of each receipt, in one round trip and one transaction (a busy consumer acks a batch at once);
        the answers in order."""
        ...

    async def nack(self, queue: str, receipt: str, delay_s: float = 0.0) -> bool: ...

    async def dead_letter(self, queue: str, receipt: str, target: str) -> bool: ...

    async def depth(self, queue: str) -> Depth: ...

    async def purge(self, queue: str) -> None:
        """Delete every message of the queue (PurgeQueue)."""
        ...

    async def close(self) -> None: ...
