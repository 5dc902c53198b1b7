"""Which Lambda runtimes this host can run, and the real interpreter binary behind each.

Python runtimes use every python3.X the host has: on PATH, in /usr/local/bin and /usr/bin, pyenv's versions and
uv's managed interpreters (~/.local/share/uv/python/*). Node.js runtimes use the host's `node` and the ones
`nimbus runtime install` put in the data dir (`installed.py`); on the same major, the host's wins.

Only real ELF binaries count: a pyenv shim is a bash script that costs ~150 ms per start, and an instance must
never go through one. The host scan runs once per process and is cached; installs are looked up on each
resolution (two small file reads), so a runtime installed while the server runs is served at once.

With the fallback setting (`--runtime-fallback`), a runtime the host lacks runs on the nearest one of its language
it has (python3.14 on python3.11, nodejs24.x on nodejs22.x; on a tie the newer), with a warning on every cold start.
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
from nimbus.runtimes.installed import installed_nodes

#: the in-instance Python runtime folder (bootstrap.py lives here); LAMBDA_RUNTIME_DIR points at it
PYTHON_RUNTIME_DIR = Path(__file__).resolve().parent / "python"
#: the Node.js runtime (bootstrap.mjs) and the Runtime API shim of custom runtimes (shim.py)
NODEJS_RUNTIME_DIR = Path(__file__).resolve().parent / "nodejs"
PROVIDED_RUNTIME_DIR = Path(__file__).resolve().parent / "provided"

#: custom runtimes: the function brings its own `bootstrap`, which talks to the Runtime API
PROVIDED_RUNTIMES = ("provided", "provided.al2", "provided.al2023")
#: the Node.js majors Lambda has a runtime for; one runs only when a `node` of that major is here (or installed)
NODE_MAJORS = (18, 20, 22, 24)
#: the Python runtimes Lambda has, listed by `nimbus runtime list` whether the host has them or not
LAMBDA_PYTHONS = tuple(f"python3.{minor}" for minor in range(9, 15))
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
    uv_root = os.environ.get("UV_PYTHON_INSTALL_DIR") or str(_data_home() / "uv" / "python")
    dirs += sorted(Path(uv_root).expanduser().glob("*/bin"))
    dirs += [Path("/usr/local/bin"), Path("/usr/bin")]
    return dirs


def _data_home() -> Path:
    return Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")


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
def _host_node() -> tuple[Path, str] | None:
    """The host's real `node` binary and its version (22.20.0), or None."""
    for directory in _search_dirs():
        real = Path(os.path.realpath(directory / "node"))
        if real.is_file() and os.access(real, os.X_OK) and _is_elf(real):
            try:
                out = subprocess.run([str(real), "--version"], capture_output=True, text=True, timeout=10, check=True)
                version = out.stdout.strip().lstrip("v")
                int(version.split(".")[0])
            except (OSError, subprocess.SubprocessError, ValueError):
                continue
            return real, version
    return None


def node_binary() -> tuple[Path, int] | None:
    """The host's real `node` binary and its major version, or None."""
    host = _host_node()
    return None if host is None else (host[0], int(host[1].split(".")[0]))


@dataclass(frozen=True)
class NodeSource:
    """One Node.js a nodejsNN.x runtime can run on: the host's, or one installed into the data dir."""

    major: int
    node: Path
    version: str
    installed: bool


#: <data-dir>/runtimes, where `nimbus runtime install` puts Node.js; the server sets it once at start-up
_installed_root: Path | None = None


def use_installed_runtimes(root: Path | None) -> None:
    """Serve the runtimes installed under `root` (<data-dir>/runtimes) too; None: the host's only."""
    global _installed_root
    _installed_root = root


def node_runtimes() -> dict[int, NodeSource]:
    """{major: source} of every Node.js this process can run functions on, for the majors Lambda has."""
    if not (NODEJS_RUNTIME_DIR / "bootstrap.mjs").is_file():
        return {}
    found: dict[int, NodeSource] = {}
    if _installed_root is not None:
        for major, inst in installed_nodes(_installed_root).items():
            found[major] = NodeSource(major, inst.node, inst.version, installed=True)
    host = _host_node()
    if host is not None:
        major = int(host[1].split(".")[0])
        found[major] = NodeSource(major, host[0], host[1], installed=False)
    return {major: source for major, source in sorted(found.items()) if major in NODE_MAJORS}


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
    names += [f"nodejs{major}.x" for major in node_runtimes()]
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
    nodes = node_runtimes()
    wanted = int(match.group(1))
    if wanted in nodes:
        return ResolvedRuntime(name, name, nodes[wanted].node, fell_back=False, kind="nodejs")
    if fallback and nodes:
        best = min(nodes, key=lambda major: (abs(major - wanted), -major))  # nearest major; on a tie the newer
        return ResolvedRuntime(name, f"nodejs{best}.x", nodes[best].node, fell_back=True, kind="nodejs")
    raise _unavailable(name)


def resolve_runtime(name: str, fallback: bool) -> ResolvedRuntime:
    """The interpreter for `name`; with `fallback`, a python3.x the host lacks maps to its nearest minor, and a
    nodejsNN.x to the nearest major of the Node.js it has (its own or installed)."""
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


@dataclass(frozen=True)
class RuntimeRow:
    """One line of `nimbus runtime list`: where runtime `name` would run from on this host."""

    name: str
    #: "host", "installed", "fallback" (runs as `runs_as`), "shim" (custom runtimes: the Runtime API shim's python)
    #: or "missing"
    source: str
    runs_as: str
    interpreter: Path | None
    version: str


@functools.cache
def _python_version(interpreter: Path) -> str:
    try:
        out = subprocess.run([str(interpreter), "--version"], capture_output=True, text=True, timeout=10, check=True)
    except (OSError, subprocess.SubprocessError):
        return "?"
    return out.stdout.strip().removeprefix("Python ")


def runtime_rows(fallback: bool) -> list[RuntimeRow]:
    """Every Lambda runtime (and every python3.X the host has), where it runs from under the `fallback` setting."""
    pythons = set(LAMBDA_PYTHONS) | set(available_runtimes())
    names = sorted(pythons, key=lambda n: int(n.split(".")[1]))
    names += [f"nodejs{major}.x" for major in sorted(set(NODE_MAJORS) | set(node_runtimes()))]
    rows = []
    for name in [*names, *PROVIDED_RUNTIMES]:
        try:
            resolved = resolve_runtime(name, fallback)
        except InvalidParameterValue:
            rows.append(RuntimeRow(name, "missing", "", None, ""))
            continue
        if resolved.kind == "nodejs":
            source = node_runtimes()[int(resolved.name.removeprefix("nodejs").removesuffix(".x"))]
            kind, version = ("installed" if source.installed else "host"), source.version
        else:
            kind, version = ("shim" if resolved.kind == "provided" else "host"), _python_version(resolved.interpreter)
        if resolved.fell_back:
            kind = "fallback"
        rows.append(RuntimeRow(name, kind, resolved.name, resolved.interpreter, version))
    return rows
