"""EventBridge end to end with boto3 and the AWS CLI against the shared server: buses, rules, targets, PutEvents,
TestEventPattern and tags; each wire error's name and status; the limits at and one past (10 entries, 256 KB, 5
targets, RetryPolicy's ranges); PutEvents with a pattern fanning out to a permitted function and a built-in queue
(whose message is the event's JSON); an unpermitted function target refused at delivery and dead-lettered."""

from __future__ import annotations

import contextlib
import json
import signal
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from e2e_support import ACCOUNT, REGION, Server, arn, aws_cli, expect_error, raw_client, start_server

PREFIX = f"arn:aws:events:{REGION}:{ACCOUNT}"
RECORDER = """import json
def handler(event, context):
    print("RECORD " + json.dumps(event))
"""


@pytest.fixture
def events(server: Server) -> Any:
    return server.client("events")


@pytest.fixture
def sqs(server: Server) -> Any:
    return server.client("sqs")


@pytest.fixture
def cleanup(events: Any) -> Iterator[Callable[[str, str], None]]:
    """Register (bus, rule) pairs to delete with their targets at the test's end."""
    made: list[tuple[str, str]] = []
    yield lambda bus, rule: made.append((bus, rule))
    for bus, rule in made:
        with contextlib.suppress(events.exceptions.ResourceNotFoundException):
            ids = [t["Id"] for t in events.list_targets_by_rule(Rule=rule, EventBusName=bus)["Targets"]]
            if ids:
                events.remove_targets(Rule=rule, EventBusName=bus, Ids=ids)
            events.delete_rule(Name=rule, EventBusName=bus)


def queue(sqs: Any, name: str) -> tuple[str, str]:
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    return url, sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]


def receive(sqs: Any, url: str, timeout: float = 20.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1, MessageAttributeNames=["All"]).get("Messages")
        if got:
            return got[0]  # type: ignore[no-any-return]
    raise AssertionError(f"nothing arrived in {url}")


def records(logs: Any, fn: str, timeout: float = 30.0) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(logs.exceptions.ResourceNotFoundException):
            found = [json.loads(e["message"].strip()[len("RECORD ") :])
                     for e in logs.filter_log_events(logGroupName=f"/aws/lambda/{fn}")["events"]
                     if e["message"].startswith("RECORD ")]  # fmt: skip
            if found:
                return found
        time.sleep(0.2)
    raise AssertionError(f"{fn} received nothing")


# ---- buses ---------------------------------------------------------------------------------------------------------


def test_event_buses(events: Any) -> None:
    default = events.describe_event_bus()
    assert (default["Name"], default["Arn"]) == ("default", f"{PREFIX}:event-bus/default")
    created = events.create_event_bus(Name="eb-bus-1", Description="mine", Tags=[{"Key": "team", "Value": "a"}])
    assert created["EventBusArn"] == f"{PREFIX}:event-bus/eb-bus-1"
    expect_error(events.create_event_bus, "ResourceAlreadyExistsException", 400, Name="eb-bus-1")
    got = events.describe_event_bus(Name=f"{PREFIX}:event-bus/eb-bus-1")
    assert (got["Name"], got["Description"]) == ("eb-bus-1", "mine")
    assert got["CreationTime"].year >= 2024
    names = [b["Name"] for b in events.list_event_buses(NamePrefix="eb-bus-")["EventBuses"]]
    assert names == ["eb-bus-1"]
    assert events.list_tags_for_resource(ResourceARN=created["EventBusArn"])["Tags"] == [{"Key": "team", "Value": "a"}]
    expect_error(events.delete_event_bus, "ValidationException", 400, Name="default")
    events.delete_event_bus(Name="eb-bus-1")
    expect_error(events.describe_event_bus, "ResourceNotFoundException", 400, Name="eb-bus-1")
    events.delete_event_bus(Name="eb-bus-1")  # gone already: no error, as on AWS


# ---- rules ---------------------------------------------------------------------------------------------------------


def test_rules(events: Any, cleanup: Any) -> None:
    events.create_event_bus(Name="eb-rules-bus")
    for bus, name in (("default", "eb-r-a"), ("default", "eb-r-b"), ("default", "eb-r-c"), ("eb-rules-bus", "x")):
        cleanup(bus, name)
    arn_a = events.put_rule(Name="eb-r-a", EventPattern='{"source": ["shop"]}', Description="d")["RuleArn"]
    assert arn_a == f"{PREFIX}:rule/eb-r-a"
    assert events.put_rule(Name="x", EventBusName="eb-rules-bus", EventPattern='{"source": ["s"]}')["RuleArn"] == (
        f"{PREFIX}:rule/eb-rules-bus/x")  # fmt: skip
    events.put_rule(Name="eb-r-b", ScheduleExpression="rate(5 minutes)", State="DISABLED")
    events.put_rule(Name="eb-r-c", ScheduleExpression="cron(0 9 ? * MON-FRI *)")
    rule = events.describe_rule(Name="eb-r-a")
    assert (rule["Arn"], rule["EventPattern"], rule["State"], rule["Description"], rule["EventBusName"]) == (
        arn_a, '{"source": ["shop"]}', "ENABLED", "d", "default")  # fmt: skip
    first = events.list_rules(NamePrefix="eb-r-", Limit=2)
    assert [r["Name"] for r in first["Rules"]] == ["eb-r-a", "eb-r-b"]
    rest = events.list_rules(NamePrefix="eb-r-", Limit=2, NextToken=first["NextToken"])
    assert [r["Name"] for r in rest["Rules"]] == ["eb-r-c"]
    assert "NextToken" not in rest
    events.enable_rule(Name="eb-r-b")
    assert events.describe_rule(Name="eb-r-b")["State"] == "ENABLED"
    events.disable_rule(Name="eb-r-b")
    assert events.describe_rule(Name="eb-r-b")["State"] == "DISABLED"
    expect_error(events.describe_rule, "ResourceNotFoundException", 400, Name="eb-nope")
    expect_error(events.list_rules, "ResourceNotFoundException", 400, EventBusName="eb-no-bus")
    expect_error(events.put_rule, "InvalidEventPatternException", 400, Name="eb-bad", EventPattern='{"a": "x"}')
    expect_error(events.put_rule, "ValidationException", 400, Name="eb-bad", ScheduleExpression="rate(0 minutes)")
    expect_error(events.put_rule, "ValidationException", 400, Name="eb-bad")
    expect_error(events.put_rule, "ValidationException", 400, Name="eb-bad", EventBusName="eb-rules-bus",
                 ScheduleExpression="rate(1 minute)")  # fmt: skip
    expect_error(events.delete_event_bus, "ValidationException", 400, Name="eb-rules-bus")  # it has a rule
    events.delete_rule(Name="x", EventBusName="eb-rules-bus")
    events.delete_event_bus(Name="eb-rules-bus")


def test_targets_and_their_limits(events: Any, sqs: Any, server: Server, cleanup: Any) -> None:
    cleanup("default", "eb-t")
    _, q = queue(sqs, "eb-t-q")
    events.put_rule(Name="eb-t", EventPattern='{"source": ["t"]}')
    five = [{"Id": f"t{n}", "Arn": q} for n in range(5)]
    put = events.put_targets(Rule="eb-t", Targets=five)
    assert (put["FailedEntryCount"], put["FailedEntries"]) == (0, [])
    expect_error(events.put_targets, "LimitExceededException", 400, Rule="eb-t", Targets=[{"Id": "t5", "Arn": q}])
    expect_error(events.delete_rule, "ValidationException", 400, Name="eb-t")
    removed = events.remove_targets(Rule="eb-t", Ids=["t3", "t4", "ghost"])
    assert [f["TargetId"] for f in removed["FailedEntries"]] == ["ghost"]
    raw = raw_client(server, "events")  # botocore's own range checks off: the server's are tested
    cases = [({"MaximumRetryAttempts": n}, n in (0, 185)) for n in (0, 185, 186, -1)]
    cases += [({"MaximumEventAgeInSeconds": n}, n in (60, 86400)) for n in (60, 59, 86400, 86401)]
    for policy, ok in cases:
        target = [{"Id": "retry", "Arn": q, "RetryPolicy": policy}]
        if ok:
            raw.put_targets(Rule="eb-t", Targets=target)
        else:
            expect_error(raw.put_targets, "ValidationException", 400, Rule="eb-t", Targets=target)
    listed = events.list_targets_by_rule(Rule="eb-t")["Targets"]
    assert [t["Id"] for t in listed] == ["t0", "t1", "t2", "retry"]
    assert listed[-1]["RetryPolicy"] == {"MaximumEventAgeInSeconds": 86400}
    assert events.list_rule_names_by_target(TargetArn=q)["RuleNames"] == ["eb-t"]
    state_machine = f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:m"
    failed = events.put_targets(Rule="eb-t", Targets=[{"Id": "sf", "Arn": state_machine}])
    assert failed["FailedEntryCount"] == 1
    assert failed["FailedEntries"][0]["TargetId"] == "sf"
    expect_error(events.put_targets, "ValidationException", 400, Rule="eb-t",
                 Targets=[{"Id": "both", "Arn": q, "Input": "{}", "InputPath": "$.detail"}])  # fmt: skip
    expect_error(events.put_targets, "ResourceNotFoundException", 400, Rule="eb-ghost", Targets=[{"Id": "a", "Arn": q}])


# ---- events --------------------------------------------------------------------------------------------------------


def test_put_events_answers_per_entry_within_its_limits(events: Any, server: Server) -> None:
    ten = [{"Source": "s", "DetailType": "t", "Detail": json.dumps({"n": n})} for n in range(10)]
    resp = events.put_events(Entries=ten)
    assert resp["FailedEntryCount"] == 0
    assert len({e["EventId"] for e in resp["Entries"]}) == 10
    raw = raw_client(server, "events")
    expect_error(raw.put_events, "ValidationException", 400, Entries=[*ten, ten[0]])
    expect_error(raw.put_events, "ValidationException", 400, Entries=[])
    fixed = len("s") + len("t") + len('{"a":""}')
    big = {"Source": "s", "DetailType": "t", "Detail": json.dumps({"a": "x" * (256 * 1024 - fixed)},
                                                                  separators=(",", ":"))}  # fmt: skip
    assert events.put_events(Entries=[big])["FailedEntryCount"] == 0
    expect_error(events.put_events, "ValidationException", 400, Entries=[{**big, "Resources": ["r"]}])
    mixed = events.put_events(Entries=[
        ten[0], {"Source": "s", "DetailType": "t", "Detail": "not json"}, {**ten[0], "EventBusName": "eb-ghost"},
    ])  # fmt: skip
    assert mixed["FailedEntryCount"] == 2
    assert [e.get("ErrorCode") for e in mixed["Entries"]] == [None, "MalformedDetail", "InvalidArgument"]


def test_test_event_pattern(events: Any) -> None:
    event = json.dumps({"id": "1", "account": ACCOUNT, "source": "shop", "time": "2024-01-01T00:00:00Z",
                        "region": REGION, "detail-type": "x", "resources": [],
                        "detail": {"ip": "10.0.0.7"}})  # fmt: skip
    cidr = '{"detail": {"ip": [{"cidr": "10.0.0.0/24"}]}}'
    assert events.test_event_pattern(EventPattern=cidr, Event=event)["Result"]
    assert not events.test_event_pattern(EventPattern='{"source": ["other"]}', Event=event)["Result"]
    expect_error(events.test_event_pattern, "InvalidEventPatternException", 400, EventPattern="[", Event=event)
    expect_error(events.test_event_pattern, "ValidationException", 400, EventPattern="{}", Event='{"a": 1}')
    no_resources = json.dumps({k: v for k, v in json.loads(event).items() if k != "resources"})
    expect_error(events.test_event_pattern, "ValidationException", 400, EventPattern="{}", Event=no_resources)


def test_tags_of_a_rule(events: Any, cleanup: Any) -> None:
    cleanup("default", "eb-tags")
    rule_arn = events.put_rule(Name="eb-tags", EventPattern='{"source": ["x"]}', Tags=[{"Key": "a", "Value": "1"}])[
        "RuleArn"]  # fmt: skip
    events.tag_resource(ResourceARN=rule_arn, Tags=[{"Key": "b", "Value": "2"}])
    events.untag_resource(ResourceARN=rule_arn, TagKeys=["a"])
    assert events.list_tags_for_resource(ResourceARN=rule_arn)["Tags"] == [{"Key": "b", "Value": "2"}]
    expect_error(events.list_tags_for_resource, "ResourceNotFoundException", 400, ResourceARN=f"{PREFIX}:rule/eb-none")


def test_a_pattern_fans_out_to_a_permitted_function_and_a_queue(
    events: Any, sqs: Any, server: Server, lam: Any, create_function: Any, cleanup: Any
) -> None:
    cleanup("default", "eb-fanout")
    create_function("eb-fanout-fn", {"app.py": RECORDER})
    url, q = queue(sqs, "eb-fanout-q")
    rule_arn = events.put_rule(Name="eb-fanout", EventPattern=json.dumps(
        {"source": ["shop"], "detail": {"total": [{"numeric": [">", 100]}]}}))["RuleArn"]  # fmt: skip
    lam.add_permission(FunctionName="eb-fanout-fn", StatementId="events", Action="lambda:InvokeFunction",
                       Principal="events.amazonaws.com", SourceArn=rule_arn)  # fmt: skip
    events.put_targets(Rule="eb-fanout", Targets=[{"Id": "fn", "Arn": arn("eb-fanout-fn")}, {"Id": "q", "Arn": q}])
    sent = events.put_events(Entries=[
        {"Source": "shop", "DetailType": "Order", "Detail": '{"total": 50}'},  # does not match
        {"Source": "shop", "DetailType": "Order", "Detail": '{"total": 150}', "Resources": ["arn:order:1"]},
    ])  # fmt: skip
    event_id = sent["Entries"][1]["EventId"]
    message = json.loads(receive(sqs, url)["Body"])
    assert message["id"] == event_id
    expected = {"version": "0", "detail-type": "Order", "source": "shop", "account": ACCOUNT, "region": REGION,
                "resources": ["arn:order:1"], "detail": {"total": 150}}  # fmt: skip
    assert {k: message[k] for k in expected} == expected
    (got,) = records(server.client("logs"), "eb-fanout-fn")
    assert got == message


def test_an_unpermitted_function_target_is_refused_and_dead_lettered(
    events: Any, sqs: Any, server: Server, create_function: Any, cleanup: Any
) -> None:
    cleanup("default", "eb-unpermitted")
    create_function("eb-unpermitted-fn", {"app.py": RECORDER})
    url, dlq = queue(sqs, "eb-unpermitted-dlq")
    rule_arn = events.put_rule(Name="eb-unpermitted", EventPattern='{"source": ["locked"]}')["RuleArn"]
    events.put_targets(Rule="eb-unpermitted", Targets=[{"Id": "fn", "Arn": arn("eb-unpermitted-fn"),
                       "RetryPolicy": {"MaximumRetryAttempts": 0}, "DeadLetterConfig": {"Arn": dlq}}])  # fmt: skip
    events.put_events(Entries=[{"Source": "locked", "DetailType": "t", "Detail": '{"n": 1}'}])
    dead = receive(sqs, url)
    assert json.loads(dead["Body"])["detail"] == {"n": 1}
    attributes = {k: v["StringValue"] for k, v in dead["MessageAttributes"].items()}
    assert attributes["ERROR_CODE"] == "NO_PERMISSIONS"
    assert attributes["RULE_ARN"] == rule_arn
    log = server.log_path.read_text()  # reported: the server log names the permission that would allow it
    assert any("add-permission" in line and "eb-unpermitted-fn" in line for line in log.splitlines())


# ---- the AWS CLI ----------------------------------------------------------------------------------------------------


def test_every_operation_with_the_aws_cli(server: Server, sqs: Any) -> None:
    _, q = queue(sqs, "eb-cli-q")

    def cli(*args: str) -> Any:
        out = aws_cli(server, "events", *args).stdout
        return json.loads(out) if out.strip() else None

    assert cli("create-event-bus", "--name", "eb-cli-bus")["EventBusArn"] == f"{PREFIX}:event-bus/eb-cli-bus"
    assert cli("describe-event-bus", "--name", "eb-cli-bus")["Name"] == "eb-cli-bus"
    assert "eb-cli-bus" in [b["Name"] for b in cli("list-event-buses")["EventBuses"]]
    rule_arn = cli("put-rule", "--name", "eb-cli", "--event-bus-name", "eb-cli-bus", "--event-pattern",
                   '{"source": ["cli"]}')["RuleArn"]  # fmt: skip
    assert rule_arn == f"{PREFIX}:rule/eb-cli-bus/eb-cli"
    assert cli("describe-rule", "--name", "eb-cli", "--event-bus-name", "eb-cli-bus")["State"] == "ENABLED"
    assert [r["Name"] for r in cli("list-rules", "--event-bus-name", "eb-cli-bus")["Rules"]] == ["eb-cli"]
    cli("disable-rule", "--name", "eb-cli", "--event-bus-name", "eb-cli-bus")
    cli("enable-rule", "--name", "eb-cli", "--event-bus-name", "eb-cli-bus")
    put = cli("put-targets", "--rule", "eb-cli", "--event-bus-name", "eb-cli-bus", "--targets",
              json.dumps([{"Id": "q", "Arn": q, "InputPath": "$.detail"}]))  # fmt: skip
    assert put["FailedEntryCount"] == 0
    assert cli("list-targets-by-rule", "--rule", "eb-cli", "--event-bus-name", "eb-cli-bus")["Targets"][0]["Id"] == "q"
    names = cli("list-rule-names-by-target", "--target-arn", q, "--event-bus-name", "eb-cli-bus")["RuleNames"]
    assert names == ["eb-cli"]
    sent = cli("put-events", "--entries", json.dumps([{"Source": "cli", "DetailType": "t", "Detail": "{}",
                                                       "EventBusName": "eb-cli-bus"}]))  # fmt: skip
    assert sent["FailedEntryCount"] == 0
    result = cli("test-event-pattern", "--event-pattern", '{"source": ["cli"]}', "--event",
                 json.dumps({"id": "1", "account": ACCOUNT, "source": "cli", "time": "2024-01-01T00:00:00Z",
                             "region": REGION, "detail-type": "t", "resources": [], "detail": {}}))  # fmt: skip
    assert result["Result"] is True
    cli("tag-resource", "--resource-arn", rule_arn, "--tags", "Key=k,Value=v")
    assert cli("list-tags-for-resource", "--resource-arn", rule_arn)["Tags"] == [{"Key": "k", "Value": "v"}]
    cli("untag-resource", "--resource-arn", rule_arn, "--tag-keys", "k")
    refused = aws_cli(server, "events", "delete-rule", "--name", "eb-cli", "--event-bus-name", "eb-cli-bus",
                      check=False)  # fmt: skip
    assert refused.returncode != 0
    assert "ValidationException" in refused.stderr
    assert "Rule can't be deleted since it has targets." in refused.stderr
    cli("remove-targets", "--rule", "eb-cli", "--event-bus-name", "eb-cli-bus", "--ids", "q")
    cli("delete-rule", "--name", "eb-cli", "--event-bus-name", "eb-cli-bus")
    cli("delete-event-bus", "--name", "eb-cli-bus")
    missing = aws_cli(server, "events", "describe-event-bus", "--name", "eb-cli-bus", check=False)
    assert "ResourceNotFoundException" in missing.stderr


def test_a_function_target_is_not_required_to_exist(events: Any, cleanup: Any) -> None:
    """As on AWS, PutTargets takes a function that does not exist (yet): the delivery fails, not the call."""
    cleanup("default", "eb-ghost-target")
    events.put_rule(Name="eb-ghost-target", EventPattern='{"source": ["ghost"]}')
    assert events.put_targets(Rule="eb-ghost-target", Targets=[{"Id": "g", "Arn": arn("eb-ghost-fn")}])[
        "FailedEntryCount"] == 0  # fmt: skip


# ---- durability ------------------------------------------------------------------------------------------------------


def test_kill_9_with_events_in_flight_loses_none_and_rules_survive(tmp_path: Path) -> None:
    """1,000 accepted events matched to a queue target, `kill -9` at once, a restart on the same data dir: every
    event reaches the queue at least once, and the bus, rule and target are still there."""
    data = tmp_path / "data"
    flags = ("--delivery-visibility", "11")  # deliveries in hand at the kill are made again 11 s later, not 30
    server = start_server(data, *flags)
    try:
        events, sqs = server.client("events"), server.client("sqs")
        url, q = queue(sqs, "eb-durable-q")
        events.create_event_bus(Name="eb-durable")
        events.put_rule(Name="all", EventBusName="eb-durable", EventPattern='{"source": ["durable"]}')
        events.put_targets(Rule="all", EventBusName="eb-durable", Targets=[{"Id": "q", "Arn": q}])

        def put(batch: int) -> list[str]:
            entries = [{"Source": "durable", "DetailType": "t", "Detail": json.dumps({"n": batch * 10 + i}),
                        "EventBusName": "eb-durable"} for i in range(10)]  # fmt: skip
            resp = events.put_events(Entries=entries)
            assert resp["FailedEntryCount"] == 0
            return [e["EventId"] for e in resp["Entries"]]

        with ThreadPoolExecutor(8) as pool:
            ids = {i for batch in pool.map(put, range(100)) for i in batch}
        server.process.send_signal(signal.SIGKILL)
        server.process.wait()
        server = start_server(data, *flags)
        sqs, events = server.client("sqs"), server.client("events")
        assert events.describe_rule(Name="all", EventBusName="eb-durable")["EventPattern"] == '{"source": ["durable"]}'
        seen: set[str] = set()
        deadline = time.monotonic() + 120
        while seen != ids and time.monotonic() < deadline:
            got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", [])
            for m in got:
                seen.add(json.loads(m["Body"])["id"])
                sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
        assert seen == ids, f"{len(seen & ids)} of {len(ids)} events arrived"
        put(100)
        assert json.loads(receive(sqs, url)["Body"])["detail"]["n"] >= 1000  # the rule still matches and delivers
    finally:
        server.stop()
