"""Asynchronous invocation against the synchronous invoke of the same no-op function, in one run.

    .venv/bin/python bench/async_invoke.py --events 5000 --connections 32 --seconds 5

1. Starts `nimbus serve` (temporary data dir), deploys `bench-noop` and warms it.
2. **sync**: `--connections` keep-alive connections replay one signed RequestResponse Invoke for `--seconds`.
   The server's async share (`--async-concurrency`) is the same number, so both ways run as many at once.
3. **accepted**: the same connections send `--events` signed Event invokes; 202s per second (each is durably queued
   before its answer).
4. **end to end**: from the first Event sent to the moment the async queue is empty (read through the queue store
   itself, `queues.db`), `--events` / elapsed: accepted to handler done, the dispatcher running concurrently.

Never fails on timing; prints the figures and the ratio to sync (issue 12's target: end to end >= 0.5x sync).
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from _support import (
    KEY,
    REGION,
    SECRET,
    Target,
    deploy,
    drive,
    lambda_client,
    nimbus_server,
    status_is,
    sync_invoke_rate,
)
from nimbus.invoke.async_invoke import ASYNC_QUEUE
from nimbus.queue.sqlite import SqliteQueueStore

BODY = b'{"n": 1}'
NOOP = {"app.py": "def handler(event, context):\n    return event\n"}


def signed(port: int, function: str, kind: str) -> Target:
    host = f"127.0.0.1:{port}"
    path = f"/2015-03-31/functions/{function}/invocations"
    request = AWSRequest(method="POST", url=f"http://{host}{path}", data=BODY,
                         headers={"X-Amz-Invocation-Type": kind})  # fmt: skip
    SigV4Auth(Credentials(KEY, SECRET), "lambda", REGION).add_auth(request)
    headers = {"Host": host, **{k: str(v) for k, v in request.headers.items()}, "Content-Length": str(len(BODY))}
    head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    return Target(kind, port, f"POST {path} HTTP/1.1\r\n{head}\r\n".encode() + BODY, headers, path)


async def pending(db: Path) -> int:
    store = SqliteQueueStore(db)
    try:
        d = await store.depth(ASYNC_QUEUE)
        return d.visible + d.in_flight + d.delayed
    finally:
        await store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--async-concurrency", type=int, default=None,
                        help="the server's async share (default: --connections, the concurrency sync gets; 0: the "
                        "server's default, half the account limit)")  # fmt: skip
    args = parser.parse_args()
    share = args.connections if args.async_concurrency is None else args.async_concurrency
    extra = ["--async-concurrency", str(share)] if share else []
    with tempfile.TemporaryDirectory() as tmp, nimbus_server(Path(tmp), *extra) as server:
        client = lambda_client(server.port)
        deploy(client, "bench-noop", "python3.11", NOOP, "app.handler", BODY)
        sync = sync_invoke_rate(server.port, "bench-noop", BODY, args.connections, args.seconds)
        sync_rate, errors = sync.per_second, sync.failed
        event = signed(server.port, "bench-noop", "Event").request
        left = [args.events]

        def next_event() -> bytes | None:
            left[0] -= 1
            return event if left[0] >= 0 else None

        start = time.monotonic()
        accepts = asyncio.run(drive(server.port, next_event, status_is(202), args.connections, 600))
        accepted, refused, accept_rate = accepts.done, accepts.failed, accepts.per_second
        db = Path(tmp) / "data" / "queues.db"
        while asyncio.run(pending(db)):
            time.sleep(0.05)
        e2e_rate = accepted / (time.monotonic() - start)
    print(f"async invoke: no-op python3.11, {args.connections} connections; {args.events} events; "
          f"async share {share or 'default'}\n")  # fmt: skip
    print(f"  sync invoke          {sync_rate:10.0f} req/s   ({errors} non-200)")
    ratio = accept_rate / sync_rate
    print(f"  async accepted       {accept_rate:10.0f} ev/s    ({refused} non-202)  {ratio:.2f}x sync")
    print(f"  async end to end     {e2e_rate:10.0f} ev/s    {e2e_rate / sync_rate:.2f}x sync  "
          f"(target >= 0.5x: {'met' if e2e_rate >= 0.5 * sync_rate else 'missed'}; goal 0.8x)")  # fmt: skip


if __name__ == "__main__":
    main()
