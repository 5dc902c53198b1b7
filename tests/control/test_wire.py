"""Wire shapes of records: FunctionConfiguration with its ARN, AliasConfiguration, and the two paginations."""

from __future__ import annotations

import pytest

from nimbus.control import wire
from nimbus.control.records import FunctionRecord, VersionRecord
from nimbus.errors import InvalidParameterValue

ARN = wire.function_arn("eu-west-1", "123456789012", "f")
LATEST = {
    "FunctionName": "f",
    "Version": "$LATEST",
    "RevisionId": "r1",
    "State": "Active",
    "LastUpdateStatus": "Successful",
    "RuntimeVersionConfig": {"RuntimeVersionArn": "x"},
    "_UnzippedSize": 10,
}


def rec() -> FunctionRecord:
    return FunctionRecord("f", dict(LATEST), "ab", versions={3: VersionRecord(3, LATEST | {"Version": "3"}, "cd")})


def test_function_arn() -> None:
    assert ARN == "arn:aws:lambda:eu-west-1:123456789012:function:f"


def test_configuration_hides_internal_keys_and_qualifies_the_arn() -> None:
    out = wire.configuration(rec(), ARN)
    assert "_UnzippedSize" not in out
    assert out["FunctionArn"] == ARN, "$LATEST unqualified answers with the plain ARN"
    assert out["State"] == "Active"
    assert wire.configuration(rec(), ARN, version="3")["FunctionArn"] == f"{ARN}:3"
    assert wire.configuration(rec(), ARN, version="3", qualifier="live")["FunctionArn"] == f"{ARN}:live"
    assert wire.configuration(rec(), ARN, qualifier="$LATEST")["FunctionArn"] == f"{ARN}:$LATEST"


def test_configuration_does_not_change_the_record() -> None:
    r = rec()
    wire.configuration(r, ARN)["Description"] = "changed"
    assert r.config == LATEST


def test_listing_omits_the_state_fields() -> None:
    out = wire.configuration(rec(), ARN, listing=True)
    assert not set(wire.LISTING_OMITS) & set(out)
    assert out["RevisionId"] == "r1"


def test_an_empty_environment_is_left_out() -> None:
    empty = FunctionRecord("f", LATEST | {"Environment": {"Variables": {}}}, "ab")
    assert "Environment" not in wire.configuration(empty, ARN)
    kept = FunctionRecord("f", LATEST | {"Environment": {"Variables": {"AB": "1"}}}, "ab")
    assert wire.configuration(kept, ARN)["Environment"] == {"Variables": {"AB": "1"}}


def test_created_is_pending_without_last_update_status() -> None:
    out = wire.created(wire.configuration(rec(), ARN))
    assert (out["State"], out["StateReasonCode"]) == ("Pending", "Creating")
    assert "LastUpdateStatus" not in out


def test_configuration_of_a_missing_version_is_a_key_error() -> None:
    with pytest.raises(KeyError):
        wire.configuration(rec(), ARN, version="4")


def test_describe_alias() -> None:
    config = {"FunctionVersion": "3", "Description": "", "RevisionId": "r"}
    assert wire.describe_alias(ARN, "live", config) == {"AliasArn": f"{ARN}:live", "Name": "live", **config}


def test_index_pages_walk_every_item_once() -> None:
    items = list(range(120))
    seen: list[int] = []
    marker: str | None = None
    pages = 0
    while True:
        chunk, marker = wire.page(items, marker, None)
        seen += chunk
        pages += 1
        if marker is None:
            break
    assert (seen, pages) == (items, 3), "at most PAGE_MAX (50) a page"
    assert wire.page(items, None, 7) == (items[:7], "7")
    assert wire.page(items, None, 500)[0] == items[:50]
    with pytest.raises(InvalidParameterValue):
        wire.page(items, "abc", None)


def test_name_pages_survive_a_deletion_between_calls() -> None:
    names = [f"fn-{i:03d}" for i in range(60)]
    first, marker = wire.page_by_name(names, None, 10)
    assert first == names[:10]
    assert marker is not None
    del names[3:12]  # functions deleted between two ListFunctions calls, the page's last among them
    second, _ = wire.page_by_name(names, marker, 10)
    assert second[0] == "fn-012", "the next page starts after the last name shown, wherever it is now"
    assert wire.page_by_name(names, None, None)[1] is not None
    assert wire.page_by_name(names[:5], None, None) == (names[:5], None)
    with pytest.raises(InvalidParameterValue):
        wire.page_by_name(names, "!!not base64", None)
