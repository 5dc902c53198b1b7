"""The real `nimbus` CLI, run as a subprocess against the session server, exactly as a user would run it."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import NIMBUS, ROOT, Server, delete_functions, make_zip

FAILING = 'def handler(event, context):\n    print("failing")\n    raise ValueError("boom: " + str(event))\n'
LOGGING = 'def handler(event, context):\n    print("marker-" + event["m"])\n    return {"ok": True}\n'

Run = Callable[..., subprocess.CompletedProcess[str]]


def _env(endpoint: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NIMBUS_", "AWS_"))}
    # no AWS credentials anywhere: the CLI must fall back to the dev credentials
    env.update(AWS_SHARED_CREDENTIALS_FILE="/nonexistent", AWS_CONFIG_FILE="/nonexistent", COLUMNS="200")
    if endpoint:
        env["NIMBUS_ENDPOINT_URL"] = endpoint
    return env


@pytest.fixture
def run(server: Server) -> Run:
    """Run `nimbus ARGS...` against the session server (endpoint from NIMBUS_ENDPOINT_URL)."""

    def _run(*args: str, stdin: str | None = None, endpoint: str | None = server.endpoint) -> Any:
        return subprocess.run(
            [*NIMBUS, *args],
            input=stdin,
            capture_output=True,
            text=True,
            env=_env(endpoint),
            cwd=ROOT,
            timeout=120,
        )

    return _run


@pytest.fixture
def code_dir(tmp_path: Path) -> Callable[[str], Path]:
    def _make(source: str, name: str = "code") -> Path:
        folder = tmp_path / name
        folder.mkdir()
        (folder / "app.py").write_text(source)
        return folder

    return _make


@pytest.fixture
def cleanup(lam: Any) -> Iterator[list[str]]:
    names: list[str] = []
    yield names
    delete_functions(lam, names)


def _ok(result: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert result.returncode == 0, f"exit {result.returncode}\nstdout: {result.stdout}\nstderr: {result.stderr}"
    return result


def _one_line_error(result: subprocess.CompletedProcess[str], code: int = 1) -> str:
    assert result.returncode == code, result
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    return lines[0]


def test_function_lifecycle_from_a_folder(run: Run, code_dir: Callable[..., Path], cleanup: list[str]) -> None:
    name = "cli-lifecycle"
    cleanup.append(name)
    folder = code_dir('def handler(event, context):\n    return {"v": 1, "got": event}\n')
    created = _ok(run("function", "create", name, "--code", str(folder), "--env", "COLOR=blue", "--memory", "192"))
    assert name in created.stdout
    assert "python3.11" in created.stdout

    assert name in _ok(run("function", "list")).stdout

    got = json.loads(_ok(run("function", "get", name)).stdout)
    config = got["Configuration"]
    assert (config["Handler"], config["Runtime"], config["MemorySize"]) == ("app.handler", "python3.11", 192)
    assert config["Environment"]["Variables"] == {"COLOR": "blue"}

    assert json.loads(_ok(run("invoke", name, "--payload", '{"x": 1}')).stdout) == {"v": 1, "got": {"x": 1}}

    _ok(run("function", "update", name, "--memory", "256", "--timeout", "5", "--env", "SHAPE=round"))
    config = json.loads(_ok(run("function", "get", name)).stdout)["Configuration"]
    assert (config["MemorySize"], config["Timeout"], config["Environment"]["Variables"]) == (
        256,
        5,
        {"SHAPE": "round"},
    )

    new_code = code_dir('def handler(event, context):\n    return {"v": 2}\n', name="v2")
    _ok(run("function", "update", name, "--code", str(new_code)))
    assert json.loads(_ok(run("invoke", name)).stdout) == {"v": 2}

    assert name in _ok(run("function", "delete", name)).stdout
    line = _one_line_error(run("function", "get", name))
    assert line.startswith("error: ResourceNotFoundException: ")
    assert name not in _ok(run("function", "list")).stdout


def test_create_from_an_example_folder_uses_its_config(run: Run, cleanup: list[str]) -> None:
    cleanup.append("cli-hello")
    _ok(run("function", "create", "cli-hello", "--code", str(ROOT / "examples" / "hello")))
    config = json.loads(_ok(run("function", "get", "cli-hello")).stdout)["Configuration"]
    assert config["Description"] == json.loads((ROOT / "examples/hello/nimbus.json").read_text())["Description"]
    result = _ok(run("invoke", "cli-hello", "-p", '{"name": "Ada"}'))
    assert json.loads(result.stdout) == {"message": "Hello, Ada!"}


def test_create_from_a_zip_file(run: Run, tmp_path: Path, cleanup: list[str]) -> None:
    cleanup.append("cli-zip")
    archive = tmp_path / "code.zip"
    archive.write_bytes(make_zip({"main.py": "def go(event, context):\n    return 'zipped'\n"}))
    _ok(run("function", "create", "cli-zip", "--code", str(archive), "--handler", "main.go"))
    assert json.loads(_ok(run("invoke", "cli-zip")).stdout) == "zipped"


def test_invoke_payload_from_literal_file_and_stdin(
    run: Run, code_dir: Callable[..., Path], tmp_path: Path, cleanup: list[str]
) -> None:
    cleanup.append("cli-echo")
    _ok(run("function", "create", "cli-echo", "--code", str(code_dir("def handler(e, c):\n    return e\n"))))
    assert json.loads(_ok(run("invoke", "cli-echo", "--payload", '{"from": "arg"}')).stdout) == {"from": "arg"}
    payload_file = tmp_path / "event.json"
    payload_file.write_text('{"from": "file", "n": [1, 2]}')
    from_file = _ok(run("invoke", "cli-echo", "--payload", f"@{payload_file}")).stdout
    assert json.loads(from_file) == {"from": "file", "n": [1, 2]}
    assert json.loads(_ok(run("invoke", "cli-echo", "--payload", "-", stdin='{"from": "stdin"}')).stdout) == {
        "from": "stdin"
    }
    missing = _one_line_error(run("invoke", "cli-echo", "--payload", f"@{tmp_path}/missing.json"), code=2)
    assert "missing.json" in missing


def test_failing_function_exits_1_with_the_error_on_stderr(
    run: Run, code_dir: Callable[..., Path], cleanup: list[str]
) -> None:
    cleanup.append("cli-fail")
    _ok(run("function", "create", "cli-fail", "--code", str(code_dir(FAILING))))
    result = run("invoke", "cli-fail", "--payload", '{"a": 1}')
    assert result.returncode == 1
    assert result.stdout == ""
    first = result.stderr.splitlines()[0]
    assert first.startswith("error: function error (Unhandled): ValueError: boom"), result.stderr
    assert "Traceback (most recent call last)" not in result.stderr


def test_invoke_log_prints_the_tail_to_stderr(run: Run, code_dir: Callable[..., Path], cleanup: list[str]) -> None:
    cleanup.append("cli-log")
    _ok(run("function", "create", "cli-log", "--code", str(code_dir(LOGGING))))
    result = _ok(run("invoke", "cli-log", "--log", "--payload", '{"m": "tail"}'))
    assert json.loads(result.stdout) == {"ok": True}
    assert "marker-tail" in result.stderr
    assert "marker-tail" not in result.stdout


def test_logs_shows_events_and_follow_stops_on_ctrl_c(
    run: Run, server: Server, code_dir: Callable[..., Path], cleanup: list[str]
) -> None:
    cleanup.append("cli-logs")
    _ok(run("function", "create", "cli-logs", "--code", str(code_dir(LOGGING))))
    _ok(run("invoke", "cli-logs", "--payload", '{"m": "first"}'))
    deadline = time.monotonic() + 20
    while True:  # log hand-off is asynchronous: poll, bounded
        shown = _ok(run("logs", "cli-logs", "--since", "1h")).stdout
        if "marker-first" in shown or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    line = next(line for line in shown.splitlines() if "marker-first" in line)
    stamp, stream, message = line.split(" ", 2)
    assert stamp.endswith("Z")
    assert "T" in stamp
    assert stream
    assert message == "marker-first"

    follower = subprocess.Popen(
        [*NIMBUS, "logs", "cli-logs", "--follow", "--since", "1h"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(server.endpoint),
        cwd=ROOT,
    )
    try:
        assert follower.stdout is not None
        lines: list[str] = []

        def read_until(marker: str) -> None:
            # bounded by the test timeout; a new event shows up within a poll or two
            for line in follower.stdout:  # type: ignore[union-attr]
                lines.append(line)
                if marker in line:
                    return

        read_until("marker-first")
        _ok(run("invoke", "cli-logs", "--payload", '{"m": "second"}'))
        read_until("marker-second")
        assert sum("marker-first" in line for line in lines) == 1, "events must not repeat while following"
    finally:
        follower.send_signal(signal.SIGINT)
        _, stderr = follower.communicate(timeout=20)
    assert follower.returncode == 0, stderr
    assert "Traceback" not in stderr


def test_logs_of_an_unknown_function_is_one_line(run: Run) -> None:
    line = _one_line_error(run("logs", "cli-no-such-function"))
    assert line.startswith("error: ResourceNotFoundException")


def test_unknown_function_is_one_line_no_traceback(run: Run) -> None:
    for args in (
        ["function", "get", "cli-missing"],
        ["invoke", "cli-missing"],
        ["function", "delete", "cli-missing"],
    ):
        line = _one_line_error(run(*args))
        assert line.startswith("error: ResourceNotFoundException: "), line
        assert "cli-missing" in line


def test_bad_input_is_one_line_exit_2(run: Run, tmp_path: Path) -> None:
    assert "KEY=VALUE" in _one_line_error(
        run("function", "create", "x", "--code", str(tmp_path), "--env", "novalue"), code=2
    )
    assert "--since" in _one_line_error(run("logs", "x", "--since", "yesterday"), code=2)
    assert "nothing to update" in _one_line_error(run("function", "update", "x"), code=2)
    missing = _one_line_error(run("function", "create", "x", "--code", str(tmp_path / "nope")), code=2)
    assert "no such file" in missing


def test_configured_aws_credentials_are_used_instead_of_dev_ones(server: Server) -> None:
    env = _env(server.endpoint)
    env.update(AWS_ACCESS_KEY_ID="AKIDWRONG", AWS_SECRET_ACCESS_KEY="wrong")
    result = subprocess.run([*NIMBUS, "function", "list"], capture_output=True, text=True, env=env, timeout=60)
    line = _one_line_error(result)
    assert "UnrecognizedClient" in line or "InvalidSignature" in line, line


def test_unreachable_endpoint(run: Run) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    endpoint = f"http://127.0.0.1:{port}"
    for args in (["function", "list"], ["invoke", "x"], ["logs", "x"]):
        line = _one_line_error(run(*args, "--endpoint-url", endpoint, endpoint=None))
        assert line == f"error: cannot reach Nimbus at {endpoint}: is 'nimbus serve' running?"


def test_serve_refuses_dev_credentials_off_loopback(tmp_path: Path) -> None:
    result = subprocess.run(
        [*NIMBUS, "serve", "--host", "0.0.0.0", "--port", "0", "--data-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        env=_env(None),
        timeout=60,
    )
    assert "refusing to listen" in _one_line_error(result, code=2)


def test_help_runs_without_a_server() -> None:
    result = subprocess.run([sys.executable, "-m", "nimbus.cli.main", "--help"], capture_output=True, text=True)
    assert result.returncode == 0
    for command in ("serve", "function", "invoke", "logs"):
        assert command in result.stdout
