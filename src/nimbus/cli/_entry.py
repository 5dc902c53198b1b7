"""The `nimbus` command's entry point: help that names what each option takes, and no traceback for a person.

Help is click's plain layout (it wraps to the terminal and never past 80 columns), with a placeholder after every
option that takes a value (`--memory MB`, `--endpoint-url URL`) and nothing after a flag, instead of the type
metavars (`<str>`, `<list[str]>`) Typer prints by default. Placeholders come from one table here, so every
command, including ones added later, reads the same way; an option can still set its own `metavar`.

Commands turn the errors they expect into one `error:` line themselves (`_client.fail`, `_client.api_errors`).
Anything that still escapes is a bug or an unforeseen environment: it is printed as one line too, with the hint
that `NIMBUS_DEBUG=1` shows the traceback.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from typing import Any

import typer
from rich.text import Text

from nimbus.cli._client import err
from nimbus.cli._lazy import Entry, LazyGroup, eager_app

#: the placeholder of an option by its long name, when it does not set one itself
PLACEHOLDERS = {
    "--code": "PATH", "--data-dir": "DIR", "--deploy": "DIR", "--ready-file": "PATH",
    "--memory": "MB", "--timeout": "SECONDS", "--window": "SECONDS", "--wait": "SECONDS", "--delay": "SECONDS",
    "--visibility": "SECONDS", "--max-age": "SECONDS", "--cors-max-age": "SECONDS", "--keep-alive": "SECONDS",
    "--since": "DURATION", "--env": "KEY=VALUE", "--attribute": "KEY=VALUE", "--weight": "VERSION=WEIGHT",
    "--layer": "ARN", "--role": "ARN", "--on-success": "ARN", "--on-failure": "ARN", "--dead-letter": "QUEUE",
    "--payload": "PAYLOAD", "--filter": "JSON", "--description": "TEXT", "--license": "TEXT",
    "--function": "FUNCTION", "--queue": "QUEUE", "--qualifier": "QUALIFIER", "--version": "VERSION",
    "--runtime": "RUNTIME", "--handler": "HANDLER", "--architecture": "ARCH", "--host": "HOST", "--port": "PORT",
    "--region": "REGION", "--endpoint-url": "URL", "--prefix": "PREFIX", "--auth": "TYPE",
    "--cors-origin": "ORIGIN", "--cors-method": "METHOD", "--cors-header": "HEADER",
    "--cors-expose-header": "HEADER", "--access-key-id": "KEY", "--secret-access-key": "SECRET",
    "--account-id": "ACCOUNT", "--log-function-bytes-per-s": "BYTES", "--async-retry-delays": "SECONDS,...",
    "--async-visibility": "SECONDS", "--log-level": "LEVEL", "--limits-mechanism": "MECHANISM",
}  # fmt: skip
#: the placeholder by the last word of an option's name, for the rest (`--max-buffered-mb MB`)
UNITS = {"mb": "MB", "bytes": "BYTES", "days": "DAYS", "timeout": "SECONDS", "delay": "SECONDS",
         "interval": "SECONDS", "s": "SECONDS", "port": "PORT", "host": "HOST", "token": "TOKEN", "file": "PATH",
         "dir": "DIR", "size": "N", "limit": "N", "count": "N", "max": "N", "retries": "N", "receives": "N",
         "connections": "N", "instances": "N", "concurrency": "N"}  # fmt: skip


def placeholder(option: str, name: str) -> str:
    """What a person writes after `option` (its long name; `name` is its parameter name)."""
    if option in PLACEHOLDERS:
        return PLACEHOLDERS[option]
    last = option.rsplit("-", 1)[-1]
    return UNITS.get(last) or last.upper()


def _no_type(ctx: Any) -> None:
    return None


def add_placeholders(command: Any) -> None:
    """Give every value option (and argument) of `command` and its sub-commands a placeholder metavar, and write
    a default given as text as the others are written."""
    for param in command.params:
        if isinstance(getattr(param, "show_default", None), str):  # Typer shows it as "[default: (9001)]"
            param.help = f"{param.help or ''}  [default: {param.show_default}]".strip()
            param.show_default = False
        if getattr(param, "metavar", None) is not None or not param.name:
            continue
        if param.param_type_name == "argument":
            param.metavar = param.name.upper()
            setattr(param, "display_type_rich", _no_type)  # noqa: B010 (Typer lists `NAME <str>` otherwise)
        elif not (param.is_flag or param.count):
            longs = [o for o in param.opts if o.startswith("--")]
            param.metavar = placeholder(longs[0] if longs else param.opts[0], param.name)
    for sub in getattr(command, "commands", {}).values():
        add_placeholders(sub)


def describe(exc: BaseException) -> str:
    """One line for an error no command expected."""
    if isinstance(exc, OSError) and exc.strerror:
        where = f": {exc.filename}" if exc.filename else ""
        return f"{exc.strerror}{where}"
    bx = sys.modules.get("botocore.exceptions")  # not loaded: no command called the server, no botocore error
    if bx is not None and isinstance(exc, bx.EndpointConnectionError | bx.ConnectTimeoutError):
        return f"cannot reach Nimbus ({exc}): is 'nimbus serve' running?"
    if bx is not None and isinstance(exc, bx.ClientError):
        error = exc.response.get("Error", {})
        return f"{error.get('Code') or 'Error'}: {error.get('Message') or exc}"
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class NimbusTyper(typer.Typer):
    """A Typer app whose commands (`table`) are built only when used (cli/_lazy.py), whose help shows placeholders
    and whose unexpected errors are one line, not a traceback."""

    def __init__(self, table: Mapping[str, Entry], **settings: Any) -> None:
        super().__init__(cls=LazyGroup, **settings)
        self.table, self.settings = dict(table), settings

    def click_group(self) -> LazyGroup:
        """The click group `nimbus` runs: a command is built when it is looked up."""
        group = typer.main.get_group(self)
        assert isinstance(group, LazyGroup)
        group.table, group.prepare = self.table, add_placeholders
        add_placeholders(group)
        return group

    def eager(self) -> typer.Typer:
        """The same app with every command added up front, as Typer builds it (what the lazy group stands for)."""
        return eager_app(self.table, **self.settings)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        command = self.click_group()
        try:
            return command(*args, **kwargs)
        except Exception as exc:
            if os.environ.get("NIMBUS_DEBUG", "") not in ("", "0"):
                raise
            err.print(Text(f"error: {describe(exc)} (NIMBUS_DEBUG=1 shows the traceback)", style="red"))
            sys.exit(1)
