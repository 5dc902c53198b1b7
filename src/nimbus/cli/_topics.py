"""`nimbus topic create|list|publish|subscribe`: SNS topics through boto3's `sns` client.

Topics are named by name or ARN (a name is looked up with ListTopics). Subscribing a function also adds the
permission SNS needs to invoke it (`lambda:InvokeFunction` for `sns.amazonaws.com` from the topic's ARN), as the
AWS console does; a queue or an http(s) URL needs nothing more."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table

from nimbus.cli._client import (
    DEFAULT_ENDPOINT,
    EndpointOpt,
    RegionOpt,
    api_errors,
    err,
    fail,
    key_values,
    make_client,
    out,
    string_attributes,
)

app = typer.Typer(help="Topics (SNS-compatible): create, list, publish, subscribe.", no_args_is_help=True)

TopicArg = Annotated[str, typer.Argument(help="Topic name (or topic ARN).")]


def _topic_arn(client: Any, topic: str) -> str:
    """The ARN of the topic `topic` names (an ARN is taken as it is)."""
    if topic.startswith("arn:"):
        return topic
    for page in client.get_paginator("list_topics").paginate():
        for t in page.get("Topics", []):
            if t["TopicArn"].rsplit(":", 1)[-1] == topic:
                return str(t["TopicArn"])
    fail(f"no topic named {topic!r}: create it with 'nimbus topic create {topic}', or list them with "
         "'nimbus topic list'")  # fmt: skip


@app.command()
def create(
    name: Annotated[str, typer.Argument(help="Topic name: 1-256 of A-Z a-z 0-9 - _.")],
    attribute: Annotated[
        list[str] | None, typer.Option("--attribute", "-a", help="NAME=VALUE, e.g. DisplayName=Orders (repeatable).")
    ] = None,
    endpoint_url: EndpointOpt = DEFAULT_ENDPOINT,
    region: RegionOpt = None,
) -> None:
    """Create a topic (the same name again answers the same ARN); prints its ARN."""
    attrs = key_values(attribute or [], "--attribute")
    with api_errors(endpoint_url):
        arn = make_client("sns", endpoint_url, region).create_topic(Name=name, Attributes=attrs)["TopicArn"]
    out.print(arn, soft_wrap=True)


@app.command("list")
def list_(endpoint_url: EndpointOpt = DEFAULT_ENDPOINT, region: RegionOpt = None) -> None:
    """List topics with their subscription counts."""
    table = Table("Name", "Confirmed", "Pending", "ARN")
    with api_errors(endpoint_url):
        client = make_client("sns", endpoint_url, region)
        for page in client.get_paginator("list_topics").paginate():
            for t in page.get("Topics", []):
                a = client.get_topic_attributes(TopicArn=t["TopicArn"])["Attributes"]
                table.add_row(t["TopicArn"].rsplit(":", 1)[-1], a.get("SubscriptionsConfirmed", ""),
                              a.get("SubscriptionsPending", ""), t["TopicArn"])  # fmt: skip
    out.print(table)


@app.command()
def publish(
    topic: TopicArg,
    message: Annotated[str, typer.Argument(help="The message (text, up to 256 KB with its attributes).")],
    subject: Annotated[str | None, typer.Option("--subject", help="Subject (up to 100 characters).")] = None,
    attribute: Annotated[
        list[str] | None, typer.Option("--attribute", "-a", help="NAME=VALUE string message attribute (repeatable).")
    ] = None,
    endpoint_url: EndpointOpt = DEFAULT_ENDPOINT,
    region: RegionOpt = None,
) -> None:
    """Publish one message to every subscription whose filter policy it passes; prints its message id."""
    params: dict[str, Any] = {"Message": message}
    if subject is not None:
        params["Subject"] = subject
    attrs = string_attributes(attribute, "--attribute")
    if attrs:
        params["MessageAttributes"] = attrs
    with api_errors(endpoint_url):
        client = make_client("sns", endpoint_url, region)
        resp = client.publish(TopicArn=_topic_arn(client, topic), **params)
    out.print(resp["MessageId"])


@app.command()
def subscribe(
    topic: TopicArg,
    function: Annotated[
        str | None, typer.Option("--function", help="Function name or ARN (adds its permission).")
    ] = None,
    queue: Annotated[str | None, typer.Option("--queue", help="Built-in queue name, URL or ARN.")] = None,
    url: Annotated[
        str | None, typer.Option("--url", help="http(s) endpoint (it must confirm the subscription).")
    ] = None,
    filter_policy: Annotated[str | None, typer.Option("--filter-policy", help="Filter policy (JSON).")] = None,
    body_scope: Annotated[bool, typer.Option("--filter-body", help="Apply the filter policy to the body.")] = False,
    raw: Annotated[bool, typer.Option("--raw", help="Raw message delivery (queues and URLs).")] = False,
    endpoint_url: EndpointOpt = DEFAULT_ENDPOINT,
    region: RegionOpt = None,
) -> None:
    """Subscribe a function, a queue or a URL to the topic; prints the subscription ARN."""
    if sum(x is not None for x in (function, queue, url)) != 1:
        fail("give exactly one of --function, --queue or --url")
    attrs: dict[str, str] = {}
    if filter_policy is not None:
        attrs["FilterPolicy"] = filter_policy
        if body_scope:
            attrs["FilterPolicyScope"] = "MessageBody"
    if raw:
        attrs["RawMessageDelivery"] = "true"
    with api_errors(endpoint_url):
        client = make_client("sns", endpoint_url, region)
        arn = _topic_arn(client, topic)
        if function is not None:
            protocol, endpoint = "lambda", _allow_function(endpoint_url, region, function, arn)
        elif queue is not None:
            protocol, endpoint = "sqs", _queue_arn(endpoint_url, region, queue)
        else:
            assert url is not None
            protocol, endpoint = url.split(":", 1)[0].lower(), url
        sub = client.subscribe(TopicArn=arn, Protocol=protocol, Endpoint=endpoint, Attributes=attrs,
                               ReturnSubscriptionArn=True)["SubscriptionArn"]  # fmt: skip
    out.print(sub, soft_wrap=True)
    if url is not None:
        err.print("pending confirmation: the endpoint was sent a SubscriptionConfirmation; it confirms by visiting "
                  "its SubscribeURL")  # fmt: skip


def _allow_function(endpoint_url: str, region: str | None, function: str, topic_arn: str) -> str:
    """The function's ARN, after adding the permission for SNS to invoke it from this topic (kept if there)."""
    lam = make_client("lambda", endpoint_url, region)
    name, _, qualifier = function.rpartition(":function:")[2].partition(":") if function.startswith("arn:") else (
        function, "", "")  # fmt: skip
    params = {"FunctionName": name, **({"Qualifier": qualifier} if qualifier else {})}
    arn = str(lam.get_function_configuration(**params)["FunctionArn"])
    statement = ("sns-" + topic_arn.rsplit(":", 1)[-1])[:100]
    try:
        lam.add_permission(**params, StatementId=statement, Action="lambda:InvokeFunction",
                           Principal="sns.amazonaws.com", SourceArn=topic_arn)  # fmt: skip
        err.print(f"added permission {statement}: sns.amazonaws.com may invoke {name} from {topic_arn}")
    except lam.exceptions.ResourceConflictException:
        pass  # a statement of that id is there already
    return arn


def _queue_arn(endpoint_url: str, region: str | None, queue: str) -> str:
    if queue.startswith("arn:"):
        return queue
    sqs = make_client("sqs", endpoint_url, region)
    queue_url = queue if "/" in queue else sqs.get_queue_url(QueueName=queue)["QueueUrl"]
    return str(sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"])
