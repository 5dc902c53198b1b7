"""The plan: a CloudFormation template and a stack's last state in, the changes out. Pure: nothing is applied here,
so a CloudFormation wire API (ValidateTemplate, CreateChangeSet) can front the same code later.

Every check that can refuse a template is made here, before anything is applied: parameters, conditions, Refs to
nothing, cycles, unsupported types, code that was never uploaded. Property values of resources that already exist
are resolved against their recorded Ref and GetAtt values; values of resources not made yet are placeholders
(`<pending Fn.Arn>`), so a property naming a new resource counts as changed.

The actions: `Create`, `Update` (in place), `Replace` (the provider's `replaces` says so: a new resource is made,
the old one deleted once the deploy has succeeded), `Delete` (gone from the template: deleted last), `Unchanged`
(never touched) and `Skip` (an unsupported type under `--skip-unsupported`: its Ref is its logical id).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from nimbus.deploy.code import normalize_code
from nimbus.deploy.graph import dependencies, waves
from nimbus.deploy.intrinsics import Scope, fail
from nimbus.deploy.parameters import Parameters, resolve_parameters
from nimbus.deploy.provider import Provider
from nimbus.deploy.template import check_shape, is_sam
from nimbus.errors import ValidationError

CREATE, UPDATE, REPLACE, DELETE, UNCHANGED, SKIP = "Create", "Update", "Replace", "Delete", "Unchanged", "Skip"


@dataclass(frozen=True, slots=True)
class Record:
    """One resource as the stack last left it: what it is, what it resolves to, what it was given."""

    type: str
    physical_id: str
    ref: Any
    attributes: Mapping[str, Any]
    properties: Mapping[str, Any]
    deps: tuple[str, ...] = ()
    seed: str = ""
    retain: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "Type": self.type, "PhysicalId": self.physical_id, "Ref": self.ref, "Attributes": self.attributes,
            "Properties": self.properties, "Deps": list(self.deps), "Seed": self.seed, "Retain": self.retain,
        }  # fmt: skip

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> Record:
        return cls(doc["Type"], doc["PhysicalId"], doc["Ref"], doc["Attributes"], doc["Properties"],
                   tuple(doc.get("Deps", ())), doc.get("Seed", ""), bool(doc.get("Retain")))  # fmt: skip


@dataclass(frozen=True, slots=True)
class Change:
    logical_id: str
    type: str
    action: str
    #: why, in a few words (e.g. the properties that changed)
    detail: str = ""


@dataclass(frozen=True, slots=True)
class Target:
    """A resource the template wants: its raw (unresolved) properties and what it depends on."""

    type: str
    properties: Mapping[str, Any]
    deps: frozenset[str]
    retain: bool


@dataclass
class Plan:
    parameters: Parameters
    scope: Scope
    targets: dict[str, Target]
    #: dependency waves of the targets
    order: list[list[str]]
    changes: list[Change]
    outputs: dict[str, Any]
    #: zips this plan made (inline code), by sha256 hex
    code: dict[str, bytes] = field(default_factory=dict)

    @property
    def skipped(self) -> list[str]:
        return [c.logical_id for c in self.changes if c.action == SKIP]

    def action(self, logical_id: str) -> str:
        return next((c.action for c in self.changes if c.logical_id == logical_id), UNCHANGED)

    @property
    def empty(self) -> bool:
        return all(c.action in (UNCHANGED, SKIP) for c in self.changes)


@dataclass(frozen=True, slots=True)
class StackInfo:
    name: str
    stack_id: str
    region: str
    account: str


def pseudo_parameters(info: StackInfo) -> dict[str, Any]:
    return {
        "AWS::Region": info.region, "AWS::AccountId": info.account, "AWS::StackName": info.name,
        "AWS::StackId": info.stack_id, "AWS::Partition": "aws", "AWS::URLSuffix": "amazonaws.com",
        "AWS::NotificationARNs": [],
    }  # fmt: skip


def _changed_keys(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    return sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))


def make_plan(
    template: Mapping[str, Any],
    given: Mapping[str, str],
    info: StackInfo,
    previous: Mapping[str, Record],
    providers: Mapping[str, Provider],
    *,
    skip_unsupported: bool = False,
    known_code: Callable[[str], bool] = lambda digest: False,
    exports: Callable[[str], Any] | None = None,
) -> Plan:
    """The changes that bring the stack from `previous` to `template`; ValidationError for a bad template."""
    check_shape(template)
    if is_sam(dict(template)):
        raise ValidationError("the template still has a SAM Transform: run the transform first (nimbus deploy does)")
    parameters = resolve_parameters(template.get("Parameters") or {}, given)
    scope = Scope(parameters.values, pseudo_parameters(info), template.get("Mappings") or {},
                  condition_defs=template.get("Conditions") or {}, import_value=exports)  # fmt: skip
    scope.evaluate_conditions()
    resources: dict[str, Mapping[str, Any]] = {}
    for logical_id, resource in template["Resources"].items():
        condition = resource.get("Condition")
        if condition is None or scope.condition(condition, f"Resources.{logical_id}.Condition"):
            resources[logical_id] = resource
    scope.resources = frozenset(resources)
    deps = dependencies(resources, scope)
    unsupported = sorted(f"{lid} ({r['Type']})" for lid, r in resources.items() if r["Type"] not in providers)
    if unsupported and not skip_unsupported:
        raise ValidationError(
            f"Unsupported resource types (nothing was applied; --skip-unsupported deploys the rest): "
            f"{', '.join(unsupported)}"
        )
    retain = ("Retain", "RetainExceptOnCreate")
    targets = {
        lid: Target(r["Type"], r.get("Properties") or {}, frozenset(deps[lid]), r.get("DeletionPolicy") in retain)
        for lid, r in resources.items()
    }
    plan = Plan(parameters, scope, targets, waves(deps), [], {})
    _plan_scope(scope, previous, targets, providers)
    for wave in plan.order:
        for lid in wave:
            plan.changes.append(_change(plan, lid, previous.get(lid), providers, known_code))
    replaced = {c.logical_id for c in plan.changes if c.action == REPLACE}
    for i, change in enumerate(plan.changes):  # a dependency replaced: the dependent's values change with it
        moved = sorted(targets[change.logical_id].deps & replaced)
        if change.action == UNCHANGED and moved:
            plan.changes[i] = Change(change.logical_id, change.type, UPDATE, f"{', '.join(moved)} replaced")
    gone = [lid for lid in previous if lid not in targets]
    for lid in reversed([lid for wave in waves({k: set(previous[k].deps) & set(gone) for k in gone})
                         for lid in wave]):  # fmt: skip
        plan.changes.append(Change(lid, previous[lid].type, DELETE, "not in the template"))
    for name, output in (template.get("Outputs") or {}).items():
        if not isinstance(output, dict) or "Value" not in output:
            raise fail(f"Outputs.{name}", "an output has a Value")
        if output.get("Condition") is None or scope.condition(output["Condition"], f"Outputs.{name}.Condition"):
            plan.outputs[name] = output
    return plan


def _plan_scope(scope: Scope, previous: Mapping[str, Record], targets: Mapping[str, Target],
                providers: Mapping[str, Provider]) -> None:  # fmt: skip
    """Refs and GetAtts as the plan sees them: recorded values, logical ids for skipped types, placeholders."""

    def ref(name: str) -> Any:
        if targets[name].type not in providers:
            return name
        record = previous.get(name)
        return record.ref if record is not None and record.type == targets[name].type else f"<pending {name}>"

    def att(name: str, attribute: str, where: str) -> Any:
        if targets[name].type not in providers:
            return f"{name}.{attribute}"
        record = previous.get(name)
        if record is not None and record.type == targets[name].type and attribute in record.attributes:
            return record.attributes[attribute]
        return f"<pending {name}.{attribute}>"

    scope.ref, scope.att = ref, att


def _change(plan: Plan, lid: str, record: Record | None, providers: Mapping[str, Provider],
            known_code: Callable[[str], bool]) -> Change:  # fmt: skip
    target = plan.targets[lid]
    provider = providers.get(target.type)
    if provider is None:
        return Change(lid, target.type, SKIP, "unsupported type: its Ref is its logical id")
    props = resolve_properties(plan, lid, known_code)
    if record is None:
        return Change(lid, target.type, CREATE)
    if record.type != target.type:
        return Change(lid, target.type, REPLACE, f"type changed from {record.type}")
    if props == record.properties:
        return Change(lid, target.type, UNCHANGED)
    keys = ", ".join(_changed_keys(record.properties, props))
    if provider.replaces(target.type, record.properties, props):
        return Change(lid, target.type, REPLACE, keys)
    return Change(lid, target.type, UPDATE, keys)


def resolve_properties(plan: Plan, lid: str, known_code: Callable[[str], bool]) -> dict[str, Any]:
    """A target's properties, every intrinsic evaluated (with the scope's current ref/att), code normalised."""
    target = plan.targets[lid]
    props = plan.scope.resolve(dict(target.properties), f"Resources.{lid}.Properties")
    props, made = normalize_code(target.type, lid, props, lambda d: d in plan.code or known_code(d))
    plan.code.update(made)
    return props
