"""SNS Publish to a function's handler, against a direct async invoke of the same function, in one run.

    .venv/bin/python bench/sns_publish.py --samples 100 --messages 300 --connections 16

1. Starts `nimbus serve` (temporary data dir), deploys ten functions `bench-sns-0..9` (the handler returns how long
   ago its event was sent: the client's `time.time()` travels in the event) and warms them.
2. **latency**: `--samples` times, one at a time: an Event invoke of `bench-sns-0` carrying the send time, then a
   Publish to a topic whose one subscription is `bench-sns-0` (with its sns.amazonaws.com permission) carrying
   it as the message. Each handler's answer reaches an OnSuccess destination queue, read after the fact (not
   timed). p50 and p90 of send-to-handler.
3. **fan-out**: a topic with the ten functions subscribed; `--messages` Publish requests (pre-signed, replayed on
   `--connections` keep-alive connections) make messages x 10 invocations; from the first request to the moment
   the delivery and async queues are empty (read through the queue store, `queues.db`): invocations per second.
   Baseline: the same number of Event invokes spread over the ten functions, the same way. The server's async
   share (`--async-concurrency`) is `--connections`, so both run as many invocations at once.

Never fails on timing; prints the figures and the ratios to the direct async invoke.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import boto3
from botocore.config import Config

from _support import KEY, REGION, SECRET, deploy, drive, lambda_client, nimbus_server, signed_request, status_is
from nimbus.invoke.async_invoke import ASYNC_QUEUE
from nimbus.queue.sqlite import SqliteQueueStore
from nimbus.sources.deliveries import DELIVERY_QUEUE

ACCOUNT = "000000000000"
BODY = b'{"n": 1}'
HANDLER = """import json, time
def handler(event, context):
    if "Records" in event:
        return {"latency": time.time() - float(event["Records"][0]["Sns"]["Message"])}
    if "t" in event:
        return {"latency": time.time() - event["t"]}
    return event
"""
FUNCTIONS = [f"bench-sns-{i}" for i in range(10)]


def client(service: str, port: int) -> Any:
    return boto3.client(service, endpoint_url=f"http://127.0.0.1:{port}", region_name=REGION,
                        aws_access_key_id=KEY, aws_secret_access_key=SECRET,
                        config=Config(retries={"max_attempts": 0}))  # fmt: skip


async def pending(db: Path) -> int:
    store = SqliteQueueStore(db)
    try:
        total = 0
        for queue in (DELIVERY_QUEUE, ASYNC_QUEUE):
            d = await store.depth(queue)
            total += d.visible + d.in_flight + d.delayed
        return total
    finally:
        await store.close()


def next_latency(sqs: Any, url: str) -> float:
    """The next handler's answer in the destination queue: its send-to-handler seconds."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        got = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1).get("Messages", [])
        if got:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=got[0]["ReceiptHandle"])
            return float(json.loads(got[0]["Body"])["responsePayload"]["latency"])
    raise SystemExit("no handler answer within 60 s: see the server log")


def latencies(port: int, samples: int) -> tuple[list[float], list[float]]:
    lam, sns, sqs = lambda_client(port), client("sns", port), client("sqs", port)
    url = sqs.create_queue(QueueName="bench-sns-done")["QueueUrl"]
    lam.put_function_event_invoke_config(
        FunctionName=FUNCTIONS[0],
        DestinationConfig={"OnSuccess": {"Destination": f"arn:aws:sqs:{REGION}:{ACCOUNT}:bench-sns-done"}},
    )
    topic = sns.create_topic(Name="bench-one")["TopicArn"]
    fn_arn = lam.get_function_configuration(FunctionName=FUNCTIONS[0])["FunctionArn"]
    lam.add_permission(FunctionName=FUNCTIONS[0], StatementId="one", Action="lambda:InvokeFunction",
                       Principal="sns.amazonaws.com", SourceArn=topic)  # fmt: skip
    sns.subscribe(TopicArn=topic, Protocol="lambda", Endpoint=fn_arn)
    direct, published = [], []
    for _ in range(samples):
        lam.invoke(FunctionName=FUNCTIONS[0], InvocationType="Event", Payload=json.dumps({"t": time.time()}))
        direct.append(next_latency(sqs, url))
        sns.publish(TopicArn=topic, Message=repr(time.time()))
        published.append(next_latency(sqs, url))
    lam.delete_function_event_invoke_config(FunctionName=FUNCTIONS[0])
    sns.delete_topic(TopicArn=topic)
    return direct, published


def run_until_drained(port: int, db: Path, requests: list[bytes], connections: int, ok: int) -> tuple[float, int]:
    """Send `requests` on `connections` keep-alive connections, then wait until nothing is queued; (seconds, non-ok)."""
    pool = iter(requests)
    start = time.monotonic()
    sent = asyncio.run(drive(port, lambda: next(pool, None), status_is(ok), connections, 600))
    while asyncio.run(pending(db)):
        time.sleep(0.02)
    return time.monotonic() - start, sent.failed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--samples", type=int, default=100)
    parser.add_argument("--messages", type=int, default=300)
    parser.add_argument("--connections", type=int, default=16)
    args = parser.parse_args()
    # the async share as the connections, as bench/async_invoke.py does: both ways run as many at once
    extra = ("--async-concurrency", str(args.connections))
    with tempfile.TemporaryDirectory() as tmp, nimbus_server(Path(tmp), *extra) as server:
        port, db = server.port, Path(tmp) / "data" / "queues.db"
        lam, sns = lambda_client(port), client("sns", port)
        for name in FUNCTIONS:
            deploy(lam, name, "python3.11", {"app.py": HANDLER}, "app.handler", BODY)
        direct, published = latencies(port, args.samples)

        topic = sns.create_topic(Name="bench-fan-out")["TopicArn"]
        for i, name in enumerate(FUNCTIONS):
            lam.add_permission(FunctionName=name, StatementId=f"fan{i}", Action="lambda:InvokeFunction",
                               Principal="sns.amazonaws.com", SourceArn=topic)  # fmt: skip
            arn = lam.get_function_configuration(FunctionName=name)["FunctionArn"]
            sns.subscribe(TopicArn=topic, Protocol="lambda", Endpoint=arn)
        invocations = args.messages * len(FUNCTIONS)
        events = [signed_request(port, "lambda", f"/2015-03-31/functions/{name}/invocations", BODY,
                                 {"X-Amz-Invocation-Type": "Event"}) for name in FUNCTIONS]  # fmt: skip
        cycle = itertools.cycle(events)
        base_s, base_bad = run_until_drained(port, db, [next(cycle) for _ in range(invocations)],
                                             args.connections, 202)  # fmt: skip
        form = urlencode({"Action": "Publish", "Version": "2010-03-31", "TopicArn": topic, "Message": "0"}).encode()
        publish = signed_request(port, "sns", "/", form,
                                 {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"})  # fmt: skip
        sns_s, sns_bad = run_until_drained(port, db, [publish] * args.messages, args.connections, 200)

    p = statistics.quantiles
    d50, d90 = statistics.median(direct), p(direct, n=10)[8]
    s50, s90 = statistics.median(published), p(published, n=10)[8]
    print(f"SNS publish: no-op python3.11; {args.samples} sequential samples; fan-out {args.messages} messages x "
          f"{len(FUNCTIONS)} functions on {args.connections} connections\n")  # fmt: skip
    print("                                   p50 ms    p90 ms")
    print(f"  async invoke -> handler        {d50 * 1000:8.2f}  {d90 * 1000:8.2f}")
    print(f"  publish -> handler             {s50 * 1000:8.2f}  {s90 * 1000:8.2f}   p50 {s50 / d50:.2f}x async")
    base_rate, sns_rate = invocations / base_s, invocations / sns_s
    print(f"\n  async invoke end to end  {base_rate:10.0f} invocations/s   ({base_bad} non-202)")
    print(f"  publish fan-out end to end {sns_rate:8.0f} invocations/s   ({sns_bad} non-200)  "
          f"{sns_rate / base_rate:.2f}x async")  # fmt: skip


if __name__ == "__main__":
    main()
