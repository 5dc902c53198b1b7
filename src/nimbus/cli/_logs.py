"""`nimbus logs`: read `/aws/lambda/NAME` through the CloudWatch Logs API, optionally following new events."""

from __future__ import annotations

import os
import re
import sys
import time
from datetime import UTC, datetime
from typing import Annotated, Any

import typer
from rich.text import Text

from nimbus.cli._client import (
    DEFAULT_ENDPOINT,
    EndpointOpt,
    RegionOpt,
    api_errors,
    err,
    error_code,
    fail,
    make_client,
)

_UNITS_MS = {"s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}
_POLL_S = 1.0


def parse_since(text: str) -> int:
    """`10m`, `1h`, `2d` (also s and w) as milliseconds."""
    match = re.fullmatch(r"\s*(\d+)\s*([smhdw])\s*", text)
    if not match:
        fail(f"--since expects a number and a unit (s, m, h, d, w), e.g. 10m; got {text!r}", code=2)
    return int(match.group(1)) * _UNITS_MS[match.group(2)]


def _fetch(client: Any, group: str, start_ms: int, pattern: str | None) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    params: dict[str, Any] = {"logGroupName": group, "startTime": start_ms}
    if pattern:
        params["filterPattern"] = pattern
    while True:
        resp = client.filter_log_events(**params)
        events.extend(resp.get("events", []))
        token = resp.get("nextToken")
        if not token or token == params.get("nextToken"):
            break
        params["nextToken"] = token
    events.sort(key=lambda e: int(e.get("timestamp", 0)))
    return events


def _versions_for(name: str, qualifier: str, endpoint_url: str, region: str | None) -> set[str]:
    """The versions whose streams a qualifier covers: itself, or an alias's version plus its weighted one."""
    if qualifier == "$LATEST" or re.fullmatch(r"[0-9]+", qualifier):
        return {qualifier}
    alias = make_client("lambda", endpoint_url, region).get_alias(FunctionName=name, Name=qualifier)
    weights = (alias.get("RoutingConfig") or {}).get("AdditionalVersionWeights") or {}
    return {str(alias["FunctionVersion"]), *map(str, weights)}


def _in_versions(event: dict[str, Any], versions: set[str] | None) -> bool:
    """Streams are `YYYY/MM/DD/[<version>]<id>`: keep events from the wanted versions' streams."""
    if versions is None:
        return True
    stream = str(event.get("logStreamName", ""))
    return any(f"[{version}]" in stream for version in versions)


#: ANSI foreground colours for instance tags, in order of each stream's first line
_COLOURS = ("36", "33", "35", "32", "34", "91", "96", "93", "95", "92")


def use_colour() -> bool:
    """Colour only for a person: off under NO_COLOR (no-color.org), on under FORCE_COLOR, else only on a TTY."""
    if os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("FORCE_COLOR"):
        return True
    return sys.stdout.isatty() and os.environ.get("TERM") != "dumb"


def instance_tag(stream: str) -> str:
    """A stream `YYYY/MM/DD/[<version>]<32-hex instance id>` as the id's last 8 characters, prefixed by the
    version unless it is $LATEST (`[3]1f0c9a2e`): enough to tell the instances of one run apart."""
    version, sep, instance = stream.rpartition("]")
    if not sep:
        return stream[-8:] or "-"
    version = version.rpartition("[")[2]
    return instance[-8:] if version == "$LATEST" else f"[{version}]{instance[-8:]}"


class Printer:
    """Prints events as `timestamp tag message`, the tag (or, `verbose`, the full stream name) coloured per
    stream when `colour`."""

    def __init__(self, *, verbose: bool, colour: bool) -> None:
        self.verbose, self.colour = verbose, colour
        self._styles: dict[str, str] = {}

    def label(self, stream: str) -> str:
        text = stream if self.verbose else instance_tag(stream)
        if not self.colour:
            return text
        style = self._styles.setdefault(stream, _COLOURS[len(self._styles) % len(_COLOURS)])
        return f"\x1b[{style}m{text}\x1b[0m"

    def print(self, event: dict[str, Any]) -> None:
        stamp = datetime.fromtimestamp(int(event.get("timestamp", 0)) / 1000, tz=UTC)
        when = stamp.strftime("%Y-%m-%dT%H:%M:%S.") + f"{stamp.microsecond // 1000:03d}Z"
        message = str(event.get("message", "")).rstrip("\n")
        sys.stdout.write(f"{when} {self.label(str(event.get('logStreamName', '-')))} {message}\n")


def _log_group(lam: Any, name: str) -> str | None:
    """The function's log group (its LoggingConfig.LogGroup, else /aws/lambda/NAME); None: no such function."""
    import botocore.exceptions as bx

    try:
        config = lam.get_function_configuration(FunctionName=name)
    except bx.ClientError as exc:
        if error_code(exc) == "ResourceNotFoundException":
            return None
        raise
    group = (config.get("LoggingConfig") or {}).get("LogGroup")
    return str(group) if group else f"/aws/lambda/{name}"


def logs(
    name: Annotated[str, typer.Argument(help="Function name (reads its log group, /aws/lambda/NAME by default).")],
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Keep polling for new events until Ctrl-C.")] = False,
    since: Annotated[str, typer.Option("--since", help="How far back to start: 30s, 10m, 1h, 2d.")] = "10m",
    qualifier: Annotated[
        str | None,
        typer.Option(
            "--qualifier",
            "-q",
            help="Only this version's streams ($LATEST, 3, or an alias: its version and weighted version).",
            show_default=False,
        ),
    ] = None,
    filter_pattern: Annotated[
        str | None,
        typer.Option(
            "--filter-pattern",
            metavar="PATTERN",
            help="Only events matching a CloudWatch Logs filter pattern: ERROR, '?ERROR ?WARN', "
            "'{ $.level = \"ERROR\" }', '[ip, user, ..., status = 5*]'.",
            show_default=False,
        ),
    ] = None,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Show each event's full log stream name, not its instance tag.")
    ] = False,
    endpoint_url: EndpointOpt = DEFAULT_ENDPOINT,
    region: RegionOpt = None,
) -> None:
    """Print a function's log events as `timestamp instance message`: the instance is the last 8 characters of
    its log stream's id, coloured per stream on a terminal (NO_COLOR turns colour off)."""
    import botocore.exceptions as bx

    start_ms = int(time.time() * 1000) - parse_since(since)
    printer = Printer(verbose=verbose, colour=use_colour())
    seen: dict[str, int] = {}  # eventId -> timestamp, for events at or after the poll's start time
    waiting = False
    try:
        with api_errors(endpoint_url):
            group = _log_group(make_client("lambda", endpoint_url, region), name)
            exists = group is not None
            group = group or f"/aws/lambda/{name}"  # a deleted function's logs stay readable
            versions = _versions_for(name, qualifier, endpoint_url, region) if qualifier and exists else None
            client = make_client("logs", endpoint_url, region)
            while True:
                try:
                    events = _fetch(client, group, start_ms, filter_pattern)
                except bx.ClientError as exc:
                    if error_code(exc) != "ResourceNotFoundException":
                        raise
                    if not exists:
                        fail(f"ResourceNotFoundException: function {name!r} does not exist; "
                             "'nimbus function list' shows the functions there are")  # fmt: skip
                    if not follow:  # it exists and has never logged: nothing to show is no error
                        err.print(Text(f"no logs yet: {name} has not run; 'nimbus invoke {name}' runs it", "dim"))
                        return
                    events = []
                if follow and not events and not seen and not waiting:
                    waiting = True
                    err.print(Text(f"waiting for logs of {name} (Ctrl-C to stop)...", "dim"))
                for event in events:
                    event_id = str(event.get("eventId", ""))
                    if event_id in seen:
                        continue
                    if _in_versions(event, versions):
                        printer.print(event)
                    seen[event_id] = int(event.get("timestamp", 0))
                    start_ms = max(start_ms, seen[event_id])
                sys.stdout.flush()
                if not follow:
                    return
                seen = {k: ts for k, ts in seen.items() if ts >= start_ms}
                time.sleep(_POLL_S)
    except KeyboardInterrupt:
        sys.stdout.flush()
