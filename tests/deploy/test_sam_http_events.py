"""SAM's HTTP triggers deployed with `nimbus deploy` and called over real HTTP: an `HttpApi` event (the OpenAPI body
SAM writes, payload 2.0 at the API's `$default` stage), an `Api` event (a REST API from its Swagger body, served at
`/Prod/...` with the REST proxy event, payload 1.0) and `FunctionUrlConfig` (AuthType NONE: public), all on the
`live` alias SAM's AutoPublishAlias makes; the stack's Outputs give the URLs as AWS would print them."""

from __future__ import annotations

import json
from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx
import pytest
from stack_support import cli, describe, physical_ids, write_app

from conftest import Server

TEMPLATE = """\
    Transform: AWS::Serverless-2016-10-31
    Globals:
      Function:
        Runtime: python3.12
        Handler: app.handler
        AutoPublishAlias: live
    Resources:
      Web:
        Type: AWS::Serverless::Function
        Properties:
          CodeUri: web/
          FunctionUrlConfig:
            AuthType: NONE
          Events:
            Hello:
              Type: HttpApi
              Properties:
                Path: /hello/{name}
                Method: GET
            Rest:
              Type: Api
              Properties:
                Path: /rest/{name}
                Method: GET
    Outputs:
      HttpUrl:
        Value: !Sub "https://${ServerlessHttpApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}/hello/world"
      RestUrl:
        Value: !Sub "https://${ServerlessRestApi}.execute-api.${AWS::Region}.amazonaws.com/Prod/rest/world"
      FunctionUrl:
        Value: !GetAtt WebUrl.FunctionUrl
      Endpoint:
        Value: !GetAtt ServerlessHttpApi.ApiEndpoint
"""
WEB = """\
    import json
    def handler(event, context):
        shape = {
            "version": event.get("version"),
            "path": event.get("rawPath") or event.get("path"),
            "resource": event.get("resource"),
            "method": event.get("httpMethod") or event.get("requestContext", {}).get("http", {}).get("method"),
            "name": (event.get("pathParameters") or {}).get("name"),
            "qualifier": context.invoked_function_arn.rsplit(":", 1)[1],
        }
        return {"statusCode": 200, "headers": {"content-type": "application/json"}, "body": json.dumps(shape)}
"""


@pytest.fixture(scope="module")
def outputs(tmp_path_factory: pytest.TempPathFactory, server: Server) -> Iterator[dict[str, str]]:
    folder = write_app(tmp_path_factory.mktemp("web") / "web", TEMPLATE, {"web/app.py": WEB})
    cli(server, folder, "deploy", "--stack-name", "web", "--no-confirm")
    stack = describe(server, "web")
    yield {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]} | {"Function": physical_ids(stack)["Web"]}
    cli(server, folder, "stack", "delete", "web", check=False)


def get(server: Server, url: str) -> httpx.Response:
    """GET an endpoint URL as the stack prints it, sent to this server with the Host that names the endpoint."""
    parts = urlsplit(url)
    ident, kind = parts.hostname.split(".")[:2]  # type: ignore[union-attr]
    host = f"{ident}.{kind}.us-east-1.localhost:{server.port}"
    with httpx.Client(timeout=60) as client:
        return client.get(f"http://127.0.0.1:{server.port}{parts.path}", headers={"Host": host})


def test_http_api_event_payload_2(server: Server, outputs: dict[str, str]) -> None:
    assert outputs["Endpoint"].endswith(f".execute-api.us-east-1.localhost:{server.port}")
    reply = get(server, outputs["HttpUrl"])
    assert reply.status_code == 200, reply.text
    assert reply.json() == {"version": "2.0", "path": "/hello/world", "resource": None, "method": "GET",
                            "name": "world", "qualifier": "live"}  # fmt: skip


def test_rest_api_event_payload_1_at_its_stage(server: Server, outputs: dict[str, str]) -> None:
    reply = get(server, outputs["RestUrl"])
    assert reply.status_code == 200, reply.text
    # the REST proxy event: the path within the stage, no version key (HTTP APIs' 1.0 events have both)
    assert reply.json() == {"version": None, "path": "/rest/world", "resource": "/rest/{name}", "method": "GET",
                            "name": "world", "qualifier": "live"}  # fmt: skip
    assert get(server, outputs["RestUrl"].replace("/Prod/", "/Nope/")).status_code == 404


def test_function_url_public(server: Server, outputs: dict[str, str]) -> None:
    reply = get(server, outputs["FunctionUrl"])
    assert reply.status_code == 200, reply.text
    assert json.loads(reply.text)["qualifier"] == "live"
    config = server.client("lambda").get_function_url_config(FunctionName=outputs["Function"], Qualifier="live")
    assert config["AuthType"] == "NONE"
