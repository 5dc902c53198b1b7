"""Issue 3, layers: the layer-version API with Lambda's shapes, and layers merged read-only at /opt for functions."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from e2e_support import ECHO, LAST_MODIFIED_RE, ROLE, aws_cli, expect_error, http, make_zip, raw_client, sha256_b64
from versions_support import UUID_RE, LayerPublisher, call, layer_arn, wait_ready, zeros_zip

LIMIT = 262_144_000

LAYER_ONE = {
    "python/mylib.py": "VALUE = 'from-layer-1'\n",
    "python/shared.py": "VALUE = 'shared-from-layer-1'\n",
    "data.txt": "one",
}
LAYER_TWO = {
    "python/lib/python3.11/site-packages/otherlib.py": "VALUE = 'from-layer-2'\n",
    "python/shared.py": "VALUE = 'shared-from-layer-2'\n",
    "data.txt": "two",
}

#: imports modules, reads files and probes writes as the event asks; never leaves anything behind on a host /opt
LAYER_USER = """
import errno
import importlib
import os
import uuid
def handler(event, context):
    out = {"modules": {}, "files": {}, "writes": {}}
    for mod in event.get("modules", []):
        try:
            out["modules"][mod] = importlib.import_module(mod).VALUE
        except ImportError as exc:
            out["modules"][mod] = "ImportError: %s" % exc
    for path in event.get("read", []):
        try:
            with open(path) as f:
                out["files"][path] = f.read()
        except OSError as exc:
            out["files"][path] = "OSError: %s" % errno.errorcode.get(exc.errno, exc.errno)
    if event.get("probe_writes"):
        probe = "/opt/nimbus-write-probe-" + uuid.uuid4().hex
        try:
            with open(probe, "x") as f:
                f.write("x")
            os.remove(probe)
            out["writes"]["new"] = "wrote"
        except OSError as exc:
            out["writes"]["new"] = errno.errorcode.get(exc.errno, str(exc.errno))
        try:
            with open("/opt/data.txt", "r+") as f:  # never creates
                f.write("overwritten")
            out["writes"]["existing"] = "wrote"
        except OSError as exc:
            out["writes"]["existing"] = errno.errorcode.get(exc.errno, str(exc.errno))
    out["opt"] = sorted(os.listdir("/opt")) if os.path.isdir("/opt") else None
    return out
"""

READ_ONLY_ERRNOS = ("EROFS", "EACCES", "EPERM")
BAD_INPUT = ("InvalidParameterValueException", "ValidationException")


@pytest.fixture
def raw(server: Any) -> Any:
    return raw_client(server)


@pytest.fixture
def publish_layer(lam: Any) -> Iterator[LayerPublisher]:
    pub = LayerPublisher(lam)
    yield pub
    pub.cleanup()


@pytest.fixture
def layer_name(fn_name: str) -> str:
    """A layer name unique to the test (layers are server-wide)."""
    return f"{fn_name[:50]}-{uuid.uuid4().hex[:8]}"


def _use(lam: Any, name: str, **event: Any) -> dict[str, Any]:
    return call(lam, name, event)[1]


# ------------------------------------------------------------------------------------------- layer API


def test_publish_layer_version_shape(lam: Any, publish_layer: LayerPublisher, layer_name: str) -> None:
    content = make_zip(LAYER_ONE)
    resp = publish_layer(layer_name, zip_bytes=content, Description="my layer", LicenseInfo="MIT",
                         CompatibleRuntimes=["python3.11", "python3.12"],
                         CompatibleArchitectures=["x86_64", "arm64"])
    assert resp["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert resp["LayerArn"] == f"arn:aws:lambda:us-east-1:000000000000:layer:{layer_name}"
    assert resp["LayerVersionArn"] == f"arn:aws:lambda:us-east-1:000000000000:layer:{layer_name}:1"
    assert resp["Version"] == 1
    assert resp["Description"] == "my layer"
    assert resp["LicenseInfo"] == "MIT"
    assert resp["CompatibleRuntimes"] == ["python3.11", "python3.12"]
    assert resp["CompatibleArchitectures"] == ["x86_64", "arm64"]
    assert re.match(LAST_MODIFIED_RE, resp["CreatedDate"]), resp["CreatedDate"]
    assert resp["Content"]["CodeSha256"] == sha256_b64(content)
    assert resp["Content"]["CodeSize"] == len(content)
    status, _, body = http(resp["Content"]["Location"])
    assert status == 200
    assert body == content, "Content.Location must serve the layer zip byte for byte"

    again = publish_layer(layer_name, LAYER_TWO)
    assert again["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert again["Version"] == 2
    assert again["LayerVersionArn"] == layer_arn(layer_name, 2)
    assert again["LayerArn"] == resp["LayerArn"]
    assert again["Content"]["CodeSha256"] == sha256_b64(make_zip(LAYER_TWO))
    assert again.get("Description", "") == ""
    assert not again.get("CompatibleRuntimes")


def test_get_layer_version_and_by_arn(lam: Any, publish_layer: LayerPublisher, layer_name: str) -> None:
    content = make_zip(LAYER_ONE)
    pub = publish_layer(layer_name, zip_bytes=content, Description="d1", CompatibleRuntimes=["python3.11"],
                        LicenseInfo="Apache-2.0")
    publish_layer(layer_name, LAYER_TWO)
    for got in (lam.get_layer_version(LayerName=layer_name, VersionNumber=1),
                lam.get_layer_version(LayerName=layer_arn(layer_name), VersionNumber=1),
                lam.get_layer_version_by_arn(Arn=layer_arn(layer_name, 1))):
        assert got["ResponseMetadata"]["HTTPStatusCode"] == 200
        for key in ("LayerArn", "LayerVersionArn", "Version", "Description", "CreatedDate", "CompatibleRuntimes",
                    "LicenseInfo"):
            assert got[key] == pub[key], key
        assert got["Content"]["CodeSha256"] == sha256_b64(content)
        assert got["Content"]["CodeSize"] == len(content)
        assert http(got["Content"]["Location"])[2] == content
    v2 = lam.get_layer_version_by_arn(Arn=layer_arn(layer_name, 2))
    assert v2["Version"] == 2
    assert v2["Content"]["CodeSha256"] == sha256_b64(make_zip(LAYER_TWO))

    expect_error(lam.get_layer_version, "ResourceNotFoundException", 404, LayerName=layer_name, VersionNumber=99)
    expect_error(lam.get_layer_version, "ResourceNotFoundException", 404, LayerName=layer_name + "-nope",
                 VersionNumber=1)
    expect_error(lam.get_layer_version_by_arn, "ResourceNotFoundException", 404, Arn=layer_arn(layer_name, 99))


def test_list_layers_and_layer_versions_with_filters(lam: Any, publish_layer: LayerPublisher,
                                                      layer_name: str) -> None:
    publish_layer(layer_name, LAYER_ONE, Description="py", CompatibleRuntimes=["python3.11"],
                  CompatibleArchitectures=["x86_64"])
    publish_layer(layer_name, LAYER_TWO, Description="node", CompatibleRuntimes=["nodejs20.x"],
                  CompatibleArchitectures=["arm64"])

    def ours(**kwargs: Any) -> list[dict[str, Any]]:
        items = []
        for page in lam.get_paginator("list_layers").paginate(**kwargs, PaginationConfig={"PageSize": 2}):
            items.extend(i for i in page["Layers"] if i["LayerName"] == layer_name)
        return items

    listed = ours()
    assert len(listed) == 1, listed
    item = listed[0]
    assert item["LayerArn"] == layer_arn(layer_name)
    latest = item["LatestMatchingVersion"]
    assert latest["Version"] == 2
    assert latest["LayerVersionArn"] == layer_arn(layer_name, 2)
    assert latest["Description"] == "node"
    assert re.match(LAST_MODIFIED_RE, latest["CreatedDate"])
    assert ours(CompatibleRuntime="python3.11")[0]["LatestMatchingVersion"]["Version"] == 1
    assert ours(CompatibleRuntime="nodejs20.x")[0]["LatestMatchingVersion"]["Version"] == 2
    assert ours(CompatibleRuntime="java21") == []
    assert ours(CompatibleArchitecture="arm64")[0]["LatestMatchingVersion"]["Version"] == 2
    assert ours(CompatibleArchitecture="x86_64")[0]["LatestMatchingVersion"]["Version"] == 1

    versions = lam.list_layer_versions(LayerName=layer_name)
    assert versions["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert [v["Version"] for v in versions["LayerVersions"]] == [2, 1], "newest first"
    assert versions["LayerVersions"][1]["LayerVersionArn"] == layer_arn(layer_name, 1)
    assert versions["LayerVersions"][1]["CompatibleRuntimes"] == ["python3.11"]
    assert [v["Version"] for v in lam.list_layer_versions(
        LayerName=layer_name, CompatibleRuntime="python3.11")["LayerVersions"]] == [1]
    assert [v["Version"] for v in lam.list_layer_versions(
        LayerName=layer_name, CompatibleArchitecture="arm64")["LayerVersions"]] == [2]
    assert lam.list_layer_versions(LayerName=layer_name, CompatibleRuntime="java21")["LayerVersions"] == []
    assert [v["Version"] for v in lam.list_layer_versions(LayerName=layer_arn(layer_name))["LayerVersions"]] == \
        [2, 1]

    first = lam.list_layer_versions(LayerName=layer_name, MaxItems=1)
    assert [v["Version"] for v in first["LayerVersions"]] == [2]
    assert first.get("NextMarker")
    second = lam.list_layer_versions(LayerName=layer_name, MaxItems=1, Marker=first["NextMarker"])
    assert [v["Version"] for v in second["LayerVersions"]] == [1]
    assert not second.get("NextMarker")
    pages = lam.get_paginator("list_layer_versions").paginate(LayerName=layer_name,
                                                               PaginationConfig={"PageSize": 1})
    assert [v["Version"] for p in pages for v in p["LayerVersions"]] == [2, 1]


def test_delete_layer_version(lam: Any, publish_layer: LayerPublisher, layer_name: str) -> None:
    publish_layer(layer_name, LAYER_ONE)
    publish_layer(layer_name, LAYER_TWO)
    resp = lam.delete_layer_version(LayerName=layer_name, VersionNumber=2)
    assert resp["ResponseMetadata"]["HTTPStatusCode"] == 204
    expect_error(lam.get_layer_version, "ResourceNotFoundException", 404, LayerName=layer_name, VersionNumber=2)
    expect_error(lam.get_layer_version_by_arn, "ResourceNotFoundException", 404, Arn=layer_arn(layer_name, 2))
    # idempotent, as on Lambda
    assert lam.delete_layer_version(LayerName=layer_name, VersionNumber=2)["ResponseMetadata"][
        "HTTPStatusCode"] == 204
    assert [v["Version"] for v in lam.list_layer_versions(LayerName=layer_name)["LayerVersions"]] == [1]
    # the highest number was deleted; it is not handed out again
    assert publish_layer(layer_name, LAYER_TWO)["Version"] == 3
    assert [v["Version"] for v in lam.list_layer_versions(LayerName=layer_name)["LayerVersions"]] == [3, 1]

    for n in (1, 3):
        lam.delete_layer_version(LayerName=layer_name, VersionNumber=n)
    names = [i["LayerName"] for p in lam.get_paginator("list_layers").paginate() for i in p["Layers"]]
    assert layer_name not in names, "a layer with no versions left is not listed"
    assert lam.list_layer_versions(LayerName=layer_name)["LayerVersions"] == []
    assert publish_layer(layer_name, LAYER_ONE)["Version"] == 4


def test_layer_version_permissions(lam: Any, publish_layer: LayerPublisher, layer_name: str) -> None:
    publish_layer(layer_name, LAYER_ONE)
    expect_error(lam.get_layer_version_policy, "ResourceNotFoundException", 404, LayerName=layer_name,
                 VersionNumber=1)
    added = lam.add_layer_version_permission(LayerName=layer_name, VersionNumber=1, StatementId="everyone",
                                             Action="lambda:GetLayerVersion", Principal="*")
    assert added["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert re.match(UUID_RE, added["RevisionId"]), added
    statement = json.loads(added["Statement"])
    assert statement["Sid"] == "everyone"
    assert statement["Effect"] == "Allow"
    assert statement["Action"] == "lambda:GetLayerVersion"
    assert statement["Principal"] in ("*", {"AWS": "*"})
    assert statement["Resource"] == layer_arn(layer_name, 1)

    second = lam.add_layer_version_permission(LayerName=layer_name, VersionNumber=1, StatementId="one-account",
                                              Action="lambda:GetLayerVersion", Principal="123456789012",
                                              RevisionId=added["RevisionId"])
    assert second["RevisionId"] != added["RevisionId"]
    # botocore sends RevisionId in the query string (?RevisionId=) for this operation
    expect_error(lam.add_layer_version_permission, "PreconditionFailedException", 412, LayerName=layer_name,
                 VersionNumber=1, StatementId="late", Action="lambda:GetLayerVersion", Principal="*",
                 RevisionId=added["RevisionId"])
    expect_error(lam.add_layer_version_permission, "ResourceConflictException", 409, LayerName=layer_name,
                 VersionNumber=1, StatementId="everyone", Action="lambda:GetLayerVersion", Principal="*")

    policy = lam.get_layer_version_policy(LayerName=layer_name, VersionNumber=1)
    assert policy["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert isinstance(policy["Policy"], str), "Policy is a JSON document in a string"
    assert policy["RevisionId"] == second["RevisionId"]
    doc = json.loads(policy["Policy"])
    sids = {s["Sid"]: s for s in doc["Statement"]}
    assert set(sids) == {"everyone", "one-account"}
    assert "123456789012" in json.dumps(sids["one-account"]["Principal"])
    assert sids["everyone"]["Action"] == "lambda:GetLayerVersion"

    expect_error(lam.remove_layer_version_permission, "PreconditionFailedException", 412, LayerName=layer_name,
                 VersionNumber=1, StatementId="everyone", RevisionId=added["RevisionId"])
    removed = lam.remove_layer_version_permission(LayerName=layer_name, VersionNumber=1, StatementId="everyone",
                                                  RevisionId=policy["RevisionId"])
    assert removed["ResponseMetadata"]["HTTPStatusCode"] == 204
    doc = json.loads(lam.get_layer_version_policy(LayerName=layer_name, VersionNumber=1)["Policy"])
    assert [s["Sid"] for s in doc["Statement"]] == ["one-account"]
    expect_error(lam.remove_layer_version_permission, "ResourceNotFoundException", 404, LayerName=layer_name,
                 VersionNumber=1, StatementId="everyone")
    expect_error(lam.add_layer_version_permission, "ResourceNotFoundException", 404, LayerName=layer_name,
                 VersionNumber=7, StatementId="x", Action="lambda:GetLayerVersion", Principal="*")


def test_publish_layer_version_refusals(lam: Any, raw: Any, publish_layer: LayerPublisher,
                                       layer_name: str) -> None:
    good = {"ZipFile": make_zip(LAYER_ONE)}
    cases: dict[str, dict[str, Any]] = {
        "bad layer name": {"LayerName": "bad name!", "Content": good},
        "not a zip": {"Content": {"ZipFile": b"not a zip"}},
        "unknown runtime": {"Content": good, "CompatibleRuntimes": ["cobol85"]},
        "16 runtimes": {"Content": good, "CompatibleRuntimes": ["python3.11"] * 16},
        "unknown architecture": {"Content": good, "CompatibleArchitectures": ["sparc"]},
        "3 architectures": {"Content": good, "CompatibleArchitectures": ["x86_64", "arm64", "x86_64"]},
        "LicenseInfo > 512": {"Content": good, "LicenseInfo": "x" * 513},
    }
    accepted = []
    for label, kwargs in cases.items():
        kwargs.setdefault("LayerName", layer_name)
        try:
            resp = raw.publish_layer_version(**kwargs)
        except ClientError as exc:
            code, status = exc.response["Error"]["Code"], exc.response["ResponseMetadata"]["HTTPStatusCode"]
            assert code in BAD_INPUT, f"{label}: {code} / {status}"
            assert status == 400, f"{label}: {code} / {status}"
        else:
            publish_layer.published.append((kwargs["LayerName"], resp["Version"]))
            accepted.append(label)
    assert accepted == [], f"accepted bad PublishLayerVersion input: {accepted}"
    # nothing was published by the refused calls: the first good publish is version 1
    assert publish_layer(layer_name, LAYER_ONE)["Version"] == 1


# ------------------------------------------------------------------------------------------- layers on functions


def test_function_layers_merge_at_opt(lam: Any, create_function: Any, publish_layer: LayerPublisher,
                                      layer_name: str, fn_name: str) -> None:
    one = publish_layer(layer_name + "-a", LAYER_ONE)
    two = publish_layer(layer_name + "-b", LAYER_TWO)
    created = create_function(fn_name, {"app.py": LAYER_USER},
                              Layers=[one["LayerVersionArn"], two["LayerVersionArn"]])
    expected = [{"Arn": one["LayerVersionArn"], "CodeSize": one["Content"]["CodeSize"]},
                {"Arn": two["LayerVersionArn"], "CodeSize": two["Content"]["CodeSize"]}]
    assert [{k: x[k] for k in ("Arn", "CodeSize")} for x in created["Layers"]] == expected
    cfg = wait_ready(lam, fn_name)
    assert [{k: x[k] for k in ("Arn", "CodeSize")} for x in cfg["Layers"]] == expected

    out = _use(lam, fn_name, modules=["mylib", "otherlib", "shared"], read=["/opt/data.txt"])
    assert out["opt"] is not None, "/opt is missing inside the instance (layers not mounted)"
    assert out["modules"]["mylib"] == "from-layer-1", "/opt/python must be on sys.path"
    assert out["modules"]["otherlib"] == "from-layer-2", "/opt/python/lib/python3.11/site-packages must be on sys.path"
    assert out["modules"]["shared"] == "shared-from-layer-2", "the later layer wins on conflicts"
    assert out["files"]["/opt/data.txt"] == "two", "the later layer wins on conflicts"
    assert out["opt"] == ["data.txt", "python"], "/opt holds exactly the merged layers, not the host's /opt"


def test_opt_is_read_only(lam: Any, create_function: Any, publish_layer: LayerPublisher, layer_name: str,
                          fn_name: str) -> None:
    one = publish_layer(layer_name, LAYER_ONE)
    create_function(fn_name, {"app.py": LAYER_USER}, Layers=[one["LayerVersionArn"]])
    out = _use(lam, fn_name, probe_writes=True, read=["/opt/data.txt"])
    assert out["files"]["/opt/data.txt"] == "one", out
    assert out["writes"]["existing"] in READ_ONLY_ERRNOS, out
    assert out["writes"]["new"] in READ_ONLY_ERRNOS, out
    # and nothing changed for the next invoke or a fresh instance
    assert _use(lam, fn_name, read=["/opt/data.txt"])["files"]["/opt/data.txt"] == "one"


def test_update_function_configuration_changes_layers(lam: Any, create_function: Any,
                                                      publish_layer: LayerPublisher, layer_name: str,
                                                      fn_name: str) -> None:
    one = publish_layer(layer_name + "-a", LAYER_ONE)["LayerVersionArn"]
    two = publish_layer(layer_name + "-b", LAYER_TWO)["LayerVersionArn"]
    create_function(fn_name, {"app.py": LAYER_USER}, Layers=[one])
    wait_ready(lam, fn_name)
    out = _use(lam, fn_name, modules=["mylib", "shared"], read=["/opt/data.txt"])
    assert (out["modules"]["shared"], out["files"]["/opt/data.txt"]) == ("shared-from-layer-1", "one")

    upd = lam.update_function_configuration(FunctionName=fn_name, Layers=[two, one])
    assert [x["Arn"] for x in upd["Layers"]] == [two, one]
    wait_ready(lam, fn_name)
    out = _use(lam, fn_name, modules=["mylib", "otherlib", "shared"], read=["/opt/data.txt"])
    assert out["modules"]["mylib"] == "from-layer-1"
    assert out["modules"]["otherlib"] == "from-layer-2"
    assert out["modules"]["shared"] == "shared-from-layer-1", "order reversed: layer 1 is now the later one"
    assert out["files"]["/opt/data.txt"] == "one"

    upd = lam.update_function_configuration(FunctionName=fn_name, Layers=[])
    assert not upd.get("Layers")
    wait_ready(lam, fn_name)
    out = _use(lam, fn_name, modules=["mylib"], read=["/opt/data.txt"])
    assert out["modules"]["mylib"].startswith("ImportError"), out
    assert out["files"]["/opt/data.txt"].startswith("OSError"), out


def test_published_version_keeps_its_layers(lam: Any, create_function: Any, publish_layer: LayerPublisher,
                                            layer_name: str, fn_name: str) -> None:
    v1 = publish_layer(layer_name, {"python/mylib.py": "VALUE = 'layer v1'\n"})["LayerVersionArn"]
    v2 = publish_layer(layer_name, {"python/mylib.py": "VALUE = 'layer v2'\n"})["LayerVersionArn"]
    create_function(fn_name, {"app.py": LAYER_USER}, Layers=[v1])
    wait_ready(lam, fn_name)
    assert lam.publish_version(FunctionName=fn_name)["Layers"][0]["Arn"] == v1
    lam.update_function_configuration(FunctionName=fn_name, Layers=[v2])
    wait_ready(lam, fn_name)
    assert [x["Arn"] for x in lam.get_function_configuration(FunctionName=fn_name, Qualifier="1")["Layers"]] == [v1]
    assert call(lam, fn_name, {"modules": ["mylib"]})[1]["modules"]["mylib"] == "layer v2"
    executed, out = call(lam, fn_name, {"modules": ["mylib"]}, Qualifier="1")
    assert (executed, out["modules"]["mylib"]) == ("1", "layer v1")


def test_deleted_layer_version_keeps_working_for_functions(lam: Any, create_function: Any,
                                                           publish_layer: LayerPublisher, layer_name: str,
                                                           fn_name: str) -> None:
    one = publish_layer(layer_name, LAYER_ONE)["LayerVersionArn"]
    create_function(fn_name, {"app.py": LAYER_USER}, Layers=[one])
    wait_ready(lam, fn_name)
    assert _use(lam, fn_name, modules=["mylib"])["modules"]["mylib"] == "from-layer-1"
    lam.delete_layer_version(LayerName=layer_name, VersionNumber=1)
    # force a fresh instance (configuration change), which must still get the deleted layer's content
    lam.update_function_configuration(FunctionName=fn_name, Environment={"Variables": {"FRESH": "1"}})
    wait_ready(lam, fn_name)
    out = _use(lam, fn_name, modules=["mylib"], read=["/opt/data.txt"])
    assert out["modules"]["mylib"] == "from-layer-1"
    assert out["files"]["/opt/data.txt"] == "one"
    assert [x["Arn"] for x in lam.get_function_configuration(FunctionName=fn_name)["Layers"]] == [one]
    # but a deleted version cannot be added to a function any more
    expect_error(lam.create_function, ("ResourceNotFoundException", "InvalidParameterValueException"), (400, 404),
                 FunctionName=fn_name + "-new", Runtime="python3.11", Role=ROLE, Handler="app.handler",
                 Code={"ZipFile": make_zip({"app.py": ECHO})}, Layers=[one])


def test_layer_count_and_arn_refusals(lam: Any, raw: Any, create_function: Any, publish_layer: LayerPublisher,
                                      layer_name: str, fn_name: str) -> None:
    arns = [publish_layer(f"{layer_name}-{i}", {f"f{i}.txt": str(i)})["LayerVersionArn"] for i in range(6)]
    code = {"ZipFile": make_zip({"app.py": ECHO})}
    base = {"Runtime": "python3.11", "Role": ROLE, "Handler": "app.handler", "Code": code}
    e = expect_error(raw.create_function, "InvalidParameterValueException", 400, FunctionName=fn_name + "-six",
                     Layers=arns, **base)
    assert "5" in e.response["Error"]["Message"] or "layers" in e.response["Error"]["Message"].lower()
    expect_error(lam.get_function_configuration, "ResourceNotFoundException", 404, FunctionName=fn_name + "-six")

    create_function(fn_name, {"app.py": ECHO}, Layers=arns[:5])
    assert len(wait_ready(lam, fn_name)["Layers"]) == 5
    expect_error(raw.update_function_configuration, "InvalidParameterValueException", 400, FunctionName=fn_name,
                 Layers=arns)
    assert len(lam.get_function_configuration(FunctionName=fn_name)["Layers"]) == 5

    other_region = layer_arn(layer_name + "-0", 1, region="eu-west-1")
    other_account = layer_arn(layer_name + "-0", 1, account="123456789012")
    for bad in (other_region, other_account):
        expect_error(raw.update_function_configuration, "InvalidParameterValueException", 400,
                     FunctionName=fn_name, Layers=[bad])
        expect_error(raw.create_function, "InvalidParameterValueException", 400, FunctionName=fn_name + "-x",
                     Layers=[bad], **base)
    expect_error(raw.update_function_configuration, ("InvalidParameterValueException", "ValidationException"),
                 400, FunctionName=fn_name, Layers=["not-a-layer-arn"])
    # unknown version of a known layer, and an unknown layer: not found (or refused as a bad value)
    for missing in (layer_arn(layer_name + "-0", 99), layer_arn(layer_name + "-never", 1)):
        expect_error(raw.update_function_configuration,
                     ("ResourceNotFoundException", "InvalidParameterValueException"), (400, 404),
                     FunctionName=fn_name, Layers=[missing])
    assert [x["Arn"] for x in lam.get_function_configuration(FunctionName=fn_name)["Layers"]] == arns[:5]
    expect_error(lam.get_function_configuration, "ResourceNotFoundException", 404, FunctionName=fn_name + "-x")


def test_unzipped_size_limit_counts_layers(lam: Any, raw: Any, create_function: Any,
                                           publish_layer: LayerPublisher, layer_name: str, fn_name: str) -> None:
    big = publish_layer(layer_name + "-big", zip_bytes=zeros_zip(200_000_000))["LayerVersionArn"]
    rest = LIMIT - 200_000_000
    base = {"Runtime": "python3.11", "Role": ROLE, "Handler": "app.handler"}

    over = zeros_zip(rest + 1, {"app.py": ECHO})
    e = expect_error(raw.create_function, "InvalidParameterValueException", 400, FunctionName=fn_name + "-over",
                     Code={"ZipFile": over}, Layers=[big], **base)
    assert "262144000" in e.response["Error"]["Message"], e.response["Error"]
    expect_error(lam.get_function_configuration, "ResourceNotFoundException", 404, FunctionName=fn_name + "-over")

    # a function under the limit, then layers that bring it exactly to the limit: fine
    exact = create_function(fn_name, {"app.py": ECHO}, Layers=[big])
    assert exact["Layers"][0]["Arn"] == big
    fill = publish_layer(layer_name + "-fill", zip_bytes=zeros_zip(rest - len(ECHO)))["LayerVersionArn"]
    upd = lam.update_function_configuration(FunctionName=fn_name, Layers=[big, fill])
    assert [x["Arn"] for x in upd["Layers"]] == [big, fill]
    wait_ready(lam, fn_name)
    # one byte more in a layer is over
    extra = publish_layer(layer_name + "-extra", zip_bytes=zeros_zip(rest - len(ECHO) + 1))["LayerVersionArn"]
    expect_error(raw.update_function_configuration, "InvalidParameterValueException", 400, FunctionName=fn_name,
                 Layers=[big, extra])
    # and code that grows past the limit with the same layers is refused too
    expect_error(raw.update_function_code, "InvalidParameterValueException", 400, FunctionName=fn_name,
                 ZipFile=zeros_zip(len(ECHO) + 1, {"app.py": ECHO}, blob="pad.bin"))
    assert [x["Arn"] for x in lam.get_function_configuration(FunctionName=fn_name)["Layers"]] == [big, fill]


# ------------------------------------------------------------------------------------------- AWS CLI


def test_cli_publish_layer_version(server: Any, lam: Any, publish_layer: LayerPublisher, layer_name: str,
                                   tmp_path: Path) -> None:
    zip_path = tmp_path / "layer.zip"
    content = make_zip(LAYER_ONE)
    zip_path.write_bytes(content)
    result = aws_cli(server, "lambda", "publish-layer-version", "--layer-name", layer_name, "--zip-file",
                     f"fileb://{zip_path}", "--compatible-runtimes", "python3.11", "python3.12",
                     "--description", "cli layer", "--license-info", "MIT", check=False)
    if result.returncode == 0:
        publish_layer.published.append((layer_name, json.loads(result.stdout)["Version"]))
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["Version"] == 1
    assert out["LayerVersionArn"] == layer_arn(layer_name, 1)
    assert out["Content"]["CodeSha256"] == sha256_b64(content)
    assert out["Content"]["CodeSize"] == len(content)
    assert out["CompatibleRuntimes"] == ["python3.11", "python3.12"]
    listed = json.loads(aws_cli(server, "lambda", "list-layer-versions", "--layer-name", layer_name).stdout)
    assert [v["Version"] for v in listed["LayerVersions"]] == [1]
    assert aws_cli(server, "lambda", "delete-layer-version", "--layer-name", layer_name, "--version-number",
                   "1").returncode == 0
    gone = aws_cli(server, "lambda", "get-layer-version", "--layer-name", layer_name, "--version-number", "1",
                   check=False)
    assert gone.returncode != 0
    assert "ResourceNotFoundException" in gone.stderr
