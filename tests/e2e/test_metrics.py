"""Prometheus metrics: a real server with --metrics-port, driven by boto3 and scraped over plain HTTP."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from e2e_support import ROLE, Server, expect_error, http, make_zip, serving
from prometheus_client import CONTENT_TYPE_LATEST
from prometheus_client.parser import text_string_to_metric_families

APP = """
def handler(event, context):
    if event.get("fail"):
        raise ValueError("asked to fail")
    return "ok"
"""


@pytest.fixture(scope="module")
def metered(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    yield from serving(tmp_path_factory, "metrics", "--metrics-port", "0", "--keep-alive", "30")


def scrape(server: Server) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """GET /metrics without any credentials; every sample keyed by (name, sorted labels)."""
    status, headers, body = http(f"http://127.0.0.1:{server.metrics_port}/metrics")
    assert status == 200, body
    assert {k.lower(): v for k, v in headers.items()}["content-type"] == CONTENT_TYPE_LATEST
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(body.decode())
        for s in family.samples
    }


def test_invocations_errors_throttles_cold_starts_and_duration(metered: Server) -> None:
    lam = metered.client("lambda")
    lam.create_function(FunctionName="metered", Runtime="python3.11", Role=ROLE, Handler="app.handler",
                        Code={"ZipFile": make_zip({"app.py": APP})})  # fmt: skip
    for event in ({}, {"fail": True}, {}, {}):
        resp = lam.invoke(FunctionName="metered", Payload=json.dumps(event))
        assert ("FunctionError" in resp) is bool(event)

    fn = (("function", "metered"),)
    got = scrape(metered)
    assert got[("nimbus_invocations_total", fn)] == 4
    assert got[("nimbus_errors_total", fn)] == 1
    assert got[("nimbus_throttles_total", fn)] == 0
    assert got[("nimbus_cold_starts_total", fn)] >= 1
    assert got[("nimbus_restores_total", fn)] == 0
    assert got[("nimbus_duration_seconds_count", fn)] == 4
    assert 0 < got[("nimbus_duration_seconds_sum", fn)] < 10
    assert got[("nimbus_concurrent_executions", fn)] == 0
    assert got[("nimbus_instances", fn)] >= 1  # kept warm for 30 s
    assert got[("nimbus_idle_instances", fn)] >= 1
    assert got[("nimbus_provisioned_ready", fn)] == 0
    assert got[("nimbus_account_concurrent_executions", ())] == 0
    assert got[("nimbus_account_memory_in_use_bytes", ())] == 0
    assert got[("nimbus_account_concurrency_limit", ())] == 1000

    lam.put_function_concurrency(FunctionName="metered", ReservedConcurrentExecutions=0)
    expect_error(lam.invoke, "TooManyRequestsException", 429, FunctionName="metered", Payload=b"{}")
    got = scrape(metered)
    assert got[("nimbus_throttles_total", fn)] == 1
    assert got[("nimbus_invocations_total", fn)] == 4  # a throttled request is not an invocation
    assert got[("nimbus_errors_total", fn)] == 1


def test_only_get_metrics_is_served(metered: Server) -> None:
    base = f"http://127.0.0.1:{metered.metrics_port}"
    assert http(base + "/")[0] == 404
    assert http(base + "/2015-03-31/functions")[0] == 404  # not a second, unauthenticated way into the API
    assert http(base + "/metrics", method="POST", data=b"{}")[0] == 405
    assert "metrics: http://127.0.0.1:" in metered.log_path.read_text()


def test_metrics_are_off_by_default(server: Server) -> None:
    assert server.metrics_port is None
    assert "metrics:" not in server.log_path.read_text()
