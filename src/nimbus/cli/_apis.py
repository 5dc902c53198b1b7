"""`nimbus api create|get|list|delete`: HTTP APIs (API Gateway v2) whose routes invoke functions.

`create` does what SAM does for `HttpApi` events: an API, one AWS_PROXY integration (payload format 2.0) per
function, the routes, a stage that deploys automatically (`$default`, or the one `--stage` names), and for each
function the permission API Gateway needs to invoke it (principal `apigateway.amazonaws.com`, source ARN the API's
`execute-api` ARN). A create that fails half-way deletes the API it made. It prints the API's endpoint, then the
same endpoint by path on the server's own address, for clients that cannot resolve `*.localhost` names.
"""

from __future__ import annotations

import contextlib
from typing import Annotated, Any

import typer
from rich.table import Table

from nimbus.cli._client import DEFAULT_ENDPOINT, EndpointOpt, RegionOpt, api_errors, err, fail, make_client, out

app = typer.Typer(no_args_is_help=True, help="Create, show, list and delete HTTP APIs that route to functions.")

ApiIdArg = Annotated[str, typer.Argument(help="The API's id (10 characters, as 'nimbus api list' shows).")]
RouteOpt = Annotated[
    list[str],
    typer.Option("--route", "-r", help="A route and the function it invokes: 'GET /items/{id}=FUNCTION', "
                 "'ANY /{proxy+}=FUNCTION' or '$default=FUNCTION' (FUNCTION: a name, name:alias or ARN); "
                 "repeatable.", show_default=False),
]  # fmt: skip
StageOpt = Annotated[
    str,
    typer.Option("--stage", help="The stage to serve the routes on: $default (the API's root) or a name, which "
                 "becomes the first path segment of every request."),
]  # fmt: skip
FormatOpt = Annotated[
    str, typer.Option("--payload-format", help="The event format functions receive: 2.0 or 1.0.")
]
OriginOpt = Annotated[
    list[str] | None,
    typer.Option("--cors-origin", help="An origin allowed to call the API from a browser ('*': any); repeatable.",
                 show_default=False),
]  # fmt: skip


def parse_route(item: str) -> tuple[str, str]:
    """`'GET /items/{id}=fn'` -> ("GET /items/{id}", "fn"); the last `=` splits (route keys hold none)."""
    key, sep, function = item.rpartition("=")
    key, function = key.strip(), function.strip()
    if not sep or not key or not function:
        fail(f"--route expects 'METHOD /path=FUNCTION' or '$default=FUNCTION', got {item!r}", code=2)
    if key != "$default" and " " not in key:
        fail(f"--route {item!r}: the route key needs a method and a path, like 'GET {key}'", code=2)
    return key, function


def execute_api_arn(region: str, account: str, api_id: str) -> str:
    """The source ARN of API Gateway's invocations of a function through any route and stage of `api_id`."""
    return f"arn:aws:execute-api:{region}:{account}:{api_id}/*"


def path_form(endpoint_url: str, api_id: str, stage: str) -> str:
    """`http://127.0.0.1:9001/execute-api/<api-id>/[<stage>/]`: the API by path on the server's own address."""
    prefix = "" if stage == "$default" else f"{stage}/"
    return f"{endpoint_url.rstrip('/')}/execute-api/{api_id}/{prefix}"


def _function_arn(lam: Any, function: str) -> str:
    try:
        return str(lam.get_function(FunctionName=function)["Configuration"]["FunctionArn"])
    except lam.exceptions.ResourceNotFoundException:
        fail(f"function {function} not found: create it first ('nimbus function create'), or fix the --route")


def _permit(lam: Any, function: str, api_id: str, source_arn: str) -> None:
    """The resource-policy statement that lets this API invoke `function` (already there: fine)."""
    with contextlib.suppress(lam.exceptions.ResourceConflictException):
        lam.add_permission(
            FunctionName=function, StatementId=f"nimbus-api-{api_id}", Action="lambda:InvokeFunction",
            Principal="apigateway.amazonaws.com", SourceArn=source_arn,
        )  # fmt: skip


@app.command()
def create(
    name: Annotated[str, typer.Argument(help="The API's name.")],
    route: RouteOpt,
    stage: StageOpt = "$default",
    payload_format: FormatOpt = "2.0",
    cors_origin: OriginOpt = None,
    endpoint_url: EndpointOpt = DEFAULT_ENDPOINT,
    region: RegionOpt = None,
) -> None:
    """Create an HTTP API routing to functions; print its endpoint, then the same endpoint by path."""
    routes = [parse_route(item) for item in route]
    if payload_format not in ("1.0", "2.0"):
        fail(f"--payload-format expects 1.0 or 2.0, got {payload_format!r}", code=2)
    lam = make_client("lambda", endpoint_url, region)
    apigw = make_client("apigatewayv2", endpoint_url, region)
    with api_errors(endpoint_url):
        arns = {function: _function_arn(lam, function) for _, function in routes}
        params: dict[str, Any] = {"Name": name, "ProtocolType": "HTTP"}
        if cors_origin:
            params["CorsConfiguration"] = {"AllowOrigins": cors_origin, "AllowMethods": ["*"], "AllowHeaders": ["*"]}
        api = apigw.create_api(**params)
    api_id = api["ApiId"]
    try:
        with api_errors(endpoint_url):
            targets: dict[str, str] = {}
            for function, arn in arns.items():
                integration = apigw.create_integration(
                    ApiId=api_id, IntegrationType="AWS_PROXY", IntegrationUri=arn, PayloadFormatVersion=payload_format,
                )  # fmt: skip
                targets[function] = f"integrations/{integration['IntegrationId']}"
            for key, function in routes:
                apigw.create_route(ApiId=api_id, RouteKey=key, Target=targets[function])
            apigw.create_stage(ApiId=api_id, StageName=stage, AutoDeploy=True)
    except typer.Exit:
        with api_errors(endpoint_url):
            apigw.delete_api(ApiId=api_id)
        err.print(f"deleted the half-made API {api_id}")
        raise
    account = arns[routes[0][1]].split(":")[4]
    source_arn = execute_api_arn(apigw.meta.region_name, account, api_id)
    for function in arns:
        try:
            with api_errors(endpoint_url):
                _permit(lam, function, api_id, source_arn)
        except typer.Exit:
            err.print(
                f"{function} has no permission for this API, so its routes answer 500: add it with 'aws lambda "
                f"add-permission --function-name {function} --statement-id nimbus-api-{api_id} --action "
                f"lambda:InvokeFunction --principal apigateway.amazonaws.com --source-arn {source_arn}'"
            )
    prefix = "" if stage == "$default" else f"/{stage}"
    out.print(f"{api['ApiEndpoint']}{prefix}/", soft_wrap=True)
    out.print(path_form(endpoint_url, api_id, stage), soft_wrap=True)
    for key, function in routes:
        err.print(f"  {key} -> {function}")


def _not_found(api_id: str) -> None:
    fail(f"no HTTP API {api_id}: list them with 'nimbus api list'")


@app.command()
def get(api_id: ApiIdArg, endpoint_url: EndpointOpt = DEFAULT_ENDPOINT, region: RegionOpt = None) -> None:
    """Show an API: its endpoints, stages and routes with the functions they invoke."""
    apigw = make_client("apigatewayv2", endpoint_url, region)
    with api_errors(endpoint_url):
        try:
            api = apigw.get_api(ApiId=api_id)
        except apigw.exceptions.NotFoundException:
            _not_found(api_id)
        routes = [r for page in apigw.get_paginator("get_routes").paginate(ApiId=api_id) for r in page["Items"]]
        integrations = {
            i["IntegrationId"]: i
            for page in apigw.get_paginator("get_integrations").paginate(ApiId=api_id) for i in page["Items"]
        }  # fmt: skip
        stages = [s for page in apigw.get_paginator("get_stages").paginate(ApiId=api_id) for s in page["Items"]]
    out.print(f"{api['Name']} ({api_id})")
    for s in stages or [{"StageName": "$default"}]:
        prefix = "" if s["StageName"] == "$default" else f"/{s['StageName']}"
        found = "" if stages else "  (no stage yet: requests answer 404 until one is created)"
        out.print(f"  {api['ApiEndpoint']}{prefix}/{found}", soft_wrap=True)
        out.print(f"  {path_form(endpoint_url, api_id, s['StageName'])}", soft_wrap=True)
    table = Table("Route", "Function", "Payload", "Auth")
    for r in sorted(routes, key=lambda r: r["RouteKey"]):
        integration = integrations.get(str(r.get("Target", "")).partition("/")[2], {})
        function = str(integration.get("IntegrationUri", "-")).split(":function:", 1)[-1].removesuffix("/invocations")
        table.add_row(r["RouteKey"], function, str(integration.get("PayloadFormatVersion", "-")),
                      str(r.get("AuthorizationType", "NONE")))  # fmt: skip
    out.print(table)


@app.command("list")
def list_(endpoint_url: EndpointOpt = DEFAULT_ENDPOINT, region: RegionOpt = None) -> None:
    """List the HTTP APIs (every page of GetApis)."""
    with api_errors(endpoint_url):
        pages = make_client("apigatewayv2", endpoint_url, region).get_paginator("get_apis")
        apis = [a for page in pages.paginate() for a in page.get("Items", [])]
    if not apis:
        out.print("no HTTP APIs: create one with 'nimbus api create NAME --route \"GET /=FUNCTION\"'")
        return
    table = Table("Id", "Name", "Endpoint", "Created")
    for a in apis:
        table.add_row(a["ApiId"], a["Name"], a["ApiEndpoint"], a["CreatedDate"].strftime("%Y-%m-%d %H:%M:%S"))
    out.print(table)


@app.command()
def delete(api_id: ApiIdArg, endpoint_url: EndpointOpt = DEFAULT_ENDPOINT, region: RegionOpt = None) -> None:
    """Delete an API with its routes, integrations and stages (the functions' permissions stay, as on AWS)."""
    apigw = make_client("apigatewayv2", endpoint_url, region)
    with api_errors(endpoint_url):
        try:
            apigw.delete_api(ApiId=api_id)
        except apigw.exceptions.NotFoundException:
            _not_found(api_id)
    out.print(f"deleted HTTP API {api_id}")
