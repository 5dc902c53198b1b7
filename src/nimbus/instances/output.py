"""One instance's log stream: the function's stdout/stderr pipe, split into lines, interleaved with platform lines.

Reading is non-blocking (`loop.add_reader` plus synchronous `drain()` before END/REPORT), and every line goes to
the LogSink at once (a non-blocking enqueue). While an invocation asked for its log tail, lines are also kept so
the last 4 KB can be returned with the result.
"""

from __future__ import annotations

import asyncio
import os
import time

from nimbus.logs.sink import LogSink

TAIL_BYTES = 4096
_READ_CHUNK = 65536


class OutputCapture:
    def __init__(self, fd: int, sink: LogSink, group: str, stream: str) -> None:
        self._fd = fd
        self._sink = sink
        self.group = group
        self.stream = stream
        self._partial = bytearray()
        self._tail: list[str] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.eof = False

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._loop.add_reader(self._fd, self.drain)

    def emit(self, message: str) -> None:
        """One log event (a platform line, or one line of function output)."""
        self._sink.emit(self.group, self.stream, int(time.time() * 1000), message)
        if self._tail is not None:
            self._tail.append(message)

    def drain(self) -> None:
        """Read everything the pipe holds right now (never blocks) and emit the complete lines."""
        if self.eof:
            return
        chunks: list[bytes] = []
        while True:
            try:
                data = os.read(self._fd, _READ_CHUNK)
            except BlockingIOError:
                break
            except OSError:
                data = b""
            if not data:
                self._stop_reading()
                break
            chunks.append(data)
        if chunks:
            self._partial += b"".join(chunks)
            *lines, rest = bytes(self._partial).split(b"\n")
            self._partial = bytearray(rest)
            for line in lines:
                self.emit(line.decode("utf-8", "replace"))
        if self.eof:
            self.flush_partial()

    def flush_partial(self) -> None:
        """Emit an unterminated last line (at the end of an invocation, or at exit)."""
        if self._partial:
            line = bytes(self._partial)
            self._partial.clear()
            self.emit(line.decode("utf-8", "replace"))

    def begin_tail(self) -> None:
        self._tail = []

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
            self._loop.remove_reader(self._fd)
            self._loop = None

    def close(self) -> None:
        """Stop watching the pipe (the fd itself belongs to the process handle)."""
        if not self.eof:
            self.drain()
        self._stop_reading()
        self.flush_partial()
