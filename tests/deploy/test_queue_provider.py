"""AWS::SQS::Queue and QueuePolicy through the queue service: Ref is the URL and GetAtt Arn/QueueName/QueueUrl as
CloudFormation gives them, a generated FIFO name ending in .fifo within SQS's 80 characters, attributes updated in
place (a removed one back to SQS's default), replacement on QueueName and FifoQueue, the queue service's own
refusals, a queue policy set and removed, and idempotent deletes."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from providers_support import Stack, run

from nimbus.deploy.provider import STACK_ID_TAG
from nimbus.errors import InvalidAttributeValue


def test_queue_create_update_replace_delete(tmp_path: Path) -> None:
    async def body(stack: Stack) -> None:
        queues = stack.services.queues
        made = await stack.put(
            "Jobs", "AWS::SQS::Queue", {"VisibilityTimeout": 60, "Tags": [{"Key": "k", "Value": "v"}]}
        )
        name = made.physical_id
        assert re.fullmatch(r"app-Jobs-[A-Z0-9]{13}", name)
        assert made.ref == made.attributes["QueueUrl"] == f"http://127.0.0.1:9001/000000000000/{name}"
        assert made.attributes["Arn"] == f"arn:aws:sqs:us-east-1:000000000000:{name}"
        assert made.attributes["QueueName"] == name
        assert (await queues.get_attributes(name, ["VisibilityTimeout"]))["VisibilityTimeout"] == "60"
        tags = await queues.tags(name)
        assert tags["k"] == "v"
        assert tags[STACK_ID_TAG].startswith("arn:aws:cloudformation:")
        dlq = await stack.put("Dlq", "AWS::SQS::Queue", {})
        redrive = {"deadLetterTargetArn": dlq.attributes["Arn"], "maxReceiveCount": 3}
        assert not stack.replaces("Jobs", {"RedrivePolicy": redrive})
        await stack.put("Jobs", "AWS::SQS::Queue", {"RedrivePolicy": redrive})
        attrs = await queues.get_attributes(name, ["All"])
        assert attrs["VisibilityTimeout"] == "30"  # removed from the template: SQS's default again
        assert json.loads(attrs["RedrivePolicy"])["maxReceiveCount"] == 3
        assert "k" not in await queues.tags(name)
        assert stack.replaces("Jobs", {"FifoQueue": True})
        fifo = await stack.put("Jobs", "AWS::SQS::Queue", {"FifoQueue": True})
        assert fifo.physical_id.endswith(".fifo")
        assert len(fifo.physical_id) <= 80
        assert await queues.lookup(name) is None
        await stack.delete("Jobs")
        assert await queues.lookup(fifo.physical_id) is None

    run(tmp_path, body)


def test_long_stack_name_is_shortened_to_80_and_bad_attributes_refused(tmp_path: Path) -> None:
    async def body(stack: Stack) -> None:
        stack.name = "s" * 120
        made = await stack.put("AVeryLongLogicalIdForAQueue" * 3, "AWS::SQS::Queue", {"FifoQueue": "true"})
        assert len(made.physical_id) == 80
        assert made.physical_id.endswith(".fifo")
        with pytest.raises(InvalidAttributeValue):
            await stack.put("Bad", "AWS::SQS::Queue", {"QueueName": "bad", "DelaySeconds": 901})
        assert await stack.services.queues.lookup("bad") is None

    run(tmp_path, body)


def test_queue_policy_set_changed_and_removed(tmp_path: Path) -> None:
    async def body(stack: Stack) -> None:
        queues = stack.services.queues
        q = await stack.put("Q", "AWS::SQS::Queue", {"QueueName": "q"})
        doc = {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Service": "sns.amazonaws.com"},
                    "Action": "sqs:SendMessage",
                    "Resource": q.attributes["Arn"],
                }
            ],
        }
        await stack.put("P", "AWS::SQS::QueuePolicy", {"Queues": [q.ref], "PolicyDocument": doc})
        assert json.loads((await queues.get_attributes("q", ["Policy"]))["Policy"]) == doc
        await stack.delete("P")
        assert "Policy" not in await queues.get_attributes("q", ["Policy"])

    run(tmp_path, body)
