"""`nimbus function create|update|list|get|delete|config-async`: CreateFunction and friends, as tables or JSON."""

from __future__ import annotations

import json
import sys
import time
import zipfile
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from nimbus.cli._client import (
    DEFAULT_ENDPOINT,
    EndpointOpt,
    RegionOpt,
    api_errors,
    err,
    fail,
    key_values,
    make_client,
    out,
)
from nimbus.cli._versions import publish, versions
from nimbus.deploy.examples import read_config, zip_folder

app = typer.Typer(no_args_is_help=True, help="Create, update, list, inspect and delete functions.")

DEFAULT_ROLE = "arn:aws:iam::000000000000:role/nimbus"
_SETTLE_TIMEOUT_S = 120.0

NameArg = Annotated[str, typer.Argument(help="Function name.")]
CodeOpt = Annotated[
    Path | None,
    typer.Option("--code", help="A folder (zipped in memory) or a .zip file.", show_default=False),
]
RuntimeOpt = Annotated[str | None, typer.Option("--runtime", help="e.g. python3.11.", show_default=False)]
HandlerOpt = Annotated[str | None, typer.Option("--handler", help="module.function.", show_default=False)]
MemoryOpt = Annotated[int | None, typer.Option("--memory", help="MemorySize in MB.", show_default=False)]
TimeoutOpt = Annotated[int | None, typer.Option("--timeout", help="Timeout in seconds.", show_default=False)]
EnvOpt = Annotated[
    list[str] | None,
    typer.Option("--env", "-e", help="KEY=VALUE, repeatable; replaces all variables.", show_default=False),
]
DescriptionOpt = Annotated[str | None, typer.Option("--description", show_default=False)]
LayerOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--layer", help="Layer version ARN, repeatable (at most 5, merged at /opt in order).", show_default=False
    ),
]
MAX_LAYERS = 5


def _code_bytes(code: Path) -> bytes:
    if not code.exists():
        fail(f"--code {code}: no such file or directory", code=2)
    if code.is_dir():
        with err.status(f"zipping {code}"):
            try:
                return zip_folder(code)
            except OSError as exc:
                fail(f"cannot read {code}: {exc}")
    if not zipfile.is_zipfile(code):
        fail(f"{code} is neither a folder nor a .zip file", code=2)
    return code.read_bytes()


def _config_params(
    runtime: str | None,
    handler: str | None,
    memory: int | None,
    timeout: int | None,
    env: list[str] | None,
    description: str | None,
    layers: list[str] | None = None,
) -> dict[str, Any]:
    """The configuration fields the caller set explicitly, in Lambda's field names."""
    params: dict[str, Any] = {
        "Runtime": runtime,
        "Handler": handler,
        "MemorySize": memory,
        "Timeout": timeout,
        "Description": description,
    }
    if env is not None:
        params["Environment"] = {"Variables": key_values(env, "--env")}
    if layers is not None:
        if len(layers) > MAX_LAYERS:
            fail(f"--layer: at most {MAX_LAYERS} layers per function, got {len(layers)}", code=2)
        params["Layers"] = layers
    return {k: v for k, v in params.items() if v is not None}


def _wait_settled(client: Any, name: str) -> dict[str, Any]:
    """Poll until the function is no longer Pending and no update is InProgress (like the AWS CLI waiters)."""
    deadline = time.monotonic() + _SETTLE_TIMEOUT_S
    while True:
        config: dict[str, Any] = client.get_function_configuration(FunctionName=name)
        state, update = config.get("State"), config.get("LastUpdateStatus")
        if state == "Failed" or update == "Failed":
            reason = config.get("StateReason") or config.get("LastUpdateStatusReason") or "no reason given"
            fail(f"function {name} failed: {reason}")
        if state != "Pending" and update != "InProgress":
            return config
        if time.monotonic() > deadline:
            fail(f"function {name} still {state}/{update} after {_SETTLE_TIMEOUT_S:.0f} s")
        time.sleep(0.2)


def _summary(title: str, config: dict[str, Any]) -> None:
    table = Table(title=title, show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column(overflow="fold")
    for key in ("FunctionName", "FunctionArn", "Runtime", "Handler", "MemorySize", "Timeout", "CodeSize",
                "CodeSha256", "State", "LastUpdateStatus"):  # fmt: skip
        if config.get(key) is not None:
            table.add_row(key, str(config[key]))
    out.print(table)


@app.command()
def create(
    name: NameArg,
    code: Annotated[
        Path,
        typer.Option(
            "--code",
            help="A folder (zipped in memory; its nimbus.json gives defaults) or a .zip file.",
        ),
    ],
    runtime: RuntimeOpt = None,
    handler: HandlerOpt = None,
    memory: MemoryOpt = None,
    timeout: TimeoutOpt = None,
    env: EnvOpt = None,
    description: DescriptionOpt = None,
    layer: LayerOpt = None,
    role: Annotated[
        str,
        typer.Option(
            "--role",
            help="Execution role ARN: each instance gets a session of it (make one with `nimbus role create`; the"
            " default names no role, so the function's credentials can only write its logs).",
        ),
    ] = DEFAULT_ROLE,
    endpoint_url: EndpointOpt = DEFAULT_ENDPOINT,
    region: RegionOpt = None,
) -> None:
    """Create a function from a folder or zip; defaults from the folder's nimbus.json, else python3.11."""
    try:
        params: dict[str, Any] = {"Runtime": "python3.11", "Handler": "app.handler"}
        if code.is_dir():
            params.update(read_config(code))
    except ValueError as exc:
        fail(str(exc), code=2)
    params.update(_config_params(runtime, handler, memory, timeout, env, description, layer))
    zip_bytes = _code_bytes(code)
    with api_errors(endpoint_url), err.status(f"creating {name} ({len(zip_bytes):,} bytes of code)"):
        client = make_client("lambda", endpoint_url, region)
        client.create_function(FunctionName=name, Role=role, Code={"ZipFile": zip_bytes}, **params)
        config = _wait_settled(client, name)
    _summary(f"created {name}", config)


@app.command()
def update(
    name: NameArg,
    code: CodeOpt = None,
    runtime: RuntimeOpt = None,
    handler: HandlerOpt = None,
    memory: MemoryOpt = None,
    timeout: TimeoutOpt = None,
    env: EnvOpt = None,
    description: DescriptionOpt = None,
    layer: LayerOpt = None,
    endpoint_url: EndpointOpt = DEFAULT_ENDPOINT,
    region: RegionOpt = None,
) -> None:
    """Update a function's code (--code) and/or the configuration flags given (nimbus.json is not re-read)."""
    params = _config_params(runtime, handler, memory, timeout, env, description, layer)
    if code is None and not params:
        fail("nothing to update: pass --code and/or configuration flags", code=2)
    zip_bytes = _code_bytes(code) if code is not None else None
    with api_errors(endpoint_url), err.status(f"updating {name}"):
        client = make_client("lambda", endpoint_url, region)
        if zip_bytes is not None:
            client.update_function_code(FunctionName=name, ZipFile=zip_bytes)
            _wait_settled(client, name)
        if params:
            client.update_function_configuration(FunctionName=name, **params)
        config = _wait_settled(client, name)
    _summary(f"updated {name}", config)


@app.command("list")
def list_(endpoint_url: EndpointOpt = DEFAULT_ENDPOINT, region: RegionOpt = None) -> None:
    """List all functions (every page of ListFunctions)."""
    with api_errors(endpoint_url):
        client = make_client("lambda", endpoint_url, region)
        functions = [f for page in client.get_paginator("list_functions").paginate() for f in page["Functions"]]
    if not functions:
        out.print("no functions")
        return
    table = Table("Name", "Runtime", "Handler", "Memory", "Timeout", "Code size", "Last modified")
    for f in sorted(functions, key=lambda f: str(f["FunctionName"])):
        table.add_row(
            f["FunctionName"],
            f.get("Runtime", ""),
            f.get("Handler", ""),
            str(f.get("MemorySize", "")),
            str(f.get("Timeout", "")),
            f"{f.get('CodeSize', 0):,}",
            str(f.get("LastModified", ""))[:19].replace("T", " "),
        )
    out.print(table)


@app.command()
def get(name: NameArg, endpoint_url: EndpointOpt = DEFAULT_ENDPOINT, region: RegionOpt = None) -> None:
    """Print GetFunction's answer (configuration, code location, concurrency, tags) as JSON."""
    with api_errors(endpoint_url):
        resp = make_client("lambda", endpoint_url, region).get_function(FunctionName=name)
    resp.pop("ResponseMetadata", None)
    sys.stdout.write(json.dumps(resp, indent=2, default=str) + "\n")


@app.command("config-async")
def config_async(
    name: NameArg,
    retries: Annotated[
        int | None, typer.Option("--retries", help="MaximumRetryAttempts (0-2).", show_default=False)
    ] = None,
    max_age: Annotated[
        int | None, typer.Option("--max-age", help="MaximumEventAgeInSeconds (60-21600).", show_default=False)
    ] = None,
    on_success: Annotated[
        str | None, typer.Option("--on-success", help="Queue or function ARN for successes.", show_default=False)
    ] = None,
    on_failure: Annotated[
        str | None, typer.Option("--on-failure", help="Queue or function ARN for failures.", show_default=False)
    ] = None,
    qualifier: Annotated[
        str | None, typer.Option("--qualifier", "-q", help="Version or alias.", show_default=False)
    ] = None,
    endpoint_url: EndpointOpt = DEFAULT_ENDPOINT,
    region: RegionOpt = None,
) -> None:
    """Set how asynchronous events of a function are retried and where their outcomes go (options given replace
    the stored ones, others are kept); with no option, print the configuration."""
    params: dict[str, Any] = {"FunctionName": name}
    if qualifier:
        params["Qualifier"] = qualifier
    changes: dict[str, Any] = {}
    if retries is not None:
        changes["MaximumRetryAttempts"] = retries
    if max_age is not None:
        changes["MaximumEventAgeInSeconds"] = max_age
    destinations = {key: {"Destination": arn} for key, arn in (("OnSuccess", on_success), ("OnFailure", on_failure))
                    if arn is not None}  # fmt: skip
    if destinations:
        changes["DestinationConfig"] = destinations
    with api_errors(endpoint_url):
        client = make_client("lambda", endpoint_url, region)
        if not changes:
            resp = client.get_function_event_invoke_config(**params)
        else:
            try:
                resp = client.update_function_event_invoke_config(**params, **changes)
            except client.exceptions.ResourceNotFoundException:
                client.get_function(FunctionName=name, **({"Qualifier": qualifier} if qualifier else {}))
                resp = client.put_function_event_invoke_config(**params, **changes)
    resp.pop("ResponseMetadata", None)
    sys.stdout.write(json.dumps(resp, indent=2, default=str) + "\n")


@app.command()
def delete(name: NameArg, endpoint_url: EndpointOpt = DEFAULT_ENDPOINT, region: RegionOpt = None) -> None:
    """Delete a function and all its versions and aliases."""
    with api_errors(endpoint_url):
        make_client("lambda", endpoint_url, region).delete_function(FunctionName=name)
    out.print(f"deleted {name}")


app.command()(publish)  # listed after the commands above, as `nimbus function --help` always has
app.command()(versions)
