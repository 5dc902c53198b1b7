"""SQS event source mapping throughput against the synchronous invoke of the same no-op function, in one run.

    .venv/bin/python bench/sqs_mapping.py --messages 5000 --batch-size 10 --concurrency 5

1. Starts `nimbus serve` (temporary data dir), deploys `bench-noop` and warms it.
2. **sync**: 32 keep-alive connections replay one signed RequestResponse Invoke for `--seconds`.
3. **mapping**: `--messages` are sent to a queue (SendMessageBatch) under a disabled mapping; the mapping is
   enabled and timed until the queue is empty (ApproximateNumberOfMessages and ...NotVisible both 0, polled).
   Messages per second and invocations per second (messages / batch size) are printed against sync.

Never fails on timing; prints the figures.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import boto3
from botocore.config import Config

from _support import KEY, REGION, SECRET, deploy, lambda_client, nimbus_server, sync_invoke_rate
from async_invoke import BODY, NOOP


def sqs_client(port: int) -> Any:
    return boto3.client(
        "sqs", endpoint_url=f"http://127.0.0.1:{port}", region_name=REGION, aws_access_key_id=KEY,
        aws_secret_access_key=SECRET, config=Config(retries={"max_attempts": 0}, max_pool_connections=32),
    )  # fmt: skip


def fill(sqs: Any, url: str, messages: int) -> None:
    def batch(start: int) -> None:
        entries = [{"Id": str(i), "MessageBody": f'{{"n": {start + i}}}'} for i in range(min(10, messages - start))]
        sqs.send_message_batch(QueueUrl=url, Entries=entries)

    with ThreadPoolExecutor(16) as pool:
        list(pool.map(batch, range(0, messages, 10)))


def empty(sqs: Any, url: str) -> bool:
    attrs = sqs.get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    )["Attributes"]
    return int(attrs["ApproximateNumberOfMessages"]) + int(attrs["ApproximateNumberOfMessagesNotVisible"]) == 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=5000)
    parser.add_argument("--batch-size", type=int, default=10)
    parser.add_argument("--window", type=int, default=0, help="MaximumBatchingWindowInSeconds (needed over 10)")
    parser.add_argument("--concurrency", type=int, default=5, help="ScalingConfig.MaximumConcurrency")
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, nimbus_server(Path(tmp)) as server:
        lam = lambda_client(server.port)
        deploy(lam, "bench-noop", "python3.11", NOOP, "app.handler", BODY)
        sync_rate = sync_invoke_rate(server.port, "bench-noop", BODY, 32, args.seconds).per_second
        sqs = sqs_client(server.port)
        url = sqs.create_queue(QueueName="bench-mapping", Attributes={"VisibilityTimeout": "60"})["QueueUrl"]
        params: dict[str, Any] = {
            "BatchSize": args.batch_size,
            "ScalingConfig": {"MaximumConcurrency": args.concurrency},
        }
        if args.window:
            params["MaximumBatchingWindowInSeconds"] = args.window
        key = lam.create_event_source_mapping(
            EventSourceArn=f"arn:aws:sqs:{REGION}:000000000000:bench-mapping", FunctionName="bench-noop",
            Enabled=False, **params,
        )["UUID"]  # fmt: skip
        fill(sqs, url, args.messages)
        start = time.monotonic()
        lam.update_event_source_mapping(UUID=key, Enabled=True)
        while not empty(sqs, url):
            time.sleep(0.05)
        took = time.monotonic() - start
    rate = args.messages / took
    invokes = rate / args.batch_size
    print(f"sqs mapping: no-op python3.11, {args.messages} messages, BatchSize {args.batch_size}, "
          f"window {args.window} s, MaximumConcurrency {args.concurrency}\n")  # fmt: skip
    print(f"  sync invoke          {sync_rate:10.0f} req/s")
    print(f"  mapping              {rate:10.0f} msg/s    ({invokes:.0f} invokes/s, {invokes / sync_rate:.2f}x sync; "
          f"{rate / sync_rate:.2f}x sync in messages)")  # fmt: skip


if __name__ == "__main__":
    main()
