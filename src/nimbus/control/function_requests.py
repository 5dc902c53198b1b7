"""What CreateFunction, UpdateFunctionConfiguration and UpdateFunctionCode bodies make of a function's
configuration and code, each member checked as Lambda checks it.

Apart from `validation.py`, which holds Lambda's single-value limits and name rules (memory, timeout, environment,
handler, role, function references) that these requests and others share: here is the request as a whole (which
members it needs, which it may not carry, its package), built from those checks and `function_settings.py`'s.
Pure: the runtime check, the layer check and the architecture fallback are the caller's, passed in.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Mapping
from typing import Any

from nimbus.control import function_settings as settings_rules
from nimbus.control import validation as v
from nimbus.errors import InvalidParameterValue

#: PackageType Image: Nimbus runs no container images, and says so before asking for a Runtime and Handler
IMAGE_UNSUPPORTED = (
    "Nimbus does not support container images (PackageType Image): package the function as a .zip "
    "(PackageType Zip, the default) with a Runtime and a Handler."
)

def create_request(body: Mapping[str, Any]) -> str:
    """The name a CreateFunction body asks for, once the fields a Zip function cannot go without are there."""
    name = v.function_name(body.get("FunctionName"))
    if body.get("PackageType", "Zip") != "Zip":  # before the Zip fields, which an image function leaves out
        raise InvalidParameterValue(IMAGE_UNSUPPORTED)
    for required in ("Role", "Code"):
        if required not in body:
            raise InvalidParameterValue(f"{required} is required.")
    if "Runtime" not in body or "Handler" not in body:
        raise InvalidParameterValue("Runtime and Handler are required for Zip functions.")
    return name


def zip_file(code: Any) -> bytes:
    """The deployment package of a `Code` object (or an UpdateFunctionCode body): base64 ZipFile bytes only."""
    if not isinstance(code, Mapping):
        raise InvalidParameterValue("Code must be an object with a ZipFile member.")
    settings_rules.refuse_source_kms_key(code)
    if "ZipFile" not in code:
        if code.get("S3Bucket") or code.get("ImageUri"):
            raise InvalidParameterValue(
                "Nimbus has no S3 or image registry: upload the deployment package with ZipFile (base64)."
            )
        raise InvalidParameterValue("Code.ZipFile is required.")
    try:
        return base64.b64decode(code["ZipFile"], validate=True)
    except (binascii.Error, TypeError, ValueError):
        raise InvalidParameterValue("Code.ZipFile must be base64-encoded zip bytes.") from None


def function_config(
    body: Mapping[str, Any],
    base: dict[str, Any],
    check_runtime: Callable[[str], None],
    attachable: Callable[[Any], list[dict[str, Any]]],
    run_foreign_architecture: bool = False,
) -> dict[str, Any]:
    """`base` with the configuration fields of a create or update body applied, each checked. The runtime check
    (is it installed here?) and the layer check (do the versions exist?) are the caller's, passed in, and so is
    the architecture_fallback setting. A member Nimbus has nothing behind is refused (function_settings)."""
    settings_rules.refuse_unsupported(body)
    cfg = dict(base)
    if "Runtime" in body:
        if not isinstance(body["Runtime"], str):
            raise InvalidParameterValue("Runtime must be a string.")
        if body["Runtime"] not in v.LAMBDA_RUNTIMES:  # Lambda's service rule, not the model's enum check
            raise InvalidParameterValue(
                f"Value {body['Runtime']} at 'runtime' failed to satisfy constraint: Member must satisfy enum value "
                f"set: [{', '.join(v.RUNTIME_ENUM)}] or be a valid ARN"
            )
        check_runtime(body["Runtime"])
        cfg["Runtime"] = body["Runtime"]
    if "Handler" in body:
        cfg["Handler"] = v.handler(body["Handler"])
    if "MemorySize" in body:
        cfg["MemorySize"] = v.memory_size(body["MemorySize"])
    if "Timeout" in body:
        cfg["Timeout"] = v.timeout(body["Timeout"])
    if "Description" in body:
        cfg["Description"] = v.description(body["Description"])
    if "Environment" in body:
        cfg["Environment"] = {"Variables": v.environment(body["Environment"])}
    if "EphemeralStorage" in body:
        cfg["EphemeralStorage"] = {"Size": v.ephemeral_storage(body["EphemeralStorage"])}
    if "Role" in body:
        cfg["Role"] = v.role(body["Role"])
    if "SnapStart" in body:
        cfg["SnapStart"] = v.snap_start(body["SnapStart"])
    if "Architectures" in body:
        cfg["Architectures"] = settings_rules.architectures(body["Architectures"], run_foreign_architecture)
    if "TracingConfig" in body:
        cfg["TracingConfig"] = settings_rules.tracing_config(body["TracingConfig"])
    if "LoggingConfig" in body:
        cfg["LoggingConfig"] = settings_rules.logging_config(
            body["LoggingConfig"], cfg.get("LoggingConfig") or {}, cfg["FunctionName"]
        )
    if "VpcConfig" in body:
        cfg["VpcConfig"] = settings_rules.vpc_config(body["VpcConfig"])
    if "KMSKeyArn" in body:
        cfg.pop("KMSKeyArn", None)
        if key := settings_rules.kms_key_arn(body["KMSKeyArn"]):
            cfg["KMSKeyArn"] = key
    if body.get("PackageType", "Zip") != "Zip":
        raise InvalidParameterValue(IMAGE_UNSUPPORTED)
    if "DeadLetterConfig" in body:
        target = dead_letter_target(body["DeadLetterConfig"])
        cfg.pop("DeadLetterConfig", None)
        if target:
            cfg["DeadLetterConfig"] = {"TargetArn": target}
    if "Layers" in body:
        cfg["Layers"] = attachable(body["Layers"])
        if not cfg["Layers"]:
            del cfg["Layers"]
    return cfg


def code_update_settings(body: Mapping[str, Any], run_foreign_architecture: bool = False) -> dict[str, Any]:
    """The configuration an UpdateFunctionCode body changes besides the code: its Architectures (checked as
    CreateFunction checks them); PublishTo is refused by name, never ignored (SourceKMSKeyArn: `zip_file`)."""
    settings_rules.refuse_unsupported({k: body[k] for k in ("PublishTo",) if k in body})
    if "Architectures" in body:
        return {"Architectures": settings_rules.architectures(body["Architectures"], run_foreign_architecture)}
    return {}


def dead_letter_target(value: Any) -> str:
    """DeadLetterConfig.TargetArn: a built-in queue's ARN, or "" (none: an update with "" removes it)."""
    if not isinstance(value, dict) or set(value) - {"TargetArn"}:
        raise InvalidParameterValue("DeadLetterConfig must be an object with a TargetArn.")
    target = value.get("TargetArn") or ""
    if isinstance(target, str) and ":sns:" in target:
        raise InvalidParameterValue(
            f"The provided DeadLetterConfig TargetArn {target} is an SNS topic: Nimbus takes a built-in queue's ARN "
            "(arn:aws:sqs:<region>:<account>:<queue>) as a function's dead-letter target."
        )
    if not isinstance(target, str) or (target and not v.DLQ_ARN_RE.fullmatch(target)) or ":__nimbus" in target:
        raise InvalidParameterValue(
            f"The provided DeadLetterConfig TargetArn {target} is invalid: Nimbus takes a built-in queue's ARN "
            "(arn:aws:sqs:<region>:<account>:<queue>)."
        )
    return target
