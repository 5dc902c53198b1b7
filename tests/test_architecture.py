"""The import rules of docs/architecture.md, enforced by walking every module's imports.

`violations(module, source)` is the checker: it reads one module's source (every `import`, at any depth, type-only
imports included, relative ones resolved) and names each import the rules forbid. The tests run it over every
module of src/nimbus, and over synthetic sources to prove it catches what it must.

The rules:
- Layers: a package imports only packages of a lower layer (and itself). Nothing imports upward.
- `api/` never imports `instances/`: it calls the door (`invoke/`) and the registry, never pools or processes.
- `protocol/` is pure: nothing of ours but `errors` and its own pure modules (SNS's messages use the filter
  engine), and no asyncio, sockets or subprocesses.
- `cli/` talks to the server through its public API only. It may import `config`, `deploy` and the server's entry
  point `nimbus.server.serve` (for `nimbus serve`), and one probe: `nimbus doctor` calls
  `nimbus.instances.isolation.detect`, the same host detection the server runs at start-up, because it diagnoses
  the host a server would run on (it works with no server running, and needs no credentials).
- `nimbus runtime install|list|remove` is the other: it installs Node.js into the data dir and lists where each
  runtime's interpreter comes from on this host, through `nimbus.runtimes.installed` and two functions of
  `nimbus.runtimes.registry`, with no server running; errors come back as `nimbus.errors.NimbusError`.
- The Python runtime bootstrap runs inside instances, on any python3: stdlib only.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "nimbus"

#: the layers, bottom up: a package may import packages of a lower layer only (top-level modules count as packages)
LAYERS: tuple[tuple[str, ...], ...] = (
    ("compiled",),  # the import guard, which nimbus/__init__ installs before anything else of ours loads
    ("nimbus", "errors", "compiled_build"),
    ("protocol", "config", "clock"),
    ("store", "runtimes"),
    ("logs", "control", "queue"),
    ("instances",),
    ("invoke",),
    ("sources",),
    ("api",),
    ("metrics", "deploy"),
    ("console",),
    ("startup",),
    ("server",),
    ("cli",),
)
RANK = {package: rank for rank, packages in enumerate(LAYERS) for package in packages}

#: imports forbidden although they point down: (importing package, forbidden prefix, why)
FORBIDDEN = (
    ("api", "nimbus.instances", "api/ calls the door (invoke/), never the instance pools"),
    ("protocol", "nimbus", "protocol/ imports nothing of ours but errors"),
)
PURE = {"asyncio", "socket", "subprocess", "selectors"}
#: what cli/ may import of ours, by module prefix, and the names it may take from each (None: any)
CLI_ALLOWED: dict[str, set[str] | None] = {
    "nimbus.cli": None,
    "nimbus.config": None,
    "nimbus.deploy": None,
    "nimbus.server": {"serve"},
    "nimbus.instances.isolation": {"detect"},
    "nimbus.runtimes.installed": None,
    "nimbus.runtimes.registry": {"runtime_rows", "use_installed_runtimes"},
    "nimbus.errors": {"NimbusError"},
    "nimbus": {"__version__"},
}


def module_name(path: Path) -> str:
    parts = path.relative_to(SRC.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(module: str, source: str, *, is_package: bool = False) -> list[tuple[str, tuple[str, ...]]]:
    """Every import of `module` as (imported module, names taken from it), relative imports resolved."""
    out: list[tuple[str, tuple[str, ...]]] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            out += [(alias.name, ()) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            target = node.module or ""
            if node.level:
                base = module.split(".")
                base = base[: len(base) - node.level + (1 if is_package else 0)]
                target = ".".join([*base, target] if target else base)
            out.append((target, tuple(alias.name for alias in node.names)))
    return out


def package_of(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def violations(module: str, source: str, *, is_package: bool = False) -> list[str]:
    """What `module` (dotted, e.g. "nimbus.api.lambda_api") imports against the rules, one line per import."""
    me = package_of(module)
    found: list[str] = []
    for target, names in imports(module, source, is_package=is_package):
        if me == "protocol" and target.split(".")[0] in PURE:
            found.append(f"{module} imports {target}: protocol/ does no I/O")
        if target != "nimbus" and not target.startswith("nimbus."):
            continue
        other = package_of(target)
        if other not in RANK:
            found.append(f"{module} imports {target}: {other} has no layer in LAYERS")
        elif other != me and RANK[other] >= RANK.get(me, len(LAYERS)):
            found.append(f"{module} imports {target}: {other} is not below {me} (nothing imports upward)")
        for package, prefix, why in FORBIDDEN:
            if me == package and target.startswith(prefix) and target != "nimbus.errors" and other != me:
                found.append(f"{module} imports {target}: {why}")
        if me == "cli" and not cli_may_import(target, names):
            found.append(f"{module} imports {target} {list(names)}: cli/ uses the server's public API only")
    return found


def cli_may_import(target: str, names: tuple[str, ...]) -> bool:
    """Whether cli/ may import `names` from `target` (the most specific entry of CLI_ALLOWED decides)."""
    for prefix in sorted(CLI_ALLOWED, key=len, reverse=True):
        if target == prefix or (prefix != "nimbus" and target.startswith(prefix + ".")):
            allowed = CLI_ALLOWED[prefix]
            return allowed is None or (bool(names) and set(names) <= allowed)
    return False


def sources() -> list[Path]:
    """Every module but the Python bootstrap's, which has its own rule (stdlib only)."""
    return sorted(p for p in SRC.rglob("*.py") if p.parent != SRC / "runtimes" / "python")


@pytest.mark.parametrize("path", sources(), ids=lambda p: str(p.relative_to(SRC)))
def test_module_follows_the_import_rules(path: Path) -> None:
    assert violations(module_name(path), path.read_text(), is_package=path.name == "__init__.py") == []


def test_every_package_has_a_layer() -> None:
    packages = {p.name for p in SRC.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    packages |= {p.stem for p in SRC.glob("*.py") if p.stem != "__init__"}
    assert packages <= RANK.keys(), packages - RANK.keys()


def test_python_bootstrap_is_stdlib_only() -> None:
    """Its modules may import one another (relative imports), and nothing else of ours."""
    for path in sorted((SRC / "runtimes" / "python").rglob("*.py")):
        found = imports(module_name(path), path.read_text(), is_package=path.name == "__init__.py")
        ours = [t for t, _ in found if t.split(".")[0] == "nimbus" and not t.startswith("nimbus.runtimes.python")]
        assert not ours, f"{path.name} imports {ours}"


# ---- the checker catches what it must (synthetic sources) ----


@pytest.mark.parametrize(
    "source",
    [
        "from nimbus.instances import InstanceManager",
        "from nimbus.instances.manager import InstanceManager",
        "import nimbus.instances.pool",
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from nimbus.instances.manager import InstanceManager",
        "def f():\n    from nimbus.instances.isolation import detect",
        "from ..instances import manager",
    ],
)
def test_checker_catches_api_importing_instances(source: str) -> None:
    found = violations("nimbus.api.lambda_api", source)
    assert any("api/ calls the door" in line for line in found), found


@pytest.mark.parametrize(
    ("module", "source"),
    [
        ("nimbus.instances.manager", "from nimbus.invoke.throttle import Throttle"),
        ("nimbus.instances.pool", "from nimbus.api.http import Response"),
        ("nimbus.control.registry", "from nimbus.instances.manager import InstanceManager"),
        ("nimbus.invoke.invoker", "from nimbus.api.lambda_api import LambdaApi"),
        ("nimbus.protocol.frames", "from nimbus.instances.instance import Instance"),
        ("nimbus.store.db", "import nimbus.server"),
    ],
)
def test_checker_catches_upward_imports(module: str, source: str) -> None:
    assert any("nothing imports upward" in line for line in violations(module, source))


def test_checker_keeps_protocol_pure_and_cli_on_the_public_api() -> None:
    assert violations("nimbus.protocol.frames", "import asyncio")
    assert violations("nimbus.protocol.frames", "from nimbus.config import Settings")
    assert violations("nimbus.protocol.frames", "from nimbus.errors import NimbusError") == []
    assert violations("nimbus.cli._functions", "from nimbus.control.registry import Registry")
    assert violations("nimbus.cli._functions", "from nimbus.instances.manager import InstanceManager")
    assert violations("nimbus.cli._serve", "from nimbus.server import run")  # internals, not the entry point
    assert violations("nimbus.cli._serve", "from nimbus.server import serve") == []
    assert violations("nimbus.cli._doctor", "from nimbus.instances.isolation import detect") == []
    assert violations("nimbus.cli._doctor", "from nimbus.instances.isolation import Isolation, detect")
    assert violations("nimbus.cli._doctor", "import nimbus.instances.isolation")
    assert violations("nimbus.cli.main", "import nimbus.server")
    assert violations("nimbus.cli.main", "from nimbus import __version__") == []


def test_checker_allows_what_points_down() -> None:
    assert violations("nimbus.api.lambda_api", "from nimbus.invoke.invoker import Invoker") == []
    assert violations("nimbus.invoke.invoker", "from nimbus.instances import InstanceManager") == []
    assert violations("nimbus.instances.manager", "from . import pool\nfrom .pool import Pool") == []
    assert violations("nimbus.server", "from nimbus.api.app import App") == []
