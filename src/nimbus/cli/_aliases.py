"""`nimbus alias create|update|list|delete`: Lambda aliases, with weighted routing between two versions."""

from __future__ import annotations

import math
import re
from typing import Annotated, Any

import typer
from rich.table import Table

from nimbus.cli._client import DEFAULT_ENDPOINT, EndpointOpt, RegionOpt, api_errors, fail, make_client, out

app = typer.Typer(no_args_is_help=True, help="Create, update, list and delete aliases (named pointers to versions).")

NameArg = Annotated[str, typer.Argument(help="Function name or ARN.")]
AliasArg = Annotated[str, typer.Argument(help="Alias name.")]
DescriptionOpt = Annotated[str | None, typer.Option("--description", show_default=False)]
WeightOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--weight",
        help="VERSION=WEIGHT: send that fraction (0 to 1) of the alias's traffic to another version; repeatable.",
        show_default=False,
    ),
]


def parse_weights(pairs: list[str]) -> dict[str, float]:
    """`2=0.1` pairs as RoutingConfig.AdditionalVersionWeights; one `error:` line (exit 2) for anything else."""
    weights: dict[str, float] = {}
    for pair in pairs:
        version, sep, raw = pair.partition("=")
        version, raw = version.strip(), raw.strip()
        try:
            weight = float(raw)
        except ValueError:
            weight = math.nan
        if not sep or not re.fullmatch(r"[0-9]+", version) or not (0.0 <= weight <= 1.0):
            fail(f"--weight expects VERSION=WEIGHT (a version number and a weight from 0 to 1), got {pair!r}", 2)
        if version in weights:
            fail(f"--weight given twice for version {version}", code=2)
        weights[version] = weight
    return weights


def _weights_text(alias: dict[str, Any]) -> str:
    weights = (alias.get("RoutingConfig") or {}).get("AdditionalVersionWeights") or {}
    return ", ".join(f"{version}={weight:g}" for version, weight in sorted(weights.items()))


def _show(verb: str, function: str, alias: dict[str, Any]) -> None:
    line = f"{verb} alias {function}:{alias.get('Name', '')} -> version {alias.get('FunctionVersion', '')}"
    weights = _weights_text(alias)
    out.print(line + (f" (+ {weights})" if weights else ""))
    out.print(str(alias.get("AliasArn", "")), soft_wrap=True)


@app.command()
def create(
    name: NameArg,
    alias: AliasArg,
    version: Annotated[str, typer.Option("--version", help="The version the alias points to.")],
    description: DescriptionOpt = None,
    weight: WeightOpt = None,
    endpoint_url: EndpointOpt = DEFAULT_ENDPOINT,
    region: RegionOpt = None,
) -> None:
    """Create an alias for a version, optionally routing a weighted share of traffic to a second version."""
    params: dict[str, Any] = {"FunctionName": name, "Name": alias, "FunctionVersion": version}
    if description is not None:
        params["Description"] = description
    if weight:
        params["RoutingConfig"] = {"AdditionalVersionWeights": parse_weights(weight)}
    with api_errors(endpoint_url):
        resp = make_client("lambda", endpoint_url, region).create_alias(**params)
    _show("created", name, resp)


@app.command()
def update(
    name: NameArg,
    alias: AliasArg,
    version: Annotated[
        str | None, typer.Option("--version", help="Point the alias at this version.", show_default=False)
    ] = None,
    description: DescriptionOpt = None,
    weight: WeightOpt = None,
    no_weights: Annotated[
        bool, typer.Option("--no-weights", help="Remove weighted routing: all traffic to --version.")
    ] = False,
    endpoint_url: EndpointOpt = DEFAULT_ENDPOINT,
    region: RegionOpt = None,
) -> None:
    """Repoint an alias, change its description, or set (--weight) or clear (--no-weights) its routing."""
    if weight and no_weights:
        fail("--weight and --no-weights cannot be combined", code=2)
    params: dict[str, Any] = {"FunctionName": name, "Name": alias}
    if version is not None:
        params["FunctionVersion"] = version
    if description is not None:
        params["Description"] = description
    if weight:
        params["RoutingConfig"] = {"AdditionalVersionWeights": parse_weights(weight)}
    elif no_weights:
        params["RoutingConfig"] = {"AdditionalVersionWeights": {}}
    if len(params) == 2:
        fail("nothing to update: pass --version, --description, --weight or --no-weights", code=2)
    with api_errors(endpoint_url):
        resp = make_client("lambda", endpoint_url, region).update_alias(**params)
    _show("updated", name, resp)


@app.command("list")
def list_(name: NameArg, endpoint_url: EndpointOpt = DEFAULT_ENDPOINT, region: RegionOpt = None) -> None:
    """List a function's aliases (every page of ListAliases)."""
    with api_errors(endpoint_url):
        client = make_client("lambda", endpoint_url, region)
        pages = client.get_paginator("list_aliases").paginate(FunctionName=name)
        aliases = [a for page in pages for a in page.get("Aliases", [])]
    if not aliases:
        out.print(f"no aliases for {name}")
        return
    table = Table("Alias", "Version", "Weights", "Description", "ARN")
    for a in sorted(aliases, key=lambda a: str(a.get("Name", ""))):
        table.add_row(
            str(a.get("Name", "")),
            str(a.get("FunctionVersion", "")),
            _weights_text(a),
            str(a.get("Description") or ""),
            str(a.get("AliasArn") or ""),
        )
    out.print(table)


@app.command()
def delete(
    name: NameArg, alias: AliasArg, endpoint_url: EndpointOpt = DEFAULT_ENDPOINT, region: RegionOpt = None
) -> None:
    """Delete an alias (the versions it points to stay)."""
    with api_errors(endpoint_url):
        make_client("lambda", endpoint_url, region).delete_alias(FunctionName=name, Name=alias)
    out.print(f"deleted alias {name}:{alias}")
