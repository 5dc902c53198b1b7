"""Runtime discovery and fallback: uv-managed pythons, Node.js installed into the data dir, the nearest-version rule
for both languages, and the rows `nimbus runtime list` prints.

Installs here are made by hand (a marker file beside an executable), as `installed.py` leaves them: the registry
only reads them, and the real download is tested in tests/cli/test_runtime_cli.py and tests/e2e.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from nimbus.errors import InvalidParameterValue
from nimbus.runtimes import registry
from nimbus.runtimes.installed import MARKER, installed_nodes
from nimbus.runtimes.registry import (
    available_runtime_names,
    available_runtimes,
    node_binary,
    node_runtimes,
    resolve_runtime,
    runtime_rows,
    use_installed_runtimes,
)

HOST = node_binary()
HOST_MAJOR = HOST[1] if HOST else 0


def fake_install(root: Path, name: str, version: str, marker: bool = True) -> Path:
    """What `nimbus runtime install` leaves: <root>/<name>/bin/node and the marker written last."""
    node = root / name / "bin" / "node"
    node.parent.mkdir(parents=True)
    node.write_text("#!/bin/sh\necho v" + version + "\n")
    node.chmod(0o755)
    if marker:
        (root / name / MARKER).write_text(json.dumps({"runtime": name, "version": version}))
    return node


@pytest.fixture
def installs(tmp_path: Path) -> Iterator[Path]:
    root = tmp_path / "runtimes"
    root.mkdir()
    use_installed_runtimes(root)
    yield root
    use_installed_runtimes(None)


@pytest.fixture
def uv_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    uv = tmp_path / "uv-python"
    monkeypatch.setenv("UV_PYTHON_INSTALL_DIR", str(uv))
    registry._scan.cache_clear()
    yield uv
    monkeypatch.undo()
    registry._scan.cache_clear()


def test_uv_managed_pythons_are_found(uv_dir: Path) -> None:
    """A uv-managed interpreter (~/.local/share/uv/python/cpython-3.N.../bin/python3.N) serves python3.N; a
    minor the host has elsewhere keeps its first-found binary."""
    real = Path(os.path.realpath(sys.executable))
    bin_dir = uv_dir / "cpython-3.97.0-linux-x86_64-gnu" / "bin"
    bin_dir.mkdir(parents=True)
    (bin_dir / "python3.97").symlink_to(real)
    (bin_dir / "python3.96").write_text("#!/bin/sh\nexec python3 \"$@\"\n")  # a script, like a pyenv shim
    (bin_dir / "python3.96").chmod(0o755)
    runtimes = available_runtimes()
    assert runtimes["python3.97"] == real
    assert "python3.96" not in runtimes, "only real ELF binaries count"
    assert "python3.97" in available_runtime_names()
    assert resolve_runtime("python3.97", fallback=False).interpreter == real


def test_uv_dir_absent_is_fine(uv_dir: Path) -> None:
    assert available_runtimes()
    assert not uv_dir.exists()


def test_python_fallback_takes_the_nearest_minor_and_the_newer_on_a_tie() -> None:
    minors = sorted(int(name.split(".")[1]) for name in available_runtimes())
    newest = minors[-1]
    fell = resolve_runtime(f"python3.{newest + 3}", fallback=True)
    assert (fell.name, fell.fell_back) == (f"python3.{newest}", True)
    with pytest.raises(InvalidParameterValue, match=f"Runtime python3.{newest + 3} is not available on this host"):
        resolve_runtime(f"python3.{newest + 3}", fallback=False)
    gaps = [m for m in range(minors[0], newest) if m not in minors and m - 1 in minors and m + 1 in minors]
    if gaps:
        assert resolve_runtime(f"python3.{gaps[0]}", fallback=True).name == f"python3.{gaps[0] + 1}"


def test_installed_node_serves_its_runtime(installs: Path) -> None:
    major = 24 if HOST_MAJOR == 22 else 22
    name = f"nodejs{major}.x"
    node = fake_install(installs, name, f"{major}.20.0")
    resolved = resolve_runtime(name, fallback=False)
    assert (resolved.kind, resolved.name, resolved.interpreter, resolved.fell_back) == ("nodejs", name, node, False)
    assert name in available_runtime_names()
    assert node_runtimes()[major].installed
    assert node_runtimes()[major].version == f"{major}.20.0"
    # the sandbox mounts interpreter.parent.parent at /var/lang: the install's own folder
    assert resolved.interpreter.parent.parent == installs / name


def test_half_done_install_is_invisible(installs: Path) -> None:
    fake_install(installs, "nodejs22.x", "22.20.0", marker=False)
    assert installed_nodes(installs) == {}
    if HOST_MAJOR != 22:
        with pytest.raises(InvalidParameterValue):
            resolve_runtime("nodejs22.x", fallback=False)


def test_node_versions_follow_the_python_rule(installs: Path) -> None:
    """A nodejsNN.x no node here has is refused, unless the fallback setting is on: then the nearest major runs
    it (installed ones count; on a tie the newer)."""
    if HOST is None:
        pytest.skip("the host has no node")
    wanted = "nodejs24.x" if HOST_MAJOR != 24 else "nodejs22.x"
    with pytest.raises(InvalidParameterValue) as info:
        resolve_runtime(wanted, fallback=False)
    assert info.value.message.startswith(f"Runtime {wanted} is not available on this host. Available runtimes: ")
    assert f"nodejs{HOST_MAJOR}.x" in info.value.message
    fell = resolve_runtime(wanted, fallback=True)
    assert (fell.requested, fell.name, fell.interpreter, fell.fell_back) == (
        wanted, f"nodejs{HOST_MAJOR}.x", HOST[0], True)
    if HOST_MAJOR == 20:
        node = fake_install(installs, "nodejs22.x", "22.20.0")
        fell = resolve_runtime("nodejs24.x", fallback=True)
        assert (fell.name, fell.interpreter) == ("nodejs22.x", node), "22 is nearer to 24 than the host's 20"
        assert resolve_runtime("nodejs21.x", fallback=True).name == "nodejs22.x", "a tie goes to the newer"
        assert resolve_runtime("nodejs18.x", fallback=True).name == "nodejs20.x"


def test_runtime_rows_say_where_each_runtime_comes_from(installs: Path) -> None:
    major = 24 if HOST_MAJOR == 22 else 22
    node = fake_install(installs, f"nodejs{major}.x", f"{major}.20.0")
    rows = {row.name: row for row in runtime_rows(fallback=False)}
    assert (rows[f"nodejs{major}.x"].source, rows[f"nodejs{major}.x"].interpreter) == ("installed", node)
    assert rows[f"nodejs{major}.x"].version == f"{major}.20.0"
    own = f"python3.{sys.version_info.minor}"
    assert (rows[own].source, rows[own].version.rsplit(".", 1)[0]) == ("host", own.removeprefix("python"))
    assert rows["provided.al2023"].source == "shim"
    assert rows["nodejs18.x"].source in ("missing", "host")
    if HOST is not None:
        assert (rows[f"nodejs{HOST_MAJOR}.x"].source, rows[f"nodejs{HOST_MAJOR}.x"].interpreter) == ("host", HOST[0])
    missing = [name for name, row in rows.items() if row.source == "missing"]
    with_fallback = {row.name: row for row in runtime_rows(fallback=True)}
    for name in missing:
        assert with_fallback[name].source == "fallback"
        assert with_fallback[name].runs_as == resolve_runtime(name, fallback=True).name
