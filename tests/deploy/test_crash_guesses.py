"""After `kill -9` cut a create short, the engine knows a resource only by the name it would have had
(`StackContext.name` with its seed) and the properties it was made from: every provider's delete finds the
resource from those (the template's own name, or its function and qualifier, or its source), so a rollback leaves
nothing behind and the next deploy does not collide with a half-made resource."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from providers_support import INLINE, Stack, run

from nimbus.deploy.providers import provider_for

TRUST = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"},
                                                 "Action": "sts:AssumeRole"}]}  # fmt: skip


async def _gone_after_a_guessed_delete(stack: Stack, logical_id: str, type_: str, props: dict[str, Any]) -> None:
    """Make the resource, then delete it as the engine's rollback does after a crash, by its guessed name only;
    making it again then succeeds (nothing half made is in the way)."""
    provider = provider_for(type_)
    assert provider is not None
    await stack.put(logical_id, type_, props)
    await provider.delete(stack.ctx, type_, logical_id, stack.ctx.name(logical_id), props)
    del stack.made[logical_id], stack.props[logical_id]
    await stack.put(logical_id, type_, props)


@pytest.mark.parametrize(("type_", "props"), [
    ("AWS::Lambda::Function", INLINE | {"FunctionName": "named"}),
    ("AWS::Lambda::Function", INLINE),
    ("AWS::SQS::Queue", {"FifoQueue": True}),
    ("AWS::SQS::Queue", {"QueueName": "jobs"}),
    ("AWS::SNS::Topic", {}),
    ("AWS::SNS::Topic", {"TopicName": "alerts"}),
    ("AWS::Events::Rule", {"Name": "tick", "ScheduleExpression": "rate(1 hour)"}),
    ("AWS::Scheduler::Schedule", {"ScheduleExpression": "rate(1 hour)", "FlexibleTimeWindow": {"Mode": "OFF"},
                                  "Target": {"Arn": "arn:aws:sqs:us-east-1:000000000000:q",
                                             "RoleArn": "arn:aws:iam::000000000000:role/r"}}),
    ("AWS::Logs::LogGroup", {"LogGroupName": "/aws/lambda/x", "RetentionInDays": 1}),
    ("AWS::IAM::Role", {"RoleName": "worker", "AssumeRolePolicyDocument": TRUST}),
    ("AWS::IAM::ManagedPolicy", {"PolicyDocument": {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "sqs:*", "Resource": "*"}]}}),
])  # fmt: skip
def test_named_resources_are_found_from_the_guess(tmp_path: Path, type_: str, props: dict[str, Any]) -> None:
    async def body(stack: Stack) -> None:
        await _gone_after_a_guessed_delete(stack, "Res", type_, props)

    run(tmp_path, body)


def test_function_links_are_found_from_their_target(tmp_path: Path) -> None:
    async def body(stack: Stack) -> None:
        await stack.put("Fn", "AWS::Lambda::Function", INLINE | {"FunctionName": "fn"})
        await stack.put("V", "AWS::Lambda::Version", {"FunctionName": "fn"})
        alias = {"FunctionName": "fn", "Name": "live", "FunctionVersion": "1"}
        await _gone_after_a_guessed_delete(stack, "Alias", "AWS::Lambda::Alias", alias)
        live = stack.made["Alias"].ref
        queue = await stack.put("Q", "AWS::SQS::Queue", {"QueueName": "q"})
        links = [
            ("Map", "AWS::Lambda::EventSourceMapping", {"FunctionName": live,
                                                        "EventSourceArn": queue.attributes["Arn"]}),
            ("Url", "AWS::Lambda::Url", {"TargetFunctionArn": live, "AuthType": "NONE"}),
            ("Perm", "AWS::Lambda::Permission", {"FunctionName": live, "Action": "lambda:InvokeFunction",
                                                 "Principal": "sns.amazonaws.com"}),
            ("Eic", "AWS::Lambda::EventInvokeConfig", {"FunctionName": "fn", "Qualifier": "live",
                                                       "MaximumRetryAttempts": 0}),
        ]  # fmt: skip
        for logical_id, type_, props in links:
            await _gone_after_a_guessed_delete(stack, logical_id, type_, props)

    run(tmp_path, body)
