"""`nimbus deploy`: a SAM (or CloudFormation) template in the current folder turned into a running stack, the way
`sam deploy` does it: package, transform, show the changes, apply (on the server), follow the events, print the
Outputs. Nothing changed: says so and touches nothing."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from nimbus.cli._client import DEFAULT_ENDPOINT, EndpointOpt, RegionOpt, fail, out
from nimbus.cli._stacks import StackClient, follow, print_outputs


def deploy(
    overrides_rest: Annotated[
        list[str] | None, typer.Argument(help="More KEY=VALUE overrides.", hidden=True, metavar="KEY=VALUE")
    ] = None,
    template_file: Annotated[
        Path | None, typer.Option("--template-file", "-t", help="Template (default: template.yaml here).")
    ] = None,
    stack_name: Annotated[str | None, typer.Option("--stack-name", help="Stack name (default: samconfig's).")] = None,
    parameter_overrides: Annotated[
        list[str] | None,
        typer.Option("--parameter-overrides", help="KEY=VALUE (repeatable, or several after it).", metavar="KEY=VALUE"),
    ] = None,
    no_confirm: Annotated[bool, typer.Option("--no-confirm", help="Apply without asking.")] = False,
    skip_unsupported: Annotated[
        bool, typer.Option("--skip-unsupported", help="Deploy the rest when some resource types are unsupported.")
    ] = False,
    endpoint_url: EndpointOpt = DEFAULT_ENDPOINT,
    region: RegionOpt = None,
) -> None:
    """Deploy a SAM or CloudFormation template as a stack: only what changed is applied; a failure rolls back."""
    # here, not at the top: the packager and the YAML loader are only for deploys, not every command's start-up
    from nimbus.deploy.package import Refused, find_template, package, read_samconfig, split_overrides, transformed
    from nimbus.deploy.template import TEMPLATE_MAX, dumps

    folder = Path.cwd()
    try:
        config = read_samconfig(folder)
        path = find_template(folder, template_file, config)
        name = stack_name or config.stack_name
        if not name:
            fail("--stack-name is required (or stack_name in samconfig.toml)", code=2)
        extra = list(overrides_rest or [])
        if extra and parameter_overrides is None:
            fail(f"unexpected argument {extra[0]!r} (parameter overrides follow --parameter-overrides)", code=2)
        given = config.parameter_overrides | split_overrides([*(parameter_overrides or []), *extra])
        client = StackClient(endpoint_url, region)
        packaged = package(path, given, skip_unsupported)
        question = {"SourceHash": packaged.source, "Parameters": given, "DryRun": True}
        asked = client.post_json(f"/_nimbus/stacks/{name}", question)
        if asked.get("NoChanges"):  # the same files and parameters as the last deploy: no transform needed
            _up_to_date(client, name)
            return
        packaged = transformed(packaged, client.region, given)
    except Refused as exc:
        fail(exc.message)
    text = dumps(packaged.template)
    if len(text) > TEMPLATE_MAX:
        fail(f"the transformed template is {len(text)} bytes, more than {TEMPLATE_MAX}")
    for digest, data in packaged.zips.items():  # each zip once: the server keeps them by hash
        if client.call("GET", f"/_nimbus/stack-code/{digest}", missing_ok=True) is None:
            client.call("PUT", f"/_nimbus/stack-code/{digest}", data)
    body = {"Template": packaged.template, "Parameters": given, "SkipUnsupported": skip_unsupported,
            "SourceHash": packaged.source}  # fmt: skip
    preview = client.post_json(f"/_nimbus/stacks/{name}", body | {"DryRun": True})
    if preview.get("NoChanges"):
        _up_to_date(client, name)
        return
    _summary(name, preview)
    if not no_confirm and sys.stdin.isatty() and not typer.confirm("Deploy this changeset?", default=False):
        out.print("Nothing deployed.")
        return
    last = client.call("GET", f"/_nimbus/stacks/{name}/events", missing_ok=True)
    started = client.post_json(f"/_nimbus/stacks/{name}", body)
    if started.get("NoChanges"):
        _up_to_date(client, name)
        return
    status = follow(client, name, last["Next"] if last else 0)
    stack = client.get_json(f"/_nimbus/stacks/{name}")
    if status not in ("CREATE_COMPLETE", "UPDATE_COMPLETE"):
        fail(f"stack {name} is {status}: {stack['StackStatusReason']}")
    print_outputs(stack)
    out.print(f"Successfully created/updated stack - {name} in {client.region}")


def _up_to_date(client: StackClient, name: str) -> None:
    """As `sam deploy` says it; with the stack's Outputs, which are what one deploys again for (its URLs)."""
    out.print(f"No changes to deploy. Stack {name} is up to date")
    print_outputs(client.get_json(f"/_nimbus/stacks/{name}"))


def _summary(name: str, preview: dict[str, Any]) -> None:
    changes = preview.get("Changes") or []
    table = Table("Operation", "LogicalResourceId", "ResourceType", "Details",
                  title=f"Changes to stack {name}", title_justify="left")  # fmt: skip
    style = {"Create": "green", "Update": "yellow", "Replace": "magenta", "Delete": "red", "Skip": "dim"}
    for change in changes if isinstance(changes, list) else []:
        action = change["Action"]
        table.add_row(f"[{style.get(action, '')}]{action}[/]", change["LogicalResourceId"], change["ResourceType"],
                      change.get("Details", ""))  # fmt: skip
    out.print(table)
    skipped = preview.get("Skipped") or []
    if skipped:
        out.print(f"Not deployed (unsupported types, --skip-unsupported; their Ref is their logical id): "
                  f"{', '.join(str(s) for s in skipped)}")  # fmt: skip
