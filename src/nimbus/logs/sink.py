"""The narrow contract between whatever produces log lines (instances) and whatever stores them."""

from __future__ import annotations

from typing import Protocol

from nimbus.logs.limits import LogGate


class LogSink(Protocol):
    #: the limits producers enforce before emitting, and the drop counters they and the sink share
    gate: LogGate

    def emit(self, group: str, stream: str, timestamp_ms: int, message: str, platform: bool = False) -> None:
        """Hand one log event off; must not block or do I/O on the caller's path (it is the invoke hot path).

        `platform`: a line of ours (START, END, REPORT, timeouts, drop markers), kept in preference to the function's
        own output when space or buffer runs short."""


class MemorySink:
    """An in-memory sink for unit tests of log producers."""

    def __init__(self, gate: LogGate | None = None) -> None:
        self.gate = gate or LogGate()
        self.events: list[tuple[str, str, int, str]] = []

    def emit(self, group: str, stream: str, timestamp_ms: int, message: str, platform: bool = False) -> None:
        self.events.append((group, stream, timestamp_ms, message))
