"""The pure plan: creates, in-place updates, replacements (as the provider's `replaces` says), deletes (dependents
first), unchanged resources untouched, a dependency's replacement reaching its dependents, unsupported types
refused with the list (or skipped, their Ref their logical id), conditions and outputs, code that was never
uploaded refused. The provider here is a stand-in for the contract: only `replaces` is asked by the plan."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from nimbus.deploy.plan import CREATE, DELETE, REPLACE, SKIP, UNCHANGED, UPDATE, Record, StackInfo, make_plan
from nimbus.deploy.provider import Made, StackContext
from nimbus.errors import ValidationError

INFO = StackInfo("shop", "arn:aws:cloudformation:us-east-1:000000000000:stack/shop/1", "us-east-1", "000000000000")
SHA = "ab" * 32


class Named:
    """The contract's `replaces` only: a change of `Name` replaces, anything else updates in place."""

    types = ("Test::Thing", "AWS::Lambda::Function")

    def replaces(self, type_: str, old: Mapping[str, Any], new: Mapping[str, Any]) -> bool:
        return old.get("Name") != new.get("Name")

    async def create(self, ctx: StackContext, type_: str, logical_id: str, props: Mapping[str, Any]) -> Made:
        raise AssertionError("the plan applies nothing")

    async def update(self, ctx: StackContext, type_: str, logical_id: str, physical_id: str,
                     old: Mapping[str, Any], new: Mapping[str, Any]) -> Made:  # fmt: skip
        raise AssertionError("the plan applies nothing")

    async def delete(self, ctx: StackContext, type_: str, logical_id: str, physical_id: str,
                     props: Mapping[str, Any]) -> None:  # fmt: skip
        raise AssertionError("the plan applies nothing")


PROVIDERS = {t: Named() for t in Named.types}


def thing(**props: Any) -> dict[str, Any]:
    return {"Type": "Test::Thing", "Properties": props}


def record(props: dict[str, Any], ref: str, deps: tuple[str, ...] = (), **attrs: str) -> Record:
    return Record("Test::Thing", ref, ref, attrs, props, deps)


def actions(plan: Any) -> dict[str, str]:
    return {c.logical_id: c.action for c in plan.changes}


def test_first_deploy_creates_in_dependency_order() -> None:
    template = {"Resources": {"B": thing(Peer={"Ref": "A"}), "A": thing(Name="a"), "C": thing()}}
    plan = make_plan(template, {}, INFO, {}, PROVIDERS)
    assert actions(plan) == {"A": CREATE, "C": CREATE, "B": CREATE}
    assert plan.order == [["A", "C"], ["B"]]


def test_changes_against_the_last_state() -> None:
    previous = {
        "Same": record({"Name": "s"}, "same-1"),
        "Tuned": record({"Name": "t", "Size": 1}, "tuned-1"),
        "Renamed": record({"Name": "old"}, "renamed-1"),
        "UsesRenamed": record({"Name": "u", "Peer": "renamed-1"}, "uses-1", ("Renamed",)),
        "Gone": record({"Name": "g"}, "gone-1"),
        "GoneChild": record({"Name": "gc", "Parent": "gone-1"}, "gc-1", ("Gone",)),
    }
    template = {"Resources": {
        "Same": thing(Name="s"), "Tuned": thing(Name="t", Size=2), "Renamed": thing(Name="new"),
        "UsesRenamed": thing(Name="u", Peer={"Ref": "Renamed"}), "Fresh": thing(Peer={"Ref": "Same"}),
    }}  # fmt: skip
    plan = make_plan(template, {}, INFO, previous, PROVIDERS)
    assert actions(plan) == {"Same": UNCHANGED, "Tuned": UPDATE, "Renamed": REPLACE, "UsesRenamed": UPDATE,
                             "Fresh": CREATE, "GoneChild": DELETE, "Gone": DELETE}  # fmt: skip
    deletes = [c.logical_id for c in plan.changes if c.action == DELETE]
    assert deletes == ["GoneChild", "Gone"]  # dependents first
    details = {c.logical_id: c.detail for c in plan.changes}
    assert details["Tuned"] == "Size"
    assert details["UsesRenamed"] == "Renamed replaced"
    assert not plan.empty


def test_nothing_changed_is_empty() -> None:
    previous = {"A": record({"Name": "a"}, "a-1")}
    assert make_plan({"Resources": {"A": thing(Name="a")}}, {}, INFO, previous, PROVIDERS).empty


def test_unsupported_types_are_refused_with_the_list_or_skipped() -> None:
    template = {"Resources": {"T": {"Type": "AWS::DynamoDB::Table"}, "B": {"Type": "AWS::S3::Bucket"},
                              "Fn": thing(Table={"Ref": "T"}, Bucket={"Fn::GetAtt": ["B", "Arn"]})}}  # fmt: skip
    with pytest.raises(ValidationError) as info:
        make_plan(template, {}, INFO, {}, PROVIDERS)
    assert "B (AWS::S3::Bucket), T (AWS::DynamoDB::Table)" in info.value.message
    assert "nothing was applied" in info.value.message
    plan = make_plan(template, {}, INFO, {}, PROVIDERS, skip_unsupported=True)
    assert actions(plan) == {"B": SKIP, "T": SKIP, "Fn": CREATE}
    assert plan.skipped == ["B", "T"]
    assert plan.scope.resolve({"Ref": "T"}, "x") == "T"


def test_conditions_leave_resources_and_outputs_out() -> None:
    template = {
        "Parameters": {"Stage": {"Type": "String", "Default": "dev"}},
        "Conditions": {"IsProd": {"Fn::Equals": [{"Ref": "Stage"}, "prod"]}},
        "Resources": {"Alarm": thing() | {"Condition": "IsProd"}, "Fn": thing(Name={"Fn::Sub": "${Stage}-fn"})},
        "Outputs": {"AlarmName": {"Value": {"Ref": "Alarm"}, "Condition": "IsProd"}, "Fn": {"Value": {"Ref": "Fn"}}},
    }
    dev = make_plan(template, {}, INFO, {}, PROVIDERS)
    assert actions(dev) == {"Fn": CREATE}
    assert list(dev.outputs) == ["Fn"]
    prod = make_plan(template, {"Stage": "prod"}, INFO, {}, PROVIDERS)
    assert actions(prod) == {"Alarm": CREATE, "Fn": CREATE}
    assert list(prod.outputs) == ["AlarmName", "Fn"]


def test_code_must_have_been_uploaded_and_inline_code_is_zipped() -> None:
    def fn(code: Any) -> dict[str, Any]:
        return {"Resources": {"Fn": {"Type": "AWS::Lambda::Function", "Properties": {"Runtime": "python3.12",
                                                                                    "Code": code}}}}  # fmt: skip

    uploaded = make_plan(fn({"S3Bucket": "nimbus-code", "S3Key": SHA}), {}, INFO, {}, PROVIDERS,
                         known_code=lambda digest: digest == SHA)  # fmt: skip
    assert actions(uploaded) == {"Fn": CREATE}
    with pytest.raises(ValidationError, match=r"Resources\.Fn\.Properties\.Code: no uploaded code"):
        make_plan(fn({"S3Bucket": "nimbus-code", "S3Key": "cd" * 32}), {}, INFO, {}, PROVIDERS)
    with pytest.raises(ValidationError, match="S3Bucket 'my-bucket': only code uploaded by nimbus deploy"):
        make_plan(fn({"S3Bucket": "my-bucket", "S3Key": "k"}), {}, INFO, {}, PROVIDERS)
    inline = make_plan(fn({"ZipFile": "def handler(e, c): return 1"}), {}, INFO, {}, PROVIDERS)
    assert len(inline.code) == 1
    again = make_plan(fn({"ZipFile": "def handler(e, c): return 1"}), {}, INFO, {}, PROVIDERS)
    assert again.code == inline.code  # the same source, the same bytes: no update


def test_a_sam_template_must_be_transformed_first() -> None:
    with pytest.raises(ValidationError, match="still has a SAM Transform"):
        make_plan({"Transform": "AWS::Serverless-2016-10-31", "Resources": {"A": thing()}}, {}, INFO, {}, PROVIDERS)
