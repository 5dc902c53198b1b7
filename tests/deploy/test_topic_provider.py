"""AWS::SNS::Topic, Subscription and TopicPolicy through the topics service: a topic with its Ref (the ARN), GetAtt
TopicName, CloudFormation's aws: tags (which the API refuses from callers), attributes and inline subscriptions
kept in step on update, replaced on a new TopicName; a subscription with a filter policy changed in place and
replaced on a new endpoint; a topic policy set and back to the default; FIFO topics refused as the service
refuses them; idempotent deletes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from providers_support import Stack, run

from nimbus.deploy.provider import LOGICAL_ID_TAG
from nimbus.errors import SnsInvalidParameter, SnsNotFound

QUEUE_ARN = "arn:aws:sqs:us-east-1:000000000000:"


def test_topic_attributes_tags_inline_subscriptions(tmp_path: Path) -> None:
    async def body(stack: Stack) -> None:
        topics = stack.services.topics
        q1 = await stack.put("Q1", "AWS::SQS::Queue", {"QueueName": "q1"})
        q2 = await stack.put("Q2", "AWS::SQS::Queue", {"QueueName": "q2"})
        props = {"DisplayName": "Orders", "Tags": [{"Key": "team", "Value": "a"}],
                 "Subscription": [{"Protocol": "sqs", "Endpoint": q1.attributes["Arn"]}]}  # fmt: skip
        made = await stack.put("T", "AWS::SNS::Topic", props)
        arn = made.ref
        assert arn.startswith("arn:aws:sns:us-east-1:000000000000:app-T-")
        assert made.attributes == {"TopicArn": arn, "TopicName": arn.rsplit(":", 1)[1]}
        assert topics.tags(arn)[LOGICAL_ID_TAG] == "T"
        assert topics.topic_attributes(arn)["DisplayName"] == "Orders"
        with pytest.raises(SnsInvalidParameter, match="Tags"):
            topics.tag(arn, {"aws:mine": "x"})  # still refused from a caller
        changed = {"Subscription": [{"Protocol": "sqs", "Endpoint": q2.attributes["Arn"]}]}
        assert not stack.replaces("T", changed)
        await stack.put("T", "AWS::SNS::Topic", changed)
        subs, _ = topics.list_subscriptions(arn, None)
        assert [s.endpoint for s in subs] == [q2.attributes["Arn"]]
        assert topics.topic_attributes(arn)["DisplayName"] == ""  # as GetTopicAttributes shows an unset one
        assert "team" not in topics.tags(arn)
        assert topics.tags(arn)[LOGICAL_ID_TAG] == "T"
        assert stack.replaces("T", {"TopicName": "orders"})
        await stack.put("T", "AWS::SNS::Topic", {"TopicName": "orders"})
        with pytest.raises(SnsNotFound):
            topics.require(arn)
        with pytest.raises(SnsInvalidParameter, match="FIFO"):
            await stack.put("F", "AWS::SNS::Topic", {"TopicName": "f.fifo", "FifoTopic": True})
        await stack.delete("T")
        assert topics.list_topics(None)[0] == []

    run(tmp_path, body)


def test_subscription_and_topic_policy(tmp_path: Path) -> None:
    async def body(stack: Stack) -> None:
        topics = stack.services.topics
        topic = (await stack.put("T", "AWS::SNS::Topic", {"TopicName": "t"})).ref
        q = await stack.put("Q", "AWS::SQS::Queue", {"QueueName": "q"})
        props = {"TopicArn": topic, "Protocol": "sqs", "Endpoint": q.attributes["Arn"],
                 "FilterPolicy": {"kind": ["order"]}, "RawMessageDelivery": True}  # fmt: skip
        sub = await stack.put("S", "AWS::SNS::Subscription", props)
        assert json.loads(topics.require_sub(sub.ref).attributes["FilterPolicy"]) == {"kind": ["order"]}
        assert topics.require_sub(sub.ref).attributes["RawMessageDelivery"] == "true"
        await stack.put("S", "AWS::SNS::Subscription", props | {"FilterPolicy": {"kind": ["refund"]}})
        assert json.loads(topics.require_sub(sub.ref).attributes["FilterPolicy"]) == {"kind": ["refund"]}
        assert stack.replaces("S", props | {"Endpoint": QUEUE_ARN + "other"})
        with pytest.raises(SnsInvalidParameter):
            await stack.put("Bad", "AWS::SNS::Subscription", props | {"Protocol": "carrier-pigeon"})
        await stack.delete("S")
        with pytest.raises(SnsNotFound):
            topics.require_sub(sub.ref)
        policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service":
                  "events.amazonaws.com"}, "Action": "sns:Publish", "Resource": topic}]}  # fmt: skip
        await stack.put("P", "AWS::SNS::TopicPolicy", {"Topics": [topic], "PolicyDocument": policy})
        assert json.loads(topics.topic_attributes(topic)["Policy"]) == policy
        await stack.delete("P")
        assert json.loads(topics.topic_attributes(topic)["Policy"])["Id"] == "__default_policy_ID"

    run(tmp_path, body)
