"""AWS's managed policies that Lambda work uses, preloaded with their real documents (`arn:aws:iam::aws:policy/...`,
path as on AWS): attachable to roles and users, listed by ListPolicies with Scope All or AWS, never changed or
deleted. ReadOnlyAccess is cut to the statements for the services Nimbus serves (AWS's lists thousands of actions
of services Nimbus does not have): docs/compatibility.md says so.
"""

from __future__ import annotations

import json
from typing import Any

from nimbus.control.iam_records import AWS_ACCOUNT, ManagedPolicy, PolicyVersion, entity_arn

_LOGS = ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"]


def _doc(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


#: name -> (path, description, version id, document, created: epoch seconds of AWS's CreateDate)
_POLICIES: dict[str, tuple[str, str, str, str, float]] = {
    "AWSLambdaBasicExecutionRole": (
        "/service-role/", "Provides write permissions to CloudWatch Logs.", "v1",
        _doc({"Effect": "Allow", "Action": _LOGS, "Resource": "*"}), 1428944751.0,
    ),
    "AWSLambdaSQSQueueExecutionRole": (
        "/service-role/", "Provides receive message, delete message, and read attribute access to SQS queues, and "
        "write permissions to CloudWatch logs.", "v2",
        _doc({"Effect": "Allow", "Action": ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes",
                                            *_LOGS], "Resource": "*"}), 1480457493.0,
    ),
    "AWSLambdaRole": (
        "/service-role/", "Default policy for AWS Lambda service role.", "v1",
        _doc({"Effect": "Allow", "Action": ["lambda:InvokeFunction"], "Resource": ["*"]}), 1423262563.0,
    ),
    "AWSLambda_FullAccess": (
        "/", "Grants full access to AWS Lambda service, AWS Lambda console features, and other related AWS "
        "services.", "v1",
        _doc(
            {"Effect": "Allow", "Action": [
                "cloudformation:DescribeStacks", "cloudformation:ListStackResources", "cloudwatch:ListMetrics",
                "cloudwatch:GetMetricData", "ec2:DescribeSecurityGroups", "ec2:DescribeSubnets", "ec2:DescribeVpcs",
                "kms:ListAliases", "iam:GetPolicy", "iam:GetPolicyVersion", "iam:GetRole", "iam:GetRolePolicy",
                "iam:ListAttachedRolePolicies", "iam:ListRolePolicies", "iam:ListRoles", "lambda:*",
                "logs:DescribeLogGroups", "states:DescribeStateMachine", "states:ListStateMachines",
                "tag:GetResources", "xray:GetTraceSummaries", "xray:BatchGetTraces",
            ], "Resource": "*"},
            {"Effect": "Allow", "Action": "iam:PassRole", "Resource": "*",
             "Condition": {"StringEquals": {"iam:PassedToService": "lambda.amazonaws.com"}}},
            {"Effect": "Allow", "Action": ["logs:DescribeLogStreams", "logs:GetLogEvents", "logs:FilterLogEvents"],
             "Resource": "arn:aws:logs:*:*:log-group:/aws/lambda/*"},
        ), 1605647648.0,
    ),
    "AmazonSQSFullAccess": (
        "/", "Provides full access to Amazon SQS via the AWS Management Console.", "v1",
        _doc({"Action": ["sqs:*"], "Effect": "Allow", "Resource": "*"}), 1423262567.0,
    ),
    "AmazonSNSFullAccess": (
        "/", "Provides full access to Amazon SNS via the AWS Management Console.", "v1",
        _doc({"Action": ["sns:*"], "Effect": "Allow", "Resource": "*"}), 1423262567.0,
    ),
    "ReadOnlyAccess": (
        "/", "Provides read-only access to AWS services and resources.", "v1",
        _doc({"Effect": "Allow", "Resource": "*", "Action": [
            "apigateway:GET", "events:Describe*", "events:List*", "events:Test*", "iam:Generate*", "iam:Get*",
            "iam:List*", "iam:Simulate*", "lambda:Get*", "lambda:List*", "logs:Describe*", "logs:FilterLogEvents",
            "logs:Get*", "logs:ListTagsForResource", "logs:ListTagsLogGroup", "logs:StartQuery", "logs:StopQuery",
            "logs:TestMetricFilter", "scheduler:Get*", "scheduler:List*", "sns:Check*", "sns:Get*", "sns:List*",
            "sqs:Get*", "sqs:List*", "sqs:Receive*",
        ]}), 1423262559.0,
    ),
    "AdministratorAccess": (
        "/", "Provides full access to AWS services and resources.", "v1",
        _doc({"Effect": "Allow", "Action": "*", "Resource": "*"}), 1423262559.0,
    ),
}


def aws_managed_policies() -> dict[str, ManagedPolicy]:
    """AWS's managed policies Nimbus knows, by ARN (new records each call: callers may hold them)."""
    out: dict[str, ManagedPolicy] = {}
    for name, (path, description, version, document, created) in _POLICIES.items():
        arn = entity_arn(AWS_ACCOUNT, "policy", path, name)
        policy_id = "ANPA" + name.upper().replace("_", "")[:17].ljust(17, "X")
        out[arn] = ManagedPolicy(arn, name, policy_id, path, description, {}, created, version,
                                 int(version[1:]) + 1, {version: PolicyVersion(version, document, created)},
                                 aws=True)  # fmt: skip
    return out
