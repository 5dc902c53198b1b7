"""`nimbus dev`: a folder becomes a function, each save redeploys it (the next invoke runs the new code), a syntax
error is shown at once while the old code keeps serving, the logs stream with REPORT lines summarised, and Ctrl-C
stops it. Run as a subprocess against the session server, as a person runs it."""

from __future__ import annotations

import json
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

from test_cli import _env

from conftest import NIMBUS, ROOT

V1 = "def handler(event, context):\n    print('version one says hi')\n    return {'v': 1}\n"
V2 = "def handler(event, context):\n    print('version two says hi')\n    return {'v': 2}\n"
BROKEN = "def handler(event, context)\n    return {'v': 3}\n"


class Output:
    """The dev command's stdout, read as it comes."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.lines: list[str] = []
        self._thread = threading.Thread(target=self._read, args=(proc,), daemon=True)
        self._thread.start()

    def _read(self, proc: subprocess.Popen[str]) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            self.lines.append(line)

    def wait_for(self, text: str, timeout: float = 30) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = next((line for line in self.lines if text in line), None)
            if found is not None:
                return found
            time.sleep(0.05)
        raise AssertionError(f"{text!r} not in the output:\n{''.join(self.lines)}")


def interrupt(proc: subprocess.Popen[str]) -> None:
    """Ctrl-C, as a person stops it; killed if it does not stop."""
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()


def invoke(lam: Any, name: str) -> Any:
    return json.loads(lam.invoke(FunctionName=name, Payload=b"{}")["Payload"].read())


def test_dev_deploys_redeploys_on_save_refuses_a_syntax_error_and_streams_logs(
    server: Any, lam: Any, tmp_path: Path
) -> None:
    folder = tmp_path / "fn"
    folder.mkdir()
    (folder / "app.py").write_text(V1)
    name = "dev-cli-fn"
    proc = subprocess.Popen([*NIMBUS, "dev", str(folder), "--name", name, "--runtime", "python3.11"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=_env(server.endpoint),
                            cwd=ROOT)  # fmt: skip
    out = Output(proc)
    try:
        out.wait_for(f"{name} created")
        assert invoke(lam, name) == {"v": 1}
        out.wait_for("version one says hi")
        report = out.wait_for("done ")
        assert "billed" in report
        assert "/128 MB" in report
        assert not any(line.startswith(("START", "END")) or "REPORT RequestId" in line for line in out.lines)

        saved = time.monotonic()
        (folder / "app.py").write_text(V2)
        while invoke(lam, name) != {"v": 2}:  # the next invoke after the update runs the new code
            assert time.monotonic() - saved < 20, "".join(out.lines)
            time.sleep(0.05)
        print(f"nimbus dev: new code served {time.monotonic() - saved:.2f} s after the save")
        out.wait_for("app.py changed")

        # an editor's save: a temporary file written, then renamed over app.py (sed -i, vim, VS Code)
        (folder / "sedX1a2b3").write_text(V2.replace("'v': 2", "'v': 'renamed'"))
        (folder / "sedX1a2b3").replace(folder / "app.py")
        while invoke(lam, name) != {"v": "renamed"}:
            assert time.monotonic() - saved < 40, "".join(out.lines)
            time.sleep(0.05)
        updates: list[str] = []
        while len(updates) < 2:
            updates = [line for line in out.lines if f"changed: {name} updated" in line]
            assert time.monotonic() - saved < 40, "".join(out.lines)
            time.sleep(0.05)
        assert updates[1].startswith("app.py changed: "), updates  # the temporary file is not a change

        (folder / "app.py").write_text(BROKEN)
        problem = out.wait_for("not deployed")
        assert "previous code keeps serving" in problem
        out.wait_for("app.py:1:")
        out.wait_for("expected ':'")
        assert invoke(lam, name) == {"v": "renamed"}
    finally:
        interrupt(proc)
        lam.delete_function(FunctionName=name)
    assert proc.returncode == 0


TEMPLATE = """\
AWSTemplateFormatVersion: '2010-09-09'
Transform: AWS::Serverless-2016-10-31
Globals:
  Function:
    Runtime: python3.11
    Handler: app.handler
Resources:
  First:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: first/
  Second:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: second/
"""


def test_dev_with_a_sam_template_deploys_the_stack_and_updates_only_the_changed_function(
    server: Any, lam: Any, tmp_path: Path
) -> None:
    app = tmp_path / "dev-app"
    for folder in ("first", "second"):
        (app / folder).mkdir(parents=True)
        (app / folder / "app.py").write_text(V1.replace("version one", f"{folder} one"))
    (app / "template.yaml").write_text(TEMPLATE)
    proc = subprocess.Popen([*NIMBUS, "dev", str(app), "--name", "dev-stack"], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env=_env(server.endpoint), cwd=ROOT)  # fmt: skip
    out = Output(proc)
    try:
        out.wait_for("watching", timeout=120)
        names = {
            f["FunctionName"] for f in lam.list_functions()["Functions"] if f["FunctionName"].startswith("dev-stack-")
        }
        first = next(n for n in names if n.startswith("dev-stack-First"))
        second = next(n for n in names if n.startswith("dev-stack-Second"))
        assert invoke(lam, first) == {"v": 1}
        out.wait_for("first one says hi")
        untouched = lam.get_function_configuration(FunctionName=second)["CodeSha256"]

        (app / "first" / "app.py").write_text(V2)
        assert out.wait_for(") updated in").startswith("First (dev-stack-First")
        assert invoke(lam, first) == {"v": 2}
        assert lam.get_function_configuration(FunctionName=second)["CodeSha256"] == untouched

        (app / "second" / "app.py").write_text(BROKEN)
        out.wait_for("Second not updated")
        assert invoke(lam, second) == {"v": 1}
    finally:
        interrupt(proc)
        subprocess.run([*NIMBUS, "stack", "delete", "dev-stack"], capture_output=True,
                           env=_env(server.endpoint), cwd=ROOT, timeout=120)  # fmt: skip
    assert proc.returncode == 0


def test_dev_refuses_a_folder_that_does_not_compile(server: Any, tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text(BROKEN)
    result = subprocess.run([*NIMBUS, "dev", str(tmp_path), "--name", "dev-cli-broken"], capture_output=True,
                            text=True, env=_env(server.endpoint), cwd=ROOT, timeout=60)  # fmt: skip
    assert result.returncode == 1
    assert "does not compile" in result.stderr
    assert "app.py:1:" in result.stderr
