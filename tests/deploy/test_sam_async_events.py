"""SAM's event sources deployed with `nimbus deploy` and fired end to end: an `SQS` consumer, an `SNS` subscription,
an `EventBridgeRule` on a custom bus, a `CloudWatchEvent` with an input transformer, a one-time `ScheduleV2` and a
`Schedule` rule; the function on SAM's `live` alias with a shared layer (`LayerVersion` from a folder) and an
`EventInvokeConfig`. A code change re-deployed publishes version 2 and moves the alias to it (DeploymentPreference's
traffic shifting applied as its end state), with the layer still attached."""

from __future__ import annotations

import datetime as dt
import json
import textwrap
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from stack_support import cli, describe, physical_ids, write_app

from conftest import Server

TEMPLATE = """\
    Transform: AWS::Serverless-2016-10-31
    Parameters:
      FireAt:
        Type: String
    Globals:
      Function:
        Runtime: python3.12
        Handler: app.handler
        Timeout: 10
        AutoPublishAlias: live
        Layers:
          - !Ref Shared
    Resources:
      Shared:
        Type: AWS::Serverless::LayerVersion
        Properties:
          ContentUri: shared/
          CompatibleRuntimes: [python3.12]
      Jobs:
        Type: AWS::SQS::Queue
      Alerts:
        Type: AWS::SNS::Topic
      Bus:
        Type: AWS::Events::EventBus
        Properties:
          Name: !Sub "${AWS::StackName}-bus"
      Worker:
        Type: AWS::Serverless::Function
        Properties:
          CodeUri: worker/
          DeploymentPreference:
            Type: Linear10PercentEvery1Minute
          EventInvokeConfig:
            MaximumRetryAttempts: 0
          Events:
            Queue:
              Type: SQS
              Properties:
                Queue: !GetAtt Jobs.Arn
                BatchSize: 5
            Topic:
              Type: SNS
              Properties:
                Topic: !Ref Alerts
            Custom:
              Type: EventBridgeRule
              Properties:
                EventBusName: !Ref Bus
                Pattern:
                  source: [shop]
            Classic:
              Type: CloudWatchEvent
              Properties:
                Pattern:
                  source: [legacy]
                InputTransformer:
                  InputPathsMap:
                    kind: "$.detail-type"
                  InputTemplate: '{"transformed": <kind>}'
            Once:
              Type: ScheduleV2
              Properties:
                ScheduleExpression: !Ref FireAt
                Input: '{"from": "scheduler"}'
            Tick:
              Type: Schedule
              Properties:
                Schedule: rate(1 hour)
    Outputs:
      QueueUrl:
        Value: !Ref Jobs
      TopicArn:
        Value: !Ref Alerts
"""
WORKER = """\
    import json
    import shared
    def handler(event, context):
        records = event.get("Records") if isinstance(event, dict) else None
        if records:
            source = records[0].get("eventSource") or records[0].get("EventSource")
        else:
            source = event.get("source") or event.get("from") or event.get("transformed") or "direct"
        print("SEEN " + json.dumps({"source": source, "v": shared.V, "qualifier":
              context.invoked_function_arn.rsplit(":", 1)[1]}))
        return {"v": shared.V, "code": 1}
"""
SHARED = "V = 'layer-1'\n"


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory, server: Server) -> Iterator[Path]:
    folder = write_app(tmp_path_factory.mktemp("jobs") / "jobs", TEMPLATE,
                       {"worker/app.py": WORKER, "shared/python/shared.py": SHARED})  # fmt: skip
    yield folder
    cli(server, folder, "stack", "delete", "jobs", check=False)


def _at(seconds: float) -> str:
    when = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=seconds)
    return f"at({when:%Y-%m-%dT%H:%M:%S})"


def seen(server: Server, function: str, source: str, timeout: float = 60) -> dict[str, Any]:
    """The worker's log record of an invocation from `source` (polled)."""
    logs = server.client("logs")
    deadline = time.monotonic() + timeout
    while True:
        try:
            found = logs.filter_log_events(logGroupName=f"/aws/lambda/{function}", filterPattern="SEEN")["events"]
        except logs.exceptions.ResourceNotFoundException:
            found = []
        for event in found:
            record = json.loads(event["message"].split("SEEN ", 1)[1])
            if record["source"] == source:
                return dict(record)
        if time.monotonic() > deadline:
            raise AssertionError(f"no invocation from {source} logged by {function}: {found}")
        time.sleep(0.3)


def test_every_async_source_reaches_the_alias(server: Server, app: Path) -> None:
    cli(server, app, "deploy", "--stack-name", "jobs", "--no-confirm", "--parameter-overrides", f"FireAt={_at(8)}")
    stack = describe(server, "jobs")
    ids = physical_ids(stack)
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}
    worker = ids["Worker"]
    server.client("sqs").send_message(QueueUrl=outputs["QueueUrl"], MessageBody="job-1")
    server.client("sns").publish(TopicArn=outputs["TopicArn"], Message="alert")
    events = server.client("events")
    events.put_events(Entries=[
        {"Source": "shop", "DetailType": "order", "Detail": "{}", "EventBusName": ids["Bus"]},
        {"Source": "legacy", "DetailType": "old-kind", "Detail": "{}"},
    ])  # fmt: skip
    for source in ("aws:sqs", "aws:sns", "shop", "old-kind", "scheduler"):
        assert seen(server, worker, source) == {"source": source, "v": "layer-1", "qualifier": "live"}
    rule = events.describe_rule(Name=ids["WorkerTick"])
    assert rule["ScheduleExpression"] == "rate(1 hour)"
    targets = events.list_targets_by_rule(Rule=ids["WorkerTick"])["Targets"]
    assert [t["Arn"] for t in targets] == [f"arn:aws:lambda:us-east-1:000000000000:function:{worker}:live"]
    config = server.client("lambda").get_function_event_invoke_config(FunctionName=worker, Qualifier="live")
    assert config["MaximumRetryAttempts"] == 0


def test_new_code_shifts_the_alias_to_a_new_version(server: Server, app: Path) -> None:
    overrides = ("--parameter-overrides", f"FireAt={_at(3600)}")
    cli(server, app, "deploy", "--stack-name", "jobs", "--no-confirm", *overrides)
    lam = server.client("lambda")
    worker = physical_ids(describe(server, "jobs"))["Worker"]
    before = lam.get_alias(FunctionName=worker, Name="live")["FunctionVersion"]
    (app / "worker" / "app.py").write_text(textwrap.dedent(WORKER).replace('"code": 1', '"code": 2'))
    cli(server, app, "deploy", "--stack-name", "jobs", "--no-confirm", *overrides)
    alias = lam.get_alias(FunctionName=worker, Name="live")
    assert int(alias["FunctionVersion"]) == int(before) + 1
    assert not alias.get("RoutingConfig", {}).get("AdditionalVersionWeights")
    reply = lam.invoke(FunctionName=f"{worker}:live", Payload=json.dumps({"id": str(uuid.uuid4())}).encode())
    assert json.loads(reply["Payload"].read()) == {"v": "layer-1", "code": 2}
    assert reply["ExecutedVersion"] == alias["FunctionVersion"]
