"""The lazily built top level (cli/_lazy.py) against the same table built up front by Typer: the same help, the
same answer to an unknown command, and each command's help the same (so its options and defaults too); listing
the commands builds none of them."""

from __future__ import annotations

import contextlib
import io
from typing import Any

import pytest
import typer

from nimbus.cli._entry import add_placeholders
from nimbus.cli.main import COMMANDS, app


def _run(command: Any, *args: str) -> tuple[Any, str, str]:
    """(exit code, stdout, stderr) of `nimbus ARGS` run by `command` in this process."""
    out, err = io.StringIO(), io.StringIO()
    code: Any = 0
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            command.main(list(args), prog_name="nimbus")
        except SystemExit as exc:
            code = exc.code
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def eager() -> Any:
    command = typer.main.get_command(app.eager())
    add_placeholders(command)
    return command


def test_the_top_level_help_is_typers_and_builds_nothing(eager: Any) -> None:
    lazy = app.click_group()
    for args in ((), ("--help",)):
        shown = _run(lazy, *args)
        assert shown == _run(eager, *args), args
        assert all(f"  {name} " in shown[1] + shown[2] for name in COMMANDS), shown  # (no args: on stderr)
    assert lazy.commands == {}  # listed from their help alone


def test_an_unknown_command_gets_typers_answer(eager: Any) -> None:
    for args in (("functoin",), ("serv", "--port", "1"), ("nonsense",), ("function", "lst")):
        code, out, err = _run(app.click_group(), *args)
        assert (code, out, err) == _run(eager, *args), args
        assert code == 2, (args, err)
    assert "Did you mean 'function'?" in _run(app.click_group(), "functoin")[2]


def test_each_command_builds_as_typer_builds_it(eager: Any) -> None:
    lazy = app.click_group()
    for name in COMMANDS:
        assert _run(lazy, name, "--help") == _run(eager, name, "--help"), name
        assert set(lazy.commands) <= set(COMMANDS)
    assert list(lazy.commands) == list(COMMANDS)  # each built once, when first asked for
    assert _run(lazy, "version")[1] == _run(eager, "version")[1] != ""
