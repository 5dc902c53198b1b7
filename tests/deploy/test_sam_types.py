"""Every resource type aws-sam-translator emits for the SAM features issue 16 lists has a provider, so a template
using them is never refused as unsupported: each event type (Api, HttpApi, SQS, SNS, Schedule, ScheduleV2,
EventBridgeRule, CloudWatchEvent), FunctionUrlConfig, Layers, AutoPublishAlias with DeploymentPreference,
ProvisionedConcurrencyConfig, ReservedConcurrentExecutions, SnapStart, EventInvokeConfig with destinations,
DeadLetterQueue, policy templates, and explicit HttpApi/Api resources. Run through the transform `nimbus deploy`
runs (the translator itself), not a list written by hand."""

from __future__ import annotations

from typing import Any

import pytest

from nimbus.deploy.package import transform
from nimbus.deploy.providers import SUPPORTED_TYPES, provider_for
from nimbus.deploy.template import load_template

HEAD = """\
Transform: AWS::Serverless-2016-10-31
Globals:
  Function:
    Runtime: python3.12
    Handler: app.handler
    CodeUri: s3://nimbus-code/1111111111111111111111111111111111111111111111111111111111111111
Resources:
  Q:
    Type: AWS::SQS::Queue
  T:
    Type: AWS::SNS::Topic
  Bus:
    Type: AWS::Events::EventBus
    Properties:
      Name: bus
"""
FEATURES = {
    "api": "Events: {E: {Type: Api, Properties: {Path: /a, Method: GET}}}",
    "http_api": "Events: {E: {Type: HttpApi, Properties: {Path: /a, Method: GET}}}",
    "sqs": "Events: {E: {Type: SQS, Properties: {Queue: !GetAtt Q.Arn, BatchSize: 5}}}",
    "sns": "Events: {E: {Type: SNS, Properties: {Topic: !Ref T, SqsSubscription: false}}}",
    "sns_via_queue": "Events: {E: {Type: SNS, Properties: {Topic: !Ref T, SqsSubscription: true}}}",
    "schedule": "Events: {E: {Type: Schedule, Properties: {Schedule: rate(5 minutes), Input: '{}'}}}",
    "schedule_v2": "Events: {E: {Type: ScheduleV2, Properties: {ScheduleExpression: rate(5 minutes)}}}",
    "eventbridge_rule": "Events: {E: {Type: EventBridgeRule, Properties: {EventBusName: !Ref Bus, "
                        "Pattern: {source: [x]}}}}",
    "cloudwatch_event": "Events: {E: {Type: CloudWatchEvent, Properties: {Pattern: {source: [x]}, "
                        "InputTransformer: {InputPathsMap: {s: $.source}, InputTemplate: '<s>'}}}}",
    "function_url": "FunctionUrlConfig: {AuthType: NONE, Cors: {AllowOrigins: ['*']}}",
    "alias_shifting": "AutoPublishAlias: live\n      DeploymentPreference: {Type: Canary10Percent5Minutes}",
    "provisioned": "AutoPublishAlias: live\n      ProvisionedConcurrencyConfig: {ProvisionedConcurrentExecutions: 1}",
    "reserved_snapstart": "ReservedConcurrentExecutions: 2\n      SnapStart: {ApplyOn: PublishedVersions}",
    "event_invoke_config": "EventInvokeConfig: {MaximumRetryAttempts: 1, DestinationConfig: {OnSuccess: "
                           "{Type: SQS, Destination: !GetAtt Q.Arn}, OnFailure: {Type: SNS, Destination: !Ref T}}}",
    "dead_letter_queue": "DeadLetterQueue: {Type: SQS, TargetArn: !GetAtt Q.Arn}",
    "policy_templates": "Policies: [SQSSendMessagePolicy: {QueueName: !GetAtt Q.QueueName}, "
                        "AWSLambdaBasicExecutionRole]",
    "layers": "Layers: [!Ref Shared]",
}  # fmt: skip
EXTRA = """\
  Shared:
    Type: AWS::Serverless::LayerVersion
    Properties:
      ContentUri: s3://nimbus-code/0000000000000000000000000000000000000000000000000000000000000000
  MyHttpApi:
    Type: AWS::Serverless::HttpApi
    Properties:
      StageName: prod
      CorsConfiguration: {AllowOrigins: ['*']}
  MyApi:
    Type: AWS::Serverless::Api
    Properties:
      StageName: dev
  LogGroup:
    Type: AWS::Logs::LogGroup
    Properties:
      RetentionInDays: 7
"""


def _types(feature: str) -> set[str]:
    function = "  Fn:\n    Type: AWS::Serverless::Function\n    Properties:\n      " + FEATURES[feature] + "\n"
    text = HEAD + EXTRA + function
    if feature != "api":  # an Api resource with no event has no methods: the translator refuses it
        text = text.replace("  MyApi:\n    Type: AWS::Serverless::Api\n    Properties:\n      StageName: dev\n", "")
    out: dict[str, Any] = transform(load_template(text), "us-east-1", {})
    return {str(r["Type"]) for r in out["Resources"].values()}


@pytest.mark.parametrize("feature", sorted(FEATURES))
def test_every_type_the_translator_emits_has_a_provider(feature: str) -> None:
    types = _types(feature)
    assert "AWS::Lambda::Function" in types
    missing = sorted(t for t in types if provider_for(t) is None)
    assert missing == [], f"{feature}: no provider for {missing}"


def test_the_list_of_supported_types() -> None:
    assert "AWS::S3::Bucket" not in SUPPORTED_TYPES
    assert provider_for("AWS::DynamoDB::Table") is None
    assert len(SUPPORTED_TYPES) == len(set(SUPPORTED_TYPES)) == 31
