"""The asynchronous half of the door on a fake clock: a real registry and queue store (SQLite in tmp_path), the
real Invoker and Throttle, and a scripted stand-in for the instance pools (the seam where processes start).
Nothing sleeps: delays are the store's deadlines on the fake clock, moved by hand.

What it proves: attempts are counted across retries (a function error costs one, a throttle none), each retry
waits its delay, exhaustion and expiry reach the failure destination and the dead-letter queue with Lambda's
record, success reaches the success destination, and the run loop never runs more than its share at once."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from nimbus.clock import FakeClock
from nimbus.config import Settings
from nimbus.control.event_invoke import EventInvokeConfigs
from nimbus.control.registry import Registry
from nimbus.control.validation import FunctionRef
from nimbus.invoke.async_dispatch import Dispatcher, DispatchSettings, retry_delay, throttle_backoff
from nimbus.invoke.async_invoke import ASYNC_QUEUE, AsyncInvoker, Gathered
from nimbus.invoke.invoker import Invoker
from nimbus.invoke.throttle import Throttle
from nimbus.protocol.records import FunctionSpec, InvokeRequest, InvokeResult
from nimbus.queue.contract import NewMessage, Reserved
from nimbus.queue.sqlite import SqliteQueueStore
from registry_support import echo_registry

ARN = "arn:aws:lambda:us-east-1:000000000000:function:fn"
SQS = "arn:aws:sqs:us-east-1:000000000000:"
FN = FunctionRef("fn", None)


class ScriptedPools:
    """Fails while `failing`, else echoes; `gate` holds invocations in flight; counts the most at once."""

    def __init__(self) -> None:
        self.calls: list[InvokeRequest] = []
        self.failing = False
        self.gate: asyncio.Event | None = None
        self.running = 0
        self.most = 0

    async def invoke(self, spec: FunctionSpec, request: InvokeRequest) -> InvokeResult:
        self.calls.append(request)
        self.running += 1
        self.most = max(self.most, self.running)
        try:
            if self.gate is not None:
                await self.gate.wait()
            if self.failing:
                return InvokeResult(b'{"errorMessage": "boom", "errorType": "ValueError"}', "Unhandled",
                                    executed_version=spec.version)  # fmt: skip
            return InvokeResult(b'{"ok": true}', executed_version=spec.version)
        finally:
            self.running -= 1

    async def retire(self, function_name: str) -> None:
        pass


@dataclass
class World:
    clock: FakeClock
    registry: Registry
    throttle: Throttle
    pools: ScriptedPools
    queues: SqliteQueueStore
    configs: EventInvokeConfigs
    accept: AsyncInvoker
    dispatcher: Dispatcher

    async def take(self) -> Reserved:
        (message,) = await self.queues.reserve(ASYNC_QUEUE, 1, 60.0)
        return message

    async def pending(self, queue: str = ASYNC_QUEUE) -> int:
        d = await self.queues.depth(queue)
        return d.visible + d.in_flight + d.delayed

    async def bodies(self, queue: str) -> list[Reserved]:
        return await self.queues.reserve(queue, 10, 60.0)


def run(tmp_path: Path, body: Callable[[World], Awaitable[None]], **dispatch: object) -> None:
    async def main() -> None:
        clock = FakeClock(1_800_000_000.0)
        settings = Settings(data_dir=tmp_path)
        engine, registry = await echo_registry(settings, DeadLetterConfig={"TargetArn": SQS + "dlq"})
        pools = ScriptedPools()
        throttle = Throttle(10, 100_000)
        invoker = Invoker(registry, pools, throttle)
        registry.subscribe(invoker.function_changed)
        queues = SqliteQueueStore(tmp_path / "queues.db", clock)
        for name in ("dlq", "ok", "failed"):
            await queues.create_queue(name, {}, {})
        configs = EventInvokeConfigs(settings, registry, engine)
        accept = AsyncInvoker(invoker, queues, clock)
        await accept.start()
        opts = {"retry_delays": (60.0, 120.0), "throttle_delay_s": 1.0, "throttle_max_delay_s": 8.0} | dispatch
        dispatcher = Dispatcher(DispatchSettings(**opts), invoker, accept, configs, registry, queues, clock)  # type: ignore[arg-type]
        try:
            await body(World(clock, registry, throttle, pools, queues, configs, accept, dispatcher))
        finally:
            await queues.close()
            engine.dispose()

    asyncio.run(main())


def test_backoff_and_retry_delays() -> None:
    assert [throttle_backoff(n, 1.0, 300.0) for n in (1, 2, 3, 9, 10, 1000)] == [1, 2, 4, 256, 300, 300]
    assert [retry_delay(n, (60.0, 120.0)) for n in (1, 2, 3)] == [60.0, 120.0, 120.0]
    assert retry_delay(1, ()) == 0.0


def test_gathered_calls_share_one_flush_each_caller_gets_its_own_answer() -> None:
    async def main() -> None:
        flushes: list[list[int]] = []
        release = asyncio.Event()

        async def flush(items: list[int]) -> list[int]:
            flushes.append(items)
            await release.wait()
            return [i * 10 for i in items]

        gathered = Gathered(flush, name="t", max_items=3)
        calls = [asyncio.create_task(gathered(i)) for i in range(5)]
        await asyncio.sleep(0)
        release.set()
        assert await asyncio.gather(*calls) == [0, 10, 20, 30, 40]
        # the first flush took every call waiting when it began, within max_items; the rest, the next one
        assert flushes == [[0, 1, 2], [3, 4]]
        assert await gathered(7) == 70  # alone: flushed at once, by a fresh task
        assert flushes[-1] == [7]

    asyncio.run(main())


def test_gathered_failure_fails_only_its_batch_and_bytes_cap_a_batch() -> None:
    async def main() -> None:
        flushes: list[list[str]] = []

        async def flush(items: list[str]) -> list[int]:
            flushes.append(items)
            if "bad" in items:
                raise ValueError("store down")
            return [len(i) for i in items]

        gathered = Gathered(flush, name="t", size=len, max_bytes=6)
        calls = [asyncio.create_task(gathered(i)) for i in ("bad", "abc", "defg", "hi", "toolongalone")]
        results = await asyncio.gather(*calls, return_exceptions=True)
        assert flushes == [["bad", "abc"], ["defg", "hi"], ["toolongalone"]]  # one item over the cap goes alone
        assert [type(r) for r in results[:2]] == [ValueError, ValueError]
        assert results[2:] == [4, 2, 12]

    asyncio.run(main())


def test_function_errors_retry_with_delays_then_reach_on_failure_and_the_dlq(tmp_path: Path) -> None:
    async def body(w: World) -> None:
        await w.configs.put("fn", None, {"DestinationConfig": {"OnFailure": {"Destination": SQS + "failed"}}},
                            merge=False)  # fmt: skip
        w.pools.failing = True
        await w.accept.accept(FN, b'{"n": 1}', "rid-1")
        await w.dispatcher.handle(await w.take())  # attempt 1 fails: back in 60 s
        assert await w.queues.reserve(ASYNC_QUEUE, 1, 60.0) == []
        w.clock.advance(60)
        await w.dispatcher.handle(await w.take())  # attempt 2 fails: back in 120 s
        w.clock.advance(119)
        assert await w.queues.reserve(ASYNC_QUEUE, 1, 60.0) == []
        w.clock.advance(1)
        await w.dispatcher.handle(await w.take())  # attempt 3 fails: retries exhausted
        assert await w.pending() == 0
        assert [c.request_id for c in w.pools.calls] == ["rid-1"] * 3
        (failed,) = await w.bodies("failed")
        rec = json.loads(failed.body)
        assert rec["requestContext"] == {"requestId": "rid-1", "functionArn": ARN + ":$LATEST",
                                         "condition": "RetriesExhausted", "approximateInvokeCount": 3}  # fmt: skip
        assert rec["requestPayload"] == {"n": 1}
        assert rec["responseContext"] == {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"}
        assert rec["responsePayload"]["errorMessage"] == "boom"
        (dead,) = await w.bodies("dlq")
        assert dead.body == '{"n": 1}'
        assert dead.attributes["RequestID"] == {"DataType": "String", "StringValue": "rid-1"}
        assert dead.attributes["ErrorCode"] == {"DataType": "Number", "StringValue": "200"}
        assert "boom" in dead.attributes["ErrorMessage"]["StringValue"]
        assert w.dispatcher.outcomes == {"retried": 2, "exhausted": 1}

    run(tmp_path, body)


def test_throttles_cost_no_attempt_and_back_off(tmp_path: Path) -> None:
    async def body(w: World) -> None:
        await w.configs.put("fn", None, {"MaximumRetryAttempts": 0,
                                         "DestinationConfig": {"OnSuccess": {"Destination": SQS + "ok"}}},
                            merge=False)  # fmt: skip
        w.throttle.set_reserved("fn", 0)
        await w.accept.accept(FN, b"{}", "rid-t")
        for wait in (1, 2, 4, 8, 8):  # doubling, capped
            await w.dispatcher.handle(await w.take())
            w.clock.advance(wait - 0.01)
            assert await w.queues.reserve(ASYNC_QUEUE, 1, 60.0) == []
            w.clock.advance(0.01)
        w.throttle.set_reserved("fn", None)
        await w.dispatcher.handle(await w.take())
        (ok,) = await w.bodies("ok")
        assert json.loads(ok.body)["requestContext"]["approximateInvokeCount"] == 1
        assert json.loads(ok.body)["requestContext"]["condition"] == "Success"
        assert await w.pending() == 0

    run(tmp_path, body)


def test_an_expired_event_goes_to_on_failure_without_running(tmp_path: Path) -> None:
    async def body(w: World) -> None:
        await w.configs.put("fn", None, {"MaximumEventAgeInSeconds": 60,
                                         "DestinationConfig": {"OnFailure": {"Destination": SQS + "failed"}}},
                            merge=False)  # fmt: skip
        await w.accept.accept(FN, b'{"old": true}', "rid-old")
        w.clock.advance(60.5)
        await w.dispatcher.handle(await w.take())
        assert w.pools.calls == []
        (failed,) = await w.bodies("failed")
        rec = json.loads(failed.body)
        assert rec["requestContext"]["condition"] == "EventAgeExceeded"
        assert rec["requestContext"]["approximateInvokeCount"] == 0
        assert "responseContext" not in rec
        (dead,) = await w.bodies("dlq")
        assert dead.body == '{"old": true}'

    run(tmp_path, body)


def test_a_deleted_function_drops_its_events(tmp_path: Path) -> None:
    async def body(w: World) -> None:
        await w.accept.accept(FN, b"{}", "rid-gone")
        await w.registry.delete("fn")
        await w.dispatcher.handle(await w.take())
        assert await w.pending() == 0
        assert w.dispatcher.outcomes == {"dropped": 1}

    run(tmp_path, body)


def test_the_run_loop_keeps_to_its_share_and_stop_puts_running_events_back(tmp_path: Path) -> None:
    async def body(w: World) -> None:
        w.pools.gate = asyncio.Event()
        for i in range(7):
            await w.accept.accept(FN, b"{}", f"rid-{i}")
        w.dispatcher.start()
        for _ in range(200):
            if len(w.pools.calls) >= 3:
                break
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.05)
        assert (len(w.pools.calls), w.pools.most) == (3, 3)  # the share: 3 at once
        await w.dispatcher.stop()  # grace 0: the three running are cancelled and put back at once
        assert await w.pending() == 7
        assert len(await w.queues.reserve(ASYNC_QUEUE, 10, 60.0)) == 7

    run(tmp_path, body, concurrency=3, stop_grace_s=0.0, poll_wait_s=0.0)


def test_a_message_that_is_no_envelope_is_dropped_not_retried_forever(tmp_path: Path) -> None:
    async def body(w: World) -> None:
        await w.queues.enqueue(ASYNC_QUEUE, [NewMessage("not an envelope")])
        await w.dispatcher.handle(await w.take())
        assert await w.pending() == 0
        assert w.dispatcher.outcomes == {"dropped": 1}

    run(tmp_path, body)
