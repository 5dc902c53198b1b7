"""The `nimbus` command line: `serve`, `function ...`, `invoke`, `logs`."""

from __future__ import annotations

import typer

from nimbus import __version__
from nimbus.cli import _functions, _invoke, _logs, _serve

app = typer.Typer(
    name="nimbus",
    help="Nimbus: a self-hosted, AWS Lambda-compatible function platform.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,  # locals may hold credentials
)
app.command()(_serve.serve)
app.add_typer(_functions.app, name="function")
app.command()(_invoke.invoke)
app.command()(_logs.logs)


@app.command()
def version() -> None:
    """Print the Nimbus version."""
    typer.echo(__version__)


if __name__ == "__main__":
    app()
