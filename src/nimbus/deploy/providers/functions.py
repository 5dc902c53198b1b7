"""AWS::Lambda::Function through the registry, as CreateFunction / UpdateFunctionCode / UpdateFunctionConfiguration
/ TagResource / PutFunctionConcurrency would: the same validation, the same durable record.

`Code` reaches here packaged by the engine: `{"ZipFile": <zip bytes>}`, `{"CodeSha256": <hex>}` (a zip of
this deploy, in `StackContext.code`, or one uploaded to the code store before it), or CloudFormation's inline
`{"ZipFile": "<source>"}`, which becomes a zip holding `index.py` / `index.js` (the file name CloudFormation gives
inline code). Ref is the function name, `Arn` its ARN.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping
from typing import Any

from nimbus.deploy.code import inline_zip
from nimbus.deploy.provider import Made, StackContext
from nimbus.deploy.providers.common import gone_ok, name_of, numbers, stack_tags
from nimbus.errors import InvalidParameterValue

#: the configuration members a template and UpdateFunctionConfiguration share, by the same names
CONFIG_KEYS = (
    "Description", "Environment", "EphemeralStorage", "Handler", "Layers", "MemorySize", "Role", "Runtime",
    "SnapStart", "Timeout", "TracingConfig", "DeadLetterConfig", "KmsKeyArn", "LoggingConfig", "VpcConfig",
    "FileSystemConfigs", "ImageConfig", "RuntimeManagementConfig",
)  # fmt: skip
#: what a member removed from the template goes back to (Lambda's defaults)
RESETS: dict[str, Any] = {
    "Description": "", "Environment": {"Variables": {}}, "EphemeralStorage": {"Size": 512}, "Layers": [],
    "MemorySize": 128, "Timeout": 3, "TracingConfig": {"Mode": "PassThrough"}, "SnapStart": {"ApplyOn": "None"},
    "DeadLetterConfig": {"TargetArn": ""},
}  # fmt: skip
#: CloudFormation's "Update requires: Replacement" members
REPLACING = ("FunctionName", "PackageType")
INTS = ("MemorySize", "Timeout")
#: the longest name a function can have
NAME_MAX = 64


def package(ctx: StackContext, code: Any, runtime: str, prop: str = "Code") -> bytes:
    """The zip bytes a `Code` (or a layer's `Content`) property stands for."""
    if not isinstance(code, Mapping):
        raise InvalidParameterValue(f"{prop} must be an object.")
    if "CodeSha256" in code:
        digest = str(code["CodeSha256"])
        data = ctx.code.get(digest)
        if data is not None:
            return data
        blob = ctx.services.codes.blob_path(digest) if re.fullmatch(r"[0-9a-f]{64}", digest) else None
        if blob is None or not blob.is_file():
            raise InvalidParameterValue(f"{prop}: no package with CodeSha256 {digest} in this deploy or the code "
                                        "store.")  # fmt: skip
        return blob.read_bytes()
    zipped = code.get("ZipFile")
    if isinstance(zipped, bytes):
        return zipped
    if isinstance(zipped, str):
        return inline_zip(zipped, runtime)
    if code.get("S3Bucket") or code.get("ImageUri"):
        raise InvalidParameterValue(f"{prop}: Nimbus has no S3 or image registry: give local code (CodeUri) or "
                                    "inline code (ZipFile / InlineCode).")  # fmt: skip
    raise InvalidParameterValue(f"{prop} needs ZipFile or a packaged CodeUri.")


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


class Functions:
    types: tuple[str, ...] = ("AWS::Lambda::Function",)

    def replaces(self, type_: str, old: Mapping[str, Any], new: Mapping[str, Any]) -> bool:
        return any(old.get(k) != new.get(k) for k in REPLACING)

    def _made(self, ctx: StackContext, name: str) -> Made:
        return Made(name, name, {"Arn": ctx.services.registry.function_arn(name)})

    async def create(self, ctx: StackContext, type_: str, logical_id: str, props: Mapping[str, Any]) -> Made:
        name = name_of(ctx, logical_id, props, "FunctionName", NAME_MAX)
        body = numbers({k: props[k] for k in (*CONFIG_KEYS, "Architectures", "PackageType") if k in props}, INTS)
        body |= {
            "FunctionName": name,
            "Tags": stack_tags(ctx, logical_id, props),
            "Code": {"ZipFile": b64(package(ctx, props.get("Code"), str(props.get("Runtime", ""))))},
        }
        registry = ctx.services.registry
        await registry.create(body)
        try:
            if props.get("ReservedConcurrentExecutions") is not None:
                await ctx.services.concurrency.set_reserved(name, _reserved(props))
        except BaseException:
            await gone_ok(registry.delete(name))  # not half made: the stack's record has no id for it yet
            raise
        return self._made(ctx, name)

    async def update(self, ctx: StackContext, type_: str, logical_id: str, physical_id: str,
                     old: Mapping[str, Any], new: Mapping[str, Any]) -> Made:  # fmt: skip
        registry = ctx.services.registry
        name = physical_id
        config = numbers({k: new[k] for k in CONFIG_KEYS if k in new and new[k] != old.get(k)}, INTS)
        config |= {k: RESETS[k] for k in CONFIG_KEYS if k in old and k not in new and k in RESETS}
        if "LoggingConfig" in old and "LoggingConfig" not in new:  # Lambda's default: text, the function's group
            config["LoggingConfig"] = {"LogFormat": "Text", "LogGroup": f"/aws/lambda/{name}"}
        if config:
            await registry.update_config(name, config)
        if old.get("Code") != new.get("Code") or old.get("Architectures") != new.get("Architectures"):
            body: dict[str, Any] = {"ZipFile": b64(package(ctx, new.get("Code"), str(new.get("Runtime", ""))))}
            if "Architectures" in new:
                body["Architectures"] = new["Architectures"]
            await registry.update_code(name, body)
        tags, old_tags = stack_tags(ctx, logical_id, new), stack_tags(ctx, logical_id, old)
        if tags != old_tags:
            await registry.set_tags(name, tags, [k for k in old_tags if k not in tags])
        if old.get("ReservedConcurrentExecutions") != new.get("ReservedConcurrentExecutions"):
            await ctx.services.concurrency.set_reserved(name, _reserved(new))
        return self._made(ctx, name)

    async def delete(self, ctx: StackContext, type_: str, logical_id: str, physical_id: str,
                     props: Mapping[str, Any]) -> None:  # fmt: skip
        # a name the template gives is the function's whatever id the engine holds (a guess after a crash)
        await gone_ok(ctx.services.registry.delete(str(props.get("FunctionName") or physical_id)))


def _reserved(props: Mapping[str, Any]) -> int | None:
    value = props.get("ReservedConcurrentExecutions")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | str) or not str(value).isdigit():
        raise InvalidParameterValue("ReservedConcurrentExecutions must be a whole number.")
    return int(value)
