"""The platform's lines per LoggingConfig (logs/framing.PlatformLog): Lambda's text lines for Text, the Telemetry
API's records for JSON (`platform.start`, `platform.runtimeDone`, `platform.report`), and SystemLogLevel WARN
leaving those INFO records out while error lines stay."""

from __future__ import annotations

import json

from nimbus.logs import framing

T0 = 1_700_000_000.25


def test_text_format_is_lambdas_start_end_report() -> None:
    log = framing.PlatformLog("Text", "")
    assert log.start("r1", "$LATEST") == "START RequestId: r1 Version: $LATEST"
    assert log.end("r1", 12.5) == "END RequestId: r1"
    assert log.report("r1", 12.5, 128, 40, init_duration_ms=90.0) == framing.report_line("r1", 12.5, 128, 40, 90.0)
    assert log.timeout("r1", 3, now=T0) == framing.timeout_line("r1", 3, now=T0)


def test_json_format_platform_records() -> None:
    log = framing.PlatformLog("JSON", "INFO")
    start = json.loads(log.start("r1", "7", now=T0) or "")
    assert start == {"time": "2023-11-14T22:13:20.250Z", "type": "platform.start",
                     "record": {"requestId": "r1", "version": "7"}}  # fmt: skip
    done = json.loads(log.end("r1", 12.3456, produced_bytes=5, now=T0) or "")
    assert done["type"] == "platform.runtimeDone"
    assert done["record"] == {"requestId": "r1", "status": "success", "metrics": {"durationMs": 12.346,
                                                                                  "producedBytes": 5}}  # fmt: skip
    report = json.loads(log.report("r1", 12.3456, 256, 41, init_duration_ms=80.5, now=T0) or "")
    assert report["type"] == "platform.report"
    assert report["record"] == {
        "requestId": "r1",
        "metrics": {"durationMs": 12.346, "billedDurationMs": 13, "memorySizeMB": 256, "maxMemoryUsedMB": 41,
                    "initDurationMs": 80.5},
        "status": "success",
    }  # fmt: skip


def test_json_failures_carry_status_and_error_type() -> None:
    log = framing.PlatformLog("JSON", "DEBUG")
    done = json.loads(log.end("r1", 3000, "timeout") or "")
    assert done["record"]["status"] == "timeout"
    report = json.loads(log.report("r1", 5, 128, 128, status="error", error_type="Runtime.OutOfMemory") or "")
    assert (report["record"]["status"], report["record"]["errorType"]) == ("error", "Runtime.OutOfMemory")
    restored = json.loads(log.report("r2", 5, 128, 10, restore_duration_ms=4.2) or "")
    assert restored["record"]["metrics"]["restoreDurationMs"] == 4.2
    assert restored["record"]["metrics"]["billedRestoreDurationMs"] == 5
    timeout = json.loads(log.timeout("r1", 3, now=T0))
    assert timeout == {"timestamp": "2023-11-14T22:13:20.250Z", "level": "ERROR", "requestId": "r1",
                       "message": "Task timed out after 3.00 seconds"}  # fmt: skip


def test_system_log_level_warn_leaves_out_the_info_records_but_not_errors() -> None:
    log = framing.PlatformLog("JSON", "WARN")
    assert log.start("r1", "$LATEST") is None
    assert log.end("r1", 1.0) is None
    assert log.report("r1", 1.0, 128, 30) is None
    assert json.loads(log.timeout("r1", 3))["level"] == "ERROR"
    assert json.loads(log.error("r1", "text", "Error: Runtime exited with error: signal: killed"))["requestId"] == "r1"
