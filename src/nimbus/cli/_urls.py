"""`nimbus url create|get|update|delete|list`: function URLs, the HTTP endpoints that invoke a function.

`create` prints the URL and, on a second line, the same endpoint by path on the server's own address, for clients
that cannot resolve `*.localhost` names. With `--auth none` (the default, as in the Lambda console) it also adds the
permission that lets anyone invoke the URL, as the console does: without it a NONE URL answers 403.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any, NoReturn
from urllib.parse import urlsplit

import typer
from rich.table import Table

from nimbus.cli._client import DEFAULT_ENDPOINT, EndpointOpt, RegionOpt, api_errors, err, fail, make_client, out

app = typer.Typer(no_args_is_help=True, help="Create, show, update, list and delete function URLs.")

#: the statement id, action and principal the Lambda console writes for a public (NONE) function URL
PUBLIC_STATEMENT = "FunctionURLAllowPublicAccess"
AUTH = {"none": "NONE", "iam": "AWS_IAM"}

NameArg = Annotated[str, typer.Argument(help="Function name or ARN.")]
QualifierOpt = Annotated[
    str | None,
    typer.Option("--qualifier", "-q", help="An alias (default: the unqualified function, $LATEST).",
                 show_default=False),
]  # fmt: skip
OriginOpt = Annotated[
    list[str] | None,
    typer.Option("--cors-origin", help="An origin allowed to call the URL from a browser ('*': any); repeatable.",
                 show_default=False),
]  # fmt: skip
MethodOpt = Annotated[
    list[str] | None,
    typer.Option("--cors-method", help="An HTTP method allowed cross-origin ('*': any); repeatable.",
                 show_default=False),
]  # fmt: skip
HeaderOpt = Annotated[
    list[str] | None,
    typer.Option("--cors-header", help="A request header allowed cross-origin; repeatable.", show_default=False),
]
ExposeOpt = Annotated[
    list[str] | None,
    typer.Option("--cors-expose-header", help="A response header browsers may read; repeatable.",
                 show_default=False),
]  # fmt: skip
CredentialsOpt = Annotated[
    bool | None,
    typer.Option("--cors-credentials/--no-cors-credentials", help="Allow cookies and credentials cross-origin.",
                 show_default=False),
]  # fmt: skip
MaxAgeOpt = Annotated[
    int | None,
    typer.Option("--cors-max-age", help="Seconds browsers may cache a preflight answer (0-86400).",
                 show_default=False),
]  # fmt: skip


def _auth(value: str | None) -> str | None:
    if value is None:
        return None
    if value.lower() not in AUTH:
        fail(f"--auth expects none or iam, got {value!r}", code=2)
    return AUTH[value.lower()]


def _cors(
    origins: list[str] | None, methods: list[str] | None, headers: list[str] | None, expose: list[str] | None,
    credentials: bool | None, max_age: int | None,
) -> dict[str, Any] | None:  # fmt: skip
    """The Cors structure the options describe, or None when no CORS option is given."""
    cors: dict[str, Any] = {}
    for key, values in (("AllowOrigins", origins), ("AllowMethods", methods), ("AllowHeaders", headers),
                        ("ExposeHeaders", expose)):  # fmt: skip
        if values:
            cors[key] = values
    if credentials is not None:
        cors["AllowCredentials"] = credentials
    if max_age is not None:
        cors["MaxAge"] = max_age
    return cors or None


def path_form(function_url: str, endpoint_url: str) -> str:
    """`http://127.0.0.1:9001/lambda-url/<url-id>/`: the URL by path on the server's own address."""
    url_id = (urlsplit(function_url).hostname or "").split(".", 1)[0]
    return f"{endpoint_url.rstrip('/')}/lambda-url/{url_id}/"


def _target(name: str, qualifier: str | None) -> dict[str, Any]:
    return {"FunctionName": name, **({"Qualifier": qualifier} if qualifier else {})}


def _which(name: str, qualifier: str | None) -> str:
    return f"{name}:{qualifier}" if qualifier else name


def _missing(exc: Any, name: str, qualifier: str | None) -> NoReturn:
    """ResourceNotFound, said with what to do next: the function or alias is unknown, or it has no URL."""
    message = str(exc.response.get("Error", {}).get("Message", ""))
    if message.startswith("Function not found"):
        fail(f"{message}: create the function (nimbus function create) or the alias (nimbus alias create) first")
    q = f" -q {qualifier}" if qualifier else ""
    fail(f"{_which(name, qualifier)} has no URL: create one with 'nimbus url create {name}{q}'")


@contextmanager
def _url_errors(client: Any, endpoint_url: str, name: str, qualifier: str | None) -> Iterator[None]:
    """`api_errors`, with a missing function, alias or URL said with what to do next (`_missing`): every command
    on one URL answers ResourceNotFound the same way."""
    with api_errors(endpoint_url):
        try:
            yield
        except client.exceptions.ResourceNotFoundException as exc:
            _missing(exc, name, qualifier)


def _allow_public(client: Any, endpoint_url: str, name: str, qualifier: str | None) -> None:
    """Add the console's public-access statement (said on stderr); quiet when it is there already."""
    try:
        with api_errors(endpoint_url):
            try:
                client.add_permission(
                    **_target(name, qualifier), StatementId=PUBLIC_STATEMENT, Action="lambda:InvokeFunctionUrl",
                    Principal="*", FunctionUrlAuthType="NONE",
                )  # fmt: skip
            except client.exceptions.ResourceConflictException:
                return
    except typer.Exit:
        q = f" --qualifier {qualifier}" if qualifier else ""
        err.print(
            f"the URL has no public-access permission, so it answers 403: add it with 'aws lambda add-permission "
            f"--function-name {name}{q} --statement-id {PUBLIC_STATEMENT} --action lambda:InvokeFunctionUrl "
            "--principal '*' --function-url-auth-type NONE'"
        )
        raise
    err.print(f"added permission {PUBLIC_STATEMENT}: anyone may invoke this URL (auth NONE)")


def _print_json(resp: dict[str, Any]) -> None:
    resp.pop("ResponseMetadata", None)
    sys.stdout.write(json.dumps(resp, indent=2, default=str) + "\n")


@app.command()
def create(
    name: NameArg,
    qualifier: QualifierOpt = None,
    auth: Annotated[
        str, typer.Option("--auth", help="none: anyone may call it; iam: SigV4-signed requests only.")
    ] = "none",
    cors_origin: OriginOpt = None,
    cors_method: MethodOpt = None,
    cors_header: HeaderOpt = None,
    cors_expose_header: ExposeOpt = None,
    cors_credentials: CredentialsOpt = None,
    cors_max_age: MaxAgeOpt = None,
    endpoint_url: EndpointOpt = DEFAULT_ENDPOINT,
    region: RegionOpt = None,
) -> None:
    """Give a function (or an alias of it) a URL; print the URL, then the same URL by path."""
    auth_type = _auth(auth)
    params: dict[str, Any] = {**_target(name, qualifier), "AuthType": auth_type}
    cors = _cors(cors_origin, cors_method, cors_header, cors_expose_header, cors_credentials, cors_max_age)
    if cors:
        params["Cors"] = cors
    client = make_client("lambda", endpoint_url, region)
    with _url_errors(client, endpoint_url, name, qualifier):
        try:
            resp = client.create_function_url_config(**params)
        except client.exceptions.ResourceConflictException:
            q = f" -q {qualifier}" if qualifier else ""
            fail(f"{_which(name, qualifier)} has a URL already: see it with 'nimbus url get {name}{q}', or delete "
                 f"it first with 'nimbus url delete {name}{q}'")  # fmt: skip
    out.print(resp["FunctionUrl"], soft_wrap=True)
    out.print(path_form(resp["FunctionUrl"], endpoint_url), soft_wrap=True)
    if auth_type == "NONE":
        _allow_public(client, endpoint_url, name, qualifier)


@app.command()
def get(
    name: NameArg, qualifier: QualifierOpt = None, endpoint_url: EndpointOpt = DEFAULT_ENDPOINT,
    region: RegionOpt = None,
) -> None:  # fmt: skip
    """Print GetFunctionUrlConfig's answer (URL, auth type, CORS, times) as JSON."""
    client = make_client("lambda", endpoint_url, region)
    with _url_errors(client, endpoint_url, name, qualifier):
        _print_json(client.get_function_url_config(**_target(name, qualifier)))


@app.command()
def update(
    name: NameArg,
    qualifier: QualifierOpt = None,
    auth: Annotated[
        str | None, typer.Option("--auth", help="none or iam (default: unchanged).", show_default=False)
    ] = None,
    cors_origin: OriginOpt = None,
    cors_method: MethodOpt = None,
    cors_header: HeaderOpt = None,
    cors_expose_header: ExposeOpt = None,
    cors_credentials: CredentialsOpt = None,
    cors_max_age: MaxAgeOpt = None,
    no_cors: Annotated[bool, typer.Option("--no-cors", help="Remove every CORS setting.")] = False,
    endpoint_url: EndpointOpt = DEFAULT_ENDPOINT,
    region: RegionOpt = None,
) -> None:
    """Change a URL's auth type or CORS settings (CORS options given replace the whole CORS configuration)."""
    params: dict[str, Any] = _target(name, qualifier)
    auth_type = _auth(auth)
    if auth_type:
        params["AuthType"] = auth_type
    cors = _cors(cors_origin, cors_method, cors_header, cors_expose_header, cors_credentials, cors_max_age)
    if cors and no_cors:
        fail("CORS options and --no-cors cannot be combined", code=2)
    if cors or no_cors:
        params["Cors"] = cors or {}
    if len(params) == len(_target(name, qualifier)):
        fail("nothing to update: pass --auth, a --cors-* option or --no-cors", code=2)
    client = make_client("lambda", endpoint_url, region)
    with _url_errors(client, endpoint_url, name, qualifier):
        resp = client.update_function_url_config(**params)
    _print_json(resp)
    if auth_type == "NONE":
        _allow_public(client, endpoint_url, name, qualifier)


@app.command()
def delete(
    name: NameArg, qualifier: QualifierOpt = None, endpoint_url: EndpointOpt = DEFAULT_ENDPOINT,
    region: RegionOpt = None,
) -> None:  # fmt: skip
    """Delete a URL (a permission added for it stays, as on Lambda: remove it with RemovePermission)."""
    client = make_client("lambda", endpoint_url, region)
    with _url_errors(client, endpoint_url, name, qualifier):
        client.delete_function_url_config(**_target(name, qualifier))
    out.print(f"deleted the URL of {_which(name, qualifier)}")


@app.command("list")
def list_(name: NameArg, endpoint_url: EndpointOpt = DEFAULT_ENDPOINT, region: RegionOpt = None) -> None:
    """List a function's URLs (every page of ListFunctionUrlConfigs)."""
    with api_errors(endpoint_url):
        pages = make_client("lambda", endpoint_url, region).get_paginator("list_function_url_configs")
        configs = [c for page in pages.paginate(FunctionName=name) for c in page.get("FunctionUrlConfigs", [])]
    if not configs:
        out.print(f"{name} has no URLs")
        return
    table = Table("Qualifier", "URL", "Auth", "CORS origins")
    for c in configs:
        arn = str(c.get("FunctionArn", ""))
        qualifier = arn.split(":function:", 1)[-1].partition(":")[2] or "$LATEST"
        origins = ", ".join((c.get("Cors") or {}).get("AllowOrigins", []))
        table.add_row(qualifier, str(c.get("FunctionUrl", "")), str(c.get("AuthType", "")), origins)
    out.print(table)
