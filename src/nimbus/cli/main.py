"""The `nimbus` command line: `serve`, `function ...`, `alias ...`, `layer ...`, `mapping ...`, `url ...`, `api ...`,
`role ...`, `user ...`, `whoami`, `deploy`, `stack ...`, `invoke`, `logs`."""

from __future__ import annotations

import typer

from nimbus import __version__
from nimbus.cli import (
    _aliases,
    _apis,
    _deploy,
    _dev,
    _events,
    _functions,
    _identities,
    _invoke,
    _layers,
    _logs,
    _mappings,
    _queues,
    _runtimes,
    _schedules,
    _serve,
    _stacks,
    _top,
    _topics,
    _urls,
    _versions,
)
from nimbus.cli._doctor import doctor
from nimbus.cli._entry import NimbusTyper

app = NimbusTyper(
    name="nimbus",
    help="Nimbus: a self-hosted, AWS Lambda-compatible function platform.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,  # click's plain help: it wraps within 80 columns, where rich's panels crowd
    pretty_exceptions_show_locals=False,  # locals may hold credentials
)
app.command()(_serve.serve)
_functions.app.command()(_versions.publish)
_functions.app.command()(_versions.versions)
app.add_typer(_functions.app, name="function")
app.add_typer(_aliases.app, name="alias")
app.add_typer(_layers.app, name="layer")
app.add_typer(_mappings.app, name="mapping")
app.add_typer(_queues.app, name="queue")
app.add_typer(_topics.app, name="topic")
app.add_typer(_urls.app, name="url")
app.add_typer(_apis.app, name="api")
app.add_typer(_schedules.app, name="schedule")
app.add_typer(_runtimes.app, name="runtime")
app.add_typer(_events.app, name="events")
app.add_typer(_identities.role_app, name="role")
app.add_typer(_identities.user_app, name="user")
app.command()(_identities.whoami)
app.add_typer(_stacks.app, name="stack")
app.command()(_deploy.deploy)
app.command()(_invoke.invoke)
app.command()(_logs.logs)
app.command()(_top.top)
app.command()(_dev.dev)
app.command()(doctor)


@app.command()
def version() -> None:
    """Print the Nimbus version."""
    typer.echo(__version__)


if __name__ == "__main__":
    app()
