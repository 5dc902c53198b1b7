"""Which Lambda runtimes this host can run, and the real interpreter binary behind each.

Only real ELF binaries count: a pyenv shim is a bash script that costs ~150 ms per start, and an instance must
never go through one. The scan runs once per process and is cached.
"""

from __future__ import annotations

import functools
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from nimbus.errors import InvalidParameterValue

#: the in-instance Python runtime folder (bootstrap.py lives here); LAMBDA_RUNTIME_DIR points at it
PYTHON_RUNTIME_DIR = Path(__file__).resolve().parent / "python"
#: the Node.js runtime (bootstrap.mjs) and the Runtime API shim of custom runtimes (shim.py)
NODEJS_RUNTIME_DIR = Path(__file__).resolve().parent / "nodejs"
PROVIDED_RUNTIME_DIR = Path(__file__).resolve().parent / "provided"

#: custom runtimes: the function brings its own `bootstrap`, which talks to the Runtime API
PROVIDED_RUNTIMES = ("provided", "provided.al2", "provided.al2023")
#: the Node.js majors Lambda has a runtime for; one runs only when the host's `node` has that major
NODE_MAJORS = (18, 20, 22)
#: the Python minor the Runtime API shim prefers (the server's own: wheels it has can run in functions)
_SHIM_MINOR_MIN = 9

MIN_PYTHON_MINOR = 8
_PYTHON_NAME = re.compile(r"^python3\.(\d+)$")
_ELF_MAGIC = b"\x7fELF"
_NODE_NAME = re.compile(r"^nodejs(\d+)\.x$")


@dataclass(frozen=True)
class ResolvedRuntime:
    requested: str  # the runtime the function is configured with
    name: str  # the runtime that will actually run it
    interpreter: Path
    fell_back: bool
    #: "python" (built-in runtime), "nodejs" (built-in runtime, `interpreter` is node) or "provided" (custom
    #: runtime: `interpreter` is the python that runs the Runtime API shim)
    kind: str = "python"

    @property
    def python_minor(self) -> int:
        match = _PYTHON_NAME.match(self.name)
        return int(match.group(1)) if match else 0


def _search_dirs() -> list[Path]:
    dirs = [Path(p) for p in os.environ.get("PATH", "").split(os.pathsep) if p]
    dirs += sorted(Path.home().glob(".pyenv/versions/*/bin"))
    dirs += [Path("/usr/local/bin"), Path("/usr/bin")]
    return dirs


def _is_elf(path: Path) -> bool:
    try:
        with path.open("rb") as f:
            return f.read(4) == _ELF_MAGIC
    except OSError:
        return False


@functools.cache
def _scan() -> tuple[tuple[str, Path], ...]:
    found: dict[str, Path] = {}
    for directory in _search_dirs():
        try:
            names = sorted(os.listdir(directory))
        except OSError:
            continue
        for entry in names:
            match = _PYTHON_NAME.match(entry)
            if not match or int(match.group(1)) < MIN_PYTHON_MINOR or entry in found:
                continue
            real = Path(os.path.realpath(directory / entry))
            if real.is_file() and os.access(real, os.X_OK) and _is_elf(real):
                found[entry] = real
    ordered = sorted(found.items(), key=lambda item: int(item[0].split(".")[1]))
    return tuple(ordered)


def available_runtimes() -> dict[str, Path]:
    """`{"python3.11": Path(".../bin/python3.11"), ...}` for every runtime this host can run."""
    return dict(_scan())


@functools.cache
def node_binary() -> tuple[Path, int] | None:
    """The host's real `node` binary and its major version, or None."""
    dirs = [*_search_dirs()]
    for directory in dirs:
        candidate = directory / "node"
        real = Path(os.path.realpath(candidate))
        if real.is_file() and os.access(real, os.X_OK) and _is_elf(real):
            try:
                out = subprocess.run([str(real), "--version"], capture_output=True, text=True, timeout=10, check=True)
                major = int(out.stdout.strip().lstrip("v").split(".")[0])
            except (OSError, subprocess.SubprocessError, ValueError):
                continue
            return real, major
    return None


def shim_interpreter() -> tuple[str, Path] | None:
    """The python that runs the Runtime API shim of custom runtimes: the server's own minor when the host has it
    (so wheels built for the server's python, such as awslambdaric's, run in functions), else the newest."""
    runtimes = {k: v for k, v in available_runtimes().items() if int(k.split(".")[1]) >= _SHIM_MINOR_MIN}
    own = f"python3.{sys.version_info.minor}"
    if own in runtimes:
        return own, runtimes[own]
    if not runtimes:
        return None
    newest = max(runtimes, key=lambda r: int(r.split(".")[1]))
    return newest, runtimes[newest]


def available_runtime_names() -> list[str]:
    """Every runtime name a function may be created with on this host."""
    names = list(available_runtimes())
    node = node_binary()
    if node is not None and node[1] in NODE_MAJORS and (NODEJS_RUNTIME_DIR / "bootstrap.mjs").is_file():
        names.append(f"nodejs{node[1]}.x")
    if shim_interpreter() is not None:
        names += PROVIDED_RUNTIMES
    return names


def _unavailable(name: str) -> InvalidParameterValue:
    listing = ", ".join(available_runtime_names()) or "none"
    return InvalidParameterValue(f"Runtime {name} is not available on this host. Available runtimes: {listing}")


def _resolve_other(name: str, fallback: bool) -> ResolvedRuntime | None:
    if name in PROVIDED_RUNTIMES:
        shim = shim_interpreter()
        if shim is None:
            raise _unavailable(name)
        return ResolvedRuntime(name, name, shim[1], fell_back=False, kind="provided")
    match = _NODE_NAME.match(name)
    if match is None:
        return None
    node = node_binary()
    if node is None or not (NODEJS_RUNTIME_DIR / "bootstrap.mjs").is_file():
        raise _unavailable(name)
    host_name = f"nodejs{node[1]}.x"
    if int(match.group(1)) == node[1] and node[1] in NODE_MAJORS:
        return ResolvedRuntime(name, name, node[0], fell_back=False, kind="nodejs")
    if fallback and node[1] in NODE_MAJORS:
        return ResolvedRuntime(name, host_name, node[0], fell_back=True, kind="nodejs")
    raise _unavailable(name)


def resolve_runtime(name: str, fallback: bool) -> ResolvedRuntime:
    """The interpreter for `name`; with `fallback`, a python3.x the host lacks maps to its nearest minor (and a
    nodejsNN.x to the host's node)."""
    other = _resolve_other(name, fallback)
    if other is not None:
        return other
    runtimes = available_runtimes()
    if name in runtimes:
        return ResolvedRuntime(name, name, runtimes[name], fell_back=False)
    match = _PYTHON_NAME.match(name)
    if fallback and match and runtimes:
        wanted = int(match.group(1))
        # nearest minor; on a tie the newer one
        best = min(runtimes, key=lambda r: (abs(int(r.split(".")[1]) - wanted), -int(r.split(".")[1])))
        return ResolvedRuntime(name, best, runtimes[best], fell_back=True)
    raise _unavailable(name)
