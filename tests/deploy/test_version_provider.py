"""AWS::Lambda::Version, Alias and LayerVersion through the versions and layers services: a version published with
its Ref (the version ARN) and GetAtt Version, replaced on a new CodeSha256 or Description and its provisioned
concurrency changed in place; an alias made with CloudFormation's weights list, moved to a new version in place
(SAM's AutoPublishAlias and traffic shifting as plain weights), replaced on a new Name, its provisioned concurrency
kept by the concurrency owner; a layer version published from a packaged zip, replaced on any change, deleted; every
delete idempotent, also after the function is gone."""

from __future__ import annotations

from pathlib import Path

import pytest
from providers_support import INLINE, Stack, run, zip_of

from nimbus.errors import ResourceNotFound, ValidationError

FN = "AWS::Lambda::Function"
ARN = "arn:aws:lambda:us-east-1:000000000000:function:fn"


def test_version_and_alias_publish_shift_and_delete(tmp_path: Path) -> None:
    async def body(stack: Stack) -> None:
        registry = stack.services.registry
        await stack.put("Fn", FN, INLINE | {"FunctionName": "fn"})
        v1 = await stack.put("V1", "AWS::Lambda::Version", {"FunctionName": "fn", "Description": "first"})
        assert v1.ref == f"{ARN}:1"
        assert v1.attributes["Version"] == "1"
        alias = await stack.put("Live", "AWS::Lambda::Alias", {
            "FunctionName": "fn", "Name": "live", "FunctionVersion": "1",
            "ProvisionedConcurrencyConfig": {"ProvisionedConcurrentExecutions": 2},
        })  # fmt: skip
        assert alias.ref == f"{ARN}:live"
        assert stack.services.concurrency.configs.get("fn", "live") is not None
        # new code: SAM publishes a new version (a new logical id) and moves the alias, with weights in between
        await stack.put("Fn", FN, INLINE | {"FunctionName": "fn", "Code": {"ZipFile": "def handler(e, c): return 2"}})
        v2 = await stack.put("V2", "AWS::Lambda::Version", {"FunctionName": "fn"})
        assert v2.attributes["Version"] == "2"
        shifting = {"FunctionName": f"{ARN}", "Name": "live", "FunctionVersion": "1",
                    "RoutingConfig": {"AdditionalVersionWeights": [{"FunctionVersion": "2", "FunctionWeight": 0.1}]}}
        assert not stack.replaces("Live", shifting | {"FunctionName": "fn"})
        await stack.put("Live", "AWS::Lambda::Alias", shifting | {"FunctionName": "fn"})
        config = registry.get("fn").aliases["live"]
        assert config["RoutingConfig"]["AdditionalVersionWeights"] == {"2": 0.1}
        assert stack.services.concurrency.configs.get("fn", "live") is None  # dropped from the template
        await stack.put("Live", "AWS::Lambda::Alias", {"FunctionName": "fn", "Name": "live", "FunctionVersion": "2"})
        config = registry.get("fn").aliases["live"]
        assert config["FunctionVersion"] == "2"
        assert "RoutingConfig" not in config
        # a version's description is a replacement: a new version, the old one deleted
        assert stack.replaces("V1", {"FunctionName": "fn", "Description": "changed"})
        assert not stack.replaces("V2", {"FunctionName": "fn", "ProvisionedConcurrencyConfig": {
            "ProvisionedConcurrentExecutions": 1}})  # fmt: skip
        await stack.delete("V1")
        assert 1 not in registry.get("fn").versions
        await stack.delete("Live")
        assert "live" not in registry.get("fn").aliases
        await stack.delete("Fn")
        await stack.delete("V2")  # the function went first: still no error

    run(tmp_path, body)


def test_alias_refusals_come_from_the_model_and_the_service(tmp_path: Path) -> None:
    async def body(stack: Stack) -> None:
        await stack.put("Fn", FN, INLINE | {"FunctionName": "fn"})
        with pytest.raises(ValidationError, match="name"):
            await stack.put("A", "AWS::Lambda::Alias", {"FunctionName": "fn", "Name": "x" * 129,
                                                        "FunctionVersion": "$LATEST"})  # fmt: skip
        with pytest.raises(ResourceNotFound):
            await stack.put("A", "AWS::Lambda::Alias", {"FunctionName": "fn", "Name": "a", "FunctionVersion": "9"})
        assert stack.services.registry.get("fn").aliases == {}

    run(tmp_path, body)


def test_layer_version_publish_replace_delete(tmp_path: Path) -> None:
    async def body(stack: Stack) -> None:
        layers = stack.services.layers
        stack.code = {"l1": zip_of("python/shared.py", "A = 1"), "l2": zip_of("python/shared.py", "A = 2")}
        props = {"LayerName": "shared", "Content": {"CodeSha256": "l1"}, "CompatibleRuntimes": ["python3.12"]}
        made = await stack.put("Layer", "AWS::Lambda::LayerVersion", props)
        assert made.ref == "arn:aws:lambda:us-east-1:000000000000:layer:shared:1"
        assert made.attributes["LayerVersionArn"] == made.ref
        await stack.put("Fn", FN, INLINE | {"FunctionName": "fn", "Layers": [made.ref]})
        assert stack.services.registry.get("fn").config["Layers"][0]["Arn"] == made.ref
        changed = props | {"Content": {"CodeSha256": "l2"}}
        assert stack.replaces("Layer", changed)
        second = await stack.put("Layer", "AWS::Lambda::LayerVersion", changed)
        assert second.ref.endswith(":shared:2")
        with pytest.raises(ResourceNotFound):
            layers.get("shared", 1)
        unnamed = await stack.put("Other", "AWS::Lambda::LayerVersion", {"Content": {"CodeSha256": "l1"}})
        assert ":layer:app-Other-" in unnamed.ref
        await stack.delete("Layer")
        with pytest.raises(ResourceNotFound):
            layers.get("shared", 2)

    run(tmp_path, body)
