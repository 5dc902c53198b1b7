"""`nimbus mapping create|list|update|delete`: event source mappings that feed a function from a built-in queue."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table

from nimbus.cli._client import DEFAULT_ENDPOINT, EndpointOpt, RegionOpt, api_errors, fail, make_client, out

app = typer.Typer(no_args_is_help=True, help="Create, list, update and delete queue event source mappings.")

UuidArg = Annotated[str, typer.Argument(help="The mapping's UUID.")]
BatchOpt = Annotated[
    int | None, typer.Option("--batch-size", help="Messages per invocation (1-10000).", show_default=False)
]
WindowOpt = Annotated[
    int | None,
    typer.Option("--window", help="MaximumBatchingWindowInSeconds: gather a batch this long (0-300).",
                 show_default=False),
]  # fmt: skip
ConcurrencyOpt = Annotated[
    int | None,
    typer.Option("--max-concurrency", help="ScalingConfig.MaximumConcurrency (2-1000).", show_default=False),
]
FilterOpt = Annotated[
    list[str] | None,
    typer.Option("--filter", help="A filter pattern (JSON), e.g. '{\"body\": {\"kind\": [\"order\"]}}'; repeatable.",
                 show_default=False),
]  # fmt: skip


def queue_arn(sqs: Any, queue: str) -> str:
    """An SQS queue ARN as given, or the ARN of the queue a name or URL names (asked of the server)."""
    if queue.startswith("arn:"):
        return queue
    url = queue if "/" in queue else sqs.get_queue_url(QueueName=queue)["QueueUrl"]
    return str(sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"])


def _show(verb: str, mapping: dict[str, Any]) -> None:
    queue = str(mapping.get("EventSourceArn", "")).rsplit(":", 1)[-1]
    function = str(mapping.get("FunctionArn", "")).split(":function:", 1)[-1]
    out.print(f"{verb} mapping {mapping.get('UUID', '')}: {queue} -> {function} ({mapping.get('State', '')})")


def _settings(batch_size: int | None, window: int | None, concurrency: int | None) -> dict[str, Any]:
    params: dict[str, Any] = {}
    if batch_size is not None:
        params["BatchSize"] = batch_size
    if window is not None:
        params["MaximumBatchingWindowInSeconds"] = window
    if concurrency is not None:
        params["ScalingConfig"] = {"MaximumConcurrency": concurrency}
    return params


@app.command()
def create(
    function: Annotated[str, typer.Argument(help="Function name or ARN (with a qualifier: that version or alias).")],
    queue: Annotated[str, typer.Option("--queue", help="The queue: its name, URL or ARN.")],
    batch_size: BatchOpt = None,
    window: WindowOpt = None,
    max_concurrency: ConcurrencyOpt = None,
    filter_: FilterOpt = None,
    report_failures: Annotated[
        bool, typer.Option("--report-failures", help="FunctionResponseTypes ReportBatchItemFailures.")
    ] = False,
    disabled: Annotated[bool, typer.Option("--disabled", help="Create it disabled (no polling).")] = False,
    endpoint_url: EndpointOpt = DEFAULT_ENDPOINT,
    region: RegionOpt = None,
) -> None:
    """Feed a function from a queue: batches of messages, deleted once the function succeeds."""
    params = _settings(batch_size, window, max_concurrency)
    if filter_:
        params["FilterCriteria"] = {"Filters": [{"Pattern": p} for p in filter_]}
    if report_failures:
        params["FunctionResponseTypes"] = ["ReportBatchItemFailures"]
    if disabled:
        params["Enabled"] = False
    with api_errors(endpoint_url):
        arn = queue_arn(make_client("sqs", endpoint_url, region), queue)
        resp = make_client("lambda", endpoint_url, region).create_event_source_mapping(
            EventSourceArn=arn, FunctionName=function, **params
        )
    _show("created", resp)


@app.command("list")
def list_(
    function: Annotated[
        str | None, typer.Option("--function", help="Only this function's.", show_default=False)
    ] = None,
    queue: Annotated[str | None, typer.Option("--queue", help="Only this queue's.", show_default=False)] = None,
    endpoint_url: EndpointOpt = DEFAULT_ENDPOINT,
    region: RegionOpt = None,
) -> None:
    """List mappings (every page of ListEventSourceMappings)."""
    params: dict[str, Any] = {}
    with api_errors(endpoint_url):
        if function:
            params["FunctionName"] = function
        if queue:
            params["EventSourceArn"] = queue_arn(make_client("sqs", endpoint_url, region), queue)
        pages = make_client("lambda", endpoint_url, region).get_paginator("list_event_source_mappings")
        mappings = [m for page in pages.paginate(**params) for m in page.get("EventSourceMappings", [])]
    if not mappings:
        out.print("no event source mappings")
        return
    table = Table("UUID", "Queue", "Function", "State", "Batch", "Window", "Filters")
    for m in mappings:
        table.add_row(
            str(m.get("UUID", "")),
            str(m.get("EventSourceArn", "")).rsplit(":", 1)[-1],
            str(m.get("FunctionArn", "")).split(":function:", 1)[-1],
            str(m.get("State", "")),
            str(m.get("BatchSize", "")),
            str(m.get("MaximumBatchingWindowInSeconds", "")),
            str(len((m.get("FilterCriteria") or {}).get("Filters", []))),
        )
    out.print(table)


@app.command()
def update(
    uuid: UuidArg,
    batch_size: BatchOpt = None,
    window: WindowOpt = None,
    max_concurrency: ConcurrencyOpt = None,
    filter_: FilterOpt = None,
    no_filters: Annotated[bool, typer.Option("--no-filters", help="Remove every filter.")] = False,
    report_failures: Annotated[
        bool | None,
        typer.Option(
            "--report-failures/--no-report-failures",
            help="FunctionResponseTypes ReportBatchItemFailures.",
            show_default=False,
        ),
    ] = None,
    enabled: Annotated[
        bool | None, typer.Option("--enable/--disable", help="Resume or pause polling.", show_default=False)
    ] = None,
    function: Annotated[
        str | None, typer.Option("--function", help="Feed another function.", show_default=False)
    ] = None,
    endpoint_url: EndpointOpt = DEFAULT_ENDPOINT,
    region: RegionOpt = None,
) -> None:
    """Change a mapping's settings, enable or disable it, or point it at another function."""
    if filter_ and no_filters:
        fail("--filter and --no-filters cannot be combined", code=2)
    params = _settings(batch_size, window, max_concurrency)
    if filter_ or no_filters:
        params["FilterCriteria"] = {"Filters": [{"Pattern": p} for p in filter_ or []]}
    if report_failures is not None:
        params["FunctionResponseTypes"] = ["ReportBatchItemFailures"] if report_failures else []
    if enabled is not None:
        params["Enabled"] = enabled
    if function is not None:
        params["FunctionName"] = function
    if not params:
        fail("nothing to update: pass a setting, --enable/--disable or --function", code=2)
    with api_errors(endpoint_url):
        resp = make_client("lambda", endpoint_url, region).update_event_source_mapping(UUID=uuid, **params)
    _show("updated", resp)


@app.command()
def delete(uuid: UuidArg, endpoint_url: EndpointOpt = DEFAULT_ENDPOINT, region: RegionOpt = None) -> None:
    """Delete a mapping: its pollers stop; messages stay in the queue."""
    with api_errors(endpoint_url):
        resp = make_client("lambda", endpoint_url, region).delete_event_source_mapping(UUID=uuid)
    _show("deleted", resp)
