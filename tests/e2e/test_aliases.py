"""Issue 3, aliases: CRUD with Lambda's shapes, invoking through an alias, weighted routing, and the refusals."""

from __future__ import annotations

import json
import re
import uuid
from collections import Counter
from typing import Any

import pytest
from e2e_support import ROLE, arn, aws_cli, expect_error, make_zip, raw_client
from versions_support import (
    UUID_RE,
    all_versions,
    call,
    partial,
    qualified,
    update_code,
    versioned,
    wait_ready,
)

BAD_INPUT = ("InvalidParameterValueException", "ValidationException")


@pytest.fixture
def raw(server: Any) -> Any:
    return raw_client(server)


@pytest.fixture
def two_versions(lam: Any, create_function: Any, fn_name: str) -> str:
    """A function with version 1 (label "v1") and version 2 (label "v2"); $LATEST runs "latest"."""
    create_function(fn_name, versioned("v1"))
    wait_ready(lam, fn_name)
    assert lam.publish_version(FunctionName=fn_name)["Version"] == "1"
    update_code(lam, fn_name, "v2")
    assert lam.publish_version(FunctionName=fn_name)["Version"] == "2"
    update_code(lam, fn_name, "latest")
    return fn_name


def _alias_names(lam: Any, name: str, **kwargs: Any) -> list[str]:
    out: list[str] = []
    for page in lam.get_paginator("list_aliases").paginate(FunctionName=name, **kwargs):
        out.extend(a["Name"] for a in page["Aliases"])
    return out


# ------------------------------------------------------------------------------------------- CRUD


def test_create_and_get_alias_shape(lam: Any, two_versions: str) -> None:
    name = two_versions
    created = lam.create_alias(FunctionName=name, Name="live", FunctionVersion="1", Description="production")
    assert created["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert created["AliasArn"] == f"{arn(name)}:live"
    assert created["Name"] == "live"
    assert created["FunctionVersion"] == "1"
    assert created["Description"] == "production"
    assert re.match(UUID_RE, created["RevisionId"]), created["RevisionId"]
    assert not created.get("RoutingConfig", {}).get("AdditionalVersionWeights")

    got = lam.get_alias(FunctionName=name, Name="live")
    assert got["ResponseMetadata"]["HTTPStatusCode"] == 200
    for key in ("AliasArn", "Name", "FunctionVersion", "Description", "RevisionId"):
        assert got[key] == created[key], key
    # the function may be named by ARN too
    assert lam.get_alias(FunctionName=arn(name), Name="live")["AliasArn"] == created["AliasArn"]
    assert lam.get_alias(FunctionName=partial(name), Name="live")["AliasArn"] == created["AliasArn"]


def test_update_alias_and_revision_precondition(lam: Any, two_versions: str) -> None:
    name = two_versions
    created = lam.create_alias(FunctionName=name, Name="live", FunctionVersion="1")
    assert call(lam, f"{name}:live")[0] == "1"

    expect_error(lam.update_alias, "PreconditionFailedException", 412, FunctionName=name, Name="live",
                 FunctionVersion="2", RevisionId=str(uuid.uuid4()))
    assert lam.get_alias(FunctionName=name, Name="live")["FunctionVersion"] == "1"

    upd = lam.update_alias(FunctionName=name, Name="live", FunctionVersion="2", Description="moved",
                           RevisionId=created["RevisionId"])
    assert upd["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert upd["FunctionVersion"] == "2"
    assert upd["Description"] == "moved"
    assert upd["AliasArn"] == f"{arn(name)}:live"
    assert upd["RevisionId"] != created["RevisionId"]
    executed, out = call(lam, f"{name}:live")
    assert (executed, out["label"]) == ("2", "v2"), "invoking the alias must follow its new version"

    # the RevisionId from before the update is now stale
    expect_error(lam.update_alias, "PreconditionFailedException", 412, FunctionName=name, Name="live",
                 FunctionVersion="1", RevisionId=created["RevisionId"])
    # a description-only update keeps the version
    desc = lam.update_alias(FunctionName=name, Name="live", Description="only description")
    assert desc["FunctionVersion"] == "2"
    assert lam.get_alias(FunctionName=name, Name="live")["Description"] == "only description"
    expect_error(lam.update_alias, "ResourceNotFoundException", 404, FunctionName=name, Name="nosuch",
                 FunctionVersion="1")
    expect_error(lam.update_alias, "ResourceNotFoundException", 404, FunctionName=name, Name="live",
                 FunctionVersion="9")


def test_list_aliases_filter_and_pagination(lam: Any, two_versions: str) -> None:
    name = two_versions
    for alias, version in (("alpha", "1"), ("beta", "1"), ("gamma", "2")):
        lam.create_alias(FunctionName=name, Name=alias, FunctionVersion=version)
    listed = lam.list_aliases(FunctionName=name)
    assert listed["ResponseMetadata"]["HTTPStatusCode"] == 200
    by_name = {a["Name"]: a for a in listed["Aliases"]}
    assert set(by_name) == {"alpha", "beta", "gamma"}
    assert by_name["gamma"]["FunctionVersion"] == "2"
    assert by_name["alpha"]["AliasArn"] == f"{arn(name)}:alpha"

    assert sorted(a["Name"] for a in lam.list_aliases(FunctionName=name, FunctionVersion="1")["Aliases"]) == \
        ["alpha", "beta"]
    assert [a["Name"] for a in lam.list_aliases(FunctionName=name, FunctionVersion="2")["Aliases"]] == ["gamma"]

    seen: list[str] = []
    marker = None
    for _ in range(10):
        kwargs: dict[str, Any] = {"MaxItems": 1}
        if marker:
            kwargs["Marker"] = marker
        page = lam.list_aliases(FunctionName=name, **kwargs)
        assert len(page["Aliases"]) == 1
        seen.extend(a["Name"] for a in page["Aliases"])
        marker = page.get("NextMarker")
        if not marker:
            break
    assert sorted(seen) == ["alpha", "beta", "gamma"]
    assert len(seen) == 3
    assert sorted(_alias_names(lam, name, PaginationConfig={"PageSize": 2})) == ["alpha", "beta", "gamma"]
    assert sorted(_alias_names(lam, name, FunctionVersion="1", PaginationConfig={"PageSize": 1})) == \
        ["alpha", "beta"]
    expect_error(lam.list_aliases, "ResourceNotFoundException", 404, FunctionName=name + "-nope")


def test_delete_alias(lam: Any, two_versions: str) -> None:
    name = two_versions
    lam.create_alias(FunctionName=name, Name="live", FunctionVersion="1")
    deleted = lam.delete_alias(FunctionName=name, Name="live")
    assert deleted["ResponseMetadata"]["HTTPStatusCode"] == 204
    expect_error(lam.get_alias, "ResourceNotFoundException", 404, FunctionName=name, Name="live")
    expect_error(lam.invoke, "ResourceNotFoundException", 404, FunctionName=f"{name}:live", Payload=b"{}")
    assert _alias_names(lam, name) == []
    # the version it pointed to is untouched, and the name can be reused
    assert call(lam, name, Qualifier="1")[1]["label"] == "v1"
    assert lam.create_alias(FunctionName=name, Name="live", FunctionVersion="2")["FunctionVersion"] == "2"


# ------------------------------------------------------------------------------------------- invoking


def test_invoke_through_alias_in_every_form(lam: Any, two_versions: str) -> None:
    name = two_versions
    lam.create_alias(FunctionName=name, Name="live", FunctionVersion="1")
    for kwargs in ({"FunctionName": f"{name}:live"}, {"FunctionName": name, "Qualifier": "live"},
                   {"FunctionName": qualified(name, "live")}, {"FunctionName": partial(name, "live")}):
        fn = kwargs.pop("FunctionName")
        executed, out = call(lam, fn, **kwargs)
        assert executed == "1", kwargs
        assert out["label"] == "v1"
        assert out["function_version"] == "1"
        assert out["env_version"] == "1"
        assert out["invoked_function_arn"] == f"{arn(name)}:live", "the invoked ARN keeps the alias name"
        assert "/[1]" in out["log_stream_name"], out["log_stream_name"]
    cfg = lam.get_function_configuration(FunctionName=name, Qualifier="live")
    assert cfg["Version"] == "1"
    assert lam.get_function(FunctionName=f"{name}:live")["Configuration"]["Version"] == "1"


def test_alias_on_latest_follows_updates(lam: Any, two_versions: str) -> None:
    name = two_versions
    lam.create_alias(FunctionName=name, Name="dev", FunctionVersion="$LATEST")
    executed, out = call(lam, f"{name}:dev")
    assert (executed, out["label"]) == ("$LATEST", "latest")
    assert out["invoked_function_arn"] == f"{arn(name)}:dev"
    update_code(lam, name, "newer")
    executed, out = call(lam, f"{name}:dev")
    assert (executed, out["label"]) == ("$LATEST", "newer")


def test_weighted_routing_is_statistically_right(lam: Any, two_versions: str) -> None:
    name = two_versions
    created = lam.create_alias(FunctionName=name, Name="canary", FunctionVersion="1",
                               RoutingConfig={"AdditionalVersionWeights": {"2": 0.3}})
    assert created["RoutingConfig"] == {"AdditionalVersionWeights": {"2": 0.3}}
    assert lam.get_alias(FunctionName=name, Name="canary")["RoutingConfig"] == \
        {"AdditionalVersionWeights": {"2": 0.3}}

    n = 300
    counts: Counter[str] = Counter()
    for _ in range(n):
        executed, out = call(lam, f"{name}:canary")
        assert executed == out["function_version"] == out["env_version"], (executed, out)
        assert out["label"] == f"v{executed}", (executed, out)
        assert out["invoked_function_arn"] == f"{arn(name)}:canary"
        counts[executed] += 1
    assert set(counts) == {"1", "2"}, counts
    share = counts["2"] / n
    # binomial(300, 0.3): sd ≈ 0.026, so ±0.1 is ~3.8 sd
    assert 0.2 <= share <= 0.4, f"version 2 got {share:.3f} of {n} invokes, expected ≈0.3 ({counts})"

    # shifting all the traffic: weights removed → only the primary version serves
    upd = lam.update_alias(FunctionName=name, Name="canary", FunctionVersion="2",
                           RoutingConfig={"AdditionalVersionWeights": {}})
    assert not upd.get("RoutingConfig", {}).get("AdditionalVersionWeights")
    assert {call(lam, f"{name}:canary")[0] for _ in range(40)} == {"2"}

    # and the reverse split via UpdateAlias
    upd = lam.update_alias(FunctionName=name, Name="canary", FunctionVersion="2",
                           RoutingConfig={"AdditionalVersionWeights": {"1": 0.5}})
    assert upd["RoutingConfig"] == {"AdditionalVersionWeights": {"1": 0.5}}
    seen = Counter(call(lam, name, Qualifier="canary")[0] for _ in range(100))
    # binomial(100, 0.5): sd 0.05; 0.3..0.7 is 4 sd
    assert 30 <= seen["1"] <= 70, seen


# ------------------------------------------------------------------------------------------- refusals


def test_alias_refusals(lam: Any, raw: Any, two_versions: str) -> None:
    name = two_versions
    expect_error(lam.create_alias, "InvalidParameterValueException", 400, FunctionName=name, Name="bad-latest",
                 FunctionVersion="$LATEST", RoutingConfig={"AdditionalVersionWeights": {"1": 0.2}})
    for weight in (1.5, -0.1):
        expect_error(raw.create_alias, BAD_INPUT, 400, FunctionName=name, Name="bad-weight",
                     FunctionVersion="1", RoutingConfig={"AdditionalVersionWeights": {"2": weight}})
    expect_error(lam.create_alias, BAD_INPUT, 400, FunctionName=name, Name="12", FunctionVersion="1")
    expect_error(lam.create_alias, "ResourceNotFoundException", 404, FunctionName=name, Name="ghost",
                 FunctionVersion="42")
    expect_error(lam.create_alias, "ResourceNotFoundException", 404, FunctionName=name + "-nope", Name="live",
                 FunctionVersion="1")
    # weights that name an unknown version (not found, or refused as a bad value: either is Lambda-like)
    expect_error(lam.create_alias, ("ResourceNotFoundException", "InvalidParameterValueException"), (400, 404),
                 FunctionName=name, Name="ghost-weight", FunctionVersion="1",
                 RoutingConfig={"AdditionalVersionWeights": {"42": 0.1}})
    assert _alias_names(lam, name) == [], "no refused alias may have been created"

    lam.create_alias(FunctionName=name, Name="live", FunctionVersion="1")
    e = expect_error(lam.create_alias, "ResourceConflictException", 409, FunctionName=name, Name="live",
                     FunctionVersion="2")
    assert "live" in e.response["Error"]["Message"]
    assert lam.get_alias(FunctionName=name, Name="live")["FunctionVersion"] == "1"
    # the same rules on UpdateAlias
    expect_error(raw.update_alias, BAD_INPUT, 400, FunctionName=name, Name="live",
                 RoutingConfig={"AdditionalVersionWeights": {"2": 1.5}})
    expect_error(lam.update_alias, "InvalidParameterValueException", 400, FunctionName=name, Name="live",
                 FunctionVersion="$LATEST", RoutingConfig={"AdditionalVersionWeights": {"2": 0.5}})
    assert lam.get_alias(FunctionName=name, Name="live")["FunctionVersion"] == "1"
    assert not lam.get_alias(FunctionName=name, Name="live").get("RoutingConfig", {}).get(
        "AdditionalVersionWeights")


def test_deleting_a_version_an_alias_uses_is_refused(lam: Any, two_versions: str) -> None:
    name = two_versions
    lam.create_alias(FunctionName=name, Name="live", FunctionVersion="1",
                     RoutingConfig={"AdditionalVersionWeights": {"2": 0.5}})
    expect_error(lam.delete_function, "ResourceConflictException", 409, FunctionName=name, Qualifier="1")
    expect_error(lam.delete_function, "ResourceConflictException", 409, FunctionName=name, Qualifier="2")
    expect_error(lam.delete_function, "ResourceConflictException", 409, FunctionName=f"{name}:2")
    assert all_versions(lam, name) == ["$LATEST", "1", "2"]
    # drop the weight: version 2 becomes deletable, version 1 still not
    lam.update_alias(FunctionName=name, Name="live", RoutingConfig={"AdditionalVersionWeights": {}})
    lam.delete_function(FunctionName=name, Qualifier="2")
    expect_error(lam.delete_function, "ResourceConflictException", 409, FunctionName=name, Qualifier="1")
    lam.delete_alias(FunctionName=name, Name="live")
    lam.delete_function(FunctionName=name, Qualifier="1")
    assert all_versions(lam, name) == ["$LATEST"]


def test_delete_function_removes_versions_and_aliases(lam: Any, two_versions: str) -> None:
    name = two_versions
    lam.create_alias(FunctionName=name, Name="live", FunctionVersion="1",
                     RoutingConfig={"AdditionalVersionWeights": {"2": 0.1}})
    lam.create_alias(FunctionName=name, Name="dev", FunctionVersion="$LATEST")
    deleted = lam.delete_function(FunctionName=name)
    assert deleted["ResponseMetadata"]["HTTPStatusCode"] in (200, 204)
    expect_error(lam.get_alias, "ResourceNotFoundException", 404, FunctionName=name, Name="live")
    expect_error(lam.invoke, "ResourceNotFoundException", 404, FunctionName=f"{name}:live", Payload=b"{}")
    expect_error(lam.invoke, "ResourceNotFoundException", 404, FunctionName=f"{name}:1", Payload=b"{}")
    expect_error(lam.list_versions_by_function, "ResourceNotFoundException", 404, FunctionName=name)

    # a new function under the same name starts clean: no old versions or aliases leak into it
    lam.create_function(FunctionName=name, Runtime="python3.11", Role=ROLE, Handler="app.handler",
                        Code={"ZipFile": make_zip(versioned("reborn"))})
    wait_ready(lam, name)
    assert all_versions(lam, name) == ["$LATEST"]
    assert _alias_names(lam, name) == []
    expect_error(lam.get_alias, "ResourceNotFoundException", 404, FunctionName=name, Name="live")
    expect_error(lam.get_function_configuration, "ResourceNotFoundException", 404, FunctionName=name,
                 Qualifier="2")
    assert call(lam, name)[1]["label"] == "reborn"


# ------------------------------------------------------------------------------------------- AWS CLI


def test_cli_aliases(server: Any, lam: Any, two_versions: str) -> None:
    name = two_versions
    created = json.loads(aws_cli(
        server, "lambda", "create-alias", "--function-name", name, "--name", "live", "--function-version", "1",
        "--description", "cli alias", "--routing-config", '{"AdditionalVersionWeights": {"2": 0.25}}',
    ).stdout)
    assert created["AliasArn"] == f"{arn(name)}:live"
    assert created["FunctionVersion"] == "1"
    assert created["RoutingConfig"] == {"AdditionalVersionWeights": {"2": 0.25}}
    aws_cli(server, "lambda", "create-alias", "--function-name", name, "--name", "stable",
            "--function-version", "2")
    listed = json.loads(aws_cli(server, "lambda", "list-aliases", "--function-name", name).stdout)
    assert sorted(a["Name"] for a in listed["Aliases"]) == ["live", "stable"]
    filtered = json.loads(aws_cli(server, "lambda", "list-aliases", "--function-name", name,
                                  "--function-version", "1").stdout)
    assert [a["Name"] for a in filtered["Aliases"]] == ["live"]
    dup = aws_cli(server, "lambda", "create-alias", "--function-name", name, "--name", "live",
                  "--function-version", "1", check=False)
    assert dup.returncode != 0
    assert "ResourceConflictException" in dup.stderr
