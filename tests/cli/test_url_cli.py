"""`nimbus url create|get|update|delete|list`, run as a subprocess against the session server, as a user would."""

from __future__ import annotations

import json
import re
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
    with python_function(lam, ("cli-url-" + request.node.name.replace("_", "-"))[:60]) as name:
        yield name


def _statements(lam: Any, name: str, qualifier: str | None = None) -> list[dict[str, Any]]:
    params = {"FunctionName": name, **({"Qualifier": qualifier} if qualifier else {})}
    try:
        policy = lam.get_policy(**params)["Policy"]
    except lam.exceptions.ResourceNotFoundException:
        return []
    return list(json.loads(policy)["Statement"])


def test_create_prints_the_url_and_its_path_form_and_allows_public_access(
    run: Run, server: Server, lam: Any, function: str
) -> None:
    created = _ok(run("url", "create", function, "--cors-origin", "https://a.example", "--cors-origin", "*",
                      "--cors-method", "GET", "--cors-header", "x-h", "--cors-max-age", "600"))  # fmt: skip
    url, path = created.stdout.split()
    m = re.fullmatch(rf"http://([a-z0-9]{{32}})\.lambda-url\.us-east-1\.localhost:{server.port}/", url)
    assert m is not None, url
    assert path == f"{server.endpoint}/lambda-url/{m.group(1)}/"
    assert "added permission FunctionURLAllowPublicAccess" in created.stderr
    (statement,) = _statements(lam, function)
    assert statement["Sid"] == "FunctionURLAllowPublicAccess"
    assert (statement["Action"], statement["Principal"]) == ("lambda:InvokeFunctionUrl", "*")
    assert statement["Condition"] == {"StringEquals": {"lambda:FunctionUrlAuthType": "NONE"}}

    config = lam.get_function_url_config(FunctionName=function)
    assert (config["FunctionUrl"], config["AuthType"]) == (url, "NONE")
    assert config["Cors"] == {"AllowOrigins": ["https://a.example", "*"], "AllowMethods": ["GET"],
                              "AllowHeaders": ["x-h"], "MaxAge": 600}  # fmt: skip
    assert json.loads(_ok(run("url", "get", function)).stdout)["FunctionUrl"] == url
    listed = _ok(run("url", "list", function)).stdout
    assert "$LATEST" in listed
    assert url in listed

    again = _one_line_error(run("url", "create", function))
    assert "has a URL already" in again
    assert f"nimbus url delete {function}" in again
    assert function in _ok(run("url", "delete", function)).stdout
    assert f"nimbus url create {function}" in _one_line_error(run("url", "get", function))
    assert f"nimbus url create {function}" in _one_line_error(run("url", "delete", function))
    assert "has no URLs" in _ok(run("url", "list", function)).stdout

    # the permission is there already (the URL's deletion keeps it, as on Lambda): create goes on quietly
    quiet = _ok(run("url", "create", function))
    assert "permission" not in quiet.stderr
    assert len(quiet.stdout.split()) == 2
    assert len(_statements(lam, function)) == 1


def test_iam_alias_url_update_and_errors(run: Run, lam: Any, function: str) -> None:
    lam.publish_version(FunctionName=function)
    lam.create_alias(FunctionName=function, Name="live", FunctionVersion="1")
    created = _ok(run("url", "create", function, "-q", "live", "--auth", "iam", "--cors-origin", "*"))
    assert "permission" not in created.stderr
    assert _statements(lam, function, "live") == []
    config = lam.get_function_url_config(FunctionName=function, Qualifier="live")
    assert (config["AuthType"], config["Cors"]) == ("AWS_IAM", {"AllowOrigins": ["*"]})

    updated = json.loads(_ok(run("url", "update", function, "-q", "live", "--no-cors")).stdout)
    assert (updated["AuthType"], updated["Cors"]) == ("AWS_IAM", {})
    public = _ok(run("url", "update", function, "-q", "live", "--auth", "none", "--cors-credentials"))
    assert json.loads(public.stdout)["Cors"] == {"AllowCredentials": True}
    assert "added permission" in public.stderr
    assert [s["Sid"] for s in _statements(lam, function, "live")] == ["FunctionURLAllowPublicAccess"]
    assert "live" in _ok(run("url", "list", function)).stdout

    assert "--auth expects none or iam" in _one_line_error(run("url", "create", function, "--auth", "open"), 2)
    assert "nothing to update" in _one_line_error(run("url", "update", function), 2)
    assert "cannot be combined" in _one_line_error(run("url", "update", function, "--no-cors", "--cors-origin", "*"), 2)
    unknown = _one_line_error(run("url", "create", "cli-url-no-such-function"))
    assert "Function not found" in unknown
    assert "nimbus function create" in unknown
    assert "ValidationException" in _one_line_error(run("url", "create", function, "--cors-max-age", "86401"))
    assert f"deleted the URL of {function}:live" in _ok(run("url", "delete", function, "-q", "live")).stdout
