"""AWS::Lambda::Permission, EventSourceMapping, Url and EventInvokeConfig through their services, named as SAM names
functions (an alias ARN from `Ref`): a permission added to the alias's policy and removed; a mapping from a queue
made, updated in place (a removed BatchSize back to 10), replaced on a new source, deleted; a URL with its
FunctionUrl and FunctionArn, updated in place, deleted; an event invoke config with a queue destination put,
updated, deleted; each refused as the API refuses it (Lambda's model, then the service), each delete idempotent."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from providers_support import INLINE, Stack, run

from nimbus.errors import InvalidParameterValue, ResourceNotFound, ValidationError

ARN = "arn:aws:lambda:us-east-1:000000000000:function:fn"


async def _function_with_alias(stack: Stack) -> str:
    await stack.put("Fn", "AWS::Lambda::Function", INLINE | {"FunctionName": "fn"})
    await stack.put("V", "AWS::Lambda::Version", {"FunctionName": "fn"})
    alias = await stack.put("A", "AWS::Lambda::Alias", {"FunctionName": "fn", "Name": "live", "FunctionVersion": "1"})
    return alias.ref


def test_permission_on_an_alias_added_and_removed(tmp_path: Path) -> None:
    async def body(stack: Stack) -> None:
        alias = await _function_with_alias(stack)
        props = {"FunctionName": alias, "Action": "lambda:InvokeFunction", "Principal": "sns.amazonaws.com",
                 "SourceArn": "arn:aws:sns:us-east-1:000000000000:t"}  # fmt: skip
        made = await stack.put("P", "AWS::Lambda::Permission", props)
        policy = stack.services.policies.get("fn", "live")
        assert [s["Sid"] for s in json.loads(policy.text())["Statement"]] == [made.ref]
        assert stack.replaces("P", props | {"Principal": "events.amazonaws.com"})
        await stack.delete("P")
        with pytest.raises(ResourceNotFound):
            stack.services.policies.get("fn", "live")
        # SAM's FunctionUrlConfig with AuthType NONE: public InvokeFunctionUrl, and InvokeFunction via the URL only
        await stack.put("UrlPublic", "AWS::Lambda::Permission", {"FunctionName": alias, "Principal": "*",
                        "Action": "lambda:InvokeFunctionUrl", "FunctionUrlAuthType": "NONE"})  # fmt: skip
        via = await stack.put("ViaUrl", "AWS::Lambda::Permission", {"FunctionName": alias, "Principal": "*",
                              "Action": "lambda:InvokeFunction", "InvokedViaFunctionUrl": True})  # fmt: skip
        statements = json.loads(stack.services.policies.get("fn", "live").text())["Statement"]
        assert [s["Condition"] for s in statements if s["Sid"] == via.ref] == [
            {"Bool": {"lambda:InvokedViaFunctionUrl": "true"}}]  # fmt: skip
        with pytest.raises(ValidationError, match="action"):
            await stack.put("Q", "AWS::Lambda::Permission", props | {"Action": "not an action"})

    run(tmp_path, body)


def test_event_source_mapping_made_updated_replaced_deleted(tmp_path: Path) -> None:
    async def body(stack: Stack) -> None:
        alias = await _function_with_alias(stack)
        q1 = await stack.put("Q1", "AWS::SQS::Queue", {"QueueName": "q1"})
        q2 = await stack.put("Q2", "AWS::SQS::Queue", {"QueueName": "q2"})
        props = {"FunctionName": alias, "EventSourceArn": q1.attributes["Arn"], "BatchSize": "5"}
        made = await stack.put("M", "AWS::Lambda::EventSourceMapping", props)
        assert made.attributes["EventSourceMappingArn"].endswith(f":event-source-mapping:{made.ref}")
        mappings = stack.services.mappings
        rec = mappings.get(made.ref)
        assert (rec.function_name, rec.qualifier, rec.batch_size) == ("fn", "live", 5)
        await stack.put("M", "AWS::Lambda::EventSourceMapping", {"FunctionName": alias,
                                                                  "EventSourceArn": q1.attributes["Arn"],
                                                                  "Enabled": False})  # fmt: skip
        rec = mappings.get(made.ref)
        assert (rec.batch_size, rec.enabled) == (10, False)
        moved = {"FunctionName": alias, "EventSourceArn": q2.attributes["Arn"]}
        assert stack.replaces("M", moved)
        second = await stack.put("M", "AWS::Lambda::EventSourceMapping", moved)
        with pytest.raises(ResourceNotFound):
            mappings.get(made.ref)
        await stack.delete("M")
        with pytest.raises(ResourceNotFound):
            mappings.get(second.ref)
        with pytest.raises(ValidationError, match="batchSize"):
            await stack.put("Bad", "AWS::Lambda::EventSourceMapping", moved | {"BatchSize": 10001})

    run(tmp_path, body)


def test_function_url_and_event_invoke_config(tmp_path: Path) -> None:
    async def body(stack: Stack) -> None:
        alias = await _function_with_alias(stack)
        url = await stack.put("U", "AWS::Lambda::Url", {"TargetFunctionArn": alias, "AuthType": "NONE"})
        assert url.attributes["FunctionArn"] == f"{ARN}:live"
        endpoint = r"http://[a-z0-9]{32}\.lambda-url\.us-east-1\.localhost:9001/"
        assert re.fullmatch(endpoint, url.attributes["FunctionUrl"])
        urls = stack.services.function_urls
        await stack.put("U", "AWS::Lambda::Url", {"TargetFunctionArn": alias, "AuthType": "AWS_IAM",
                                                  "Cors": {"AllowOrigins": ["*"]}})  # fmt: skip
        config = urls.get("fn", "live")
        assert (config.auth_type, config.cors) == ("AWS_IAM", {"AllowOrigins": ["*"]})
        with pytest.raises(ValidationError, match="authType"):
            await stack.put("U2", "AWS::Lambda::Url", {"TargetFunctionArn": "fn", "AuthType": "OPEN"})
        await stack.delete("U")
        with pytest.raises(ResourceNotFound):
            urls.get("fn", "live")

        dlq = await stack.put("D", "AWS::SQS::Queue", {"QueueName": "failures"})
        props = {"FunctionName": "fn", "Qualifier": "live", "MaximumRetryAttempts": "1",
                 "DestinationConfig": {"OnFailure": {"Destination": dlq.attributes["Arn"]}}}  # fmt: skip
        made = await stack.put("E", "AWS::Lambda::EventInvokeConfig", props)
        assert made.ref == "fn|live"
        configs = stack.services.event_configs
        assert configs.get("fn", "live").retries == 1
        await stack.put("E", "AWS::Lambda::EventInvokeConfig", props | {"MaximumRetryAttempts": 0})
        assert configs.get("fn", "live").retries == 0
        with pytest.raises(InvalidParameterValue):
            await stack.put("E2", "AWS::Lambda::EventInvokeConfig", {"FunctionName": "fn", "Qualifier": "$LATEST",
                "DestinationConfig": {"OnFailure": {"Destination": ARN}}})  # fmt: skip
        await stack.delete("E")
        with pytest.raises(ResourceNotFound):
            configs.get("fn", "live")

    run(tmp_path, body)
