"""`nimbus layer publish|list|versions|delete`: Lambda layers (shared code unpacked at /opt)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from nimbus.cli._client import DEFAULT_ENDPOINT, EndpointOpt, RegionOpt, api_errors, err, make_client, out
from nimbus.cli._functions import _code_bytes as code_bytes
from nimbus.cli._versions import when

app = typer.Typer(no_args_is_help=True, help="Publish, list and delete layer versions.")

LayerArg = Annotated[str, typer.Argument(help="Layer name or ARN.")]
RuntimeFilterOpt = Annotated[
    str | None, typer.Option("--runtime", help="Only layers compatible with this runtime.", show_default=False)
]


@app.command()
def publish(
    layer: Annotated[str, typer.Argument(help="Layer name.")],
    code: Annotated[Path, typer.Option("--code", help="A folder (zipped in memory) or a .zip file; unpacked at /opt.")],
    runtime: Annotated[
        list[str] | None,
        typer.Option("--runtime", help="A compatible runtime, e.g. python3.11; repeatable.", show_default=False),
    ] = None,
    architecture: Annotated[
        list[str] | None,
        typer.Option(
            "--architecture", help="A compatible architecture (x86_64, arm64); repeatable.", show_default=False
        ),
    ] = None,
    description: Annotated[str | None, typer.Option("--description", show_default=False)] = None,
    license_info: Annotated[
        str | None, typer.Option("--license", help="License text, SPDX id or URL.", show_default=False)
    ] = None,
    endpoint_url: EndpointOpt = DEFAULT_ENDPOINT,
    region: RegionOpt = None,
) -> None:
    """Publish a new version of a layer from a folder or zip; prints its version and ARN."""
    zip_bytes = code_bytes(code)
    params: dict[str, Any] = {"LayerName": layer, "Content": {"ZipFile": zip_bytes}}
    if runtime:
        params["CompatibleRuntimes"] = runtime
    if architecture:
        params["CompatibleArchitectures"] = architecture
    if description is not None:
        params["Description"] = description
    if license_info is not None:
        params["LicenseInfo"] = license_info
    with api_errors(endpoint_url), err.status(f"publishing layer {layer} ({len(zip_bytes):,} bytes)"):
        resp = make_client("lambda", endpoint_url, region).publish_layer_version(**params)
    content = resp.get("Content") or {}
    out.print(
        f"published layer {layer} version {resp.get('Version')} ({content.get('CodeSize', len(zip_bytes)):,} bytes)"
    )
    out.print(str(resp.get("LayerVersionArn", "")), soft_wrap=True)


def _runtimes(version: dict[str, Any]) -> str:
    return ", ".join(version.get("CompatibleRuntimes") or [])


@app.command("list")
def list_(
    runtime: RuntimeFilterOpt = None, endpoint_url: EndpointOpt = DEFAULT_ENDPOINT, region: RegionOpt = None
) -> None:
    """List layers with their latest version (every page of ListLayers)."""
    params: dict[str, Any] = {"CompatibleRuntime": runtime} if runtime else {}
    with api_errors(endpoint_url):
        client = make_client("lambda", endpoint_url, region)
        layers = [
            la for page in client.get_paginator("list_layers").paginate(**params) for la in page.get("Layers", [])
        ]
    if not layers:
        out.print("no layers")
        return
    table = Table("Layer", "Latest", "Runtimes", "Description", "Created", "Latest version ARN")
    for la in sorted(layers, key=lambda la: str(la.get("LayerName", ""))):
        latest = la.get("LatestMatchingVersion") or {}
        table.add_row(
            str(la.get("LayerName", "")),
            str(latest.get("Version", "")),
            _runtimes(latest),
            str(latest.get("Description") or ""),
            when(latest.get("CreatedDate")),
            str(latest.get("LayerVersionArn") or ""),
        )
    out.print(table)


@app.command()
def versions(
    layer: LayerArg,
    runtime: RuntimeFilterOpt = None,
    endpoint_url: EndpointOpt = DEFAULT_ENDPOINT,
    region: RegionOpt = None,
) -> None:
    """List a layer's versions, newest first (every page of ListLayerVersions)."""
    params: dict[str, Any] = {"LayerName": layer}
    if runtime:
        params["CompatibleRuntime"] = runtime
    with api_errors(endpoint_url):
        client = make_client("lambda", endpoint_url, region)
        pages = client.get_paginator("list_layer_versions").paginate(**params)
        found = [v for page in pages for v in page.get("LayerVersions", [])]
    if not found:
        out.print(f"no versions of layer {layer}")
        return
    table = Table("Version", "Runtimes", "Description", "License", "Created", "ARN")
    for v in found:
        table.add_row(
            str(v.get("Version", "")),
            _runtimes(v),
            str(v.get("Description") or ""),
            str(v.get("LicenseInfo") or ""),
            when(v.get("CreatedDate")),
            str(v.get("LayerVersionArn") or ""),
        )
    out.print(table)


@app.command()
def delete(
    layer: LayerArg,
    version: Annotated[int, typer.Argument(help="Version number.")],
    endpoint_url: EndpointOpt = DEFAULT_ENDPOINT,
    region: RegionOpt = None,
) -> None:
    """Delete one layer version (functions already using it keep working)."""
    with api_errors(endpoint_url):
        make_client("lambda", endpoint_url, region).delete_layer_version(LayerName=layer, VersionNumber=version)
    out.print(f"deleted layer {layer} version {version}")
