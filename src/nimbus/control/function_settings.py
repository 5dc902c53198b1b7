"""Lambda's function settings beyond code and limits: tracing, logging controls, architecture, VPC, KMS key, and
the settings Nimbus cannot honour.

The rule is that nothing a request sets is accepted and then silently dropped: each setting is checked as Lambda
checks it, kept in the FunctionConfiguration as Lambda returns it, and (where Nimbus can) acted on; a setting
Nimbus cannot act on at all is refused with a message that says so, rather than stored and ignored. Pure checks:
the host's architecture and the fallback setting are passed in.
"""

from __future__ import annotations

import platform
import re
from collections.abc import Mapping
from typing import Any

from nimbus.errors import InvalidParameterValue, ValidationError

TRACING_MODES = ("Active", "PassThrough")
LOG_FORMATS = ("Text", "JSON")
APPLICATION_LOG_LEVELS = ("TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL")
SYSTEM_LOG_LEVELS = ("DEBUG", "INFO", "WARN")
LOG_GROUP_RE = re.compile(r"[.\-_/#A-Za-z0-9]{1,512}")
KMS_KEY_RE = re.compile(r"arn:(aws[a-zA-Z-]*)?:[a-z0-9-.]+:.*")
ARCHITECTURES = ("x86_64", "arm64")
#: what platform.machine() says for each Lambda architecture
_MACHINES = {"x86_64": "x86_64", "amd64": "x86_64", "aarch64": "arm64", "arm64": "arm64"}

#: CreateFunction / UpdateFunctionConfiguration members Nimbus has nothing behind: refused, never stored unused
UNSUPPORTED = {
    "FileSystemConfigs": "Nimbus mounts no EFS or S3 file systems (FileSystemConfigs): use the ephemeral /tmp "
    "(EphemeralStorage) or a service the function reaches over the network.",
    "ImageConfig": "Nimbus does not support container images, so ImageConfig does not apply: package the function "
    "as a .zip (PackageType Zip).",
    "CodeSigningConfigArn": "Nimbus does not verify code signatures (CodeSigningConfigArn): deploy without one.",
    "CapacityProviderConfig": "Nimbus runs functions on its own host: Lambda Managed Instances "
    "(CapacityProviderConfig) are not supported.",
    "DurableConfig": "Nimbus does not support durable functions (DurableConfig).",
    "TenancyConfig": "Nimbus does not support tenant isolation mode (TenancyConfig).",
    "PublishTo": "Nimbus does not support PublishTo.",
}


def host_architecture() -> str:
    """The Lambda architecture this host runs natively ("x86_64" or "arm64"; the machine's own name otherwise)."""
    machine = platform.machine().lower()
    return _MACHINES.get(machine, machine)


def _empty(value: Any) -> bool:
    return value is None or value == [] or value == {} or value == ""


def refuse_unsupported(body: Mapping[str, Any]) -> None:
    """InvalidParameterValue for a member Nimbus cannot honour (an empty one asks for nothing and passes)."""
    for member, message in UNSUPPORTED.items():
        if member in body and not _empty(body[member]):
            raise InvalidParameterValue(message)


def refuse_source_kms_key(code: Mapping[str, Any]) -> None:
    """Code.SourceKMSKeyArn (or UpdateFunctionCode's): Nimbus keeps deployment packages unencrypted on its own disk,
    so a customer key would be accepted and not used: refused instead."""
    if not _empty(code.get("SourceKMSKeyArn")):
        raise InvalidParameterValue(
            "Nimbus stores deployment packages on its own disk without a customer managed key: send the code "
            "without SourceKMSKeyArn."
        )


def _enum_error(value: Any, where: str, allowed: tuple[str, ...]) -> ValidationError:
    return ValidationError(
        f"1 validation error detected: Value '{value}' at '{where}' failed to satisfy constraint: "
        f"Member must satisfy enum value set: [{', '.join(allowed)}]"
    )


def tracing_config(value: Any) -> dict[str, str]:
    """TracingConfig.Mode: Active or PassThrough (Lambda's default)."""
    if not isinstance(value, Mapping) or set(value) - {"Mode"}:
        raise InvalidParameterValue("TracingConfig must be an object with a Mode.")
    mode = value.get("Mode", "PassThrough")
    if mode not in TRACING_MODES:
        raise _enum_error(mode, "tracingConfig.mode", TRACING_MODES)
    return {"Mode": mode}


def logging_config(value: Any, current: Mapping[str, Any], function_name: str) -> dict[str, str]:
    """LoggingConfig merged onto the current one, with Lambda's rules: log levels only with the JSON format (a
    switch to JSON brings the default levels INFO, a switch to Text drops them), LogGroup defaulting to
    /aws/lambda/<name>."""
    if not isinstance(value, Mapping) or set(value) - {"LogFormat", "ApplicationLogLevel", "SystemLogLevel",
                                                      "LogGroup"}:  # fmt: skip
        raise InvalidParameterValue(
            "LoggingConfig must be an object with LogFormat, ApplicationLogLevel, SystemLogLevel or LogGroup."
        )
    fmt = value.get("LogFormat", current.get("LogFormat", "Text"))
    if fmt not in LOG_FORMATS:
        raise _enum_error(fmt, "loggingConfig.logFormat", LOG_FORMATS)
    app, system = value.get("ApplicationLogLevel"), value.get("SystemLogLevel")
    if app is not None and app not in APPLICATION_LOG_LEVELS:
        raise _enum_error(app, "loggingConfig.applicationLogLevel", APPLICATION_LOG_LEVELS)
    if system is not None and system not in SYSTEM_LOG_LEVELS:
        raise _enum_error(system, "loggingConfig.systemLogLevel", SYSTEM_LOG_LEVELS)
    group = value.get("LogGroup") or current.get("LogGroup") or f"/aws/lambda/{function_name}"
    if not isinstance(group, str) or not LOG_GROUP_RE.fullmatch(group):
        raise ValidationError(
            f"1 validation error detected: Value '{group}' at 'loggingConfig.logGroup' failed to satisfy "
            "constraint: Member must satisfy regular expression pattern: [\\.\\-_/#A-Za-z0-9]+"
        )
    out = {"LogFormat": fmt, "LogGroup": group}
    if fmt == "JSON":
        out["ApplicationLogLevel"] = app or current.get("ApplicationLogLevel") or "INFO"
        out["SystemLogLevel"] = system or current.get("SystemLogLevel") or "INFO"
    elif app is not None or system is not None:
        raise InvalidParameterValue(
            "LogLevel is not supported when LogFormat is set to \"Text\". Remove LogLevel from your request or "
            "change the LogFormat to \"JSON\" and try again."
        )
    return out


def architectures(value: Any, run_foreign: bool) -> list[str]:
    """Architectures: exactly one of x86_64 and arm64, and one this host can run unless `run_foreign` (the
    architecture_fallback setting) says to run it natively anyway."""
    if not isinstance(value, list) or len(value) != 1 or value[0] not in ARCHITECTURES:
        raise InvalidParameterValue("Architectures must be a list with exactly one of x86_64, arm64.")
    host = host_architecture()
    if value[0] != host and not run_foreign:
        raise InvalidParameterValue(
            f"This Nimbus host runs {host} code and cannot run the {value[0]} architecture. Use "
            f"Architectures [\"{host}\"], or start the server with --architecture-fallback "
            "(NIMBUS_ARCHITECTURE_FALLBACK=1) to run it on the host's architecture, with a warning at each cold start."
        )
    return [value[0]]


def vpc_config(value: Any) -> dict[str, Any]:
    """VpcConfig as FunctionConfiguration returns it. Stored for tools that read it back; it changes nothing about
    an instance's network (that is the `nimbus:network` tag), which the compatibility notes say."""
    if not isinstance(value, Mapping) or set(value) - {"SubnetIds", "SecurityGroupIds", "Ipv6AllowedForDualStack"}:
        raise InvalidParameterValue("VpcConfig must be an object with SubnetIds and SecurityGroupIds.")
    subnets, groups = value.get("SubnetIds", []), value.get("SecurityGroupIds", [])
    for where, ids, most in (("subnetIds", subnets, 16), ("securityGroupIds", groups, 5)):
        if not isinstance(ids, list) or not all(isinstance(i, str) and i for i in ids):
            raise InvalidParameterValue(f"VpcConfig.{where[0].upper()}{where[1:]} must be a list of IDs.")
        if len(ids) > most:
            raise ValidationError(
                f"1 validation error detected: Value at 'vpcConfig.{where}' failed to satisfy constraint: "
                f"Member must have length less than or equal to {most}"
            )
    if bool(subnets) != bool(groups):
        raise InvalidParameterValue("SubnetIds and SecurityGroupIds must coexist or be both empty list.")
    out: dict[str, Any] = {"SubnetIds": list(subnets), "SecurityGroupIds": list(groups), "VpcId": ""}
    if "Ipv6AllowedForDualStack" in value:
        if not isinstance(value["Ipv6AllowedForDualStack"], bool):
            raise InvalidParameterValue("VpcConfig.Ipv6AllowedForDualStack must be a boolean.")
        out["Ipv6AllowedForDualStack"] = value["Ipv6AllowedForDualStack"]
    return out


def kms_key_arn(value: Any) -> str:
    """KMSKeyArn: a KMS key's ARN, or "" to go back to Lambda's own key (then the field is left out)."""
    if not isinstance(value, str) or (value and not KMS_KEY_RE.fullmatch(value)):
        raise ValidationError(
            f"1 validation error detected: Value '{value}' at 'kMSKeyArn' failed to satisfy constraint: "
            "Member must satisfy regular expression pattern: (arn:(aws[a-zA-Z-]*)?:[a-z0-9-.]+:.*)|()"
        )
    return value
