"""The console's pages for what functions are wired to, against a real server: a queue (depth, in flight, the send
and receive test), its mapping, a topic and its subscription, a rule, a schedule and an HTTP API, each linking to
the function, and the function page linking back to each."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from console_support import ConsoleClient, signed_in

from conftest import make_zip

FN = "console-wired"


@pytest.fixture(scope="module")
def wired(server: Any) -> Iterator[dict[str, str]]:
    """A function fed by a queue, a topic, a rule, a schedule and an HTTP API route; a second queue to test with."""
    lam, sqs, sns, events = (server.client(s) for s in ("lambda", "sqs", "sns", "events"))
    scheduler, apigw = server.client("scheduler"), server.client("apigatewayv2")
    code = make_zip({"app.py": "def handler(e, c):\n    return 1\n"})
    arn = lam.create_function(FunctionName=FN, Runtime="python3.11", Role="arn:aws:iam::000000000000:role/r",
                              Handler="app.handler", Code={"ZipFile": code})["FunctionArn"]  # fmt: skip
    feed = sqs.create_queue(QueueName="console-feed")["QueueUrl"]
    test_queue = sqs.create_queue(QueueName="console-test-queue")["QueueUrl"]
    feed_arn = sqs.get_queue_attributes(QueueUrl=feed, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    mapping = lam.create_event_source_mapping(EventSourceArn=feed_arn, FunctionName=FN, Enabled=False)["UUID"]
    topic = sns.create_topic(Name="console-topic")["TopicArn"]
    sns.subscribe(TopicArn=topic, Protocol="lambda", Endpoint=arn)
    events.put_rule(Name="console-rule", ScheduleExpression="rate(1 hour)", State="DISABLED")
    events.put_targets(Rule="console-rule", Targets=[{"Id": "1", "Arn": arn}])
    scheduler.create_schedule(Name="console-schedule", ScheduleExpression="rate(1 hour)", State="DISABLED",
                              FlexibleTimeWindow={"Mode": "OFF"},
                              Target={"Arn": arn, "RoleArn": "arn:aws:iam::000000000000:role/r"})  # fmt: skip
    api = apigw.create_api(Name="console-api", ProtocolType="HTTP", Target=arn)["ApiId"]
    yield {"arn": arn, "api": api, "mapping": mapping, "topic": topic}
    scheduler.delete_schedule(Name="console-schedule")
    events.remove_targets(Rule="console-rule", Ids=["1"])
    events.delete_rule(Name="console-rule")
    apigw.delete_api(ApiId=api)
    sns.delete_topic(TopicArn=topic)
    lam.delete_event_source_mapping(UUID=mapping)
    for url in (feed, test_queue):
        sqs.delete_queue(QueueUrl=url)
    lam.delete_function(FunctionName=FN)


@pytest.fixture
def console(server: Any) -> Iterator[ConsoleClient]:
    yield from signed_in(server.endpoint)


def test_each_resource_page_links_to_the_function(console: ConsoleClient, wired: dict[str, str]) -> None:
    function_page = f'href="/console/functions/{FN}"'
    pages = {"/queues/console-feed": wired["mapping"], "/topics/console-topic": "confirmed", "/rules": "console-rule",
             "/schedules": "console-schedule", f"/apis/{wired['api']}": "$default"}  # fmt: skip
    for path, shown in pages.items():
        page = console.http.get(path)
        assert page.status_code == 200, path
        assert shown in page.text, path
        assert function_page in page.text, path
    for path, shown in {"/queues": "console-feed", "/topics": "console-topic", "/apis": "console-api"}.items():
        listing = console.http.get(path)
        assert listing.status_code == 200
        assert shown in listing.text


def test_the_function_page_links_to_its_triggers(console: ConsoleClient, wired: dict[str, str]) -> None:
    page = console.http.get(f"/functions/{FN}").text
    for href in ("/console/queues/console-feed", "/console/topics/console-topic", "/console/rules",
                 "/console/schedules", f"/console/apis/{wired['api']}"):  # fmt: skip
        assert f'href="{href}"' in page


def test_a_queue_page_sends_and_receives_and_shows_depth(console: ConsoleClient, server: Any, wired: Any) -> None:
    sent = console.api("POST", "/queues/console-test-queue/send", {"body": json.dumps({"hello": "queue"})})
    assert sent.status_code == 200
    page = console.http.get("/queues/console-test-queue").text
    assert "ApproximateNumberOfMessages</dt><dd>1</dd>" in page
    got = console.api("POST", "/queues/console-test-queue/receive", {}).json()["Messages"]
    assert [(m["MessageId"], json.loads(m["Body"])) for m in got] == [(sent.json()["MessageId"], {"hello": "queue"})]
    page = console.http.get("/queues/console-test-queue").text
    assert "ApproximateNumberOfMessagesNotVisible</dt><dd>1</dd>" in page  # in flight after the receive
    assert console.api("POST", "/queues/console-test-queue/send", {"body": ""}).status_code == 400
    assert console.api("POST", "/queues/console-test-queue/send", {"body": "x" * 262_145}).status_code == 400
    assert console.api("POST", "/queues/console-test-queue/send", {"body": "x" * 262_144}).status_code == 200
    assert console.api("POST", "/queues/no-such-queue/send", {"body": "x"}).status_code == 400


def test_stacks_list_is_served(console: ConsoleClient) -> None:
    assert console.http.get("/stacks").status_code == 200
