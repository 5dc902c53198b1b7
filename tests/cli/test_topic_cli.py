"""`nimbus topic create|list|publish|subscribe`, run as a subprocess against the session server, as a user would."""

from __future__ import annotations

import contextlib
import json
import time
from typing import Any

import pytest
from cli_support import ECHO, nimbus_runner
from test_cli import Run, _ok, _one_line_error

from conftest import Server, make_zip


@pytest.fixture
def run(server: Server) -> Run:
    return nimbus_runner(server.endpoint)


def test_create_list_publish_and_subscribe_a_queue(run: Run, server: Server) -> None:
    sns, sqs = server.client("sns"), server.client("sqs")
    arn = _ok(run("topic", "create", "cli-orders", "--attribute", "DisplayName=Orders")).stdout.strip()
    url = sqs.create_queue(QueueName="cli-orders-q")["QueueUrl"]
    try:
        assert arn == "arn:aws:sns:us-east-1:000000000000:cli-orders"
        sub = _ok(run("topic", "subscribe", "cli-orders", "--queue", "cli-orders-q", "--raw",
                      "--filter-policy", '{"kind": ["order"]}')).stdout.strip()  # fmt: skip
        assert sub.startswith(arn + ":")
        listed = _ok(run("topic", "list")).stdout
        assert "cli-orders" in listed
        assert arn in listed
        _ok(run("topic", "publish", "cli-orders", "skipped", "--attribute", "kind=other"))
        message_id = _ok(run("topic", "publish", "cli-orders", "hello", "--subject", "Hi",
                             "--attribute", "kind=order")).stdout.strip()  # fmt: skip
        assert len(message_id) == 36
        deadline, got = time.monotonic() + 30, list[dict[str, Any]]()
        while not got and time.monotonic() < deadline:
            got = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1, MessageAttributeNames=["All"]).get(
                "Messages", []
            )
        assert [m["Body"] for m in got] == ["hello"]
        assert got[0]["MessageAttributes"]["kind"]["StringValue"] == "order"
    finally:
        sns.delete_topic(TopicArn=arn)
        sqs.delete_queue(QueueUrl=url)


def test_subscribing_a_function_adds_snss_permission(run: Run, server: Server, lam: Any) -> None:
    sns = server.client("sns")
    arn = _ok(run("topic", "create", "cli-fn-topic")).stdout.strip()
    lam.create_function(FunctionName="cli-topic-fn", Runtime="python3.11", Role="arn:aws:iam::000000000000:role/r",
                        Handler="app.handler", Code={"ZipFile": make_zip({"app.py": ECHO})})  # fmt: skip
    try:
        done = _ok(run("topic", "subscribe", arn, "--function", "cli-topic-fn"))
        assert "added permission sns-cli-fn-topic" in done.stderr
        [statement] = json.loads(lam.get_policy(FunctionName="cli-topic-fn")["Policy"])["Statement"]
        assert statement["Principal"] == {"Service": "sns.amazonaws.com"}
        assert statement["Condition"]["ArnLike"]["AWS:SourceArn"] == arn
        _ok(run("topic", "subscribe", arn, "--function", "cli-topic-fn"))  # again: the permission is kept
        [sub] = sns.list_subscriptions_by_topic(TopicArn=arn)["Subscriptions"]
        assert (sub["Protocol"], sub["Endpoint"]) == ("lambda", lam.get_function(FunctionName="cli-topic-fn")[
            "Configuration"]["FunctionArn"])  # fmt: skip
    finally:
        sns.delete_topic(TopicArn=arn)
        with contextlib.suppress(lam.exceptions.ResourceNotFoundException):
            lam.delete_function(FunctionName="cli-topic-fn")


def test_a_url_subscription_says_it_awaits_confirmation(run: Run, server: Server) -> None:
    arn = _ok(run("topic", "create", "cli-url-topic")).stdout.strip()
    try:
        done = _ok(run("topic", "subscribe", "cli-url-topic", "--url", "http://127.0.0.1:9/hook"))
        assert done.stdout.strip().startswith(arn + ":")
        assert "pending confirmation" in done.stderr
    finally:
        server.client("sns").delete_topic(TopicArn=arn)


def test_errors_say_what_to_do_next(run: Run) -> None:
    line = _one_line_error(run("topic", "publish", "no-such-topic", "hi"))
    assert "nimbus topic create no-such-topic" in line
    _ok(run("topic", "create", "cli-err-topic"))
    line = _one_line_error(run("topic", "subscribe", "cli-err-topic", "--queue", "q", "--url", "http://x"))
    assert "exactly one of --function, --queue or --url" in line
    line = _one_line_error(run("topic", "create", "bad name"))
    assert line.startswith("error: InvalidParameter: Invalid parameter: Topic Name")
    line = _one_line_error(run("topic", "subscribe", "cli-err-topic", "--function", "no-such-function"))
    assert "ResourceNotFoundException" in line
