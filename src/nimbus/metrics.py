"""Per-function and account metrics in the Prometheus text format, read from live counters at scrape time.

The invoke path only bumps plain numbers (the instance manager's per-function counters, the throttle's in-flight
counts and refusals, the door's count per invocation source);
`NimbusCollector` turns them into metric families when Prometheus scrapes, and `MetricsEndpoint` serves them at
`GET /metrics` on a listener of its own, off unless `--metrics-port` is set. Prometheus cannot sign SigV4, so the
listener takes a bearer token instead (`--metrics-token`, Prometheus's `authorization` scrape setting). Without one
it is unauthenticated, and loopback is no protection: every function on the host network (the default) reaches it
and reads every function's name, so the server WARNs at start-up.

Scrapes run on the server's event loop, the only thread that changes the counters: a scrape sees one consistent
moment and needs no lock.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Iterator, Mapping

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric, SummaryMetricFamily

from nimbus.api.http import Response
from nimbus.api.httpserver import HttpServer, Incoming
from nimbus.config import is_loopback
from nimbus.instances.manager import InstanceManager
from nimbus.instances.stats import FunctionStats
from nimbus.invoke.throttle import Throttle
from nimbus.logs.limits import REASONS, Drops

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
    (CounterMetricFamily, "nimbus_cold_starts", "Invocations that started a new instance.", lambda s: s.cold_starts),
    (CounterMetricFamily, "nimbus_restores", "Invocations that started an instance restored from a SnapStart template.",
     lambda s: s.restores),
    (GaugeMetricFamily, "nimbus_instances", "Live instances, in any state.", lambda s: s.instances),
    (GaugeMetricFamily, "nimbus_idle_instances", "Instances idle and warm.", lambda s: s.idle),
    (GaugeMetricFamily, "nimbus_provisioned_ready", "Provisioned instances initialised and serving.",
     lambda s: s.provisioned_ready),
)  # fmt: skip
_NO_FIGURES = FunctionStats(0, 0, 0, 0, 0, 0)


def _by_label(name: str, doc: str, label: str, counts: Mapping[str, int]) -> CounterMetricFamily:
    """One counter family from a count per label value (invocation sources, async and delivery outcomes)."""
    family = CounterMetricFamily(name, doc, labels=[label])
    for value, count in sorted(counts.items()):
        family.add_metric([value], count)
    return family


class NimbusCollector:
    """A prometheus_client custom collector over an InstanceManager and a Throttle (nothing is copied or cached)."""

    def __init__(
        self,
        manager: InstanceManager,
        throttle: Throttle,
        drops: Drops | None = None,
        sources: Mapping[str, int] | None = None,
        async_outcomes: Mapping[str, int] | None = None,
        delivery_outcomes: Mapping[str, int] | None = None,
    ) -> None:
        self.manager = manager
        self.throttle = throttle
        self.drops = drops or Drops()
        #: invocations admitted per source ("api", later "async", "sqs", ...): the door's `Invoker.sources`
        self.sources: Mapping[str, int] = sources if sources is not None else {}
        #: what became of asynchronous events, per outcome: the async dispatcher's `Dispatcher.outcomes`
        self.async_outcomes: Mapping[str, int] = async_outcomes if async_outcomes is not None else {}
        #: what became of EventBridge/Scheduler/SNS delivery attempts: the delivery path's `Deliveries.outcomes`
        self.delivery_outcomes: Mapping[str, int] = delivery_outcomes if delivery_outcomes is not None else {}

    def collect(self) -> Iterator[Metric]:
        stats = self.manager.all_function_statistics()
        throttles = self.throttle.throttles
        functions = [(name, stats.get(name, _NO_FIGURES)) for name in sorted(stats.keys() | throttles.keys())]
        for kind, name, doc, figure in _FUNCTION_FAMILIES:
            family = kind(name, doc, labels=["function"])
            for fn, figures in functions:
                family.add_metric([fn], figure(figures))
            yield family
        running = GaugeMetricFamily("nimbus_concurrent_executions", "Invocations running now.", labels=["function"])
        for fn, _ in functions:
            running.add_metric([fn], self.throttle.running(fn))
        yield running
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

        doc = "Log {} not stored: over a function's limits, below the disk reserve, or failed writes (reason)."
        lines = CounterMetricFamily("nimbus_log_lines_dropped", doc.format("lines"), labels=["reason"])
        nbytes = CounterMetricFamily("nimbus_log_bytes_dropped", doc.format("bytes"), labels=["reason"])
        for reason in REASONS:
            lines.add_metric([reason], self.drops.lines[reason])
            nbytes.add_metric([reason], self.drops.bytes[reason])
        yield lines
        yield nbytes

        yield _by_label(
            "nimbus_invocations_by_source", "Invocations admitted, by who asked (api, ...).", "source", self.sources
        )
        yield _by_label(
            "nimbus_async_events",
            "Asynchronous event attempts by outcome: success, retried (function error, retry queued), throttled "
            "(back in the queue, no attempt counted), exhausted, expired, dropped (function deleted).",
            "outcome",
            self.async_outcomes,
        )
        yield _by_label(
            "nimbus_deliveries",
            "EventBridge, Scheduler and SNS delivery attempts by outcome: delivered, retried (a retry queued), "
            "dead_lettered, dropped (spent without a dead-letter queue), unpermitted (the function's policy refused).",
            "outcome",
            self.delivery_outcomes,
        )


def registry_for(
    manager: InstanceManager,
    throttle: Throttle,
    drops: Drops | None = None,
    sources: Mapping[str, int] | None = None,
    async_outcomes: Mapping[str, int] | None = None,
    delivery_outcomes: Mapping[str, int] | None = None,
) -> CollectorRegistry:
    """A registry of our own (never prometheus_client's global one, which would add process metrics by import)."""
    registry = CollectorRegistry()
    registry.register(NimbusCollector(manager, throttle, drops, sources, async_outcomes, delivery_outcomes))
    return registry


def exposure_warning(host: str, token: str = "") -> str | None:
    """The start-up WARNING for a metrics listener without a token (None when it has one)."""
    if token:
        return None
    who = (
        "every function on the host network (the default) and every local user"
        if is_loopback(host)
        else "anyone who reaches it, and every function on the host network,"
    )
    return (
        f"the metrics endpoint on {host} is UNAUTHENTICATED: {who} reads every function name and its figures; "
        "set --metrics-token (NIMBUS_METRICS_TOKEN), or run functions with network none"
    )


class MetricsEndpoint:
    """`GET /metrics` on its own listener (our HttpServer); any other path is 404, any other method 405, and with a
    token, a request without `Authorization: Bearer <token>` is 401 (compared in constant time)."""

    def __init__(self, registry: CollectorRegistry, token: str = "") -> None:
        self.registry = registry
        self._expected = token.encode() if token else None
        self._http = HttpServer(self.handle, max_body=0)

    def _authorized(self, req: Incoming) -> bool:
        if self._expected is None:
            return True
        given = req.headers.get("authorization", [])
        if len(given) != 1:
            return False
        scheme, _, credentials = given[0].strip().partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(credentials.strip().encode("latin-1"), self._expected)

    async def handle(self, req: Incoming) -> Response:
        if not self._authorized(req):
            return Response(401, b"unauthorized: send Authorization: Bearer <token>\n",
                            [*_TEXT, (b"www-authenticate", b'Bearer realm="nimbus-metrics"')])  # fmt: skip
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
