"""The one durable delivery path of EventBridge, EventBridge Scheduler and SNS: a target gets its message at least
once, with retries, then a dead-letter queue.

`submit` stores deliveries in the internal queue `DELIVERY_QUEUE` of the durable queue store and returns once they
are committed (the store group-commits concurrent enqueues), so an accepted PutEvents entry, a Publish or a
schedule's fire survives `kill -9`. A poller owned here reserves them (at most `concurrency` at a time) and delivers
each by its kind:

- ``lambda``: the function's resource policy must allow `lambda:InvokeFunction` to the source's service principal
  for the source ARN (as on AWS; Scheduler deliveries are not checked: AWS checks the schedule's execution role,
  and roles are not modelled yet), then `AsyncInvoker.accept`: the function's own retries, event age and
  destinations apply from there;
- ``sqs``: `QueueService.send`, with the delivery's message attributes (and FIFO group/deduplication ids);
- ``sns`` (and any kind registered with `register_sink`): the registered in-process sink;
- ``http``/``https``: a POST of the payload with the delivery's headers, `http_timeout_s`; a 2xx is delivered.

A failure (an unpermitted function included: it is logged with the add-permission command that would allow it,
at most once a minute per function and source) is retried after `retry_delays[attempt-1]` (the last delay
repeating) while the delivery's retry policy allows (MaximumRetryAttempts retries, within MaximumEventAgeInSeconds
of its submission); then it goes to its dead-letter queue (an SQS message: the payload as body, EventBridge's
ERROR_CODE, ERROR_MESSAGE, EXHAUSTED_RETRY_CONDITION and RETRY_ATTEMPTS attributes plus the owner's, e.g.
RULE_ARN and TARGET_ARN), or is logged and dropped when it has none. A retry is a new message with a delay,
enqueued before the old one is acked: nothing waits in memory, and a crash delivers twice rather than never.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from nimbus.clock import Clock, RealClock
from nimbus.control.event_invoke import function_target
from nimbus.control.policies import Policies
from nimbus.control.validation import FunctionRef
from nimbus.errors import ClientError, NimbusError, QueueDoesNotExist, ResourceNotFound
from nimbus.invoke.async_dispatch import retry_delay
from nimbus.invoke.async_invoke import AsyncInvoker, Gathered
from nimbus.invoke.queue_tasks import cancel_and_wait, finish_or_cancel, run_guarded
from nimbus.queue.contract import NewMessage, QueueStore, Reserved
from nimbus.queue.service import QueueService
from nimbus.sources import delivery_senders

log = logging.getLogger("nimbus.deliveries")

#: the internal queue of deliveries waiting (hidden from the SQS API by its "__" prefix)
DELIVERY_QUEUE = "__nimbus_deliveries"
KINDS = frozenset({"lambda", "sqs", "sns", "http", "https"})
#: Scheduler invokes with the schedule's execution role on AWS, not through the function's policy
SCHEDULER_PRINCIPAL = "scheduler.amazonaws.com"
#: EventBridge's defaults for a target's RetryPolicy
DEFAULT_RETRIES = 185
DEFAULT_MAX_AGE_S = 86400
#: the most characters of an error the dead-letter message's ERROR_MESSAGE keeps
ERROR_MESSAGE_MAX = 1024
RESERVE_MAX = 100


@dataclass(frozen=True)
class Delivery:
    """One message for one target. `target`: a function ARN (optionally qualified), a queue ARN, a topic ARN or a
    URL, by `kind`. `principal`/`source_arn`: who sends it (events.amazonaws.com and the rule ARN, ...).
    `max_attempts`: the target's MaximumRetryAttempts (retries after the first attempt; 0: one attempt only);
    `max_age_s`: its MaximumEventAgeInSeconds, counted from submission. `headers`: http(s) only. `attributes`:
    SQS message attributes in their wire shape. `dlq_attributes`: string attributes the dead-letter message
    carries besides the error (RULE_ARN, TARGET_ARN). `request_id`: the function's request id for a lambda
    target (made at submission when empty)."""

    kind: str
    target: str
    payload: bytes
    principal: str
    source_arn: str
    max_attempts: int = DEFAULT_RETRIES
    max_age_s: int = DEFAULT_MAX_AGE_S
    dead_letter_arn: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    attributes: Mapping[str, Any] = field(default_factory=dict)
    dlq_attributes: Mapping[str, str] = field(default_factory=dict)
    group_id: str | None = None
    dedup_id: str | None = None
    request_id: str = ""


@dataclass(frozen=True)
class Failure:
    code: str  # EventBridge's ERROR_CODE: NO_PERMISSIONS, RESOURCE_NOT_FOUND, SDK_CLIENT_ERROR, ...
    message: str


@dataclass(frozen=True)
class Pending:
    """A delivery as the queue holds it: its id, when it was submitted, attempts failed so far, the last error."""

    delivery: Delivery
    id: str
    submitted_ms: int
    attempts: int = 0
    error: Failure | None = None


def _json_attributes(attributes: Mapping[str, Any]) -> dict[str, Any]:
    """SQS message attributes as JSON holds them: a binary value (bytes) as base64 text under `BinaryValue64`."""
    out: dict[str, Any] = {}
    for name, attr in attributes.items():
        value = attr.get("BinaryValue")
        if isinstance(value, bytes | bytearray):
            attr = {"DataType": attr["DataType"], "BinaryValue64": base64.b64encode(value).decode()}
        out[name] = attr
    return out


def _wire_attributes(held: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, attr in held.items():
        if "BinaryValue64" in attr:
            attr = {"DataType": attr["DataType"], "BinaryValue": base64.b64decode(attr["BinaryValue64"])}
        out[name] = attr
    return out


def encode(p: Pending) -> str:
    d = p.delivery
    out: dict[str, Any] = {
        "id": p.id, "ts": p.submitted_ms, "n": p.attempts, "k": d.kind, "t": d.target, "pr": d.principal,
        "s": d.source_arn, "r": [d.max_attempts, d.max_age_s], "rid": d.request_id,
    }  # fmt: skip
    try:
        out["p"] = d.payload.decode()
    except UnicodeDecodeError:
        out["pb"] = base64.b64encode(d.payload).decode()
    optional = {"dlq": d.dead_letter_arn, "h": dict(d.headers), "a": _json_attributes(d.attributes),
                "da": dict(d.dlq_attributes), "g": d.group_id, "dd": d.dedup_id}  # fmt: skip
    out.update((k, v) for k, v in optional.items() if v)
    if p.error is not None:
        out["e"] = [p.error.code, p.error.message]
    return json.dumps(out, separators=(",", ":"))


def decode(body: str) -> Pending:
    raw = json.loads(body)
    payload = raw["p"].encode() if "p" in raw else base64.b64decode(raw["pb"])
    retries, max_age = raw["r"]
    delivery = Delivery(
        raw["k"], raw["t"], payload, raw["pr"], raw["s"], int(retries), int(max_age), raw.get("dlq"),
        raw.get("h", {}), _wire_attributes(raw.get("a", {})), raw.get("da", {}), raw.get("g"), raw.get("dd"),
        raw["rid"],
    )  # fmt: skip
    error = Failure(*raw["e"]) if "e" in raw else None
    return Pending(delivery, raw["id"], int(raw["ts"]), int(raw["n"]), error)


@dataclass(frozen=True)
class DeliverySettings:
    concurrency: int = 64
    #: seconds before each retry, the last repeating (EventBridge backs off exponentially up to minutes)
    retry_delays: tuple[float, ...] = (1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 300.0)
    #: seconds a reserved delivery stays hidden: longer than any one attempt (an http one is cut at its timeout)
    visibility_s: float = 60.0
    poll_wait_s: float = 1.0
    http_timeout_s: float = 10.0
    #: seconds `stop` lets deliveries in hand finish before cancelling them (they are then put back at once)
    stop_grace_s: float = 5.0
    #: at most one unpermitted-delivery warning per (function, source) in this many seconds
    warn_interval_s: float = 60.0


Sink = Callable[[Delivery], Awaitable[None]]


class Deliveries:
    def __init__(
        self,
        settings: DeliverySettings,
        queues: QueueStore,
        queue_service: QueueService,
        async_invoker: AsyncInvoker,
        policies: Policies,
        clock: Clock | None = None,
    ) -> None:
        self.settings = settings
        self.queues = queues
        self.queue_service = queue_service
        self.async_invoker = async_invoker
        self.policies = policies
        self.clock = clock or RealClock()
        self._sinks: dict[str, Sink] = {}
        self._warned: dict[tuple[str, str | None, str], float] = {}
        self._ack = Gathered(self._ack_many, name="delivery-ack")
        self._running: set[asyncio.Task[None]] = set()
        self._slot = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        #: what became of attempts, for metrics: delivered, retried, dead_lettered, dropped, unpermitted
        self.outcomes: Counter[str] = Counter()

    def register_sink(self, kind: str, sink: Sink) -> None:
        """Deliver `kind` (e.g. "sns": a topic ARN target) through `sink`, which raises a NimbusError to fail."""
        self._sinks[kind] = sink

    # ---- accepting ----
    async def submit(self, items: Sequence[Delivery]) -> list[str]:
        """Store the deliveries durably (all or none) and return their ids once committed."""
        if not items:
            return []
        now_ms = int(self.clock.time() * 1000)
        messages, ids = [], []
        for item in items:
            if item.kind not in KINDS and item.kind not in self._sinks:
                raise ValueError(f"no delivery kind {item.kind!r}")
            for name, value in item.headers.items():
                delivery_senders.check_header(name, value)
            if not item.request_id:
                item = replace(item, request_id=str(uuid.uuid4()))
            ids.append(str(uuid.uuid4()))
            messages.append(NewMessage(encode(Pending(item, ids[-1], now_ms))))
        await self.queues.enqueue(DELIVERY_QUEUE, messages)
        return ids

    # ---- lifecycle ----
    async def start(self) -> asyncio.Task[None]:
        """Make the internal queue (before the first submit) and start delivering."""
        await self.queues.create_queue(DELIVERY_QUEUE, {}, {})
        self._task = asyncio.create_task(self.run(), name="deliveries")
        return self._task

    async def stop(self) -> None:
        await cancel_and_wait(self._task)
        await finish_or_cancel(self._running, self.settings.stop_grace_s)

    async def run(self) -> None:
        s = self.settings
        while True:
            free = s.concurrency - len(self._running)
            if free <= 0:
                self._slot.clear()
                await self._slot.wait()
                continue
            batch = await self.queues.reserve(DELIVERY_QUEUE, min(free, RESERVE_MAX), s.visibility_s, s.poll_wait_s)
            for message in batch:
                task = asyncio.create_task(self._guarded(message), name="delivery")
                self._running.add(task)
                task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._running.discard(task)
        self._slot.set()

    async def _ack_many(self, receipts: list[str]) -> list[bool]:
        return await self.queues.ack_many(DELIVERY_QUEUE, receipts)

    async def _guarded(self, message: Reserved) -> None:
        await run_guarded(self.handle, message, self.queues, DELIVERY_QUEUE, log,
                          "delivery %s failed in the poller; it returns to the queue")  # fmt: skip

    # ---- one delivery ----
    async def handle(self, message: Reserved) -> None:
        """Attempt one delivery and settle it: delivered, queued again for a retry, or dead-lettered/dropped."""
        try:
            pending = decode(message.body)
        except (ValueError, KeyError, TypeError):
            log.error("delivery queue message %s is not a delivery; dropped", message.message_id)
            self.outcomes["dropped"] += 1
            await self._ack(message.receipt)
            return
        item = pending.delivery
        age_s = self.clock.time() - pending.submitted_ms / 1000
        if age_s > item.max_age_s:
            await self._exhausted(pending, "MaximumEventAgeInSeconds")
        else:
            failure = await self.attempt(item)
            if failure is None:
                self.outcomes["delivered"] += 1
            elif pending.attempts + 1 > item.max_attempts:
                await self._exhausted(replace(pending, attempts=pending.attempts + 1, error=failure),
                                      "MaximumRetryAttempts")  # fmt: skip
            else:
                retry = replace(pending, attempts=pending.attempts + 1, error=failure)
                delay = retry_delay(retry.attempts, self.settings.retry_delays)
                await self.queues.enqueue(DELIVERY_QUEUE, [NewMessage(encode(retry), delay_s=delay)])
                self.outcomes["retried"] += 1
        await self._ack(message.receipt)

    async def attempt(self, item: Delivery) -> Failure | None:
        """One attempt at `item`: None when delivered, else what went wrong."""
        try:
            if item.kind in self._sinks:
                await self._sinks[item.kind](item)
            elif item.kind == "lambda":
                return await self._to_function(item)
            elif item.kind == "sqs":
                await self.queue_service.send(item.target, item.payload.decode(errors="replace"), item.attributes,
                                              group_id=item.group_id, dedup_id=item.dedup_id)  # fmt: skip
            elif item.kind in ("http", "https"):
                return await self._to_url(item)
            else:
                return Failure("RESOURCE_NOT_FOUND", f"nothing delivers {item.kind} targets now")
        except (ResourceNotFound, QueueDoesNotExist) as exc:
            return Failure("RESOURCE_NOT_FOUND", exc.message)
        except ClientError as exc:
            return Failure("SDK_CLIENT_ERROR", f"{exc.wire_name}: {exc.message}")
        except NimbusError as exc:
            return Failure("INTERNAL_ERROR", exc.message)
        return None

    async def _to_function(self, item: Delivery) -> Failure | None:
        target = function_target(item.target)
        if target is None:
            return Failure("RESOURCE_NOT_FOUND", f"{item.target} is not a function ARN")
        name, _, qualifier = target.partition(":")
        ref = FunctionRef(name, qualifier or None)
        if item.principal != SCHEDULER_PRINCIPAL and not self.policies.allows(
            ref.name, ref.qualifier, action="lambda:InvokeFunction", principal=item.principal,
            source_arn=item.source_arn,
        ):  # fmt: skip
            self.outcomes["unpermitted"] += 1
            self._warn_unpermitted(ref, item)
            return Failure(
                "NO_PERMISSIONS",
                f"{item.principal} is not allowed to invoke {item.target} for {item.source_arn}: the function's "
                "resource-based policy has no statement allowing it",
            )
        await self.async_invoker.accept(ref, item.payload, item.request_id)
        return None

    def _warn_unpermitted(self, ref: FunctionRef, item: Delivery) -> None:
        key = (ref.name, ref.qualifier, item.source_arn)
        now = self.clock.monotonic()
        if now - self._warned.get(key, float("-inf")) < self.settings.warn_interval_s:
            return
        self._warned[key] = now
        qualifier = f" --qualifier {ref.qualifier}" if ref.qualifier else ""
        log.warning(
            "%s may not invoke function %s for %s; the delivery is refused (and retried). To allow it: aws lambda "
            "add-permission --function-name %s%s --statement-id %s --action lambda:InvokeFunction --principal %s "
            "--source-arn %s",
            item.principal, item.target, item.source_arn, ref.name, qualifier,
            item.principal.split(".")[0] + "-" + uuid.uuid4().hex[:8], item.principal, item.source_arn,
        )  # fmt: skip

    async def _to_url(self, item: Delivery) -> Failure | None:
        if not item.target.lower().startswith(item.kind + "://"):
            return Failure("SDK_CLIENT_ERROR", f"{item.target} is not an {item.kind} URL")
        try:
            status = await delivery_senders.post(item.target, item.payload, item.headers, self.settings.http_timeout_s)
        except TimeoutError:
            return Failure("TIMEOUT", f"{item.target} did not answer within {self.settings.http_timeout_s:g} s")
        except (OSError, ValueError) as exc:
            return Failure("SDK_CLIENT_ERROR", f"{item.target}: {exc}")
        if 200 <= status < 300:
            return None
        return Failure(f"HTTP_{status}", f"{item.target} answered HTTP {status}")

    async def _exhausted(self, pending: Pending, condition: str) -> None:
        """Retries or age are spent: the dead-letter queue, or a warning and the end of it."""
        item, error = pending.delivery, pending.error or Failure("EXPIRED", "the event expired before delivery")
        if item.dead_letter_arn is None:
            log.warning("delivery %s to %s from %s dropped after %d attempts (%s): %s %s", pending.id, item.target,
                        item.source_arn, pending.attempts, condition, error.code, error.message)  # fmt: skip
            self.outcomes["dropped"] += 1
            return
        attributes = {name: {"DataType": "String", "StringValue": value} for name, value in item.dlq_attributes.items()}
        attributes |= {
            "ERROR_CODE": {"DataType": "String", "StringValue": error.code},
            "ERROR_MESSAGE": {"DataType": "String", "StringValue": error.message[:ERROR_MESSAGE_MAX] or error.code},
            "EXHAUSTED_RETRY_CONDITION": {"DataType": "String", "StringValue": condition},
            "RETRY_ATTEMPTS": {"DataType": "Number", "StringValue": str(max(0, pending.attempts - 1))},
        }
        try:
            await self.queue_service.send(item.dead_letter_arn, item.payload.decode(errors="replace"), attributes)
        except ClientError as exc:
            log.warning("delivery %s to %s: its dead-letter queue %s refused it (%s); dropped", pending.id,
                        item.target, item.dead_letter_arn, exc.message)  # fmt: skip
            self.outcomes["dropped"] += 1
            return
        self.outcomes["dead_lettered"] += 1
