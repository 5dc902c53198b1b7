"""The baseline for bench/warm_invoke.py: a minimal HTTP/1.1 keep-alive server on plain asyncio that echoes
the request body. Prints its port on stdout, then serves until SIGTERM/SIGINT. Not a general HTTP server:
it understands exactly what the benchmark sends (Content-Length bodies, no chunking).
"""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import Callable

_HEADER_END = b"\r\n\r\n"


def take_request(buffer: bytes) -> tuple[bytes, bytes] | None:
    """The body of the first complete request in `buffer` and the bytes after it, or None while it is incomplete
    (the hand-written parsing the relay baseline shares)."""
    end = buffer.find(_HEADER_END)
    if end < 0:
        return None
    length = 0
    for line in buffer[:end].split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    total = end + len(_HEADER_END) + length
    if len(buffer) < total:
        return None
    return buffer[end + len(_HEADER_END) : total], buffer[total:]


class EchoProtocol(asyncio.Protocol):
    def __init__(self) -> None:
        self.buffer = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while (request := take_request(self.buffer)) is not None:  # every complete request (pipelining-safe)
            body, self.buffer = request
            assert self.transport is not None
            self.transport.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
            )


async def serve(protocol_factory: Callable[[], asyncio.Protocol]) -> None:
    """Listen on an ephemeral loopback port, print it (the benchmark reads it), serve until SIGTERM or SIGINT."""
    loop = asyncio.get_running_loop()
    server = await loop.create_server(protocol_factory, "127.0.0.1", 0)
    print(server.sockets[0].getsockname()[1], flush=True)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with server:
        await stop.wait()


async def main() -> None:
    await serve(EchoProtocol)


if __name__ == "__main__":
    asyncio.run(main())
    sys.exit(0)
