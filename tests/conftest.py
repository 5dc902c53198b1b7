"""Shared fixtures: a real `nimbus serve` on an ephemeral port with a temporary data dir, driven by real clients."""

from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import subprocess
import sys
import time
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config

ROOT = Path(__file__).resolve().parent.parent
NIMBUS = [sys.executable, "-m", "nimbus.cli.main"]
ACCESS_KEY = "test"
SECRET_KEY = "test"
REGION = "us-east-1"


@dataclass
class Server:
    endpoint: str
    port: int
    data_dir: Path
    process: subprocess.Popen[bytes]
    log_path: Path
    env: dict[str, str]
    #: the Prometheus listener's port, when the server was started with --metrics-port
    metrics_port: int | None = None

    def client(self, service: str = "lambda", **kwargs: Any) -> Any:
        return boto3.client(
            service,
            endpoint_url=self.endpoint,
            region_name=REGION,
            aws_access_key_id=kwargs.pop("access_key", ACCESS_KEY),
            aws_secret_access_key=kwargs.pop("secret_key", SECRET_KEY),
            config=Config(retries={"max_attempts": 0}, read_timeout=120, connect_timeout=5),
            **kwargs,
        )

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def child_processes(pid: int, *markers: bytes) -> set[int]:
    """The direct children of `pid` whose command line contains any of `markers`."""
    children: set[int] = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError):
            children |= {int(p) for p in (task / "children").read_text().split()}
    found = set()
    for child in children:
        with contextlib.suppress(OSError):
            cmdline = Path(f"/proc/{child}/cmdline").read_bytes()
            if any(marker in cmdline for marker in markers):
                found.add(child)
    return found


def measured(cmd: list[str]) -> list[str]:
    """`cmd` (a `nimbus` command line) run under coverage when this test run measures coverage (`make test`), so
    the code that only servers run (the APIs, the stacks engine, the console) counts as covered by the tests that
    drive it. Each server writes its own data file (parallel mode) on a graceful stop, and pytest-cov combines them
    at the end; a server killed with SIGKILL leaves none, which only loses that server's share. Only the server
    itself is measured: it never forks, and the interpreters it spawns (zygotes, sandboxes) start without it."""
    import coverage

    if coverage.Coverage.current() is None:
        return cmd
    rcfile = str(ROOT / "pyproject.toml")
    return [sys.executable, "-m", "coverage", "run", "--parallel-mode", f"--rcfile={rcfile}", *cmd[1:]]


def start_server(data_dir: Path, *extra: str, env: dict[str, str] | None = None) -> Server:
    """Start `nimbus serve --port 0` and wait for its readiness file (never a fixed sleep)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    ready = data_dir.parent / f"{data_dir.name}.ready.json"
    ready.unlink(missing_ok=True)
    log_path = data_dir.parent / f"{data_dir.name}.server.log"
    # NIMBUS_PURE_PYTHON stays: it picks the pure or compiled modules (src/nimbus/compiled.py), not a setting
    keep = "NIMBUS_PURE_PYTHON"
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("NIMBUS_", "AWS_")) or k == keep}
    full_env.update(env or {})
    cmd = measured([*NIMBUS, "serve", "--port", "0", "--data-dir", str(data_dir), "--ready-file", str(ready), *extra])
    log = log_path.open("ab")
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=full_env, cwd=ROOT)
    deadline = time.monotonic() + 60
    while not ready.exists():
        if proc.poll() is not None:
            raise RuntimeError(f"nimbus serve exited with {proc.returncode}:\n{log_path.read_text()}")
        if time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError(f"nimbus serve not ready after 60 s:\n{log_path.read_text()}")
        time.sleep(0.05)
    info = json.loads(ready.read_text())
    endpoint = f"http://127.0.0.1:{info['port']}"
    return Server(endpoint, info["port"], data_dir, proc, log_path, full_env, info.get("metrics_port"))


def delete_functions(lam: Any, names: list[str]) -> None:
    """Delete the functions `names` (a function fixture's teardown); those already gone are skipped."""
    for name in names:
        with contextlib.suppress(lam.exceptions.ResourceNotFoundException):
            lam.delete_function(FunctionName=name)


def serving(
    tmp_path_factory: pytest.TempPathFactory, name: str, *extra: str, env: dict[str, str] | None = None
) -> Iterator[Server]:
    """The body of a fixture for a server of its own (`yield from serving(...)`): started with the flags `extra`
    (and `env`) on a fresh data dir under a temporary folder named after `name`, stopped at teardown."""
    srv = start_server(tmp_path_factory.mktemp(name) / "data", *extra, env=env)
    yield srv
    srv.stop()


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = start_server(tmp_path_factory.mktemp("nimbus") / "data", "--keep-alive", "30")
    yield srv
    srv.stop()


@pytest.fixture
def lam(server: Server) -> Any:
    """A boto3 Lambda client pointed at the session server (no retries, long read timeout)."""
    return server.client("lambda")


def make_zip(files: dict[str, str | bytes]) -> bytes:
    """A zip of `files`, byte-for-byte the same for the same files (fixed timestamps), so hashes compare."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, content in files.items():
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, content)
    return buf.getvalue()


@pytest.fixture
def fn_name(request: pytest.FixtureRequest) -> str:
    """A function name unique to the test (tests share one server)."""
    base = request.node.name.replace("[", "-").replace("]", "").replace("_", "-")
    return ("t-" + base)[:60].strip("-")


@pytest.fixture
def create_function(lam: Any) -> Callable[..., dict[str, Any]]:
    """Create a Python function from a dict of files; deleted at test end."""
    created: list[str] = []

    def _create(name: str, files: dict[str, str | bytes], handler: str = "app.handler", **kwargs: Any) -> Any:
        kwargs.setdefault("Runtime", "python3.11")
        kwargs.setdefault("Role", "arn:aws:iam::000000000000:role/lambda-role")
        resp = lam.create_function(FunctionName=name, Handler=handler, Code={"ZipFile": make_zip(files)}, **kwargs)
        created.append(name)
        return resp  # type: ignore[no-any-return]

    yield _create  # type: ignore[misc]
    for name in created:
        with contextlib.suppress(lam.exceptions.ResourceNotFoundException):
            lam.delete_function(FunctionName=name)


def aws_cli(
    server: Server, *args: str, check: bool = True, keys: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the real AWS CLI (v1, from PyPI) against the server (as root, or with `keys`: AWS_* variables)."""
    env = dict(server.env)
    env.update(AWS_ACCESS_KEY_ID=ACCESS_KEY, AWS_SECRET_ACCESS_KEY=SECRET_KEY, AWS_DEFAULT_REGION=REGION)
    env.update(keys or {})
    cmd = [sys.executable, "-m", "awscli", *args, "--endpoint-url", server.endpoint, "--output", "json"]
    return subprocess.run(cmd, capture_output=True, text=True, env=env, check=check, timeout=120)
