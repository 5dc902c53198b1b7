"""The platform's own log lines, exactly as Lambda prints them: START, END, REPORT, timeouts, stream names, and
their JSON records when a function's LoggingConfig asks for the JSON log format (`PlatformLog`)."""

from __future__ import annotations

import json
import math
import time
import uuid
from typing import Any


def default_log_group(function_name: str) -> str:
    return f"/aws/lambda/{function_name}"


def stream_name(version: str, now: float | None = None, instance_id: str | None = None) -> str:
    """`YYYY/MM/DD/[<version>]<32 hex>`: one stream per execution environment."""
    day = time.strftime("%Y/%m/%d", time.gmtime(time.time() if now is None else now))
    return f"{day}/[{version}]{instance_id or uuid.uuid4().hex}"


def iso_timestamp(epoch_s: float) -> str:
    """UTC ISO-8601 with milliseconds and a Z, as Lambda stamps its lines."""
    ms = int(epoch_s * 1000) % 1000
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(epoch_s)) + f".{ms:03d}Z"


def start_line(request_id: str, version: str) -> str:
    return f"START RequestId: {request_id} Version: {version}"


def end_line(request_id: str) -> str:
    return f"END RequestId: {request_id}"


def billed_ms(duration_ms: float) -> int:
    """Billed duration: rounded up to the next millisecond, at least 1."""
    return max(1, math.ceil(duration_ms))


def report_line(
    request_id: str,
    duration_ms: float,
    memory_mb: int,
    max_memory_mb: int,
    init_duration_ms: float | None = None,
    status: str | None = None,
    error_type: str | None = None,
    restore_duration_ms: float | None = None,
) -> str:
    """`REPORT RequestId: ...\\tDuration: ...` with Init Duration on cold starts (Restore Duration on SnapStart
    restores) and a Status on failures."""
    line = (
        f"REPORT RequestId: {request_id}\tDuration: {duration_ms:.2f} ms\t"
        f"Billed Duration: {billed_ms(duration_ms)} ms\tMemory Size: {memory_mb} MB\t"
        f"Max Memory Used: {max_memory_mb} MB\t"
    )
    if init_duration_ms is not None:
        line += f"Init Duration: {init_duration_ms:.2f} ms\t"
    if restore_duration_ms is not None:
        line += (
            f"Restore Duration: {restore_duration_ms:.2f} ms\t"
            f"Billed Restore Duration: {billed_ms(restore_duration_ms)} ms\t"
        )
    if status:
        line += f"Status: {status}"
        if error_type:
            line += f"\tError Type: {error_type}"
    return line


def timeout_line(request_id: str, timeout_s: float, now: float | None = None) -> str:
    """`<ISO time> <requestId> Task timed out after 3.00 seconds`."""
    return f"{iso_timestamp(time.time() if now is None else now)} {request_id} {timeout_message(timeout_s)}"


def timeout_message(timeout_s: float) -> str:
    return f"Task timed out after {timeout_s:.2f} seconds"


# ---- the JSON log format (LoggingConfig.LogFormat JSON): platform records instead of START/END/REPORT ----
#: Lambda's system log levels; START, runtimeDone and REPORT are INFO records, so SystemLogLevel WARN drops them
SYSTEM_LEVELS = {"DEBUG": 1, "INFO": 2, "WARN": 3}
_INFO = SYSTEM_LEVELS["INFO"]


def _json(value: dict[str, Any]) -> str:
    return json.dumps(value, separators=(",", ":"))


def _ms(value: float) -> float:
    return round(value, 3)


class PlatformLog:
    """The platform's lines of one function, in its log format: Lambda's text lines (START/END/REPORT) for Text,
    and for JSON the Telemetry API's records (`platform.start`, `platform.runtimeDone`, `platform.report`), those
    below the SystemLogLevel left out (None). Error lines (a timeout, a runtime that exited) are always written:
    in JSON as ERROR records with the request id."""

    __slots__ = ("json", "level")

    def __init__(self, log_format: str = "Text", system_log_level: str = "") -> None:
        self.json = log_format == "JSON"
        self.level = SYSTEM_LEVELS.get(system_log_level, _INFO)

    def _record(self, kind: str, record: dict[str, Any], now: float | None) -> str | None:
        if self.level > _INFO:
            return None
        return _json({"time": iso_timestamp(time.time() if now is None else now), "type": kind, "record": record})

    def start(self, request_id: str, version: str, now: float | None = None) -> str | None:
        if not self.json:
            return start_line(request_id, version)
        return self._record("platform.start", {"requestId": request_id, "version": version}, now)

    def end(
        self,
        request_id: str,
        duration_ms: float,
        status: str | None = None,
        error_type: str | None = None,
        produced_bytes: int | None = None,
        now: float | None = None,
    ) -> str | None:
        """END, or `platform.runtimeDone`: how the runtime finished the invocation."""
        if not self.json:
            return end_line(request_id)
        metrics: dict[str, Any] = {"durationMs": _ms(duration_ms)}
        if produced_bytes is not None:
            metrics["producedBytes"] = produced_bytes
        record: dict[str, Any] = {"requestId": request_id, "status": status or "success", "metrics": metrics}
        if error_type:
            record["errorType"] = error_type
        return self._record("platform.runtimeDone", record, now)

    def report(
        self,
        request_id: str,
        duration_ms: float,
        memory_mb: int,
        max_memory_mb: int,
        init_duration_ms: float | None = None,
        status: str | None = None,
        error_type: str | None = None,
        restore_duration_ms: float | None = None,
        now: float | None = None,
    ) -> str | None:
        """REPORT, or `platform.report` with the same numbers as its metrics."""
        if not self.json:
            return report_line(request_id, duration_ms, memory_mb, max_memory_mb, init_duration_ms, status,
                               error_type, restore_duration_ms)  # fmt: skip
        metrics: dict[str, Any] = {
            "durationMs": _ms(duration_ms),
            "billedDurationMs": billed_ms(duration_ms),
            "memorySizeMB": memory_mb,
            "maxMemoryUsedMB": max_memory_mb,
        }
        if init_duration_ms is not None:
            metrics["initDurationMs"] = _ms(init_duration_ms)
        if restore_duration_ms is not None:
            metrics["restoreDurationMs"] = _ms(restore_duration_ms)
            metrics["billedRestoreDurationMs"] = billed_ms(restore_duration_ms)
        record: dict[str, Any] = {"requestId": request_id, "metrics": metrics, "status": status or "success"}
        if error_type:
            record["errorType"] = error_type
        return self._record("platform.report", record, now)

    def error(self, request_id: str, text_line: str, message: str, now: float | None = None) -> str:
        """A platform error line: `text_line` as is in Text, an ERROR record carrying `message` in JSON."""
        if not self.json:
            return text_line
        when = iso_timestamp(time.time() if now is None else now)
        return _json({"timestamp": when, "level": "ERROR", "requestId": request_id, "message": message})

    def timeout(self, request_id: str, timeout_s: float, now: float | None = None) -> str:
        return self.error(request_id, timeout_line(request_id, timeout_s, now), timeout_message(timeout_s), now)
