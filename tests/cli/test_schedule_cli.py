"""`nimbus schedule create|list|delete`, run as a subprocess against the session server, as a user would: targets
named by function name, queue name or ARN, the expression flags, and errors that say what to do next."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import pytest
from cli_support import nimbus_runner, python_function
from test_cli import Run, _ok, _one_line_error

from conftest import Server


@pytest.fixture
def run(server: Server) -> Run:
    return nimbus_runner(server.endpoint)


@pytest.fixture
def sched(server: Server) -> Iterator[Any]:
    client = server.client("scheduler")
    yield client
    for page in client.get_paginator("list_schedules").paginate(NamePrefix="cli-"):
        for s in page["Schedules"]:
            with contextlib.suppress(client.exceptions.ResourceNotFoundException):
                client.delete_schedule(Name=s["Name"], GroupName=s["GroupName"])


@pytest.fixture
def function(lam: Any) -> Iterator[str]:
    with python_function(lam, "cli-sched-fn") as name:
        yield name


def test_create_for_a_function_list_and_delete(run: Run, sched: Any, function: str) -> None:
    created = _ok(run("schedule", "create", "cli-nightly", "--cron", "0 2 * * ? *", "--target", function,
                      "--timezone", "Europe/Paris", "--input", '{"job": "report"}'))  # fmt: skip
    arn = "arn:aws:scheduler:us-east-1:000000000000:schedule/default/cli-nightly"
    assert created.stdout.splitlines()[0] == arn
    assert "nothing needs granting" in created.stdout
    got = sched.get_schedule(Name="cli-nightly")
    assert got["ScheduleExpression"] == "cron(0 2 * * ? *)"
    assert got["ScheduleExpressionTimezone"] == "Europe/Paris"
    assert got["Target"]["Arn"] == f"arn:aws:lambda:us-east-1:000000000000:function:{function}"
    assert got["Target"]["Input"] == '{"job": "report"}'
    assert got["Target"]["RoleArn"] == "arn:aws:iam::000000000000:role/nimbus-scheduler"

    listed = _ok(run("schedule", "list")).stdout
    line = next(line for line in listed.splitlines() if "cli-nightly" in line)
    assert "default" in line
    assert "ENABLED" in line
    assert "cron(0 2 * * ? *) Europe/Paris" in line
    _ok(run("schedule", "delete", "cli-nightly"))
    assert "cli-nightly" not in _ok(run("schedule", "list")).stdout


def test_rate_and_at_for_a_queue_by_name(run: Run, server: Server, sched: Any) -> None:
    sqs = server.client("sqs")
    sqs.create_queue(QueueName="cli-sched-q")
    try:
        _ok(run("schedule", "create", "cli-rate", "--rate", "5 minutes", "--target", "cli-sched-q"))
        assert sched.get_schedule(Name="cli-rate")["Target"]["Arn"] == "arn:aws:sqs:us-east-1:000000000000:cli-sched-q"
        _ok(run("schedule", "create", "cli-at", "--at", "2030-01-01T09:00:00", "--target", "cli-sched-q",
                "--delete-after-completion", "--disabled"))  # fmt: skip
        got = sched.get_schedule(Name="cli-at")
        assert got["ScheduleExpression"] == "at(2030-01-01T09:00:00)"
        assert got["ActionAfterCompletion"] == "DELETE"
        assert got["State"] == "DISABLED"
    finally:
        sqs.delete_queue(QueueUrl=sqs.get_queue_url(QueueName="cli-sched-q")["QueueUrl"])


def test_errors_say_what_to_do_next(run: Run, sched: Any, function: str) -> None:
    line = _one_line_error(run("schedule", "create", "cli-x", "--target", function), code=2)
    assert "exactly one of --cron" in line
    line = _one_line_error(run("schedule", "create", "cli-x", "--rate", "5 minutes", "--cron", "* * * * ? *",
                               "--target", function), code=2)  # fmt: skip
    assert "exactly one of --cron" in line
    line = _one_line_error(run("schedule", "create", "cli-x", "--rate", "5 minutes", "--target", "no-such-thing"))
    assert "no function or queue named 'no-such-thing'" in line
    assert "nimbus queue create" in line
    line = _one_line_error(run("schedule", "create", "cli-x", "--rate", "5 minutes", "--target", function,
                               "--input", "not json"), code=2)  # fmt: skip
    assert "--input must be JSON" in line
    line = _one_line_error(run("schedule", "create", "cli-x", "--rate", "5 fortnights", "--target", function))
    assert "ValidationException" in line
    assert "rate(5 fortnights)" in line
    _ok(run("schedule", "create", "cli-x", "--rate", "5 minutes", "--target", function))
    line = _one_line_error(run("schedule", "create", "cli-x", "--rate", "5 minutes", "--target", function))
    assert "already exists" in line
    assert "nimbus schedule delete cli-x" in line
    line = _one_line_error(run("schedule", "create", "cli-y", "--rate", "5 minutes", "--target", function,
                               "--group", "no-group"))  # fmt: skip
    assert "no schedule group 'no-group'" in line
    line = _one_line_error(run("schedule", "delete", "cli-nope"))
    assert "no schedule 'cli-nope'" in line
    assert "nimbus schedule list" in line
