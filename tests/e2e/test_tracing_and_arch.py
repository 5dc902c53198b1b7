"""Function settings that used to be accepted and dropped, end to end through boto3: TracingConfig kept and a trace
header per invocation in every runtime (Python os.environ, Node.js process.env, a custom runtime's
Lambda-Runtime-Trace-Id), Architectures the host cannot run refused, or run with a warning on every cold start
under --architecture-fallback, and every CreateFunction member either read back or refused by name."""

from __future__ import annotations

import re
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import botocore
import pytest
from e2e_support import Server, expect_error, invoke_json, make_zip, serving, wait_active
from runtime_api_support import shell_bootstrap, zip_with_modes

from nimbus.control.function_settings import host_architecture
from nimbus.runtimes.registry import node_binary

ROLE = "arn:aws:iam::000000000000:role/lambda-role"
TRACE_RE = r"Root=1-[0-9a-f]{8}-[0-9a-f]{24};Parent=[0-9a-f]{16};Sampled=%d"
HOST = host_architecture()
OTHER = "arm64" if HOST == "x86_64" else "x86_64"
NODE = node_binary()
PY_TRACE = "import os\ndef handler(event, context):\n    return os.environ.get('_X_AMZN_TRACE_ID')\n"
NODE_TRACE = "exports.handler = async () => process.env._X_AMZN_TRACE_ID;\n"


def traces(lam: Any, name: str, count: int = 3) -> list[str]:
    return [invoke_json(lam, name)[1] for _ in range(count)]


def test_tracing_config_reads_back_and_each_invocation_gets_a_trace(
    lam: Any, create_function: Any, fn_name: str
) -> None:
    out = create_function(fn_name, {"app.py": PY_TRACE}, TracingConfig={"Mode": "Active"})
    assert out["TracingConfig"] == {"Mode": "Active"}
    wait_active(lam, fn_name)
    assert lam.get_function_configuration(FunctionName=fn_name)["TracingConfig"] == {"Mode": "Active"}
    seen = traces(lam, fn_name)
    assert all(re.fullmatch(TRACE_RE % 1, t) for t in seen), seen
    assert len(set(seen)) == 3, "a new trace per invocation"
    lam.update_function_configuration(FunctionName=fn_name, TracingConfig={"Mode": "PassThrough"})
    wait_active(lam, fn_name)
    assert lam.get_function_configuration(FunctionName=fn_name)["TracingConfig"] == {"Mode": "PassThrough"}
    assert all(re.fullmatch(TRACE_RE % 0, t) for t in traces(lam, fn_name, 2))
    expect_error(lambda: lam.update_function_configuration(FunctionName=fn_name, TracingConfig={"Mode": "On"}),
                 "ValidationException", 400)  # fmt: skip


@pytest.mark.skipif(NODE is None, reason="no node on this host")
def test_nodejs_sees_the_trace_in_process_env(lam: Any, fn_name: str) -> None:
    assert NODE is not None
    lam.create_function(FunctionName=fn_name, Runtime=f"nodejs{NODE[1]}.x", Role=ROLE, Handler="index.handler",
                        Code={"ZipFile": make_zip({"index.js": NODE_TRACE})},
                        TracingConfig={"Mode": "Active"})  # fmt: skip
    try:
        wait_active(lam, fn_name)
        seen = traces(lam, fn_name, 2)
        assert all(re.fullmatch(TRACE_RE % 1, t) for t in seen), seen
        assert seen[0] != seen[1]
    finally:
        lam.delete_function(FunctionName=fn_name)


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_a_custom_runtime_gets_the_trace_header(lam: Any, fn_name: str) -> None:
    lam.create_function(FunctionName=fn_name, Runtime="provided.al2023", Role=ROLE, Handler="function.handler",
                        Code={"ZipFile": zip_with_modes({"bootstrap": shell_bootstrap()})})  # fmt: skip
    try:
        wait_active(lam, fn_name)
        first, second = (invoke_json(lam, fn_name, {"n": n})[1]["trace"] for n in (1, 2))
        assert re.fullmatch(TRACE_RE % 0, first), first
        assert first != second
    finally:
        lam.delete_function(FunctionName=fn_name)


# ---- Architectures -------------------------------------------------------------------------------------------------


def test_an_architecture_the_host_cannot_run_is_refused(lam: Any, create_function: Any, fn_name: str) -> None:
    error = expect_error(lambda: create_function(fn_name, {"app.py": PY_TRACE}, Architectures=[OTHER]),
                         "InvalidParameterValueException", 400)  # fmt: skip
    message = error.response["Error"]["Message"]
    assert OTHER in message
    assert "--architecture-fallback" in message
    out = create_function(fn_name, {"app.py": PY_TRACE}, Architectures=[HOST])
    assert out["Architectures"] == [HOST]
    wait_active(lam, fn_name)
    code = make_zip({"app.py": PY_TRACE})
    expect_error(lambda: lam.update_function_code(FunctionName=fn_name, ZipFile=code, Architectures=[OTHER]),
                 "InvalidParameterValueException", 400)  # fmt: skip
    assert lam.update_function_code(FunctionName=fn_name, ZipFile=code, Architectures=[HOST])["Architectures"] == [HOST]


@pytest.fixture(scope="module")
def fallback_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    yield from serving(tmp_path_factory, "archfb", "--keep-alive", "30", env={"NIMBUS_ARCHITECTURE_FALLBACK": "1"})


def test_architecture_fallback_runs_it_and_warns_on_every_cold_start(fallback_server: Server) -> None:
    lam = fallback_server.client("lambda")
    name = "arch-fallback"
    out = lam.create_function(FunctionName=name, Runtime="python3.11", Role=ROLE, Handler="app.handler",
                              Code={"ZipFile": make_zip({"app.py": PY_TRACE})}, Architectures=[OTHER])  # fmt: skip
    assert out["Architectures"] == [OTHER]
    wait_active(lam, name)
    log = Path(fallback_server.log_path)
    warning = f"{name}: architecture {OTHER} is not this host's"
    before = log.read_text().count(warning)
    assert invoke_json(lam, name)[0]["StatusCode"] == 200
    invoke_json(lam, name)  # warm: no new warning
    lam.update_function_configuration(FunctionName=name, Description="new revision: a new cold start")
    wait_active(lam, name)
    invoke_json(lam, name)
    deadline = time.monotonic() + 10
    while log.read_text().count(warning) < before + 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert log.read_text().count(warning) == before + 2, "one warning per cold start"
    assert lam.get_function_configuration(FunctionName=name)["Architectures"] == [OTHER]
    moved = lam.update_function_code(FunctionName=name, ZipFile=make_zip({"app.py": PY_TRACE}), Architectures=[HOST])
    assert moved["Architectures"] == [HOST], "UpdateFunctionCode changes the architecture, as on Lambda"


# ---- the audit: every CreateFunction member reads back or is refused ----------------------------------------------

QUEUE_ARN = "arn:aws:sqs:us-east-1:000000000000:settings-dlq"
#: member -> (value sent, what FunctionConfiguration returns for it, or None: refused by name)
MEMBERS: dict[str, tuple[Any, Any]] = {
    "Description": ("d", "d"),
    "Timeout": (10, 10),
    "MemorySize": (256, 256),
    "Environment": ({"Variables": {"KEY": "v"}}, {"Variables": {"KEY": "v"}}),
    "EphemeralStorage": ({"Size": 1024}, {"Size": 1024}),
    "SnapStart": ({"ApplyOn": "PublishedVersions"}, {"ApplyOn": "PublishedVersions", "OptimizationStatus": "Off"}),
    "TracingConfig": ({"Mode": "Active"}, {"Mode": "Active"}),
    "DeadLetterConfig": ({"TargetArn": QUEUE_ARN}, {"TargetArn": QUEUE_ARN}),
    "KMSKeyArn": ("arn:aws:kms:us-east-1:000000000000:key/k-1", "arn:aws:kms:us-east-1:000000000000:key/k-1"),
    "VpcConfig": ({"SubnetIds": ["subnet-1"], "SecurityGroupIds": ["sg-1"]},
                  {"SubnetIds": ["subnet-1"], "SecurityGroupIds": ["sg-1"], "VpcId": ""}),
    "Architectures": ([HOST], [HOST]),
    "LoggingConfig": ({"LogFormat": "JSON", "ApplicationLogLevel": "DEBUG", "SystemLogLevel": "WARN",
                       "LogGroup": "/custom/settings"},
                      {"LogFormat": "JSON", "ApplicationLogLevel": "DEBUG", "SystemLogLevel": "WARN",
                       "LogGroup": "/custom/settings"}),
    "FileSystemConfigs": ([{"Arn": "arn:aws:elasticfilesystem:us-east-1:000000000000:access-point/"
                                   "fsap-0123456789abcdef0",  # an ARN the model's pattern takes
                            "LocalMountPath": "/mnt/efs"}], None),
    "ImageConfig": ({"Command": ["app.handler"]}, None),
    "CodeSigningConfigArn": ("arn:aws:lambda:us-east-1:000000000000:code-signing-config:csc-12345678901234567",
                             None),
    "CapacityProviderConfig": ({"LambdaManagedInstancesCapacityProviderConfig": {
        "CapacityProviderArn": "arn:aws:lambda:us-east-1:000000000000:capacity-provider:cp"}}, None),
    "DurableConfig": ({"RetentionPeriodInDays": 1}, None),
    "TenancyConfig": ({"TenantIsolationMode": "PER_TENANT"}, None),
}  # fmt: skip
#: members that name the function or its code, or are read back elsewhere (Tags: ListTags; Layers:
#: tests/e2e/test_layers; Publish: a version; PackageType Image and PublishTo: refused, tests/e2e/test_functions_api
#: and tests/control/test_function_settings)
ELSEWHERE = {"FunctionName", "Runtime", "Role", "Handler", "Code", "Publish", "PackageType", "Tags", "Layers",
             "PublishTo"}  # fmt: skip


def test_every_create_function_member_is_covered_by_the_audit() -> None:
    model = botocore.session.get_session().get_service_model("lambda")
    members = set(model.operation_model("CreateFunction").input_shape.members)
    assert members == set(MEMBERS) | ELSEWHERE, "a new CreateFunction member: keep it, act on it, or refuse it"


@pytest.mark.parametrize("member", sorted(MEMBERS))
def test_each_setting_reads_back_or_is_refused_by_name(lam: Any, create_function: Any, fn_name: str,
                                                       member: str) -> None:  # fmt: skip
    sent, returned = MEMBERS[member]
    if returned is None:
        error = expect_error(lambda: create_function(fn_name, {"app.py": PY_TRACE}, **{member: sent}),
                             "InvalidParameterValueException", 400)  # fmt: skip
        assert member in error.response["Error"]["Message"]
        return
    out = create_function(fn_name, {"app.py": PY_TRACE}, **{member: sent})
    assert out[member] == returned
    wait_active(lam, fn_name)
    assert lam.get_function_configuration(FunctionName=fn_name)[member] == returned
    assert lam.get_function(FunctionName=fn_name)["Configuration"][member] == returned
    version = lam.publish_version(FunctionName=fn_name)
    if member == "SnapStart":  # a published version reports whether SnapStart applies to it
        returned = {**returned, "OptimizationStatus": "On"}
    assert version[member] == returned, "a published version keeps it"
