"""`nimbus role create|list|delete`, `nimbus user create|list|delete`, `nimbus whoami`: IAM roles and users through
boto3's `iam` and `sts` clients.

A role is made for Lambda by default (its trust policy lets `lambda.amazonaws.com` assume it: an execution role),
with an inline policy from a file (`--policy`) and AWS's or the account's managed policies (`--managed`, by name or
ARN). A user is made the same way and given an access key, whose secret is printed once, with what to export: it
cannot be read again. Deleting a role or user removes its policies (and a user's keys) first, as IAM requires.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from nimbus.cli._client import DEFAULT_ENDPOINT, EndpointOpt, RegionOpt, api_errors, err, fail, make_client, out

role_app = typer.Typer(help="IAM roles: create (with policies), list, delete.", no_args_is_help=True)
user_app = typer.Typer(help="IAM users: create (with policies and an access key), list, delete.", no_args_is_help=True)

PolicyOpt = Annotated[
    Path | None, typer.Option("--policy", help="An identity policy (JSON file) to put inline.", metavar="FILE")
]
ManagedOpt = Annotated[
    list[str] | None,
    typer.Option("--managed", help="A managed policy to attach, by name (AWSLambdaBasicExecutionRole) or ARN "
                 "(repeatable).", metavar="NAME"),
]  # fmt: skip
#: the name of the inline policy `--policy` puts
INLINE_NAME = "nimbus-cli"


def _document(path: Path | None) -> str | None:
    if path is None:
        return None
    try:
        text = path.read_text()
    except OSError as exc:
        fail(f"cannot read --policy {path}: {exc.strerror}", code=2)
    try:
        json.loads(text)
    except ValueError as exc:
        fail(f"--policy {path} is not JSON: {exc}", code=2)
    return text


def _policy_arns(iam: Any, names: list[str]) -> list[str]:
    """The ARNs of managed policies named by name or ARN (AWS's and the account's), checked before anything is made."""
    wanted = [n for n in names if not n.startswith("arn:")]
    found: dict[str, str] = {}
    if wanted:
        for page in iam.get_paginator("list_policies").paginate(Scope="All"):
            for p in page["Policies"]:
                found.setdefault(p["PolicyName"], p["Arn"])
    missing = [n for n in wanted if n not in found]
    if missing:
        fail(f"no managed policy named {', '.join(missing)}: 'aws iam list-policies' lists them")
    return [n if n.startswith("arn:") else found[n] for n in names]


@role_app.command("create")
def role_create(
    name: Annotated[str, typer.Argument(help="Role name: 1-64 of A-Z a-z 0-9 + = , . @ _ -")],
    policy: PolicyOpt = None,
    managed: ManagedOpt = None,
    trust: Annotated[
        list[str] | None,
        typer.Option("--trust", help="A service that may assume the role (repeatable; default lambda.amazonaws.com).",
                     metavar="SERVICE"),
    ] = None,
    description: Annotated[str, typer.Option("--description", help="What the role is for.")] = "",
    endpoint_url: EndpointOpt = DEFAULT_ENDPOINT,
    region: RegionOpt = None,
) -> None:
    """Create a role (an execution role for functions by default) with its policies; prints its ARN."""
    from nimbus.deploy.sync import service_trust  # (the examples' role is made with the same trust)

    document = _document(policy)
    with api_errors(endpoint_url):
        iam = make_client("iam", endpoint_url, region)
        arns = _policy_arns(iam, managed or [])
        trust_document = service_trust(trust or ["lambda.amazonaws.com"])
        arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=trust_document,
                              Description=description)["Role"]["Arn"]  # fmt: skip
        _grant(iam, "Role", name, document, arns)
    out.print(arn, soft_wrap=True)


@role_app.command("list")
def role_list(endpoint_url: EndpointOpt = DEFAULT_ENDPOINT, region: RegionOpt = None) -> None:
    """List roles with who may assume them."""
    table = Table("Name", "Trusted", "ARN")
    with api_errors(endpoint_url):
        for page in make_client("iam", endpoint_url, region).get_paginator("list_roles").paginate():
            for r in page["Roles"]:
                principals = [p for s in r["AssumeRolePolicyDocument"].get("Statement", [])
                              for p in _principals(s.get("Principal"))]  # fmt: skip
                table.add_row(r["RoleName"], ", ".join(principals), r["Arn"])
    out.print(table)


def _grant(iam: Any, kind: str, name: str, document: str | None, arns: list[str]) -> None:
    """Give a role or user (`kind`: Role, User) made just now its `--policy` inline and its `--managed` policies."""
    member = {f"{kind}Name": name}
    if document is not None:
        getattr(iam, f"put_{kind.lower()}_policy")(**member, PolicyName=INLINE_NAME, PolicyDocument=document)
    for policy_arn in arns:
        getattr(iam, f"attach_{kind.lower()}_policy")(**member, PolicyArn=policy_arn)


def _principals(principal: Any) -> list[str]:
    if not isinstance(principal, dict):
        return [str(principal)]
    return [v for values in principal.values() for v in (values if isinstance(values, list) else [values])]


def _delete(kind: str, name: str, endpoint_url: str, region: str | None) -> None:
    """Delete a role or user (`kind`: Role, User) and, first, what IAM requires gone: a user's access keys, inline
    and attached policies."""
    member = {f"{kind}Name": name}
    with api_errors(endpoint_url):
        iam = make_client("iam", endpoint_url, region)
        if kind == "User":
            for key in iam.list_access_keys(UserName=name)["AccessKeyMetadata"]:
                iam.delete_access_key(UserName=name, AccessKeyId=key["AccessKeyId"])
        _strip(iam, kind, member)
        getattr(iam, f"delete_{kind.lower()}")(**member)
    err.print(f"deleted {kind.lower()} {name}")


def _strip(iam: Any, kind: str, member: dict[str, str]) -> None:
    """Remove a role's or user's inline and attached policies."""
    for policy in getattr(iam, f"list_{kind.lower()}_policies")(**member)["PolicyNames"]:
        getattr(iam, f"delete_{kind.lower()}_policy")(**member, PolicyName=policy)
    for attached in getattr(iam, f"list_attached_{kind.lower()}_policies")(**member)["AttachedPolicies"]:
        getattr(iam, f"detach_{kind.lower()}_policy")(**member, PolicyArn=attached["PolicyArn"])


@role_app.command("delete")
def role_delete(
    name: Annotated[str, typer.Argument(help="Role name.")],
    endpoint_url: EndpointOpt = DEFAULT_ENDPOINT,
    region: RegionOpt = None,
) -> None:
    """Delete a role, its inline policies and attachments first."""
    _delete("Role", name, endpoint_url, region)


@user_app.command("create")
def user_create(
    name: Annotated[str, typer.Argument(help="User name: 1-64 of A-Z a-z 0-9 + = , . @ _ -")],
    policy: PolicyOpt = None,
    managed: ManagedOpt = None,
    endpoint_url: EndpointOpt = DEFAULT_ENDPOINT,
    region: RegionOpt = None,
) -> None:
    """Create a user with its policies and an access key; prints the key and its secret, once."""
    document = _document(policy)
    with api_errors(endpoint_url):
        iam = make_client("iam", endpoint_url, region)
        arns = _policy_arns(iam, managed or [])
        arn = iam.create_user(UserName=name)["User"]["Arn"]
        _grant(iam, "User", name, document, arns)
        key = iam.create_access_key(UserName=name)["AccessKey"]
    err.print(f"created {arn}; its secret access key is shown this once (Nimbus cannot show it again):")
    out.print(f"export AWS_ACCESS_KEY_ID={key['AccessKeyId']}", soft_wrap=True)
    out.print(f"export AWS_SECRET_ACCESS_KEY={key['SecretAccessKey']}", soft_wrap=True)


@user_app.command("list")
def user_list(endpoint_url: EndpointOpt = DEFAULT_ENDPOINT, region: RegionOpt = None) -> None:
    """List users with their access keys."""
    table = Table("Name", "Access keys", "ARN")
    with api_errors(endpoint_url):
        iam = make_client("iam", endpoint_url, region)
        for page in iam.get_paginator("list_users").paginate():
            for u in page["Users"]:
                keys = iam.list_access_keys(UserName=u["UserName"])["AccessKeyMetadata"]
                shown = ", ".join(f"{k['AccessKeyId']} ({k['Status']})" for k in keys)
                table.add_row(u["UserName"], shown, u["Arn"])
    out.print(table)


@user_app.command("delete")
def user_delete(
    name: Annotated[str, typer.Argument(help="User name.")],
    endpoint_url: EndpointOpt = DEFAULT_ENDPOINT,
    region: RegionOpt = None,
) -> None:
    """Delete a user, its access keys and policies first (its keys stop working at once)."""
    _delete("User", name, endpoint_url, region)


def whoami(endpoint_url: EndpointOpt = DEFAULT_ENDPOINT, region: RegionOpt = None) -> None:
    """Who the credentials in use stand for (STS GetCallerIdentity): the root, a user or a role's session."""
    with api_errors(endpoint_url):
        me = make_client("sts", endpoint_url, region).get_caller_identity()
    out.print(me["Arn"], soft_wrap=True)
    err.print(f"account {me['Account']}, user id {me['UserId']}")
