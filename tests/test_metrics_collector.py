"""The metrics surface's pure parts: the collector's families, the /metrics handler, the exposure warning, settings."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from nimbus.api.httpserver import Incoming
from nimbus.config import Settings, from_env, is_loopback
from nimbus.errors import TooManyRequests
from nimbus.instances.manager import InstanceManager
from nimbus.instances.process import SpawnLauncher
from nimbus.invoke.throttle import Throttle
from nimbus.logs.sink import MemorySink
from nimbus.metrics import MetricsEndpoint, exposure_warning, registry_for

MB = 1 << 20


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a text exposition, keyed by (name, sorted labels)."""
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def scrape(manager: InstanceManager, throttle: Throttle) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return samples(generate_latest(registry_for(manager, throttle)).decode())


def idle_manager() -> InstanceManager:
    """A manager that has started nothing: its figures are the counters alone."""
    return InstanceManager(Settings(), MemorySink(), SpawnLauncher())


def test_account_gauges_and_throttles_without_any_invocation() -> None:
    throttle = Throttle(account_limit=10, memory_budget_mb=512)
    throttle.set_reserved("off", 0)
    for _ in range(2):
        with pytest.raises(TooManyRequests), throttle.admit("off", 128):
            pass
    with throttle.admit("on", 256):
        got = scrape(idle_manager(), throttle)
    fn = (("function", "off"),)
    assert got[("nimbus_throttles_total", fn)] == 2
    assert got[("nimbus_invocations_total", fn)] == 0
    assert got[("nimbus_duration_seconds_count", fn)] == 0
    assert got[("nimbus_account_concurrent_executions", ())] == 1
    assert got[("nimbus_account_memory_in_use_bytes", ())] == 256 * MB
    assert got[("nimbus_account_memory_budget_bytes", ())] == 512 * MB
    assert got[("nimbus_account_concurrency_limit", ())] == 10
    assert not any(labels == (("function", "on"),) for _, labels in got)  # admitted, never invoked: no figures


def test_running_invocations_come_from_the_throttle_and_invocations_by_source_from_the_door() -> None:
    throttle = Throttle(account_limit=10, memory_budget_mb=512)
    throttle.set_reserved("r", 1)
    with throttle.admit("r", 128):
        with pytest.raises(TooManyRequests), throttle.admit("r", 128):
            pass
        got = samples(generate_latest(registry_for(idle_manager(), throttle, sources={"api": 3, "sqs": 1})).decode())
    assert got[("nimbus_concurrent_executions", (("function", "r"),))] == 1
    assert got[("nimbus_invocations_by_source_total", (("source", "api"),))] == 3
    assert got[("nimbus_invocations_by_source_total", (("source", "sqs"),))] == 1


def test_every_family_is_exposed_with_its_type() -> None:
    text = generate_latest(registry_for(idle_manager(), Throttle(10, 512))).decode()
    types = {f.name: f.type for f in text_string_to_metric_families(text)}
    assert types == {
        "nimbus_invocations": "counter",
        "nimbus_errors": "counter",
        "nimbus_throttles": "counter",
        "nimbus_duration_seconds": "summary",
        "nimbus_concurrent_executions": "gauge",
        "nimbus_cold_starts": "counter",
        "nimbus_restores": "counter",
        "nimbus_instances": "gauge",
        "nimbus_idle_instances": "gauge",
        "nimbus_provisioned_ready": "gauge",
        "nimbus_account_concurrent_executions": "gauge",
        "nimbus_account_concurrency_limit": "gauge",
        "nimbus_account_memory_in_use_bytes": "gauge",
        "nimbus_account_memory_budget_bytes": "gauge",
        "nimbus_log_lines_dropped": "counter",
        "nimbus_log_bytes_dropped": "counter",
        "nimbus_invocations_by_source": "counter",
        "nimbus_async_events": "counter",
        "nimbus_deliveries": "counter",
    }


def _get(endpoint: MetricsEndpoint, target: bytes, method: str = "GET") -> tuple[int, dict[bytes, bytes], bytes]:
    resp = asyncio.run(endpoint.handle(Incoming(method, target, {}, b"", 0, True)))
    return resp.status, dict(resp.headers), resp.body


def test_endpoint_serves_metrics_only() -> None:
    endpoint = MetricsEndpoint(registry_for(idle_manager(), Throttle(10, 512)))
    status, headers, body = _get(endpoint, b"/metrics?x=1")
    assert status == 200
    assert headers[b"content-type"] == CONTENT_TYPE_LATEST.encode()
    assert b"# TYPE nimbus_invocations_total counter" in body
    assert _get(endpoint, b"/")[0] == 404
    assert _get(endpoint, b"/metrics/x")[0] == 404
    status, headers, _ = _get(endpoint, b"/metrics", "POST")
    assert (status, headers[b"allow"]) == (405, b"GET")


@pytest.mark.parametrize(
    ("host", "exposed"),
    [("127.0.0.1", False), ("127.0.0.5", False), ("::1", False), ("localhost", False),
     ("0.0.0.0", True), ("::", True), ("10.1.2.3", True), ("metrics.example", True)],
)  # fmt: skip
def test_a_metrics_listener_without_a_token_is_warned_about_even_on_loopback(host: str, exposed: bool) -> None:
    assert is_loopback(host) is not exposed
    warning = exposure_warning(host)
    assert warning is not None  # host-network functions reach loopback too
    assert "UNAUTHENTICATED" in warning
    assert host in warning
    assert "--metrics-token" in warning
    assert exposure_warning(host, "a-token") is None


def test_metrics_settings_are_off_by_default_and_read_from_the_environment(tmp_path: Path) -> None:
    assert (Settings().metrics_port, Settings().metrics_host) == (None, "127.0.0.1")
    settings = from_env({"NIMBUS_METRICS_PORT": "9102", "NIMBUS_METRICS_HOST": "0.0.0.0"}, data_dir=tmp_path)
    assert (settings.metrics_port, settings.metrics_host) == (9102, "0.0.0.0")
    assert from_env({"NIMBUS_METRICS_PORT": "9102"}, metrics_port=0).metrics_port == 0  # a flag wins
    assert from_env({"NIMBUS_METRICS_PORT": ""}).metrics_port is None


def test_async_event_outcomes_come_from_the_dispatcher() -> None:
    outcomes = {"success": 5, "throttled": 2}
    got = samples(generate_latest(registry_for(idle_manager(), Throttle(10, 512), async_outcomes=outcomes)).decode())
    assert got[("nimbus_async_events_total", (("outcome", "success"),))] == 5
    assert got[("nimbus_async_events_total", (("outcome", "throttled"),))] == 2


def test_delivery_outcomes_come_from_the_delivery_path() -> None:
    outcomes = {"delivered": 7, "unpermitted": 1}
    got = samples(generate_latest(registry_for(idle_manager(), Throttle(10, 512), delivery_outcomes=outcomes)).decode())
    assert got[("nimbus_deliveries_total", (("outcome", "delivered"),))] == 7
    assert got[("nimbus_deliveries_total", (("outcome", "unpermitted"),))] == 1
