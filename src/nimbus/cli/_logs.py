"""`nimbus logs`: read `/aws/lambda/NAME` through the CloudWatch Logs API, optionally following new events."""

from __future__ import annotations

import re
import sys
import time
from datetime import UTC, datetime
from typing import Annotated, Any

import botocore.exceptions as bx
import typer

from nimbus.cli._client import (
    DEFAULT_ENDPOINT,
    EndpointOpt,
    RegionOpt,
    api_errors,
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


def _fetch(client: Any, group: str, start_ms: int) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    params: dict[str, Any] = {"logGroupName": group, "startTime": start_ms}
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


def _print(event: dict[str, Any]) -> None:
    stamp = datetime.fromtimestamp(int(event.get("timestamp", 0)) / 1000, tz=UTC)
    when = stamp.strftime("%Y-%m-%dT%H:%M:%S.") + f"{stamp.microsecond // 1000:03d}Z"
    message = str(event.get("message", "")).rstrip("\n")
    sys.stdout.write(f"{when} {event.get('logStreamName', '-')} {message}\n")


def logs(
    name: Annotated[str, typer.Argument(help="Function name (reads log group /aws/lambda/NAME).")],
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
    endpoint_url: EndpointOpt = DEFAULT_ENDPOINT,
    region: RegionOpt = None,
) -> None:
    """Print a function's log events as `timestamp stream message`."""
    group = f"/aws/lambda/{name}"
    start_ms = int(time.time() * 1000) - parse_since(since)
    seen: dict[str, int] = {}  # eventId -> timestamp, for events at or after the poll's start time
    try:
        with api_errors(endpoint_url):
            versions = _versions_for(name, qualifier, endpoint_url, region) if qualifier else None
            client = make_client("logs", endpoint_url, region)
            while True:
                try:
                    events = _fetch(client, group, start_ms)
                except bx.ClientError as exc:
                    # a function that has never run has no group yet: when following, wait for it
                    if not (follow and error_code(exc) == "ResourceNotFoundException"):
                        raise
                    events = []
                for event in events:
                    event_id = str(event.get("eventId", ""))
                    if event_id in seen:
                        continue
                    if _in_versions(event, versions):
                        _print(event)
                    seen[event_id] = int(event.get("timestamp", 0))
                    start_ms = max(start_ms, seen[event_id])
                sys.stdout.flush()
                if not follow:
                    return
                seen = {k: ts for k, ts in seen.items() if ts >= start_ms}
                time.sleep(_POLL_S)
    except KeyboardInterrupt:
        sys.stdout.flush()
