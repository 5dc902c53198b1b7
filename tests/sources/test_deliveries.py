"""The durable delivery path over real parts: a SqliteQueueStore in tmp_path on a fake clock, the real QueueService,
a real registry, policies, Invoker and AsyncInvoker (the instance pools are a stand-in that is never reached: a
delivery to a function ends at the durable accept), and a real local HTTP server for http targets.

What it proves: submit is durable before it returns (a new Deliveries over the same file delivers); each kind
reaches its target (with attributes and headers); failures are retried after the configured delays, then go to
the dead-letter queue with EventBridge's attributes (or are dropped and counted without one); the retry count and
the event age each end it; an unpermitted function delivery is refused, warned about once a minute with the
add-permission command, and delivered once the permission exists; Scheduler's deliveries skip the policy; an
http target that fails twice then answers 200 is delivered on the third attempt; the poller runs at most its
concurrency at once and `stop` puts unfinished deliveries back."""

from __future__ import annotations

import asyncio
import http.server
import json
import logging
import threading
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
from sources_support import delivery_parts

from nimbus.clock import FakeClock, RealClock
from nimbus.config import Settings
from nimbus.control.policies import Policies
from nimbus.errors import ResourceNotFound
from nimbus.invoke.async_invoke import ASYNC_QUEUE, AsyncInvoker, decode_event
from nimbus.queue.contract import Reserved
from nimbus.queue.service import QueueService
from nimbus.queue.sqlite import SqliteQueueStore
from nimbus.sources.deliveries import (
    DELIVERY_QUEUE,
    Deliveries,
    Delivery,
    DeliverySettings,
    Pending,
    decode,
    encode,
)

ACCOUNT = "000000000000"
FN_ARN = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:fn"
SQS = f"arn:aws:sqs:us-east-1:{ACCOUNT}:"
RULE = f"arn:aws:events:us-east-1:{ACCOUNT}:rule/r1"
EVENTS = "events.amazonaws.com"


@dataclass
class World:
    clock: FakeClock | RealClock
    queues: SqliteQueueStore
    service: QueueService
    policies: Policies
    deliveries: Deliveries
    accept: AsyncInvoker

    async def step(self) -> bool:
        """Reserve and handle the next visible delivery; False when none is visible."""
        batch = await self.queues.reserve(DELIVERY_QUEUE, 1, 60.0)
        if not batch:
            return False
        await self.deliveries.handle(batch[0])
        return True

    async def drain(self, queue: str) -> list[Reserved]:
        return await self.queues.reserve(queue, 10, 60.0)

    async def pending(self, queue: str = DELIVERY_QUEUE) -> int:
        d = await self.queues.depth(queue)
        return d.visible + d.in_flight + d.delayed

    def advance(self, seconds: float) -> None:
        assert isinstance(self.clock, FakeClock)
        self.clock.advance(seconds)


def run(tmp_path: Path, body: Callable[[World], Awaitable[None]], *, real_clock: bool = False, **settings: Any) -> None:
    async def main() -> None:
        clock: FakeClock | RealClock = RealClock() if real_clock else FakeClock(1_800_000_000.0)
        opts: dict[str, Any] = {"retry_delays": (10.0, 20.0, 40.0), "poll_wait_s": 0.05} | settings
        p = await delivery_parts(tmp_path, clock, DeliverySettings(**opts), subscribe=True)
        try:
            await body(World(clock, p.queues, p.service, p.policies, p.deliveries, p.accept))
        finally:
            await p.deliveries.stop()
            await p.queues.close()
            p.engine.dispose()

    asyncio.run(main())


def to_queue(name: str = "target", **fields: Any) -> Delivery:
    return Delivery("sqs", SQS + name, b'{"detail": 1}', EVENTS, RULE, **fields)


def to_function(**fields: Any) -> Delivery:
    return Delivery("lambda", FN_ARN, b'{"detail-type": "x"}', EVENTS, RULE, **fields)


async def allow(w: World, principal: str = EVENTS, source_arn: str = RULE) -> None:
    await w.policies.add("fn", None, {"StatementId": "s1", "Action": "lambda:InvokeFunction",
                                      "Principal": principal, "SourceArn": source_arn})  # fmt: skip


# ---- the record ---------------------------------------------------------------------------------------------------


def test_a_pending_delivery_survives_its_encoding() -> None:
    item = Delivery(
        "https", "https://example.com/hook?x=1", bytes(range(256)), "sns.amazonaws.com", "arn:topic",
        max_attempts=3, max_age_s=60, dead_letter_arn=SQS + "dlq", headers={"x-amz-sns-message-type": "Notification"},
        attributes={"a": {"DataType": "String", "StringValue": "v"}}, dlq_attributes={"TARGET_ARN": "t"},
        group_id="g", dedup_id="d", request_id="rid",
    )  # fmt: skip
    from nimbus.sources.deliveries import Failure

    pending = Pending(item, "id1", 123, 2, Failure("HTTP_500", "boom"))
    assert decode(encode(pending)) == pending
    text = Pending(replace(item, payload="é".encode()), "id2", 1)
    assert decode(encode(text)) == text


# ---- kinds --------------------------------------------------------------------------------------------------------


def test_to_a_queue_with_message_attributes(tmp_path: Path) -> None:
    async def body(w: World) -> None:
        attrs = {"kind": {"DataType": "String", "StringValue": "order"}}
        ids = await w.deliveries.submit([to_queue(attributes=attrs)])
        assert len(ids) == 1
        assert await w.step()
        (message,) = await w.drain("target")
        assert message.body == '{"detail": 1}'
        assert message.attributes["kind"]["StringValue"] == "order"
        assert await w.pending() == 0
        assert w.deliveries.outcomes == {"delivered": 1}

    run(tmp_path, body)


def test_to_a_function_is_accepted_into_the_async_queue_when_the_policy_allows(tmp_path: Path) -> None:
    async def body(w: World) -> None:
        await allow(w)
        await w.deliveries.submit([to_function(request_id="req-1")])
        assert await w.step()
        (message,) = await w.drain(ASYNC_QUEUE)
        event = decode_event(message.body)
        assert (event.function, event.qualifier, event.request_id) == ("fn", None, "req-1")
        assert event.payload == b'{"detail-type": "x"}'
        assert w.deliveries.outcomes == {"delivered": 1}

    run(tmp_path, body)


def test_an_unpermitted_function_delivery_is_refused_warned_once_a_minute_then_delivered_once_allowed(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async def body(w: World) -> None:
        other_rule = RULE.replace("r1", "r2")
        await allow(w, source_arn=other_rule)  # a statement for another rule does not do
        await w.deliveries.submit([to_function(), to_function()])
        with caplog.at_level(logging.WARNING, "nimbus.deliveries"):
            assert await w.step()
            assert await w.step()
        assert w.deliveries.outcomes == {"unpermitted": 2, "retried": 2}
        warnings = [r.getMessage() for r in caplog.records if "add-permission" in r.getMessage()]
        assert len(warnings) == 1  # once per (function, source) per minute
        assert "--function-name fn" in warnings[0]
        assert f"--principal {EVENTS} --source-arn {RULE}" in warnings[0]
        assert await w.pending(ASYNC_QUEUE) == 0
        await w.policies.add("fn", None, {"StatementId": "s2", "Action": "lambda:InvokeFunction",
                                          "Principal": EVENTS, "SourceArn": RULE})  # fmt: skip
        w.advance(10)
        assert await w.step()
        assert await w.step()
        assert await w.pending(ASYNC_QUEUE) == 2
        assert w.deliveries.outcomes["delivered"] == 2

    run(tmp_path, body)


def test_unpermitted_deliveries_go_to_the_dead_letter_queue_as_no_permissions(tmp_path: Path) -> None:
    async def body(w: World) -> None:
        await w.deliveries.submit([to_function(max_attempts=0, dead_letter_arn=SQS + "dlq",
                                               dlq_attributes={"RULE_ARN": RULE, "TARGET_ARN": FN_ARN})])  # fmt: skip
        assert await w.step()
        (message,) = await w.drain("dlq")
        assert message.body == '{"detail-type": "x"}'
        assert message.attributes["ERROR_CODE"]["StringValue"] == "NO_PERMISSIONS"
        assert EVENTS in message.attributes["ERROR_MESSAGE"]["StringValue"]
        assert message.attributes["RULE_ARN"]["StringValue"] == RULE
        assert message.attributes["TARGET_ARN"]["StringValue"] == FN_ARN
        assert message.attributes["RETRY_ATTEMPTS"]["StringValue"] == "0"

    run(tmp_path, body)


def test_scheduler_deliveries_need_no_policy_but_a_function(tmp_path: Path) -> None:
    async def body(w: World) -> None:
        schedule = f"arn:aws:scheduler:us-east-1:{ACCOUNT}:schedule/default/s"
        await w.deliveries.submit([
            Delivery("lambda", FN_ARN, b"{}", "scheduler.amazonaws.com", schedule),
            Delivery("lambda", FN_ARN + "gone", b"{}", "scheduler.amazonaws.com", schedule, max_attempts=0,
                     dead_letter_arn=SQS + "dlq"),
        ])  # fmt: skip
        assert await w.step()
        assert await w.step()
        assert await w.pending(ASYNC_QUEUE) == 1
        (dead,) = await w.drain("dlq")
        assert dead.attributes["ERROR_CODE"]["StringValue"] == "RESOURCE_NOT_FOUND"

    run(tmp_path, body)


def test_a_registered_sink_delivers_its_kind_and_its_failures_are_retried(tmp_path: Path) -> None:
    async def body(w: World) -> None:
        got: list[Delivery] = []
        failing = [True]

        async def sink(item: Delivery) -> None:
            if failing[0]:
                raise ResourceNotFound("Topic does not exist")
            got.append(item)

        w.deliveries.register_sink("sns", sink)
        topic = f"arn:aws:sns:us-east-1:{ACCOUNT}:t"
        await w.deliveries.submit([Delivery("sns", topic, b"hello", EVENTS, RULE)])
        assert await w.step()
        assert w.deliveries.outcomes == {"retried": 1}
        failing[0] = False
        w.advance(10)
        assert await w.step()
        assert [(g.target, g.payload) for g in got] == [(topic, b"hello")]

    run(tmp_path, body)


# ---- retries, dead letters, drops ----------------------------------------------------------------------------------


def test_failures_are_retried_after_each_delay_then_dead_lettered(tmp_path: Path) -> None:
    async def body(w: World) -> None:
        await w.deliveries.submit([to_queue("missing", max_attempts=3, dead_letter_arn=SQS + "dlq",
                                            dlq_attributes={"RULE_ARN": RULE})])  # fmt: skip
        assert await w.step()  # attempt 1 fails; retry after 10 s
        for delay in (10.0, 20.0, 40.0):
            w.advance(delay - 0.5)
            assert not await w.step()  # not yet visible
            w.advance(0.5)
            assert await w.step()
        assert w.deliveries.outcomes == {"retried": 3, "dead_lettered": 1}
        (message,) = await w.drain("dlq")
        assert message.body == '{"detail": 1}'
        assert message.attributes["ERROR_CODE"]["StringValue"] == "RESOURCE_NOT_FOUND"
        assert message.attributes["EXHAUSTED_RETRY_CONDITION"]["StringValue"] == "MaximumRetryAttempts"
        assert message.attributes["RETRY_ATTEMPTS"]["StringValue"] == "3"
        assert message.attributes["RULE_ARN"]["StringValue"] == RULE
        assert await w.pending() == 0

    run(tmp_path, body)


def test_the_last_delay_repeats(tmp_path: Path) -> None:
    async def body(w: World) -> None:
        await w.deliveries.submit([to_queue("missing", max_attempts=10)])
        assert await w.step()
        for delay in (10.0, 20.0, 40.0, 40.0, 40.0):
            w.advance(delay - 0.5)
            assert not await w.step()
            w.advance(0.5)
            assert await w.step()

    run(tmp_path, body)


def test_the_event_age_ends_retries(tmp_path: Path) -> None:
    async def body(w: World) -> None:
        await w.deliveries.submit([to_queue("missing", max_age_s=60, dead_letter_arn=SQS + "dlq")])
        assert await w.step()
        w.advance(10)
        assert await w.step()
        w.advance(55)  # 65 s old at its next attempt: past 60
        assert await w.step()
        assert w.deliveries.outcomes == {"retried": 2, "dead_lettered": 1}
        (message,) = await w.drain("dlq")
        assert message.attributes["EXHAUSTED_RETRY_CONDITION"]["StringValue"] == "MaximumEventAgeInSeconds"
        assert message.attributes["ERROR_CODE"]["StringValue"] == "RESOURCE_NOT_FOUND"  # the last error

    run(tmp_path, body)


def test_without_a_dead_letter_queue_a_spent_delivery_is_logged_and_dropped(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async def body(w: World) -> None:
        await w.deliveries.submit([to_queue("missing", max_attempts=0)])
        with caplog.at_level(logging.WARNING, "nimbus.deliveries"):
            assert await w.step()
        assert w.deliveries.outcomes == {"dropped": 1}
        assert any("dropped after 1 attempts" in r.getMessage() for r in caplog.records)
        # a dead-letter queue that does not exist drops it too, saying so
        await w.deliveries.submit([to_queue("missing", max_attempts=0, dead_letter_arn=SQS + "nope")])
        assert await w.step()
        assert w.deliveries.outcomes == {"dropped": 2}

    run(tmp_path, body)


def test_bad_deliveries_are_refused_at_submission(tmp_path: Path) -> None:
    async def body(w: World) -> None:
        with pytest.raises(ValueError, match="kind"):
            await w.deliveries.submit([Delivery("smtp", "x", b"", EVENTS, RULE)])
        with pytest.raises(ValueError, match="header"):
            await w.deliveries.submit([Delivery("http", "http://h/", b"", EVENTS, RULE, headers={"a": "b\r\nc: d"})])
        assert await w.deliveries.submit([]) == []
        assert await w.pending() == 0

    run(tmp_path, body)


# ---- durability and the poller --------------------------------------------------------------------------------------


def test_submitted_deliveries_survive_a_restart_and_an_unacked_one_comes_back(tmp_path: Path) -> None:
    async def first(w: World) -> None:
        await w.deliveries.submit([to_queue(), to_queue()])
        # one is reserved (in flight) when the "crash" comes: never acked
        assert len(await w.queues.reserve(DELIVERY_QUEUE, 1, 30.0)) == 1

    run(tmp_path, first)

    async def second(w: World) -> None:
        assert await w.step()  # the one never reserved
        assert not await w.step()  # the other is still hidden
        w.advance(30)
        assert await w.step()  # its visibility lapsed: delivered (at least once)
        assert len(await w.drain("target")) == 2

    run(tmp_path, second)


def test_the_poller_delivers_within_its_concurrency(tmp_path: Path) -> None:
    async def body(w: World) -> None:
        running, most, done = 0, 0, 0
        release = asyncio.Event()

        async def sink(item: Delivery) -> None:
            nonlocal running, most, done
            running += 1
            most = max(most, running)
            await release.wait()
            running -= 1
            done += 1

        w.deliveries.register_sink("sns", sink)
        await w.deliveries.submit([Delivery("sns", "t", b"x", EVENTS, RULE) for _ in range(10)])
        task = await w.deliveries.start()
        for _ in range(10_000):
            if most == 3:
                break
            await asyncio.sleep(0.001)
        assert most == 3
        release.set()
        for _ in range(20_000):
            if done == 10 and await w.pending() == 0:
                break
            await asyncio.sleep(0.001)
        assert done == 10
        assert most == 3
        assert not task.done()

    run(tmp_path, body, concurrency=3)


def test_stop_puts_unfinished_deliveries_back_at_once(tmp_path: Path) -> None:
    async def body(w: World) -> None:
        started = asyncio.Event()

        async def sink(item: Delivery) -> None:
            started.set()
            await asyncio.Event().wait()  # never finishes

        w.deliveries.register_sink("sns", sink)
        await w.deliveries.submit([Delivery("sns", "t", b"x", EVENTS, RULE)])
        await w.deliveries.start()
        await asyncio.wait_for(started.wait(), 5)
        await w.deliveries.stop()
        depth = await w.queues.depth(DELIVERY_QUEUE)
        assert (depth.visible, depth.in_flight) == (1, 0)

    run(tmp_path, body, stop_grace_s=0.01)


# ---- http ---------------------------------------------------------------------------------------------------------


@dataclass
class Hook:
    url: str
    requests: list[tuple[str, dict[str, str], bytes]]
    statuses: list[int]


@pytest.fixture
def hook() -> Iterator[Hook]:
    """A real local HTTP server answering each POST with the next of `statuses` (then 200)."""
    requests: list[tuple[str, dict[str, str], bytes]] = []
    statuses: list[int] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            requests.append((self.path, dict(self.headers), body))
            self.send_response(statuses.pop(0) if statuses else 200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Hook(f"http://127.0.0.1:{server.server_address[1]}", requests, statuses)
    finally:
        server.shutdown()
        server.server_close()


def test_an_http_target_that_fails_twice_is_delivered_on_the_third_attempt(tmp_path: Path, hook: Hook) -> None:
    hook.statuses.extend([500, 503])

    async def body(w: World) -> None:
        headers = {"x-amz-sns-message-type": "Notification", "Content-Type": "text/plain; charset=UTF-8"}
        item = Delivery("http", hook.url + "/hook?a=1", b'{"Message": "hi"}', "sns.amazonaws.com", "arn:topic",
                        max_attempts=3, headers=headers)  # fmt: skip
        await w.deliveries.submit([item])
        await w.deliveries.start()
        for _ in range(2000):
            if w.deliveries.outcomes["delivered"]:
                break
            await asyncio.sleep(0.01)
        assert w.deliveries.outcomes == {"retried": 2, "delivered": 1}
        assert len(hook.requests) == 3
        path, got, data = hook.requests[-1]
        assert path == "/hook?a=1"
        assert data == b'{"Message": "hi"}'
        assert got["x-amz-sns-message-type"] == "Notification"
        assert got["Content-Type"] == "text/plain; charset=UTF-8"

    run(tmp_path, body, real_clock=True, retry_delays=(0.05,))


def test_http_failures_name_their_cause(tmp_path: Path, hook: Hook) -> None:
    hook.statuses.append(404)

    async def body(w: World) -> None:
        failure = await w.deliveries.attempt(Delivery("http", hook.url, b"x", EVENTS, RULE))
        assert failure is not None
        assert failure.code == "HTTP_404"
        # nothing listening
        closed = "http://127.0.0.1:9"
        failure = await w.deliveries.attempt(Delivery("http", closed, b"x", EVENTS, RULE))
        assert failure is not None
        assert failure.code == "SDK_CLIENT_ERROR"
        # a scheme that is not the kind's
        failure = await w.deliveries.attempt(Delivery("https", hook.url, b"x", EVENTS, RULE))
        assert failure is not None
        assert "not an https URL" in failure.message

    run(tmp_path, body, real_clock=True)


def test_an_http_target_that_never_answers_times_out(tmp_path: Path) -> None:
    async def body(w: World) -> None:
        async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await reader.read(1 << 16)
            await asyncio.sleep(5)

        server = await asyncio.start_server(silent, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        try:
            failure = await w.deliveries.attempt(Delivery("http", f"http://127.0.0.1:{port}/", b"x", EVENTS, RULE))
        finally:
            server.close()
        assert failure is not None
        assert failure.code == "TIMEOUT"

    run(tmp_path, body, real_clock=True, http_timeout_s=0.2)


def test_json_payload_kept_byte_for_byte(tmp_path: Path) -> None:
    async def body(w: World) -> None:
        payload = json.dumps({"a": "é", "b": [1, 2]}).encode()
        await w.deliveries.submit([replace(to_queue(), payload=payload)])
        assert await w.step()
        (message,) = await w.drain("target")
        assert message.body.encode() == payload

    run(tmp_path, body)


def test_delivery_settings_are_checked(tmp_path: Path) -> None:
    assert Settings(data_dir=tmp_path).delivery_retry_delay_values[:3] == (1.0, 2.0, 4.0)
    assert Settings(data_dir=tmp_path, delivery_retry_delays="0.2, 0.5").delivery_retry_delay_values == (0.2, 0.5)
    Settings(data_dir=tmp_path, delivery_visibility=10.5).check()
    for bad in ({"delivery_retry_delays": "x"}, {"delivery_retry_delays": ""}, {"delivery_retry_delays": "1,-1"},
                {"delivery_concurrency": 0}, {"delivery_visibility": 10}):  # fmt: skip
        with pytest.raises(ValueError, match="delivery_"):
            Settings(data_dir=tmp_path, **bad).check()  # type: ignore[arg-type]
