"""`nimbus deploy` end to end against a real server: a SAM app deployed, called, re-deployed unchanged (nothing
touched), and updated the four ways a stack changes: one function's code (only it updated), a resource added (the
rest untouched), a resource removed (deleted), a resource broken (the stack back as it was)."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from stack_support import cli, describe, last_seq, physical_ids, resource_events, write_app

from conftest import Server

SHOP = """\
    AWSTemplateFormatVersion: '2010-09-09'
    Transform: AWS::Serverless-2016-10-31
    Description: orders and receipts, with a queue between them
    Parameters:
      Stage:
        Type: String
        Default: dev
        AllowedValues: [dev, prod]
      ApiKey:
        Type: String
        NoEcho: true
        Default: not-a-secret
    Mappings:
      StageSettings:
        dev: {Timeout: 5}
        prod: {Timeout: 10}
    Conditions:
      IsProd: !Equals [!Ref Stage, prod]
    Globals:
      Function:
        Runtime: python3.12
        Handler: app.handler
        Timeout: !FindInMap [StageSettings, !Ref Stage, Timeout]
        Environment:
          Variables:
            STAGE: !Ref Stage
    Resources:
      Orders:
        Type: AWS::SQS::Queue
        Properties:
          VisibilityTimeout: 30
      OrderFunction:
        Type: AWS::Serverless::Function
        Properties:
          CodeUri: orders/
          Environment:
            Variables:
              QUEUE_URL: !Ref Orders
              QUEUE_ARN: !GetAtt Orders.Arn
              GREETING: !Sub "orders of ${AWS::StackName} in ${AWS::Region}"
              LEVEL: !If [IsProd, WARNING, DEBUG]
      ReceiptFunction:
        Type: AWS::Serverless::Function
        Properties:
          CodeUri: receipts/
          MemorySize: 256
    Outputs:
      OrderFunctionName:
        Description: the order function
        Value: !Ref OrderFunction
        Export:
          Name: !Sub "${AWS::StackName}-orders"
      QueueUrl:
        Value: !GetAtt Orders.QueueUrl
"""
ORDERS = """\
    import json, os
    def handler(event, context):
        return {k: os.environ.get(k) for k in ("STAGE", "QUEUE_URL", "QUEUE_ARN", "GREETING", "LEVEL")} | {"v": 1}
"""
RECEIPTS = """\
    def handler(event, context):
        return {"receipt": event.get("order")}
"""


@pytest.fixture
def app(tmp_path: Path, server: Server) -> Iterator[Path]:
    folder = write_app(tmp_path / "shop", SHOP, {"orders/app.py": ORDERS, "receipts/app.py": RECEIPTS})
    yield folder
    cli(server, folder, "stack", "delete", "shop", check=False)


def invoke(server: Server, name: str, payload: Any = None) -> Any:
    reply = server.client("lambda").invoke(FunctionName=name, Payload=json.dumps(payload or {}).encode())
    return json.loads(reply["Payload"].read())


def function_config(server: Server, name: str) -> dict[str, Any]:
    """A function's configuration, without what every update moves (RevisionId, LastModified)."""
    config = dict(server.client("lambda").get_function_configuration(FunctionName=name))
    for key in ("ResponseMetadata", "RevisionId", "LastModified"):
        config.pop(key)
    return config


def revision(server: Server, name: str) -> str:
    return str(server.client("lambda").get_function_configuration(FunctionName=name)["RevisionId"])


def test_deploy_call_and_redeploy_unchanged(server: Server, app: Path) -> None:
    done = cli(server, app, "deploy", "--stack-name", "shop", "--no-confirm")
    assert "CREATE_COMPLETE" in done.stdout
    assert "Outputs" in done.stdout
    stack = describe(server, "shop")
    assert stack["StackStatus"] == "CREATE_COMPLETE"
    ids = physical_ids(stack)
    assert ids["OrderFunction"].startswith("shop-OrderFunction-")
    outputs = {o["OutputKey"]: o for o in stack["Outputs"]}
    assert outputs["OrderFunctionName"]["OutputValue"] == ids["OrderFunction"]
    assert outputs["OrderFunctionName"]["ExportName"] == "shop-orders"
    assert {p["ParameterKey"]: p["ParameterValue"] for p in stack["Parameters"]} == {"ApiKey": "****", "Stage": "dev"}
    reply = invoke(server, ids["OrderFunction"])
    assert reply == {"STAGE": "dev", "QUEUE_URL": outputs["QueueUrl"]["OutputValue"], "LEVEL": "DEBUG", "v": 1,
                     "QUEUE_ARN": f"arn:aws:sqs:us-east-1:000000000000:{ids['Orders']}",
                     "GREETING": "orders of shop in us-east-1"}  # fmt: skip
    assert server.client("lambda").get_function_configuration(FunctionName=ids["OrderFunction"])["Timeout"] == 5
    # the queue the function names is real
    sqs = server.client("sqs")
    sqs.send_message(QueueUrl=reply["QUEUE_URL"], MessageBody="order-1")
    assert sqs.receive_message(QueueUrl=reply["QUEUE_URL"])["Messages"][0]["Body"] == "order-1"

    before, seq = revision(server, ids["OrderFunction"]), last_seq(server, "shop")
    again = cli(server, app, "deploy", "--stack-name", "shop", "--no-confirm")
    assert "No changes to deploy" in again.stdout
    assert outputs["QueueUrl"]["OutputValue"] in again.stdout, "the Outputs again, as after a deploy"
    assert last_seq(server, "shop") == seq
    assert revision(server, ids["OrderFunction"]) == before


def test_change_one_function_code_updates_only_it(server: Server, app: Path) -> None:
    cli(server, app, "deploy", "--stack-name", "shop", "--no-confirm")
    ids = physical_ids(describe(server, "shop"))
    receipt_revision, seq = revision(server, ids["ReceiptFunction"]), last_seq(server, "shop")
    (app / "orders" / "app.py").write_text(textwrap.dedent(ORDERS).replace('"v": 1', '"v": 2'))
    shown = cli(server, app, "deploy", "--stack-name", "shop", "--no-confirm").stdout
    assert resource_events(server, "shop", seq) == [("OrderFunction", "UPDATE_IN_PROGRESS"),
                                                    ("OrderFunction", "UPDATE_COMPLETE")]  # fmt: skip
    rows = [line for line in shown.splitlines() if line.startswith(("UPDATE_", "CREATE_"))]
    assert "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS" in shown
    assert len({row.index(" AWS::") for row in rows}) == 1, rows  # the longest statuses keep the columns aligned
    assert invoke(server, ids["OrderFunction"])["v"] == 2
    assert revision(server, ids["ReceiptFunction"]) == receipt_revision
    assert physical_ids(describe(server, "shop")) == ids


def test_add_then_remove_a_resource(server: Server, app: Path) -> None:
    cli(server, app, "deploy", "--stack-name", "shop", "--no-confirm")
    ids = physical_ids(describe(server, "shop"))
    seq = last_seq(server, "shop")
    template = (app / "template.yaml").read_text()
    extra = "  Refunds:\n    Type: AWS::SQS::Queue\n    Properties:\n      DelaySeconds: 2\n"
    (app / "template.yaml").write_text(template.replace("  OrderFunction:\n", extra + "  OrderFunction:\n"))
    cli(server, app, "deploy", "--stack-name", "shop", "--no-confirm")
    assert resource_events(server, "shop", seq) == [("Refunds", "CREATE_IN_PROGRESS"), ("Refunds", "CREATE_COMPLETE")]
    added = physical_ids(describe(server, "shop"))
    assert {k: v for k, v in added.items() if k != "Refunds"} == ids
    sqs = server.client("sqs")
    assert added["Refunds"] in sqs.get_queue_url(QueueName=added["Refunds"])["QueueUrl"]

    seq = last_seq(server, "shop")
    (app / "template.yaml").write_text(template)
    cli(server, app, "deploy", "--stack-name", "shop", "--no-confirm")
    assert resource_events(server, "shop", seq) == [("Refunds", "DELETE_IN_PROGRESS"), ("Refunds", "DELETE_COMPLETE")]
    assert physical_ids(describe(server, "shop")) == ids
    with pytest.raises(sqs.exceptions.QueueDoesNotExist):
        sqs.get_queue_url(QueueName=added["Refunds"])


def test_broken_resource_rolls_the_stack_back(server: Server, app: Path) -> None:
    cli(server, app, "deploy", "--stack-name", "shop", "--no-confirm", "--parameter-overrides", "Stage=prod")
    before = describe(server, "shop")
    ids = physical_ids(before)
    config = function_config(server, ids["ReceiptFunction"])
    template = (app / "template.yaml").read_text()
    broken = template.replace("      MemorySize: 256\n", "      MemorySize: 99999\n")  # past Lambda's limit
    broken = broken.replace("  OrderFunction:\n", "  Extra:\n    Type: AWS::SQS::Queue\n  OrderFunction:\n")
    broken = broken.replace("VisibilityTimeout: 30", "VisibilityTimeout: 45")
    (app / "template.yaml").write_text(broken)
    failed = cli(server, app, "deploy", "--stack-name", "shop", "--no-confirm", "--parameter-overrides",
                 "Stage=prod", check=False)  # fmt: skip
    assert failed.returncode == 1
    assert "UPDATE_ROLLBACK_COMPLETE" in failed.stderr
    assert "ReceiptFunction" in failed.stderr
    after = describe(server, "shop")
    assert after["StackStatus"] == "UPDATE_ROLLBACK_COMPLETE"
    assert "MemorySize" in after["StackStatusReason"] or "memory" in after["StackStatusReason"].lower()
    assert physical_ids(after) == ids  # Extra made, then deleted by the rollback
    assert function_config(server, ids["ReceiptFunction"]) == config
    sqs = server.client("sqs")
    url = sqs.get_queue_url(QueueName=ids["Orders"])["QueueUrl"]
    assert sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["VisibilityTimeout"])["Attributes"] == {
        "VisibilityTimeout": "30"
    }
    assert not [q for q in sqs.list_queues().get("QueueUrls", []) if "shop-Extra-" in q]
    # fixed again, it deploys from the rolled-back state
    (app / "template.yaml").write_text(template)
    assert "No changes" not in cli(server, app, "deploy", "--stack-name", "shop", "--no-confirm").stdout
    assert describe(server, "shop")["StackStatus"] == "UPDATE_COMPLETE"
