"""EventBridge Scheduler through boto3's `scheduler` client (REST-JSON) and the AWS CLI, against the real server:
every operation, each wire error's name and status, the limits at the limit and one past, and real fires (an
`at()` schedule a few seconds ahead invokes a function and then deletes itself; another sends to a queue)."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from e2e_support import ACCOUNT, REGION, aws_cli, err, raw_client, start_server

ROLE = f"arn:aws:iam::{ACCOUNT}:role/scheduler-role"
QUEUE_ARN = f"arn:aws:sqs:{REGION}:{ACCOUNT}:sched-target"
SCHEDULE_ARN = f"arn:aws:scheduler:{REGION}:{ACCOUNT}:schedule"
GROUP_ARN = f"arn:aws:scheduler:{REGION}:{ACCOUNT}:schedule-group"


@pytest.fixture
def sched(server: Any) -> Any:
    return server.client("scheduler")


@pytest.fixture
def raw(server: Any) -> Any:
    """Client-side validation off, so out-of-range values reach the server."""
    return raw_client(server, "scheduler")


@pytest.fixture
def cleanup(sched: Any) -> Iterator[Callable[[str, str], None]]:
    """Register (group, name) of schedules, or (group, "") of groups, to delete at the end."""
    made: list[tuple[str, str]] = []
    yield lambda group, name: made.append((group, name))
    for group, name in reversed(made):
        with contextlib.suppress(ClientError):
            if name:
                sched.delete_schedule(GroupName=group, Name=name)
            else:
                sched.delete_schedule_group(Name=group)


def schedule_params(name: str, **over: Any) -> dict[str, Any]:
    params: dict[str, Any] = {
        "Name": name, "ScheduleExpression": "rate(1 day)", "FlexibleTimeWindow": {"Mode": "OFF"},
        "Target": {"Arn": QUEUE_ARN, "RoleArn": ROLE},
    }  # fmt: skip
    return params | over


def expect(call: Callable[..., Any], code: str, status: int, **kwargs: Any) -> str:
    with pytest.raises(ClientError) as info:
        call(**kwargs)
    assert err(info.value) == (code, status), info.value.response
    return str(info.value.response["Error"]["Message"])


# ---- schedules ----
def test_create_get_update_list_delete(sched: Any, cleanup: Any) -> None:
    cleanup("default", "life")
    start = dt.datetime.now(dt.UTC).replace(microsecond=0) + dt.timedelta(hours=1)
    end = start + dt.timedelta(days=30)
    arn = sched.create_schedule(**schedule_params(
        "life", ScheduleExpression="cron(0 9 ? * MON-FRI *)", ScheduleExpressionTimezone="Europe/Paris",
        StartDate=start, EndDate=end, Description="weekday report", State="DISABLED",
        FlexibleTimeWindow={"Mode": "FLEXIBLE", "MaximumWindowInMinutes": 15},
        Target={"Arn": QUEUE_ARN, "RoleArn": ROLE, "Input": '{"job": "report"}',
                "RetryPolicy": {"MaximumRetryAttempts": 3, "MaximumEventAgeInSeconds": 600},
                "DeadLetterConfig": {"Arn": f"arn:aws:sqs:{REGION}:{ACCOUNT}:dlq"}},
        ActionAfterCompletion="DELETE",
    ))["ScheduleArn"]  # fmt: skip
    assert arn == f"{SCHEDULE_ARN}/default/life"
    got = sched.get_schedule(Name="life")
    assert got["Arn"] == arn
    assert got["GroupName"] == "default"
    assert got["Name"] == "life"
    assert got["ScheduleExpression"] == "cron(0 9 ? * MON-FRI *)"
    assert got["ScheduleExpressionTimezone"] == "Europe/Paris"
    assert got["StartDate"] == start
    assert got["EndDate"] == end
    assert got["Description"] == "weekday report"
    assert got["State"] == "DISABLED"
    assert got["FlexibleTimeWindow"] == {"Mode": "FLEXIBLE", "MaximumWindowInMinutes": 15}
    assert got["Target"] == {"Arn": QUEUE_ARN, "RoleArn": ROLE, "Input": '{"job": "report"}',
                             "RetryPolicy": {"MaximumRetryAttempts": 3, "MaximumEventAgeInSeconds": 600},
                             "DeadLetterConfig": {"Arn": f"arn:aws:sqs:{REGION}:{ACCOUNT}:dlq"}}  # fmt: skip
    assert got["ActionAfterCompletion"] == "DELETE"
    assert isinstance(got["CreationDate"], dt.datetime)
    assert abs(got["CreationDate"].timestamp() - time.time()) < 60

    # UpdateSchedule replaces the whole schedule: what is left out takes its default
    assert sched.update_schedule(**schedule_params("life"))["ScheduleArn"] == arn
    got = sched.get_schedule(Name="life", GroupName="default")
    assert got["ScheduleExpression"] == "rate(1 day)"
    assert got["State"] == "ENABLED"
    assert "Description" not in got
    assert "StartDate" not in got
    assert "ScheduleExpressionTimezone" not in got
    assert got["ActionAfterCompletion"] == "NONE"
    assert got["Target"]["RetryPolicy"] == {"MaximumRetryAttempts": 185, "MaximumEventAgeInSeconds": 86400}
    assert got["LastModificationDate"] >= got["CreationDate"]

    listed = sched.list_schedules(NamePrefix="lif")["Schedules"]
    assert [(s["Name"], s["GroupName"], s["State"], s["Target"]) for s in listed] == [
        ("life", "default", "ENABLED", {"Arn": QUEUE_ARN})
    ]
    assert sched.list_schedules(NamePrefix="life", State="DISABLED")["Schedules"] == []
    sched.delete_schedule(Name="life")
    expect(sched.get_schedule, "ResourceNotFoundException", 404, Name="life")
    expect(sched.delete_schedule, "ResourceNotFoundException", 404, Name="life")
    expect(sched.update_schedule, "ResourceNotFoundException", 404, **schedule_params("life"))


def test_create_existing_is_conflict_and_a_retried_client_token_is_not(sched: Any, cleanup: Any) -> None:
    cleanup("default", "twice")
    first = sched.create_schedule(**schedule_params("twice"), ClientToken="token-1")["ScheduleArn"]
    assert sched.create_schedule(**schedule_params("twice"), ClientToken="token-1")["ScheduleArn"] == first
    message = expect(sched.create_schedule, "ConflictException", 409, **schedule_params("twice"))
    assert "twice" in message


def test_list_pages_with_next_token(sched: Any, cleanup: Any) -> None:
    for i in range(5):
        cleanup("default", f"page-{i}")
        sched.create_schedule(**schedule_params(f"page-{i}"))
    names, token, pages = [], None, 0
    while True:
        kwargs = {"NamePrefix": "page-", "MaxResults": 2} | ({"NextToken": token} if token else {})
        resp = sched.list_schedules(**kwargs)
        names += [s["Name"] for s in resp["Schedules"]]
        pages += 1
        token = resp.get("NextToken")
        if not token:
            break
    assert names == [f"page-{i}" for i in range(5)]
    assert pages == 3
    paged = [s["Name"] for p in sched.get_paginator("list_schedules").paginate(NamePrefix="page-",
             PaginationConfig={"PageSize": 1}) for s in p["Schedules"]]  # fmt: skip
    assert paged == names
    expect(sched.list_schedules, "ValidationException", 400, NextToken="not base64 !")


def test_list_schedules_of_a_missing_group_is_not_found(sched: Any) -> None:
    expect(sched.list_schedules, "ResourceNotFoundException", 404, GroupName="no-such-group")


@pytest.mark.parametrize(
    ("over", "fragment"),
    [
        ({"ScheduleExpression": "rate(0 minutes)"}, "rate(0 minutes)"),
        ({"ScheduleExpression": "cron(0 9 * * * *)"}, "cron(0 9 * * * *)"),
        ({"ScheduleExpression": "at(2026-13-01T00:00:00)"}, "at(2026-13-01T00:00:00)"),
        ({"ScheduleExpression": "every day"}, "every day"),
        ({"ScheduleExpressionTimezone": "Mars/Olympus"}, "Mars/Olympus"),
        ({"FlexibleTimeWindow": {"Mode": "FLEXIBLE"}}, "MaximumWindowInMinutes"),
        ({"FlexibleTimeWindow": {"Mode": "OFF", "MaximumWindowInMinutes": 5}}, "MaximumWindowInMinutes"),
        ({"Target": {"Arn": "arn:aws:ecs:us-east-1:000000000000:cluster/c", "RoleArn": ROLE}}, "Target Arn"),
        ({"Target": {"Arn": QUEUE_ARN, "RoleArn": ROLE, "EcsParameters": {"TaskDefinitionArn": "x"}}},
         "EcsParameters"),
        ({"Target": {"Arn": QUEUE_ARN, "RoleArn": "not-a-role"}}, "roleArn"),
        ({"StartDate": dt.datetime(2020, 1, 1, tzinfo=dt.UTC)}, "StartDate"),
        ({"EndDate": dt.datetime(2020, 1, 1, tzinfo=dt.UTC)}, "EndDate"),
        ({"StartDate": dt.datetime(2030, 1, 2, tzinfo=dt.UTC), "EndDate": dt.datetime(2030, 1, 1, tzinfo=dt.UTC)},
         "EndDate"),
        ({"State": "PAUSED"}, "PAUSED"),
        ({"ActionAfterCompletion": "ARCHIVE"}, "ARCHIVE"),
        ({"Name": "bad name!"}, "bad name!"),
    ],
)
def test_validation_errors(raw: Any, over: dict[str, Any], fragment: str) -> None:
    message = expect(raw.create_schedule, "ValidationException", 400, **schedule_params("v-err", **over))
    assert fragment in message, message


def test_required_members_are_validation_errors(raw: Any) -> None:
    params = schedule_params("v-missing")
    del params["FlexibleTimeWindow"]
    message = expect(raw.create_schedule, "ValidationException", 400, **params)
    assert "flexibleTimeWindow" in message
    params = schedule_params("v-missing", Target={"Arn": QUEUE_ARN})
    message = expect(raw.create_schedule, "ValidationException", 400, **params)
    assert "roleArn" in message


def test_name_length_64_and_65(sched: Any, raw: Any, cleanup: Any) -> None:
    name = "n" * 64
    cleanup("default", name)
    assert sched.create_schedule(**schedule_params(name))["ScheduleArn"].endswith(f"/default/{name}")
    expect(raw.create_schedule, "ValidationException", 400, **schedule_params("n" * 65))
    expect(raw.create_schedule_group, "ValidationException", 400, Name="g" * 65)


@pytest.mark.parametrize(
    ("member", "ok", "bad"),
    [
        ("MaximumWindowInMinutes", (1, 1440), (0, 1441)),
        ("MaximumEventAgeInSeconds", (60, 86400), (59, 86401)),
        ("MaximumRetryAttempts", (0, 185), (-1, 186)),
    ],
)
def test_ranges_at_the_limit_and_one_past(
    sched: Any, raw: Any, cleanup: Any, member: str, ok: tuple[int, int], bad: tuple[int, int]
) -> None:
    def params(value: int) -> dict[str, Any]:
        if member == "MaximumWindowInMinutes":
            return schedule_params("range", FlexibleTimeWindow={"Mode": "FLEXIBLE", member: value})
        return schedule_params("range", Target={"Arn": QUEUE_ARN, "RoleArn": ROLE, "RetryPolicy": {member: value}})

    cleanup("default", "range")
    for value in ok:
        sched.create_schedule(**params(value))
        got = sched.get_schedule(Name="range")
        assert value in (got["FlexibleTimeWindow"].get(member), got["Target"]["RetryPolicy"].get(member))
        sched.delete_schedule(Name="range")
    for value in bad:
        message = expect(raw.create_schedule, "ValidationException", 400, **params(value))
        assert str(value) in message


def test_max_results_100_and_101(sched: Any, raw: Any) -> None:
    sched.list_schedules(MaxResults=100)
    sched.list_schedule_groups(MaxResults=100)
    expect(raw.list_schedules, "ValidationException", 400, MaxResults=101)
    expect(raw.list_schedule_groups, "ValidationException", 400, MaxResults=0)


# ---- groups and tags ----
def test_groups_and_tags(sched: Any, cleanup: Any) -> None:
    cleanup("team-a", "")
    arn = sched.create_schedule_group(Name="team-a", Tags=[{"Key": "env", "Value": "dev"}])["ScheduleGroupArn"]
    assert arn == f"{GROUP_ARN}/team-a"
    got = sched.get_schedule_group(Name="team-a")
    assert (got["Arn"], got["Name"], got["State"]) == (arn, "team-a", "ACTIVE")
    assert isinstance(got["CreationDate"], dt.datetime)
    names = [g["Name"] for g in sched.list_schedule_groups()["ScheduleGroups"]]
    assert "default" in names
    assert "team-a" in names
    assert [g["Name"] for g in sched.list_schedule_groups(NamePrefix="team-")["ScheduleGroups"]] == ["team-a"]
    expect(sched.create_schedule_group, "ConflictException", 409, Name="team-a")

    sched.tag_resource(ResourceArn=arn, Tags=[{"Key": "owner", "Value": "ops"}, {"Key": "env", "Value": "prod"}])
    assert sched.list_tags_for_resource(ResourceArn=arn)["Tags"] == [
        {"Key": "env", "Value": "prod"}, {"Key": "owner", "Value": "ops"}
    ]  # fmt: skip
    sched.untag_resource(ResourceArn=arn, TagKeys=["env"])
    assert sched.list_tags_for_resource(ResourceArn=arn)["Tags"] == [{"Key": "owner", "Value": "ops"}]
    missing = f"{GROUP_ARN}/no-such-group"
    expect(sched.list_tags_for_resource, "ResourceNotFoundException", 404, ResourceArn=missing)
    expect(sched.tag_resource, "ResourceNotFoundException", 404, ResourceArn=missing,
           Tags=[{"Key": "k", "Value": "v"}])  # fmt: skip

    # a schedule in the group; deleting the group deletes it
    sched.create_schedule(**schedule_params("in-group", GroupName="team-a"))
    assert sched.get_schedule(Name="in-group", GroupName="team-a")["GroupName"] == "team-a"
    expect(sched.get_schedule, "ResourceNotFoundException", 404, Name="in-group")
    assert [s["Name"] for s in sched.list_schedules(GroupName="team-a")["Schedules"]] == ["in-group"]
    sched.delete_schedule_group(Name="team-a")
    expect(sched.get_schedule_group, "ResourceNotFoundException", 404, Name="team-a")
    expect(sched.get_schedule, "ResourceNotFoundException", 404, Name="in-group", GroupName="team-a")
    expect(sched.delete_schedule_group, "ResourceNotFoundException", 404, Name="team-a")
    expect(sched.create_schedule, "ResourceNotFoundException", 404,
           **schedule_params("orphan", GroupName="team-a"))  # fmt: skip


def test_default_group_cannot_be_deleted(sched: Any) -> None:
    message = expect(sched.delete_schedule_group, "ValidationException", 400, Name="default")
    assert "default" in message
    assert sched.get_schedule_group(Name="default")["Arn"] == f"{GROUP_ARN}/default"


def test_group_quota_500_and_one_past(sched: Any) -> None:
    have = len([g for p in sched.get_paginator("list_schedule_groups").paginate() for g in p["ScheduleGroups"]])
    made = [f"quota-{i}" for i in range(500 - have)]
    try:
        for name in made:
            sched.create_schedule_group(Name=name)
        assert len([g for p in sched.get_paginator("list_schedule_groups").paginate()
                    for g in p["ScheduleGroups"]]) == 500  # fmt: skip
        expect(sched.create_schedule_group, "ServiceQuotaExceededException", 402, Name="quota-past")
    finally:
        for name in made:
            with contextlib.suppress(ClientError):
                sched.delete_schedule_group(Name=name)


def test_unsigned_and_wrongly_scoped_requests_are_refused(server: Any) -> None:
    other = raw_client(server, "scheduler", secret_key="wrong")
    with pytest.raises(ClientError) as info:
        other.list_schedules()
    assert err(info.value)[1] == 403


# ---- the AWS CLI ----
def _cli_json(server: Any, *args: str) -> Any:
    result = aws_cli(server, "scheduler", *args)
    return json.loads(result.stdout) if result.stdout.strip() else None


def test_aws_cli_every_operation(server: Any, cleanup: Any) -> None:
    cleanup("cli-group", "")
    group = _cli_json(server, "create-schedule-group", "--name", "cli-group", "--tags", "Key=a,Value=1")
    assert group["ScheduleGroupArn"] == f"{GROUP_ARN}/cli-group"
    assert _cli_json(server, "get-schedule-group", "--name", "cli-group")["State"] == "ACTIVE"
    assert "cli-group" in [g["Name"] for g in _cli_json(server, "list-schedule-groups")["ScheduleGroups"]]
    _cli_json(server, "tag-resource", "--resource-arn", f"{GROUP_ARN}/cli-group", "--tags", "Key=b,Value=2")
    _cli_json(server, "untag-resource", "--resource-arn", f"{GROUP_ARN}/cli-group", "--tag-keys", "a")
    tags = _cli_json(server, "list-tags-for-resource", "--resource-arn", f"{GROUP_ARN}/cli-group")["Tags"]
    assert tags == [{"Key": "b", "Value": "2"}]

    created = _cli_json(
        server, "create-schedule", "--name", "cli-s", "--group-name", "cli-group",
        "--schedule-expression", "cron(30 8 * * ? *)", "--schedule-expression-timezone", "America/New_York",
        "--flexible-time-window", "Mode=OFF", "--target", json.dumps({"Arn": QUEUE_ARN, "RoleArn": ROLE,
                                                                       "Input": "hello"}),
    )  # fmt: skip
    assert created["ScheduleArn"] == f"{SCHEDULE_ARN}/cli-group/cli-s"
    got = _cli_json(server, "get-schedule", "--name", "cli-s", "--group-name", "cli-group")
    assert got["ScheduleExpressionTimezone"] == "America/New_York"
    assert got["Target"]["Input"] == "hello"
    _cli_json(server, "update-schedule", "--name", "cli-s", "--group-name", "cli-group",
              "--schedule-expression", "rate(5 minutes)", "--flexible-time-window", "Mode=OFF",
              "--target", f"Arn={QUEUE_ARN},RoleArn={ROLE}", "--state", "DISABLED")  # fmt: skip
    listed = _cli_json(server, "list-schedules", "--group-name", "cli-group")["Schedules"]
    assert [(s["Name"], s["State"]) for s in listed] == [("cli-s", "DISABLED")]
    _cli_json(server, "delete-schedule", "--name", "cli-s", "--group-name", "cli-group")
    _cli_json(server, "delete-schedule-group", "--name", "cli-group")

    missing = aws_cli(server, "scheduler", "get-schedule", "--name", "cli-s", check=False)
    assert missing.returncode != 0
    assert "(ResourceNotFoundException)" in missing.stderr
    invalid = aws_cli(server, "scheduler", "create-schedule", "--name", "cli-bad", "--schedule-expression",
                      "rate(1 fortnight)", "--flexible-time-window", "Mode=OFF", "--target",
                      f"Arn={QUEUE_ARN},RoleArn={ROLE}", check=False)  # fmt: skip
    assert invalid.returncode != 0
    assert "(ValidationException)" in invalid.stderr
    conflict = aws_cli(server, "scheduler", "create-schedule-group", "--name", "default", check=False)
    assert conflict.returncode != 0
    assert "(ConflictException)" in conflict.stderr


# ---- real fires ----
def _at(seconds_ahead: float) -> str:
    when = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=seconds_ahead)
    return when.strftime("at(%Y-%m-%dT%H:%M:%S)")


def _wait_for(check: Callable[[], Any], timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while not (value := check()) and time.monotonic() < deadline:
        time.sleep(0.2)
    return value


def test_an_at_schedule_invokes_a_function_then_deletes_itself(
    server: Any, sched: Any, create_function: Any, fn_name: str, cleanup: Any
) -> None:
    code = "import json\ndef handler(event, context):\n    print('SCHEDULED ' + json.dumps(event))\n"
    arn = create_function(fn_name, {"app.py": code})["FunctionArn"]
    logs = server.client("logs")
    cleanup("default", "fire-fn")
    sched.create_schedule(**schedule_params(
        "fire-fn", ScheduleExpression=_at(3), ActionAfterCompletion="DELETE",
        Target={"Arn": arn, "RoleArn": ROLE, "Input": json.dumps({"from": "scheduler"})},
    ))  # fmt: skip

    def lines() -> list[str]:
        try:
            events = logs.filter_log_events(logGroupName=f"/aws/lambda/{fn_name}")["events"]
        except logs.exceptions.ResourceNotFoundException:
            return []
        return [e["message"].strip() for e in events if e["message"].startswith("SCHEDULED ")]

    got = _wait_for(lines)
    assert got == ['SCHEDULED {"from": "scheduler"}']

    def gone() -> bool:
        try:
            sched.get_schedule(Name="fire-fn")
        except sched.exceptions.ResourceNotFoundException:
            return True
        return False

    assert _wait_for(gone, 10.0), "the schedule was not deleted after its one fire"
    time.sleep(1.0)
    assert lines() == got  # once


def test_an_at_schedule_sends_its_input_verbatim_to_a_queue(server: Any, sched: Any, cleanup: Any) -> None:
    sqs = server.client("sqs")
    url = sqs.create_queue(QueueName="sched-fire-q")["QueueUrl"]
    try:
        cleanup("default", "fire-q")
        sched.create_schedule(**schedule_params(
            "fire-q", ScheduleExpression=_at(2),
            Target={"Arn": f"arn:aws:sqs:{REGION}:{ACCOUNT}:sched-fire-q", "RoleArn": ROLE, "Input": "plain text"},
        ))  # fmt: skip
        messages: list[dict[str, Any]] = []
        deadline = time.monotonic() + 30
        while not messages and time.monotonic() < deadline:
            messages = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=5).get("Messages", [])
        assert [m["Body"] for m in messages] == ["plain text"]
        assert sched.get_schedule(Name="fire-q")["ActionAfterCompletion"] == "NONE"  # kept: NONE
    finally:
        sqs.delete_queue(QueueUrl=url)


def test_schedules_survive_kill_9_and_a_time_missed_while_down_fires_once(tmp_path: Path) -> None:
    """A schedule and its group outlive `kill -9`; an at() whose time passed while the server was down fires once
    at start-up (the catch-up policy), then deletes itself; a DISABLED one stays and does not fire."""
    srv = start_server(tmp_path / "data")
    try:
        sched, sqs = srv.client("scheduler"), srv.client("sqs")
        url = sqs.create_queue(QueueName="missed")["QueueUrl"]
        queue = f"arn:aws:sqs:{REGION}:{ACCOUNT}:missed"
        sched.create_schedule_group(Name="kept", Tags=[{"Key": "k", "Value": "v"}])
        sched.create_schedule(**schedule_params("missed", GroupName="kept", ScheduleExpression=_at(3),
                                                ActionAfterCompletion="DELETE",
                                                Target={"Arn": queue, "RoleArn": ROLE, "Input": "caught up"}))
        sched.create_schedule(**schedule_params("off", ScheduleExpression=_at(3), State="DISABLED",
                                                Target={"Arn": queue, "RoleArn": ROLE, "Input": "never"}))
    finally:
        srv.stop(signal.SIGKILL)
    time.sleep(4)  # the at() time passes while the server is down
    srv = start_server(tmp_path / "data")
    try:
        sched, sqs = srv.client("scheduler"), srv.client("sqs")
        assert sched.list_tags_for_resource(ResourceArn=f"{GROUP_ARN}/kept")["Tags"] == [{"Key": "k", "Value": "v"}]
        messages: list[dict[str, Any]] = []
        deadline = time.monotonic() + 30
        while len(messages) < 1 and time.monotonic() < deadline:
            messages += sqs.receive_message(QueueUrl=url, WaitTimeSeconds=2).get("Messages", [])
        messages += sqs.receive_message(QueueUrl=url, WaitTimeSeconds=2, MaxNumberOfMessages=10).get("Messages", [])
        assert [m["Body"] for m in messages] == ["caught up"]
        with pytest.raises(ClientError) as info:
            sched.get_schedule(Name="missed", GroupName="kept")
        assert err(info.value) == ("ResourceNotFoundException", 404)
        assert sched.get_schedule(Name="off")["State"] == "DISABLED"
    finally:
        srv.stop()
