"""Each served operation's IAM action and resource ARN, as the Service Authorization Reference names them."""

from __future__ import annotations

from typing import Any

import pytest

from nimbus.api import actions
from nimbus.api.actions import Call, Where
from nimbus.api.authorize import denial
from nimbus.protocol.policy_eval import Outcome

W = Where("us-east-1", "123456789012")
FN = "arn:aws:lambda:us-east-1:123456789012:function"


def lam(operation: str, params: dict[str, str], query: dict[str, list[str]] | None = None,
        body: dict[str, Any] | None = None) -> Call:  # fmt: skip
    return actions.lambda_call(W, operation, params, query or {}, body or {})


@pytest.mark.parametrize(("call", "action", "resource"), [
    (lam("Invoke", {"FunctionName": "fn-a"}), "lambda:InvokeFunction", f"{FN}:fn-a"),
    (lam("Invoke", {"FunctionName": "fn-a"}, {"Qualifier": ["live"]}), "lambda:InvokeFunction", f"{FN}:fn-a:live"),
    (lam("Invoke", {"FunctionName": "fn-a:3"}), "lambda:InvokeFunction", f"{FN}:fn-a:3"),
    (lam("Invoke", {"FunctionName": f"{FN}:fn-a"}), "lambda:InvokeFunction", f"{FN}:fn-a"),
    (lam("InvokeAsync", {"FunctionName": "fn-a"}), "lambda:InvokeFunction", f"{FN}:fn-a"),
    (lam("DeleteFunction", {"FunctionName": "fn-a"}), "lambda:DeleteFunction", f"{FN}:fn-a"),
    (lam("ListFunctions", {}), "lambda:ListFunctions", "*"),
    (lam("GetAccountSettings", {}), "lambda:GetAccountSettings", "*"),
    (lam("CreateFunction", {}, body={"FunctionName": "fn-new", "Role": "r"}), "lambda:CreateFunction",
     f"{FN}:fn-new"),
    (lam("GetAlias", {"FunctionName": "fn-a", "Name": "live"}), "lambda:GetAlias", f"{FN}:fn-a:live"),
    (lam("CreateAlias", {"FunctionName": "fn-a"}), "lambda:CreateAlias", f"{FN}:fn-a"),
    (lam("PublishLayerVersion", {"LayerName": "deps"}), "lambda:PublishLayerVersion",
     "arn:aws:lambda:us-east-1:123456789012:layer:deps"),
    (lam("GetLayerVersion", {"LayerName": "deps", "VersionNumber": "2"}), "lambda:GetLayerVersion",
     "arn:aws:lambda:us-east-1:123456789012:layer:deps:2"),
    (lam("ListLayers", {}, {"find": ["LayerVersion"], "Arn": ["arn:aws:lambda:us-east-1:123456789012:layer:d:1"]}),
     "lambda:GetLayerVersion", "arn:aws:lambda:us-east-1:123456789012:layer:d:1"),
    (lam("ListLayers", {}), "lambda:ListLayers", "*"),
    (lam("GetEventSourceMapping", {"UUID": "u-1"}), "lambda:GetEventSourceMapping",
     "arn:aws:lambda:us-east-1:123456789012:event-source-mapping:u-1"),
    (lam("CreateEventSourceMapping", {}, body={"FunctionName": "fn-a"}), "lambda:CreateEventSourceMapping", "*"),
    (lam("TagResource", {"Resource": f"{FN}:fn-a"}), "lambda:TagResource", f"{FN}:fn-a"),
    (actions.sqs_call(W, "SendMessage", {"QueueUrl": "http://h:1/123456789012/orders"}), "sqs:SendMessage",
     "arn:aws:sqs:us-east-1:123456789012:orders"),
    (actions.sqs_call(W, "SendMessageBatch", {"QueueUrl": "http://h:1/123456789012/orders"}), "sqs:SendMessage",
     "arn:aws:sqs:us-east-1:123456789012:orders"),
    (actions.sqs_call(W, "CreateQueue", {"QueueName": "jobs"}), "sqs:CreateQueue",
     "arn:aws:sqs:us-east-1:123456789012:jobs"),
    (actions.sqs_call(W, "ListQueues", {}), "sqs:ListQueues", "*"),
    (actions.sns_call(W, "Publish", {"TopicArn": "arn:aws:sns:us-east-1:123456789012:t"}), "sns:Publish",
     "arn:aws:sns:us-east-1:123456789012:t"),
    (actions.sns_call(W, "PublishBatch", {"TopicArn": "arn:aws:sns:us-east-1:123456789012:t"}), "sns:Publish",
     "arn:aws:sns:us-east-1:123456789012:t"),
    (actions.sns_call(W, "Unsubscribe", {"SubscriptionArn": "arn:aws:sns:us-east-1:123456789012:t:abc"}),
     "sns:Unsubscribe", "arn:aws:sns:us-east-1:123456789012:t"),
    (actions.sns_call(W, "CreateTopic", {"Name": "t"}), "sns:CreateTopic", "arn:aws:sns:us-east-1:123456789012:t"),
    (actions.sns_call(W, "ListTopics", {}), "sns:ListTopics", "*"),
    (actions.events_call(W, "PutRule", {"Name": "r1"}), "events:PutRule",
     "arn:aws:events:us-east-1:123456789012:rule/r1"),
    (actions.events_call(W, "PutTargets", {"Rule": "r1", "EventBusName": "orders"}), "events:PutTargets",
     "arn:aws:events:us-east-1:123456789012:rule/orders/r1"),
    (actions.events_call(W, "PutEvents", {"Entries": [{"Source": "x"}]}), "events:PutEvents",
     "arn:aws:events:us-east-1:123456789012:event-bus/default"),
    (actions.events_call(W, "CreateEventBus", {"Name": "orders"}), "events:CreateEventBus",
     "arn:aws:events:us-east-1:123456789012:event-bus/orders"),
    (actions.logs_call(W, "GetLogEvents", {"logGroupName": "/aws/lambda/f", "logStreamName": "s"}),
     "logs:GetLogEvents", "arn:aws:logs:us-east-1:123456789012:log-group:/aws/lambda/f:log-stream:s"),
    (actions.logs_call(W, "DescribeLogGroups", {}), "logs:DescribeLogGroups",
     "arn:aws:logs:us-east-1:123456789012:log-group::log-stream:"),
    (actions.scheduler_call(W, "GetSchedule", {"Name": "s"}, {"groupName": ["g"]}, {}), "scheduler:GetSchedule",
     "arn:aws:scheduler:us-east-1:123456789012:schedule/g/s"),
    (actions.scheduler_call(W, "CreateSchedule", {"Name": "s"}, {}, {}), "scheduler:CreateSchedule",
     "arn:aws:scheduler:us-east-1:123456789012:schedule/default/s"),
    (actions.scheduler_call(W, "DeleteScheduleGroup", {"Name": "g"}, {}, {}), "scheduler:DeleteScheduleGroup",
     "arn:aws:scheduler:us-east-1:123456789012:schedule-group/g"),
    (actions.apigw_call(W, "GET", "/v2/apis/a1/routes"), "apigateway:GET",
     "arn:aws:apigateway:us-east-1::/apis/a1/routes"),
    (actions.apigw_call(W, "POST", "/v2/apis"), "apigateway:POST", "arn:aws:apigateway:us-east-1::/apis"),
    (actions.iam_call(W, "CreateUser", {"UserName": "ci"}), "iam:CreateUser", "arn:aws:iam::123456789012:user/ci"),
    (actions.iam_call(W, "ListRoles", {}), "iam:ListRoles", "arn:aws:iam::123456789012:role/"),
    (actions.iam_call(W, "AttachRolePolicy", {"RoleName": "r", "PolicyArn": "arn:aws:iam::aws:policy/X"}),
     "iam:AttachRolePolicy", "arn:aws:iam::aws:policy/X"),
])  # fmt: skip
def test_operation_maps_to_action_and_resource(call: Call, action: str, resource: str) -> None:
    assert call.action == action
    assert call.resources == (resource,)


def test_create_and_update_pass_the_role() -> None:
    role = "arn:aws:iam::123456789012:role/worker"
    assert lam("CreateFunction", {}, body={"FunctionName": "f", "Role": role}).pass_role == role
    assert lam("UpdateFunctionConfiguration", {"FunctionName": "f"}, body={"Role": role}).pass_role == role
    assert lam("UpdateFunctionConfiguration", {"FunctionName": "f"}, body={"Timeout": 3}).pass_role == ""


def test_a_schedule_passes_its_target_role() -> None:
    role = "arn:aws:iam::123456789012:role/scheduler"
    body = {"Target": {"Arn": f"{FN}:f", "RoleArn": role}}
    assert actions.scheduler_call(W, "CreateSchedule", {"Name": "s"}, {}, body).pass_role == role
    assert actions.scheduler_call(W, "GetSchedule", {"Name": "s"}, {}, {}).pass_role == ""


def test_function_calls_name_their_resource_policy_and_function_arn() -> None:
    call = lam("Invoke", {"FunctionName": "fn-a"}, {"Qualifier": ["live"]})
    assert (call.policy, call.policy_ref, call.qualifier) == (actions.FUNCTION, "fn-a", "live")
    assert call.context == {"lambda:functionarn": f"{FN}:fn-a"}
    mapping = lam("CreateEventSourceMapping", {}, body={"FunctionName": "fn-a"})
    assert mapping.context == {"lambda:functionarn": f"{FN}:fn-a"}


def test_sts_is_never_denied_here() -> None:
    assert actions.form_call(W, "sts", "GetCallerIdentity", {}) is None
    assert actions.form_call(W, "sts", "AssumeRole", {"RoleArn": "arn:aws:iam::1:role/r"}) is None


@pytest.mark.parametrize(("action", "outcome", "message"), [
    ("lambda:InvokeFunction", Outcome.IMPLICIT,
     "User: arn:aws:iam::123456789012:user/x is not authorized to perform: lambda:InvokeFunction on resource: "
     "R because no identity-based policy allows the lambda:InvokeFunction action"),
    ("lambda:DeleteFunction", Outcome.DENY_IDENTITY,
     "User: arn:aws:iam::123456789012:user/x is not authorized to perform: lambda:DeleteFunction on resource: "
     "R with an explicit deny in an identity-based policy"),
    ("sqs:SendMessage", Outcome.DENY_RESOURCE,
     "User: arn:aws:iam::123456789012:user/x is not authorized to perform: sqs:sendmessage on resource: "
     "R with an explicit deny in a resource-based policy"),
    ("sns:Publish", Outcome.IMPLICIT,
     "User: arn:aws:iam::123456789012:user/x is not authorized to perform: SNS:Publish on resource: "
     "R because no identity-based policy allows the SNS:Publish action"),
])  # fmt: skip
def test_denials_are_worded_as_aws_words_them(action: str, outcome: Outcome, message: str) -> None:
    assert denial("arn:aws:iam::123456789012:user/x", action, "R", outcome).message == message
