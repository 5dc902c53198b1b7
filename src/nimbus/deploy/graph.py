"""The resources' dependency graph: from Ref, Fn::GetAtt, Fn::Sub and DependsOn. Refs to nothing and cycles are
refused, naming the resource and the property; the order comes out in waves (each wave's resources depend only on
earlier waves', so a wave is applied in parallel). Pure.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from nimbus.deploy.intrinsics import Scope, fail, references


def dependencies(resources: Mapping[str, Mapping[str, Any]], scope: Scope) -> dict[str, set[str]]:
    """Each resource's dependencies (logical ids), checked: every one names a resource of the template."""
    deps: dict[str, set[str]] = {}
    for logical_id, resource in resources.items():
        where = f"Resources.{logical_id}"
        found: set[str] = set()
        for name, at in references(resource.get("Properties", {}), f"{where}.Properties", scope):
            if name not in resources:
                raise fail(at, f"Unresolved resource dependency [{name}]: no parameter or resource of that name")
            found.add(name)
        depends_on = resource.get("DependsOn", [])
        for name in [depends_on] if isinstance(depends_on, str) else depends_on:
            if name not in resources:
                raise fail(f"{where}.DependsOn", f"Unresolved resource dependency [{name}]: no resource of that name")
            found.add(name)
        if logical_id in found:
            raise fail(where, "a resource cannot depend on itself")
        deps[logical_id] = found
    _refuse_cycles(deps)
    return deps


def _refuse_cycles(deps: Mapping[str, set[str]]) -> None:
    """Depth-first search: a back edge is a cycle, reported as the resources on it."""
    state: dict[str, int] = {}  # 1 visiting, 2 done
    path: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        path.append(node)
        for dep in sorted(deps[node]):
            if state.get(dep) == 1:
                cycle = path[path.index(dep) :]
                raise fail("Resources", f"Circular dependency between resources: [{', '.join(cycle)}]")
            if dep not in state:
                visit(dep)
        path.pop()
        state[node] = 2

    for node in sorted(deps):
        if node not in state:
            visit(node)


def waves(deps: Mapping[str, set[str]]) -> list[list[str]]:
    """The resources in dependency order, grouped: each group depends only on earlier groups."""
    done: set[str] = set()
    order: list[list[str]] = []
    left = dict(deps)
    while left:
        ready = sorted(name for name, needs in left.items() if needs <= done)
        order.append(ready)
        done.update(ready)
        for name in ready:
            del left[name]
    return order


def dependents(deps: Mapping[str, set[str]]) -> dict[str, set[str]]:
    """The reverse graph: for each resource, the resources that depend on it."""
    reverse: dict[str, set[str]] = {name: set() for name in deps}
    for name, needs in deps.items():
        for need in needs:
            reverse.setdefault(need, set()).add(name)
    return reverse
