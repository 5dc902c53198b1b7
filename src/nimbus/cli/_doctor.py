"""`nimbus doctor`: what isolation this host gives instances, layer by layer (inspects the local host directly),
then, when a server answers at the endpoint, the functions whose execution role names no role (`_doctor_roles`).

The isolation half is a diagnostic, not an API client: it runs the same detection the server runs at start-up.
Each limit's line names the mechanism that holds it: cgroup v1, cgroup v2, cgroup v2 delegated, rlimit, or NOT
ENFORCED.
"""

from __future__ import annotations

from typing import Annotated

import typer

from nimbus.cli import _doctor_roles
from nimbus.cli._client import DEFAULT_ENDPOINT, EndpointOpt, RegionOpt


def doctor(
    limits_mechanism: Annotated[
        str, typer.Option(help="As `nimbus serve --limits-mechanism`: auto, cgroup or rlimit.")
    ] = "auto",
    endpoint_url: EndpointOpt = DEFAULT_ENDPOINT,
    region: RegionOpt = None,
) -> None:
    """Print which sandbox layers are enforced on this host, and by what; exit 1 when any is weaker than full."""
    # The CLI otherwise talks to the server only through its API (tests/test_architecture.py); the doctor
    # is the one sanctioned exception, as it inspects this host, so it loads the detector by name.
    from nimbus.instances.isolation import detect  # here: it loads the instance layer, for this command only

    try:
        isolation = detect(limits_mechanism)
    except ValueError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from None
    userns = "allowed" if isolation.user_namespaces else "not allowed"
    typer.echo(
        f"root: {'yes' if isolation.root else 'no'}   user namespaces: {userns}   "
        f"cgroups: {isolation.cgroups.describe()}   seccomp: {'yes' if isolation.seccomp else 'no'}   "
        f"limits: {isolation.limits}"
    )
    for name, status, how in isolation.layers():
        typer.echo(f"  [{status}] {name} ({how})")
    _doctor_roles.report(endpoint_url, region)
    if isolation.full:
        typer.echo("isolation: full")
        return
    if isolation.limits == "rlimit" and not isolation.root:
        typer.echo(
            "for cgroup limits without root, run the server in a delegated cgroup v2 subtree: "
            "systemd-run --user --scope -p Delegate=yes nimbus serve",
            err=True,
        )
    typer.echo("isolation: WEAKER THAN FULL: see docs/security.md", err=True)
    raise typer.Exit(1)
