"""The compiled (mypyc) and pure modules: the guard never loads a stale or foreign binary, the switch loads every
source, a fresh build is really what runs (here and in the server), and the warm path's tests pass both ways.

`make test` runs the suite on the pure modules (coverage sees Python only: NIMBUS_PURE_PYTHON=1) and
`test_the_warm_path_behaves_the_same_compiled` runs the warm path's tests again on the compiled ones; a plain
`pytest` where a build exists runs compiled, and that test then runs them pure.
"""

from __future__ import annotations

import ast
import hashlib
import importlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT, Server
from nimbus import compiled

#: the warm path's tests: HTTP server, its limits and hostile input, SigV4 and the key ring, the JSON protocols, the
#: Lambda API and invoke end to end with its limits and concurrency, the door (invoker, throttle, payload), one
#: instance's edge and its lifecycle, the manager, deadlines, the spare-CPU check, random ids, frames, the log
#: framing, the console's duration digest; and the check below, that the other mode really loaded
WARM_PATH_TESTS = (
    "tests/api/test_httpserver.py",
    "tests/api/test_http_limits.py",
    "tests/api/test_sigv4.py",
    "tests/api/test_authn.py",
    "tests/api/test_jsonproto.py",
    "tests/api/test_restjson.py",
    "tests/invoke/test_invoker.py",
    "tests/invoke/test_throttle.py",
    "tests/invoke/test_payload.py",
    "tests/invoke/test_concurrency_owner.py",
    "tests/instances/test_instance.py",
    "tests/instances/test_lifecycle.py",
    "tests/instances/test_manager.py",
    "tests/instances/test_deadlines.py",
    "tests/instances/test_spare_cpu.py",
    "tests/control/test_keyring.py",
    "tests/protocol/test_random_ids.py",
    "tests/console/test_digest.py",
    "tests/protocol/test_frames.py",
    "tests/logs/test_platform_records.py",
    "tests/e2e/test_invoke.py",
    "tests/e2e/test_limits.py",
    "tests/e2e/test_concurrency.py",
    "tests/e2e/test_hostile_http.py",
    "tests/test_compiled.py::test_the_loaded_modules_are_the_build_or_the_sources",
)


def built() -> bool:
    """A build exists and is fresh for these sources (what `make install` leaves where it could compile)."""
    recorded = compiled.read_manifest()
    if recorded is None or recorded.get("ext_suffix") != compiled.EXT_SUFFIX:
        return False
    modules = recorded.get("modules")
    return isinstance(modules, dict) and compiled.source_hashes(list(modules)) == modules


def pure_switch_on() -> bool:
    return os.environ.get(compiled.PURE_SWITCH, "") not in ("", "0")


def test_the_loaded_modules_are_the_build_or_the_sources(server: Server) -> None:
    """With a fresh build and no switch, every compiled module is compiled here, and the server runs the group's
    library (its memory maps it: compiled modules import each other inside it, not through their shims);
    otherwise every module is its .py, and the server maps no binary of ours. (A build of an older set of modules,
    before `make install` builds today's: the modules it holds compiled, the ones it does not hold pure.)"""
    expect_compiled = built() and not pure_switch_on()
    loaded = compiled.guard().compiled
    assert bool(loaded) == expect_compiled, compiled.guard().reason
    for name in sorted(set(compiled.MODULES) | loaded):
        module = importlib.import_module(name)
        if expect_compiled and name in loaded:
            assert str(module.__file__).endswith(compiled.EXT_SUFFIX), name
        else:
            assert module.__file__ == str(compiled.source_path(name)), name
    ours = str(compiled.PACKAGE_DIR.parent)
    maps = Path(f"/proc/{server.process.pid}/maps").read_text().splitlines()
    binaries = {line.split()[-1] for line in maps if line.endswith(compiled.EXT_SUFFIX) and ours in line}
    group = compiled.PACKAGE_DIR.parent / (compiled.GROUP_LIB + compiled.EXT_SUFFIX)
    if expect_compiled:
        assert str(group) in binaries
    else:
        assert binaries == set()


@pytest.mark.skipif(not built(), reason="no fresh compiled build here (make install builds one where it can)")
def test_the_warm_path_behaves_the_same_compiled_and_pure() -> None:
    """The warm path's tests in a child pytest, in the mode this run is not in (compiled when this run is pure)."""
    env = {k: v for k, v in os.environ.items() if k != compiled.PURE_SWITCH}
    if not pure_switch_on():
        env[compiled.PURE_SWITCH] = "1"
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-x", *WARM_PATH_TESTS]
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert " passed" in done.stdout
    assert " skipped" not in done.stdout, done.stdout[-2000:]


#: bases that make mypyc compile a class as a plain Python class, which interpreted classes may subclass
_NOT_NATIVE = frozenset(("Protocol", "Enum", "IntEnum", "StrEnum", "NamedTuple", "TypedDict"))


def native_classes(module: str) -> set[str]:
    """The classes `module` defines that mypyc compiles as native classes (everything but protocols, enums...)."""
    found = set()
    for node in ast.parse(compiled.source_path(module).read_text()).body:
        bases = {b.attr if isinstance(b, ast.Attribute) else getattr(b, "id", "") for b in getattr(node, "bases", ())}
        if isinstance(node, ast.ClassDef) and not bases & _NOT_NATIVE:
            found.add(node.name)
    return found


def test_no_interpreted_class_subclasses_a_compiled_one() -> None:
    """mypyc refuses, at run time and compiled only ("interpreted classes cannot inherit from compiled"), a class of
    a pure module (or of a test, or a benchmark) whose base is a native class of a compiled module: so no source
    outside the set names one as a base, whether imported by name (`from m import C`) or through its module."""
    natives = {m: native_classes(m) for m in compiled.MODULES}
    offenders = []
    sources = [p for d in ("src", "tests", "bench") for p in (ROOT / d).rglob("*.py") if "node_modules" not in p.parts]
    compiled_sources = {compiled.source_path(m) for m in compiled.MODULES}
    for path in sources:
        if path in compiled_sources:
            continue
        tree = ast.parse(path.read_text())
        classes: dict[str, tuple[str, str]] = {}  # local name -> (module, name) it was imported as (`from m import C`)
        modules: dict[str, str] = {}  # local name -> the module it names (`import a.b as m`, `from a import b`)
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module:
                for alias in node.names:
                    classes[alias.asname or alias.name] = (node.module, alias.name)
                    modules[alias.asname or alias.name] = f"{node.module}.{alias.name}"
            elif isinstance(node, ast.Import):
                modules.update((alias.asname, alias.name) for alias in node.names if alias.asname)
        for node in ast.walk(tree):
            for base in node.bases if isinstance(node, ast.ClassDef) else ():
                if isinstance(base, ast.Name) and base.id in classes:
                    module, cls = classes[base.id]
                elif isinstance(base, ast.Attribute) and isinstance(base.value, ast.Name):
                    module, cls = modules.get(base.value.id, ""), base.attr
                else:
                    continue
                if cls in natives.get(module, ()):
                    offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}: {module}.{cls}")
    assert offenders == []


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A copy of the package's sources (no build) to plant binaries in; returns its src/."""
    src = tmp_path / "src"
    shutil.copytree(compiled.PACKAGE_DIR, src / "nimbus", ignore=shutil.ignore_patterns(
        "__pycache__", "node_modules", "*.so", "_compiled.json", "static", "templates"))
    return src


def load(src: Path, module: str) -> tuple[str, str]:
    """Import `module` from the tree `src` in a fresh interpreter: (its __file__, what it wrote on stderr)."""
    code = f"import {module} as m; print(m.__file__)"
    env = {k: v for k, v in os.environ.items() if k != compiled.PURE_SWITCH} | {"PYTHONPATH": str(src)}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60,
                          check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip(), done.stderr


def test_a_binary_is_loaded_only_from_a_fresh_build_of_this_tree(tree: Path) -> None:
    """A .so beside a source (here one that would not even load) is passed over for the .py when there is no
    manifest, when the manifest's hash of a source differs (one line says so), and when the group's shared
    library does not load (one line says so too)."""
    name = "nimbus.protocol.frames"
    source = tree / "nimbus" / "protocol" / "frames.py"
    source.with_suffix(compiled.EXT_SUFFIX).write_bytes(b"not a shared object")
    assert load(tree, name) == (str(source), "")

    manifest = tree / "nimbus" / "_compiled.json"
    hashes = {name: "0" * 64}
    manifest.write_text(json.dumps({"ext_suffix": compiled.EXT_SUFFIX, "modules": hashes}))
    file, said = load(tree, name)
    assert file == str(source)
    assert said == ("nimbus: compiled modules are older than their sources (nimbus/protocol/frames.py changed): "
                    "running pure Python; `make install` rebuilds them\n")

    manifest.write_text(json.dumps({"ext_suffix": compiled.EXT_SUFFIX, "modules": compiled_hashes(tree, name)}))
    file, said = load(tree, name)
    assert file == str(source)
    assert said.startswith("nimbus: the compiled modules do not load ("), said
    assert said.count("\n") == 1, said

    manifest.write_text(json.dumps({"ext_suffix": ".cpython-0-other.so", "modules": compiled_hashes(tree, name)}))
    assert load(tree, name) == (str(source), "")


def compiled_hashes(src: Path, name: str) -> dict[str, str]:
    """What a build in the copy `src` would record for `name` (compiled.source_hashes reads this tree's)."""
    path = src.joinpath(*name.split(".")).with_suffix(".py")
    return {name: hashlib.sha256(path.read_bytes()).hexdigest()}


def test_the_switch_loads_every_source(tree: Path) -> None:
    """NIMBUS_PURE_PYTHON=1 loads the .py even where the build is fresh (here: a manifest that matches)."""
    name = "nimbus.protocol.frames"
    source = tree / "nimbus" / "protocol" / "frames.py"
    source.with_suffix(compiled.EXT_SUFFIX).write_bytes(b"not a shared object")
    (tree / "nimbus" / "_compiled.json").write_text(
        json.dumps({"ext_suffix": compiled.EXT_SUFFIX, "modules": compiled_hashes(tree, name)}))
    code = f"import {name} as m, nimbus.compiled as c; print(m.__file__); print(c.guard().reason)"
    env = {**os.environ, "PYTHONPATH": str(tree), compiled.PURE_SWITCH: "1"}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60,
                          check=True)
    assert done.stdout.split("\n")[:2] == [str(source), f"{compiled.PURE_SWITCH} is set"]
    assert done.stderr == ""


def test_make_install_without_a_compiler_says_so_and_leaves_pure_python(tree: Path) -> None:
    """`make install`'s step (nimbus.compiled_build) where no C compiler runs: one line, success, and no binary
    of an older build left to load (here a planted shim and manifest)."""
    shim = (tree / "nimbus" / "protocol" / "frames.py").with_suffix(compiled.EXT_SUFFIX)
    shim.write_bytes(b"an older build")
    (tree / "nimbus" / "_compiled.json").write_text("{}")
    env = {**os.environ, "PYTHONPATH": str(tree), "CC": str(tree / "no-such-cc")}
    done = subprocess.run([sys.executable, "-m", "nimbus.compiled_build"], cwd=tree.parent, env=env,
                          capture_output=True, text=True, timeout=120, check=False)
    assert (done.returncode, done.stderr) == (0, "")
    said = f"nimbus: not compiling the hot modules with mypyc (no C compiler ({env['CC']})): running pure Python\n"
    assert done.stdout == said
    assert not shim.exists()
    assert not (tree / "nimbus" / "_compiled.json").exists()
