"""The baseline for bench/warm_invoke.py: the smallest Python program that does what Nimbus does structurally.

An asyncio HTTP/1.1 keep-alive server (the same hand-written parsing as echo_server.py) takes each request body and
sends it, behind a 4-byte length prefix, over a socketpair to an idle worker process, then answers with the worker's
reply. Workers are spawned on demand, run one request at a time each and are kept idle for reuse, as instances are;
each is `python3 -S` running a blocking recv / sendall loop that echoes what it gets. No SigV4, no JSON, no logs.

Prints its port on stdout, then serves until SIGTERM/SIGINT (its workers exit on EOF). Not a general HTTP server:
it understands exactly what the benchmark sends (Content-Length bodies, no chunking).
"""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
from collections import deque

from echo_server import serve, take_request

#: the worker: a blocking loop over its socket end (its number is argv[1]), reading one length-prefixed message and
#: sending it back
WORKER = """
import socket, sys
s = socket.socket(fileno=int(sys.argv[1]))
recv, send, buf = s.recv, s.sendall, b""
while True:
    while len(buf) < 4 or len(buf) < 4 + int.from_bytes(buf[:4], "big"):
        chunk = recv(65536)
        if not chunk:
            raise SystemExit(0)
        buf += chunk
    end = 4 + int.from_bytes(buf[:4], "big")
    send(buf[:end])
    buf = buf[end:]
"""


class Worker:
    """One worker process and the server's end of its socketpair (non-blocking, watched by the loop)."""

    def __init__(self, relay: Relay) -> None:
        self.relay = relay
        ours, theirs = socket.socketpair()
        self.proc = subprocess.Popen([sys.executable, "-S", "-c", WORKER, str(theirs.fileno())],
                                     pass_fds=(theirs.fileno(),), stdin=subprocess.DEVNULL)  # fmt: skip
        theirs.close()
        ours.setblocking(False)
        self.sock = ours
        self.buffer = b""
        self.client: RelayProtocol | None = None
        relay.loop.add_reader(ours.fileno(), self.readable)

    def send(self, client: RelayProtocol, body: bytes) -> None:
        self.client = client
        self.sock.send(len(body).to_bytes(4, "big") + body)  # small messages: one send fits the socket buffer

    def readable(self) -> None:
        try:
            data = self.sock.recv(65536)
        except BlockingIOError:
            return
        if not data:
            self.relay.loop.remove_reader(self.sock.fileno())
            return
        self.buffer += data
        if len(self.buffer) < 4 or len(self.buffer) < 4 + int.from_bytes(self.buffer[:4], "big"):
            return
        end = 4 + int.from_bytes(self.buffer[:4], "big")
        reply, self.buffer = self.buffer[4:end], self.buffer[end:]
        client, self.client = self.client, None
        self.relay.idle.append(self)
        if client is not None:
            client.answer(reply)


class Relay:
    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.idle: deque[Worker] = deque()
        self.workers: list[Worker] = []

    def take(self) -> Worker:
        if self.idle:
            return self.idle.pop()
        worker = Worker(self)
        self.workers.append(worker)
        return worker

    def close(self) -> None:
        for worker in self.workers:
            self.loop.remove_reader(worker.sock.fileno())
            worker.sock.close()
            worker.proc.wait()


class RelayProtocol(asyncio.Protocol):
    """One client connection: requests answered in order, one at a time (a client that pipelines waits)."""

    def __init__(self, relay: Relay) -> None:
        self.relay = relay
        self.buffer = b""
        self.transport: asyncio.Transport | None = None
        self.waiting: deque[bytes] = deque()
        self.busy = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        transport.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.transport = transport

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while (request := take_request(self.buffer)) is not None:  # parsed exactly as echo_server.py parses them
            body, self.buffer = request
            self.waiting.append(body)
        self._next()

    def _next(self) -> None:
        if not self.busy and self.waiting:
            self.busy = True
            self.relay.take().send(self, self.waiting.popleft())

    def answer(self, body: bytes) -> None:
        self.busy = False
        if self.transport is not None:
            self.transport.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
            )
        self._next()


async def main() -> None:
    relay = Relay(asyncio.get_running_loop())
    await serve(lambda: RelayProtocol(relay))
    relay.close()


if __name__ == "__main__":
    asyncio.run(main())
    sys.exit(0)
