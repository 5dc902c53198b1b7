"""`nimbus doctor`: what isolation this host gives instances, layer by layer (inspects the local host directly).

A diagnostic, not an API client: it runs the same detection the server runs at start-up.
"""

from __future__ import annotations

import typer

from nimbus.instances.isolation import detect


def doctor() -> None:
    """Print which sandbox layers are enforced on this host and which are not."""
    # The CLI otherwise talks to the server only through its API (tests/unit/test_architecture.py); the doctor
    # is the one sanctioned exception, as it inspects this host, so it loads the detector by name.
    isolation = detect()
    userns = "allowed" if isolation.user_namespaces else "not allowed"
    typer.echo(
        f"root: {'yes' if isolation.root else 'no'}   user namespaces: {userns}   "
        f"cgroups: {isolation.cgroups.describe()}   seccomp: {'yes' if isolation.seccomp else 'no'}"
    )
    for name, enforced, how in isolation.layers():
        typer.echo(f"  [{'enforced' if enforced else 'NOT ENFORCED'}] {name} ({how})")
    if isolation.full:
        typer.echo("isolation: full")
    else:
        typer.echo("isolation: WEAKER THAN FULL: see docs/security.md", err=True)
        raise typer.Exit(1)
