"""The SQS API's message operations per second against the synchronous invoke of a no-op function, in one run.

    .venv/bin/python bench/sqs_api.py [--connections 32] [--seconds 5] [--max-handles 60000]

1. Starts `nimbus serve` (temporary data dir), deploys `bench-noop` and warms it.
2. **sync**: `_support.sync_invoke_rate`, the baseline async_invoke.py and sqs_mapping.py measure too: `--connections`
   keep-alive connections replay one signed RequestResponse Invoke (1 s warm-up, then `--seconds`).
3. On the same number of connections, raw HTTP (JSON 1.0, `X-Amz-Target: AmazonSQS.*`), every request SigV4-signed
   by botocore before its phase starts, so botocore's per-call cost stays out of the figures:
   - **SendMessage**: one signed request (a 32-byte body) replayed for `--seconds` (after a 1 s warm-up round);
   - **SendMessageBatch**: one signed batch of 10 replayed for `--seconds`; messages per second;
   - **ReceiveMessage**: one signed receive (MaxNumberOfMessages 10, WaitTimeSeconds 0, VisibilityTimeout 43200 so
     nothing comes back during the run) replayed for `--seconds` or until the queue answers empty; messages per
     second; the receipt handles are kept;
   - **DeleteMessage** on every other handle among the first `--max-handles`, one signed request each, then
     **DeleteMessageBatch** on the other half in tens; deletes per second, until `--seconds` or the handles run out.

Never fails on timing; prints each rate and its ratio to sync invoke.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from _support import (
    Check,
    Rate,
    deploy,
    drive,
    lambda_client,
    nimbus_server,
    signed_request,
    status_is,
    sync_invoke_rate,
)

BODY = b'{"n": 1}'
NOOP: dict[str, bytes | str] = {"app.py": "def handler(event, context):\n    return event\n"}
QUEUE = "bench-sqs-api"
MESSAGE = '{"bench": "sqs-api", "n": 12345}'  # 32 bytes, like warm_invoke's payload


class Sqs:
    """Pre-signed SQS requests for one queue."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.url = ""

    def request(self, op: str, params: dict[str, object]) -> bytes:
        body = json.dumps(params, separators=(",", ":")).encode()
        headers = {"X-Amz-Target": f"AmazonSQS.{op}", "Content-Type": "application/x-amz-json-1.0"}
        return signed_request(self.port, "sqs", "/", body, headers)

    def call(self, op: str, params: dict[str, object]) -> dict[str, Any]:
        """One request outside any timing (set-up)."""
        result: list[bytes] = []

        def keep(status: int, body: bytes) -> tuple[int, int]:
            if status != 200:
                raise SystemExit(f"{op}: HTTP {status}: {body[:500]!r}")
            result.append(body)
            return 1, 0

        asyncio.run(drive(self.port, _pool([self.request(op, params)]), keep, 1, 60))
        out: dict[str, Any] = json.loads(result[0] or b"{}")
        return out


def _pool(requests: Iterable[bytes]) -> Callable[[], bytes | None]:
    it = iter(requests)
    return lambda: next(it, None)


def _batch_check(status: int, body: bytes) -> tuple[int, int]:
    if status != 200:
        return 0, 10
    out = json.loads(body)
    return len(out.get("Successful") or ()), len(out.get("Failed") or ())


def run(sqs: Sqs, next_request: Callable[[], bytes | None], check: Check, connections: int, seconds: float) -> Rate:
    return asyncio.run(drive(sqs.port, next_request, check, connections, seconds))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--max-handles", type=int, default=60000, help="receipt handles signed for the deletes")
    args = parser.parse_args()
    n, secs = args.connections, args.seconds
    rates: dict[str, tuple[Rate, str]] = {}
    with tempfile.TemporaryDirectory() as tmp, nimbus_server(Path(tmp)) as server:
        deploy(lambda_client(server.port), "bench-noop", "python3.11", NOOP, "app.handler", BODY)
        sync = sync_invoke_rate(server.port, "bench-noop", BODY, n, secs)

        sqs = Sqs(server.port)
        sqs.url = str(sqs.call("CreateQueue", {"QueueName": QUEUE})["QueueUrl"])
        send = sqs.request("SendMessage", {"QueueUrl": sqs.url, "MessageBody": MESSAGE})
        run(sqs, lambda: send, status_is(200), n, 1.0)  # warm-up round
        rates["SendMessage"] = run(sqs, lambda: send, status_is(200), n, secs), "msgs/s"
        entries = [{"Id": str(i), "MessageBody": MESSAGE} for i in range(10)]
        batch = sqs.request("SendMessageBatch", {"QueueUrl": sqs.url, "Entries": entries})
        rates["SendMessageBatch (10)"] = run(sqs, lambda: batch, _batch_check, n, secs), "msgs/s"

        receive = sqs.request("ReceiveMessage", {"QueueUrl": sqs.url, "MaxNumberOfMessages": 10,
                                                 "WaitTimeSeconds": 0, "VisibilityTimeout": 43200})  # fmt: skip
        handles: list[str] = []
        drained = [False]

        def received(status: int, body: bytes) -> tuple[int, int]:
            if status != 200:
                return 0, 1
            got = [m["ReceiptHandle"] for m in json.loads(body).get("Messages") or ()]
            drained[0] = drained[0] or not got
            handles.extend(got)
            return len(got), 0

        rates["ReceiveMessage (10)"] = run(sqs, lambda: None if drained[0] else receive, received, n, secs), "msgs/s"

        kept = handles[: args.max_handles]
        singles = [sqs.request("DeleteMessage", {"QueueUrl": sqs.url, "ReceiptHandle": h}) for h in kept[::2]]
        rates["DeleteMessage"] = run(sqs, _pool(singles), status_is(200), n, secs), "deletes/s"
        rest = kept[1::2]
        batches = [
            sqs.request("DeleteMessageBatch", {"QueueUrl": sqs.url, "Entries": [
                {"Id": str(i), "ReceiptHandle": h} for i, h in enumerate(rest[k : k + 10])]})
            for k in range(0, len(rest), 10)
        ]  # fmt: skip
        rates["DeleteMessageBatch (10)"] = run(sqs, _pool(batches), _batch_check, n, secs), "deletes/s"
        attrs = sqs.call("GetQueueAttributes", {"QueueUrl": sqs.url, "AttributeNames": ["All"]})["Attributes"]
        left = {k.removeprefix("ApproximateNumberOfMessages") or "Visible": v for k, v in attrs.items()
                if k.startswith("ApproximateNumberOfMessages")}  # fmt: skip

    print(f"sqs api: raw pre-signed HTTP on {n} keep-alive connections, {secs:g} s per phase; "
          f"message {len(MESSAGE)} bytes; no-op python3.11 for sync\n")  # fmt: skip
    print(f"  {'':26}{'rate':>10}  {'':10}{'x sync':>8}{'count':>9}{'failed':>8}{'s':>7}")
    print(f"  {'sync invoke':26}{sync.per_second:>10.0f}  {'req/s':10}{1.0:>8.2f}{sync.done:>9}{sync.failed:>8}"
          f"{sync.elapsed:>7.1f}")  # fmt: skip
    for name, (rate, unit) in rates.items():
        print(f"  {name:26}{rate.per_second:>10.0f}  {unit:10}{rate.per_second / sync.per_second:>8.2f}"
              f"{rate.done:>9}{rate.failed:>8}{rate.elapsed:>7.1f}")  # fmt: skip
    print(f"\n  deletes used {len(kept)} of {len(handles)} handles received; queue after: {left}")


if __name__ == "__main__":
    main()
