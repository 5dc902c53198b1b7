"""`nimbus api create|get|list|delete`, run as a subprocess against the session server, as a user would."""

from __future__ import annotations

import json
import re
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from cli_support import nimbus_runner, python_function
from test_cli import Run, _ok, _one_line_error

from conftest import Server


@pytest.fixture
def run(server: Server) -> Run:
    return nimbus_runner(server.endpoint)


@pytest.fixture
def function(lam: Any, request: pytest.FixtureRequest) -> Iterator[str]:
    with python_function(lam, ("cli-api-" + request.node.name.replace("_", "-"))[:60]) as name:
        yield name


def test_create_makes_routes_a_stage_and_the_permission_then_get_list_delete(
    run: Run, server: Server, lam: Any, function: str
) -> None:
    apigw = server.client("apigatewayv2")
    created = _ok(run("api", "create", "shop", "--route", f"GET /items/{{id}}={function}",
                      "--route", f"$default={function}"))  # fmt: skip
    endpoint, path = created.stdout.split()
    m = re.fullmatch(rf"http://([a-z0-9]{{10}})\.execute-api\.us-east-1\.localhost:{server.port}/", endpoint)
    assert m is not None, endpoint
    api_id = m.group(1)
    assert path == f"{server.endpoint}/execute-api/{api_id}/"
    routes = {r["RouteKey"]: r for r in apigw.get_routes(ApiId=api_id)["Items"]}
    assert sorted(routes) == ["$default", "GET /items/{id}"]
    (integration,) = apigw.get_integrations(ApiId=api_id)["Items"]
    assert routes["$default"]["Target"] == f"integrations/{integration['IntegrationId']}"
    assert integration["IntegrationUri"] == f"arn:aws:lambda:us-east-1:000000000000:function:{function}"
    assert integration["PayloadFormatVersion"] == "2.0"
    (stage,) = apigw.get_stages(ApiId=api_id)["Items"]
    assert (stage["StageName"], stage["AutoDeploy"]) == ("$default", True)
    (statement,) = json.loads(lam.get_policy(FunctionName=function)["Policy"])["Statement"]
    assert statement["Sid"] == f"nimbus-api-{api_id}"
    assert statement["Action"] == "lambda:InvokeFunction"
    assert statement["Principal"] == {"Service": "apigateway.amazonaws.com"}
    assert statement["Condition"] == {
        "ArnLike": {"AWS:SourceArn": f"arn:aws:execute-api:us-east-1:000000000000:{api_id}/*"}
    }

    # the permission the CLI added lets API Gateway invoke the function: the route answers through the path form
    with urllib.request.urlopen(f"{path}items/42?q=1", timeout=60) as resp:
        event = json.loads(resp.read())
    assert (event["routeKey"], event["pathParameters"]) == ("GET /items/{id}", {"id": "42"})
    assert event["rawQueryString"] == "q=1"

    shown = _ok(run("api", "get", api_id)).stdout
    assert "GET /items/{id}" in shown
    assert function in shown
    assert path in shown
    assert api_id in _ok(run("api", "list")).stdout
    assert api_id in _ok(run("api", "delete", api_id)).stdout
    assert "nimbus api list" in _one_line_error(run("api", "get", api_id))
    assert "nimbus api list" in _one_line_error(run("api", "delete", api_id))


def test_a_named_stage_and_payload_format_1(run: Run, server: Server, function: str) -> None:
    created = _ok(run("api", "create", "staged", "-r", f"ANY /{{proxy+}}={function}", "--stage", "prod",
                      "--payload-format", "1.0", "--cors-origin", "https://a.example"))  # fmt: skip
    endpoint, path = created.stdout.split()
    assert endpoint.endswith("/prod/")
    assert path.endswith("/prod/")
    api_id = path.split("/")[-3]
    apigw = server.client("apigatewayv2")
    assert [s["StageName"] for s in apigw.get_stages(ApiId=api_id)["Items"]] == ["prod"]
    assert apigw.get_integrations(ApiId=api_id)["Items"][0]["PayloadFormatVersion"] == "1.0"
    assert apigw.get_api(ApiId=api_id)["CorsConfiguration"] == {
        "AllowOrigins": ["https://a.example"], "AllowMethods": ["*"], "AllowHeaders": ["*"],
    }  # fmt: skip
    _ok(run("api", "delete", api_id))


def test_errors_say_what_to_do_next(run: Run, server: Server, function: str) -> None:
    assert "METHOD /path=FUNCTION" in _one_line_error(run("api", "create", "x", "--route", "GET /a"), code=2)
    assert "like 'GET /a'" in _one_line_error(run("api", "create", "x", "--route", f"/a={function}"), code=2)
    assert "1.0 or 2.0" in _one_line_error(
        run("api", "create", "x", "--route", f"GET /a={function}", "--payload-format", "3"), code=2
    )
    missing = _one_line_error(run("api", "create", "x", "--route", "GET /a=no-such-fn"))
    assert "nimbus function create" in missing
    before = {a["ApiId"] for a in server.client("apigatewayv2").get_apis()["Items"]}
    half = run("api", "create", "half", "--route", f"GET /a={function}", "--route", f"FETCH /b={function}")
    assert half.returncode == 1
    assert "Traceback" not in half.stderr
    assert "BadRequestException: Invalid route key 'FETCH /b'" in half.stderr
    assert "deleted the half-made API" in half.stderr
    assert {a["ApiId"] for a in server.client("apigatewayv2").get_apis()["Items"]} == before
