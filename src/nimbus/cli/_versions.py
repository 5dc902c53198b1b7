"""`nimbus function publish|versions`: PublishVersion and ListVersionsByFunction."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table

from nimbus.cli._client import DEFAULT_ENDPOINT, EndpointOpt, RegionOpt, api_errors, err, make_client, out


def when(stamp: Any) -> str:
    """Lambda's `2024-01-02T03:04:05.000+0000` (or a datetime) as `2024-01-02 03:04:05`."""
    return str(stamp or "")[:19].replace("T", " ")


def publish(
    name: Annotated[str, typer.Argument(help="Function name or ARN.")],
    description: Annotated[str | None, typer.Option("--description", help="The version's description.")] = None,
    endpoint_url: EndpointOpt = DEFAULT_ENDPOINT,
    region: RegionOpt = None,
) -> None:
    """Publish an immutable version of $LATEST's code and configuration; prints its number and ARN."""
    params: dict[str, Any] = {"FunctionName": name}
    if description is not None:
        params["Description"] = description
    with api_errors(endpoint_url), err.status(f"publishing {name}"):
        resp = make_client("lambda", endpoint_url, region).publish_version(**params)
    out.print(f"published {resp.get('FunctionName', name)} version {resp['Version']}")
    out.print(resp.get("FunctionArn", ""), soft_wrap=True)


def versions(
    name: Annotated[str, typer.Argument(help="Function name or ARN.")],
    endpoint_url: EndpointOpt = DEFAULT_ENDPOINT,
    region: RegionOpt = None,
) -> None:
    """List a function's versions ($LATEST and every published one; all pages of ListVersionsByFunction)."""
    with api_errors(endpoint_url):
        client = make_client("lambda", endpoint_url, region)
        pages = client.get_paginator("list_versions_by_function").paginate(FunctionName=name)
        found = [v for page in pages for v in page.get("Versions", [])]
    table = Table("Version", "Description", "Runtime", "Code size", "CodeSha256", "Last modified", "ARN")
    for v in found:
        table.add_row(
            str(v.get("Version", "")),
            str(v.get("Description") or ""),
            str(v.get("Runtime") or ""),
            f"{v.get('CodeSize', 0):,}",
            str(v.get("CodeSha256") or ""),
            when(v.get("LastModified")),
            str(v.get("FunctionArn") or ""),
        )
    out.print(table)
