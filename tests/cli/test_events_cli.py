"""`nimbus events put|rules` and `nimbus events rule create|delete`, run as a subprocess against the session server,
as a user would: a rule for a function adds the function's permission for events.amazonaws.com with the rule's
ARN (so the delivery is allowed), and errors say what to do next."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from cli_support import nimbus_runner, python_function
from test_cli import Run, _ok, _one_line_error

from conftest import Server

RECORDER = "import json\ndef handler(event, context):\n    print('RECORD ' + json.dumps(event))\n"
RULE_ARN = "arn:aws:events:us-east-1:000000000000:rule/cli-orders"


@pytest.fixture
def run(server: Server) -> Run:
    return nimbus_runner(server.endpoint)


@pytest.fixture
def function(lam: Any) -> Iterator[str]:
    with python_function(lam, "cli-events-fn", RECORDER) as name:
        yield name


def test_rule_create_for_a_function_then_put_reaches_it(run: Run, server: Server, lam: Any, function: str) -> None:
    created = _ok(run("events", "rule", "create", "cli-orders", "--pattern", '{"source": ["cli.shop"]}',
                      "--target", function))  # fmt: skip
    assert created.stdout.splitlines()[0] == RULE_ARN
    policy = json.loads(lam.get_policy(FunctionName=function)["Policy"])
    (statement,) = policy["Statement"]
    assert statement["Principal"] == {"Service": "events.amazonaws.com"}
    assert statement["Condition"]["ArnLike"]["AWS:SourceArn"] == RULE_ARN
    _ok(run("events", "rule", "create", "cli-orders", "--pattern", '{"source": ["cli.shop"]}', "--target", function))
    listed = _ok(run("events", "rules"))
    assert "cli-orders" in listed.stdout
    assert "cli.shop" in listed.stdout
    event_id = _ok(run("events", "put", "--source", "cli.shop", "--detail-type", "Order", "--detail", '{"n": 7}'))
    logs = server.client("logs")
    deadline = time.monotonic() + 30
    got: list[dict[str, Any]] = []
    while not got and time.monotonic() < deadline:
        with contextlib.suppress(logs.exceptions.ResourceNotFoundException):
            got = [json.loads(e["message"].strip()[7:])
                   for e in logs.filter_log_events(logGroupName=f"/aws/lambda/{function}")["events"]
                   if e["message"].startswith("RECORD ")]  # fmt: skip
        time.sleep(0.2)
    assert got, "the function received nothing"
    assert got[0]["id"] == event_id.stdout.strip()
    assert got[0]["detail"] == {"n": 7}
    _ok(run("events", "rule", "delete", "cli-orders"))
    assert "cli-orders" not in _ok(run("events", "rules")).stdout


def test_a_scheduled_rule(run: Run, server: Server, function: str) -> None:
    _ok(run("events", "rule", "create", "cli-tick", "--schedule", "rate(1 hour)", "--target", function))
    rule = server.client("events").describe_rule(Name="cli-tick")
    assert rule["ScheduleExpression"] == "rate(1 hour)"
    _ok(run("events", "rule", "delete", "cli-tick"))


def test_errors_say_what_to_do_next(run: Run, function: str) -> None:
    assert "exactly one of --pattern" in _one_line_error(run("events", "rule", "create", "cli-x", "--target",
                                                              function), code=2)  # fmt: skip
    assert "--pattern must be a JSON object" in _one_line_error(
        run("events", "rule", "create", "cli-x", "--pattern", "[1]", "--target", function), code=2)  # fmt: skip
    assert "create it first" in _one_line_error(
        run("events", "rule", "create", "cli-x", "--pattern", "{}", "--target", "cli-no-such-fn"))  # fmt: skip
    assert "aws events create-event-bus --name cli-nobus" in _one_line_error(
        run("events", "rule", "create", "cli-x", "--pattern", '{"a": ["b"]}', "--target", function,
            "--bus", "cli-nobus"))  # fmt: skip
    assert "InvalidEventPatternException" in _one_line_error(
        run("events", "rule", "create", "cli-x", "--pattern", '{"a": "b"}', "--target", function))  # fmt: skip
    assert "aws events create-event-bus --name cli-nobus" in _one_line_error(
        run("events", "put", "--source", "s", "--detail-type", "t", "--bus", "cli-nobus"))  # fmt: skip
    assert "--detail must be a JSON object" in _one_line_error(
        run("events", "put", "--source", "s", "--detail-type", "t", "--detail", "nope"), code=2)  # fmt: skip
    assert "nimbus events rules" in _one_line_error(run("events", "rule", "delete", "cli-none"))
    assert "no event bus 'cli-nobus'" in _one_line_error(run("events", "rules", "--bus", "cli-nobus"))
