"""Our HTTP/1.1 server on a real socket: keep-alive, one write per response, idle connections closed by the sweep."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable

from nimbus.api import httpserver
from nimbus.api.http import Response
from nimbus.api.httplimits import Limits
from nimbus.api.httpserver import HttpServer, Incoming
from nimbus.clock import FakeClock

REQUEST = b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"


async def _echo(req: Incoming) -> Response:
    return Response(200, req.body, [(b"content-type", b"text/plain")])


async def _response(reader: asyncio.StreamReader) -> tuple[bytes, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    length = int(next(h for h in head.split(b"\r\n") if h.lower().startswith(b"content-length")).split(b":")[1])
    return head, await reader.readexactly(length)


class ParkedClock(FakeClock):
    """A fake clock that moves only when the test advances it: the server's sweeper sleeps forever on it, and the
    test sweeps by hand, so no timing test waits for real time."""

    async def sleep(self, seconds: float) -> None:
        await asyncio.Event().wait()


async def _until(condition: Callable[[], object]) -> None:
    """Let socket I/O happen until `condition` holds (bounded: a hang fails the test, it is never what is timed)."""
    async with asyncio.timeout(10):
        while not condition():  # noqa: ASYNC110 (socket I/O, not an event of ours, is awaited)
            await asyncio.sleep(0.001)


def test_keep_alive_then_idle_connections_are_closed() -> None:
    async def main() -> None:
        clock = ParkedClock()
        server = HttpServer(_echo, max_body=1024, limits=Limits(header_timeout=1000), clock=clock)
        port = await server.start("127.0.0.1", 0)
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            for _ in range(3):  # several requests on one connection
                writer.write(REQUEST)
                head, body = await _response(reader)
                assert head.startswith(b"HTTP/1.1 200 OK\r\n")
                assert b"connection: keep-alive" in head
                assert body == b"hello"
            # a connection still sending its request is not idle: it is kept past KEEP_ALIVE_S
            before = set(server.connections)
            slow_reader, slow_writer = await asyncio.open_connection("127.0.0.1", port)
            await _until(lambda: len(server.connections) == 2)
            (slow,) = server.connections - before
            for n in range(12):
                clock.advance(httpserver.KEEP_ALIVE_S / 10)  # 1.2 x KEEP_ALIVE_S in all, never one without a byte
                slow_writer.write(b"POST /echo HTTP/1.1\r\n" if n == 0 else b"X-Slow: %d\r\n" % n)
                await _until(lambda: slow.last_active == clock.now)
                server.sweep()
            assert await asyncio.wait_for(reader.read(), 5) == b""  # the idle one was closed
            slow_writer.write(b"Content-Length: 5\r\n\r\nhello")
            _, body = await _response(slow_reader)
            assert body == b"hello"
            clock.advance(httpserver.KEEP_ALIVE_S - 1)
            server.sweep()
            assert len(server.connections) == 1  # idle, not for long enough yet
            clock.advance(2)
            server.sweep()
            assert await asyncio.wait_for(slow_reader.read(), 5) == b""
            writer.close()
            slow_writer.close()
        finally:
            await server.stop(grace_s=1)

    asyncio.run(main())


async def _settles(condition: Callable[[], object], timeout_s: float = 5.0) -> bool:
    """Let the loop run until `condition` holds (a loaded machine may take a while), or give up."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            return False
        await asyncio.sleep(0.01)
    return True


def test_activity_sees_requests_waiting_in_socket_buffers() -> None:
    """What busy polling asks before it holds the loop: is a request (or a new connection) waiting for us?"""
    gate = asyncio.Event()

    async def held(req: Incoming) -> Response:
        await gate.wait()
        return Response(200, b"ok")

    async def main() -> None:
        server = HttpServer(held, max_body=1024)
        port = await server.start("127.0.0.1", 0)
        try:
            assert not server.activity.waiting()
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            assert await _settles(lambda: not server.activity.waiting())  # accepted: nothing waits any more
            writer.write(REQUEST)
            assert await _settles(lambda: server.connections and not server.activity.waiting())  # read, held
            # the loop is not running while this coroutine holds it: bytes sent now wait in the socket buffer
            other = socket.create_connection(("127.0.0.1", port))
            other.sendall(REQUEST)
            deadline = asyncio.get_running_loop().time() + 2
            seen = False
            while not seen and asyncio.get_running_loop().time() < deadline:
                seen = server.activity.waiting()  # no await: nothing gets read meanwhile
            assert seen
            gate.set()
            _, body = await _response(reader)
            assert body == b"ok"
            other.close()
            writer.close()
        finally:
            await server.stop(grace_s=1)
        assert not server.activity.waiting()  # closed with the server

    asyncio.run(main())
