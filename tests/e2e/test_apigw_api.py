"""The API Gateway v2 wire API (HTTP APIs) over the real server, driven by boto3's `apigatewayv2` client and the AWS
CLI: every operation Nimbus serves, API Gateway's error names and statuses, and the limits at and one past."""

from __future__ import annotations

import json
import signal
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from conftest import ACCESS_KEY, REGION, SECRET_KEY, Server, aws_cli, start_server

FN = "arn:aws:lambda:us-east-1:000000000000:function:web"
INVOCATIONS = f"arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/{FN}/invocations"

OPENAPI_YAML = f"""
openapi: "3.0.1"
info:
  title: shop
  version: "1.0"
paths:
  /items/{{id}}:
    get:
      operationId: getItem
      x-amazon-apigateway-integration:
        type: aws_proxy
        httpMethod: POST
        uri: {INVOCATIONS}
        payloadFormatVersion: "2.0"
        timeoutInMillis: 5000
  /items:
    post:
      x-amazon-apigateway-integration:
        type: aws_proxy
        httpMethod: POST
        uri: {FN}
        payloadFormatVersion: "1.0"
  $default:
    x-amazon-apigateway-any-method:
      x-amazon-apigateway-integration:
        type: aws_proxy
        httpMethod: POST
        uri: {FN}:live
        payloadFormatVersion: "2.0"
x-amazon-apigateway-cors:
  allowOrigins: ["https://example.com"]
  allowMethods: ["GET", "POST"]
  maxAge: 600
"""


@pytest.fixture
def apigw(server: Server) -> Any:
    return server.client("apigatewayv2")


@pytest.fixture
def unchecked(server: Server) -> Any:
    """A client that sends what botocore's own checks would stop (a TimeoutInMillis under its model's minimum)."""
    return boto3.client(
        "apigatewayv2", endpoint_url=server.endpoint, region_name=REGION, aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY, config=Config(parameter_validation=False, retries={"max_attempts": 0}),
    )  # fmt: skip


def error_of(exc: pytest.ExceptionInfo[ClientError]) -> tuple[str, int]:
    resp = exc.value.response
    return resp["Error"]["Code"], resp["ResponseMetadata"]["HTTPStatusCode"]


def test_quick_create_and_the_api_crud(apigw: Any, server: Server) -> None:
    api = apigw.create_api(Name="quick", ProtocolType="HTTP", Target=FN)
    api_id = api["ApiId"]
    assert api["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert api["ApiEndpoint"] == f"http://{api_id}.execute-api.us-east-1.localhost:{server.port}"
    assert api["RouteSelectionExpression"] == "$request.method $request.path"
    assert api["CreatedDate"].year >= 2024
    (route,) = apigw.get_routes(ApiId=api_id)["Items"]
    (integration,) = apigw.get_integrations(ApiId=api_id)["Items"]
    (stage,) = apigw.get_stages(ApiId=api_id)["Items"]
    assert route["RouteKey"] == "$default"
    assert route["Target"] == f"integrations/{integration['IntegrationId']}"
    assert (integration["IntegrationType"], integration["IntegrationUri"]) == ("AWS_PROXY", FN)
    assert (integration["PayloadFormatVersion"], integration["TimeoutInMillis"]) == ("2.0", 30000)
    assert (stage["StageName"], stage["AutoDeploy"]) == ("$default", True)

    cors = {"AllowOrigins": ["https://a.example"], "AllowMethods": ["GET"], "MaxAge": 300}
    updated = apigw.update_api(ApiId=api_id, Name="renamed", CorsConfiguration=cors, Description="d")
    assert (updated["Name"], updated["CorsConfiguration"], updated["Description"]) == ("renamed", cors, "d")
    assert apigw.get_api(ApiId=api_id)["Name"] == "renamed"
    assert api_id in [a["ApiId"] for a in apigw.get_apis()["Items"]]
    apigw.delete_cors_configuration(ApiId=api_id)
    assert "CorsConfiguration" not in apigw.get_api(ApiId=api_id)
    apigw.delete_api(ApiId=api_id)
    with pytest.raises(ClientError) as exc:
        apigw.get_api(ApiId=api_id)
    assert error_of(exc) == ("NotFoundException", 404)
    assert exc.value.response["Error"]["Message"] == f"Invalid API identifier specified 000000000000:{api_id}"


def test_routes_integrations_stages_and_deployments(apigw: Any) -> None:
    api_id = apigw.create_api(Name="crud", ProtocolType="HTTP")["ApiId"]
    integ = apigw.create_integration(
        ApiId=api_id, IntegrationType="AWS_PROXY", IntegrationUri=INVOCATIONS, PayloadFormatVersion="1.0",
        TimeoutInMillis=50,
    )  # fmt: skip
    assert integ["ResponseMetadata"]["HTTPStatusCode"] == 201
    integ_id = integ["IntegrationId"]
    assert apigw.get_integration(ApiId=api_id, IntegrationId=integ_id)["IntegrationUri"] == INVOCATIONS
    assert apigw.update_integration(ApiId=api_id, IntegrationId=integ_id, TimeoutInMillis=30000)[
        "TimeoutInMillis"
    ] == 30000
    route = apigw.create_route(ApiId=api_id, RouteKey="GET /items/{id}", Target=f"integrations/{integ_id}")
    route_id = route["RouteId"]
    assert apigw.get_route(ApiId=api_id, RouteId=route_id)["RouteKey"] == "GET /items/{id}"
    changed = apigw.update_route(ApiId=api_id, RouteId=route_id, RouteKey="ANY /{proxy+}", AuthorizationType="AWS_IAM")
    assert (changed["RouteKey"], changed["AuthorizationType"]) == ("ANY /{proxy+}", "AWS_IAM")
    with pytest.raises(ClientError) as exc:
        apigw.create_route(ApiId=api_id, RouteKey="ANY /{proxy+}")
    assert error_of(exc) == ("ConflictException", 409)
    with pytest.raises(ClientError) as exc:
        apigw.delete_integration(ApiId=api_id, IntegrationId=integ_id)
    assert error_of(exc) == ("ConflictException", 409)

    stage = apigw.create_stage(ApiId=api_id, StageName="prod", StageVariables={"color": "blue"})
    assert (stage["StageName"], stage["StageVariables"], stage["AutoDeploy"]) == ("prod", {"color": "blue"}, False)
    with pytest.raises(ClientError) as exc:
        apigw.create_stage(ApiId=api_id, StageName="prod")
    assert error_of(exc) == ("ConflictException", 409)
    deployment = apigw.create_deployment(ApiId=api_id, StageName="prod", Description="first")
    assert deployment["DeploymentStatus"] == "DEPLOYED"
    assert apigw.get_stage(ApiId=api_id, StageName="prod")["DeploymentId"] == deployment["DeploymentId"]
    assert [d["DeploymentId"] for d in apigw.get_deployments(ApiId=api_id)["Items"]] == [deployment["DeploymentId"]]
    assert apigw.get_deployment(ApiId=api_id, DeploymentId=deployment["DeploymentId"])["Description"] == "first"
    assert apigw.update_stage(ApiId=api_id, StageName="prod", AutoDeploy=True)["AutoDeploy"] is True
    apigw.delete_stage(ApiId=api_id, StageName="prod")
    apigw.delete_deployment(ApiId=api_id, DeploymentId=deployment["DeploymentId"])
    apigw.delete_route(ApiId=api_id, RouteId=route_id)
    apigw.delete_integration(ApiId=api_id, IntegrationId=integ_id)
    assert apigw.get_routes(ApiId=api_id)["Items"] == []
    assert apigw.get_integrations(ApiId=api_id)["Items"] == []
    assert apigw.get_stages(ApiId=api_id)["Items"] == []
    for call, kwargs in [
        (apigw.get_route, {"RouteId": "nope"}), (apigw.get_integration, {"IntegrationId": "nope"}),
        (apigw.get_stage, {"StageName": "nope"}), (apigw.get_deployment, {"DeploymentId": "nope"}),
        (apigw.delete_route, {"RouteId": "nope"}),
    ]:  # fmt: skip
        with pytest.raises(ClientError) as exc:
            call(ApiId=api_id, **kwargs)
        assert error_of(exc) == ("NotFoundException", 404)
    apigw.delete_api(ApiId=api_id)


@pytest.mark.parametrize(
    ("call", "kwargs", "words"),
    [
        ("create_api", {"Name": "w", "ProtocolType": "WEBSOCKET", "RouteSelectionExpression": "$request.body.a"},
         "HTTP APIs only"),
        ("create_api", {"Name": "n" * 129, "ProtocolType": "HTTP"}, "length less than or equal to 128"),
        ("create_api", {"Name": "w", "ProtocolType": "HTTP", "Target": "${LambdaArn}"}, "unresolved"),
        ("create_route", {"RouteKey": "GET /{proxy+}/x"}, "greedy path variable"),
        ("create_route", {"RouteKey": "FETCH /x"}, "Invalid route key"),
        ("create_route", {"RouteKey": "GET /x", "Target": "integrations/none"}, "Invalid target"),
        ("create_integration", {"IntegrationType": "HTTP_PROXY", "IntegrationUri": "https://example.com",
                                "PayloadFormatVersion": "1.0"}, "AWS_PROXY"),
        ("create_integration", {"IntegrationType": "AWS_PROXY", "IntegrationUri": FN}, "PayloadFormatVersion"),
        ("create_integration", {"IntegrationType": "AWS_PROXY", "IntegrationUri": FN, "PayloadFormatVersion": "2.0",
                                "TimeoutInMillis": 30001}, "less than or equal to 30000"),
        ("create_integration", {"IntegrationType": "AWS_PROXY", "IntegrationUri": FN, "PayloadFormatVersion": "2.0",
                                "TimeoutInMillis": 50 - 1}, "greater than or equal to 50"),
        ("create_stage", {"StageName": "s" * 129}, "length less than or equal to 128"),
        ("create_stage", {"StageName": "a b"}, "Invalid stage name"),
        ("get_routes", {"MaxResults": "0"}, "MaxResults"),
        ("get_routes", {"MaxResults": "501"}, "from 1 to 500"),
        ("get_routes", {"NextToken": "x"}, "NextToken"),
    ],
)  # fmt: skip
def test_bad_requests_are_api_gateways_bad_request(
    apigw: Any, unchecked: Any, call: str, kwargs: dict[str, Any], words: str
) -> None:
    api_id = apigw.create_api(Name="bad", ProtocolType="HTTP")["ApiId"]
    if call != "create_api":
        kwargs = {"ApiId": api_id, **kwargs}
    try:
        with pytest.raises(ClientError) as exc:
            getattr(unchecked, call)(**kwargs)
        assert error_of(exc) == ("BadRequestException", 400)
        assert words in exc.value.response["Error"]["Message"]
    finally:
        apigw.delete_api(ApiId=api_id)


def test_limits_at_the_limit_pass(apigw: Any) -> None:
    api_id = apigw.create_api(Name="n" * 128, ProtocolType="HTTP")["ApiId"]
    for timeout in (50, 30000):
        integ = apigw.create_integration(
            ApiId=api_id, IntegrationType="AWS_PROXY", IntegrationUri=FN, PayloadFormatVersion="2.0",
            TimeoutInMillis=timeout,
        )  # fmt: skip
        assert integ["TimeoutInMillis"] == timeout
    assert apigw.create_stage(ApiId=api_id, StageName="s" * 128)["StageName"] == "s" * 128
    apigw.delete_api(ApiId=api_id)


def test_import_and_reimport_an_openapi_document(apigw: Any) -> None:
    api = apigw.import_api(Body=OPENAPI_YAML)
    api_id = api["ApiId"]
    assert (api["Name"], api["Version"]) == ("shop", "1.0")
    assert api["CorsConfiguration"] == {
        "AllowOrigins": ["https://example.com"], "AllowMethods": ["GET", "POST"], "MaxAge": 600,
    }  # fmt: skip
    routes = {r["RouteKey"]: r for r in apigw.get_routes(ApiId=api_id)["Items"]}
    assert sorted(routes) == ["$default", "GET /items/{id}", "POST /items"]
    integrations = {i["IntegrationId"]: i for i in apigw.get_integrations(ApiId=api_id)["Items"]}
    get_item = integrations[routes["GET /items/{id}"]["Target"].split("/")[1]]
    assert (get_item["IntegrationUri"], get_item["PayloadFormatVersion"], get_item["TimeoutInMillis"]) == (
        INVOCATIONS, "2.0", 5000,
    )  # fmt: skip
    assert integrations[routes["POST /items"]["Target"].split("/")[1]]["PayloadFormatVersion"] == "1.0"
    apigw.create_stage(ApiId=api_id, StageName="$default", AutoDeploy=True)

    body = json.dumps({
        "openapi": "3.0.1", "info": {"title": "shop2"},
        "paths": {"/v2": {"get": {"x-amazon-apigateway-integration": {
            "type": "AWS_PROXY", "httpMethod": "POST", "uri": FN, "payloadFormatVersion": "2.0"}}}},
    })  # fmt: skip
    again = apigw.reimport_api(ApiId=api_id, Body=body)
    assert again["Name"] == "shop2"
    assert [r["RouteKey"] for r in apigw.get_routes(ApiId=api_id)["Items"]] == ["GET /v2"]
    assert len(apigw.get_integrations(ApiId=api_id)["Items"]) == 1
    assert [s["StageName"] for s in apigw.get_stages(ApiId=api_id)["Items"]] == ["$default"]
    apigw.delete_api(ApiId=api_id)


def test_import_refusals_and_warnings(apigw: Any) -> None:
    unresolved = OPENAPI_YAML.replace(INVOCATIONS, "${WebFunction.Arn}")
    with pytest.raises(ClientError) as exc:
        apigw.import_api(Body=unresolved)
    assert error_of(exc) == ("BadRequestException", 400)
    assert "unresolved" in exc.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as exc:
        apigw.import_api(Body="paths: [")
    assert error_of(exc) == ("BadRequestException", 400)
    with_authorizer = OPENAPI_YAML + "x-amazon-apigateway-request-validators: {}\n"
    with pytest.raises(ClientError) as exc:
        apigw.import_api(Body=with_authorizer, FailOnWarnings=True)
    assert "Warnings found during import" in exc.value.response["Error"]["Message"]
    api = apigw.import_api(Body=with_authorizer)
    assert api["Warnings"] == ["extension x-amazon-apigateway-request-validators is not supported and was ignored"]
    with pytest.raises(ClientError) as exc:
        apigw.reimport_api(ApiId="nope", Body=OPENAPI_YAML)
    assert error_of(exc) == ("NotFoundException", 404)
    apigw.delete_api(ApiId=api["ApiId"])


def test_the_credential_scope_must_name_apigateway(server: Server) -> None:
    """A request signed for `lambda` (the scope of the Lambda API on the same port) is refused, and an unknown key
    too, each with its 403 name and API Gateway's error shape."""
    creds = Credentials(ACCESS_KEY, SECRET_KEY)
    request = AWSRequest(method="GET", url=f"{server.endpoint}/v2/apis", headers={})
    SigV4Auth(creds, "lambda", REGION).add_auth(request)
    prepared = request.prepare()
    with pytest.raises(urllib.error.HTTPError) as exc:
        urllib.request.urlopen(urllib.request.Request(prepared.url, headers=dict(prepared.headers)), timeout=10)
    assert exc.value.code == 403
    assert exc.value.headers["x-amzn-ErrorType"] == "InvalidSignatureException"
    assert "Credential should be scoped to correct service: 'apigateway'" in json.loads(exc.value.read())["message"]
    stranger = server.client("apigatewayv2", access_key="AKIDNOTKNOWN", secret_key="x")
    with pytest.raises(ClientError) as err:
        stranger.get_apis()
    assert error_of(err) == ("UnrecognizedClientException", 403)


def test_paging_of_get_apis(apigw: Any) -> None:
    ids = [apigw.create_api(Name=f"page{i}", ProtocolType="HTTP")["ApiId"] for i in range(3)]
    seen: list[str] = []
    token: str | None = None
    while True:
        page = apigw.get_apis(MaxResults="2", **({"NextToken": token} if token else {}))
        assert len(page["Items"]) <= 2
        seen += [a["ApiId"] for a in page["Items"]]
        token = page.get("NextToken")
        if not token:
            break
    assert set(ids) <= set(seen)
    assert set(ids) <= {a["ApiId"] for a in apigw.get_apis(MaxResults="500")["Items"]}
    assert len(apigw.get_apis(MaxResults="1")["Items"]) == 1
    for api_id in ids:
        apigw.delete_api(ApiId=api_id)


def test_the_aws_cli(server: Server, tmp_path: Path) -> None:
    made = json.loads(aws_cli(server, "apigatewayv2", "create-api", "--name", "cli", "--protocol-type", "HTTP",
                              "--target", FN).stdout)  # fmt: skip
    api_id = made["ApiId"]
    assert made["ApiEndpoint"].startswith(f"http://{api_id}.execute-api.")
    routes = json.loads(aws_cli(server, "apigatewayv2", "get-routes", "--api-id", api_id).stdout)["Items"]
    assert [r["RouteKey"] for r in routes] == ["$default"]
    doc = tmp_path / "api.yaml"
    doc.write_text(OPENAPI_YAML)
    imported = json.loads(aws_cli(server, "apigatewayv2", "import-api", "--body", f"file://{doc}").stdout)
    assert imported["Name"] == "shop"
    aws_cli(server, "apigatewayv2", "reimport-api", "--api-id", imported["ApiId"], "--body", f"file://{doc}")
    stage = json.loads(aws_cli(server, "apigatewayv2", "create-stage", "--api-id", imported["ApiId"],
                               "--stage-name", "prod", "--auto-deploy").stdout)  # fmt: skip
    assert stage["AutoDeploy"] is True
    missing = aws_cli(server, "apigatewayv2", "get-api", "--api-id", "nope", check=False)
    assert missing.returncode != 0
    assert "NotFoundException" in missing.stderr
    for ident in (api_id, imported["ApiId"]):
        aws_cli(server, "apigatewayv2", "delete-api", "--api-id", ident)


def _signed(server: Server, method: str, path: str, body: bytes) -> tuple[int, dict[str, str], bytes]:
    """One request signed for apigateway by botocore's signer, sent with urllib (exact bytes on the wire)."""
    request = AWSRequest(method=method, url=f"{server.endpoint}{path}", data=body,
                         headers={"content-type": "application/json"})  # fmt: skip
    SigV4Auth(Credentials(ACCESS_KEY, SECRET_KEY), "apigateway", REGION).add_auth(request)
    prepared = request.prepare()
    raw = urllib.request.Request(prepared.url, data=body, headers=dict(prepared.headers), method=method)
    try:
        with urllib.request.urlopen(raw, timeout=60) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def test_import_body_at_the_limit_and_one_past(server: Server, apigw: Any) -> None:
    """ImportApi takes a request body of up to 2 MiB (an OpenAPI document of many routes); one byte more is 413."""
    limit = 2 << 20

    def body_of(size: int) -> bytes:
        base = json.dumps({"body": OPENAPI_YAML + "#"}).encode()
        padded = json.dumps({"body": OPENAPI_YAML + "#" + "x" * (size - len(base))}).encode()
        assert len(padded) == size
        return padded

    status, _, raw = _signed(server, "PUT", "/v2/apis", body_of(limit))
    assert status == 201, raw
    apigw.delete_api(ApiId=json.loads(raw)["apiId"])
    status, headers, raw = _signed(server, "PUT", "/v2/apis", body_of(limit + 1))
    assert status == 413
    assert {k.lower(): v for k, v in headers.items()}["x-amzn-errortype"] == "RequestEntityTooLargeException"
    assert "ImportApi" in json.loads(raw)["message"]


def test_apis_survive_kill_9(tmp_path: Path) -> None:
    """An API is on disk before CreateApi/CreateRoute/ImportApi answer: a SIGKILLed server comes back with it."""
    data = tmp_path / "data"
    srv = start_server(data)
    try:
        client = srv.client("apigatewayv2")
        quick = client.create_api(Name="durable", ProtocolType="HTTP", Target=FN)
        client.create_route(ApiId=quick["ApiId"], RouteKey="POST /orders")
        imported = client.import_api(Body=OPENAPI_YAML)
    finally:
        srv.stop(signal.SIGKILL)
    srv2 = start_server(data)
    try:
        client = srv2.client("apigatewayv2")
        got = client.get_api(ApiId=quick["ApiId"])
        assert (got["Name"], got["CreatedDate"]) == ("durable", quick["CreatedDate"])
        assert got["ApiEndpoint"] == f"http://{quick['ApiId']}.execute-api.us-east-1.localhost:{srv2.port}"
        keys = sorted(r["RouteKey"] for r in client.get_routes(ApiId=quick["ApiId"])["Items"])
        assert keys == ["$default", "POST /orders"]
        assert client.get_stage(ApiId=quick["ApiId"], StageName="$default")["AutoDeploy"] is True
        assert len(client.get_routes(ApiId=imported["ApiId"])["Items"]) == 3
    finally:
        srv2.stop()


@pytest.mark.parametrize("body", [b"{nope", b"[]", b'"text"', b'{"name": 5, "protocolType": "HTTP"}', b"[" * 100_000])
def test_bodies_that_are_not_requests_are_bad_requests(server: Server, body: bytes) -> None:
    status, headers, raw = _signed(server, "POST", "/v2/apis", body)
    assert status == 400
    assert {k.lower(): v for k, v in headers.items()}["x-amzn-errortype"] == "BadRequestException"
    assert set(json.loads(raw)) == {"message"}
