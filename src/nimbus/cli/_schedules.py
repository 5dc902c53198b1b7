"""`nimbus schedule create|list|delete`: EventBridge Scheduler schedules through boto3's `scheduler` client.

A target is named by function name (or `name:alias`), queue name, or ARN; the CLI looks the ARN up. Scheduler's
model requires a Target RoleArn; the CLI fills a placeholder role, which Nimbus stores and does not check until it
has roles (nothing needs granting meanwhile).
"""

from __future__ import annotations

import json
from typing import Annotated, Any, NoReturn

import typer
from rich.table import Table

from nimbus.cli._client import DEFAULT_ENDPOINT, EndpointOpt, RegionOpt, api_errors, fail, make_client, out

app = typer.Typer(help="Schedules (EventBridge Scheduler): create, list, delete.", no_args_is_help=True)

NameArg = Annotated[str, typer.Argument(help="Schedule name: 1-64 of A-Z a-z 0-9 - _ .")]
GroupOpt = Annotated[str, typer.Option("--group", help="Schedule group.")]
#: the role the CLI names in Target.RoleArn (required by Scheduler's model; not checked by Nimbus yet)
PLACEHOLDER_ROLE = "nimbus-scheduler"


def _expression(cron: str | None, rate: str | None, at: str | None) -> str:
    given = [(k, v) for k, v in (("cron", cron), ("rate", rate), ("at", at)) if v is not None]
    if len(given) != 1:
        fail("give exactly one of --cron 'MIN HOUR DOM MONTH DOW YEAR', --rate '5 minutes' or "
             "--at 2026-12-01T09:00:00", code=2)  # fmt: skip
    kind, value = given[0]
    value = value.strip()
    return value if value.startswith(f"{kind}(") else f"{kind}({value})"


def _missing_target(name: str) -> NoReturn:
    fail(f"no function or queue named {name!r}: create it first ('nimbus function create' or "
         "'nimbus queue create'), or pass its ARN as --target")  # fmt: skip


def _target_arn(endpoint_url: str, region: str | None, name: str) -> tuple[str, str]:
    """(ARN, "function" | "queue") of `--target`: an ARN as given, else a function, else a queue of that name."""
    if name.startswith("arn:"):
        return name, "function" if ":lambda:" in name else "queue"
    lam = make_client("lambda", endpoint_url, region)
    try:
        function, _, qualifier = name.partition(":")
        params = {"FunctionName": function} | ({"Qualifier": qualifier} if qualifier else {})
        arn = lam.get_function(**params)["Configuration"]["FunctionArn"]
        return (f"{arn}:{qualifier}" if qualifier and not arn.endswith(f":{qualifier}") else arn), "function"
    except lam.exceptions.ResourceNotFoundException:
        pass
    sqs = make_client("sqs", endpoint_url, region)
    try:
        url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
    except sqs.exceptions.QueueDoesNotExist:
        _missing_target(name)
    return sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"], "queue"


@app.command()
def create(
    name: NameArg,
    target: Annotated[str, typer.Option("--target", help="Function name (name:alias), queue name, or ARN.")],
    cron: Annotated[str | None, typer.Option("--cron", help="Six cron fields: '0 9 ? * MON-FRI *'.")] = None,
    rate: Annotated[str | None, typer.Option("--rate", help="'5 minutes', '1 hour', '2 days'.")] = None,
    at: Annotated[str | None, typer.Option("--at", help="One time: 2026-12-01T09:00:00 (in --timezone).")] = None,
    timezone: Annotated[str | None, typer.Option("--timezone", help="IANA zone, e.g. Europe/Paris (UTC).")] = None,
    input_: Annotated[str | None, typer.Option("--input", help="What the target receives (default {}).")] = None,
    group: GroupOpt = "default",
    description: Annotated[str | None, typer.Option("--description", help="Free text.")] = None,
    delete_after: Annotated[
        bool, typer.Option("--delete-after-completion", help="Delete the schedule after its last fire.")
    ] = False,
    disabled: Annotated[bool, typer.Option("--disabled", help="Create it DISABLED (it does not fire).")] = False,
    endpoint_url: EndpointOpt = DEFAULT_ENDPOINT,
    region: RegionOpt = None,
) -> None:
    """Create a schedule that sends --input to a function or queue; prints its ARN."""
    expression = _expression(cron, rate, at)
    with api_errors(endpoint_url):
        arn, kind = _target_arn(endpoint_url, region, target)
        if input_ is not None and kind == "function":
            try:
                json.loads(input_)
            except ValueError as exc:
                fail(f"--input must be JSON for a function target ({exc}): e.g. --input '{{\"job\": \"report\"}}'",
                     code=2)  # fmt: skip
        account = arn.split(":")[4]
        params: dict[str, Any] = {
            "Name": name, "GroupName": group, "ScheduleExpression": expression,
            "FlexibleTimeWindow": {"Mode": "OFF"}, "State": "DISABLED" if disabled else "ENABLED",
            "ActionAfterCompletion": "DELETE" if delete_after else "NONE",
            "Target": {"Arn": arn, "RoleArn": f"arn:aws:iam::{account}:role/{PLACEHOLDER_ROLE}"},
        }  # fmt: skip
        if input_ is not None:
            params["Target"]["Input"] = input_
        if timezone:
            params["ScheduleExpressionTimezone"] = timezone
        if description is not None:
            params["Description"] = description
        client = make_client("scheduler", endpoint_url, region)
        try:
            resp = client.create_schedule(**params)
        except client.exceptions.ConflictException:
            fail(f"a schedule named {name!r} already exists in group {group!r}: delete it first "
                 f"('nimbus schedule delete {name} --group {group}') or choose another name")  # fmt: skip
        except client.exceptions.ResourceNotFoundException:
            fail(f"no schedule group {group!r}: create it with 'aws scheduler create-schedule-group --name {group}' "
                 "or leave out --group")  # fmt: skip
    out.print(resp["ScheduleArn"], soft_wrap=True)
    out.print(f"  target RoleArn is the placeholder role {PLACEHOLDER_ROLE!r}: nothing needs granting until Nimbus "
              "has roles", style="dim", soft_wrap=True)  # fmt: skip


@app.command("list")
def list_(
    group: Annotated[str | None, typer.Option("--group", help="Only this group's schedules.")] = None,
    endpoint_url: EndpointOpt = DEFAULT_ENDPOINT,
    region: RegionOpt = None,
) -> None:
    """List schedules: name, group, state, expression, target."""
    table = Table("Name", "Group", "State", "Expression", "Target")
    with api_errors(endpoint_url):
        client = make_client("scheduler", endpoint_url, region)
        params = {"GroupName": group} if group else {}
        for page in client.get_paginator("list_schedules").paginate(**params):
            for s in page["Schedules"]:
                try:
                    full = client.get_schedule(Name=s["Name"], GroupName=s["GroupName"])
                except client.exceptions.ResourceNotFoundException:
                    continue  # deleted since the page was listed (a one-time schedule that completed)
                expression = full["ScheduleExpression"]
                if full.get("ScheduleExpressionTimezone"):
                    expression += f" {full['ScheduleExpressionTimezone']}"
                table.add_row(s["Name"], s["GroupName"], s["State"], expression, s["Target"]["Arn"])
    out.print(table)


@app.command()
def delete(name: NameArg, group: GroupOpt = "default", endpoint_url: EndpointOpt = DEFAULT_ENDPOINT,
           region: RegionOpt = None) -> None:  # fmt: skip
    """Delete a schedule."""
    with api_errors(endpoint_url):
        client = make_client("scheduler", endpoint_url, region)
        try:
            client.delete_schedule(Name=name, GroupName=group)
        except client.exceptions.ResourceNotFoundException:
            fail(f"no schedule {name!r} in group {group!r}: 'nimbus schedule list' shows the schedules")
    out.print(f"deleted {name}")
