"""Engine features end to end, with SAM templates shaped like real ones: a replacement (a new physical resource,
the old one deleted once the deploy succeeded, its dependents updated), exports imported by another stack,
Conditions/Mappings/Fn::If in odd places, AutoPublishAlias moving with the code, and DeletionPolicy: Retain."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import pytest
from stack_support import cli, describe, events, last_seq, physical_ids, write_app

from conftest import Server

EXPORTER = """\
    AWSTemplateFormatVersion: '2010-09-09'
    Description: shared resources other stacks import
    Resources:
      Shared:
        Type: AWS::SQS::Queue
        DeletionPolicy: Retain
    Outputs:
      SharedUrl:
        Value: !Ref Shared
        Export: {Name: !Sub "${AWS::StackName}:SharedUrl"}
"""

IMPORTER = """\
    AWSTemplateFormatVersion: '2010-09-09'
    Transform: AWS::Serverless-2016-10-31
    Parameters:
      Suffix: {Type: String, Default: one}
      Env: {Type: String, Default: test, AllowedValues: [test, live]}
    Mappings:
      Sizes:
        test: {Memory: 128}
        live: {Memory: 256}
    Conditions:
      Live: !Equals [!Ref Env, live]
    Globals:
      Function:
        Runtime: python3.12
        Handler: app.handler
        MemorySize: !FindInMap [Sizes, !Ref Env, Memory]
    Resources:
      Worker:
        Type: AWS::Serverless::Function
        Properties:
          FunctionName: !Sub "${AWS::StackName}-worker-${Suffix}"
          CodeUri: worker/
          AutoPublishAlias: live
          Environment:
            Variables:
              SHARED: !ImportValue exporter:SharedUrl
              MODE: !If [Live, !Sub "on-${Env}", !Join ["-", [idle, !Select [0, !GetAZs ""]]]]
              EXTRA: !If [Live, !Ref AWS::NoValue, kept]
      Caller:
        Type: AWS::Serverless::Function
        Properties:
          CodeUri: caller/
          Environment:
            Variables: {WORKER: !Ref Worker, WORKER_ARN: !GetAtt Worker.Arn}
    Outputs:
      WorkerAlias: {Value: !Ref Worker.Alias}
"""
WORKER = """\
    import os
    def handler(event, context):
        return {"v": 1, "env": {k: os.environ.get(k) for k in ("SHARED", "MODE", "EXTRA")}}
"""
CALLER = """\
    import os
    def handler(event, context):
        return {"worker": os.environ["WORKER"], "arn": os.environ["WORKER_ARN"]}
"""


def invoke(server: Server, name: str) -> Any:
    return json.loads(server.client("lambda").invoke(FunctionName=name)["Payload"].read())


@pytest.fixture
def apps(server: Server, tmp_path: Path) -> Any:
    exporter = write_app(tmp_path / "exporter", EXPORTER)
    importer = write_app(tmp_path / "importer", IMPORTER, {"worker/app.py": WORKER, "caller/app.py": CALLER})
    yield exporter, importer
    cli(server, importer, "stack", "delete", "importer", check=False)
    cli(server, exporter, "stack", "delete", "exporter", check=False)


def test_replacement_imports_conditions_alias_and_retain(server: Server, apps: Any) -> None:
    exporter, importer = apps
    cli(server, exporter, "deploy", "--stack-name", "exporter", "--no-confirm")
    shared_url = describe(server, "exporter")["Outputs"][0]["OutputValue"]
    cli(server, importer, "deploy", "--stack-name", "importer", "--no-confirm")
    ids = physical_ids(describe(server, "importer"))
    assert ids["Worker"] == "importer-worker-one"
    assert invoke(server, "importer-worker-one")["env"] == {"SHARED": shared_url, "MODE": "idle-us-east-1a",
                                                            "EXTRA": "kept"}  # fmt: skip
    assert invoke(server, ids["Caller"])["worker"] == "importer-worker-one"
    alias = describe(server, "importer")["Outputs"][0]["OutputValue"]
    assert alias.endswith(":function:importer-worker-one:live")
    assert invoke(server, alias)["v"] == 1

    # a new FunctionName replaces the worker: made first, the caller updated to it, the old one deleted last
    seq = last_seq(server, "importer")
    cli(server, importer, "deploy", "--stack-name", "importer", "--no-confirm", "--parameter-overrides",
        "Suffix=two", "Env=live")  # fmt: skip
    after = [e for e in events(server, "importer") if e["Seq"] > seq]
    worker = [(e["ResourceStatus"], e["PhysicalResourceId"], e["ResourceStatusReason"]) for e in after
              if e["LogicalResourceId"] == "Worker"]  # fmt: skip
    assert worker[0] == ("CREATE_IN_PROGRESS", "importer-worker-one",
                         "Requested update requires the creation of a new physical resource")  # fmt: skip
    assert worker[-1] == ("DELETE_COMPLETE", "importer-worker-one", "")
    order = [(e["LogicalResourceId"], e["ResourceStatus"]) for e in after]
    assert order.index(("Caller", "UPDATE_COMPLETE")) < order.index(("Worker", "DELETE_IN_PROGRESS"))
    assert invoke(server, physical_ids(describe(server, "importer"))["Caller"])["worker"] == "importer-worker-two"
    assert invoke(server, "importer-worker-two")["env"] == {"SHARED": shared_url, "MODE": "on-live", "EXTRA": None}
    lam = server.client("lambda")
    assert lam.get_function_configuration(FunctionName="importer-worker-two")["MemorySize"] == 256
    with pytest.raises(lam.exceptions.ResourceNotFoundException):
        lam.get_function(FunctionName="importer-worker-one")

    # new code: AutoPublishAlias publishes a version and moves the alias to it
    (importer / "worker" / "app.py").write_text(textwrap.dedent(WORKER).replace('"v": 1', '"v": 2'))
    cli(server, importer, "deploy", "--stack-name", "importer", "--no-confirm", "--parameter-overrides",
        "Suffix=two", "Env=live")  # fmt: skip
    assert invoke(server, "importer-worker-two:live")["v"] == 2

    # Retain: the exporter's queue outlives its stack
    cli(server, importer, "stack", "delete", "importer")
    deleted = cli(server, exporter, "stack", "delete", "exporter")
    assert "DELETE_SKIPPED" in deleted.stdout
    sqs = server.client("sqs")
    queue = shared_url.rsplit("/", 1)[1]
    assert sqs.get_queue_url(QueueName=queue)["QueueUrl"] == shared_url
    sqs.delete_queue(QueueUrl=shared_url)
