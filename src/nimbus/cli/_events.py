"""`nimbus events put|rules` and `nimbus events rule create|delete`: EventBridge through boto3's `events` client.

`rule create --target FUNCTION` does what the console does: it puts the rule, adds the function's permission for
`events.amazonaws.com` with the rule's ARN as SourceArn (without it every delivery is refused), then the target.
"""

from __future__ import annotations

import contextlib
import json
import re
from typing import Annotated, Any

import typer
from rich.table import Table

from nimbus.cli._client import DEFAULT_ENDPOINT, EndpointOpt, RegionOpt, api_errors, fail, make_client, out

app = typer.Typer(help="Event buses and rules (EventBridge): put events, list rules, create rules.",
                  no_args_is_help=True)  # fmt: skip
rule_app = typer.Typer(help="Rules: create (with a function target), delete.", no_args_is_help=True)
app.add_typer(rule_app, name="rule")

BusOpt = Annotated[str, typer.Option("--bus", help="Event bus name (or ARN).")]
RuleArg = Annotated[str, typer.Argument(help="Rule name: 1-64 of A-Z a-z 0-9 - _ .")]
PRINCIPAL = "events.amazonaws.com"


def _json_object(text: str, option: str, example: str) -> None:
    try:
        value = json.loads(text)
    except ValueError as exc:
        fail(f"{option} must be a JSON object ({exc}): e.g. {option} '{example}'", code=2)
    if not isinstance(value, dict):
        fail(f"{option} must be a JSON object, not {type(value).__name__}: e.g. {option} '{example}'", code=2)


@app.command()
def put(
    source: Annotated[str, typer.Option("--source", help="The event's source, e.g. my.app.")],
    detail_type: Annotated[str, typer.Option("--detail-type", help="The event's detail-type, e.g. OrderPlaced.")],
    detail: Annotated[str, typer.Option("--detail", help="The event's detail: a JSON object.")] = "{}",
    bus: BusOpt = "default",
    endpoint_url: EndpointOpt = DEFAULT_ENDPOINT,
    region: RegionOpt = None,
) -> None:
    """Put one event on a bus; prints its id."""
    _json_object(detail, "--detail", '{"order": 1}')
    with api_errors(endpoint_url):
        client = make_client("events", endpoint_url, region)
        resp = client.put_events(Entries=[{"Source": source, "DetailType": detail_type, "Detail": detail,
                                           "EventBusName": bus}])  # fmt: skip
    (entry,) = resp["Entries"]
    if "EventId" not in entry:
        message = str(entry.get("ErrorMessage"))
        hint = f": create it with 'aws events create-event-bus --name {bus}'" if "does not exist" in message else ""
        fail(f"{entry.get('ErrorCode')}: {message}{hint}")
    out.print(entry["EventId"])


@app.command()
def rules(bus: BusOpt = "default", endpoint_url: EndpointOpt = DEFAULT_ENDPOINT, region: RegionOpt = None) -> None:
    """List a bus's rules: name, state, pattern or schedule, targets."""
    table = Table("Name", "State", "Pattern / schedule", "Targets")
    with api_errors(endpoint_url):
        client = make_client("events", endpoint_url, region)
        try:
            for page in client.get_paginator("list_rules").paginate(EventBusName=bus):
                for r in page["Rules"]:
                    targets = client.list_targets_by_rule(Rule=r["Name"], EventBusName=bus)["Targets"]
                    what = r.get("ScheduleExpression") or r.get("EventPattern") or ""
                    table.add_row(r["Name"], r["State"], what, "\n".join(t["Arn"] for t in targets))
        except client.exceptions.ResourceNotFoundException:
            fail(f"no event bus {bus!r}: 'aws events list-event-buses' shows the buses")
    out.print(table)


def _function_arn(endpoint_url: str, region: str | None, target: str) -> str:
    if target.startswith("arn:") and ":lambda:" not in target:
        return target  # a queue or a topic: no permission to add
    lam = make_client("lambda", endpoint_url, region)
    name, _, qualifier = target.removeprefix("arn:aws:lambda:").rpartition(":function:")[2].partition(":")
    params = {"FunctionName": name} | ({"Qualifier": qualifier} if qualifier else {})
    try:
        arn: str = lam.get_function(**params)["Configuration"]["FunctionArn"]
    except lam.exceptions.ResourceNotFoundException:
        fail(f"no function {target!r}: create it first ('nimbus function create'), or pass a queue's or a topic's "
             "ARN as --target")  # fmt: skip
    return arn if not qualifier or arn.endswith(f":{qualifier}") else f"{arn}:{qualifier}"


def _allow(endpoint_url: str, region: str | None, function_arn: str, rule_arn: str) -> None:
    """The function's permission for this rule, as the console adds it (kept if it exists already)."""
    lam = make_client("lambda", endpoint_url, region)
    statement = re.sub(r"[^A-Za-z0-9_-]", "-", f"events-{rule_arn.partition(':rule/')[2]}")[:100]
    # a statement of that id exists: added by an earlier `rule create` of the same rule
    with contextlib.suppress(lam.exceptions.ResourceConflictException):
        lam.add_permission(FunctionName=function_arn, StatementId=statement, Action="lambda:InvokeFunction",
                           Principal=PRINCIPAL, SourceArn=rule_arn)  # fmt: skip


@rule_app.command()
def create(
    name: RuleArg,
    target: Annotated[str, typer.Option("--target", help="Function name (name:alias), or a function/queue/topic ARN.")],
    pattern: Annotated[str | None, typer.Option("--pattern", help='Event pattern: \'{"source": ["my.app"]}\'.')] = None,
    schedule: Annotated[
        str | None, typer.Option("--schedule", help="'rate(5 minutes)' or 'cron(0 9 ? * MON-FRI *)' (UTC).")
    ] = None,
    bus: BusOpt = "default",
    description: Annotated[str | None, typer.Option("--description", help="Free text.")] = None,
    endpoint_url: EndpointOpt = DEFAULT_ENDPOINT,
    region: RegionOpt = None,
) -> None:
    """Create (or update) a rule sending what matches, or each fire of a schedule, to --target; prints its ARN."""
    if (pattern is None) == (schedule is None):
        fail("give exactly one of --pattern '{\"source\": [\"my.app\"]}' or --schedule 'rate(5 minutes)'", code=2)
    if pattern is not None:
        _json_object(pattern, "--pattern", '{"source": ["my.app"]}')
    params: dict[str, Any] = {"Name": name, "EventBusName": bus}
    params |= {"EventPattern": pattern} if pattern is not None else {"ScheduleExpression": schedule}
    if description is not None:
        params["Description"] = description
    with api_errors(endpoint_url):
        arn = _function_arn(endpoint_url, region, target)
        client = make_client("events", endpoint_url, region)
        try:
            rule_arn = client.put_rule(**params)["RuleArn"]
        except client.exceptions.ResourceNotFoundException:
            fail(f"no event bus {bus!r}: create it with 'aws events create-event-bus --name {bus}' or leave out --bus")
        if ":lambda:" in arn:
            _allow(endpoint_url, region, arn, rule_arn)
        target_id = re.sub(r"[^A-Za-z0-9._-]", "-", arn.rpartition(":function:")[2] or arn.rsplit(":", 1)[-1])[:64]
        failed = client.put_targets(Rule=name, EventBusName=bus, Targets=[{"Id": target_id, "Arn": arn}])
        if failed["FailedEntryCount"]:
            fail(f"the rule was created but its target was refused: {failed['FailedEntries'][0]['ErrorMessage']}")
    out.print(rule_arn, soft_wrap=True)
    if ":lambda:" in arn:
        out.print(f"  {arn} allows {PRINCIPAL} for this rule", style="dim", soft_wrap=True)


@rule_app.command()
def delete(name: RuleArg, bus: BusOpt = "default", endpoint_url: EndpointOpt = DEFAULT_ENDPOINT,
           region: RegionOpt = None) -> None:  # fmt: skip
    """Delete a rule and its targets."""
    with api_errors(endpoint_url):
        client = make_client("events", endpoint_url, region)
        try:
            ids = [t["Id"] for t in client.list_targets_by_rule(Rule=name, EventBusName=bus)["Targets"]]
        except client.exceptions.ResourceNotFoundException:
            fail(f"no rule {name!r} on bus {bus!r}: 'nimbus events rules --bus {bus}' shows the rules")
        if ids:
            client.remove_targets(Rule=name, EventBusName=bus, Ids=ids)
        client.delete_rule(Name=name, EventBusName=bus)
    out.print(f"deleted {name}")
