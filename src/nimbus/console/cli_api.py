"""What the `nimbus` command reads of the console over the signed API (SigV4, like every API call; the CLI talks
to the server through its public API only): saved test events (`nimbus invoke --event-name`) and live figures
(`nimbus top`). Nimbus's own routes under `/_nimbus/`, authorized as the Lambda calls they stand for: reading a
function's saved events is `lambda:GetFunction` on it, the figures of every function `lambda:ListFunctions`.

    GET /_nimbus/functions/{FunctionName}/test-events               -> {"TestEvents": [name, ...]}
    GET /_nimbus/functions/{FunctionName}/test-events/{EventName}   -> {"Name": ..., "Payload": "<JSON text>"}
    GET /_nimbus/function-figures                                   -> {"Functions": [{...}, ...]}
"""

from __future__ import annotations

from typing import Any

from nimbus.api.http import Request, Response, Router
from nimbus.console.test_events import TestEvents
from nimbus.console.timeseries import TimeSeries
from nimbus.control.registry import Registry

PREFIX = "/_nimbus"
#: the window of the figures' percentiles, in minutes
P_WINDOW_MIN = 5


class ConsoleApi:
    def __init__(self, registry: Registry, events: TestEvents, series: TimeSeries) -> None:
        self.registry = registry
        self.events = events
        self.series = series

    def register(self, router: Router) -> None:
        router.add("GET", PREFIX + "/functions/{FunctionName}/test-events", self.test_events, "GetFunction")
        router.add("GET", PREFIX + "/functions/{FunctionName}/test-events/{EventName}", self.test_event,
                   "GetFunction")  # fmt: skip
        router.add("GET", PREFIX + "/function-figures", self.figures, "ListFunctions")

    async def test_events(self, req: Request) -> Response:
        name = self.registry.get(req.params["FunctionName"]).name  # ResourceNotFound for an unknown function
        return Response.json({"TestEvents": await self.events.names(name)})

    async def test_event(self, req: Request) -> Response:
        name = self.registry.get(req.params["FunctionName"]).name
        payload = await self.events.get(name, req.params["EventName"])
        return Response.json({"Name": req.params["EventName"], "Payload": payload})

    async def figures(self, req: Request) -> Response:
        """Per function: running totals since the server started (a client diffs two reads for rates), the
        invocations running now, and p50/p99 over the last P_WINDOW_MIN minutes."""
        self.series.sample()  # what was counted since the sampler's last tick (up to a second ago) is shown too
        live = self.series.live()
        recent = await self.series.recent(P_WINDOW_MIN)
        out: list[dict[str, Any]] = []
        for name in self.registry.names():
            totals = live.get(name, (0, 0, 0, 0, 0))
            m = recent.get(name)
            out.append({
                "FunctionName": name, "Invocations": totals[0], "Errors": totals[1], "ColdStarts": totals[2],
                "Throttles": totals[3], "ConcurrentExecutions": totals[4],
                "DurationP50": m.p(50) if m else None, "DurationP99": m.p(99) if m else None,
            })  # fmt: skip
        return Response.json({"Functions": out, "PercentileWindowMinutes": P_WINDOW_MIN})
