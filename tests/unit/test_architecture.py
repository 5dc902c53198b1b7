"""The import rules of docs/architecture.md, enforced by walking every module's imports."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "nimbus"


def imports_of(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def modules(package: str) -> list[Path]:
    return sorted((SRC / package).rglob("*.py"))


@pytest.mark.parametrize("path", modules("protocol"), ids=lambda p: p.name)
def test_protocol_is_pure(path: Path) -> None:
    bad = {m for m in imports_of(path) if m.split(".")[0] in {"asyncio", "socket", "subprocess", "selectors"}}
    ours = {m for m in imports_of(path) if m.startswith("nimbus") and m != "nimbus.errors"}
    assert not bad, f"{path.name} imports {bad}"
    assert not ours, f"{path.name} imports {ours}"


@pytest.mark.parametrize("package", ["instances", "runtimes", "logs", "control", "store", "invoke"])
def test_lower_layers_never_import_the_api(package: str) -> None:
    for path in modules(package):
        assert not {m for m in imports_of(path) if m.startswith(("nimbus.api", "nimbus.cli", "nimbus.server"))}, path


def test_cli_uses_only_the_public_api() -> None:
    allowed = ("nimbus.cli", "nimbus.config", "nimbus.deploy", "nimbus.server")
    # `nimbus doctor` inspects the local host itself: it is a diagnostic, not an API client
    local_diagnostics = {"_doctor.py": ("nimbus.instances.isolation",)}
    for path in modules("cli"):
        ours = {m for m in imports_of(path) if m.startswith("nimbus") and m != "nimbus"}
        ours -= set(local_diagnostics.get(path.name, ()))
        assert all(m.startswith(allowed) for m in ours), f"{path.name} imports {ours}"


def test_python_bootstrap_is_stdlib_only() -> None:
    for path in modules("runtimes/python"):
        assert not {m for m in imports_of(path) if m.startswith("nimbus")}, path
