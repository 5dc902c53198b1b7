"""Per-function and account metrics in the Prometheus text format, read from live counters at scrape time.

The invoke path only bumps plain numbers (the instance manager's per-function counters, the throttle's refusals);
`NimbusCollector` turns them into metric families when Prometheus scrapes, and `MetricsEndpoint` serves them at
`GET /metrics` on a listener of its own, off unless `--metrics-port` is set. That listener is unauthenticated
(Prometheus cannot sign SigV4), which is why it binds loopback by default.

Scrapes run on the server's event loop, the only thread that changes the counters: a scrape sees one consistent
moment and needs no lock.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric, SummaryMetricFamily

from nimbus.api.http import Response
from nimbus.api.httpserver import HttpServer, Incoming
from nimbus.config import is_loopback
from nimbus.instances.manager import FunctionStats, InstanceManager
from nimbus.invoke.throttle import Throttle

METRICS_PATH = b"/metrics"
_MB = 1 << 20
_TEXT = [(b"content-type", b"text/plain; charset=utf-8")]

Figure = Callable[[FunctionStats], float]


#: the per-function families read from the manager's figures: (type, name, help, figure)
_FUNCTION_FAMILIES: tuple[tuple[type[CounterMetricFamily | GaugeMetricFamily], str, str, Figure], ...] = (
    (CounterMetricFamily, "nimbus_invocations", "Invocations admitted (throttled ones excluded).",
     lambda s: s.invocations),
    (CounterMetricFamily, "nimbus_errors",
     "Invocations whose result is a function error (handler exception, init failure, timeout, crash).",
     lambda s: s.errors),
    (GaugeMetricFamily, "nimbus_concurrent_executions", "Invocations running now.", lambda s: s.concurrent_executions),
    (CounterMetricFamily, "nimbus_cold_starts", "Invocations that started a new instance.", lambda s: s.cold_starts),
    (CounterMetricFamily, "nimbus_restores", "Invocations that started an instance restored from a SnapStart template.",
     lambda s: s.restores),
    (GaugeMetricFamily, "nimbus_instances", "Live instances, in any state.", lambda s: s.instances),
    (GaugeMetricFamily, "nimbus_idle_instances", "Instances idle and warm.", lambda s: s.idle),
    (GaugeMetricFamily, "nimbus_provisioned_ready", "Provisioned instances initialised and serving.",
     lambda s: s.provisioned_ready),
)  # fmt: skip
_NO_FIGURES = FunctionStats(0, 0, 0, 0, 0, 0, 0)


class NimbusCollector:
    """A prometheus_client custom collector over an InstanceManager and a Throttle (nothing is copied or cached)."""

    def __init__(self, manager: InstanceManager, throttle: Throttle) -> None:
        self.manager = manager
        self.throttle = throttle

    def collect(self) -> Iterator[Metric]:
        stats = self.manager.all_function_statistics()
        throttles = self.throttle.throttles
        functions = [(name, stats.get(name, _NO_FIGURES)) for name in sorted(stats.keys() | throttles.keys())]
        for kind, name, doc, figure in _FUNCTION_FAMILIES:
            family = kind(name, doc, labels=["function"])
            for fn, figures in functions:
                family.add_metric([fn], figure(figures))
            yield family
        throttled = CounterMetricFamily("nimbus_throttles", "Invocations refused with 429.", labels=["function"])
        duration = SummaryMetricFamily(
            "nimbus_duration_seconds", "Time handlers ran (init excluded), per invocation.", labels=["function"]
        )
        for fn, figures in functions:
            throttled.add_metric([fn], throttles.get(fn, 0))
            duration.add_metric([fn], figures.durations, figures.duration_s)
        yield throttled
        yield duration

        throttle, account = self.throttle, self.throttle.statistics()
        for name, doc, value in (
            ("nimbus_account_concurrent_executions", "Invocations running now, all functions.", account.in_flight),
            ("nimbus_account_concurrency_limit", "Concurrent executions the account allows.", throttle.account_limit),
            ("nimbus_account_memory_in_use_bytes", "MemorySize of invocations running now.", account.memory_mb * _MB),
            ("nimbus_account_memory_budget_bytes", "MemorySize that may run at once.", throttle.memory_budget_mb * _MB),
        ):
            yield GaugeMetricFamily(name, doc, value=value)


def registry_for(manager: InstanceManager, throttle: Throttle) -> CollectorRegistry:
    """A registry of our own (never prometheus_client's global one, which would add process metrics by import)."""
    registry = CollectorRegistry()
    registry.register(NimbusCollector(manager, throttle))
    return registry


def exposure_warning(host: str) -> str | None:
    """The start-up WARNING for a metrics listener reachable from other machines, or None on loopback."""
    if is_loopback(host):
        return None
    return (
        f"the metrics endpoint on {host} is UNAUTHENTICATED: anyone who reaches it reads every function name and "
        "its figures; bind it to 127.0.0.1 (--metrics-host) or firewall it"
    )


class MetricsEndpoint:
    """`GET /metrics` on its own listener (our HttpServer); any other path is 404, any other method 405."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self._http = HttpServer(self.handle, max_body=0)

    async def handle(self, req: Incoming) -> Response:
        if req.target.split(b"?", 1)[0] != METRICS_PATH:
            return Response(404, b"not found: the metrics are at /metrics\n", _TEXT)
        if req.method != "GET":
            return Response(405, b"method not allowed: GET /metrics\n", [*_TEXT, (b"allow", b"GET")])
        return Response(200, generate_latest(self.registry), [(b"content-type", CONTENT_TYPE_LATEST.encode())])

    async def start(self, host: str, port: int) -> int:
        """Listen; returns the bound port (port 0 picks a free one)."""
        return await self._http.start(host, port)

    async def stop(self) -> None:
        await self._http.stop(grace_s=5.0)
