"""The instance layer's inner walls, checked on the source: module sizes, no import cycle among its modules (lazy
imports inside functions included: they only hide a cycle), and nobody asking which launcher it has."""

from __future__ import annotations

import ast
from pathlib import Path

import nimbus.instances

PACKAGE = Path(nimbus.instances.__file__).parent
#: modules that run inside a sandbox or zygote as stdlib-only scripts (no imports of ours to check)
SCRIPTS = {"sandbox_init", "zygote_main"}


def _modules() -> dict[str, ast.Module]:
    return {p.stem: ast.parse(p.read_text(), str(p)) for p in sorted(PACKAGE.glob("*.py")) if p.stem != "__init__"}


def _imports(tree: ast.Module) -> set[str]:
    """The sibling modules `tree` imports, anywhere in it (top level, functions, TYPE_CHECKING blocks)."""
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            if node.module.startswith("nimbus.instances."):
                found.add(node.module.split(".")[2])
            elif node.module == "nimbus.instances":
                found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(a.name.split(".")[2] for a in node.names if a.name.startswith("nimbus.instances."))
    return found


def test_no_module_of_the_instance_layer_is_over_400_lines_and_the_manager_under_300() -> None:
    sizes = {p.stem: len(p.read_text().splitlines()) for p in PACKAGE.glob("*.py")}
    assert {name: n for name, n in sizes.items() if n > 400 and name not in SCRIPTS} == {}
    assert sizes["manager"] < 300


def test_the_instance_modules_import_each_other_without_a_cycle() -> None:
    graph = {name: _imports(tree) & _modules().keys() for name, tree in _modules().items()}
    done: set[str] = set()

    def visit(name: str, path: list[str]) -> None:
        if name in path:
            raise AssertionError("import cycle: " + " -> ".join([*path[path.index(name) :], name]))
        if name in done:
            return
        for dep in sorted(graph[name]):
            visit(dep, [*path, name])
        done.add(name)

    for name in sorted(graph):
        visit(name, [])
    assert "sandbox" not in graph["environment"]


def test_nobody_asks_which_launcher_it_has() -> None:
    launchers = {"Launcher", "SpawnLauncher", "SandboxLauncher", "ZygoteLauncher"}
    offenders = []
    for name, tree in _modules().items():
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "isinstance":
                names = {n.id for arg in node.args[1:] for n in ast.walk(arg) if isinstance(n, ast.Name)}
                if names & launchers:
                    offenders.append(f"{name}:{node.lineno}")
    assert offenders == []


def test_the_stdlib_only_scripts_import_nothing_of_ours() -> None:
    for name in SCRIPTS:
        tree = ast.parse((PACKAGE / f"{name}.py").read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                assert not (node.module or "").startswith("nimbus"), f"{name} imports {node.module}"
            elif isinstance(node, ast.Import):
                assert not any(a.name.startswith("nimbus") for a in node.names), f"{name} imports nimbus"
