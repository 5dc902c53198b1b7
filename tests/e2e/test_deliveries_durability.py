"""`kill -9` with EventBridge deliveries in flight loses none: every event PutEvents accepted reaches each target
after a restart on the same data dir, including deliveries that could not be made before the crash (a target queue
missing, a function whose policy did not yet allow the rule), which were retrying when the server died."""

from __future__ import annotations

import contextlib
import json
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from e2e_support import ACCOUNT, REGION, ROLE, make_zip, start_server, wait_active

RECORDER = """import json
def handler(event, context):
    print("RECORD " + json.dumps(event))
"""
FLAGS = ("--delivery-retry-delays", "0.5", "--delivery-visibility", "11")


def queue_arn(name: str) -> str:
    return f"arn:aws:sqs:{REGION}:{ACCOUNT}:{name}"


def drain(sqs: Any, url: str, want: set[str], timeout: float = 90.0) -> set[str]:
    """The event ids that arrive in the queue (deleting each message) until all of `want` came or time is up."""
    got: set[str] = set()
    deadline = time.monotonic() + timeout
    while not want <= got and time.monotonic() < deadline:
        for m in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", []):
            got.add(json.loads(m["Body"])["id"])
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
    return got


def recorded_ids(logs: Any, fn: str, want: set[str], timeout: float = 90.0) -> set[str]:
    got: set[str] = set()
    deadline = time.monotonic() + timeout
    while not want <= got and time.monotonic() < deadline:
        with contextlib.suppress(logs.exceptions.ResourceNotFoundException):
            for page in logs.get_paginator("filter_log_events").paginate(logGroupName=f"/aws/lambda/{fn}"):
                for e in page["events"]:
                    if e["message"].startswith("RECORD "):
                        got.add(json.loads(e["message"][len("RECORD ") :])["id"])
        time.sleep(0.5)
    return got


def put(events: Any, source: str, count: int) -> set[str]:
    """`count` events of `source`, 10 a call, from 8 threads: their ids (every entry accepted)."""

    def call(start: int) -> list[str]:
        entries = [{"Source": source, "DetailType": "t", "Detail": json.dumps({"n": start + i})}
                   for i in range(min(10, count - start))]  # fmt: skip
        resp = events.put_events(Entries=entries)
        assert resp["FailedEntryCount"] == 0, resp
        return [e["EventId"] for e in resp["Entries"]]

    with ThreadPoolExecutor(8) as pool:
        return {i for ids in pool.map(call, range(0, count, 10)) for i in ids}


def test_kill_9_with_events_in_flight_loses_none(tmp_path: Path) -> None:
    data = tmp_path / "data"
    server = start_server(data, *FLAGS)
    try:
        events, sqs, lam = server.client("events"), server.client("sqs"), server.client("lambda")
        now_url = sqs.create_queue(QueueName="dur-now")["QueueUrl"]
        late_url = sqs.create_queue(QueueName="dur-late")["QueueUrl"]
        lam.create_function(FunctionName="dur-fn", Runtime="python3.11", Role=ROLE, Handler="app.handler",
                            Code={"ZipFile": make_zip({"app.py": RECORDER})})  # fmt: skip
        wait_active(lam, "dur-fn")
        events.put_rule(Name="dur-queues", EventPattern='{"source": ["dur"]}')
        events.put_targets(Rule="dur-queues", Targets=[{"Id": "now", "Arn": queue_arn("dur-now")},
                                                       {"Id": "late", "Arn": queue_arn("dur-late")}])  # fmt: skip
        fn_rule = events.put_rule(Name="dur-fn", EventPattern='{"source": ["dur-fn"]}')["RuleArn"]
        events.put_targets(Rule="dur-fn", Targets=[{"Id": "fn", "Arn": lam.get_function(FunctionName="dur-fn")[
            "Configuration"]["FunctionArn"]}])  # fmt: skip
        sqs.delete_queue(QueueUrl=late_url)  # its deliveries fail and are retried until it is back
        to_queues = put(events, "dur", 300)
        to_fn = put(events, "dur-fn", 20)  # refused (no permission yet) and retried
        assert len(to_queues) == 300
        assert len(to_fn) == 20
    finally:
        server.stop(signal.SIGKILL)
    assert server.process.returncode == -signal.SIGKILL

    server = start_server(data, *FLAGS)
    try:
        events, sqs, lam = server.client("events"), server.client("sqs"), server.client("lambda")
        now_url = sqs.get_queue_url(QueueName="dur-now")["QueueUrl"]
        late_url = sqs.create_queue(QueueName="dur-late")["QueueUrl"]
        lam.add_permission(FunctionName="dur-fn", StatementId="events", Action="lambda:InvokeFunction",
                           Principal="events.amazonaws.com", SourceArn=fn_rule)  # fmt: skip
        assert to_queues <= drain(sqs, now_url, to_queues)
        assert to_queues <= drain(sqs, late_url, to_queues)
        assert to_fn <= recorded_ids(server.client("logs"), "dur-fn", to_fn)
    finally:
        server.stop()
