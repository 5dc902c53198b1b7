"""One instance's log stream: the function's stdout/stderr pipe, split into lines, interleaved with platform lines.

Reading is non-blocking (`loop.add_reader` plus synchronous `drain()` before END/REPORT), and every line goes to
the LogSink at once (a non-blocking enqueue). While an invocation asked for its log tail, its last 4 KB are kept to
be returned with the result.

The function is untrusted and may print without end, so (see `nimbus.logs.limits`):
- its output is limited per invocation and per function; what is over a limit is read and dropped, never left in
  the pipe (the function is not blocked), and a marker line says where and how much;
- memory stays bounded whatever it writes: the pipe is read 64 KB at a time and each read is split and handed on or
  dropped before the next; a line longer than CloudWatch's 256 KB event is cut into events of that size; the tail
  keeps 4 KB; one `drain()` reads at most DRAIN_BYTES, so a writer that never stops cannot hold the event loop.
Platform lines (START, END, REPORT, timeouts) never count against the limits. START opens an invocation's budget;
output before the first START (the init phase) has a budget of its own.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections import deque
from typing import Any, cast

from nimbus.logs.limits import (
    FUNCTION_RATE,
    INVOCATION_LIMIT,
    MAX_EVENT_BYTES,
    RESUME_BYTES,
    drop_marker,
    event_cost,
)
from nimbus.logs.sink import LogSink

TAIL_BYTES = 4096
_READ_CHUNK = 65536
#: the most one drain() reads; what is left is read on the pipe's next wake-up (sixteen pipe capacities)
DRAIN_BYTES = 1 << 20
_START = "START RequestId: "


def _split_point(raw: bytes, size: int) -> int:
    """Where to cut `raw` into at most `size` bytes without splitting a UTF-8 sequence (when it is valid UTF-8)."""
    cut = size
    while cut > size - 3 and raw[cut] & 0xC0 == 0x80:
        cut -= 1
    return cut


class OutputCapture:
    def __init__(self, fd: int, sink: LogSink, group: str, stream: str) -> None:
        self._fd = fd
        self._sink = sink
        self.group = group
        self.stream = stream
        self._gate = sink.gate
        self._bucket = sink.gate.bucket(group, time.monotonic())
        self._partial = b""
        self._tail: deque[str] | None = None
        self._tail_chars = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self.eof = False
        #: cost of this invocation's output so far, and whether it passed the cap (then the rest is dropped)
        self._used = 0
        self._cut = False
        #: the last bytes dropped by the cut ended inside a line (counted as a line when it ends)
        self._open_line = False
        #: reason -> [bytes, lines] dropped since the last marker
        self._unreported: dict[str, list[int]] = {}

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._loop.add_reader(self._fd, self.drain)

    def emit(self, message: str) -> None:
        """One platform line (START, END, REPORT, a timeout or runtime error): never limited, never dropped here."""
        if message.startswith(_START):
            self.open_invocation()
        elif self._open_line or self._unreported:
            self._report_drops()
        self._send(message, platform=True)

    def open_invocation(self) -> None:
        """An invocation starts: its output budget begins (START does this; so does the caller where the START line
        is a JSON record or is filtered out by the SystemLogLevel)."""
        if self._open_line or self._unreported:  # (checked here: this runs three times per invoke)
            self._report_drops()
        self._used, self._cut = 0, False

    def _send(self, message: str, platform: bool) -> None:
        self._sink.emit(self.group, self.stream, int(time.time() * 1000), message, platform)
        tail = self._tail
        if tail is not None:
            tail.append(message)
            self._tail_chars += len(message) + 1
            # a char is at least a byte: keeping TAIL_BYTES chars keeps at least the last TAIL_BYTES bytes
            while self._tail_chars - len(tail[0]) - 1 >= TAIL_BYTES:
                self._tail_chars -= len(tail.popleft()) + 1

    def _output(self, raw: bytes, written: int, ends_line: bool = True) -> None:
        """One event of function output (a line, or a piece of a long one); `written`: its bytes in the pipe."""
        cost = event_cost(len(raw))
        cap = self._gate.limits.invocation_bytes
        if self._cut or (cap and self._used + cost > cap):
            self._cut = True
            self._drop(INVOCATION_LIMIT, written, int(ends_line))
        elif not self._bucket.take(cost, time.monotonic(), RESUME_BYTES if FUNCTION_RATE in self._unreported else 0):
            self._drop(FUNCTION_RATE, written, int(ends_line))
        else:
            self._used += cost
            self._report_drops()
            self._send(raw.decode("utf-8", "replace"), platform=False)

    def _drop(self, reason: str, nbytes: int, lines: int) -> None:
        self._gate.drops.add(reason, lines, nbytes)
        counts = self._unreported.setdefault(reason, [0, 0])
        counts[0] += nbytes
        counts[1] += lines

    def _report_drops(self) -> None:
        """Write the marker for output dropped since the last line that was kept."""
        if self._open_line:
            self._open_line = False
            self._drop(INVOCATION_LIMIT, 0, 1)
        if self._unreported:
            for reason, (nbytes, lines) in self._unreported.items():
                self._send(drop_marker(reason, nbytes, lines, self._gate.limits), platform=True)
            self._unreported.clear()

    def _pieces(self, raw: bytes) -> bytes:
        """Hand on leading MAX_EVENT_BYTES pieces of an over-long line; returns the rest (at most that size)."""
        while len(raw) > MAX_EVENT_BYTES:
            cut = _split_point(raw, MAX_EVENT_BYTES)
            self._output(raw[:cut], cut, ends_line=False)
            raw = raw[cut:]
        return raw

    def _feed(self, data: bytes) -> None:
        """Split one read into events and hand each on; keep an unterminated rest of at most MAX_EVENT_BYTES."""
        if self._cut:  # the fast path for a function far past its cap: count, never split or decode
            self._drop(INVOCATION_LIMIT, len(data), data.count(b"\n"))
            self._open_line = not data.endswith(b"\n")
            return
        *lines, rest = (self._partial + data).split(b"\n") if self._partial else data.split(b"\n")
        self._partial = b""
        for n, line in enumerate(lines):
            if self._cut:
                after = lines[n:]
                self._drop(INVOCATION_LIMIT, sum(map(len, after)) + len(after) + len(rest), len(after))
                self._open_line = bool(rest)
                return
            line = self._pieces(line)
            self._output(line, len(line) + 1)
        long_rest = len(rest) > MAX_EVENT_BYTES
        rest = self._pieces(rest)
        if self._cut and (rest or long_rest):
            self._drop(INVOCATION_LIMIT, len(rest), 0)
            self._open_line = True
            return
        self._partial = rest

    def drain(self) -> None:
        """Read what the pipe holds right now, up to DRAIN_BYTES (never blocks), and hand on the complete lines."""
        if self.eof:
            return
        budget = DRAIN_BYTES
        while budget > 0:
            try:
                data = os.read(self._fd, _READ_CHUNK)
            except BlockingIOError:
                break
            except OSError:
                data = b""
            if not data:
                self._stop_reading()
                break
            budget -= len(data)
            self._feed(data)
        if self.eof:
            self.flush_partial()

    def flush_partial(self) -> None:
        """Emit an unterminated last line (at the end of an invocation, or at exit)."""
        if self._partial:
            line, self._partial = self._partial, b""
            self._output(line, len(line))

    def begin_tail(self) -> None:
        self._tail = deque()
        self._tail_chars = 0

    def end_tail(self) -> bytes | None:
        """The last 4 KB of the lines emitted since begin_tail(), each newline-terminated."""
        if self._tail is None:
            return None
        text = "".join(line + "\n" for line in self._tail).encode("utf-8")
        self._tail = None
        return text[-TAIL_BYTES:]

    def _stop_reading(self) -> None:
        self.eof = True
        if self._loop is not None:
            # uvloop's answers None where typeshed says bool, which compiled code (mypyc) would check: not read
            cast(Any, self._loop).remove_reader(self._fd)
            self._loop = None

    def close(self) -> None:
        """Stop watching the pipe (the fd itself belongs to the process handle); report what was dropped."""
        if not self.eof:
            self.drain()
        self._stop_reading()
        self.flush_partial()
        self._report_drops()
