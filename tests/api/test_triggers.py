"""Which requests are HTTP triggers' (function URLs, HTTP APIs) and which are AWS API calls."""

from __future__ import annotations

import pytest

from nimbus.api.triggers import API, URL, PublicEndpoints, Target, find_target
from nimbus.config import Settings

S = Settings(region="eu-west-1", port=9001)


@pytest.mark.parametrize(
    ("host", "target", "expected"),
    [
        ("abc123.lambda-url.eu-west-1.localhost:9001", b"/x/y?a=1", Target(URL, "abc123", "/x/y", "a=1",
                                                                           "abc123.lambda-url.eu-west-1.localhost")),
        ("ABC.lambda-url.us-east-1.on.aws", b"/", Target(URL, "abc", "/", "", "abc.lambda-url.us-east-1.on.aws")),
        ("a1b2.execute-api.eu-west-1.amazonaws.com", b"/prod/items/1",
         Target(API, "a1b2", "/prod/items/1", "", "a1b2.execute-api.eu-west-1.amazonaws.com")),
        ("127.0.0.1:9001", b"/lambda-url/abc/p/q?x", Target(URL, "abc", "/p/q", "x",
                                                             "abc.lambda-url.eu-west-1.localhost")),
        ("127.0.0.1:9001", b"/lambda-url/abc", Target(URL, "abc", "/", "", "abc.lambda-url.eu-west-1.localhost")),
        (None, b"/execute-api/zz9/", Target(API, "zz9", "/", "", "zz9.execute-api.eu-west-1.localhost")),
    ],
)  # fmt: skip
def test_trigger_requests_are_found_by_host_or_path(host: str | None, target: bytes, expected: Target) -> None:
    assert find_target(host, target, S) == expected


@pytest.mark.parametrize(
    ("host", "target"),
    [
        ("127.0.0.1:9001", b"/2015-03-31/functions/f/invocations"),
        ("localhost", b"/"),
        ("lambda-url.eu-west-1.localhost", b"/"),  # no id label
        ("127.0.0.1", b"/lambda-url/"),  # no id segment
        ("x.lambda-urls.eu-west-1.localhost", b"/"),
    ],
)
def test_aws_api_requests_are_not_triggers(host: str, target: bytes) -> None:
    assert find_target(host, target, S) is None


def test_public_endpoints_name_the_listening_port_unless_told_otherwise() -> None:
    ends = PublicEndpoints(S)
    ends.listening_port = 40123
    assert ends.base(URL, "abc") == "http://abc.lambda-url.eu-west-1.localhost:40123"
    assert ends.path_form(API, "q1") == "http://127.0.0.1:40123/execute-api/q1"
    proxied = PublicEndpoints(Settings(http_scheme="https", http_domain="fn.example.com", http_public_port=0))
    assert proxied.base(API, "q1") == "https://q1.execute-api.us-east-1.fn.example.com"
