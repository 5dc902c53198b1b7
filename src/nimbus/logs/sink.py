"""The narrow contract between whatever produces log lines (instances) and whatever stores them."""

from __future__ import annotations

from typing import Protocol


class LogSink(Protocol):
    def emit(self, group: str, stream: str, timestamp_ms: int, message: str) -> None:
        """Hand one log event off; must not block or do I/O on the caller's path (it is the invoke hot path)."""


class MemorySink:
    """An in-memory sink for unit tests of log producers."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str, int, str]] = []

    def emit(self, group: str, stream: str, timestamp_ms: int, message: str) -> None:
        self.events.append((group, stream, timestamp_ms, message))
