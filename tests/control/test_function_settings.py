"""The function settings rules (control/function_settings.py) as CreateFunction / UpdateFunctionConfiguration apply
them: each setting is kept as Lambda returns it, refused as Lambda refuses it, or refused because Nimbus has nothing
behind it; none is accepted and then dropped."""

from __future__ import annotations

from typing import Any

import pytest

from nimbus.control import function_requests as fr
from nimbus.control import function_settings as fs
from nimbus.control.records import new_config
from nimbus.errors import InvalidParameterValue, ValidationError

HOST = fs.host_architecture()
OTHER = "arm64" if HOST == "x86_64" else "x86_64"


def apply(body: dict[str, Any], base: dict[str, Any] | None = None, foreign: bool = False) -> dict[str, Any]:
    return fr.function_config(body, base or new_config("f"), lambda _: None, lambda _: [], foreign)


def test_defaults_are_lambdas() -> None:
    cfg = new_config("f")
    assert cfg["TracingConfig"] == {"Mode": "PassThrough"}
    assert cfg["LoggingConfig"] == {"LogFormat": "Text", "LogGroup": "/aws/lambda/f"}
    assert cfg["Architectures"] == ["x86_64"]


# ---- TracingConfig -------------------------------------------------------------------------------------------------


def test_tracing_mode_is_kept() -> None:
    assert apply({"TracingConfig": {"Mode": "Active"}})["TracingConfig"] == {"Mode": "Active"}
    cfg = apply({"TracingConfig": {"Mode": "PassThrough"}}, apply({"TracingConfig": {"Mode": "Active"}}))
    assert cfg["TracingConfig"] == {"Mode": "PassThrough"}


@pytest.mark.parametrize("value", [{"Mode": "On"}, "Active", {"Mode": "Active", "X": 1}])
def test_tracing_mode_refused(value: Any) -> None:
    with pytest.raises((ValidationError, InvalidParameterValue)):
        apply({"TracingConfig": value})


# ---- LoggingConfig -------------------------------------------------------------------------------------------------


def test_json_format_brings_info_levels() -> None:
    cfg = apply({"LoggingConfig": {"LogFormat": "JSON"}})["LoggingConfig"]
    assert cfg == {"LogFormat": "JSON", "ApplicationLogLevel": "INFO", "SystemLogLevel": "INFO",
                   "LogGroup": "/aws/lambda/f"}  # fmt: skip


def test_the_issues_example_reads_back_as_json() -> None:
    cfg = apply({"LoggingConfig": {"LogFormat": "JSON", "ApplicationLogLevel": "INFO"}})["LoggingConfig"]
    assert (cfg["LogFormat"], cfg["ApplicationLogLevel"]) == ("JSON", "INFO")


@pytest.mark.parametrize("app", ["TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"])
@pytest.mark.parametrize("system", ["DEBUG", "INFO", "WARN"])
def test_every_level_is_kept(app: str, system: str) -> None:
    body = {"LogFormat": "JSON", "ApplicationLogLevel": app, "SystemLogLevel": system}
    cfg = apply({"LoggingConfig": body})["LoggingConfig"]
    assert (cfg["ApplicationLogLevel"], cfg["SystemLogLevel"]) == (app, system)


def test_an_update_merges_onto_the_current_logging_config() -> None:
    first = apply({"LoggingConfig": {"LogFormat": "JSON", "ApplicationLogLevel": "DEBUG", "LogGroup": "/custom/g"}})
    cfg = apply({"LoggingConfig": {"SystemLogLevel": "WARN"}}, first)["LoggingConfig"]
    assert cfg == {"LogFormat": "JSON", "ApplicationLogLevel": "DEBUG", "SystemLogLevel": "WARN",
                   "LogGroup": "/custom/g"}  # fmt: skip
    text = apply({"LoggingConfig": {"LogFormat": "Text"}}, first)["LoggingConfig"]
    assert text == {"LogFormat": "Text", "LogGroup": "/custom/g"}, "back to Text: the levels go"


def test_levels_need_the_json_format() -> None:
    with pytest.raises(InvalidParameterValue, match="LogFormat"):
        apply({"LoggingConfig": {"ApplicationLogLevel": "INFO"}})
    with pytest.raises(InvalidParameterValue, match="LogFormat"):
        apply({"LoggingConfig": {"LogFormat": "Text", "SystemLogLevel": "WARN"}})


@pytest.mark.parametrize(
    "body",
    [
        {"LogFormat": "XML"},
        {"LogFormat": "JSON", "ApplicationLogLevel": "VERBOSE"},
        {"LogFormat": "JSON", "SystemLogLevel": "ERROR"},
        {"LogGroup": "bad group name!"},
        {"LogGroup": "x" * 513},
        {"Colour": "red"},
    ],
)
def test_logging_config_refused(body: dict[str, Any]) -> None:
    with pytest.raises((ValidationError, InvalidParameterValue)):
        apply({"LoggingConfig": body})


def test_custom_log_group_is_kept() -> None:
    assert apply({"LoggingConfig": {"LogGroup": "/shared/app-logs"}})["LoggingConfig"]["LogGroup"] == "/shared/app-logs"


# ---- Architectures -------------------------------------------------------------------------------------------------


def test_the_hosts_architecture_is_kept() -> None:
    assert apply({"Architectures": [HOST]})["Architectures"] == [HOST]


def test_an_architecture_the_host_cannot_run_is_refused_with_what_to_do() -> None:
    with pytest.raises(InvalidParameterValue) as caught:
        apply({"Architectures": [OTHER]})
    message = caught.value.message
    assert all(part in message for part in (OTHER, HOST, "--architecture-fallback")), message


def test_architecture_fallback_keeps_the_foreign_architecture() -> None:
    assert apply({"Architectures": [OTHER]}, foreign=True)["Architectures"] == [OTHER]


@pytest.mark.parametrize("value", [["x86_64", "arm64"], [], "x86_64", ["mips"]])
def test_malformed_architectures_refused(value: Any) -> None:
    with pytest.raises(InvalidParameterValue):
        apply({"Architectures": value}, foreign=True)


# ---- VpcConfig, KMSKeyArn ------------------------------------------------------------------------------------------


def test_vpc_config_is_kept_as_lambda_returns_it() -> None:
    vpc = {"SubnetIds": ["subnet-1"], "SecurityGroupIds": ["sg-1"], "Ipv6AllowedForDualStack": False}
    assert apply({"VpcConfig": vpc})["VpcConfig"] == {**vpc, "VpcId": ""}
    empty = apply({"VpcConfig": {"SubnetIds": [], "SecurityGroupIds": []}})["VpcConfig"]
    assert empty == {"SubnetIds": [], "SecurityGroupIds": [], "VpcId": ""}


@pytest.mark.parametrize(
    "vpc",
    [{"SubnetIds": ["subnet-1"]}, {"SubnetIds": "subnet-1", "SecurityGroupIds": ["sg"]},
     {"SubnetIds": [f"s-{i}" for i in range(17)], "SecurityGroupIds": ["sg"]}, {"VpcId": "vpc-1"}],
)  # fmt: skip
def test_vpc_config_refused(vpc: dict[str, Any]) -> None:
    with pytest.raises((ValidationError, InvalidParameterValue)):
        apply({"VpcConfig": vpc})


def test_kms_key_is_kept_and_an_empty_one_removes_it() -> None:
    key = "arn:aws:kms:us-east-1:000000000000:key/1234"
    cfg = apply({"KMSKeyArn": key})
    assert cfg["KMSKeyArn"] == key
    assert "KMSKeyArn" not in apply({"KMSKeyArn": ""}, cfg)
    with pytest.raises(ValidationError):
        apply({"KMSKeyArn": "not-an-arn"})


# ---- what Nimbus has nothing behind --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("member", "value"),
    [
        ("FileSystemConfigs", [{"Arn": "arn:aws:elasticfilesystem:us-east-1:000000000000:access-point/fsap-1",
                                "LocalMountPath": "/mnt/efs"}]),
        ("ImageConfig", {"Command": ["app.handler"]}),
        ("CodeSigningConfigArn", "arn:aws:lambda:us-east-1:000000000000:code-signing-config:csc-1"),
        ("CapacityProviderConfig", {"LambdaManagedInstancesCapacityProviderConfig": {"CapacityProviderArn": "a"}}),
        ("DurableConfig", {"RetentionPeriodInDays": 1}),
        ("TenancyConfig", {"TenantIsolationMode": "PER_TENANT"}),
        ("PublishTo", "LATEST_PUBLISHED"),
    ],
)  # fmt: skip
def test_settings_without_anything_behind_are_refused_by_name(member: str, value: Any) -> None:
    with pytest.raises(InvalidParameterValue, match=member):
        apply({member: value})


def test_an_empty_unsupported_setting_asks_for_nothing() -> None:
    cfg = apply({"FileSystemConfigs": [], "ImageConfig": {}})
    assert not {"FileSystemConfigs", "ImageConfig"} & set(cfg)


def test_dead_letter_config_is_kept_and_an_sns_topic_is_refused_clearly() -> None:
    queue = "arn:aws:sqs:us-east-1:000000000000:dlq"
    cfg = apply({"DeadLetterConfig": {"TargetArn": queue}})
    assert cfg["DeadLetterConfig"] == {"TargetArn": queue}
    assert "DeadLetterConfig" not in apply({"DeadLetterConfig": {"TargetArn": ""}}, cfg)
    with pytest.raises(InvalidParameterValue, match="SNS topic"):
        apply({"DeadLetterConfig": {"TargetArn": "arn:aws:sns:us-east-1:000000000000:topic"}})


# ---- UpdateFunctionCode's settings ---------------------------------------------------------------------------------


def test_update_function_code_applies_architectures_and_refuses_the_rest() -> None:
    assert fr.code_update_settings({"ZipFile": "UEs="}) == {}
    assert fr.code_update_settings({"Architectures": [HOST]}) == {"Architectures": [HOST]}
    with pytest.raises(InvalidParameterValue, match="--architecture-fallback"):
        fr.code_update_settings({"Architectures": [OTHER]})
    assert fr.code_update_settings({"Architectures": [OTHER]}, True) == {"Architectures": [OTHER]}
    with pytest.raises(InvalidParameterValue, match="PublishTo"):
        fr.code_update_settings({"PublishTo": "LATEST_PUBLISHED"})


def test_a_source_kms_key_is_refused_for_create_and_update_code() -> None:
    key = "arn:aws:kms:us-east-1:000000000000:key/k"
    with pytest.raises(InvalidParameterValue, match="SourceKMSKeyArn"):
        fr.zip_file({"ZipFile": "UEs=", "SourceKMSKeyArn": key})
    assert fr.zip_file({"ZipFile": "UEs=", "SourceKMSKeyArn": ""}) == b"PK"
