"""Event source mappings for built-in queues, driven by boto3's `lambda`, `sqs` and `logs` clients against a real
server: the API and its errors, Lambda's SQS event, batching, filters, partial batch failures, the dead-letter
queue, disabling, and mappings that survive a `kill -9`.

The function prints each event it gets on one `EVENT {...}` line; the tests read those lines back through the
CloudWatch Logs API, so what they check is what the function saw.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from e2e_support import ACCOUNT, NIMBUS, REGION, expect_error, make_zip, raw_client, start_server, wait_active, wait_for

RECORDER = """
import json
def handler(event, context):
    print("EVENT " + json.dumps(event))
    records = event["Records"]
    if any(r["body"] == "poison" for r in records):
        raise RuntimeError("poison message")
    return {"batchItemFailures": [{"itemIdentifier": r["messageId"]} for r in records if r["body"].startswith("fail")]}
"""


def queue_arn(name: str) -> str:
    return f"arn:aws:sqs:{REGION}:{ACCOUNT}:{name}"


def seen_events(logs: Any, function: str) -> list[dict[str, Any]]:
    """Every event the function printed, oldest first."""
    out: list[dict[str, Any]] = []
    try:
        for page in logs.get_paginator("filter_log_events").paginate(logGroupName=f"/aws/lambda/{function}"):
            out += [json.loads(e["message"][6:]) for e in page["events"] if e["message"].startswith("EVENT ")]
    except ClientError:
        return []
    return out


def seen_bodies(logs: Any, function: str) -> list[str]:
    return [r["body"] for event in seen_events(logs, function) for r in event["Records"]]


def depth(sqs: Any, url: str) -> tuple[int, int]:
    attrs = sqs.get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    )["Attributes"]
    return int(attrs["ApproximateNumberOfMessages"]), int(attrs["ApproximateNumberOfMessagesNotVisible"])


class World:
    """Functions, queues and mappings made by one test, removed at its end."""

    def __init__(self, lam: Any, sqs: Any, logs: Any, prefix: str) -> None:
        self.lam, self.sqs, self.logs, self.prefix = lam, sqs, logs, prefix
        self.functions: list[str] = []
        self.queues: list[str] = []
        self.mappings: list[str] = []

    def function(self, suffix: str = "fn", timeout: int = 1, code: str = RECORDER) -> str:
        name = f"{self.prefix}-{suffix}"[:64]
        self.lam.create_function(
            FunctionName=name, Runtime="python3.11", Role=f"arn:aws:iam::{ACCOUNT}:role/r", Handler="app.handler",
            Code={"ZipFile": make_zip({"app.py": code})}, Timeout=timeout,
        )  # fmt: skip
        wait_active(self.lam, name)
        self.functions.append(name)
        return name

    def queue(self, suffix: str = "q", visibility: int = 1, dlq: str | None = None, receives: int = 2) -> str:
        attributes = {"VisibilityTimeout": str(visibility)}
        if dlq is not None:
            attributes["RedrivePolicy"] = json.dumps(
                {"deadLetterTargetArn": queue_arn(dlq), "maxReceiveCount": receives}
            )
        url: str = self.sqs.create_queue(QueueName=f"{self.prefix}-{suffix}"[:80], Attributes=attributes)["QueueUrl"]
        self.queues.append(url)
        return url

    def mapping(self, queue_url: str, function: str, **kwargs: Any) -> dict[str, Any]:
        resp: dict[str, Any] = self.lam.create_event_source_mapping(
            EventSourceArn=queue_arn(queue_url.rsplit("/", 1)[1]), FunctionName=function, **kwargs
        )
        self.mappings.append(resp["UUID"])
        return resp

    def cleanup(self) -> None:
        for key in self.mappings:
            with contextlib.suppress(ClientError):
                self.lam.delete_event_source_mapping(UUID=key)
        for url in self.queues:
            with contextlib.suppress(ClientError):
                self.sqs.delete_queue(QueueUrl=url)
        for name in self.functions:
            with contextlib.suppress(ClientError):
                self.lam.delete_function(FunctionName=name)


@pytest.fixture
def world(server: Any, request: pytest.FixtureRequest) -> Iterator[World]:
    prefix = "m-" + request.node.name.replace("_", "-").replace("[", "-").replace("]", "")[5:30] + uuid.uuid4().hex[:6]
    w = World(server.client("lambda"), server.client("sqs"), server.client("logs"), prefix)
    yield w
    w.cleanup()


# ---- the API ----
def test_create_get_list_update_delete(world: World) -> None:
    fn = world.function()
    url = world.queue(visibility=30)
    created = world.mapping(url, fn, BatchSize=5, Enabled=False)
    key = created["UUID"]
    assert created["State"] == "Creating"
    assert created["ResponseMetadata"]["HTTPStatusCode"] == 202
    assert created["EventSourceArn"] == queue_arn(url.rsplit("/", 1)[1])
    assert created["FunctionArn"] == f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{fn}"
    assert created["EventSourceMappingArn"] == f"arn:aws:lambda:{REGION}:{ACCOUNT}:event-source-mapping:{key}"
    assert created["BatchSize"] == 5
    assert created["MaximumBatchingWindowInSeconds"] == 0
    assert created["StateTransitionReason"] == "USER_INITIATED"
    got = world.lam.get_event_source_mapping(UUID=key)
    assert got["State"] == "Disabled"
    assert got["LastModified"].year >= 2026  # a timestamp, as the model types it
    listed = world.lam.list_event_source_mappings(FunctionName=fn)["EventSourceMappings"]
    assert [m["UUID"] for m in listed] == [key]
    assert [m["UUID"] for m in world.lam.list_event_source_mappings(EventSourceArn=created["EventSourceArn"])
            ["EventSourceMappings"]] == [key]  # fmt: skip
    updated = world.lam.update_event_source_mapping(
        UUID=key, Enabled=True, BatchSize=50, MaximumBatchingWindowInSeconds=2,
        FunctionResponseTypes=["ReportBatchItemFailures"], ScalingConfig={"MaximumConcurrency": 2},
        FilterCriteria={"Filters": [{"Pattern": '{"body": {"k": ["v"]}}'}]},
    )  # fmt: skip
    assert updated["State"] == "Enabling"
    assert updated["ResponseMetadata"]["HTTPStatusCode"] == 202
    got = world.lam.get_event_source_mapping(UUID=key)
    assert got["State"] == "Enabled"
    assert got["BatchSize"] == 50
    assert got["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert got["ScalingConfig"] == {"MaximumConcurrency": 2}
    assert got["FilterCriteria"] == {"Filters": [{"Pattern": '{"body": {"k": ["v"]}}'}]}
    assert world.lam.update_event_source_mapping(UUID=key, BatchSize=10)["State"] == "Updating"
    assert world.lam.update_event_source_mapping(UUID=key, Enabled=False)["State"] == "Disabling"
    deleted = world.lam.delete_event_source_mapping(UUID=key)
    assert deleted["State"] == "Deleting"
    assert deleted["ResponseMetadata"]["HTTPStatusCode"] == 202
    expect_error(world.lam.get_event_source_mapping, "ResourceNotFoundException", 404, UUID=key)


def test_list_paginates(world: World) -> None:
    fns = [world.function(f"f{i}") for i in range(3)]
    url = world.queue(visibility=30)
    keys = sorted(world.mapping(url, fn, Enabled=False)["UUID"] for fn in fns)
    arn = queue_arn(url.rsplit("/", 1)[1])
    first = world.lam.list_event_source_mappings(EventSourceArn=arn, MaxItems=2)
    assert len(first["EventSourceMappings"]) == 2
    second = world.lam.list_event_source_mappings(EventSourceArn=arn, MaxItems=2, Marker=first["NextMarker"])
    assert "NextMarker" not in second
    assert sorted(m["UUID"] for m in first["EventSourceMappings"] + second["EventSourceMappings"]) == keys


def test_validation_errors(server: Any, world: World) -> None:
    """Every refusal with its name and status, each limit at the limit and one past it; nothing is created."""
    raw = raw_client(server)
    fn = world.function()
    url = world.queue(visibility=30)
    arn = queue_arn(url.rsplit("/", 1)[1])

    def refused(code: str, status: int, **kwargs: Any) -> None:
        expect_error(raw.create_event_source_mapping, code, status, **({"EventSourceArn": arn, "FunctionName": fn}
                                                                       | kwargs))  # fmt: skip

    refused("InvalidParameterValueException", 400, FunctionName="no-such-function")
    refused("InvalidParameterValueException", 400, EventSourceArn=queue_arn("no-such-queue"))
    refused("InvalidParameterValueException", 400, EventSourceArn=f"arn:aws:sqs:eu-west-1:{ACCOUNT}:x")
    refused("InvalidParameterValueException", 400, EventSourceArn=f"arn:aws:kinesis:{REGION}:{ACCOUNT}:stream/s")
    refused("ValidationException", 400, BatchSize=0)
    refused("ValidationException", 400, BatchSize=10_001, MaximumBatchingWindowInSeconds=1)
    refused("InvalidParameterValueException", 400, BatchSize=11)  # over 10 needs a batching window
    refused("ValidationException", 400, MaximumBatchingWindowInSeconds=301)
    refused("ValidationException", 400, MaximumBatchingWindowInSeconds=-1)
    refused("ValidationException", 400, ScalingConfig={"MaximumConcurrency": 1})
    refused("ValidationException", 400, ScalingConfig={"MaximumConcurrency": 1001})
    refused("ValidationException", 400, FunctionResponseTypes=["Everything"])
    refused("InvalidParameterValueException", 400, FilterCriteria={"Filters": [{"Pattern": "not json"}]})
    refused("InvalidParameterValueException", 400, FilterCriteria={"Filters": [{"Pattern": '{"body": "x"}'}]})
    refused("InvalidParameterValueException", 400,
            FilterCriteria={"Filters": [{"Pattern": '{"body": ["x"]}'}] * 6})  # fmt: skip
    short = world.queue("short", visibility=1)
    slow = world.function("slow", timeout=5)
    expect_error(raw.create_event_source_mapping, "InvalidParameterValueException", 400,
                 EventSourceArn=queue_arn(short.rsplit("/", 1)[1]), FunctionName=slow)  # fmt: skip
    assert world.lam.list_event_source_mappings(EventSourceArn=arn)["EventSourceMappings"] == []
    # at the limits
    key = world.mapping(url, fn, BatchSize=10_000, MaximumBatchingWindowInSeconds=300, Enabled=False,
                        ScalingConfig={"MaximumConcurrency": 1000},
                        FilterCriteria={"Filters": [{"Pattern": '{"body": ["x"]}'}] * 5})["UUID"]  # fmt: skip
    raw.update_event_source_mapping(UUID=key, BatchSize=1, MaximumBatchingWindowInSeconds=0,
                                    ScalingConfig={"MaximumConcurrency": 2})  # fmt: skip
    expect_error(raw.update_event_source_mapping, "ValidationException", 400, UUID=key, BatchSize=0)
    expect_error(raw.update_event_source_mapping, "InvalidParameterValueException", 400, UUID=key, BatchSize=20)
    expect_error(raw.update_event_source_mapping, "InvalidParameterValueException", 400, UUID=key,
                 FunctionName="no-such-function")  # fmt: skip
    assert world.lam.get_event_source_mapping(UUID=key)["BatchSize"] == 1  # the refused updates changed nothing
    refused("ResourceConflictException", 409)  # one mapping per queue and function
    missing = str(uuid.uuid4())
    for call in (raw.get_event_source_mapping, raw.delete_event_source_mapping):
        expect_error(call, "ResourceNotFoundException", 404, UUID=missing)
    expect_error(raw.update_event_source_mapping, "ResourceNotFoundException", 404, UUID=missing, Enabled=False)
    expect_error(raw.list_event_source_mappings, "ValidationException", 400, MaxItems=0)
    expect_error(raw.list_event_source_mappings, "InvalidParameterValueException", 400, FunctionName="no-such-function")


# ---- delivery ----
def test_delivers_lambdas_sqs_event(world: World) -> None:
    fn = world.function()
    url = world.queue()
    sent = world.sqs.send_message(
        QueueUrl=url, MessageBody='{"hello": "world"}',
        MessageAttributes={"color": {"DataType": "String", "StringValue": "blue"},
                           "blob": {"DataType": "Binary", "BinaryValue": b"\x00\x01"}},
    )  # fmt: skip
    world.mapping(url, fn)
    events = wait_for(lambda: seen_events(world.logs, fn))
    assert events, "the function never ran"
    (rec,) = events[0]["Records"]
    assert rec["messageId"] == sent["MessageId"]
    assert rec["body"] == '{"hello": "world"}'
    assert rec["md5OfBody"] == sent["MD5OfMessageBody"]
    assert rec["eventSource"] == "aws:sqs"
    assert rec["eventSourceARN"] == queue_arn(url.rsplit("/", 1)[1])
    assert rec["awsRegion"] == REGION
    assert rec["receiptHandle"]
    assert set(rec["attributes"]) >= {"ApproximateReceiveCount", "SentTimestamp", "SenderId",
                                      "ApproximateFirstReceiveTimestamp"}  # fmt: skip
    assert rec["attributes"]["ApproximateReceiveCount"] == "1"
    assert rec["messageAttributes"]["color"] == {"stringValue": "blue", "stringListValues": [], "binaryListValues": [],
                                                 "dataType": "String"}  # fmt: skip
    assert rec["messageAttributes"]["blob"]["binaryValue"] == "AAE="
    assert rec["messageAttributes"]["blob"]["dataType"] == "Binary"
    assert wait_for(lambda: depth(world.sqs, url) == (0, 0)), "a handled message is deleted"


def test_batch_size_and_window(world: World) -> None:
    fn = world.function()
    url = world.queue(visibility=30)
    for i in range(0, 12, 6):
        world.sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": str(n), "MessageBody": f"m{n}"}
                                                            for n in range(i, i + 6)])  # fmt: skip
    world.mapping(url, fn, BatchSize=5, ScalingConfig={"MaximumConcurrency": 2})
    assert wait_for(lambda: len(seen_bodies(world.logs, fn)) >= 12)
    sizes = [len(e["Records"]) for e in seen_events(world.logs, fn)]
    assert sorted(seen_bodies(world.logs, fn)) == sorted(f"m{n}" for n in range(12))
    assert max(sizes) <= 5
    # a window gathers what arrives while it is open, up to the batch size
    fn2 = world.function("windowed")
    url2 = world.queue("windowed", visibility=30)
    world.mapping(url2, fn2, BatchSize=20, MaximumBatchingWindowInSeconds=3)
    for n in range(3):
        world.sqs.send_message(QueueUrl=url2, MessageBody=f"w{n}")
        time.sleep(0.3)
    assert wait_for(lambda: len(seen_bodies(world.logs, fn2)) >= 3)
    assert [len(e["Records"]) for e in seen_events(world.logs, fn2)] == [3]


def test_filters_delete_messages_that_match_none(world: World) -> None:
    fn = world.function()
    url = world.queue()
    world.mapping(url, fn, FilterCriteria={"Filters": [{"Pattern": '{"body": {"kind": ["keep"]}}'},
                                                       {"Pattern": '{"body": [{"prefix": "plain-"}]}'}]})  # fmt: skip
    bodies = ['{"kind": "keep", "n": 1}', '{"kind": "drop"}', "plain-text", "other text", '{"kind": "keep", "n": 2}']
    for body in bodies:
        world.sqs.send_message(QueueUrl=url, MessageBody=body)
    assert wait_for(lambda: depth(world.sqs, url) == (0, 0)), "filtered-out messages are deleted"
    assert wait_for(lambda: len(seen_bodies(world.logs, fn)) >= 3)
    time.sleep(0.5)
    assert sorted(seen_bodies(world.logs, fn)) == sorted([bodies[0], bodies[2], bodies[4]])


def test_partial_batch_failure_returns_only_the_failed_messages(world: World) -> None:
    fn = world.function()
    dlq = world.queue("dlq", visibility=30)
    url = world.queue(dlq=dlq.rsplit("/", 1)[1], receives=2)
    world.mapping(url, fn, BatchSize=10, FunctionResponseTypes=["ReportBatchItemFailures"])
    world.sqs.send_message_batch(QueueUrl=url, Entries=[
        {"Id": "a", "MessageBody": "ok-1"}, {"Id": "b", "MessageBody": "fail-1"}, {"Id": "c", "MessageBody": "ok-2"},
    ])  # fmt: skip
    got = wait_for(lambda: world.sqs.receive_message(QueueUrl=dlq, WaitTimeSeconds=1).get("Messages"), timeout=30)
    assert [m["Body"] for m in got] == ["fail-1"]
    bodies = seen_bodies(world.logs, fn)
    assert bodies.count("ok-1") == 1
    assert bodies.count("ok-2") == 1
    assert bodies.count("fail-1") == 2  # received twice (maxReceiveCount 2), then dead-lettered
    assert depth(world.sqs, url) == (0, 0)


def test_malformed_batch_item_failures_fail_the_whole_batch(world: World) -> None:
    bad = 'def handler(event, context):\n    print("EVENT " + __import__("json").dumps(event))\n' \
          '    return {"batchItemFailures": [{"itemIdentifier": ""}]}\n'  # fmt: skip
    fn = world.function(code=bad)
    dlq = world.queue("dlq", visibility=30)
    url = world.queue(dlq=dlq.rsplit("/", 1)[1], receives=1)
    world.mapping(url, fn, FunctionResponseTypes=["ReportBatchItemFailures"])
    world.sqs.send_message(QueueUrl=url, MessageBody="whole")
    got = wait_for(lambda: world.sqs.receive_message(QueueUrl=dlq, WaitTimeSeconds=1).get("Messages"), timeout=30)
    assert [m["Body"] for m in got] == ["whole"]


def test_poison_message_ends_in_the_dead_letter_queue(world: World) -> None:
    fn = world.function()
    dlq = world.queue("dlq", visibility=30)
    url = world.queue(dlq=dlq.rsplit("/", 1)[1], receives=3)
    world.mapping(url, fn)
    world.sqs.send_message(QueueUrl=url, MessageBody="poison")
    got = wait_for(lambda: world.sqs.receive_message(QueueUrl=dlq, WaitTimeSeconds=1).get("Messages"), timeout=40)
    assert [m["Body"] for m in got] == ["poison"]
    counts = [r["attributes"]["ApproximateReceiveCount"] for e in seen_events(world.logs, fn) for r in e["Records"]]
    assert counts == ["1", "2", "3"]
    assert depth(world.sqs, url) == (0, 0)


SLOW = """
import json, time
def handler(event, context):
    start = time.time()
    time.sleep(0.4)
    print("SPAN " + json.dumps([start, time.time()]))
"""


def test_pollers_scale_with_the_backlog_up_to_maximum_concurrency(world: World) -> None:
    fn = world.function(code=SLOW, timeout=3)
    url = world.queue(visibility=30)
    for i in range(0, 24, 8):
        world.sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": str(n), "MessageBody": str(n)}
                                                            for n in range(i, i + 8)])  # fmt: skip
    world.mapping(url, fn, BatchSize=1, ScalingConfig={"MaximumConcurrency": 3})

    def spans() -> list[list[float]]:
        pages = world.logs.get_paginator("filter_log_events").paginate(logGroupName=f"/aws/lambda/{fn}")
        try:
            return [
                json.loads(e["message"][5:]) for p in pages for e in p["events"] if e["message"].startswith("SPAN ")
            ]
        except ClientError:  # no log group before the first invocation
            return []

    assert wait_for(lambda: len(spans()) >= 24, timeout=60)
    edges = sorted([(a, 1) for a, _ in spans()] + [(b, -1) for _, b in spans()], key=lambda e: (e[0], e[1]))
    running = peak = 0
    for _, step in edges:
        running += step
        peak = max(peak, running)
    assert 1 < peak <= 3  # more than one poller ran at once, and never more than the cap


def test_throttled_invokes_back_off_and_leave_messages_in_the_queue(world: World) -> None:
    fn = world.function()
    url = world.queue()
    world.lam.put_function_concurrency(FunctionName=fn, ReservedConcurrentExecutions=0)
    world.mapping(url, fn)
    world.sqs.send_message(QueueUrl=url, MessageBody="held")
    time.sleep(3)
    assert seen_bodies(world.logs, fn) == []
    assert sum(depth(world.sqs, url)) == 1  # still in the queue (visible again after each refused invoke)
    world.lam.delete_function_concurrency(FunctionName=fn)
    assert wait_for(lambda: seen_bodies(world.logs, fn) == ["held"], timeout=40)
    assert wait_for(lambda: depth(world.sqs, url) == (0, 0))


def test_disable_stops_delivery_and_enable_resumes(world: World) -> None:
    fn = world.function()
    url = world.queue()
    key = world.mapping(url, fn)["UUID"]
    assert world.lam.update_event_source_mapping(UUID=key, Enabled=False)["State"] == "Disabling"
    assert world.lam.get_event_source_mapping(UUID=key)["State"] == "Disabled"
    world.sqs.send_message(QueueUrl=url, MessageBody="later")
    time.sleep(3)
    assert depth(world.sqs, url) == (1, 0)
    assert seen_bodies(world.logs, fn) == []
    world.lam.update_event_source_mapping(UUID=key, Enabled=True)
    assert wait_for(lambda: seen_bodies(world.logs, fn) == ["later"])
    assert wait_for(lambda: depth(world.sqs, url) == (0, 0))
    world.lam.delete_event_source_mapping(UUID=key)
    world.sqs.send_message(QueueUrl=url, MessageBody="after delete")
    time.sleep(3)
    assert depth(world.sqs, url) == (1, 0)


def test_mappings_survive_a_kill(tmp_path: Path) -> None:
    srv = start_server(tmp_path / "data")
    try:
        world = World(srv.client("lambda"), srv.client("sqs"), srv.client("logs"), "restart")
        fn = world.function()
        url = world.queue()
        key = world.mapping(url, fn, BatchSize=3)["UUID"]
        srv.stop(signal.SIGKILL)
        srv = start_server(tmp_path / "data")
        world = World(srv.client("lambda"), srv.client("sqs"), srv.client("logs"), "restart")
        got = world.lam.get_event_source_mapping(UUID=key)
        assert (got["State"], got["BatchSize"]) == ("Enabled", 3)
        world.sqs.send_message(QueueUrl=url.replace(url.split("/")[2], srv.endpoint.split("/")[2]),
                               MessageBody="after restart")  # fmt: skip
        assert wait_for(lambda: seen_bodies(world.logs, fn) == ["after restart"])
    finally:
        srv.stop()


# ---- the CLI ----
def test_cli_mapping_create_list_update_delete(server: Any, world: World) -> None:
    fn = world.function()
    url = world.queue(visibility=30)
    name = url.rsplit("/", 1)[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NIMBUS_", "AWS_"))}
    env.update(
        NIMBUS_ENDPOINT_URL=server.endpoint,
        AWS_SHARED_CREDENTIALS_FILE="/nonexistent",
        AWS_CONFIG_FILE="/nonexistent",
        AWS_ACCESS_KEY_ID="test",
        AWS_SECRET_ACCESS_KEY="test",
        COLUMNS="250",
    )

    def nimbus(*args: str, code: int = 0) -> subprocess.CompletedProcess[str]:
        result = subprocess.run([*NIMBUS, "mapping", *args], capture_output=True, text=True, env=env, timeout=120)
        assert result.returncode == code, result
        assert "Traceback" not in result.stderr
        return result

    created = nimbus("create", fn, "--queue", name, "--batch-size", "3", "--disabled", "--report-failures",
                     "--filter", '{"body": {"k": ["v"]}}').stdout  # fmt: skip
    assert f"-> {fn} (Creating)" in created
    key = created.split()[2].rstrip(":")
    got = world.lam.get_event_source_mapping(UUID=key)
    assert (got["BatchSize"], got["State"], got["FunctionResponseTypes"]) == (
        3,
        "Disabled",
        ["ReportBatchItemFailures"],
    )
    listed = nimbus("list", "--queue", queue_arn(name)).stdout
    assert key in listed
    assert "Disabled" in listed
    assert "(Enabling)" in nimbus("update", key, "--enable", "--batch-size", "5", "--no-filters").stdout
    got = world.lam.get_event_source_mapping(UUID=key)
    assert (got["BatchSize"], got["State"], got.get("FilterCriteria")) == (5, "Enabled", None)
    error = nimbus("update", key, "--batch-size", "20", code=1).stderr  # over 10 needs a window
    assert error.startswith("error: InvalidParameterValueException: Maximum batch window")
    assert "(Deleting)" in nimbus("delete", key).stdout
    assert nimbus("list", "--function", fn).stdout.strip() == "no event source mappings"
    assert nimbus("delete", key, code=1).stderr.startswith("error: ResourceNotFoundException")
