"""The platform's own log lines, exactly as Lambda prints them: START, END, REPORT, timeouts, stream names."""

from __future__ import annotations

import math
import time
import uuid


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
