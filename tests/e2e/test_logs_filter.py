"""FilterLogEvents' filter patterns over what a real function logged, through boto3 and the AWS CLI."""

from __future__ import annotations

import asyncio
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from e2e_support import expect_error, invoke_json
from test_logs_api import all_events, wait_for_events

from conftest import Server, aws_cli
from nimbus.api import logs_api
from nimbus.logs.store import LogStore

#: prints JSON lines (one per level, with nested objects and arrays), an Apache-style line and plain lines
SHOUTER = """
import json
def handler(event, context):
    n = event["n"]
    for level, latency in (("INFO", 5), ("WARN", 50), ("ERROR", 500)):
        print(json.dumps({"level": level, "n": n, "latency": latency, "user": {"id": n, "tags": ["a", level]},
                          "ok": level != "ERROR", "trace": None}))
    print('127.0.0.1 - frank [10/Oct/2000:13:25:15 -0700] "GET /x.html HTTP/1.0" %d 1534' % (400 + n))
    print("plain ERROR line %d" % n)
    print("plain info line %d" % n)
    return "done"
"""
GROUP = "/aws/lambda/paged"


@pytest.fixture
def logs(server: Server) -> Any:
    return server.client("logs")


@pytest.fixture
def group(lam: Any, logs: Any, create_function: Any, fn_name: str) -> str:
    """The log group of a function that has run twice (n=1, n=4) and logged everything above."""
    create_function(fn_name, {"app.py": SHOUTER})
    rids = [invoke_json(lam, fn_name, {"n": n})[0]["ResponseMetadata"]["RequestId"] for n in (1, 4)]
    name = f"/aws/lambda/{fn_name}"
    wait_for_events(logs, name, [f"REPORT RequestId: {rid}" for rid in rids] + ["plain info line 4"])
    return name


def messages(logs: Any, group: str, pattern: str) -> list[str]:
    return [e["message"] for e in all_events(logs, group, filterPattern=pattern)]


def levels(found: list[str]) -> list[tuple[str, int]]:
    return [(doc["level"], doc["n"]) for doc in map(json.loads, found)]


def test_json_patterns_select_json_lines(logs: Any, group: str) -> None:
    assert levels(messages(logs, group, '{ $.level = "ERROR" }')) == [("ERROR", 1), ("ERROR", 4)]
    assert levels(messages(logs, group, "{ $.latency > 10 && $.n = 4 }")) == [("WARN", 4), ("ERROR", 4)]
    assert levels(messages(logs, group, '{ $.user.tags[1] = "W*" || $.ok IS FALSE }')) == [
        ("WARN", 1), ("ERROR", 1), ("WARN", 4), ("ERROR", 4),
    ]  # fmt: skip
    assert len(messages(logs, group, "{ $.trace IS NULL }")) == 6
    assert len(messages(logs, group, "{ $.level EXISTS }")) == 6
    assert messages(logs, group, "{ $.nothing EXISTS }") == []


def test_term_and_space_delimited_patterns(logs: Any, group: str) -> None:
    everything = messages(logs, group, "")
    assert any(m.startswith("START RequestId:") for m in everything)
    errors = messages(logs, group, "ERROR")
    assert {m for m in errors if not m.startswith("{")} == {"plain ERROR line 1", "plain ERROR line 4"}
    assert messages(logs, group, '"plain ERROR" -4') == ["plain ERROR line 1"]
    assert messages(logs, group, '?"info line" ?"ERROR line"') == [
        "plain ERROR line 1", "plain info line 1", "plain ERROR line 4", "plain info line 4",
    ]  # fmt: skip
    apache = messages(logs, group, "[ip, user, username, timestamp, request, status_code = 40*, bytes > 1000]")
    assert [m.split()[-2] for m in apache] == ["401", "404"]
    assert [m.split()[-2] for m in messages(logs, group, "[..., status_code = 404, bytes]")] == ["404"]
    assert messages(logs, group, "error") == []  # case-sensitive


def test_patterns_page_through_matches(logs: Any, group: str) -> None:
    pages = list(logs.get_paginator("filter_log_events").paginate(
        logGroupName=group, filterPattern="{ $.level EXISTS }", PaginationConfig={"PageSize": 4}))  # fmt: skip
    assert [len(page["events"]) for page in pages] == [4, 2]
    found = [e["message"] for page in pages for e in page["events"]]
    assert levels(found) == [(level, n) for n in (1, 4) for level in ("INFO", "WARN", "ERROR")]


def test_a_pattern_that_cannot_be_parsed_is_invalid_parameter(logs: Any, group: str) -> None:
    for pattern in ('{ $.level = "ERROR"', "{ $.latency > high }", "[a, , b]", '"unclosed'):
        error = expect_error(logs.filter_log_events, "InvalidParameterException", 400,
                             logGroupName=group, filterPattern=pattern)  # fmt: skip
        assert "Invalid filter pattern" in error.response["Error"]["Message"]
    with pytest.raises(logs.exceptions.InvalidParameterException):
        logs.filter_log_events(logGroupName=group, filterPattern="{ $.a IS MAYBE }")


def test_aws_cli_filter_log_events_with_a_json_pattern(server: Server, group: str) -> None:
    out = aws_cli(server, "logs", "filter-log-events", "--log-group-name", group,
                  "--filter-pattern", '{ $.level = "ERROR" }')  # fmt: skip
    assert levels([e["message"] for e in json.loads(out.stdout)["events"]]) == [("ERROR", 1), ("ERROR", 4)]
    bad = aws_cli(server, "logs", "filter-log-events", "--log-group-name", group,
                  "--filter-pattern", "{ $.level = }", check=False)  # fmt: skip
    assert isinstance(bad, subprocess.CompletedProcess)
    assert bad.returncode != 0
    assert "InvalidParameterException" in bad.stderr
    assert "Traceback" not in bad.stderr


def test_a_long_search_pages_with_few_or_no_events(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Handler logic, in process: a search that reads SCAN_LIMIT events ends its page there, with a nextToken that
    resumes after the last event read (as CloudWatch pages while it searches), and no event is lost or repeated."""
    monkeypatch.setattr(logs_api, "SCAN_LIMIT", 8)
    store = LogStore(tmp_path / "logs.db", retention_days=1)

    async def write() -> None:
        for n in range(30):
            level = "ERROR" if n in (2, 3, 25) else "INFO"
            store.emit(GROUP, "s", 1_700_000_000_000 + n, json.dumps({"level": level, "n": n}))
        await store.flush()

    asyncio.run(write())
    api = logs_api.LogsApi(store)
    pages: list[list[int]] = []
    body: dict[str, Any] = {"logGroupName": GROUP, "filterPattern": '{ $.level = "ERROR" }', "limit": 10}
    while True:
        page = api.filter_log_events(body)
        pages.append([json.loads(e["message"])["n"] for e in page["events"]])
        if "nextToken" not in page:
            break
        body["nextToken"] = page["nextToken"]
    assert pages == [[2, 3], [], [], [25]]  # 8 events read per page, the last page short
    first = api.filter_log_events({**body, "nextToken": None, "limit": 1})
    assert [json.loads(e["message"])["n"] for e in first["events"]] == [2]
    second = api.filter_log_events({**body, "nextToken": first["nextToken"], "limit": 1})
    assert [json.loads(e["message"])["n"] for e in second["events"]] == [3]
    exact = api.filter_log_events({"logGroupName": GROUP, "filterPattern": "INFO", "limit": 5})  # one query
    assert [json.loads(e["message"])["n"] for e in exact["events"]] == [0, 1, 4, 5, 6]
    assert "nextToken" in exact
    asyncio.run(store.close())
