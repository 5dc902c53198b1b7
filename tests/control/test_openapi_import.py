"""ImportApi / ReimportApi from OpenAPI documents shaped as SAM generates them for `HttpApi` events (written here by
hand, resolved as CloudFormation would pass them), in YAML and JSON: routes, integrations, CORS, IAM auth, what is
refused and what is only a warning."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
import yaml

from nimbus.config import Settings
from nimbus.control.http_api_rules import check_cors
from nimbus.control.http_apis import HttpApis
from nimbus.control.openapi_import import read_openapi
from nimbus.errors import InvalidParameterValue
from nimbus.store.db import migrate, sqlite_engine
from nimbus.store.schema import metadata

FN = "arn:aws:lambda:us-east-1:000000000000:function:items"
URI = f"arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/{FN}/invocations"

#: what SAM's HttpApi events generate (DefinitionBody), after CloudFormation resolved the !Sub of each uri
SAM_DOCUMENT = f"""
openapi: 3.0.1
info:
  version: '1.0'
  title: sam-app
  description: items service
paths:
  /items/{{id}}:
    get:
      operationId: getItem
      responses: {{}}
      parameters:
        - name: id
          in: path
          required: true
      x-amazon-apigateway-integration:
        httpMethod: POST
        type: aws_proxy
        uri: {URI}
        payloadFormatVersion: '2.0'
    delete:
      security:
        - sigv4: []
      responses: {{}}
      x-amazon-apigateway-integration:
        httpMethod: POST
        type: aws_proxy
        uri: {FN}:live
        payloadFormatVersion: '1.0'
        timeoutInMillis: 29000
  /files/{{proxy+}}:
    x-amazon-apigateway-any-method:
      responses: {{}}
      x-amazon-apigateway-integration:
        httpMethod: POST
        type: aws_proxy
        uri: {URI}
        payloadFormatVersion: '2.0'
  $default:
    x-amazon-apigateway-any-method:
      isDefaultRoute: true
      responses: {{}}
      x-amazon-apigateway-integration:
        httpMethod: POST
        type: aws_proxy
        uri: {URI}
        payloadFormatVersion: '2.0'
components:
  securitySchemes:
    sigv4:
      type: apiKey
      name: Authorization
      in: header
      x-amazon-apigateway-authtype: awsSigv4
tags:
  - name: httpapi:createdBy
    x-amazon-apigateway-tag-value: SAM
x-amazon-apigateway-cors:
  allowOrigins:
    - https://app.example.com
  allowMethods:
    - get
    - POST
  allowCredentials: true
  maxAge: 300
"""


def read(text: str) -> object:
    return read_openapi(text, region="us-east-1", account="000000000000")


@pytest.mark.parametrize("form", ["yaml", "json"])
def test_a_sam_document_becomes_routes_and_integrations(form: str) -> None:
    text = SAM_DOCUMENT if form == "yaml" else json.dumps(yaml.safe_load(SAM_DOCUMENT))
    imported = read_openapi(text, region="us-east-1", account="000000000000")
    assert (imported.name, imported.description, imported.version) == ("sam-app", "items service", "1.0")
    by_key = {r.route_key: r for r in imported.routes}
    assert sorted(by_key) == ["$default", "ANY /files/{proxy+}", "DELETE /items/{id}", "GET /items/{id}"]
    get = by_key["GET /items/{id}"]
    assert (get.integration_uri, get.function_arn, get.payload_format_version) == (URI, FN, "2.0")
    assert (get.timeout_ms, get.authorization_type, get.operation_name) == (30_000, "NONE", "getItem")
    delete = by_key["DELETE /items/{id}"]
    assert (delete.function_arn, delete.payload_format_version, delete.timeout_ms) == (FN + ":live", "1.0", 29_000)
    assert delete.authorization_type == "AWS_IAM"
    assert imported.cors == {
        "AllowOrigins": ["https://app.example.com"], "AllowMethods": ["get", "POST"], "AllowCredentials": True,
        "MaxAge": 300,
    }  # fmt: skip
    assert imported.warnings == ()


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ((URI, "${ItemsFunction.Arn}"), "unresolved"),
        ("type: aws_proxy", "integration type 'http_proxy' is not supported"),
        ("httpMethod: POST", "httpMethod must be POST"),
        ("payloadFormatVersion: '2.0'", "use 1.0 or 2.0"),
        ("timeoutInMillis: 29000", "between 50 ms and 30000 ms"),
        ("title: sam-app", "info.title is required"),
        ("openapi: 3.0.1", "unsupported OpenAPI version"),
        ("/files/{proxy+}", "greedy path variable"),
    ],
)
def test_what_cannot_be_served_is_refused(change: str | tuple[str, str], words: str) -> None:
    replacements = {
        "type: aws_proxy": "type: http_proxy", "httpMethod: POST": "httpMethod: GET",
        "payloadFormatVersion: '2.0'": "payloadFormatVersion: '3.0'",
        "timeoutInMillis: 29000": "timeoutInMillis: 30001",
        "title: sam-app": "title: ''", "openapi: 3.0.1": "openapi: 4.0.0", "/files/{proxy+}": "/{proxy+}/files",
    }  # fmt: skip
    old, new = change if isinstance(change, tuple) else (change, replacements[change])
    with pytest.raises(InvalidParameterValue) as exc:
        read(SAM_DOCUMENT.replace(old, new, 1))
    assert words in exc.value.message
    assert exc.value.message.startswith("Invalid OpenAPI definition: ")


@pytest.mark.parametrize("body", ["paths: [", "[1, 2]", "{not json", "just text"])
def test_bodies_that_are_not_documents_are_refused(body: str) -> None:
    with pytest.raises(InvalidParameterValue, match="Invalid OpenAPI definition"):
        read(body)


def test_authorizers_and_unknown_extensions_are_warnings() -> None:
    text = SAM_DOCUMENT.replace("x-amazon-apigateway-authtype: awsSigv4", "x-amazon-apigateway-authorizer: {}")
    text += "x-amazon-apigateway-gateway-responses: {}\n"
    imported = read_openapi(text, region="us-east-1", account="000000000000")
    assert imported.warnings == (
        "extension x-amazon-apigateway-gateway-responses is not supported and was ignored",
        "paths./items/{id}.delete: authorizer(s) sigv4 not imported (Nimbus has no authorizers): the route is "
        "served without authorization",
    )
    assert {r.route_key: r.authorization_type for r in imported.routes}["DELETE /items/{id}"] == "NONE"


def test_import_and_reimport_through_the_service(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    engine = sqlite_engine(tmp_path / "nimbus.db")
    migrate(engine, metadata)

    async def main() -> str:
        apis = HttpApis(settings, engine)
        doc = await apis.import_api(SAM_DOCUMENT, fail_on_warnings=True)
        assert len(doc.routes) == 4
        assert len(doc.integrations) == 4
        for route in doc.routes.values():
            assert doc.integration_of(route) is not None
        await apis.create_stage(doc.api_id, {"StageName": "$default", "AutoDeploy": True})
        with pytest.raises(InvalidParameterValue, match="Warnings found during import"):
            await apis.import_api(SAM_DOCUMENT + "x-amazon-apigateway-policy: {}\n", fail_on_warnings=True)
        with pytest.raises(InvalidParameterValue, match="AllowCredentials can't be true"):
            await apis.import_api(SAM_DOCUMENT.replace("https://app.example.com", "'*'"), fail_on_warnings=False)
        small = json.dumps({"openapi": "3.0.1", "info": {"title": "v2"}, "paths": {"/a": {"post": {
            "x-amazon-apigateway-integration": {"type": "AWS_PROXY", "uri": FN, "payloadFormatVersion": "2.0"}}}}})
        again = await apis.import_api(small, fail_on_warnings=False, api_id=doc.api_id)
        assert (again.api_id, again.name, again.cors) == (doc.api_id, "v2", None)
        assert [r.route_key for r in again.routes.values()] == ["POST /a"]
        assert list(again.stages) == ["$default"]
        return doc.api_id

    api_id = asyncio.run(main())
    reloaded = HttpApis(settings, engine)
    reloaded.load()
    assert reloaded.api(api_id).name == "v2"
    assert len(reloaded.apis()) == 1


@pytest.mark.parametrize(
    "document",
    [
        {"openapi": "3.0.1", "info": {"title": "t"}, "paths": {"/a": {1: {}}}},
        {"openapi": "3.0.1", "info": {"title": "t"}, "paths": {"/a": {"get": {"security": "sigv4",
            "x-amazon-apigateway-integration": {"type": "aws_proxy", "uri": FN, "payloadFormatVersion": "2.0"}}}}},
        {"openapi": "3.0.1", "info": {"title": "t"}, "paths": {"/a": {"get": {
            "x-amazon-apigateway-integration": {"type": "aws_proxy", "uri": FN, "timeoutInMillis": "soon"}}}}},
        {"openapi": "3.0.1", "info": {"title": "t"}, "paths": {"/a": {"get": {
            "x-amazon-apigateway-integration": {"type": "aws_proxy", "uri": {"Fn::Sub": "x"}}}}}},
        {"openapi": "3.0.1", "info": {"title": "t"}, "paths": {"/a": {"get": {
            "x-amazon-apigateway-integration": ["aws_proxy"]}}}},
        {"openapi": "3.0.1", "info": {"title": "t"}, "paths": {"/a": "get"}},
        {"openapi": "3.0.1", "info": {"title": "t"}, "paths": ["/a"]},
        {"openapi": "3.0.1", "info": {"title": "t"}, "paths": {}, "x-amazon-apigateway-cors": "*"},
        {"openapi": "3.0.1", "info": "t", "paths": {}},
        {"openapi": "3.0.1", "info": {"title": "t"}, "paths": {"/a": {"get": {"security": [{"s": []}]}}},
         "components": {"securitySchemes": "none"}},
    ],
)  # fmt: skip
def test_malformed_documents_are_refused_or_imported_never_a_crash(tmp_path: Path, document: dict[str, object]) -> None:
    """Every shape of wrong is the caller's 400 (or, when harmless, a warning), never our 500."""
    settings = Settings(data_dir=tmp_path)
    engine = sqlite_engine(tmp_path / "nimbus.db")
    migrate(engine, metadata)
    apis = HttpApis(settings, engine)
    for body in (json.dumps(document), yaml.safe_dump(document)):
        try:
            asyncio.run(apis.import_api(body, fail_on_warnings=False))
        except InvalidParameterValue as exc:
            message = exc.message
        else:
            message = "Invalid OpenAPI definition: none (imported)"
        assert message.startswith(("Invalid OpenAPI definition", "Invalid CORS configuration"))


def test_a_cors_block_of_the_wrong_types_is_refused() -> None:
    for cors in ({"AllowOrigins": "*"}, {"AllowMethods": [1]}, {"AllowCredentials": "yes"}, {"MaxAge": 86_401}):
        with pytest.raises(InvalidParameterValue, match="Invalid CORS configuration"):
            check_cors(cors)


def test_an_import_of_300_routes_passes_and_301_is_refused() -> None:
    def document(count: int) -> str:
        integration = {"type": "aws_proxy", "uri": FN, "payloadFormatVersion": "2.0"}
        paths = {f"/p{i}": {"get": {"x-amazon-apigateway-integration": integration}} for i in range(count)}
        return json.dumps({"openapi": "3.0.1", "info": {"title": "t"}, "paths": paths})

    assert len(read_openapi(document(300), region="us-east-1", account="000000000000").routes) == 300
    with pytest.raises(InvalidParameterValue, match="more than 300 routes"):
        read_openapi(document(301), region="us-east-1", account="000000000000")
