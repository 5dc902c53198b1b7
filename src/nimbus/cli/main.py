"""The `nimbus` command line: `serve`, `function ...`, `alias ...`, `layer ...`, `mapping ...`, `url ...`, `api ...`,
`role ...`, `user ...`, `whoami`, `deploy`, `stack ...`, `invoke`, `logs`.

Each command's module is imported, and its command built, only when it runs or shows its help (cli/_lazy.py), so
a command pays for what it uses and not for the other forty (docs/performance.md, "The CLI's start-up")."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from nimbus import __version__
from nimbus.cli._entry import NimbusTyper

if TYPE_CHECKING:
    from nimbus.cli._lazy import Entry


def version() -> None:
    """Print the Nimbus version."""
    typer.echo(__version__)


#: every top-level command, then every group, in the order help lists them (Typer's: commands before groups):
#: "module:attribute" under nimbus.cli, a Typer app being a group and a function a command
COMMANDS: dict[str, Entry] = {
    "serve": "_serve:serve",
    "whoami": "_identities:whoami",
    "deploy": "_deploy:deploy",
    "invoke": "_invoke:invoke",
    "logs": "_logs:logs",
    "top": "_top:top",
    "dev": "_dev:dev",
    "doctor": "_doctor:doctor",
    "version": version,
    "function": "_functions:app",
    "alias": "_aliases:app",
    "layer": "_layers:app",
    "mapping": "_mappings:app",
    "queue": "_queues:app",
    "topic": "_topics:app",
    "url": "_urls:app",
    "api": "_apis:app",
    "schedule": "_schedules:app",
    "runtime": "_runtimes:app",
    "events": "_events:app",
    "role": "_identities:role_app",
    "user": "_identities:user_app",
    "stack": "_stacks:app",
}

app = NimbusTyper(
    COMMANDS,
    name="nimbus",
    help="Nimbus: a self-hosted, AWS Lambda-compatible function platform.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,  # click's plain help: it wraps within 80 columns, where rich's panels crowd
    pretty_exceptions_show_locals=False,  # locals may hold credentials
)


if __name__ == "__main__":
    app()
