"""Lambda's advanced logging controls end to end, through boto3: LoggingConfig kept and returned with Lambda's
rules, the JSON log format for the Python and Node.js runtimes and for the platform's records, ApplicationLogLevel
and SystemLogLevel filtering, and a custom LogGroup, each read back through the CloudWatch Logs API."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from e2e_support import expect_error, invoke_json, make_zip, wait_active

from nimbus.runtimes.registry import node_binary

ROLE = "arn:aws:iam::000000000000:role/lambda-role"
NODE = node_binary()
JSON_INFO = {"LogFormat": "JSON", "ApplicationLogLevel": "INFO"}

PY_APP = """
import logging
log = logging.getLogger()
def handler(event, context):
    log.debug("py-debug-hidden")
    log.info("py-info %s", event.get("n"))
    log.error("py-error")
    print("py-print-line")
    return context.aws_request_id
"""

NODE_APP = """
exports.handler = async (event, context) => {
  console.debug('node-debug-hidden');
  console.log('node-info', event.n);
  console.error('node-error');
  return context.awsRequestId;
};
"""


@pytest.fixture
def logs(server: Any) -> Any:
    return server.client("logs")


def events_of(logs: Any, group: str, needle: str, timeout: float = 15) -> list[str]:
    """The messages of `group` once one contains `needle` (the REPORT or platform.report of the invocation)."""
    deadline = time.monotonic() + timeout
    while True:
        messages: list[str] = []
        try:
            for page in logs.get_paginator("filter_log_events").paginate(logGroupName=group):
                messages += [e["message"] for e in page["events"]]
        except logs.exceptions.ResourceNotFoundException:
            pass
        if any(needle in m for m in messages) or time.monotonic() > deadline:
            return messages
        time.sleep(0.2)


def parsed(messages: list[str]) -> list[dict[str, Any]]:
    out = []
    for message in messages:
        try:
            value = json.loads(message)
        except ValueError:
            continue
        if isinstance(value, dict):
            out.append(value)
    return out


def platform(records: list[dict[str, Any]], rid: str) -> dict[str, dict[str, Any]]:
    """type -> record of the platform records of one invocation."""
    return {r["type"]: r for r in records if "type" in r and r.get("record", {}).get("requestId") == rid}


def test_logging_config_reads_back_as_set(lam: Any, create_function: Any, fn_name: str) -> None:
    out = create_function(fn_name, {"app.py": PY_APP}, LoggingConfig=JSON_INFO)
    expected = {"LogFormat": "JSON", "ApplicationLogLevel": "INFO", "SystemLogLevel": "INFO",
                "LogGroup": f"/aws/lambda/{fn_name}"}  # fmt: skip
    assert out["LoggingConfig"] == expected
    assert lam.get_function_configuration(FunctionName=fn_name)["LoggingConfig"] == expected
    wait_active(lam, fn_name)
    updated = lam.update_function_configuration(FunctionName=fn_name, LoggingConfig={"SystemLogLevel": "WARN"})
    assert updated["LoggingConfig"] == {**expected, "SystemLogLevel": "WARN"}
    expect_error(lambda: lam.update_function_configuration(FunctionName=fn_name, LoggingConfig={
        "LogFormat": "Text", "ApplicationLogLevel": "DEBUG"}), "InvalidParameterValueException", 400)  # fmt: skip
    text = lam.update_function_configuration(FunctionName=fn_name, LoggingConfig={"LogFormat": "Text"})
    assert text["LoggingConfig"] == {"LogFormat": "Text", "LogGroup": f"/aws/lambda/{fn_name}"}


def test_levels_with_the_text_format_are_refused(lam: Any, create_function: Any, fn_name: str) -> None:
    expect_error(lambda: create_function(fn_name, {"app.py": PY_APP}, LoggingConfig={"ApplicationLogLevel": "INFO"}),
                 "InvalidParameterValueException", 400)  # fmt: skip
    expect_error(lambda: create_function(fn_name, {"app.py": PY_APP}, LoggingConfig={"LogFormat": "YAML"}),
                 "ValidationException", 400)  # fmt: skip


def test_python_json_logs_and_platform_records(lam: Any, logs: Any, create_function: Any, fn_name: str) -> None:
    create_function(fn_name, {"app.py": PY_APP}, LoggingConfig=JSON_INFO, MemorySize=256)
    wait_active(lam, fn_name)
    _, rid = invoke_json(lam, fn_name, {"n": 1})
    messages = events_of(logs, f"/aws/lambda/{fn_name}", '"platform.report"')
    records = parsed(messages)
    by_type = platform(records, rid)
    assert set(by_type) == {"platform.start", "platform.runtimeDone", "platform.report"}
    assert by_type["platform.start"]["record"] == {"requestId": rid, "version": "$LATEST"}
    assert by_type["platform.runtimeDone"]["record"]["status"] == "success"
    metrics = by_type["platform.report"]["record"]["metrics"]
    assert metrics["memorySizeMB"] == 256
    assert metrics["billedDurationMs"] >= metrics["durationMs"] > 0
    assert metrics["maxMemoryUsedMB"] > 0
    assert metrics["initDurationMs"] > 0, "a cold start reports its init"
    app = [r for r in records if "level" in r]
    assert [(r["level"], r["message"], r["logger"], r["requestId"]) for r in app] == [
        ("INFO", "py-info 1", "root", rid), ("ERROR", "py-error", "root", rid)]  # fmt: skip
    assert "py-print-line" in messages, "print() stays a plain line"
    assert not any("py-debug-hidden" in m for m in messages), "DEBUG is below ApplicationLogLevel INFO"
    assert not any(m.startswith(("START ", "END ", "REPORT ")) for m in messages)
    matched = logs.filter_log_events(logGroupName=f"/aws/lambda/{fn_name}", filterPattern='{ $.level = "ERROR" }')
    assert [json.loads(e["message"])["message"] for e in matched["events"]] == ["py-error"]


def test_application_log_level_error(lam: Any, logs: Any, create_function: Any, fn_name: str) -> None:
    create_function(fn_name, {"app.py": PY_APP}, LoggingConfig={"LogFormat": "JSON", "ApplicationLogLevel": "ERROR"})
    wait_active(lam, fn_name)
    _, rid = invoke_json(lam, fn_name, {"n": 2})
    records = parsed(events_of(logs, f"/aws/lambda/{fn_name}", '"platform.report"'))
    assert [r["message"] for r in records if "level" in r] == ["py-error"]
    assert "platform.report" in platform(records, rid)


def test_system_log_level_warn_drops_the_platform_records(
    lam: Any, logs: Any, create_function: Any, fn_name: str
) -> None:
    config = {"LogFormat": "JSON", "ApplicationLogLevel": "INFO", "SystemLogLevel": "WARN"}
    create_function(fn_name, {"app.py": PY_APP}, LoggingConfig=config)
    wait_active(lam, fn_name)
    invoke_json(lam, fn_name, {"n": 3})
    messages = events_of(logs, f"/aws/lambda/{fn_name}", "py-print-line")
    time.sleep(0.5)  # what would come after the print (runtimeDone, report) has had its time
    messages = events_of(logs, f"/aws/lambda/{fn_name}", "py-print-line")
    assert not [r for r in parsed(messages) if "type" in r]
    assert any('"py-error"' in m for m in messages)


def test_custom_log_group(lam: Any, logs: Any, create_function: Any, fn_name: str) -> None:
    group = f"/shared/{fn_name}"
    out = create_function(fn_name, {"app.py": PY_APP}, LoggingConfig={"LogGroup": group})
    assert out["LoggingConfig"] == {"LogFormat": "Text", "LogGroup": group}
    wait_active(lam, fn_name)
    _, rid = invoke_json(lam, fn_name, {"n": 4})
    messages = events_of(logs, group, f"REPORT RequestId: {rid}")
    assert f"START RequestId: {rid} Version: $LATEST" in messages
    assert any(m.startswith("[ERROR]\t") and m.endswith(f"\t{rid}\tpy-error") for m in messages)
    default = logs.describe_log_groups(logGroupNamePrefix=f"/aws/lambda/{fn_name}")["logGroups"]
    assert [g["logGroupName"] for g in default] == [], "nothing went to the default group"


@pytest.mark.skipif(NODE is None, reason="no node on this host")
def test_nodejs_json_logs_and_platform_records(lam: Any, logs: Any, fn_name: str) -> None:
    assert NODE is not None
    lam.create_function(FunctionName=fn_name, Runtime=f"nodejs{NODE[1]}.x", Role=ROLE, Handler="index.handler",
                        Code={"ZipFile": make_zip({"index.js": NODE_APP})}, LoggingConfig=JSON_INFO)  # fmt: skip
    try:
        wait_active(lam, fn_name)
        _, rid = invoke_json(lam, fn_name, {"n": 5})
        records = parsed(events_of(logs, f"/aws/lambda/{fn_name}", '"platform.report"'))
        app = [r for r in records if "level" in r]
        assert [(r["level"], r["message"], r["requestId"]) for r in app] == [
            ("INFO", "node-info 5", rid), ("ERROR", "node-error", rid)]  # fmt: skip
        assert set(platform(records, rid)) == {"platform.start", "platform.runtimeDone", "platform.report"}
    finally:
        lam.delete_function(FunctionName=fn_name)
