"""Every error path of the real `nimbus` command ends in one `error:` line, never a traceback (NIMBUS_DEBUG=1 shows
one), and the help names what each option takes, within 80 columns."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import NIMBUS, ROOT, Server, make_zip

Run = Callable[..., subprocess.CompletedProcess[str]]

#: one command of every family that talks to the server (each takes --endpoint-url through the same option)
CLIENT_COMMANDS = [
    ["function", "list"], ["function", "get", "x"], ["function", "versions", "x"], ["invoke", "x"],
    ["logs", "x"], ["alias", "list", "x"], ["layer", "list"], ["mapping", "list"], ["queue", "list"],
    ["url", "list", "x"],
]  # fmt: skip
#: Typer's default type metavars, which the help must not show
TYPE_METAVAR = re.compile(r"<(bool|str|int|float|path|list\[[^\]]*\]|[a-z]+\|[a-z|]+)>")


def _env(endpoint: str | None, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NIMBUS_", "AWS_"))}
    env.update(AWS_SHARED_CREDENTIALS_FILE="/nonexistent", AWS_CONFIG_FILE="/nonexistent", COLUMNS="200")
    if endpoint:
        env["NIMBUS_ENDPOINT_URL"] = endpoint
    env.update(extra)
    return env


def nimbus(*args: str, endpoint: str | None = None, stdout: Any = subprocess.PIPE, **env: str) -> Any:
    return subprocess.run([*NIMBUS, *args], stdout=stdout, stderr=subprocess.PIPE, text=True,
                          env=_env(endpoint, **env), cwd=ROOT, timeout=120)  # fmt: skip


@pytest.fixture
def run(server: Server) -> Run:
    def _run(*args: str, **env: str) -> Any:
        return nimbus(*args, endpoint=server.endpoint, **env)

    return _run


def one_line_error(result: subprocess.CompletedProcess[str], code: int = 1) -> str:
    assert result.returncode == code, result
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: "), lines
    return lines[0]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def function(server: Server) -> Iterator[str]:
    lam = server.client("lambda")
    name = "cli-errors-echo"
    lam.create_function(FunctionName=name, Runtime="python3.11", Role="arn:aws:iam::000000000000:role/r",
                        Handler="app.handler",
                        Code={"ZipFile": make_zip({"app.py": "def handler(e, c):\n    return e\n"})})  # fmt: skip
    yield name
    lam.delete_function(FunctionName=name)


# ---- the endpoint ----


@pytest.mark.parametrize("command", CLIENT_COMMANDS, ids=lambda c: "-".join(c[:2]))
def test_endpoint_without_a_scheme_says_what_to_write(command: list[str]) -> None:
    line = one_line_error(nimbus(*command, "--endpoint-url", "127.0.0.1:9001"), code=2)
    assert line == "error: --endpoint-url '127.0.0.1:9001' has no scheme: write http://127.0.0.1:9001"


def test_endpoint_from_the_environment_is_named_as_such() -> None:
    line = one_line_error(nimbus("function", "list", endpoint="localhost:9001"), code=2)
    assert line == "error: NIMBUS_ENDPOINT_URL 'localhost:9001' has no scheme: write http://localhost:9001"


def test_aws_endpoint_url_is_followed_after_nimbus_endpoint_url(server: Server) -> None:
    """The banner tells people to export AWS_ENDPOINT_URL for the AWS tools: the nimbus CLI follows it too."""
    result = nimbus("function", "list", AWS_ENDPOINT_URL=server.endpoint)
    assert result.returncode == 0, result.stderr
    down = f"http://127.0.0.1:{free_port()}"
    line = one_line_error(nimbus("function", "list", endpoint=down, AWS_ENDPOINT_URL=server.endpoint))
    assert down in line  # NIMBUS_ENDPOINT_URL first
    line = one_line_error(nimbus("function", "list", AWS_ENDPOINT_URL="127.0.0.1:9001"), code=2)
    assert line == "error: AWS_ENDPOINT_URL '127.0.0.1:9001' has no scheme: write http://127.0.0.1:9001"


def test_endpoint_of_another_scheme_is_refused() -> None:
    line = one_line_error(nimbus("function", "list", "--endpoint-url", "ftp://127.0.0.1:9001"), code=2)
    assert "is not an http(s) URL" in line


@pytest.mark.parametrize("command", CLIENT_COMMANDS, ids=lambda c: "-".join(c[:2]))
def test_server_down_is_one_line(command: list[str]) -> None:
    endpoint = f"http://127.0.0.1:{free_port()}"
    line = one_line_error(nimbus(*command, endpoint=endpoint))
    assert line == f"error: cannot reach Nimbus at {endpoint}: is 'nimbus serve' running?"


# ---- bad input, each path ----


def test_bad_json_payload_is_the_servers_one_line(run: Run, function: str) -> None:
    line = one_line_error(run("invoke", function, "--payload", "{not json"))
    assert line.startswith("error: InvalidRequestContentException: "), line


def test_missing_payload_file(run: Run, tmp_path: Path) -> None:
    line = one_line_error(run("invoke", "x", "--payload", f"@{tmp_path / 'nope.json'}"), code=2)
    assert line.startswith("error: cannot read payload file ")
    assert "No such file" in line


def test_missing_code_path(run: Run, tmp_path: Path) -> None:
    for family in ("function", "layer"):
        verb = "create" if family == "function" else "publish"
        line = one_line_error(run(family, verb, "x", "--code", str(tmp_path / "nope")), code=2)
        assert "no such file or directory" in line


def test_bad_key_value(run: Run, tmp_path: Path) -> None:
    assert "--env expects KEY=VALUE" in one_line_error(run("function", "update", "x", "--env", "NOVALUE"), code=2)
    assert "--attribute" in one_line_error(run("queue", "create", "q", "--attribute", "NOVALUE"), code=2)
    assert "--weight" in one_line_error(run("alias", "create", "x", "a", "--version", "1", "--weight", "2"), code=2)


@pytest.mark.parametrize(
    "command",
    [["function", "get", "cli-nope"], ["invoke", "cli-nope"], ["function", "versions", "cli-nope"],
     ["alias", "list", "cli-nope"], ["logs", "cli-nope"], ["url", "list", "cli-nope"],
     ["layer", "versions", "cli-nope"], ["queue", "send", "cli-nope", "body"],
     ["mapping", "delete", "00000000-0000-0000-0000-000000000000"]],
    ids=lambda c: "-".join(c[:2]),
)  # fmt: skip
def test_unknown_resource_is_one_line(run: Run, command: list[str]) -> None:
    result = run(*command)
    if command[:2] == ["layer", "versions"]:  # an unknown layer has no versions: not an error
        assert result.returncode == 0, result
        assert "Traceback" not in result.stderr
        return
    line = one_line_error(result)
    assert "NotFound" in line or "NonExistentQueue" in line or "does not exist" in line, line


# ---- serve ----


def test_serve_on_a_port_in_use_is_one_line(server: Server, tmp_path: Path) -> None:
    result = nimbus("serve", "--port", str(server.port), "--data-dir", str(tmp_path))
    assert result.returncode == 1
    assert "Traceback" not in result.stderr, result.stderr
    assert result.stderr.strip().splitlines()[-1] == (
        f"error: 127.0.0.1:{server.port} is already in use (another nimbus serve?): stop it or pass --port"
    )


def test_serve_with_an_unusable_data_dir_is_one_line(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    line = one_line_error(nimbus("serve", "--port", "0", "--data-dir", str(blocker / "data")), code=2)
    assert line.startswith(f"error: cannot use the data dir {blocker / 'data'}: ")


# ---- what no command expected ----


def test_an_unexpected_error_is_one_line_and_nimbus_debug_shows_the_traceback() -> None:
    with open("/dev/full", "w") as full:  # every write to stdout fails (ENOSPC): no command handles that
        quiet = nimbus("version", stdout=full)
        debug = nimbus("version", stdout=full, NIMBUS_DEBUG="1")
    line = one_line_error(quiet)
    assert line == "error: No space left on device (NIMBUS_DEBUG=1 shows the traceback)"
    assert debug.returncode == 1
    assert "Traceback" in debug.stderr, debug.stderr


# ---- help ----


#: renders the help of every command and group of the real app, found by walking it (commands added later are
#: checked too), as `nimbus ... --help` does, in one process: {"nimbus function create": "<help text>", ...}
HELP_WALK = """
import contextlib, io, json, sys
from nimbus.cli.main import app
root = app.click_group()
helps = {}
def walk(command, path):
    text = io.StringIO()
    with contextlib.redirect_stdout(text), contextlib.suppress(SystemExit):
        root.main([*path, "--help"], prog_name="nimbus")
    helps[" ".join(["nimbus", *path])] = text.getvalue()
    for name in (command.list_commands(None) if hasattr(command, "list_commands") else []):
        walk(command.get_command(None, name), [*path, name])
walk(root, [])
sys.stdout.write(json.dumps(helps))
"""


def test_help_shows_placeholders_not_types_within_80_columns() -> None:
    result = subprocess.run([NIMBUS[0], "-c", HELP_WALK], capture_output=True, text=True, env=_env(None, COLUMNS="80"),
                            cwd=ROOT, timeout=120, check=True)  # fmt: skip
    helps: dict[str, str] = json.loads(result.stdout)
    assert {"nimbus", "nimbus serve", "nimbus function create", "nimbus queue send"} <= helps.keys()
    for command, text in helps.items():
        assert text.startswith("Usage: nimbus"), (command, text)
        assert not TYPE_METAVAR.search(text), (command, TYPE_METAVAR.findall(text))
        long = [line for line in text.splitlines() if len(line) > 80]
        assert not long, (command, long)
    create = helps["nimbus function create"]  # and the real command prints the same (`python -m` as its name)
    assert nimbus("function", "create", "--help", COLUMNS="80").stdout.replace("python -m nimbus.cli.main",
                                                                               "nimbus") == create  # fmt: skip
    for shown in ("--memory MB", "--endpoint-url URL", "--code PATH", "--env KEY=VALUE", "--timeout SECONDS"):
        assert shown in create, create
    assert "nimbus role create" in " ".join(create.split()), create  # roles are enforced: where to get one
    invoke = helps["nimbus invoke"]
    assert re.search(r"^  --async\s{2,}Queue", invoke, re.M), invoke  # a flag: no placeholder
    assert re.search(r"^  --log\s{2,}Print", invoke, re.M), invoke
