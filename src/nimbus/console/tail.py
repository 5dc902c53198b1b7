"""The live tail: a function's log group pushed to the browser as server-sent events.

The log writer commits lines every 100 ms (`logs.store.FLUSH_INTERVAL`); the tail asks the store for lines after
the last one it sent every POLL_S, so a line reaches the page within about a third of a second of its write. Each
event is one line as JSON (id, time, stream, message, and the request id of a REPORT line, which the page links to
its invocation). A comment every HEARTBEAT_S keeps proxies from closing a quiet stream and finds a gone client.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from collections.abc import AsyncIterator

from nimbus.api.http import Response
from nimbus.logs.store import LogEvent, LogStore

POLL_S = 0.2
HEARTBEAT_S = 10.0
#: lines sent when the tail opens, the newest of what is stored
BACKLOG = 50
#: lines read per poll at most (a burst is sent over several polls)
BATCH = 500
REQUEST_ID = re.compile(r"^(?:START|END|REPORT) RequestId: ([0-9a-fA-F-]{36})")


def default_group(function: str) -> str:
    """The log group a function logs to unless its LoggingConfig names another."""
    return f"/aws/lambda/{function}"


def event_json(e: LogEvent) -> str:
    m = REQUEST_ID.match(e.message)
    report = m.group(1) if m and e.message.startswith("REPORT") else None
    return json.dumps({"id": e.id, "t": e.timestamp, "stream": e.stream, "message": e.message, "report": report})


class Tails:
    """The open tails, all ended by `close` (the server's stop), so no stream holds the shutdown."""

    def __init__(self, logs: LogStore) -> None:
        self.logs = logs
        self.closing = asyncio.Event()

    def close(self) -> None:
        self.closing.set()

    def response(self, group: str, contains: str) -> Response:
        headers = [(b"content-type", b"text/event-stream"), (b"cache-control", b"no-store"),
                   (b"x-accel-buffering", b"no")]  # fmt: skip
        return Response(200, b"retry: 1000\n\n", headers, stream=self._events(group, contains))

    async def _events(self, group: str, contains: str) -> AsyncIterator[bytes]:
        needles = [contains] if contains else []
        newest = await asyncio.to_thread(self.logs.query, group, contains=needles, limit=BACKLOG, descending=True)
        last = newest[0].id if newest else await asyncio.to_thread(self._last_id, group)
        for e in reversed(newest):
            yield f"id: {e.id}\ndata: {event_json(e)}\n\n".encode()
        quiet = 0.0
        while not self.closing.is_set():
            found = await asyncio.to_thread(self.logs.query, group, after_id=last, contains=needles, limit=BATCH)
            if found:
                last = found[-1].id
                yield b"".join(f"id: {e.id}\ndata: {event_json(e)}\n\n".encode() for e in found)
                quiet = 0.0
            else:
                quiet += POLL_S
                if quiet >= HEARTBEAT_S:
                    yield b": ping\n\n"
                    quiet = 0.0
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.closing.wait(), POLL_S)

    def _last_id(self, group: str) -> int:
        newest = self.logs.query(group, limit=1, descending=True)
        return newest[0].id if newest else 0

    async def invocation(self, group: str, request_id: str) -> list[LogEvent]:
        """The lines of one invocation: its stream's lines from its START to its REPORT line in `group`."""
        marks = await asyncio.to_thread(self.logs.query, group, contains=[f"RequestId: {request_id}"], limit=10)
        if not marks:
            return []
        stream, first, last = marks[0].stream, marks[0].id, marks[-1].id
        lines = await asyncio.to_thread(self.logs.query, group, streams=[stream], after_id=first - 1, limit=2000)
        return [e for e in lines if e.id <= last]
