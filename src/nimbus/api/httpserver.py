"""A small HTTP/1.1 server on httptools + asyncio, made for the invoke hot path: the listener, the connections, the
sweep and the stop (one connection's parsing and answering is `httpconn`).

Why not an ASGI server: measured here, uvicorn wrote each response in two writes (head, then body) and spent a task,
a scope dict and two awaitables per request; on this VM every extra syscall and wakeup shows in p50. This server
parses with httptools (the same parser uvicorn uses), answers requests of one connection in order (pipelining
safe), writes each response in one write, and honours keep-alive and `Expect: 100-continue`. One sweep every SWEEP_S
(no timer per request) closes connections idle past KEEP_ALIVE_S and requests past their head or body timeout.
What hostile clients may make it hold is bounded as `httplimits` describes.

Its timing runs on an injected clock (`nimbus.clock.Clock`): the sweep's sleeps and every timestamp it compares, so
timeout tests move a fake clock and sweep instead of sleeping. Without one it reads `time.monotonic` directly (a C
call per read, as cheap as the loop's clock it replaced).
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections.abc import Awaitable, Callable

from nimbus.api.activity import Activity
from nimbus.api.http import Gate as Gate
from nimbus.api.http import Incoming as Incoming
from nimbus.api.http import Response
from nimbus.api.httpconn import HttpProtocol as HttpProtocol
from nimbus.api.httpconn import render as render
from nimbus.api.httpconn import text_response
from nimbus.api.httplimits import TRIM_AFTER, Budget, Limits, libc_trim
from nimbus.clock import Clock

log = logging.getLogger("nimbus.http")

KEEP_ALIVE_S = 75.0
#: how often the sweep runs at most (it runs more often when a timeout is shorter than twice this)
SWEEP_S = 5.0

Handler = Callable[[Incoming], Awaitable[Response]]


class HttpServer:
    """Listens, tracks connections, and on stop closes idle ones and lets in-flight requests finish."""

    def __init__(
        self,
        handler: Handler,
        max_body: int,
        *,
        gate: Gate | None = None,
        limits: Limits | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.handler = handler
        #: the sweep's clock: monotonic seconds, and its sleep
        self.now = clock.monotonic if clock is not None else time.monotonic
        self._sleep = clock.sleep if clock is not None else asyncio.sleep
        #: the body limit when there is no gate to set one per request
        self.max_body = max_body
        self.gate = gate
        self.limits = limits or Limits()
        self.budget = Budget(self.limits.max_buffered)
        self.connections: set[HttpProtocol] = set()
        #: connections closed at accept since the last sweep (past max_connections)
        self.turned_away = 0
        self.server: asyncio.Server | None = None
        #: listeners of sandboxes with no network, served while their instance lives
        self._adopted: set[asyncio.Server] = set()
        self._sweeper: asyncio.Task[None] | None = None
        self.activity = Activity()
        self._trim = libc_trim()

    def refusal(self, req: Incoming, status: int) -> Response:
        if self.gate is not None:
            return self.gate.refuse(req, status)
        message = b"request body too large" if status == 413 else b"too many request bytes in flight"
        return text_response(status, message)

    async def start(self, host: str, port: int) -> int:
        loop = asyncio.get_running_loop()
        self.server = await loop.create_server(lambda: HttpProtocol(self), host, port, reuse_address=True, backlog=2048)
        for listener in self.server.sockets:
            self.activity.watch(listener.fileno(), self)
        self._sweeper = loop.create_task(self._sweep_forever(), name="nimbus-http-sweep")
        return int(self.server.sockets[0].getsockname()[1])

    async def adopt_listener(self, sock: socket.socket) -> Callable[[], None]:
        """Serve connections accepted on `sock` too: a listening socket a sandbox with no network made in its own
        namespace (`instances/downstream.py`), its only way to the API. The callable returned stops serving it (its
        connections finish as any other)."""
        server = await asyncio.get_running_loop().create_server(lambda: HttpProtocol(self), sock=sock, backlog=64)
        fd = sock.fileno()
        self.activity.watch(fd, self)
        self._adopted.add(server)

        def stop() -> None:
            if server in self._adopted:
                self._adopted.discard(server)
                self.activity.unwatch(fd, self)
                server.close()

        return stop

    async def _sweep_forever(self) -> None:
        while True:
            await self._sleep(min(SWEEP_S, self.limits.header_timeout / 2, self.limits.body_timeout / 2))
            self.sweep()

    def sweep(self) -> None:
        """Close connections past their idle, head or body deadline; hand freed buffers back to the OS."""
        now = self.now()
        for conn in list(self.connections):
            conn.check_deadlines(now, self.limits, KEEP_ALIVE_S)
        if self.turned_away:
            log.warning("closed %d new connections: already %d open (max_connections)",
                        self.turned_away, self.limits.max_connections)  # fmt: skip
            self.turned_away = 0
        if self.budget.freed >= TRIM_AFTER:
            self.budget.freed = 0
            self._trim()

    async def stop(self, grace_s: float = 30.0) -> None:
        if self.server is None:
            return
        if self._sweeper is not None:
            self._sweeper.cancel()
        for listener in self.server.sockets:
            self.activity.unwatch(listener.fileno(), self)
        self.server.close()
        for adopted in list(self._adopted):
            for listener in adopted.sockets:
                self.activity.unwatch(listener.fileno(), self)
            adopted.close()
        self._adopted.clear()
        for conn in list(self.connections):
            if conn.idle:
                conn.close()
        busy = [c.task for c in self.connections if c.task is not None]
        if busy:
            await asyncio.wait(busy, timeout=grace_s)
        for conn in list(self.connections):
            conn.close()
        self.activity.close()
