"""What one client may make the HTTP server hold, and for how long (issue 10, items 3 and 4).

Any function on the host network reaches the API port, so these bound what a client that never authenticates costs:
- the request target and headers are capped (414 / 431 at once). The caps are checked after every read as well,
  because httptools joins a header value that arrives in pieces with `bytes +=` (quadratic): a 150 MB header once
  stalled every other client for seconds; now it is cut off at the caps plus one read;
- at the end of a request's headers the application admits it or answers at once, before any body byte is held;
- bodies held across all connections share one Budget (past it: 503), connections are capped (past it a new
  connection is closed as soon as it is accepted);
- a sweep closes heads not complete within the header timeout (Slowloris) and bodies quiet past the body timeout;
- a closed connection drops its parser and buffers at once, and freed buffers are handed back to the OS (trim).
"""

from __future__ import annotations

import contextlib
import ctypes
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

MAX_HEADER_COUNT = 200
#: the longest request target (path and query) accepted: past it, 414 at once
MAX_TARGET_BYTES = 16 * 1024
#: the most header bytes (names plus values) accepted: past it, 431 at once
MAX_HEADER_BYTES = 64 * 1024
#: raw bytes a request head may reach while still incomplete (the caps above plus separators and request line)
MAX_HEAD_RAW = MAX_TARGET_BYTES + MAX_HEADER_BYTES + 4 * MAX_HEADER_COUNT + 1024
#: a refused request's body up to this size is read and dropped, so that the client (still sending) reads the
#: answer instead of a connection reset; past it the connection is closed once the answer is written
DISCARD_MAX = 128 << 20
#: request bytes freed since the last trim after which the sweep hands free heap pages back to the OS
TRIM_AFTER = 16 << 20


@dataclass(frozen=True)
class Limits:
    """What one listener lets its clients hold (the API port takes these from Settings)."""

    max_connections: int = 1024
    #: bytes of request bodies held at once across all connections
    max_buffered: int = 512 << 20
    #: seconds from a connection's start, or a request's first byte, to the end of its headers
    header_timeout: float = 10.0
    #: seconds a request body may go without a byte arriving
    body_timeout: float = 30.0


class Reserving(Protocol):
    reserved: int


class Budget:
    """Bytes of request bodies held across connections: taken at the end of the headers (Content-Length) or as a
    chunked body grows, given back once the request is answered or its connection is lost."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0
        #: bytes given back since the last trim
        self.freed = 0

    def take(self, n: int) -> bool:
        if self.used + n > self.limit:
            return False
        self.used += n
        return True

    def give(self, req: Reserving) -> None:
        self.used -= req.reserved
        self.freed += req.reserved
        req.reserved = 0


def libc_trim() -> Callable[[], object]:
    """malloc_trim(0) where the C library has it (glibc): request buffers are freed in the middle of the heap, where
    free() alone does not return them (20 closed uploads once left the server's RSS at 1.27 GB)."""
    with contextlib.suppress(OSError, AttributeError):
        trim = ctypes.CDLL(None).malloc_trim
        trim.argtypes, trim.restype = [ctypes.c_size_t], ctypes.c_int
        return lambda: trim(0)
    return lambda: None
