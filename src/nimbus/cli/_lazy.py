"""The top-level `nimbus` group, built lazily: a command's module is imported, and its click command built from its
signature, only when that command runs or shows its help.

Typer builds a click command by reading every parameter's `Annotated` option of every function (~90 ms for the
whole tree, a third of a start-up), where a run needs one command. The top level is therefore a table (`COMMANDS`
in main.py): name -> "module:attribute" under nimbus.cli, a Typer app being a group and a function a command, in
the order help lists them. `get_command` builds one entry exactly as `add_typer` / `command()` on the top app
would (same settings, through Typer itself); the top-level help lists each entry by its short help, read from the
Typer app's `help` or the function's docstring as Typer reads them, without building it; an unknown command is
answered with the same "Did you mean" as Typer's. tests/cli/test_cli_lazy.py compares all three with what the
eagerly built app prints.
"""

from __future__ import annotations

import difflib
import importlib
import inspect
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import typer
from typer._click.exceptions import UsageError  # Typer's own click (it vendors one)
from typer.core import TyperCommand, TyperGroup
from typer.models import TyperInfo

if TYPE_CHECKING:
    from typer._click import Command, Context, HelpFormatter

#: a table entry: "module:attribute" under nimbus.cli, or the Typer app or command function itself
Entry = str | typer.Typer | Callable[..., Any]


def load(entry: Entry) -> typer.Typer | Callable[..., Any]:
    """The Typer app or command function an entry names ("_functions:app" -> nimbus.cli._functions.app)."""
    if not isinstance(entry, str):
        return entry
    module, _, attribute = entry.partition(":")
    found: typer.Typer | Callable[..., Any] = getattr(importlib.import_module(f"nimbus.cli.{module}"), attribute)
    return found


def eager_app(table: Mapping[str, Entry], **settings: Any) -> typer.Typer:
    """A Typer app with every entry of `table` added as `add_typer` / `command()` add them (`settings`: the top
    app's). Building its click command builds the whole tree: what the lazy group stands for."""
    app = typer.Typer(**settings)
    for name, entry in table.items():
        target = load(entry)
        if isinstance(target, typer.Typer):
            app.add_typer(target, name=name)
        else:
            app.command(name=name)(target)
    return app


class LazyGroup(TyperGroup):
    """A group whose sub-commands come from a table and are built the first time one is looked up."""

    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        #: name -> entry, in help order; `prepare` is run on each command built (_entry.py's placeholders)
        self.table: Mapping[str, Entry] = {}
        self.prepare: Callable[[Command], None] = lambda command: None

    def list_commands(self, ctx: Context) -> list[str]:
        return list(self.table)

    def get_command(self, ctx: Context, cmd_name: str) -> Command | None:
        if cmd_name not in self.commands and cmd_name in self.table:
            one = eager_app({cmd_name: self.table[cmd_name]}, rich_markup_mode=self.rich_markup_mode,
                            suggest_commands=self.suggest_commands, add_completion=False)  # fmt: skip
            command = typer.main.get_group(one).commands[cmd_name]
            self.prepare(command)
            self.commands[cmd_name] = command
        return self.commands.get(cmd_name)

    def summary(self, name: str) -> Command:
        """A command carrying only what the listing shows of `name` (its help, short help, hidden, deprecated),
        read as Typer reads them; nothing built."""
        target = load(self.table[name])
        if isinstance(target, typer.Typer):
            info = typer.main.solve_typer_info_defaults(TyperInfo(target, name=name))
            return TyperCommand(name=name, help=info.help, short_help=info.short_help, hidden=bool(info.hidden),
                                deprecated=info.deprecated)  # fmt: skip
        return TyperCommand(name=name, help=inspect.getdoc(target))

    def format_commands(self, ctx: Context, formatter: HelpFormatter) -> None:
        """The Commands section as TyperGroup writes it, from each entry's summary."""
        shown = [(name, self.summary(name)) for name in self.table]
        rows = [(name, command) for name, command in shown if not command.hidden]
        if not rows:
            return
        limit = formatter.width - 6 - max(len(name) for name, _ in rows)
        with formatter.section("Commands"):
            formatter.write_dl([(name, command.get_short_help_str(limit)) for name, command in rows])

    def resolve_command(self, ctx: Context, args: list[str]) -> tuple[str | None, Command | None, list[str]]:
        """As Typer's, whose "Did you mean" draws on the commands built so far (none, here): on every name."""
        try:
            return super().resolve_command(ctx, args)
        except UsageError as exc:
            if self.suggest_commands and args and "Did you mean" not in exc.message:
                matches = difflib.get_close_matches(args[0], self.list_commands(ctx))
                if matches:
                    exc.message = f"{exc.message.rstrip('.')}. Did you mean {', '.join(repr(m) for m in matches)}?"
            raise
