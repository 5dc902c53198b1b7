"""The modules that run compiled with mypyc, and the import guard that never lets a stale binary shadow its source.

`make install` compiles `MODULES` (the warm invoke path, chosen by measurement: docs/performance.md) with mypyc
(`nimbus.compiled_build`): one `.so` shim beside each `.py`, one shared library for the group (`GROUP_LIB`,
in src/), and
`MANIFEST` written last, holding the SHA-256 of every source compiled and the interpreter's extension suffix.

The package is installed editable, so a `.so` beside a `.py` would otherwise be imported in its place, and shadow
every later edit of the source until the next build. `install()` (run by `nimbus/__init__.py`, before any other
module of ours is imported) puts `Guard` first on `sys.meta_path`: a `nimbus.*` module is loaded from its `.so`
only when the whole group is fresh (every compiled module's source hashes as recorded, for this interpreter), and
from its `.py` otherwise, with one line on stderr saying why. All or nothing: compiled modules call each other
natively inside the shared library, so a fresh module beside a stale one would still run the stale one's code.
A tree that never built anything has no manifest and no `.so`: pure Python, silently.

`NIMBUS_PURE_PYTHON=1` loads every `.py` (the coverage run of `make test`, and the run that proves both behave
the same: tests/test_compiled.py).
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.machinery
import importlib.util
import json
import os
import sys
import sysconfig
from collections.abc import Sequence
from importlib.machinery import ModuleSpec
from pathlib import Path
from types import ModuleType

#: the hot modules compiled by `make install`: the server's warm invoke path, end to end (docs/performance.md,
#: "Compiled with mypyc" and "The warm path's last interpreted Python"). Not here, though on that path:
#: `api/triggers` (its `TriggerContext` is subclassed by pure modules' classes, which mypyc refuses at run time:
#: tests/test_compiled.py checks no pure class subclasses a compiled one) and `logs/store` (compiled, a cancelled
#: flush stops at its second wait instead of waiting out the writer's reply, and SQLAlchemy's stubs type rows as
#: tuples, which compiled code checks)
MODULES: tuple[str, ...] = (
    "nimbus.api.httpconn",
    "nimbus.api.http",
    "nimbus.api.httplimits",
    "nimbus.api.activity",
    "nimbus.api.app",
    "nimbus.api.authn",
    "nimbus.api.sigv4",
    "nimbus.api.jsonproto",
    "nimbus.api.restjson",
    "nimbus.api.lambda_api",
    "nimbus.api.lambda_input",
    "nimbus.control.keyring",
    "nimbus.invoke.invoker",
    "nimbus.invoke.throttle",
    "nimbus.invoke.concurrency",
    "nimbus.invoke.payload",
    "nimbus.instances.manager",
    "nimbus.instances.pool",
    "nimbus.instances.instance",
    "nimbus.instances.lifecycle",
    "nimbus.instances.channel",
    "nimbus.instances.deadlines",
    "nimbus.instances.output",
    "nimbus.instances.results",
    "nimbus.instances.memory",
    "nimbus.instances.spare_cpu",
    "nimbus.instances.process",
    "nimbus.instances.environment",
    "nimbus.protocol.frames",
    "nimbus.protocol.records",
    "nimbus.protocol.random_ids",
    "nimbus.logs.framing",
    "nimbus.console.digest",
)
#: mypyc's shared library for the group (the shims beside each `.py` import it). At the top level, beside the
#: package (src/): mypyc derives each compiled module's `__file__` from where this library is
GROUP = "nimbus_compiled"
GROUP_LIB = GROUP + "__mypyc"
PACKAGE_DIR = Path(__file__).resolve().parent
MANIFEST = PACKAGE_DIR / "_compiled.json"
#: the suffix of this interpreter's compiled modules (`.cpython-311-x86_64-linux-gnu.so`)
EXT_SUFFIX: str = sysconfig.get_config_var("EXT_SUFFIX") or importlib.machinery.EXTENSION_SUFFIXES[0]
PURE_SWITCH = "NIMBUS_PURE_PYTHON"


def source_path(module: str) -> Path:
    """The `.py` of one of our modules (`nimbus.api.app` -> src/nimbus/api/app.py)."""
    return PACKAGE_DIR.parent.joinpath(*module.split(".")).with_suffix(".py")


def source_hashes(modules: Sequence[str]) -> dict[str, str]:
    return {m: hashlib.sha256(source_path(m).read_bytes()).hexdigest() for m in modules}


def manifest_for(modules: Sequence[str]) -> dict[str, object]:
    """What a build of `modules` from today's sources records: compared with `MANIFEST` by the build (is there
    anything to do?); the guard compares the hashes of the modules the manifest names."""
    return {"ext_suffix": EXT_SUFFIX, "modules": source_hashes(modules)}


def read_manifest() -> dict[str, object] | None:
    try:
        found = json.loads(MANIFEST.read_text())
    except (OSError, ValueError):
        return None
    return found if isinstance(found, dict) else None


def fresh_build() -> tuple[frozenset[str], str]:
    """The modules that may load compiled (with the group's shared library), and why none may when empty."""
    if os.environ.get(PURE_SWITCH, "") not in ("", "0"):
        return frozenset(), f"{PURE_SWITCH} is set"
    recorded = read_manifest()
    if recorded is None:
        return frozenset(), "no compiled build (make install compiles one)"
    modules = recorded.get("modules")
    if not isinstance(modules, dict) or recorded.get("ext_suffix") != EXT_SUFFIX:
        return frozenset(), "the compiled build is for another interpreter"
    try:
        now = source_hashes([str(m) for m in modules])
    except OSError:
        return frozenset(), "a compiled module's source is gone"
    if now != modules:
        changed = sorted(m for m, digest in now.items() if modules.get(m) != digest)
        stale = ", ".join(str(source_path(m).relative_to(PACKAGE_DIR.parent)) for m in changed)
        _warn(f"compiled modules are older than their sources ({stale} changed): running pure Python; "
              "`make install` rebuilds them")
        return frozenset(), "the compiled build is stale"
    return frozenset(modules), ""


def _warn(message: str) -> None:
    """One line on stderr (not `warnings`: the test suite turns warnings into errors, and this is no error)."""
    sys.stderr.write(f"nimbus: {message}\n")


class Guard:
    """Finds our modules as the path finder does, but a `.so` not in `compiled` is passed over for its `.py`.

    A meta path finder by protocol (`find_spec`), not by subclassing `importlib.abc.MetaPathFinder`: importing
    `importlib.abc` loads `importlib.resources` and `pathlib`'s dependants, ~14 ms of every `nimbus` command's
    start-up (docs/performance.md, "The CLI's start-up")."""

    def __init__(self, compiled: frozenset[str], reason: str) -> None:
        self.compiled = compiled
        self.reason = reason
        self._probed = False

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        if not fullname.startswith("nimbus."):
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path, target)
        if spec is None or not isinstance(spec.loader, importlib.machinery.ExtensionFileLoader):
            return spec
        if fullname in self.compiled and self._group_loads():
            return spec
        source = Path(str(spec.origin)).with_name(fullname.rpartition(".")[2] + ".py")
        if not source.is_file():
            return spec
        return importlib.util.spec_from_file_location(fullname, source)

    def _group_loads(self) -> bool:
        """Whether the shared library loads here (a missing runtime library, say): tried once, at the first
        compiled module; if it does not, every module loads pure."""
        if not self._probed:
            self._probed = True
            try:
                found = Path(str(importlib.import_module(GROUP_LIB).__file__)).parent
                if found != PACKAGE_DIR.parent:  # another tree's, earlier on sys.path: not this build's code
                    raise ImportError(f"{GROUP_LIB} found in {found}, not beside this tree's nimbus")
            except (ImportError, OSError) as e:
                _warn(f"the compiled modules do not load ({e}): running pure Python")
                self.compiled, self.reason = frozenset(), f"the compiled modules do not load: {e}"
        return bool(self.compiled)


def install() -> Guard:
    """Put the guard first on `sys.meta_path` (once per interpreter) and return it."""
    for finder in sys.meta_path:
        if isinstance(finder, Guard):
            return finder
    guard = Guard(*fresh_build())
    sys.meta_path.insert(0, guard)
    return guard


def guard() -> Guard:
    """The installed guard: which modules load compiled in this process, or why none do."""
    return install()
