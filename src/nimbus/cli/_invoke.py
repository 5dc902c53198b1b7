"""`nimbus invoke`: one synchronous Invoke (the payload to stdout, function errors and tail logs to stderr), or with
`--async` one Event invoke (its request id to stdout once the event is durably queued)."""

from __future__ import annotations

import base64
import binascii
import json
import sys
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

import typer
from rich.text import Text

from nimbus.cli._client import (
    DEFAULT_ENDPOINT,
    EndpointOpt,
    RegionOpt,
    api_errors,
    err,
    fail,
    make_client,
    nimbus_get,
)


def read_payload(spec: str) -> bytes:
    """`-` reads stdin, `@path` reads a file, anything else is the payload itself."""
    if spec == "-":
        return sys.stdin.buffer.read()
    if spec.startswith("@"):
        try:
            return Path(spec[1:]).expanduser().read_bytes()
        except OSError as exc:
            fail(f"cannot read payload file {spec[1:]}: {exc.strerror or exc}", code=2)
    return spec.encode()


def _pretty(body: bytes) -> str:
    try:
        return json.dumps(json.loads(body), indent=2, ensure_ascii=False)
    except (ValueError, UnicodeDecodeError):
        return body.decode(errors="replace")


def _report_function_error(kind: str, body: bytes) -> None:
    try:
        error: Any = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        error = None
    if not isinstance(error, dict):
        err.print(Text(f"error: function error ({kind}): {body.decode(errors='replace')}", style="red"))
        return
    err_type, message = error.get("errorType", "Error"), error.get("errorMessage", "")
    err.print(Text(f"error: function error ({kind}): {err_type}: {message}", style="red"))
    trace = error.get("stackTrace")
    if isinstance(trace, list):
        for frame in trace:
            err.print(Text(str(frame).rstrip("\n"), style="dim"))


def invoke(
    name: Annotated[str, typer.Argument(help="Function name, ARN or name:qualifier.")],
    payload: Annotated[str, typer.Option("--payload", "-p", help="JSON text, @file, or - for stdin.")] = "{}",
    log: Annotated[bool, typer.Option("--log", help="Print the last 4 KB of the function's log to stderr.")] = False,
    qualifier: Annotated[
        str | None, typer.Option("--qualifier", "-q", help="Version or alias to invoke.", show_default=False)
    ] = None,
    async_: Annotated[
        bool, typer.Option("--async", help="Queue the event (InvocationType Event) and print its request id.")
    ] = False,
    event: Annotated[
        Path | None, typer.Option("--event", help="Read the payload from this JSON file.", show_default=False)
    ] = None,
    event_name: Annotated[
        str | None,
        typer.Option("--event-name", help="Use this saved test event of the function (the console's Test tab).",
                     show_default=False),
    ] = None,
    endpoint_url: EndpointOpt = DEFAULT_ENDPOINT,
    region: RegionOpt = None,
) -> None:
    """Invoke a function synchronously and print its response payload (exit 1 if the function failed); with --async,
    queue the event and print its request id."""
    given = [flag for flag, value in (("--payload", payload != "{}"), ("--event", event), ("--event-name", event_name))
             if value]  # fmt: skip
    if len(given) > 1:
        fail(f"{' and '.join(given)} both name the payload: give one", code=2)
    if event is not None:
        body = read_payload(f"@{event}")
    elif event_name is not None:
        function = name.partition(":")[0]
        saved = nimbus_get(endpoint_url, region, f"/_nimbus/functions/{quote(function, safe='')}/test-events/"
                                                 f"{quote(event_name, safe='')}")  # fmt: skip
        body = str(saved["Payload"]).encode()
    else:
        body = read_payload(payload)
    params: dict[str, Any] = {"FunctionName": name, "Payload": body}
    if async_:
        if log:
            fail("--log needs a synchronous invoke: an --async event runs later (see `nimbus logs`)", code=2)
        params["InvocationType"] = "Event"
    if log:
        params["LogType"] = "Tail"
    if qualifier:
        params["Qualifier"] = qualifier
    with api_errors(endpoint_url):
        resp = make_client("lambda", endpoint_url, region).invoke(**params)
        result: bytes = resp["Payload"].read()
    if async_:
        request_id = resp["ResponseMetadata"].get("RequestId", "")
        sys.stdout.write(json.dumps({"StatusCode": resp["StatusCode"], "RequestId": request_id}) + "\n")
        return
    if log and resp.get("LogResult"):
        try:
            tail = base64.b64decode(resp["LogResult"]).decode(errors="replace")
        except binascii.Error:
            tail = f"(undecodable LogResult: {resp['LogResult']!r})"
        sys.stderr.write(tail if tail.endswith("\n") else tail + "\n")
        sys.stderr.flush()
    if resp.get("FunctionError"):
        _report_function_error(resp["FunctionError"], result)
        raise typer.Exit(1)
    sys.stdout.write(_pretty(result) + "\n")
