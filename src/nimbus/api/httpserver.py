"""A small HTTP/1.1 server on httptools + asyncio, made for the invoke hot path.

Why not an ASGI server: measured here, uvicorn wrote each response in two writes (head, then body) and spent a task,
a scope dict and two awaitables per request; on this VM every extra syscall and wakeup shows in p50. This server
parses with httptools (the same parser uvicorn uses), answers requests of one connection in order (pipelining
safe), writes each response in one write, honours keep-alive and `Expect: 100-continue`, and closes connections
idle for KEEP_ALIVE_S (found by a sweep every SWEEP_S: no timer is armed and cancelled per request).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import select
import socket
from collections import deque
from collections.abc import Awaitable, Callable
from http import HTTPStatus
from typing import cast

import httptools

from nimbus.api.http import Response

log = logging.getLogger("nimbus.http")

KEEP_ALIVE_S = 75.0
#: how often idle keep-alive connections are looked for (a sweep, not a timer per request)
SWEEP_S = 5.0
MAX_HEADER_COUNT = 200


class Incoming:
    """One parsed request: what the application needs, nothing more."""

    __slots__ = ("body", "body_size", "headers", "keep_alive", "method", "target")

    def __init__(
        self, method: str, target: bytes, headers: dict[str, list[str]], body: bytes, body_size: int, keep_alive: bool
    ) -> None:
        self.method = method
        self.target = target
        self.headers = headers
        self.body = body  # empty when body_size exceeded the server's limit: the handler answers 413
        self.body_size = body_size
        self.keep_alive = keep_alive


Handler = Callable[[Incoming], Awaitable[Response]]


def _reason(status: int) -> bytes:
    try:
        return HTTPStatus(status).phrase.encode()
    except ValueError:
        return b"Unknown"


def render(resp: Response, keep_alive: bool) -> bytes:
    head = [b"HTTP/1.1 %d %s\r\n" % (resp.status, _reason(resp.status))]
    head += [b"%s: %s\r\n" % (k, v) for k, v in resp.headers]
    head.append(b"content-length: %d\r\n" % len(resp.body))
    head.append(b"connection: keep-alive\r\n\r\n" if keep_alive else b"connection: close\r\n\r\n")
    return b"".join(head) + resp.body


class Activity:
    """Whether any client is waiting on us: one epoll over every connection (and the listening sockets), asked
    with a zero timeout. Busy polling (the instance layer's) stops as soon as it says yes: a request sitting in a
    socket buffer is work the event loop should get to, which `inflight` alone cannot see when the loop is the
    bottleneck."""

    def __init__(self) -> None:
        self._epoll = select.epoll()
        #: fd -> who watches it: a closed connection's fd number may already be a new connection's
        self._owners: dict[int, object] = {}

    def watch(self, fd: int, owner: object) -> None:
        self._owners[fd] = owner
        with contextlib.suppress(OSError):
            self._epoll.register(fd, select.EPOLLIN)

    def unwatch(self, fd: int, owner: object) -> None:
        if self._owners.get(fd) is owner:
            del self._owners[fd]
            with contextlib.suppress(OSError, ValueError):
                self._epoll.unregister(fd)

    def waiting(self) -> bool:
        try:
            return bool(self._epoll.poll(0, 1))
        except ValueError:  # closed: the server has stopped
            return False

    def close(self) -> None:
        self._epoll.close()


class HttpProtocol(asyncio.Protocol):
    def __init__(self, handler: Handler, max_body: int, connections: set[HttpProtocol], activity: Activity) -> None:
        self.handler = handler
        self.max_body = max_body
        self.connections = connections
        self.activity = activity
        self.fd = -1
        self.loop = asyncio.get_running_loop()
        self.parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport | None = None
        self.pending: deque[Incoming] = deque()
        self.task: asyncio.Task[None] | None = None
        #: loop time of the last request or response (the sweep closes connections idle past KEEP_ALIVE_S)
        self.last_active = self.loop.time()
        self._reset()

    def _reset(self) -> None:
        self.url = b""
        self.headers: dict[str, list[str]] = {}
        self.header_count = 0
        self.body: list[bytes] = []
        self.body_size = 0

    # ---- transport events ----
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's transports do not subclass asyncio's
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if sock is not None:
            self.fd = sock.fileno()
            self.activity.watch(self.fd, self)
        self.connections.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.connections.discard(self)
        self.transport = None
        if self.fd >= 0:
            self.activity.unwatch(self.fd, self)
            self.fd = -1
        # an in-flight request finishes (a function invocation is not abandoned); its answer is dropped

    def data_received(self, data: bytes) -> None:
        self.last_active = self.loop.time()
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._fail(400, b"upgrades are not supported")
        except httptools.HttpParserError as exc:
            self._fail(400, f"malformed HTTP request: {exc}".encode())

    def _fail(self, status: int, message: bytes) -> None:
        if self.transport and not self.transport.is_closing():
            self.transport.write(render(Response(status, message, [(b"content-type", b"text/plain")]), False))
            self.transport.close()

    def close(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.close()

    @property
    def idle(self) -> bool:
        return self.task is None and not self.pending

    # ---- parser callbacks ----
    def on_message_begin(self) -> None:
        self._reset()

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self.header_count += 1
        if self.header_count > MAX_HEADER_COUNT:
            raise httptools.HttpParserError("too many headers")
        self.headers.setdefault(name.decode("latin-1").lower(), []).append(value.decode("latin-1"))

    def on_headers_complete(self) -> None:
        if self.headers.get("expect", [""])[0].lower() == "100-continue" and self.transport:
            self.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")

    def on_body(self, body: bytes) -> None:
        self.body_size += len(body)
        if self.body_size <= self.max_body:
            self.body.append(body)
        else:
            self.body.clear()  # keep reading (the answer is a 413) but hold nothing

    def on_message_complete(self) -> None:
        method = self.parser.get_method().decode("ascii", "replace")
        body = b"".join(self.body) if len(self.body) != 1 else self.body[0]
        self.pending.append(
            Incoming(method, self.url, self.headers, body, self.body_size, self.parser.should_keep_alive())
        )
        if self.task is None:
            self.task = self.loop.create_task(self._serve())

    # ---- answering, in order ----
    async def _serve(self) -> None:
        try:
            while self.pending:
                req = self.pending.popleft()
                try:
                    resp = await self.handler(req)
                except Exception:  # the handler maps its own errors; this is a last resort
                    log.exception("request handler failed")
                    resp = Response(500, b'{"message":"internal error"}', [(b"content-type", b"application/json")])
                if self.transport is None or self.transport.is_closing():
                    return
                self.transport.write(render(resp, req.keep_alive))
                if not req.keep_alive:
                    self.transport.close()
                    return
        finally:
            self.task = None
            self.last_active = self.loop.time()


class HttpServer:
    """Listens, tracks connections, and on stop closes idle ones and lets in-flight requests finish."""

    def __init__(self, handler: Handler, max_body: int) -> None:
        self.handler = handler
        self.max_body = max_body
        self.connections: set[HttpProtocol] = set()
        self.server: asyncio.Server | None = None
        self._sweeper: asyncio.Task[None] | None = None
        self.activity = Activity()

    async def start(self, host: str, port: int) -> int:
        loop = asyncio.get_running_loop()
        self.server = await loop.create_server(
            lambda: HttpProtocol(self.handler, self.max_body, self.connections, self.activity),
            host, port, reuse_address=True, backlog=2048,
        )  # fmt: skip
        for listener in self.server.sockets:
            self.activity.watch(listener.fileno(), self)
        self._sweeper = loop.create_task(self._sweep_forever(), name="nimbus-http-idle-sweep")
        return int(self.server.sockets[0].getsockname()[1])

    async def _sweep_forever(self) -> None:
        """Close keep-alive connections idle (no request in progress) for KEEP_ALIVE_S."""
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(SWEEP_S)
            cutoff = loop.time() - KEEP_ALIVE_S
            for conn in [c for c in self.connections if c.idle and c.last_active < cutoff]:
                conn.close()

    async def stop(self, grace_s: float = 30.0) -> None:
        if self.server is None:
            return
        if self._sweeper is not None:
            self._sweeper.cancel()
        for listener in self.server.sockets:
            self.activity.unwatch(listener.fileno(), self)
        self.server.close()
        for conn in list(self.connections):
            if conn.idle:
                conn.close()
        busy = [c.task for c in self.connections if c.task is not None]
        if busy:
            await asyncio.wait(busy, timeout=grace_s)
        for conn in list(self.connections):
            conn.close()
        self.activity.close()
