"""The REST-JSON codec by botocore's apigatewayv2 model: routes from `http.requestUri`, input gathered from URI
labels, query string and a body keyed by `locationName`, validated by the model (with the bounds its shape names
state), and output serialized by `locationName` with ISO 8601 timestamps and the operation's response code."""

from __future__ import annotations

import json
from typing import Any

import pytest

from nimbus.api import errors as wire
from nimbus.api.http import Request
from nimbus.api.restjson import RestJsonProtocol, iso8601, rest_model
from nimbus.errors import InvalidRequestContent, ValidationError

PROTOCOL = RestJsonProtocol("apigatewayv2")


def request(method: str, path: str, body: Any = None, query: str = "", **params: str) -> Request:
    raw = body if isinstance(body, bytes) else b"" if body is None else json.dumps(body).encode()
    return Request(method, path, query, {}, raw, "rid", params)


def test_routes_come_from_the_model() -> None:
    assert PROTOCOL.route("CreateApi") == ("POST", "/v2/apis")
    assert PROTOCOL.route("GetRoute") == ("GET", "/v2/apis/{apiId}/routes/{routeId}")
    assert PROTOCOL.route("ReimportApi") == ("PUT", "/v2/apis/{apiId}")
    assert PROTOCOL.route("DeleteStage") == ("DELETE", "/v2/apis/{apiId}/stages/{stageName}")


def test_input_by_member_name_from_uri_query_and_body() -> None:
    body = {"routeKey": "GET /x", "target": "integrations/abc", "authorizationType": "AWS_IAM", "unknown": 1}
    got = PROTOCOL.parse("CreateRoute", request("POST", "/v2/apis/a1/routes", body, apiId="a1"))
    assert got == {"ApiId": "a1", "RouteKey": "GET /x", "Target": "integrations/abc", "AuthorizationType": "AWS_IAM"}
    nested = {"name": "n", "protocolType": "HTTP", "corsConfiguration": {"allowOrigins": ["*"], "maxAge": 5}}
    assert PROTOCOL.parse("CreateApi", request("POST", "/v2/apis", nested))["CorsConfiguration"] == {
        "AllowOrigins": ["*"], "MaxAge": 5,
    }  # fmt: skip
    imported = PROTOCOL.parse(
        "ImportApi", request("PUT", "/v2/apis", {"body": "openapi: 3.0.1"}, query="failOnWarnings=true&basepath=x")
    )
    assert imported == {"Body": "openapi: 3.0.1", "FailOnWarnings": True, "Basepath": "x"}
    assert PROTOCOL.parse("GetApis", request("GET", "/v2/apis", query="maxResults=5")) == {"MaxResults": "5"}


@pytest.mark.parametrize(
    ("operation", "body", "words"),
    [
        ("CreateApi", {"protocolType": "HTTP"}, "Value null at 'name'"),
        ("CreateApi", {"name": "n", "protocolType": "SOAP"}, "enum value set: [WEBSOCKET, HTTP]"),
        ("CreateApi", {"name": "n" * 129, "protocolType": "HTTP"}, "length less than or equal to 128"),
        ("CreateApi", {"name": 5, "protocolType": "HTTP"}, "Member must be a string"),
        ("CreateApi", {"name": "n", "protocolType": "HTTP", "corsConfiguration": {"maxAge": 86401}},
         "at 'corsConfiguration.maxAge'"),
        ("CreateApi", {"name": "n", "protocolType": "HTTP", "corsConfiguration": []}, "must be a structure"),
    ],
)  # fmt: skip
def test_the_model_refuses_what_it_must(operation: str, body: Any, words: str) -> None:
    with pytest.raises(ValidationError) as exc:
        PROTOCOL.parse(operation, request("POST", "/v2/apis", body))
    assert words in exc.value.message
    status, headers, raw = wire.apigw_json(exc.value)
    assert (status, dict(headers)[b"x-amzn-errortype"]) == (400, b"BadRequestException")
    assert json.loads(raw) == {"message": exc.value.message}


def test_bodies_that_are_not_json_objects_are_refused() -> None:
    for raw in (b"[1]", b"{nope", b'"text"'):
        with pytest.raises(InvalidRequestContent):
            PROTOCOL.parse("CreateApi", request("POST", "/v2/apis", raw))


def test_bounds_named_in_shape_names_become_constraints() -> None:
    shapes = rest_model("apigatewayv2").shape_for("StringWithLengthBetween1And128").metadata
    assert (shapes["min"], shapes["max"]) == (1, 128)
    assert rest_model("apigatewayv2").shape_for("StringWithLengthBetween0And32K").metadata["max"] == 32 * 1024
    name = "n" * 128
    assert PROTOCOL.parse("CreateApi", request("POST", "/", {"name": name, "protocolType": "HTTP"}))["Name"] == name


def test_output_by_location_name_with_iso_timestamps_and_the_response_code() -> None:
    resp = PROTOCOL.respond("CreateApi", {
        "ApiId": "a1", "Name": "n", "CreatedDate": 0.0, "CorsConfiguration": {"AllowOrigins": ["*"]},
        "Description": None, "Tags": {"k": "v"},
    })  # fmt: skip
    assert resp.status == 201
    assert json.loads(resp.body) == {
        "apiId": "a1", "name": "n", "createdDate": "1970-01-01T00:00:00Z", "corsConfiguration": {"allowOrigins": ["*"]},
        "tags": {"k": "v"},
    }  # fmt: skip
    assert PROTOCOL.respond("GetApi", {"ApiId": "a"}).status == 200
    deleted = PROTOCOL.respond("DeleteApi", None)
    assert (deleted.status, deleted.body) == (204, b"")
    items = PROTOCOL.respond("GetStages", {"Items": [{"StageName": "$default", "LastUpdatedDate": 1.5}]})
    assert json.loads(items.body) == {"items": [{"stageName": "$default", "lastUpdatedDate": "1970-01-01T00:00:01Z"}]}


def test_iso8601() -> None:
    assert iso8601(1_700_000_000) == "2023-11-14T22:13:20Z"
    assert iso8601("already text") == "already text"


def test_api_gateway_error_names() -> None:
    from nimbus.errors import InvalidSignature, ResourceConflict, ResourceNotFound, TooManyRequests

    for exc, name, status in [
        (ResourceNotFound("m"), b"NotFoundException", 404), (ResourceConflict("m"), b"ConflictException", 409),
        (TooManyRequests("m"), b"TooManyRequestsException", 429),
        (InvalidSignature("m"), b"InvalidSignatureException", 403),
    ]:  # fmt: skip
        got_status, headers, body = wire.apigw_json(exc)
        assert (got_status, dict(headers)[b"x-amzn-errortype"], json.loads(body)) == (status, name, {"message": "m"})
