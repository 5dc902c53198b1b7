"""`nimbus stack list|describe|outputs|events|delete`, and the signed client of the stacks API (`/_nimbus/stacks`,
the `cloudformation` signing scope) that `nimbus deploy` uses too. The API is Nimbus's own, so no boto3 client
knows it: requests are signed with botocore's SigV4 signer and sent with the standard library."""

from __future__ import annotations

import json
import time
from typing import Annotated, Any

import typer
from rich.table import Table

from nimbus.cli._client import DEFAULT_ENDPOINT, DEFAULT_REGION, EndpointOpt, RegionOpt, _session, fail, out

app = typer.Typer(help="Stacks made by `nimbus deploy`: list, describe, outputs, events, delete.", no_args_is_help=True)

NameArg = Annotated[str, typer.Argument(help="Stack name.")]
#: stack statuses an operation ends in
TERMINAL = ("CREATE_COMPLETE", "UPDATE_COMPLETE", "ROLLBACK_COMPLETE", "UPDATE_ROLLBACK_COMPLETE", "ROLLBACK_FAILED",
            "UPDATE_ROLLBACK_FAILED", "DELETE_FAILED", "DELETE_COMPLETE")  # fmt: skip


class StackClient:
    """Signed JSON calls to the stacks API; every failure is one `error:` line."""

    def __init__(self, endpoint_url: str, region: str | None) -> None:
        session = _session(region)
        self.endpoint = endpoint_url.rstrip("/")
        self.region = session.region_name or DEFAULT_REGION
        self.credentials = session.get_credentials()

    def call(self, method: str, path: str, body: bytes | None = None, *, missing_ok: bool = False) -> Any:
        import urllib.error  # here: only commands that call the server load botocore and urllib's client
        import urllib.request

        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest

        request = AWSRequest(method=method, url=self.endpoint + path, data=body or b"",
                             headers={"content-type": "application/json"})  # fmt: skip
        SigV4Auth(self.credentials, "cloudformation", self.region).add_auth(request)
        prepared = urllib.request.Request(request.url, data=body if body else None, method=method,
                                          headers=dict(request.headers.items()))  # fmt: skip
        try:
            with urllib.request.urlopen(prepared, timeout=300) as response:
                return json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as exc:
            try:
                doc = json.loads(exc.read() or b"{}")
            except ValueError:
                doc = {}
            message = str(doc.get("message") or doc.get("Message") or exc.reason)
            if missing_ok and (exc.code == 404 or message.endswith("does not exist")):
                return None
            code = exc.headers.get("x-amzn-errortype", "") or "Error"
            fail(f"{code.split(':')[0]}: {message}")
        except (urllib.error.URLError, OSError) as exc:
            fail(f"cannot reach Nimbus at {self.endpoint}: is 'nimbus serve' running? ({exc})")

    def get_json(self, path: str) -> Any:
        return self.call("GET", path)

    def post_json(self, path: str, doc: Any) -> Any:
        return self.call("POST", path, json.dumps(doc).encode())


def event_row(event: dict[str, Any]) -> tuple[str, str, str, str]:
    return (event["ResourceStatus"], event["ResourceType"], event["LogicalResourceId"],
            event.get("ResourceStatusReason") or "-")  # fmt: skip


def _style(status: str) -> str:
    return "red" if "FAILED" in status or "ROLLBACK" in status else "green" if status.endswith("COMPLETE") else "yellow"


#: the longest status, UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS: the events' columns stay aligned
_STATUS_WIDTH = 44


def follow(client: StackClient, name: str, after: int, *, gone_ok: bool = False) -> str:
    """Print the stack's events as they come, until its operation ends; its final status."""
    out.print(f"{'ResourceStatus':<{_STATUS_WIDTH}} {'ResourceType':<36} {'LogicalResourceId':<32} "
              "ResourceStatusReason")  # fmt: skip
    out.print("-" * 142)
    while True:
        stack = client.call("GET", f"/_nimbus/stacks/{name}", missing_ok=gone_ok)  # before the events: none missed
        status = "DELETE_COMPLETE" if stack is None else str(stack["StackStatus"])
        page = client.get_json(f"/_nimbus/stacks/{name}/events?After={after}")
        for event in page["StackEvents"]:
            row = event_row(event)
            out.print(f"[{_style(row[0])}]{row[0]:<{_STATUS_WIDTH}}[/] {row[1]:<36} {row[2]:<32} {row[3]}",
                      soft_wrap=True)  # fmt: skip
        after = page["Next"]
        if status in TERMINAL:
            return status
        time.sleep(0.2)


def print_outputs(stack: dict[str, Any]) -> None:
    if not stack.get("Outputs"):
        return
    table = Table("Key", "Description", "Value", title="Outputs", title_justify="left")
    for output in stack["Outputs"]:
        table.add_row(output["OutputKey"], output.get("Description", ""), str(output["OutputValue"]))
    out.print(table)


@app.command("list")
def list_(endpoint_url: EndpointOpt = DEFAULT_ENDPOINT, region: RegionOpt = None) -> None:
    """List stacks with their status."""
    table = Table("Name", "Status", "Updated", "Reason")
    for s in StackClient(endpoint_url, region).get_json("/_nimbus/stacks")["StackSummaries"]:
        table.add_row(s["StackName"], s["StackStatus"], s["LastUpdatedTime"], s["StackStatusReason"])
    out.print(table)


@app.command()
def describe(name: NameArg, endpoint_url: EndpointOpt = DEFAULT_ENDPOINT, region: RegionOpt = None) -> None:
    """A stack: status, parameters (NoEcho ones masked), resources and outputs."""
    stack = StackClient(endpoint_url, region).get_json(f"/_nimbus/stacks/{name}")
    out.print(f"{stack['StackName']}: {stack['StackStatus']} {stack['StackStatusReason']}".rstrip(), soft_wrap=True)
    out.print(f"  id: {stack['StackId']}", soft_wrap=True)
    for p in stack["Parameters"]:
        out.print(f"  parameter {p['ParameterKey']} = {p['ParameterValue']}", soft_wrap=True)
    table = Table("LogicalResourceId", "Type", "PhysicalResourceId", "Status")
    for r in stack["Resources"]:
        table.add_row(r["LogicalResourceId"], r["ResourceType"], r["PhysicalResourceId"], r["ResourceStatus"])
    out.print(table)
    if stack["SkippedResources"]:
        out.print(f"  not deployed (unsupported types): {', '.join(stack['SkippedResources'])}")
    print_outputs(stack)


@app.command()
def outputs(name: NameArg, endpoint_url: EndpointOpt = DEFAULT_ENDPOINT, region: RegionOpt = None) -> None:
    """A stack's Outputs."""
    print_outputs(StackClient(endpoint_url, region).get_json(f"/_nimbus/stacks/{name}"))


@app.command()
def events(name: NameArg, endpoint_url: EndpointOpt = DEFAULT_ENDPOINT, region: RegionOpt = None) -> None:
    """A stack's events, oldest first."""
    page = StackClient(endpoint_url, region).get_json(f"/_nimbus/stacks/{name}/events")
    table = Table("Timestamp", "ResourceStatus", "ResourceType", "LogicalResourceId", "ResourceStatusReason")
    for event in page["StackEvents"]:
        table.add_row(event["Timestamp"], *event_row(event))
    out.print(table)


@app.command()
def delete(
    name: NameArg,
    no_wait: Annotated[bool, typer.Option("--no-wait", help="Return once the deletion started.")] = False,
    endpoint_url: EndpointOpt = DEFAULT_ENDPOINT,
    region: RegionOpt = None,
) -> None:
    """Delete a stack and every resource it made (dependents first)."""
    client = StackClient(endpoint_url, region)
    last = client.get_json(f"/_nimbus/stacks/{name}/events")["Next"]
    client.call("DELETE", f"/_nimbus/stacks/{name}")
    if no_wait:
        return
    status = follow(client, name, last, gone_ok=True)
    if status != "DELETE_COMPLETE":
        fail(f"stack {name} is {status}")
    out.print(f"Deleted stack {name}")
