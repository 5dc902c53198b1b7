"""`nimbus queue create|list|send|receive|purge|delete`: the built-in queues through boto3's `sqs` client.

Queues are named by name (or by URL, as SQS names them); the CLI looks the URL up with GetQueueUrl."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.table import Table

from nimbus.cli._client import (
    DEFAULT_ENDPOINT,
    EndpointOpt,
    RegionOpt,
    api_errors,
    key_values,
    make_client,
    out,
    string_attributes,
)

app = typer.Typer(help="Built-in queues (SQS-compatible): create, list, send, receive, purge, delete.",
                  no_args_is_help=True)  # fmt: skip

NameArg = Annotated[str, typer.Argument(help="Queue name (or queue URL).")]


def _url(client: Any, name: str) -> str:
    return name if "/" in name else str(client.get_queue_url(QueueName=name)["QueueUrl"])


@app.command()
def create(
    name: Annotated[str, typer.Argument(help="Queue name: 1-80 of A-Z a-z 0-9 - _.")],
    attribute: Annotated[
        list[str] | None, typer.Option("--attribute", "-a", help="NAME=VALUE, e.g. VisibilityTimeout=60 (repeatable).")
    ] = None,
    dead_letter: Annotated[str | None, typer.Option("--dead-letter", help="Dead-letter queue name or ARN.")] = None,
    max_receives: Annotated[int, typer.Option("--max-receives", help="Receives before dead-lettering.")] = 5,
    endpoint_url: EndpointOpt = DEFAULT_ENDPOINT,
    region: RegionOpt = None,
) -> None:
    """Create a queue (the same name and attributes again answers the same URL); prints its URL."""
    attrs = key_values(attribute or [], "--attribute")
    with api_errors(endpoint_url):
        client = make_client("sqs", endpoint_url, region)
        if dead_letter:
            arn = dead_letter
            if not arn.startswith("arn:"):
                dlq = _url(client, dead_letter)
                arn = client.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
            attrs["RedrivePolicy"] = json.dumps({"deadLetterTargetArn": arn, "maxReceiveCount": max_receives})
        url = client.create_queue(QueueName=name, Attributes=attrs)["QueueUrl"]
    out.print(url, soft_wrap=True)


@app.command("list")
def list_(
    prefix: Annotated[str, typer.Option("--prefix", help="Only queues whose name starts with this.")] = "",
    endpoint_url: EndpointOpt = DEFAULT_ENDPOINT,
    region: RegionOpt = None,
) -> None:
    """List queues with their depth (visible, in flight, delayed)."""
    table = Table("Name", "Visible", "In flight", "Delayed", "URL")
    with api_errors(endpoint_url):
        client = make_client("sqs", endpoint_url, region)
        pages = client.get_paginator("list_queues").paginate(QueueNamePrefix=prefix, PaginationConfig={"PageSize": 100})
        for url in [u for page in pages for u in page.get("QueueUrls", [])]:
            a = client.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
            table.add_row(url.rsplit("/", 1)[-1], a.get("ApproximateNumberOfMessages", ""),
                          a.get("ApproximateNumberOfMessagesNotVisible", ""),
                          a.get("ApproximateNumberOfMessagesDelayed", ""), url)  # fmt: skip
    out.print(table)


@app.command()
def send(
    name: NameArg,
    body: Annotated[str, typer.Argument(help="Message body (text, up to 256 KB).")],
    attribute: Annotated[
        list[str] | None, typer.Option("--attribute", "-a", help="NAME=VALUE string message attribute (repeatable).")
    ] = None,
    delay: Annotated[int | None, typer.Option("--delay", help="Delay in seconds (0-900).")] = None,
    endpoint_url: EndpointOpt = DEFAULT_ENDPOINT,
    region: RegionOpt = None,
) -> None:
    """Send one message; prints its message id."""
    params: dict[str, Any] = {"MessageBody": body}
    attrs = string_attributes(attribute, "--attribute")
    if attrs:
        params["MessageAttributes"] = attrs
    if delay is not None:
        params["DelaySeconds"] = delay
    with api_errors(endpoint_url):
        client = make_client("sqs", endpoint_url, region)
        resp = client.send_message(QueueUrl=_url(client, name), **params)
    out.print(resp["MessageId"])


@app.command()
def receive(
    name: NameArg,
    count: Annotated[int, typer.Option("--max", help="Messages to receive (1-10).")] = 1,
    wait: Annotated[int, typer.Option("--wait", help="Long-poll up to this many seconds (0-20).")] = 0,
    visibility: Annotated[int | None, typer.Option("--visibility", help="Visibility timeout (s).")] = None,
    delete: Annotated[bool, typer.Option("--delete", help="Delete the messages once received.")] = False,
    endpoint_url: EndpointOpt = DEFAULT_ENDPOINT,
    region: RegionOpt = None,
) -> None:
    """Receive messages and print each as one JSON line (id, body, attributes, receipt handle)."""
    params: dict[str, Any] = {"MaxNumberOfMessages": count, "WaitTimeSeconds": wait,
                              "MessageAttributeNames": ["All"], "MessageSystemAttributeNames": ["All"]}  # fmt: skip
    if visibility is not None:
        params["VisibilityTimeout"] = visibility
    with api_errors(endpoint_url):
        client = make_client("sqs", endpoint_url, region)
        url = _url(client, name)
        messages = client.receive_message(QueueUrl=url, **params).get("Messages", [])
        for m in messages:
            if delete:
                client.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
    for m in messages:
        attrs = {k: v.get("StringValue", "<binary>") for k, v in (m.get("MessageAttributes") or {}).items()}
        line = {"MessageId": m["MessageId"], "Body": m["Body"], "MessageAttributes": attrs,
                "Attributes": m.get("Attributes", {}), "ReceiptHandle": m["ReceiptHandle"]}  # fmt: skip
        typer.echo(json.dumps(line))


@app.command()
def purge(name: NameArg, endpoint_url: EndpointOpt = DEFAULT_ENDPOINT, region: RegionOpt = None) -> None:
    """Delete every message in the queue."""
    with api_errors(endpoint_url):
        client = make_client("sqs", endpoint_url, region)
        client.purge_queue(QueueUrl=_url(client, name))
    out.print(f"purged {name}")


@app.command()
def delete(name: NameArg, endpoint_url: EndpointOpt = DEFAULT_ENDPOINT, region: RegionOpt = None) -> None:
    """Delete the queue and its messages."""
    with api_errors(endpoint_url):
        client = make_client("sqs", endpoint_url, region)
        client.delete_queue(QueueUrl=_url(client, name))
    out.print(f"deleted {name}")
