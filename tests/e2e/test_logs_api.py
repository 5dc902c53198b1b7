"""Function logs through the CloudWatch Logs API served on the same endpoint."""

from __future__ import annotations

import re
import time
from typing import Any

import pytest
from e2e_support import LOG_STREAM_RE, expect_error, invoke_json, wait_active

LOGGER = """
import logging
import sys
logging.getLogger().setLevel(logging.INFO)
print("init line from module load")
def handler(event, context):
    print("print-marker", event["n"])
    sys.stderr.write("stderr-marker %d\\n" % event["n"])
    logging.getLogger("app").info("logging-marker %d", event["n"])
    return context.log_stream_name
"""


def all_events(logs: Any, group: str, **kwargs: Any) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    for page in logs.get_paginator("filter_log_events").paginate(logGroupName=group, **kwargs):
        events.extend(page["events"])
    return events


def wait_for_events(logs: Any, group: str, needles: list[str], timeout: float = 15) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while True:
        events = all_events(logs, group)
        text = "\n".join(e["message"] for e in events)
        if all(n in text for n in needles) or time.monotonic() > deadline:
            return events
        time.sleep(0.2)


@pytest.fixture
def logs(server: Any) -> Any:
    return server.client("logs")


def test_function_logs_via_filter_log_events(lam: Any, logs: Any, create_function: Any, fn_name: str) -> None:
    create_function(fn_name, {"app.py": LOGGER})
    wait_active(lam, fn_name)
    r1, stream1 = invoke_json(lam, fn_name, {"n": 1})
    r2, stream2 = invoke_json(lam, fn_name, {"n": 2})
    id1, id2 = r1["ResponseMetadata"]["RequestId"], r2["ResponseMetadata"]["RequestId"]
    group = f"/aws/lambda/{fn_name}"
    events = wait_for_events(logs, group, [f"REPORT RequestId: {id1}", f"REPORT RequestId: {id2}",
                                           "print-marker 2", "logging-marker 2"])
    messages = [e["message"] for e in events]
    text = "\n".join(messages)
    for rid in (id1, id2):
        assert f"START RequestId: {rid} Version: $LATEST" in text
        assert f"END RequestId: {rid}" in text
        assert f"REPORT RequestId: {rid}" in text
    assert "init line from module load" in text
    for n in (1, 2):
        assert f"print-marker {n}" in text
        assert f"stderr-marker {n}" in text
        assert f"logging-marker {n}" in text
    logging_line = next(m for m in messages if "logging-marker 1" in m)
    assert logging_line.startswith("[INFO]\t"), logging_line
    assert id1 in logging_line

    reports = {rid: next(m for m in messages if m.startswith(f"REPORT RequestId: {rid}")) for rid in (id1, id2)}
    for report in reports.values():
        assert re.search(r"\tDuration: \d+\.\d{2} ms", report), report
        assert re.search(r"\tBilled Duration: \d+ ms", report), report
        assert "\tMemory Size: 128 MB" in report, report
        assert re.search(r"\tMax Memory Used: \d+ MB", report), report
    assert re.search(r"\tInit Duration: \d+\.\d{2} ms", reports[id1]), "first (cold) invoke reports Init Duration"
    assert "Init Duration" not in reports[id2], "warm invoke must not report Init Duration"

    # order: START < print < END < REPORT for one request, timestamps ascending
    def pos(prefix: str) -> int:
        return next(i for i, m in enumerate(messages) if m.startswith(prefix))

    assert pos(f"START RequestId: {id1}") < pos("print-marker 1") < pos(f"END RequestId: {id1}") \
        < pos(f"REPORT RequestId: {id1}")
    stamps = [e["timestamp"] for e in events]
    assert stamps == sorted(stamps)
    now_ms = time.time() * 1000
    assert all(now_ms - 120_000 < t <= now_ms + 5_000 for t in stamps)
    for e in events:
        assert e["logStreamName"] == stream1
        assert "eventId" in e
        assert not e["message"].endswith("\n")
    assert stream1 == stream2


def test_describe_log_streams(lam: Any, logs: Any, create_function: Any, fn_name: str) -> None:
    create_function(fn_name, {"app.py": LOGGER})
    _, stream = invoke_json(lam, fn_name, {"n": 1})
    assert re.match(LOG_STREAM_RE, stream), stream
    group = f"/aws/lambda/{fn_name}"
    wait_for_events(logs, group, ["REPORT RequestId"])
    streams = logs.describe_log_streams(logGroupName=group)["logStreams"]
    names = [s["logStreamName"] for s in streams]
    assert stream in names
    for s in streams:
        assert re.match(LOG_STREAM_RE, s["logStreamName"]), s
    stream_events = all_events(logs, group, logStreamNames=[stream])
    assert any("print-marker 1" in e["message"] for e in stream_events)


def test_filter_pattern_and_time_range(lam: Any, logs: Any, create_function: Any, fn_name: str) -> None:
    create_function(fn_name, {"app.py": LOGGER})
    start = int(time.time() * 1000) - 1000
    r, _ = invoke_json(lam, fn_name, {"n": 7})
    group = f"/aws/lambda/{fn_name}"
    wait_for_events(logs, group, [f"REPORT RequestId: {r['ResponseMetadata']['RequestId']}"])
    hits = all_events(logs, group, filterPattern='"print-marker"')
    assert hits
    assert all("print-marker" in e["message"] for e in hits)
    assert all_events(logs, group, startTime=start)
    assert all_events(logs, group, endTime=start - 60_000) == []


def test_timeout_is_logged(lam: Any, logs: Any, create_function: Any, fn_name: str) -> None:
    code = "import time\ndef handler(e, c):\n    time.sleep(3)\n"
    create_function(fn_name, {"app.py": code}, Timeout=1)
    r, _ = invoke_json(lam, fn_name)
    assert r.get("FunctionError") == "Unhandled"
    rid = r["ResponseMetadata"]["RequestId"]
    group = f"/aws/lambda/{fn_name}"
    events = wait_for_events(logs, group, [f"REPORT RequestId: {rid}", "Task timed out after 1.00 seconds"])
    text = "\n".join(e["message"] for e in events)
    assert "Task timed out after 1.00 seconds" in text
    assert f"REPORT RequestId: {rid}" in text


def test_unknown_log_group(logs: Any) -> None:
    expect_error(logs.filter_log_events, "ResourceNotFoundException", 400,
                 logGroupName="/aws/lambda/t-no-such-function-logs")


def test_filter_log_events_pagination(lam: Any, logs: Any, create_function: Any, fn_name: str) -> None:
    code = "def handler(e, c):\n    for i in range(150):\n        print('paged-line-%03d' % i)\n"
    create_function(fn_name, {"app.py": code})
    r, _ = invoke_json(lam, fn_name)
    group = f"/aws/lambda/{fn_name}"
    wait_for_events(logs, group, [f"REPORT RequestId: {r['ResponseMetadata']['RequestId']}", "paged-line-149"])
    pages = list(logs.get_paginator("filter_log_events").paginate(
        logGroupName=group, PaginationConfig={"PageSize": 40}))
    assert len(pages) >= 4
    events = [e for p in pages for e in p["events"]]
    assert all(len(p["events"]) <= 40 for p in pages)
    assert len({e["eventId"] for e in events}) == len(events), "duplicate events across pages"
    lines = [e["message"] for e in events if e["message"].startswith("paged-line-")]
    assert lines == [f"paged-line-{i:03d}" for i in range(150)]
