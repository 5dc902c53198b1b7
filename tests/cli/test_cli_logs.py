"""`nimbus logs`: errors at once for a function that does not exist (with --follow too), says it waits for a function
that has not logged yet, shows a short instance tag coloured per stream (the full stream with --verbose), and passes
--filter-pattern to FilterLogEvents. Run as a subprocess against the session server, as a user runs it."""

from __future__ import annotations

import json
import os
import pty
import signal
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from test_cli import Run, _env, _ok, _one_line_error

from conftest import NIMBUS, ROOT, Server, make_zip

#: logs a JSON line and a plain line per invoke, and answers its log stream
LOGGER = """
import json, time
def handler(event, context):
    time.sleep(event.get("sleep", 0))
    print(json.dumps({"level": event.get("level", "INFO"), "m": event["m"]}))
    print("plain-" + event["m"])
    return context.log_stream_name
"""
ANSI = "\x1b["


@pytest.fixture
def function(lam: Any, fn_name: str) -> Iterator[str]:
    lam.create_function(FunctionName=fn_name, Runtime="python3.11", Role="arn:aws:iam::000000000000:role/r",
                        Handler="app.handler", Code={"ZipFile": make_zip({"app.py": LOGGER})})  # fmt: skip
    yield fn_name
    lam.delete_function(FunctionName=fn_name)


def invoke(lam: Any, name: str, **event: Any) -> str:
    """Invoke with `event`; returns the log stream the invoke ran in."""
    return str(json.loads(lam.invoke(FunctionName=name, Payload=json.dumps(event))["Payload"].read()))


def logs_until(run: Run, name: str, marker: str, *args: str, env: dict[str, str] | None = None) -> str:
    """`nimbus logs NAME ARGS` once `marker` shows (log hand-off is asynchronous: poll, bounded)."""
    deadline = time.monotonic() + 20
    while True:
        shown = _ok(run("logs", name, "--since", "1h", *args, **({"env": env} if env else {}))).stdout
        if marker in shown or time.monotonic() > deadline:
            return shown
        time.sleep(0.3)


@pytest.fixture
def run(server: Server) -> Run:
    def _run(*args: str, env: dict[str, str] | None = None) -> Any:
        return subprocess.run([*NIMBUS, *args], capture_output=True, text=True, cwd=ROOT, timeout=60,
                              env=env or _env(server.endpoint))  # fmt: skip

    return _run


def test_unknown_function_errors_at_once_with_or_without_follow(run: Run) -> None:
    for follow in ([], ["--follow"]):
        started = time.monotonic()
        line = _one_line_error(run("logs", "cli-logs-nobody", *follow))
        assert time.monotonic() - started < 15, "must not wait for logs of a function that does not exist"
        assert line.startswith("error: ResourceNotFoundException: function 'cli-logs-nobody' does not exist")
        assert "nimbus function list" in line


def test_follow_on_a_function_that_has_not_run_says_it_is_waiting(
    run: Run, server: Server, lam: Any, function: str
) -> None:
    quiet = _ok(run("logs", function))
    assert quiet.stdout == ""
    assert "no logs yet" in quiet.stderr
    assert f"nimbus invoke {function}" in quiet.stderr

    follower = subprocess.Popen([*NIMBUS, "logs", function, "--follow"], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, env=_env(server.endpoint), cwd=ROOT)  # fmt: skip
    try:
        assert follower.stderr is not None
        assert follower.stdout is not None
        assert "waiting for logs" in follower.stderr.readline()
        invoke(lam, function, m="late")
        for line in follower.stdout:  # bounded by the test timeout: the event shows within a poll or two
            if "plain-late" in line:
                break
    finally:
        follower.send_signal(signal.SIGINT)
        _, stderr = follower.communicate(timeout=20)
    assert follower.returncode == 0, stderr
    assert "Traceback" not in stderr


def test_lines_show_an_instance_tag_and_verbose_the_full_stream(run: Run, lam: Any, function: str) -> None:
    stream = invoke(lam, function, m="tagged")
    line = next(x for x in logs_until(run, function, "plain-tagged").splitlines() if x.endswith("plain-tagged"))
    _stamp, tag, message = line.split(" ", 2)
    assert (tag, message) == (stream[-8:], "plain-tagged")
    assert ANSI not in line, "no colour when stdout is not a terminal"

    verbose = _ok(run("logs", function, "--since", "1h", "--verbose")).stdout
    assert f" {stream} plain-tagged" in verbose


def test_tags_are_coloured_per_stream_on_a_terminal_or_when_forced(
    run: Run, server: Server, lam: Any, function: str
) -> None:
    with ThreadPoolExecutor(2) as pool:  # two invokes at once run in two instances: two streams
        streams = set(pool.map(lambda m: invoke(lam, function, m=m, sleep=1), ["one", "two"]))
    assert len(streams) == 2
    logs_until(run, function, "plain-two")
    logs_until(run, function, "plain-one")

    env = _env(server.endpoint)
    forced = _ok(run("logs", function, "--since", "1h", env={**env, "FORCE_COLOR": "1"})).stdout
    colours = {stream[-8:]: colour_of(forced, stream[-8:]) for stream in streams}
    assert all(colours.values()), forced
    assert len(set(colours.values())) == 2, forced
    assert ANSI not in _ok(run("logs", function, "--since", "1h", env={**env, "FORCE_COLOR": "1", "NO_COLOR": "1"})
                           ).stdout  # fmt: skip

    on_tty = run_on_a_terminal([*NIMBUS, "logs", function, "--since", "1h"], env)
    assert colour_of(on_tty, next(iter(streams))[-8:]), on_tty
    assert ANSI not in run_on_a_terminal([*NIMBUS, "logs", function, "--since", "1h"], {**env, "NO_COLOR": "1"})


def colour_of(output: str, tag: str) -> str:
    """The ANSI colour code `tag` is printed in, or ''."""
    for line in output.splitlines():
        head, sep, _ = line.partition(tag)
        if sep and head.endswith("m") and ANSI in head:
            return head[head.rindex(ANSI) :]
    return ""


def run_on_a_terminal(command: list[str], env: dict[str, str]) -> str:
    """Run `command` with a pseudo-terminal as its stdout; what it printed there."""
    main, child = pty.openpty()
    try:
        subprocess.run(command, stdout=child, stderr=subprocess.DEVNULL, env=env, cwd=ROOT, timeout=60, check=True)
    finally:
        os.close(child)
    chunks = []
    while True:
        try:
            chunk = os.read(main, 65536)
        except OSError:  # EIO: the terminal's other side is closed and drained
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(main)
    return b"".join(chunks).decode()


def test_filter_pattern_passes_through(run: Run, lam: Any, function: str) -> None:
    invoke(lam, function, m="calm")
    invoke(lam, function, m="loud", level="ERROR")
    logs_until(run, function, "plain-loud")
    shown = logs_until(run, function, "loud", "--filter-pattern", '{ $.level = "ERROR" }')
    messages = [line.split(" ", 2)[2] for line in shown.splitlines()]
    assert messages == ['{"level": "ERROR", "m": "loud"}']
    assert [x.split(" ", 2)[2] for x in _ok(run("logs", function, "--since", "1h", "--filter-pattern",
                                                "?plain-calm ?plain-loud")).stdout.splitlines()] == [
        "plain-calm", "plain-loud"]  # fmt: skip

    line = _one_line_error(run("logs", function, "--filter-pattern", "{ $.level = "))
    assert line.startswith("error: InvalidParameterException: Invalid filter pattern"), line
    followed = run("logs", function, "--follow", "--filter-pattern", "[a, , b]")
    assert _one_line_error(followed).startswith("error: InvalidParameterException"), "a bad pattern must not hang"


def test_help_lists_the_options(run: Run) -> None:
    shown = _ok(run("logs", "--help")).stdout
    for option in ("--follow", "--filter-pattern", "--verbose", "--since"):
        assert option in shown

