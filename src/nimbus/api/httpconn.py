"""One HTTP/1.1 connection of `httpserver.HttpServer`: parse with httptools, judge each request at the end of its
head (the gate), read its body within the limits, answer requests in order, one write per response.

Split from `httpserver` (the listener, the sweep and the stop) so that each stays one concept: this module is what
happens on one socket, that one is what the server does over all of them.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections import deque
from collections.abc import AsyncIterator
from http import HTTPStatus
from typing import TYPE_CHECKING, cast

import httptools

from nimbus.api.http import Incoming, Response
from nimbus.api.httplimits import (
    DISCARD_MAX,
    MAX_HEAD_RAW,
    MAX_HEADER_BYTES,
    MAX_HEADER_COUNT,
    MAX_TARGET_BYTES,
    Limits,
)

if TYPE_CHECKING:
    from nimbus.api.httpserver import HttpServer

log = logging.getLogger("nimbus.http")

_WAIT, _HEAD, _BODY, _DONE = range(4)  # no request byte yet / reading a head / reading a body / between requests


class _Stop(Exception):
    """Raised from a parser callback to stop parsing this connection (with the answer to give, if any)."""

    def __init__(self, status: int = 0, message: bytes = b"") -> None:
        super().__init__(status, message)
        self.status = status
        self.message = message


def _reason(status: int) -> bytes:
    try:
        return HTTPStatus(status).phrase.encode()
    except ValueError:
        return b"Unknown"


#: status code -> its rendered status line, made on first use (an HTTPStatus lookup per response costs more)
_STATUS_LINES: dict[int, bytes] = {}


def render(resp: Response, keep_alive: bool) -> bytes:
    status = resp.status
    line = _STATUS_LINES.get(status)
    if line is None:
        line = _STATUS_LINES[status] = b"HTTP/1.1 %d %s\r\n" % (status, _reason(status))
    head = b"".join([b"%s: %s\r\n" % (k, v) for k, v in resp.headers])
    body = resp.body
    if resp.stream is not None:  # a body that ends when the connection does
        return b"%s%sconnection: close\r\n\r\n%s" % (line, head, body)
    end_ = b"connection: keep-alive\r\n\r\n" if keep_alive else b"connection: close\r\n\r\n"
    return b"%s%scontent-length: %d\r\n%s%s" % (line, head, len(body), end_, body)


def text_response(status: int, message: bytes) -> Response:
    return Response(status, message, [(b"content-type", b"text/plain")])


class HttpProtocol(asyncio.Protocol):
    def __init__(self, server: HttpServer) -> None:
        self.server = server
        self.fd = -1
        #: the client's IP address (set once connected)
        self.peer = ""
        self.loop = asyncio.get_running_loop()
        self.parser: httptools.HttpRequestParser | None = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport | None = None
        self.pending: deque[Incoming] = deque()
        self.task: asyncio.Task[None] | None = None
        self.now = server.now
        #: clock time of the last byte read or response written (idle and body timeouts count from it)
        self.last_active = self.now()
        self.phase = _WAIT
        #: clock time the current phase began (the header timeout counts from it)
        self.phase_since = self.last_active
        #: the request being read was refused: its body is dropped, then the connection closes
        self.refused = False
        #: the refusal is written: close once its body has been read
        self.close_after_body = False
        #: a request was refused: nothing after it on this connection is parsed
        self.closing = False
        self._feeding = 0
        #: why a parser callback stopped parsing (read back by data_received)
        self.stopped: _Stop | None = None
        self._reset()

    def _reset(self) -> None:
        self.url: list[bytes] = []
        self.url_size = 0
        self.headers: dict[str, list[str]] = {}
        self.header_count = 0
        self.header_bytes = 0
        self.head_raw = 0
        self.body: list[bytes] = []
        self.body_size = 0
        self.current: Incoming | None = None

    # ---- transport events ----
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's transports do not subclass asyncio's
        if len(self.server.connections) >= self.server.limits.max_connections:
            self.server.turned_away += 1
            self.parser = None
            transport.close()
            return
        peername = transport.get_extra_info("peername")
        self.peer = str(peername[0]) if isinstance(peername, tuple) and peername else ""
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if sock is not None:
            self.fd = sock.fileno()
            self.server.activity.watch(self.fd, self)
        self.server.connections.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        """Drop every buffer now: the parser and this protocol refer to each other, so without this they (and a
        half-read body) wait for the cyclic GC. An in-flight request finishes (an invocation is not abandoned)
        and gives its budget back then; its answer is dropped."""
        self.server.connections.discard(self)
        self.transport = None
        if self.fd >= 0:
            self.server.activity.unwatch(self.fd, self)
            self.fd = -1
        budget = self.server.budget
        for req in self.pending:
            budget.give(req)
        self.pending.clear()
        if self.current is not None:
            budget.give(self.current)
        self.parser = None
        self._reset()

    def data_received(self, data: bytes) -> None:
        self.last_active = self.now()
        if self.parser is None:  # closing: a refused request's answer is out, anything after it is ignored
            return
        self._feeding = len(data)
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._fail(400, b"upgrades are not supported")
        except httptools.HttpParserError as exc:
            stop, self.stopped = self.stopped, None
            if stop is not None:
                if stop.status:
                    self._fail(stop.status, stop.message)
            else:
                self._fail(400, f"malformed HTTP request: {exc}".encode())
        else:
            if self.phase == _HEAD:  # still in a head: it never grows past the caps and one read
                self.head_raw += len(data)
                if self.head_raw > MAX_HEAD_RAW:
                    self._fail(431, b"request header fields too large")

    def _fail(self, status: int, message: bytes) -> None:
        self.parser = None
        if self.transport and not self.transport.is_closing():
            self.transport.write(render(text_response(status, message), False))
            self.transport.close()

    def close(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.close()

    @property
    def idle(self) -> bool:
        return self.task is None and not self.pending

    def check_deadlines(self, now: float, limits: Limits, keep_alive_s: float) -> None:
        """The sweep's look at this connection: idle, head and body timeouts."""
        head_late = now - self.phase_since > limits.header_timeout
        if self.phase == _WAIT and head_late:
            self.close()  # never sent a byte: close quietly
        elif (self.phase == _HEAD and head_late) or (
            self.phase == _BODY and now - self.last_active > limits.body_timeout
        ):
            self._timed_out()
        elif self.phase == _DONE and self.idle and now - self.last_active > keep_alive_s:
            self.close()

    def _timed_out(self) -> None:
        if self.idle:
            self._fail(408, b"request timed out")
        else:  # an earlier request is being answered: a 408 now would come out of order
            self.close()

    # ---- parser callbacks ----
    def _stop(self, status: int, message: bytes) -> _Stop:
        """What a callback raises to stop parsing; kept here, since httptools does not hand every callback's
        exception back (on_message_begin's becomes a bare "callback error")."""
        self.stopped = _Stop(status, message)
        return self.stopped

    def on_message_begin(self) -> None:
        if self.closing:
            raise self._stop(0, b"")  # a request pipelined behind a refused one: the connection is closing
        self._reset()
        self.phase = _HEAD
        self.phase_since = self.now()
        self.head_raw = -self._feeding  # this read is not counted (the previous request may end in it)

    def on_url(self, url: bytes) -> None:
        self.url_size += len(url)
        if self.url_size > MAX_TARGET_BYTES:
            raise self._stop(414, b"request target too long")
        self.url.append(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self.header_count += 1
        self.header_bytes += len(name) + len(value)
        if self.header_count > MAX_HEADER_COUNT or self.header_bytes > MAX_HEADER_BYTES:
            raise self._stop(431, b"request header fields too large")
        self.headers.setdefault(name.decode("latin-1").lower(), []).append(value.decode("latin-1"))

    def on_headers_complete(self) -> None:
        self.phase = _BODY
        self.phase_since = self.now()
        assert self.parser is not None
        method = self.parser.get_method().decode("ascii", "replace")
        length: int | None = None
        if raw_length := self.headers.get("content-length"):
            try:  # (not contextlib.suppress: an object per request)
                length = int(raw_length[0])
            except ValueError:
                length = None
        req = Incoming(method, b"".join(self.url), self.headers, b"", 0, False, length)
        req.peer = self.peer
        self.current = req
        server = self.server
        answer = None
        if server.gate is None:
            req.max_body = server.max_body
        else:
            answer = server.gate.admit(req)
        if server.gate is None and length is not None and length > req.max_body:
            length = 0  # no gate: the body is dropped as it comes and the handler judges body_size (as before)
        elif answer is None and length is not None and length > req.max_body:
            answer = server.refusal(req, 413)
        if answer is None and length and not server.budget.take(length):
            answer = server.refusal(req, 503)
        if answer is not None:
            self._refuse(req, answer)
            if length is not None and length > DISCARD_MAX:  # not worth reading to drop: close after the answer
                self._linger_over()
                raise self._stop(0, b"")
            return
        req.reserved = length or 0
        if self.transport and self.headers.get("expect", [""])[0].lower() == "100-continue":
            self.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")

    def on_body(self, body: bytes) -> None:
        self.body_size += len(body)
        req = self.current
        if self.refused or req is None:
            if self.body_size > DISCARD_MAX:
                self._linger_over()
                raise self._stop(0, b"")
            return
        if self.body_size > req.max_body:
            if self.server.gate is None:
                self.server.budget.give(req)
                self.body = []  # dropped; the handler sees body_size past its limit and answers
            else:  # a chunked body, which declared no length
                self._refuse(req, self.server.refusal(req, 413))
        elif self.body_size > req.reserved and not self.server.budget.take(self.body_size - req.reserved):
            self._refuse(req, self.server.refusal(req, 503))
        else:
            req.reserved = max(req.reserved, self.body_size)
            self.body.append(body)

    def on_message_complete(self) -> None:
        self.phase = _DONE
        req, self.current = self.current, None
        if self.refused or req is None:
            self.refused = False
            self.parser = None  # nothing after a refused request is read
            if self.close_after_body:
                self.close()
            return
        assert self.parser is not None
        req.body = b"".join(self.body) if len(self.body) != 1 else self.body[0]
        req.body_size = self.body_size
        req.keep_alive = self.parser.should_keep_alive()
        self.body = []
        self.pending.append(req)
        if self.task is None:
            self.task = self.loop.create_task(self._serve())

    def _refuse(self, req: Incoming, answer: Response) -> None:
        """Answer `req` in its turn without reading its body into memory, then close the connection."""
        self.server.budget.give(req)
        self.body = []
        self.refused = self.closing = True
        req.response, req.keep_alive = answer, False
        self.pending.append(req)
        if self.task is None:
            self.task = self.loop.create_task(self._serve())

    def _linger_over(self) -> None:
        """A refused body past DISCARD_MAX: stop reading it; close now if the answer is out, else once it is."""
        self.parser = self.current = None
        self.refused = False
        if self.close_after_body:
            self.close()

    async def _stream(self, chunks: AsyncIterator[bytes]) -> None:
        """Write a streamed body as it comes, until it ends or the client goes, then close the connection."""
        try:
            async for chunk in chunks:
                if self.transport is None or self.transport.is_closing():
                    break
                self.transport.write(chunk)
                self.last_active = self.now()
        finally:
            close = getattr(chunks, "aclose", None)
            if close is not None:
                await close()
            self.close()  # requests pipelined behind it are dropped (and their budget given back) with it

    # ---- answering, in order ----
    async def _serve(self) -> None:
        try:
            while self.pending:
                req = self.pending.popleft()
                if req.response is not None:
                    resp = req.response
                else:
                    try:
                        resp = await self.server.handler(req)
                    except Exception:  # the handler maps its own errors; this is a last resort
                        log.exception("request handler failed")
                        resp = Response(500, b'{"message":"internal error"}', [(b"content-type", b"application/json")])
                    finally:
                        self.server.budget.give(req)
                if self.transport is None or self.transport.is_closing():
                    return
                self.transport.write(render(resp, req.keep_alive))
                if resp.stream is not None:
                    await self._stream(resp.stream)
                    return
                if not req.keep_alive:
                    if self.refused:  # its body is still arriving: read and drop it, then close
                        self.close_after_body = True
                    else:
                        self.transport.close()
                    return
        finally:
            self.task = None
            self.last_active = self.now()
