"""Issue 3, versions: PublishVersion, ListVersionsByFunction, qualifiers everywhere, immutability, per-version logs."""

from __future__ import annotations

import json
import re
import signal
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from e2e_support import (
    LAST_MODIFIED_RE,
    ROLE,
    arn,
    aws_cli,
    expect_error,
    http,
    make_zip,
    raw_client,
    sha256_b64,
    start_server,
)
from versions_support import (
    UUID_RE,
    all_versions,
    call,
    partial,
    qualified,
    update_code,
    versioned,
    versioned_zip,
    wait_ready,
)


@pytest.fixture
def raw(server: Any) -> Any:
    return raw_client(server)


@pytest.fixture
def logs(server: Any) -> Any:
    return server.client("logs")


def _fn(create_function: Any, lam: Any, name: str, label: str = "one", **kwargs: Any) -> dict[str, Any]:
    create_function(name, versioned(label), **kwargs)
    return wait_ready(lam, name)


# ------------------------------------------------------------------------------------------- PublishVersion


def test_publish_version_response_shape(lam: Any, create_function: Any, fn_name: str) -> None:
    latest = _fn(create_function, lam, fn_name, Timeout=5, Description="function description")
    resp = lam.publish_version(FunctionName=fn_name, Description="first release")
    assert resp["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert resp["Version"] == "1"
    assert resp["FunctionArn"] == f"{arn(fn_name)}:1"
    assert resp["FunctionName"] == fn_name
    assert resp["CodeSha256"] == sha256_b64(versioned_zip("one")) == latest["CodeSha256"]
    assert resp["CodeSize"] == latest["CodeSize"]
    assert resp["Description"] == "first release"
    assert resp["Runtime"] == "python3.11"
    assert resp["Handler"] == "app.handler"
    assert resp["Timeout"] == 5
    assert re.match(UUID_RE, resp["RevisionId"]), resp["RevisionId"]
    assert re.match(LAST_MODIFIED_RE, resp["LastModified"]), resp["LastModified"]

    got = lam.get_function_configuration(FunctionName=fn_name, Qualifier="1")
    assert got["Version"] == "1"
    assert got["FunctionArn"] == f"{arn(fn_name)}:1"
    assert got["CodeSha256"] == resp["CodeSha256"]
    assert got["Description"] == "first release"
    # $LATEST is untouched by the publish
    again = lam.get_function_configuration(FunctionName=fn_name)
    assert again["Version"] == "$LATEST"
    assert again["FunctionArn"] == arn(fn_name)
    assert again["Description"] == "function description"


def test_publish_unchanged_returns_existing_version(lam: Any, create_function: Any, fn_name: str) -> None:
    _fn(create_function, lam, fn_name)
    first = lam.publish_version(FunctionName=fn_name)
    assert first["Version"] == "1"
    same = lam.publish_version(FunctionName=fn_name)
    assert same["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert same["Version"] == "1", "publishing unchanged code+config must return the existing version"
    assert same["FunctionArn"] == f"{arn(fn_name)}:1"
    assert all_versions(lam, fn_name) == ["$LATEST", "1"]

    update_code(lam, fn_name, "two")
    second = lam.publish_version(FunctionName=fn_name)
    assert second["Version"] == "2"
    assert second["CodeSha256"] == sha256_b64(versioned_zip("two"))
    assert lam.publish_version(FunctionName=fn_name)["Version"] == "2"
    assert all_versions(lam, fn_name) == ["$LATEST", "1", "2"]


def test_publish_code_sha256_precondition(lam: Any, create_function: Any, fn_name: str) -> None:
    cfg = _fn(create_function, lam, fn_name)
    wrong = sha256_b64(b"some other code")
    e = expect_error(lam.publish_version, "InvalidParameterValueException", 400, FunctionName=fn_name,
                     CodeSha256=wrong)
    assert cfg["CodeSha256"] in e.response["Error"]["Message"] or wrong in e.response["Error"]["Message"]
    assert all_versions(lam, fn_name) == ["$LATEST"], "a refused publish must not create a version"
    ok = lam.publish_version(FunctionName=fn_name, CodeSha256=cfg["CodeSha256"])
    assert ok["Version"] == "1"


def test_publish_revision_id_precondition(lam: Any, create_function: Any, fn_name: str) -> None:
    cfg = _fn(create_function, lam, fn_name)
    expect_error(lam.publish_version, "PreconditionFailedException", 412, FunctionName=fn_name,
                 RevisionId=str(uuid.uuid4()))
    # a RevisionId that was current before an update is stale afterwards
    old_revision = cfg["RevisionId"]
    update_code(lam, fn_name, "two")
    expect_error(lam.publish_version, "PreconditionFailedException", 412, FunctionName=fn_name,
                 RevisionId=old_revision)
    assert all_versions(lam, fn_name) == ["$LATEST"]
    current = lam.get_function_configuration(FunctionName=fn_name)["RevisionId"]
    assert lam.publish_version(FunctionName=fn_name, RevisionId=current)["Version"] == "1"


def test_version_numbers_are_never_reused(lam: Any, create_function: Any, fn_name: str) -> None:
    _fn(create_function, lam, fn_name)
    assert lam.publish_version(FunctionName=fn_name)["Version"] == "1"
    update_code(lam, fn_name, "two")
    assert lam.publish_version(FunctionName=fn_name)["Version"] == "2"

    # delete the highest version: its number must not come back
    deleted = lam.delete_function(FunctionName=fn_name, Qualifier="2")
    assert deleted["ResponseMetadata"]["HTTPStatusCode"] in (200, 204)
    expect_error(lam.get_function_configuration, "ResourceNotFoundException", 404, FunctionName=fn_name,
                 Qualifier="2")
    expect_error(lam.invoke, "ResourceNotFoundException", 404, FunctionName=f"{fn_name}:2", Payload=b"{}")
    assert all_versions(lam, fn_name) == ["$LATEST", "1"]
    update_code(lam, fn_name, "three")
    assert lam.publish_version(FunctionName=fn_name)["Version"] == "3"

    lam.delete_function(FunctionName=fn_name, Qualifier="1")
    update_code(lam, fn_name, "four")
    assert lam.publish_version(FunctionName=fn_name)["Version"] == "4"
    assert all_versions(lam, fn_name) == ["$LATEST", "3", "4"]
    # the function itself and $LATEST survive version deletes
    assert call(lam, fn_name)[1]["label"] == "four"


def test_delete_function_qualifier_errors(lam: Any, create_function: Any, fn_name: str) -> None:
    _fn(create_function, lam, fn_name)
    lam.publish_version(FunctionName=fn_name)
    # a version that does not exist is deleted already: Lambda answers 204 (test_conformance_deletes)
    assert lam.delete_function(FunctionName=fn_name, Qualifier="9")["ResponseMetadata"]["HTTPStatusCode"] == 204
    expect_error(lam.delete_function, "InvalidParameterValueException", 400, FunctionName=fn_name,
                 Qualifier="$LATEST")
    assert all_versions(lam, fn_name) == ["$LATEST", "1"]


def test_create_and_update_code_with_publish_flag(lam: Any, create_function: Any, fn_name: str) -> None:
    created = create_function(fn_name, versioned("one"), Publish=True)
    assert created["Version"] == "1", "CreateFunction(Publish=True) returns the published version"
    wait_ready(lam, fn_name)
    assert all_versions(lam, fn_name) == ["$LATEST", "1"]
    upd = lam.update_function_code(FunctionName=fn_name, ZipFile=versioned_zip("two"), Publish=True)
    assert upd["Version"] == "2"
    wait_ready(lam, fn_name)
    assert all_versions(lam, fn_name) == ["$LATEST", "1", "2"]
    assert call(lam, fn_name, Qualifier="1")[1]["label"] == "one"
    assert call(lam, fn_name, Qualifier="2")[1]["label"] == "two"


# ------------------------------------------------------------------------------------------- ListVersionsByFunction


def test_list_versions_order_and_pagination(lam: Any, create_function: Any, fn_name: str) -> None:
    _fn(create_function, lam, fn_name, label="v1")
    for n in (1, 2, 3):
        if n > 1:
            update_code(lam, fn_name, f"v{n}")
        assert lam.publish_version(FunctionName=fn_name)["Version"] == str(n)

    full = lam.list_versions_by_function(FunctionName=fn_name)
    assert full["ResponseMetadata"]["HTTPStatusCode"] == 200
    versions = full["Versions"]
    assert [v["Version"] for v in versions] == ["$LATEST", "1", "2", "3"]
    assert "NextMarker" not in full or not full["NextMarker"]
    # as in the AWS CLI's own example output for list-versions-by-function
    assert versions[0]["FunctionArn"] == f"{arn(fn_name)}:$LATEST"
    for v in versions[1:]:
        assert v["FunctionArn"] == f"{arn(fn_name)}:{v['Version']}"
        assert v["CodeSha256"] == sha256_b64(versioned_zip(f"v{v['Version']}"))
    assert versions[0]["CodeSha256"] == sha256_b64(versioned_zip("v3"))

    for page_size in (1, 3):
        seen: list[str] = []
        marker = None
        for _ in range(10):
            kwargs: dict[str, Any] = {"MaxItems": page_size}
            if marker:
                kwargs["Marker"] = marker
            page = lam.list_versions_by_function(FunctionName=fn_name, **kwargs)
            assert 1 <= len(page["Versions"]) <= page_size
            seen.extend(v["Version"] for v in page["Versions"])
            marker = page.get("NextMarker")
            if not marker:
                break
        assert seen == ["$LATEST", "1", "2", "3"], page_size

    pages = list(lam.get_paginator("list_versions_by_function").paginate(
        FunctionName=fn_name, PaginationConfig={"PageSize": 2}))
    assert len(pages) == 2
    assert [v["Version"] for p in pages for v in p["Versions"]] == ["$LATEST", "1", "2", "3"]

    # by ARN as well
    assert [v["Version"] for v in lam.list_versions_by_function(FunctionName=arn(fn_name))["Versions"]] == \
        ["$LATEST", "1", "2", "3"]


def test_list_functions_function_version_all(lam: Any, create_function: Any, fn_name: str) -> None:
    _fn(create_function, lam, fn_name)
    lam.publish_version(FunctionName=fn_name)

    def ours(**kwargs: Any) -> list[dict[str, Any]]:
        found = []
        for page in lam.get_paginator("list_functions").paginate(**kwargs):
            found.extend(f for f in page["Functions"] if f["FunctionName"] == fn_name)
        return found

    default = ours()
    assert [f["Version"] for f in default] == ["$LATEST"], "by default only $LATEST is listed"
    every = ours(FunctionVersion="ALL")
    assert sorted(f["Version"] for f in every) == ["$LATEST", "1"]
    v1 = next(f for f in every if f["Version"] == "1")
    assert v1["FunctionArn"] == f"{arn(fn_name)}:1"


def test_list_versions_unknown_function(lam: Any, fn_name: str) -> None:
    expect_error(lam.list_versions_by_function, "ResourceNotFoundException", 404, FunctionName=fn_name + "-nope")
    expect_error(lam.publish_version, "ResourceNotFoundException", 404, FunctionName=fn_name + "-nope")


# ------------------------------------------------------------------------------------------- qualifiers


def test_invoke_by_every_qualifier_form(lam: Any, create_function: Any, fn_name: str) -> None:
    _fn(create_function, lam, fn_name, label="one")
    lam.publish_version(FunctionName=fn_name)
    update_code(lam, fn_name, "two")

    executed, out = call(lam, fn_name)
    assert (executed, out["label"], out["function_version"]) == ("$LATEST", "two", "$LATEST")
    assert out["invoked_function_arn"] == arn(fn_name)

    forms = [
        ({"FunctionName": f"{fn_name}:1"}, "name:1"),
        ({"FunctionName": fn_name, "Qualifier": "1"}, "Qualifier=1"),
        ({"FunctionName": qualified(fn_name, "1")}, "full ARN :1"),
        ({"FunctionName": partial(fn_name, "1")}, "partial ARN :1"),
        ({"FunctionName": arn(fn_name), "Qualifier": "1"}, "ARN + Qualifier=1"),
        ({"FunctionName": partial(fn_name), "Qualifier": "1"}, "partial ARN + Qualifier=1"),
        ({"FunctionName": f"{fn_name}:1", "Qualifier": "1"}, "name:1 + same Qualifier"),
    ]
    for kwargs, label in forms:
        name = kwargs.pop("FunctionName")
        executed, out = call(lam, name, **kwargs)
        assert executed == "1", label
        assert out["label"] == "one", f"{label}: version 1 must keep running its old code"
        assert out["function_version"] == "1", label
        assert out["env_version"] == "1", label
        assert out["invoked_function_arn"] == f"{arn(fn_name)}:1", label

    executed, out = call(lam, f"{fn_name}:$LATEST")
    assert (executed, out["label"]) == ("$LATEST", "two")
    assert out["invoked_function_arn"] == f"{arn(fn_name)}:$LATEST"
    executed, out = call(lam, fn_name, Qualifier="$LATEST")
    assert (executed, out["label"]) == ("$LATEST", "two")


def test_dry_run_by_qualifier(lam: Any, create_function: Any, fn_name: str) -> None:
    _fn(create_function, lam, fn_name)
    lam.publish_version(FunctionName=fn_name)
    dry = lam.invoke(FunctionName=f"{fn_name}:1", InvocationType="DryRun", Payload=b"{}")
    assert dry["StatusCode"] == 204
    dry = lam.invoke(FunctionName=fn_name, Qualifier="1", InvocationType="DryRun", Payload=b"{}")
    assert dry["StatusCode"] == 204
    expect_error(lam.invoke, "ResourceNotFoundException", 404, FunctionName=f"{fn_name}:5",
                 InvocationType="DryRun", Payload=b"{}")


def test_get_by_every_qualifier_form(lam: Any, create_function: Any, fn_name: str) -> None:
    _fn(create_function, lam, fn_name, label="one")
    v1 = lam.publish_version(FunctionName=fn_name)
    update_code(lam, fn_name, "two")
    for kwargs in ({"FunctionName": f"{fn_name}:1"}, {"FunctionName": fn_name, "Qualifier": "1"},
                   {"FunctionName": qualified(fn_name, "1")}, {"FunctionName": partial(fn_name, "1")}):
        cfg = lam.get_function_configuration(**kwargs)
        assert cfg["Version"] == "1", kwargs
        assert cfg["CodeSha256"] == v1["CodeSha256"], kwargs
        assert cfg["FunctionArn"] == f"{arn(fn_name)}:1", kwargs
        full = lam.get_function(**kwargs)
        assert full["Configuration"]["Version"] == "1", kwargs
    full = lam.get_function(FunctionName=fn_name, Qualifier="1")
    status, _, body = http(full["Code"]["Location"])
    assert status == 200
    assert sha256_b64(body) == v1["CodeSha256"], "GetFunction(Qualifier=1) must serve version 1's zip"
    latest = lam.get_function(FunctionName=fn_name)
    assert latest["Configuration"]["Version"] == "$LATEST"
    assert sha256_b64(http(latest["Code"]["Location"])[2]) == sha256_b64(versioned_zip("two"))


def test_published_version_keeps_its_configuration(lam: Any, create_function: Any, fn_name: str) -> None:
    _fn(create_function, lam, fn_name, Timeout=5, MemorySize=128, Environment={"Variables": {"KEY_A": "old"}})
    lam.publish_version(FunctionName=fn_name)
    lam.update_function_configuration(FunctionName=fn_name, Timeout=9, MemorySize=256,
                                      Environment={"Variables": {"KEY_A": "new"}})
    wait_ready(lam, fn_name)
    v1 = lam.get_function_configuration(FunctionName=fn_name, Qualifier="1")
    assert (v1["Timeout"], v1["MemorySize"], v1["Environment"]) == (5, 128, {"Variables": {"KEY_A": "old"}})
    latest = lam.get_function_configuration(FunctionName=fn_name)
    assert (latest["Timeout"], latest["MemorySize"]) == (9, 256)
    assert call(lam, fn_name, Qualifier="1")[1]["key_a"] == "old"
    assert call(lam, fn_name)[1]["key_a"] == "new"
    # a configuration change is a change: publishing now gives a new version
    assert lam.publish_version(FunctionName=fn_name)["Version"] == "2"
    assert call(lam, fn_name, Qualifier="2")[1]["key_a"] == "new"


def test_published_version_cannot_be_changed(lam: Any, raw: Any, create_function: Any, fn_name: str) -> None:
    _fn(create_function, lam, fn_name, label="one", Timeout=5)
    v1 = lam.publish_version(FunctionName=fn_name)
    for target in (f"{fn_name}:1", qualified(fn_name, "1")):
        e = expect_error(raw.update_function_configuration, (
            "InvalidParameterValueException", "ResourceConflictException", "ResourceNotFoundException",
            "ValidationException"), (400, 404, 409), FunctionName=target, Timeout=9)
        assert e.response["ResponseMetadata"]["HTTPStatusCode"] < 500
        expect_error(raw.update_function_code, (
            "InvalidParameterValueException", "ResourceConflictException", "ResourceNotFoundException",
            "ValidationException"), (400, 404, 409), FunctionName=target, ZipFile=versioned_zip("hacked"))
    after = lam.get_function_configuration(FunctionName=fn_name, Qualifier="1")
    assert after["Timeout"] == 5
    assert after["CodeSha256"] == v1["CodeSha256"]
    assert after["RevisionId"] == v1["RevisionId"]
    assert call(lam, fn_name, Qualifier="1")[1]["label"] == "one"
    # and $LATEST was not changed through the qualified name either
    latest = lam.get_function_configuration(FunctionName=fn_name)
    assert latest["Timeout"] == 5
    assert latest["CodeSha256"] == v1["CodeSha256"]


def test_conflicting_qualifiers_are_refused(lam: Any, create_function: Any, fn_name: str) -> None:
    _fn(create_function, lam, fn_name)
    lam.publish_version(FunctionName=fn_name)
    update_code(lam, fn_name, "two")
    lam.publish_version(FunctionName=fn_name)
    expect_error(lam.get_function_configuration, "InvalidParameterValueException", 400,
                 FunctionName=f"{fn_name}:1", Qualifier="2")
    expect_error(lam.get_function, "InvalidParameterValueException", 400,
                 FunctionName=qualified(fn_name, "1"), Qualifier="$LATEST")
    expect_error(lam.invoke, "InvalidParameterValueException", 400, FunctionName=f"{fn_name}:1", Qualifier="2",
                 Payload=b"{}")
    expect_error(lam.delete_function, "InvalidParameterValueException", 400, FunctionName=f"{fn_name}:1",
                 Qualifier="2")
    assert all_versions(lam, fn_name) == ["$LATEST", "1", "2"]


def test_unknown_version_is_not_found(lam: Any, create_function: Any, fn_name: str) -> None:
    _fn(create_function, lam, fn_name)
    lam.publish_version(FunctionName=fn_name)
    for kwargs in ({"FunctionName": fn_name, "Qualifier": "7"}, {"FunctionName": f"{fn_name}:7"},
                   {"FunctionName": qualified(fn_name, "7")}):
        expect_error(lam.invoke, "ResourceNotFoundException", 404, Payload=b"{}", **kwargs)
        expect_error(lam.get_function_configuration, "ResourceNotFoundException", 404, **kwargs)
        expect_error(lam.get_function, "ResourceNotFoundException", 404, **kwargs)
    # an alias name that does not exist is not found either
    expect_error(lam.invoke, "ResourceNotFoundException", 404, FunctionName=f"{fn_name}:nosuchalias",
                 Payload=b"{}")


# ------------------------------------------------------------------------------------------- per-version logs


def test_each_version_has_its_own_log_streams(lam: Any, logs: Any, create_function: Any, fn_name: str) -> None:
    _fn(create_function, lam, fn_name, label="one")
    lam.publish_version(FunctionName=fn_name)
    r_latest = lam.invoke(FunctionName=fn_name, Payload=b"{}")
    out_latest = json.loads(r_latest["Payload"].read())
    r_v1 = lam.invoke(FunctionName=fn_name, Qualifier="1", Payload=b"{}")
    out_v1 = json.loads(r_v1["Payload"].read())
    assert r_latest["ExecutedVersion"] == "$LATEST"
    assert r_v1["ExecutedVersion"] == "1"

    assert re.match(r"^\d{4}/\d{2}/\d{2}/\[\$LATEST\][0-9a-f]{32}$", out_latest["log_stream_name"]), out_latest
    assert re.match(r"^\d{4}/\d{2}/\d{2}/\[1\][0-9a-f]{32}$", out_v1["log_stream_name"]), out_v1
    assert out_v1["env_stream"] == out_v1["log_stream_name"]
    # same code, but version 1 runs in its own instance (own pool), not in the warm $LATEST one
    assert out_v1["log_stream_name"] != out_latest["log_stream_name"]

    group = f"/aws/lambda/{fn_name}"
    rid_v1 = r_v1["ResponseMetadata"]["RequestId"]
    rid_latest = r_latest["ResponseMetadata"]["RequestId"]
    deadline = time.monotonic() + 15
    while True:
        streams = [s["logStreamName"] for s in logs.describe_log_streams(logGroupName=group)["logStreams"]]
        text = "\n".join(e["message"] for e in logs.filter_log_events(logGroupName=group)["events"])
        done = f"REPORT RequestId: {rid_v1}" in text and f"REPORT RequestId: {rid_latest}" in text
        if done or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert out_v1["log_stream_name"] in streams, streams
    assert out_latest["log_stream_name"] in streams, streams
    assert any("[1]" in s for s in streams), streams
    assert any("[$LATEST]" in s for s in streams), streams
    assert f"START RequestId: {rid_v1} Version: 1" in text
    assert f"START RequestId: {rid_latest} Version: $LATEST" in text
    v1_events = logs.get_log_events(logGroupName=group, logStreamName=out_v1["log_stream_name"])["events"]
    assert any(rid_v1 in e["message"] for e in v1_events)
    assert not any(rid_latest in e["message"] for e in v1_events)


# ------------------------------------------------------------------------------------------- AWS CLI


def test_cli_publish_version(server: Any, lam: Any, create_function: Any, fn_name: str) -> None:
    _fn(create_function, lam, fn_name, label="one")
    out = json.loads(aws_cli(server, "lambda", "publish-version", "--function-name", fn_name,
                             "--description", "from cli").stdout)
    assert out["Version"] == "1"
    assert out["FunctionArn"] == f"{arn(fn_name)}:1"
    assert out["Description"] == "from cli"
    listed = json.loads(aws_cli(server, "lambda", "list-versions-by-function", "--function-name", fn_name).stdout)
    assert [v["Version"] for v in listed["Versions"]] == ["$LATEST", "1"]
    stale = aws_cli(server, "lambda", "publish-version", "--function-name", fn_name, "--revision-id",
                    str(uuid.uuid4()), check=False)
    assert stale.returncode != 0
    assert "PreconditionFailedException" in stale.stderr


# ------------------------------------------------------------------------------------------- durability


def test_versions_aliases_and_layers_survive_sigkill(tmp_path: Path) -> None:
    data = tmp_path / "data"
    srv = start_server(data)
    try:
        lam = srv.client("lambda")
        lam.create_function(FunctionName="durable-v", Runtime="python3.11", Role=ROLE, Handler="app.handler",
                            Code={"ZipFile": versioned_zip("one")}, Environment={"Variables": {"KEY_A": "a1"}})
        wait_ready(lam, "durable-v")
        lam.publish_version(FunctionName="durable-v")
        update_code(lam, "durable-v", "two")
        lam.publish_version(FunctionName="durable-v")
        update_code(lam, "durable-v", "three")
        assert lam.publish_version(FunctionName="durable-v")["Version"] == "3"
        lam.delete_function(FunctionName="durable-v", Qualifier="3")
        update_code(lam, "durable-v", "latest")
        lam.create_alias(FunctionName="durable-v", Name="live", FunctionVersion="1", Description="kept",
                         RoutingConfig={"AdditionalVersionWeights": {"2": 0.4}})
        layer_zip = make_zip({"a.txt": "1"})
        layer = lam.publish_layer_version(LayerName="durable-layer", Content={"ZipFile": layer_zip},
                                          CompatibleRuntimes=["python3.11"])
        lam.publish_layer_version(LayerName="durable-layer", Content={"ZipFile": make_zip({"a.txt": "2"})})
        lam.delete_layer_version(LayerName="durable-layer", VersionNumber=2)
        lam.add_layer_version_permission(LayerName="durable-layer", VersionNumber=1, StatementId="all",
                                         Action="lambda:GetLayerVersion", Principal="*")
        alias_before = lam.get_alias(FunctionName="durable-v", Name="live")
        v1_before = lam.get_function_configuration(FunctionName="durable-v", Qualifier="1")
    finally:
        srv.stop(signal.SIGKILL)

    srv2 = start_server(data)
    try:
        lam = srv2.client("lambda")
        assert all_versions(lam, "durable-v") == ["$LATEST", "1", "2"]
        v1 = lam.get_function_configuration(FunctionName="durable-v", Qualifier="1")
        for key in ("CodeSha256", "RevisionId", "Environment", "FunctionArn", "Version"):
            assert v1[key] == v1_before[key], key
        alias = lam.get_alias(FunctionName="durable-v", Name="live")
        for key in ("AliasArn", "FunctionVersion", "Description", "RoutingConfig", "RevisionId"):
            assert alias[key] == alias_before[key], key
        assert call(lam, "durable-v", Qualifier="1")[1]["label"] == "one"
        assert call(lam, "durable-v", Qualifier="2")[1]["label"] == "two"
        assert call(lam, "durable-v")[1]["label"] == "latest"
        assert call(lam, "durable-v:live")[0] in ("1", "2")
        # numbers are still never reused, for function versions and layer versions alike
        assert lam.publish_version(FunctionName="durable-v")["Version"] == "4"
        got = lam.get_layer_version(LayerName="durable-layer", VersionNumber=1)
        assert got["Content"]["CodeSha256"] == layer["Content"]["CodeSha256"]
        assert http(got["Content"]["Location"])[2] == layer_zip
        expect_error(lam.get_layer_version, "ResourceNotFoundException", 404, LayerName="durable-layer",
                     VersionNumber=2)
        policy = json.loads(lam.get_layer_version_policy(LayerName="durable-layer", VersionNumber=1)["Policy"])
        assert [st["Sid"] for st in policy["Statement"]] == ["all"]
        assert lam.publish_layer_version(LayerName="durable-layer",
                                         Content={"ZipFile": make_zip({"a.txt": "3"})})["Version"] == 3
    finally:
        srv2.stop()


def test_snap_start_setting_round_trips_and_publishes_once(lam: Any, create_function: Any, fn_name: str) -> None:
    create_function(fn_name, versioned("v1"), SnapStart={"ApplyOn": "PublishedVersions"})
    latest = lam.get_function_configuration(FunctionName=fn_name)
    assert latest["SnapStart"] == {"ApplyOn": "PublishedVersions", "OptimizationStatus": "Off"}
    v1 = lam.publish_version(FunctionName=fn_name)
    assert v1["SnapStart"] == {"ApplyOn": "PublishedVersions", "OptimizationStatus": "On"}
    assert lam.publish_version(FunctionName=fn_name)["Version"] == v1["Version"]
