"""`nimbus doctor`'s server half: the functions whose execution role names no role.

CreateFunction accepts such a role ARN (scripts written for local emulators pass any), but the function's
credentials can then do nothing beyond writing its own logs. Asked through the public API (ListFunctions, then
IAM GetRole per distinct role), with the caller's credentials; a server that cannot be reached is said in one line.
"""

from __future__ import annotations

from typing import Any

import typer

from nimbus.cli._client import make_client


def _exists(iam: Any, role_arn: str) -> bool:
    import botocore.exceptions as bx

    try:
        return str(iam.get_role(RoleName=role_arn.rsplit("/", 1)[-1])["Role"]["Arn"]) == role_arn
    except bx.ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "NoSuchEntity":
            return False
        raise


def roleless_functions(endpoint_url: str, region: str | None) -> list[tuple[str, str]]:
    """(function, role ARN) for each function whose role names no role."""
    lam, iam = (make_client(service, endpoint_url, region, read_timeout=30) for service in ("lambda", "iam"))
    functions = [f for page in lam.get_paginator("list_functions").paginate() for f in page["Functions"]]
    known: dict[str, bool] = {}
    missing = []
    for fn in functions:
        role = str(fn.get("Role", ""))
        if role not in known:
            known[role] = _exists(iam, role)
        if not known[role]:
            missing.append((str(fn["FunctionName"]), role))
    return missing


def report(endpoint_url: str, region: str | None) -> None:
    """Print the functions whose role names no role (or why the server was not asked)."""
    import botocore.exceptions as bx

    try:
        missing = roleless_functions(endpoint_url, region)
    except (bx.EndpointConnectionError, bx.ConnectTimeoutError, bx.ReadTimeoutError, bx.ConnectionClosedError):
        typer.echo(f"server: not reachable at {endpoint_url} (function roles not checked)")
        return
    except bx.ClientError as exc:
        error = exc.response.get("Error", {})
        typer.echo(f"server: {error.get('Code')}: {error.get('Message')} (function roles not checked)")
        return
    if not missing:
        typer.echo("function roles: every function's role exists")
        return
    typer.echo(f"function roles: {len(missing)} function(s) name a role that does not exist (their credentials "
               "can only write their own logs; create the role or update the function):")  # fmt: skip
    for name, role in missing:
        typer.echo(f"  {name}  {role}")
