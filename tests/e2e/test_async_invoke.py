"""Asynchronous invocation end to end: 202 once durable, the 1 MB limit, retries with the right count, destinations
(a function, a built-in queue), the dead-letter queue, event age, throttled events, and `kill -9` with events in
flight. One server of this module's own runs with fast retry delays (0.2 s) and a short visibility."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from e2e_support import (
    ACCOUNT,
    NIMBUS,
    REGION,
    ROOT,
    Server,
    arn,
    aws_cli,
    delete_functions,
    expect_error,
    make_zip,
    raw_client,
    receive_all,
    serving,
    start_server,
    wait_for,
)

from nimbus.queue.sqlite import SqliteQueueStore

ROLE = "arn:aws:iam::000000000000:role/lambda-role"
FAST = ("--async-retry-delays", "0.2,0.2", "--async-throttle-delay", "0.2", "--async-throttle-max-delay", "0.5",
        "--async-visibility", "3", "--keep-alive", "30")  # fmt: skip

#: logs every event it gets under a marker, so tests read what arrived through FilterLogEvents
RECORDER = """import json
def handler(event, context):
    print("RECORD " + json.dumps({"event": event, "rid": context.aws_request_id}))
    return {"ok": True}
"""
#: fails while the event says so; logs each attempt's request id
FLAKY = """import json
def handler(event, context):
    print("ATTEMPT " + context.aws_request_id)
    if event.get("fail"):
        raise RuntimeError("failing on purpose: " + str(event.get("id")))
    return {"done": event.get("id")}
"""


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    yield from serving(tmp_path_factory, "async", *FAST)


@pytest.fixture(scope="module")
def lam(srv: Server) -> Any:
    return srv.client("lambda")


@pytest.fixture(scope="module")
def logs(srv: Server) -> Any:
    return srv.client("logs")


@pytest.fixture
def make_fn(lam: Any) -> Iterator[Callable[..., str]]:
    created: list[str] = []

    def _make(name: str, code: str, **kwargs: Any) -> str:
        lam.create_function(FunctionName=name, Runtime="python3.11", Role=ROLE, Handler="app.handler",
                            Code={"ZipFile": make_zip({"app.py": code})}, **kwargs)  # fmt: skip
        created.append(name)
        return name

    yield _make
    delete_functions(lam, created)


def messages(logs: Any, fn: str, marker: str) -> list[str]:
    """Every log line of `fn` that starts with `marker` (without it)."""
    out: list[str] = []
    try:
        pages = logs.get_paginator("filter_log_events").paginate(logGroupName=f"/aws/lambda/{fn}")
        for page in pages:
            out += [e["message"].strip()[len(marker) + 1 :] for e in page["events"]
                    if e["message"].startswith(marker)]  # fmt: skip
    except logs.exceptions.ResourceNotFoundException:
        pass
    return out


def records(logs: Any, fn: str, count: int = 1, timeout: float = 30.0) -> list[dict[str, Any]]:
    got = wait_for(lambda: len(messages(logs, fn, "RECORD")) >= count and messages(logs, fn, "RECORD"), timeout)
    assert got, f"{fn} received nothing"
    return [json.loads(m) for m in got]


def test_event_invoke_answers_202_with_empty_body(lam: Any, logs: Any, make_fn: Any) -> None:
    fn = make_fn("a-202", RECORDER)
    resp = lam.invoke(FunctionName=fn, InvocationType="Event", Payload=b'{"hello": "async"}')
    assert resp["StatusCode"] == 202
    assert resp["Payload"].read() == b""
    rid = resp["ResponseMetadata"]["HTTPHeaders"]["x-amzn-requestid"]
    (got,) = records(logs, fn)
    assert got == {"event": {"hello": "async"}, "rid": rid}  # the request id the caller saw is the function's


def test_event_invoke_missing_function_is_404_at_once(lam: Any, make_fn: Any) -> None:
    expect_error(lam.invoke, "ResourceNotFoundException", 404, FunctionName="a-ghost", InvocationType="Event",
                 Payload=b"{}")  # fmt: skip
    fn = make_fn("a-noalias", RECORDER)
    expect_error(lam.invoke, "ResourceNotFoundException", 404, FunctionName=fn, Qualifier="nope",
                 InvocationType="Event", Payload=b"{}")  # fmt: skip
    expect_error(lam.invoke, "InvalidRequestContentException", 400, FunctionName=fn, InvocationType="Event",
                 Payload=b"not json")  # fmt: skip


def test_async_payload_limit_is_1_mb(lam: Any, logs: Any, make_fn: Any) -> None:
    fn = make_fn("a-limit", "def handler(event, context):\n    print('SIZE', len(event['s']))\n")
    overhead = len(b'{"s": ""}')
    at_limit = json.dumps({"s": "x" * (1_048_576 - overhead)}).encode()
    assert len(at_limit) == 1_048_576
    assert lam.invoke(FunctionName=fn, InvocationType="Event", Payload=at_limit)["StatusCode"] == 202
    past = at_limit[:-2] + b'x"}'
    assert len(past) == 1_048_577
    info = expect_error(lam.invoke, "RequestEntityTooLargeException", 413, FunctionName=fn,
                        InvocationType="Event", Payload=past)  # fmt: skip
    assert "1048576" in str(info)
    assert wait_for(lambda: messages(logs, fn, "SIZE")) == [str(1_048_576 - overhead)]


def test_retries_then_on_failure_function_destination(lam: Any, logs: Any, make_fn: Any) -> None:
    sink = make_fn("a-sink-fail", RECORDER)
    fn = make_fn("a-flaky", FLAKY)
    lam.put_function_event_invoke_config(FunctionName=fn, MaximumRetryAttempts=2,
                                         DestinationConfig={"OnFailure": {"Destination": arn(sink)}})  # fmt: skip
    resp = lam.invoke(FunctionName=fn, InvocationType="Event", Payload=json.dumps({"fail": True, "id": 7}))
    rid = resp["ResponseMetadata"]["HTTPHeaders"]["x-amzn-requestid"]
    (rec,) = records(logs, sink)
    body = rec["event"]
    assert body["version"] == "1.0"
    assert body["timestamp"].endswith("Z")
    assert body["requestContext"] == {"requestId": rid, "functionArn": arn(fn) + ":$LATEST",
                                      "condition": "RetriesExhausted", "approximateInvokeCount": 3}  # fmt: skip
    assert body["requestPayload"] == {"fail": True, "id": 7}
    assert body["responseContext"] == {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"}
    assert body["responsePayload"]["errorType"] == "RuntimeError"
    assert messages(logs, fn, "ATTEMPT") == [rid] * 3  # one request id across the attempts, as on Lambda


def test_zero_retries_one_attempt(lam: Any, logs: Any, make_fn: Any) -> None:
    sink = make_fn("a-sink-zero", RECORDER)
    fn = make_fn("a-flaky-zero", FLAKY)
    lam.put_function_event_invoke_config(FunctionName=fn, MaximumRetryAttempts=0,
                                         DestinationConfig={"OnFailure": {"Destination": arn(sink)}})  # fmt: skip
    lam.invoke(FunctionName=fn, InvocationType="Event", Payload=b'{"fail": true}')
    (rec,) = records(logs, sink)
    assert rec["event"]["requestContext"]["approximateInvokeCount"] == 1
    assert len(messages(logs, fn, "ATTEMPT")) == 1


def test_on_success_to_another_function(lam: Any, logs: Any, make_fn: Any) -> None:
    sink = make_fn("a-sink-ok", RECORDER)
    fn = make_fn("a-ok", FLAKY)
    lam.publish_version(FunctionName=fn)
    lam.create_alias(FunctionName=fn, Name="live", FunctionVersion="1")
    lam.put_function_event_invoke_config(FunctionName=fn, Qualifier="live",
                                         DestinationConfig={"OnSuccess": {"Destination": arn(sink)}})  # fmt: skip
    lam.invoke(FunctionName=fn, Qualifier="live", InvocationType="Event", Payload=b'{"id": 5}')
    (rec,) = records(logs, sink)
    body = rec["event"]
    assert body["requestContext"]["condition"] == "Success"
    assert body["requestContext"]["functionArn"] == arn(fn) + ":live"
    assert body["requestContext"]["approximateInvokeCount"] == 1
    assert body["responseContext"] == {"statusCode": 200, "executedVersion": "1"}
    assert body["responsePayload"] == {"done": 5}


def test_throttled_events_wait_and_run(lam: Any, logs: Any, make_fn: Any) -> None:
    fn = make_fn("a-throttled", RECORDER)
    lam.put_function_concurrency(FunctionName=fn, ReservedConcurrentExecutions=0)
    for i in range(20):
        lam.invoke(FunctionName=fn, InvocationType="Event", Payload=json.dumps({"i": i}))
    time.sleep(2)
    assert messages(logs, fn, "RECORD") == []
    lam.put_function_concurrency(FunctionName=fn, ReservedConcurrentExecutions=2)
    got = records(logs, fn, count=20, timeout=60)
    assert sorted(r["event"]["i"] for r in got) == list(range(20))  # every one, none dropped


def test_aws_cli_invocation_type_event(srv: Server, logs: Any, make_fn: Any, tmp_path: Path) -> None:
    fn = make_fn("a-cli", RECORDER)
    out = tmp_path / "out.json"
    proc = aws_cli(srv, "lambda", "invoke", "--function-name", fn, "--invocation-type", "Event",
                   "--payload", '{"via": "cli"}', str(out))  # fmt: skip
    assert json.loads(proc.stdout)["StatusCode"] == 202
    assert records(logs, fn)[0]["event"] == {"via": "cli"}


def test_kill_9_with_events_in_flight(tmp_path: Path) -> None:
    """2,000 accepted events, `kill -9` while they run, a restart on the same data dir: every one runs at least once.
    The witness is the OnSuccess destination queue (delivered before an event is acked, durable), read through the
    queue store itself once the server has stopped."""
    data = tmp_path / "data"
    data.mkdir()
    asyncio.run(_create_queue(data, "a-done"))
    server = start_server(data, *FAST, "--async-concurrency", "16")
    total = 2000
    try:
        lam = server.client("lambda")
        fn = "a-durable"
        lam.create_function(FunctionName=fn, Runtime="python3.11", Role=ROLE, Handler="app.handler",
                            Code={"ZipFile": make_zip({"app.py": SLOW_OK})})  # fmt: skip
        lam.put_function_event_invoke_config(
            FunctionName=fn, DestinationConfig={"OnSuccess": {"Destination": f"arn:aws:sqs:{REGION}:{ACCOUNT}:a-done"}}
        )

        def send(i: int) -> int:
            return int(lam.invoke(FunctionName=fn, InvocationType="Event", Payload=json.dumps({"n": i}))["StatusCode"])

        with ThreadPoolExecutor(16) as pool:
            assert set(pool.map(send, range(total))) == {202}
        server.process.send_signal(signal.SIGKILL)
        server.process.wait()
        before = asyncio.run(_drain(data, "a-done", keep=True))
        assert len(set(before)) < total, "every event ran before the kill: the test proves nothing"
        server = start_server(data, *FAST, "--async-concurrency", "16")
        done = wait_for(lambda: asyncio.run(_depth(data, "__nimbus_async")) == 0, timeout=180, step=1.0)
        server.stop()
        seen = asyncio.run(_drain(data, "a-done"))
        assert done, "the async queue did not drain"
        assert set(seen) == set(range(total)), f"{len(set(seen))} of {total} events ran"
    finally:
        server.stop()


#: succeeds slowly enough that the kill finds most events still queued
SLOW_OK = "import time\ndef handler(event, context):\n    time.sleep(0.05)\n    return event\n"


async def _create_queue(data: Path, name: str) -> None:
    store = SqliteQueueStore(data / "queues.db")
    try:
        await store.create_queue(name, {}, {})
    finally:
        await store.close()


async def _depth(data: Path, name: str) -> int:
    store = SqliteQueueStore(data / "queues.db")
    try:
        depth = await store.depth(name)
        return depth.visible + depth.in_flight + depth.delayed
    finally:
        await store.close()


async def _drain(data: Path, name: str, keep: bool = False) -> list[int]:
    """The `n` of every destination record in queue `name`: acked, or (`keep`) put back once all are read."""
    store = SqliteQueueStore(data / "queues.db")
    out: list[int] = []
    held: list[str] = []
    try:
        while batch := await store.reserve(name, 10, 600.0):
            out += [json.loads(m.body)["requestPayload"]["n"] for m in batch]
            for m in batch:
                if keep:
                    held.append(m.receipt)
                else:
                    await store.ack(name, m.receipt)
        for receipt in held:
            await store.nack(name, receipt, 0.0)
    finally:
        await store.close()
    return out


# ---- event invoke configs: every validation error, name and status ----
def test_event_invoke_config_crud(lam: Any, make_fn: Any) -> None:
    fn = make_fn("a-cfg", RECORDER)
    expect_error(lam.get_function_event_invoke_config, "ResourceNotFoundException", 404, FunctionName=fn)
    expect_error(lam.update_function_event_invoke_config, "ResourceNotFoundException", 404, FunctionName=fn,
                 MaximumRetryAttempts=1)  # fmt: skip
    expect_error(lam.delete_function_event_invoke_config, "ResourceNotFoundException", 404, FunctionName=fn)
    t0 = time.time()
    put = lam.put_function_event_invoke_config(FunctionName=fn, MaximumRetryAttempts=1)
    assert put["FunctionArn"] == arn(fn) + ":$LATEST"
    assert put["MaximumRetryAttempts"] == 1
    assert "MaximumEventAgeInSeconds" not in put
    assert abs(put["LastModified"].timestamp() - t0) < 5
    queue_arn = f"arn:aws:sqs:{REGION}:{ACCOUNT}:a-cfg-q"
    upd = lam.update_function_event_invoke_config(
        FunctionName=fn, MaximumEventAgeInSeconds=300, DestinationConfig={"OnFailure": {"Destination": queue_arn}}
    )
    assert (upd["MaximumRetryAttempts"], upd["MaximumEventAgeInSeconds"]) == (1, 300)  # merged
    assert upd["DestinationConfig"]["OnFailure"] == {"Destination": queue_arn}
    put = lam.put_function_event_invoke_config(FunctionName=fn, MaximumEventAgeInSeconds=60)
    assert "MaximumRetryAttempts" not in put  # replaced
    assert lam.get_function_event_invoke_config(FunctionName=fn)["MaximumEventAgeInSeconds"] == 60
    lam.publish_version(FunctionName=fn)
    lam.put_function_event_invoke_config(FunctionName=fn, Qualifier="1", MaximumRetryAttempts=0)
    listed = lam.list_function_event_invoke_configs(FunctionName=fn)["FunctionEventInvokeConfigs"]
    assert [c["FunctionArn"] for c in listed] == [arn(fn) + ":$LATEST", arn(fn) + ":1"]
    page = lam.list_function_event_invoke_configs(FunctionName=fn, MaxItems=1)
    assert len(page["FunctionEventInvokeConfigs"]) == 1
    assert page["NextMarker"]
    lam.delete_function_event_invoke_config(FunctionName=fn, Qualifier="1")
    expect_error(lam.get_function_event_invoke_config, "ResourceNotFoundException", 404, FunctionName=fn,
                 Qualifier="1")  # fmt: skip
    lam.delete_function(FunctionName=fn, Qualifier="1")
    lam.delete_function(FunctionName=fn)
    expect_error(lam.list_function_event_invoke_configs, "ResourceNotFoundException", 404, FunctionName=fn)


@pytest.mark.parametrize(
    ("kwargs", "code", "status"),
    [
        ({"MaximumRetryAttempts": 3}, "ValidationException", 400),
        ({"MaximumRetryAttempts": -1}, "ValidationException", 400),
        ({"MaximumRetryAttempts": "two"}, "ValidationException", 400),  # not an integer: the model refuses it
        ({"MaximumEventAgeInSeconds": 59}, "ValidationException", 400),
        ({"MaximumEventAgeInSeconds": 21601}, "ValidationException", 400),
        ({"DestinationConfig": {"OnFailure": {"Destination": "not-an-arn"}}}, "ValidationException", 400),
        ({"DestinationConfig": {"OnFailure": {"Destination": f"arn:aws:sns:{REGION}:{ACCOUNT}:topic"}}},
         "InvalidParameterValueException", 400),
        ({"DestinationConfig": {"OnSuccess": {"Destination": f"arn:aws:sqs:eu-west-1:{ACCOUNT}:q"}}},
         "InvalidParameterValueException", 400),
        ({"DestinationConfig": {"OnSuccess": {"Destination": arn("a-cfg-bad")}}}, "InvalidParameterValueException",
         400),
        ({"DestinationConfig": {"OnSuccess": {"Destination": f"arn:aws:sqs:{REGION}:{ACCOUNT}:__nimbus_async"}}},
         "InvalidParameterValueException", 400),
        ({"Qualifier": "nope", "MaximumRetryAttempts": 1}, "ResourceNotFoundException", 404),
    ],
)  # fmt: skip
def test_event_invoke_config_validation(srv: Server, lam: Any, make_fn: Any, kwargs: dict[str, Any], code: str,
                                        status: int) -> None:  # fmt: skip
    fn = make_fn("a-cfg-bad", RECORDER)
    raw = raw_client(srv)
    expect_error(raw.put_function_event_invoke_config, code, status, FunctionName=fn, **kwargs)
    expect_error(lam.get_function_event_invoke_config, "ResourceNotFoundException", 404, FunctionName=fn)


def test_event_invoke_config_unknown_function(lam: Any) -> None:
    expect_error(lam.put_function_event_invoke_config, "ResourceNotFoundException", 404, FunctionName="a-none",
                 MaximumRetryAttempts=1)  # fmt: skip


def test_dead_letter_config_is_stored_and_returned(lam: Any, make_fn: Any) -> None:
    target = f"arn:aws:sqs:{REGION}:{ACCOUNT}:a-dlq"
    fn = make_fn("a-dlcfg", RECORDER, DeadLetterConfig={"TargetArn": target})
    assert lam.get_function_configuration(FunctionName=fn)["DeadLetterConfig"] == {"TargetArn": target}
    lam.update_function_configuration(FunctionName=fn, DeadLetterConfig={"TargetArn": ""})
    assert "DeadLetterConfig" not in lam.get_function_configuration(FunctionName=fn)
    expect_error(lam.update_function_configuration, "InvalidParameterValueException", 400, FunctionName=fn,
                 DeadLetterConfig={"TargetArn": "arn:aws:s3:::bucket"})  # fmt: skip
    expect_error(lam.update_function_configuration, "InvalidParameterValueException", 400, FunctionName=fn,
                 DeadLetterConfig={"TargetArn": f"arn:aws:sqs:{REGION}:{ACCOUNT}:__nimbus_async"})  # fmt: skip


# ---- destinations and the dead-letter queue, read through the SQS API ----
@pytest.fixture(scope="module")
def sqs(srv: Server) -> Any:
    return srv.client("sqs")


def test_on_failure_queue_and_dead_letter_queue(lam: Any, sqs: Any, make_fn: Any) -> None:
    failed_url = sqs.create_queue(QueueName="a-failed")["QueueUrl"]
    dlq_url = sqs.create_queue(QueueName="a-dlq-q")["QueueUrl"]
    failed_arn = sqs.get_queue_attributes(QueueUrl=failed_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    fn = make_fn("a-flaky-q", FLAKY, DeadLetterConfig={"TargetArn": dlq_arn})
    lam.put_function_event_invoke_config(FunctionName=fn, MaximumRetryAttempts=1,
                                         DestinationConfig={"OnFailure": {"Destination": failed_arn}})  # fmt: skip
    resp = lam.invoke(FunctionName=fn, InvocationType="Event", Payload=b'{"fail": true, "id": 9}')
    rid = resp["ResponseMetadata"]["HTTPHeaders"]["x-amzn-requestid"]
    (failed,) = receive_all(sqs, failed_url, 1)
    body = json.loads(failed["Body"])
    assert body["requestContext"] == {"requestId": rid, "functionArn": arn(fn) + ":$LATEST",
                                      "condition": "RetriesExhausted", "approximateInvokeCount": 2}  # fmt: skip
    assert body["responseContext"]["functionError"] == "Unhandled"
    (dead,) = receive_all(sqs, dlq_url, 1)
    assert json.loads(dead["Body"]) == {"fail": True, "id": 9}
    attrs = dead["MessageAttributes"]
    assert attrs["RequestID"] == {"DataType": "String", "StringValue": rid}
    assert attrs["ErrorCode"] == {"DataType": "Number", "StringValue": "200"}
    assert "failing on purpose: 9" in attrs["ErrorMessage"]["StringValue"]
    sqs.delete_queue(QueueUrl=failed_url)
    sqs.delete_queue(QueueUrl=dlq_url)


def test_on_success_queue(lam: Any, sqs: Any, make_fn: Any) -> None:
    url = sqs.create_queue(QueueName="a-ok-q")["QueueUrl"]
    fn = make_fn("a-ok-q", FLAKY)
    lam.put_function_event_invoke_config(
        FunctionName=fn, DestinationConfig={"OnSuccess": {"Destination": f"arn:aws:sqs:{REGION}:{ACCOUNT}:a-ok-q"}}
    )
    for i in range(5):
        lam.invoke(FunctionName=fn, InvocationType="Event", Payload=json.dumps({"id": i}))
    got = receive_all(sqs, url, 5)
    bodies = [json.loads(m["Body"]) for m in got]
    assert sorted(b["responsePayload"]["done"] for b in bodies) == list(range(5))
    assert {b["requestContext"]["condition"] for b in bodies} == {"Success"}
    assert {b["requestContext"]["approximateInvokeCount"] for b in bodies} == {1}
    sqs.delete_queue(QueueUrl=url)


# ---- the nimbus CLI ----
def nimbus(srv: Server, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NIMBUS_", "AWS_"))}
    env.update(AWS_SHARED_CREDENTIALS_FILE="/nonexistent", AWS_CONFIG_FILE="/nonexistent",
               NIMBUS_ENDPOINT_URL=srv.endpoint)  # fmt: skip
    return subprocess.run([*NIMBUS, *args], capture_output=True, text=True, env=env, cwd=ROOT, timeout=120)


def test_cli_invoke_async_and_config_async(srv: Server, lam: Any, logs: Any, make_fn: Any) -> None:
    sink = make_fn("a-cli-sink", RECORDER)
    fn = make_fn("a-cli-async", FLAKY)
    proc = nimbus(srv, "function", "config-async", fn, "--retries", "0", "--max-age", "120",
                  "--on-failure", arn(sink))  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    shown = json.loads(proc.stdout)
    assert (shown["MaximumRetryAttempts"], shown["MaximumEventAgeInSeconds"]) == (0, 120)
    proc = nimbus(srv, "function", "config-async", fn, "--max-age", "300")  # merges: retries kept
    assert (json.loads(proc.stdout)["MaximumRetryAttempts"], json.loads(proc.stdout)["MaximumEventAgeInSeconds"]) \
        == (0, 300)  # fmt: skip
    assert json.loads(nimbus(srv, "function", "config-async", fn).stdout)["DestinationConfig"]["OnFailure"] == {
        "Destination": arn(sink)
    }
    bad = nimbus(srv, "function", "config-async", fn, "--retries", "3")
    assert bad.returncode != 0
    assert "ValidationException" in bad.stderr or "maximumRetryAttempts" in bad.stderr
    proc = nimbus(srv, "invoke", fn, "--async", "--payload", '{"fail": true, "id": 3}')
    assert proc.returncode == 0, proc.stderr
    answer = json.loads(proc.stdout)
    assert answer["StatusCode"] == 202
    (rec,) = records(logs, sink)
    assert rec["event"]["requestContext"]["requestId"] == answer["RequestId"]
    assert rec["event"]["requestContext"]["approximateInvokeCount"] == 1
    missing = nimbus(srv, "invoke", "a-cli-none", "--async")
    assert missing.returncode != 0


def test_async_never_starves_sync_calls(tmp_path: Path) -> None:
    """Account limit 4, async share 2: a backlog of slow events holds at most 2 slots, so two synchronous calls
    run at the same moment without a 429."""
    server = start_server(tmp_path / "data", *FAST, "--concurrency-limit", "4", "--async-concurrency", "2")
    try:
        lam = server.client("lambda")
        slow = "import time\ndef handler(event, context):\n    time.sleep(event.get('s', 0))\n    return 'ok'\n"
        lam.create_function(FunctionName="a-share", Runtime="python3.11", Role=ROLE, Handler="app.handler",
                            Code={"ZipFile": make_zip({"app.py": slow})}, Timeout=10)  # fmt: skip
        for _ in range(20):
            lam.invoke(FunctionName="a-share", InvocationType="Event", Payload=b'{"s": 2}')
        time.sleep(1.0)  # the dispatcher has taken its share by now

        def sync(_: int) -> int:
            return int(lam.invoke(FunctionName="a-share", Payload=b'{"s": 0.5}')["StatusCode"])

        with ThreadPoolExecutor(2) as pool:
            assert list(pool.map(sync, range(2))) == [200, 200]
    finally:
        server.stop()


def test_deprecated_invoke_async_queues_the_event(lam: Any, logs: Any, make_fn: Any) -> None:
    fn = make_fn("a-legacy", RECORDER)
    assert lam.invoke_async(FunctionName=fn, InvokeArgs=b'{"legacy": 1}')["Status"] == 202
    assert records(logs, fn)[0]["event"] == {"legacy": 1}
    expect_error(lam.invoke_async, "RequestEntityTooLargeException", 413, FunctionName=fn,
                 InvokeArgs=json.dumps({"s": "x" * 262_144}).encode())  # fmt: skip
