"""AWS::Lambda::Function through the registry: create (inline code, a packaged zip, a generated name with the
stack's tags, reserved concurrency), update in place (configuration only, code only, a removed member back to
Lambda's default, tags), replacement on FunctionName, idempotent delete, and the registry's own validation refusing
what CreateFunction refuses (nothing left half made)."""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

import pytest
from providers_support import INLINE, ROLE, Stack, run, zip_of

from nimbus.deploy.provider import LOGICAL_ID_TAG, STACK_NAME_TAG
from nimbus.errors import InvalidParameterValue, NimbusError, ResourceNotFound, ValidationError


def test_create_with_inline_code_a_generated_name_and_the_stack_tags(tmp_path: Path) -> None:
    async def body(stack: Stack) -> None:
        made = await stack.put("Fn", "AWS::Lambda::Function", INLINE | {"ReservedConcurrentExecutions": 3})
        assert re.fullmatch(r"app-Fn-[A-Z0-9]{13}", made.ref)
        assert made.physical_id == made.ref
        assert made.attributes["Arn"] == f"arn:aws:lambda:us-east-1:000000000000:function:{made.ref}"
        rec = stack.services.registry.get(made.ref)
        assert rec.tags[STACK_NAME_TAG] == "app"
        assert rec.tags[LOGICAL_ID_TAG] == "Fn"
        assert rec.reserved_concurrency == 3
        code = zipfile.ZipFile(stack.services.codes.blob_path(rec.code_sha256))
        assert code.read("index.py").decode() == INLINE["Code"]["ZipFile"]

    run(tmp_path, body)


def test_update_in_place_config_code_resets_and_tags(tmp_path: Path) -> None:
    async def body(stack: Stack) -> None:
        v1 = zip_of("app.py", "def handler(e, c):\n    return 1\n")
        v2 = zip_of("app.py", "def handler(e, c):\n    return 2\n")
        stack.code = {"a1": v1, "a2": v2}
        first = {"FunctionName": "shop", "Runtime": "python3.12", "Handler": "app.handler", "Role": ROLE,
                 "Code": {"CodeSha256": "a1"}, "MemorySize": "256", "Description": "one",
                 "Tags": [{"Key": "team", "Value": "a"}]}  # fmt: skip
        made = await stack.put("Fn", "AWS::Lambda::Function", first)
        assert made.ref == "shop"
        registry = stack.services.registry
        sha = registry.get("shop").code_sha256
        assert registry.get("shop").config["MemorySize"] == 256  # a Number parameter's string, coerced
        # configuration only: the code stays
        second = first | {"Timeout": 9, "Tags": [{"Key": "team", "Value": "b"}]}
        del second["Description"]
        assert not stack.replaces("Fn", second)
        await stack.put("Fn", "AWS::Lambda::Function", second)
        rec = registry.get("shop")
        assert rec.code_sha256 == sha
        assert rec.config["Timeout"] == 9
        assert rec.config["Description"] == ""
        assert rec.tags["team"] == "b"
        assert rec.tags[STACK_NAME_TAG] == "app"
        # code only
        await stack.put("Fn", "AWS::Lambda::Function", second | {"Code": {"CodeSha256": "a2"}})
        rec = registry.get("shop")
        assert rec.code_sha256 != sha
        assert rec.config["Timeout"] == 9
        # a renamed function is a replacement: the new one made, the old one gone
        third = second | {"FunctionName": "shop2", "Code": {"CodeSha256": "a2"}}
        assert stack.replaces("Fn", third)
        await stack.put("Fn", "AWS::Lambda::Function", third)
        assert registry.get("shop2")
        assert "shop" not in registry.names()
        await stack.delete("Fn")
        assert registry.names() == []

    run(tmp_path, body)


def test_refusals_are_the_registrys_and_leave_nothing(tmp_path: Path) -> None:
    async def body(stack: Stack) -> None:
        with pytest.raises(ValidationError, match="memorySize"):
            await stack.put("Fn", "AWS::Lambda::Function", INLINE | {"MemorySize": 127})
        with pytest.raises(InvalidParameterValue, match="S3"):
            await stack.put("Fn", "AWS::Lambda::Function", INLINE | {"Code": {"S3Bucket": "b", "S3Key": "k"}})
        with pytest.raises(InvalidParameterValue, match="CodeSha256"):
            await stack.put("Fn", "AWS::Lambda::Function", INLINE | {"Code": {"CodeSha256": "missing"}})
        with pytest.raises(NimbusError):  # a reservation past the account's unreserved minimum: the function goes
            await stack.put(
                "Fn", "AWS::Lambda::Function", INLINE | {"FunctionName": "f", "ReservedConcurrentExecutions": 100_000}
            )
        assert stack.services.registry.names() == []
        with pytest.raises(ResourceNotFound):
            stack.services.registry.get("f")

    run(tmp_path, body)


def test_code_uploaded_to_the_code_store_before_the_deploy(tmp_path: Path) -> None:
    async def body(stack: Stack) -> None:
        info = stack.services.codes.put(zip_of("app.py", "def handler(e, c):\n    return 3\n"))
        props = {"FunctionName": "up", "Runtime": "python3.12", "Handler": "app.handler", "Role": ROLE,
                 "Code": {"CodeSha256": info.sha256_hex}}  # fmt: skip
        await stack.put("Fn", "AWS::Lambda::Function", props)
        assert stack.services.registry.get("up").code_sha256 == info.sha256_hex
        with pytest.raises(InvalidParameterValue, match="code store"):
            await stack.put("Fn2", "AWS::Lambda::Function", props | {"FunctionName": "f2",
                                                                     "Code": {"CodeSha256": "0" * 64}})  # fmt: skip

    run(tmp_path, body)


def test_members_removed_from_the_template_go_back_to_lambdas_defaults(tmp_path: Path) -> None:
    async def body(stack: Stack) -> None:
        full = INLINE | {
            "FunctionName": "fn", "DeadLetterConfig": {"TargetArn": "arn:aws:sqs:us-east-1:000000000000:q"},
            "TracingConfig": {"Mode": "Active"}, "SnapStart": {"ApplyOn": "PublishedVersions"},
            "EphemeralStorage": {"Size": 1024}, "Environment": {"Variables": {"KEY": "1"}},
            "LoggingConfig": {"LogFormat": "JSON", "LogGroup": "/custom"}, "Timeout": 30, "MemorySize": 1024,
        }  # fmt: skip
        await stack.put("Fn", "AWS::Lambda::Function", full)
        await stack.put("Fn", "AWS::Lambda::Function", INLINE | {"FunctionName": "fn"})
        config = stack.services.registry.get("fn").config
        assert config.get("DeadLetterConfig") is None
        assert config["TracingConfig"] == {"Mode": "PassThrough"}
        assert config["SnapStart"]["ApplyOn"] == "None"
        assert config["EphemeralStorage"] == {"Size": 512}
        assert config["Environment"] == {"Variables": {}}
        assert config["LoggingConfig"] == {"LogFormat": "Text", "LogGroup": "/aws/lambda/fn"}
        assert (config["Timeout"], config["MemorySize"]) == (3, 128)

    run(tmp_path, body)
