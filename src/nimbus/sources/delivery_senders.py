"""Outbound HTTP for deliveries: one POST on asyncio streams, answered by its status code.

Why not a client library: a delivery needs one request and the status line, nothing else (no redirects, no
cookies, no connection reuse: SNS opens a connection per delivery too), and a runtime dependency for that is more
than the stdlib's streams, which also keep the event loop free (no thread per request) and honour a timeout by
cancellation. https uses the system's trust store with hostname checking.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import Mapping
from urllib.parse import urlsplit

#: what a delivery says it is (SNS says "Amazon Simple Notification Service Agent"; its owner may set its own)
USER_AGENT = "Nimbus-Delivery/1.0"
#: headers the sender writes itself; a caller's copy of these is ignored
_OWN = {"host", "content-length", "connection", "transfer-encoding"}


def check_header(name: str, value: str) -> None:
    """A header that would split the request (CR, LF, NUL, or a name that is no token) is a bug of its owner."""
    if not name or any(c in name for c in " \t\r\n:\0") or any(c in value for c in "\r\n\0"):
        raise ValueError(f"header {name!r} cannot be sent")


def _request(url: str, body: bytes, headers: Mapping[str, str]) -> tuple[str, int, bool, bytes]:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{url!r} is not an http(s) URL")
    tls = parts.scheme == "https"
    port = parts.port or (443 if tls else 80)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    merged = {"content-type": ("Content-Type", "text/plain; charset=UTF-8"), "user-agent": ("User-Agent", USER_AGENT)}
    for name, value in headers.items():
        check_header(name, value)
        if name.lower() not in _OWN:
            merged[name.lower()] = (name, value)
    host = parts.netloc.rpartition("@")[2]
    lines = [f"POST {path} HTTP/1.1", f"Host: {host}", f"Content-Length: {len(body)}", "Connection: close"]
    lines += [f"{name}: {value}" for name, value in merged.values()]
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1", errors="replace")
    return parts.hostname, port, tls, head + body


async def post(url: str, body: bytes, headers: Mapping[str, str], timeout_s: float) -> int:
    """POST `body` to `url`; the response's status code. OSError (refused, reset, TLS), TimeoutError, or
    ValueError (not an http(s) URL, a response that is no HTTP) when there is none."""
    hostname, port, tls, request = _request(url, body, headers)

    async def exchange() -> int:
        context = ssl.create_default_context() if tls else None
        reader, writer = await asyncio.open_connection(hostname, port, ssl=context)
        try:
            writer.write(request)
            await writer.drain()
            status_line = await reader.readline()
        finally:
            writer.close()
            with contextlib.suppress(OSError, ssl.SSLError):
                await writer.wait_closed()
        fields = status_line.split(None, 2)
        if len(fields) < 2 or not fields[0].startswith(b"HTTP/") or not fields[1].isdigit():
            raise ValueError(f"the response from {url} is not HTTP: {status_line[:80]!r}")
        return int(fields[1])

    return await asyncio.wait_for(exchange(), timeout_s)
