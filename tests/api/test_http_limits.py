"""What one client may make our HTTP server hold (issue 10, items 3 and 4), on a real socket, server in-process.

Every cap is tried at the limit and one past it; timeouts are short settings, and every wait is for a condition
(an answer, an EOF) with a generous bound that only guards against hangs.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import socket
import threading
from collections.abc import AsyncIterator, Callable

import pytest

from nimbus.api import httpconn
from nimbus.api.http import Response, parse_json
from nimbus.api.httplimits import MAX_HEADER_BYTES, MAX_HEADER_COUNT, MAX_TARGET_BYTES, Limits
from nimbus.api.httpserver import HttpServer, Incoming
from nimbus.clock import Clock, FakeClock
from nimbus.errors import InvalidRequestContent

BOUND_S = 10.0  # a hang guard, never the thing tested


async def _echo(req: Incoming) -> Response:
    return Response(200, b"%d" % len(req.body), [(b"content-type", b"text/plain")])


@contextlib.asynccontextmanager
async def serving(
    handler: Callable[[Incoming], object] = _echo,
    max_body: int = 1 << 20,
    clock: Clock | None = None,
    **limits: float,
) -> AsyncIterator[tuple[HttpServer, int]]:
    server = HttpServer(handler, max_body=max_body, limits=Limits(**limits), clock=clock)  # type: ignore[arg-type]
    port = await server.start("127.0.0.1", 0)
    try:
        yield server, port
    finally:
        await server.stop(grace_s=1)


async def _answer(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """The status and body of one response; status 0 when the server closed (or reset) without an answer."""
    try:
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), BOUND_S)
        length = int(next(h for h in head.split(b"\r\n") if h.lower().startswith(b"content-length")).split(b":")[1])
        return int(head.split()[1]), await reader.readexactly(length)
    except (asyncio.IncompleteReadError, ConnectionResetError):
        return 0, b""


async def _roundtrip(port: int, request: bytes) -> tuple[int, bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(request)
        return await _answer(reader)
    finally:
        writer.close()


async def _eof(reader: asyncio.StreamReader) -> bytes:
    """What is left before the server closes (a reset counts as closed)."""
    try:
        return await asyncio.wait_for(reader.read(), BOUND_S)
    except ConnectionResetError:
        return b""


# ---------------------------------------------------------------------------------------------- 414 / 431


@pytest.mark.parametrize(("extra", "status"), [(0, 200), (1, 414)], ids=["at-limit", "one-past"])
def test_request_target_cap(extra: int, status: int) -> None:
    async def main() -> None:
        async with serving() as (_, port):
            target = b"/" + b"a" * (MAX_TARGET_BYTES - 1 + extra)
            got, _ = await _roundtrip(port, b"GET " + target + b" HTTP/1.1\r\nHost: x\r\n\r\n")
            assert got == status

    asyncio.run(main())


@pytest.mark.parametrize(("extra", "status"), [(0, 200), (1, 431)], ids=["at-limit", "one-past"])
def test_header_bytes_cap(extra: int, status: int) -> None:
    async def main() -> None:
        async with serving() as (_, port):
            fixed = len(b"host") + len(b"x") + len(b"x-big")
            value = b"v" * (MAX_HEADER_BYTES - fixed + extra)
            got, _ = await _roundtrip(port, b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + value + b"\r\n\r\n")
            assert got == status

    asyncio.run(main())


@pytest.mark.parametrize(("extra", "status"), [(0, 200), (1, 431)], ids=["at-limit", "one-past"])
def test_header_count_cap(extra: int, status: int) -> None:
    async def main() -> None:
        async with serving() as (_, port):
            headers = b"".join(b"X-H%d: v\r\n" % n for n in range(MAX_HEADER_COUNT - 1 + extra))
            got, _ = await _roundtrip(port, b"GET / HTTP/1.1\r\nHost: x\r\n" + headers + b"\r\n")
            assert got == status

    asyncio.run(main())


def test_huge_header_in_pieces_is_cut_off_and_others_are_served() -> None:
    """A 150 MB header value sent in 64 KB pieces: the server answers 431 after the caps and one read (it never
    accumulates the value), and another client is answered before the attacker could have sent it all."""
    total = 150 << 20
    piece = b"a" * (64 << 10)
    sent = [0]
    started, finished = threading.Event(), threading.Event()

    def attack(port: int) -> None:
        with socket.create_connection(("127.0.0.1", port)) as sock:
            try:
                sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: ")
                while sent[0] < total:
                    sock.sendall(piece)
                    sent[0] += len(piece)
                    started.set()
                finished.set()  # the whole 150 MB went out: nobody stopped it
            except OSError:
                pass  # cut off by the server, as intended

    async def main() -> None:
        async with serving() as (_, port):
            thread = threading.Thread(target=attack, args=(port,), daemon=True)
            thread.start()
            await asyncio.to_thread(started.wait, BOUND_S)
            got = await _roundtrip(port, b"GET /other HTTP/1.1\r\nHost: x\r\n\r\n")
            assert got == (200, b"0")
            assert not finished.is_set(), "the other client was answered only after the whole 150 MB header"
            await asyncio.to_thread(thread.join, BOUND_S)
            assert not thread.is_alive()
            assert not finished.is_set()
            assert sent[0] < 16 << 20, sent[0]  # the server stopped reading: only kernel buffers took more

    asyncio.run(main())


# ---------------------------------------------------------------------------------------------- timeouts


class ParkedClock(FakeClock):
    """A fake clock that moves only when the test advances it: the sweeper sleeps forever on it and the test sweeps
    by hand, so no timeout here waits for real time."""

    async def sleep(self, seconds: float) -> None:
        await asyncio.Event().wait()


def test_slowloris_is_closed_by_the_header_timeout() -> None:
    """One header byte at a time, never a pause long enough to look idle: closed with 408 once the head is late."""

    async def main() -> None:
        clock = ParkedClock()
        async with serving(header_timeout=0.5, clock=clock) as (server, port):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ")
            assert await _until(lambda: server.connections and next(iter(server.connections)).headers)
            (conn,) = server.connections
            for _ in range(5):  # a byte every 0.1 s: the connection is never idle, but its head grows late
                clock.advance(0.1)
                writer.write(b"a")
                assert await _until(lambda: conn.last_active == clock.now)
                server.sweep()
            assert server.connections, "closed before its head was late"
            clock.advance(0.1)
            server.sweep()
            assert (await _answer(reader))[0] in (408, 0)  # 408, unless the reset of our unread bytes overtook it
            assert await _eof(reader) == b""
            writer.close()

    asyncio.run(main())


def test_silent_new_connection_is_closed_by_the_header_timeout() -> None:
    async def main() -> None:
        clock = ParkedClock()
        async with serving(header_timeout=0.3, clock=clock) as (server, port):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            assert await _until(lambda: server.connections)
            clock.advance(0.3)
            server.sweep()
            assert server.connections  # not late yet
            clock.advance(0.01)
            server.sweep()
            assert await _eof(reader) == b""  # closed quietly: it never sent a byte
            writer.close()
            assert not server.connections

    asyncio.run(main())


def test_stalled_body_is_closed_by_the_body_timeout_and_its_budget_given_back() -> None:
    async def main() -> None:
        clock = ParkedClock()
        async with serving(body_timeout=0.3, header_timeout=60, clock=clock) as (server, port):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n" + b"b" * 10)
            assert await _until(lambda: server.budget.used)
            clock.advance(0.31)
            server.sweep()
            assert (await _answer(reader))[0] == 408
            assert await _eof(reader) == b""
            writer.close()
            assert await _until(lambda: server.budget.used == 0 and not server.connections)

    asyncio.run(main())


def _live(kind: type, address: int) -> bool:
    """Whether the object of `kind` at `address` is still alive (tracked by the GC, so not freed)."""
    return any(id(o) == address and type(o) is kind for o in gc.get_objects())


async def _until(condition: Callable[[], object]) -> bool:
    deadline = asyncio.get_running_loop().time() + BOUND_S
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            return False
        await asyncio.sleep(0.01)
    return True


# ---------------------------------------------------------------------------------------------- connections, budget


def test_connections_past_the_cap_are_closed_at_accept() -> None:
    async def main() -> None:
        async with serving(max_connections=3) as (server, port):
            held = [await asyncio.open_connection("127.0.0.1", port) for _ in range(3)]
            assert await _until(lambda: len(server.connections) == 3)
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            assert await _eof(reader) == b""  # the fourth: closed, never answered
            writer.close()
            held[0][1].write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            assert await _answer(held[0][0]) == (200, b"0")  # the three are served
            held[0][1].close()
            assert await _until(lambda: len(server.connections) == 2)
            assert await _roundtrip(port, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n") == (200, b"0")  # room again
            for _, w in held[1:]:
                w.close()

    asyncio.run(main())


@pytest.mark.parametrize(("second", "status"), [(200, 200), (201, 503)], ids=["at-budget", "one-past"])
def test_buffered_bytes_share_one_budget(second: int, status: int) -> None:
    """800 bytes held by a stalled upload; a second request fits if the two stay within 1000, else 503 at once."""

    async def main() -> None:
        async with serving(max_buffered=1000) as (server, port):
            r1, w1 = await asyncio.open_connection("127.0.0.1", port)
            w1.write(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 800\r\n\r\n" + b"b" * 10)
            assert await _until(lambda: server.budget.used == 800)
            head = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % second
            r2, w2 = await asyncio.open_connection("127.0.0.1", port)
            w2.write(head)  # headers only: a 503 must not wait for the body
            if status == 503:
                assert await _answer(r2) == (503, b"too many request bytes in flight")
            w2.write(b"c" * second)
            if status == 200:
                assert await _answer(r2) == (200, b"%d" % second)
            w1.write(b"b" * 790)
            assert await _answer(r1) == (200, b"800")
            assert await _until(lambda: server.budget.used == 0)
            w1.close()
            w2.close()

    asyncio.run(main())


@pytest.mark.parametrize(("size", "status", "body"), [(1000, 200, b"1000"), (1001, 413, b"refused 413")],
                         ids=["at-limit", "one-past"])  # fmt: skip
def test_chunked_body_is_held_to_the_route_limit(size: int, status: int, body: bytes) -> None:
    """A chunked body declares no length: it is counted as it comes, and refused once past the limit."""

    async def main() -> None:
        server = HttpServer(_echo, max_body=0, gate=RefuseUnsigned())
        port = await server.start("127.0.0.1", 0)
        try:
            head = b"POST / HTTP/1.1\r\nHost: x\r\nAuthorization: x\r\nTransfer-Encoding: chunked\r\n\r\n"
            chunks = b"%x\r\n" % size + b"x" * size + b"\r\n0\r\n\r\n"
            assert await _roundtrip(port, head + chunks) == (status, body)
            assert server.budget.used == 0
        finally:
            await server.stop(grace_s=1)

    asyncio.run(main())


def test_without_a_gate_an_oversized_body_is_dropped_and_judged_by_the_handler() -> None:
    """The metrics listener has no gate: a body past its limit is not held, and its handler still answers."""

    async def sizes(req: Incoming) -> Response:
        return Response(405, b"%d/%d" % (len(req.body), req.body_size))

    async def main() -> None:
        async with serving(sizes, max_body=10) as (server, port):
            post = b"POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\n" + b"y" * 11
            assert await _roundtrip(port, post) == (405, b"0/11")
            assert server.budget.used == 0

    asyncio.run(main())


# ---------------------------------------------------------------------------------------------- refusal at the headers


class RefuseUnsigned:
    """A gate as the app is one: no Authorization header, 403 before the body; otherwise up to 1000 bytes."""

    def admit(self, req: Incoming) -> Response | None:
        if "authorization" not in req.headers:
            return Response(403, b"unsigned")
        req.max_body = 1000
        return None

    def refuse(self, req: Incoming, status: int) -> Response:
        return Response(status, b"refused %d" % status)


@pytest.mark.parametrize(
    ("headers", "length", "status", "body"),
    [
        (b"", 10 << 20, 403, b"unsigned"),
        (b"Authorization: x\r\n", 1000, 200, b"1000"),
        (b"Authorization: x\r\n", 1001, 413, b"refused 413"),
    ],
    ids=["unsigned", "at-limit", "one-past"],
)
def test_gate_answers_before_the_body(headers: bytes, length: int, status: int, body: bytes) -> None:
    """A refusal is answered after the headers alone; its body is then read and dropped, and nothing is held."""

    async def main() -> None:
        server = HttpServer(_echo, max_body=0, gate=RefuseUnsigned())
        port = await server.start("127.0.0.1", 0)
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"POST / HTTP/1.1\r\nHost: x\r\n" + headers + b"Content-Length: %d\r\n\r\n" % length)
            if status != 200:
                assert await _answer(reader) == (status, body)  # no body byte sent yet
                assert server.budget.used == 0
                conn = next(iter(server.connections))
                for _ in range(length // (1 << 20) + 1):
                    writer.write(b"z" * min(1 << 20, length))
                    await writer.drain()
                assert conn.body == []  # dropped, never held
                assert server.budget.used == 0
                assert await _eof(reader) == b""  # then closed
            else:
                writer.write(b"z" * length)
                assert await _answer(reader) == (status, body)
            writer.close()
        finally:
            await server.stop(grace_s=1)

    asyncio.run(main())


def test_refused_body_past_the_discard_cap_is_cut_off(monkeypatch: pytest.MonkeyPatch) -> None:
    """A refused body is read and dropped only up to DISCARD_MAX: past it the connection is closed."""
    monkeypatch.setattr(httpconn, "DISCARD_MAX", 1 << 20)

    async def main() -> None:
        server = HttpServer(_echo, max_body=0, gate=RefuseUnsigned())
        port = await server.start("127.0.0.1", 0)
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % (64 << 20))
            assert await _answer(reader) == (403, b"unsigned")
            sent = 0
            with contextlib.suppress(ConnectionError):
                while sent < 64 << 20 and not reader.at_eof():
                    writer.write(b"z" * (256 << 10))
                    await writer.drain()
                    sent += 256 << 10
                    await asyncio.sleep(0)
            assert await _eof(reader) == b""
            assert sent < 64 << 20
            assert await _until(lambda: not server.connections)
        finally:
            await server.stop(grace_s=1)

    asyncio.run(main())


def test_nothing_pipelined_behind_a_refusal_is_served() -> None:
    """Two requests in one write: answered in order when both pass; after a refused one, the connection closes."""

    async def main() -> None:
        server = HttpServer(_echo, max_body=0, gate=RefuseUnsigned())
        port = await server.start("127.0.0.1", 0)
        signed = b"POST / HTTP/1.1\r\nHost: x\r\nAuthorization: x\r\nContent-Length: 2\r\n\r\nab"
        unsigned = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nab"
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(signed + signed)
            assert [await _answer(reader), await _answer(reader)] == [(200, b"2"), (200, b"2")]
            writer.close()
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(unsigned + signed)
            assert await _answer(reader) == (403, b"unsigned")
            assert await _eof(reader) == b""
            writer.close()
        finally:
            await server.stop(grace_s=1)

    asyncio.run(main())


# ---------------------------------------------------------------------------------------------- memory given back


def test_closed_connection_is_freed_without_the_cyclic_gc() -> None:
    """The parser and the protocol refer to each other: a connection lost mid-body must drop both (and its buffers)
    at once, not whenever the cyclic GC next runs."""

    async def main() -> None:
        async with serving() as (server, port):
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 500000\r\n\r\n" + b"b" * 300_000)
            assert await _until(lambda: any(c.body_size >= 300_000 for c in server.connections))
            # found among the objects the GC tracks, not by a weak reference: compiled (mypyc 2.4.1), a class
            # that subclasses a Python class (asyncio.Protocol) frees its weakref list wrongly, a crash
            conn = id(next(iter(server.connections)))
            writer.close()
            assert await _until(lambda: not server.connections)
            assert server.budget.used == 0
            assert await _until(lambda: not _live(httpconn.HttpProtocol, conn))

    gc.disable()
    try:
        asyncio.run(main())
    finally:
        gc.enable()


# ---------------------------------------------------------------------------------------------- JSON


@pytest.mark.parametrize("doc", [b"[" * 100_000 + b"]" * 100_000, b'{"a":' * 100_000 + b"1" + b"}" * 100_000])
def test_deeply_nested_json_is_the_callers_400(doc: bytes) -> None:
    with pytest.raises(InvalidRequestContent, match="Could not parse request body into json"):
        parse_json(doc)
    nested = parse_json(b"[" * 100 + b"]" * 100)  # moderate nesting parses
    for _ in range(99):
        nested = nested[0]
    assert nested == []


# ---------------------------------------------------------------------------------------------- settings


def test_limits_settings_from_env_and_checked() -> None:
    from nimbus.config import Settings, from_env

    env = {"NIMBUS_MAX_CONNECTIONS": "5", "NIMBUS_MAX_BUFFERED_MB": "67", "NIMBUS_HEADER_TIMEOUT": "1.5",
           "NIMBUS_BODY_TIMEOUT": "2"}  # fmt: skip
    s = from_env(env)
    assert (s.max_connections, s.max_buffered_mb, s.header_timeout, s.body_timeout) == (5, 67, 1.5, 2.0)
    s.check()  # 67 MB: one CreateFunction body fits
    with pytest.raises(ValueError, match="max_buffered_mb"):
        Settings(max_buffered_mb=66).check()
    with pytest.raises(ValueError, match="header_timeout"):
        Settings(header_timeout=0).check()
