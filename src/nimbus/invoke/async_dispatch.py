"""The asynchronous dispatcher: reserves accepted events from the durable queue and runs each through the door.

What happens to one event (Lambda's rules, with the delays a setting so tests run fast):
- older than its MaximumEventAgeInSeconds -> the failure destination and the dead-letter queue, condition
  EventAgeExceeded;
- throttled (429: reserved concurrency, the account limit, the memory budget) or a system error -> back to the
  queue (a nack) with a backoff doubling from `throttle_delay_s` up to `throttle_max_delay_s`; never dropped, no
  attempt counted;
- a function error (an Unhandled result, a timeout included) -> one attempt counted; retried after
  `retry_delays[attempt-1]` while attempts <= MaximumRetryAttempts, else RetriesExhausted to the failure
  destination and the dead-letter queue;
- success -> the success destination.
Every outcome is delivered before the event's message is acked, and nothing waits in memory: a retry is a message
with a delay, so `kill -9` loses no timer. An event in flight when the server dies is run again once its visibility
(`visibility_s`, renewed while a function that may run longer is running) lapses: at least once, possibly twice.

Async dispatch takes at most `concurrency` invocations at a time, its share of the account's, so a flood of events
never takes every slot synchronous callers need.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter, deque
from dataclasses import dataclass

from nimbus.clock import Clock, RealClock
from nimbus.control.event_invoke import DEFAULT_MAX_AGE, DEFAULT_RETRIES, EventInvokeConfigs
from nimbus.control.registry import Registry
from nimbus.control.validation import FunctionRef
from nimbus.errors import ClientError, NimbusError, ResourceNotFound, TooManyRequests
from nimbus.invoke.async_invoke import ASYNC_QUEUE, AsyncEvent, AsyncInvoker, Gathered, decode_event, next_attempt
from nimbus.invoke.destinations import EVENT_AGE_EXCEEDED, RETRIES_EXHAUSTED, SUCCESS, Deliveries, dead_letter, record
from nimbus.invoke.invoker import InvokeOptions, Invoker
from nimbus.invoke.queue_tasks import cancel_and_wait, finish_or_cancel, run_guarded
from nimbus.protocol.records import InvokeResult
from nimbus.queue.contract import QueueStore, Reserved

log = logging.getLogger("nimbus.async")

#: the most events one reservation takes
RESERVE_MAX = 100
#: seconds beyond a function's timeout an event stays hidden without renewal (start-up, the result's way back)
LEASE_MARGIN_S = 10.0


@dataclass(frozen=True)
class DispatchSettings:
    concurrency: int = 500
    retry_delays: tuple[float, ...] = (60.0, 120.0)
    #: seconds a reserved event stays hidden; renewed every third of it while a longer function runs
    visibility_s: float = 60.0
    throttle_delay_s: float = 1.0
    throttle_max_delay_s: float = 300.0
    poll_wait_s: float = 1.0
    #: seconds `stop` lets running events finish before it cancels them (they are then put back at once)
    stop_grace_s: float = 5.0


def throttle_backoff(receive_count: int, base: float, cap: float) -> float:
    """Lambda's backoff for throttled events: doubling from `base`, at most `cap`."""
    return float(min(cap, base * 2.0 ** min(max(receive_count - 1, 0), 30)))


def retry_delay(attempts: int, delays: tuple[float, ...]) -> float:
    """The wait before attempt `attempts + 1` (Lambda's: about 1 min, then 2 min)."""
    return delays[min(attempts, len(delays)) - 1] if delays else 0.0


class Dispatcher:
    def __init__(
        self,
        settings: DispatchSettings,
        invoker: Invoker,
        async_invoker: AsyncInvoker,
        configs: EventInvokeConfigs,
        registry: Registry,
        queues: QueueStore,
        clock: Clock | None = None,
    ) -> None:
        self.settings = settings
        self.invoker = invoker
        self.async_invoker = async_invoker
        self.configs = configs
        self.registry = registry
        self.queues = queues
        self.clock = clock or RealClock()
        self.deliveries = Deliveries(queues, async_invoker)
        #: acks of events finishing together go to the store as one ack_many
        self._ack = Gathered(self._ack_many, name="async-ack")
        self._running: set[asyncio.Task[None]] = set()
        #: events whose invocation is over, waiting only for their ack: they no longer hold a slot
        self._acking: set[asyncio.Task[None]] = set()
        #: reserved ahead (at most `concurrency` of them), with the monotonic time each was reserved
        self._ready: deque[tuple[Reserved, float]] = deque()
        self._slot = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        #: outcomes, for metrics: success, retried, throttled, exhausted, expired, dropped
        self.outcomes: Counter[str] = Counter()

    # ---- lifecycle ----
    def start(self) -> asyncio.Task[None]:
        self._task = asyncio.create_task(self.run(), name="async-dispatcher")
        return self._task

    async def stop(self) -> None:
        """Stop reserving; let running events finish for `stop_grace_s`, then cancel them (each puts its event
        back at once)."""
        await cancel_and_wait(self._task)
        while self._ready:  # reserved ahead, never started: back to the queue at once
            message, _ = self._ready.popleft()
            with contextlib.suppress(Exception):
                await self.queues.nack(ASYNC_QUEUE, message.receipt, 0.0)
        await finish_or_cancel(self._running | self._acking, self.settings.stop_grace_s)

    async def run(self) -> None:
        """Start reserved events while there are free slots; reserve when none is left in hand, up to the free slots
        and one concurrency's worth ahead (so a steady stream costs one reservation per `concurrency` events, not
        one per event). An event held ahead for more than half its visibility goes back rather than run: its
        reservation may lapse, and a second copy may be in hand."""
        s = self.settings
        while True:
            free = s.concurrency - len(self._running)
            if free <= 0:
                self._slot.clear()
                await self._slot.wait()
                continue
            if self._ready:
                message, reserved_at = self._ready.popleft()
                if self.clock.monotonic() - reserved_at > s.visibility_s / 2:
                    await self.queues.nack(ASYNC_QUEUE, message.receipt, 0.0)
                    continue
                task = asyncio.create_task(self._guarded(message), name="async-event")
                self._running.add(task)
                task.add_done_callback(self._finished)
                continue
            want = min(free + s.concurrency, RESERVE_MAX)
            batch = await self.queues.reserve(ASYNC_QUEUE, want, s.visibility_s, wait_s=s.poll_wait_s)
            now = self.clock.monotonic()
            self._ready.extend((message, now) for message in batch)

    async def _ack_many(self, receipts: list[str]) -> list[bool]:
        return await self.queues.ack_many(ASYNC_QUEUE, receipts)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._running.discard(task)
        self._acking.discard(task)
        self._slot.set()

    async def _done(self, receipt: str) -> None:
        """Ack an event whose outcome is delivered. Its slot is free from here: the ack waits for the store's
        next commit, and a slot held through it would idle while the function could run the next event."""
        task = asyncio.current_task()
        if task in self._running:
            self._running.discard(task)
            self._acking.add(task)
            self._slot.set()
        await self._ack(receipt)

    async def _guarded(self, message: Reserved) -> None:
        """One event, whatever happens: a failure of ours is logged and the event comes back at its visibility."""
        await run_guarded(self.handle, message, self.queues, ASYNC_QUEUE, log,
                          "async event %s failed in the dispatcher; it returns to the queue")  # fmt: skip

    # ---- one event ----
    async def handle(self, message: Reserved) -> None:
        try:
            event = decode_event(message.body)
        except (ValueError, KeyError, TypeError):  # not an envelope of ours: nothing could ever run it
            log.error("async queue message %s is not an event envelope; dropped", message.message_id)
            self.outcomes["dropped"] += 1
            await self._done(message.receipt)
            return
        config = self.configs.effective(event.function, event.qualifier)
        max_age = config.max_age_s if config else DEFAULT_MAX_AGE
        max_retries = config.max_retries if config else DEFAULT_RETRIES
        now = self.clock.time()
        if now - event.accepted_ms / 1000 > max_age:
            await self._failed(event, EVENT_AGE_EXCEEDED, None)
            self.outcomes["expired"] += 1
            await self._done(message.receipt)
            return
        ref = FunctionRef(event.function, event.qualifier)
        keeper = None
        try:
            if self.invoker.resolve(ref).timeout_s + LEASE_MARGIN_S > self.settings.visibility_s:
                keeper = asyncio.create_task(self._keep_hidden(message.receipt), name="async-lease")
            result = await self.invoker.invoke(ref, event.payload, InvokeOptions(event.request_id, source="async"))
        except ResourceNotFound:  # the function, version or alias went away since the event was accepted
            log.warning("async event %s: %s no longer exists, event dropped", event.request_id, self._arn(event))
            self.outcomes["dropped"] += 1
            await self._done(message.receipt)
            return
        except ClientError as exc:
            if not isinstance(exc, TooManyRequests):
                raise
            self.outcomes["throttled"] += 1
            await self._back_off(message)
            return
        except NimbusError:  # a system error (5xx): retried like a throttle, costing no attempt
            log.exception("async event %s: system error, retried", event.request_id)
            await self._back_off(message)
            return
        finally:
            if keeper is not None:
                keeper.cancel()
        event = next_attempt(event)
        if result.function_error is None:
            if config is not None and config.on_success:
                await self.deliveries.send(config.on_success, self._record(event, SUCCESS, result))
            self.outcomes["success"] += 1
        elif event.attempts <= max_retries:
            await self.async_invoker.requeue(event, retry_delay(event.attempts, self.settings.retry_delays))
            self.outcomes["retried"] += 1
        else:
            await self._failed(event, RETRIES_EXHAUSTED, result)
            self.outcomes["exhausted"] += 1
        await self._done(message.receipt)

    async def _keep_hidden(self, receipt: str) -> None:
        """Renew the reservation of an event whose function may outlive it (ChangeMessageVisibility)."""
        every = self.settings.visibility_s / 3
        while True:
            await self.clock.sleep(every)
            await self.queues.nack(ASYNC_QUEUE, receipt, self.settings.visibility_s)

    async def _back_off(self, message: Reserved) -> None:
        s = self.settings
        delay = throttle_backoff(message.receive_count, s.throttle_delay_s, s.throttle_max_delay_s)
        await self.queues.nack(ASYNC_QUEUE, message.receipt, delay)

    def _arn(self, event: AsyncEvent) -> str:
        return f"{self.registry.function_arn(event.function)}:{event.qualifier or '$LATEST'}"

    def _record(self, event: AsyncEvent, condition: str, result: InvokeResult | None) -> dict[str, object]:
        return record(event, self._arn(event), condition, result, self.clock.time())

    async def _failed(self, event: AsyncEvent, condition: str, result: InvokeResult | None) -> None:
        """The failure destination and the function's dead-letter queue (both, when both are set, as Lambda)."""
        config = self.configs.effective(event.function, event.qualifier)
        if config is not None and config.on_failure:
            await self.deliveries.send(config.on_failure, self._record(event, condition, result))
        target = self._dead_letter_target(event, result)
        if target:
            name = target.rsplit(":", 1)[-1]
            await self.deliveries.to_queue(name, dead_letter(event, condition, result))

    def _dead_letter_target(self, event: AsyncEvent, result: InvokeResult | None) -> str | None:
        """The DeadLetterConfig of the version that ran (or that the qualifier names now)."""
        try:
            rec, version = self.registry.resolve(event.function, event.qualifier)
            if result is not None:
                version = result.executed_version
            config, _ = rec.snapshot(version)
        except (ResourceNotFound, KeyError):
            return None
        dlq = config.get("DeadLetterConfig") or {}
        target = dlq.get("TargetArn")
        return target if isinstance(target, str) else None
