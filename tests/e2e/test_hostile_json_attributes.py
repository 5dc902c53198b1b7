"""JSON documents inside requests (queue and topic attributes, subscription attributes, message attributes) nested
deeper than the parser's recursion limit: each is the caller's 400 in the API's own form, never a 500. They were
checked with `except ValueError`, which json's RecursionError passes through (`protocol/json_text.loads`)."""

from __future__ import annotations

from typing import Any

import pytest
from e2e_support import Server, expect_error

#: well past the parser's recursion limit, well inside every size limit (10,000 bytes)
DEEP = "[" * 5000 + "]" * 5000


@pytest.fixture(scope="module")
def sqs(server: Server) -> Any:
    return server.client("sqs")


@pytest.fixture(scope="module")
def sns(server: Server) -> Any:
    return server.client("sns")


@pytest.mark.parametrize("name", ["Policy", "RedriveAllowPolicy", "RedrivePolicy"])
def test_a_deep_queue_attribute_is_invalid(server: Server, sqs: Any, name: str) -> None:
    expect_error(sqs.create_queue, "InvalidAttributeValue", 400, QueueName=f"deep-{name}", Attributes={name: DEEP})
    url = sqs.create_queue(QueueName=f"deep-set-{name}")["QueueUrl"]
    expect_error(sqs.set_queue_attributes, "InvalidAttributeValue", 400, QueueUrl=url, Attributes={name: DEEP})
    assert "RecursionError" not in server.log_path.read_text()


@pytest.mark.parametrize("name", ["Policy", "DeliveryPolicy"])
def test_a_deep_topic_attribute_is_invalid(server: Server, sns: Any, name: str) -> None:
    arn = sns.create_topic(Name=f"deep-{name}")["TopicArn"]
    expect_error(sns.set_topic_attributes, "InvalidParameter", 400, TopicArn=arn, AttributeName=name,
                 AttributeValue=DEEP)  # fmt: skip
    assert "RecursionError" not in server.log_path.read_text()


def test_a_deep_subscription_redrive_policy_is_invalid(server: Server, sns: Any, sqs: Any) -> None:
    arn = sns.create_topic(Name="deep-subscription")["TopicArn"]
    url = sqs.create_queue(QueueName="deep-subscriber")["QueueUrl"]
    queue = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sub = sns.subscribe(TopicArn=arn, Protocol="sqs", Endpoint=queue, ReturnSubscriptionArn=True)["SubscriptionArn"]
    for name in ("RedrivePolicy", "DeliveryPolicy"):
        expect_error(sns.set_subscription_attributes, "InvalidParameter", 400, SubscriptionArn=sub,
                     AttributeName=name, AttributeValue=DEEP)  # fmt: skip
    assert "RecursionError" not in server.log_path.read_text()


def test_a_deep_string_array_message_attribute_is_invalid(server: Server, sns: Any) -> None:
    arn = sns.create_topic(Name="deep-attribute")["TopicArn"]
    expect_error(sns.publish, "ParameterValueInvalid", 400, TopicArn=arn, Message="m",
                 MessageAttributes={"a": {"DataType": "String.Array", "StringValue": DEEP}})  # fmt: skip
    assert "RecursionError" not in server.log_path.read_text()
