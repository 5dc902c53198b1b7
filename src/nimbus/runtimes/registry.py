"""Which Lambda runtimes this host can run, and the real interpreter binary behind each.

Only real ELF binaries count: a pyenv shim is a bash script that costs ~150 ms per start, and an instance must
never go through one. The scan runs once per process and is cached.
"""

from __future__ import annotations

import functools
import os
import re
from dataclasses import dataclass
from pathlib import Path

from nimbus.errors import InvalidParameterValue

#: the in-instance Python runtime folder (bootstrap.py lives here); LAMBDA_RUNTIME_DIR points at it
PYTHON_RUNTIME_DIR = Path(__file__).resolve().parent / "python"

MIN_PYTHON_MINOR = 8
_PYTHON_NAME = re.compile(r"^python3\.(\d+)$")
_ELF_MAGIC = b"\x7fELF"


@dataclass(frozen=True)
class ResolvedRuntime:
    requested: str  # the runtime the function is configured with
    name: str  # the runtime that will actually run it
    interpreter: Path
    fell_back: bool

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


def resolve_runtime(name: str, fallback: bool) -> ResolvedRuntime:
    """The interpreter for `name`; with `fallback`, a python3.x the host lacks maps to its nearest minor."""
    runtimes = available_runtimes()
    if name in runtimes:
        return ResolvedRuntime(name, name, runtimes[name], fell_back=False)
    match = _PYTHON_NAME.match(name)
    if fallback and match and runtimes:
        wanted = int(match.group(1))
        # nearest minor; on a tie the newer one
        best = min(runtimes, key=lambda r: (abs(int(r.split(".")[1]) - wanted), -int(r.split(".")[1])))
        return ResolvedRuntime(name, best, runtimes[best], fell_back=True)
    listing = ", ".join(runtimes) or "none"
    raise InvalidParameterValue(f"Runtime {name} is not available on this host. Available runtimes: {listing}")
