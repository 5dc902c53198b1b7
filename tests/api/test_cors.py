"""CORS decisions from a function URL's `Cors` (or an HTTP API's `CorsConfiguration`): preflights and responses."""

from __future__ import annotations

from typing import Any

import pytest

from nimbus.api.cors import CorsRules, is_preflight

FULL: dict[str, Any] = {
    "AllowOrigins": ["https://app.example", "HTTP://Other.Example:8080"],
    "AllowMethods": ["GET", "post"],
    "AllowHeaders": ["x-custom", "content-type"],
    "ExposeHeaders": ["x-exposed", "x-two"],
    "MaxAge": 600,
    "AllowCredentials": True,
}


def as_dict(headers: list[tuple[bytes, bytes]]) -> dict[str, str]:
    return {k.decode(): v.decode() for k, v in headers}


def test_preflight_of_an_allowed_origin_and_method() -> None:
    rules = CorsRules.of(FULL)
    got = as_dict(rules.preflight("https://app.example", "POST", "x-custom"))
    assert got == {
        "access-control-allow-origin": "https://app.example",
        "access-control-allow-methods": "GET,POST",
        "access-control-allow-headers": "x-custom,content-type",
        "access-control-allow-credentials": "true",
        "access-control-max-age": "600",
        "vary": "Origin",
    }


def test_origins_match_whole_and_case_insensitively() -> None:
    rules = CorsRules.of(FULL)
    assert rules.allows_origin("http://other.example:8080")
    assert not rules.allows_origin("http://other.example")  # another port is another origin
    assert not rules.allows_origin("https://app.example.evil")
    assert not rules.allows_origin("null")


@pytest.mark.parametrize(("origin", "method"), [("https://evil.example", "GET"), ("https://app.example", "DELETE")])
def test_preflight_refused_carries_no_allowance(origin: str, method: str) -> None:
    assert CorsRules.of(FULL).preflight(origin, method, None) == [(b"vary", b"Origin")]


def test_wildcards_without_credentials_answer_star() -> None:
    rules = CorsRules.of({"AllowOrigins": ["*"], "AllowMethods": ["*"], "AllowHeaders": ["*"]})
    got = as_dict(rules.preflight("https://any.example", "PATCH", "x-a"))
    assert got["access-control-allow-origin"] == "*"
    assert got["access-control-allow-methods"] == "*"
    assert got["access-control-allow-headers"] == "*"
    assert "access-control-allow-credentials" not in got
    assert "access-control-max-age" not in got


def test_wildcards_with_credentials_echo_the_request() -> None:
    """A browser takes `*` literally on a credentialed request, so the caller's own values are answered."""
    rules = CorsRules.of(
        {"AllowOrigins": ["*"], "AllowMethods": ["*"], "AllowHeaders": ["*"], "AllowCredentials": True}
    )
    got = as_dict(rules.preflight("https://any.example", "patch", "x-a,x-b"))
    assert got["access-control-allow-origin"] == "https://any.example"
    assert got["access-control-allow-methods"] == "PATCH"
    assert got["access-control-allow-headers"] == "x-a,x-b"


def test_empty_configuration_allows_nothing() -> None:
    rules = CorsRules.of({})
    assert rules.preflight("https://app.example", "GET", None) == [(b"vary", b"Origin")]
    headers: list[tuple[bytes, bytes]] = [(b"access-control-allow-origin", b"*")]
    rules.apply("https://app.example", headers)
    assert headers == []  # the function's own CORS headers give way to the configuration


def test_apply_on_a_response_of_an_allowed_origin_replaces_the_functions_headers() -> None:
    headers = [(b"content-type", b"text/plain"), (b"access-control-allow-origin", b"*"), (b"x-a", b"1")]
    CorsRules.of(FULL).apply("https://app.example", headers)
    assert headers == [
        (b"content-type", b"text/plain"),
        (b"x-a", b"1"),
        (b"access-control-allow-origin", b"https://app.example"),
        (b"access-control-allow-credentials", b"true"),
        (b"access-control-expose-headers", b"x-exposed,x-two"),
        (b"vary", b"Origin"),
    ]


@pytest.mark.parametrize("origin", [None, "https://evil.example"])
def test_apply_without_an_allowed_origin_adds_nothing(origin: str | None) -> None:
    headers = [(b"content-type", b"text/plain")]
    CorsRules.of(FULL).apply(origin, headers)
    assert headers == [(b"content-type", b"text/plain")]


def test_values_that_would_split_a_response_are_dropped() -> None:
    rules = CorsRules.of({"AllowOrigins": ["https://a.example"], "AllowMethods": ["GET"],
                          "ExposeHeaders": ["x-ok", "x-bad\r\nInjected: 1"], "MaxAge": True})  # fmt: skip
    assert rules.expose_headers == ("x-ok",)
    assert rules.max_age is None


@pytest.mark.parametrize(
    ("method", "headers", "expected"),
    [
        ("OPTIONS", {"origin": ["o"], "access-control-request-method": ["GET"]}, True),
        ("OPTIONS", {"origin": ["o"]}, False),
        ("OPTIONS", {"access-control-request-method": ["GET"]}, False),
        ("GET", {"origin": ["o"], "access-control-request-method": ["GET"]}, False),
    ],
)
def test_is_preflight(method: str, headers: dict[str, list[str]], expected: bool) -> None:
    assert is_preflight(method, headers) is expected
