"""The web console: its routes (each with the IAM action it stands for), what they render, and the tasks it owns
(the time series' writer; the live tails, ended at stop). Built by `build` from the server's services.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Mapping

from sqlalchemy import Engine

from nimbus.api import actions as api_actions
from nimbus.api.actions import Call as ApiCall
from nimbus.api.actions import Where
from nimbus.api.authorize import Authorizer
from nimbus.api.http import Response
from nimbus.api.services import Services
from nimbus.console import actions, views, web
from nimbus.console.cli_api import ConsoleApi
from nimbus.console.front import Call, CallOf, ConsoleFront
from nimbus.console.resources import Resources
from nimbus.console.sessions import COOKIE, PrincipalOf, Sessions
from nimbus.console.tail import Tails, default_group
from nimbus.console.test_events import TestEvents
from nimbus.console.timeseries import Admission, TimeSeries, Totals
from nimbus.console.views import function_rows
from nimbus.deploy.stacks import Stacks
from nimbus.runtimes.registry import available_runtime_names

#: chart ranges: (seconds covered, seconds per point)
RANGES = {"1h": (3600, 60), "24h": (86400, 900), "7d": (7 * 86400, 3600)}
TABS = ("overview", "code", "test", "monitor", "logs")

#: the create form's starting code (Python; a Node.js function's is written over it)
NEW_CODE = (
    'import json\n\n\ndef handler(event, context):\n    print("event:", json.dumps(event))\n'
    '    return {"statusCode": 200, "body": json.dumps({"hello": event.get("name", "world")})}\n'
)


def runtimes() -> list[str]:
    """The Python and Node.js runtimes this host can run, newest first (the create form's choice)."""
    names = [n for n in available_runtime_names() if n.startswith(("python3.", "nodejs"))]
    return sorted(names, key=lambda n: (n.startswith("nodejs"), -int("".join(c for c in n if c.isdigit()) or 0)))


class Console:
    def __init__(
        self, services: Services, series: TimeSeries, sessions: Sessions, authorizer: Authorizer,
        stacks: Stacks | None = None,
    ) -> None:  # fmt: skip
        self.services = services
        self.where = Where(services.settings.region, services.settings.account_id)
        self.series = series
        self.sessions = sessions
        self.events = TestEvents(series.engine)
        #: what the `nimbus` command reads over the signed API (saved test events, live figures)
        self.api = ConsoleApi(services.registry, self.events, series)
        self.tails = Tails(services.logs)
        self.front = ConsoleFront(sessions, authorizer, services.settings.http_scheme == "https")
        #: the pages of queues, topics, rules, schedules, HTTP APIs and stacks
        self.resources = Resources(services, stacks, self.front)
        self._task: asyncio.Task[None] | None = None
        self.services.registry.subscribe(self._function_changed)
        self._routes()

    # ---- lifecycle (owned by the server) ----
    def start(self) -> asyncio.Task[None]:
        self._task = asyncio.create_task(self.series.run(), name="console-series")
        return self._task

    async def stop(self) -> None:
        """End the live tails (before the HTTP server drains) and write the last figures."""
        self.tails.close()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _function_changed(self, name: str) -> None:
        if name not in self.services.registry.names():  # deleted: its saved test events go with it
            await self.events.function_deleted(name)

    # ---- routes, each with the API call it stands for ----
    def _routes(self) -> None:
        add, fn, logs = self.front.add, self._lambda, self._logs
        add("GET", "/signin", self.sign_in_page, public=True)
        add("POST", "/signin", self.sign_in, public=True)
        add("GET", "/static/{name}", self.asset, public=True)
        add("POST", "/signout", self.sign_out)
        add("GET", "/functions", self.functions, fn("ListFunctions"))
        add("GET", "/functions/new", self.new_function, fn("CreateFunction"))
        add("POST", "/functions", self.create_function, self._create_call)
        add("GET", "/functions/{name}", self.function, fn("GetFunction"))
        add("POST", "/functions/{name}/invoke", self.invoke, fn("Invoke"), api=True)
        add("GET", "/functions/{name}/events", self.event_names, fn("GetFunction"), api=True)
        add("GET", "/functions/{name}/events/{event}", self.event, fn("GetFunction"), api=True)
        add("POST", "/functions/{name}/events", self.save_event, fn("UpdateFunctionConfiguration"), api=True)
        add("DELETE", "/functions/{name}/events/{event}", self.delete_event, fn("UpdateFunctionConfiguration"),
            api=True)  # fmt: skip
        add("GET", "/functions/{name}/series", self.chart, self._metrics_call, api=True)
        add("GET", "/functions/{name}/tail", self.tail, logs("FilterLogEvents"), api=True)
        add("GET", "/functions/{name}/invocations/{request_id}", self.invocation, logs("FilterLogEvents"))

    def _lambda(self, operation: str) -> CallOf:
        def call(params: Mapping[str, str], body: bytes) -> ApiCall:
            named = {"FunctionName": params["name"]} if "name" in params else {}
            return api_actions.lambda_call(self.where, operation, named, {}, {})

        return call

    def _logs(self, operation: str) -> CallOf:
        def call(params: Mapping[str, str], body: bytes) -> ApiCall:
            return api_actions.logs_call(self.where, operation, {"logGroupName": self._group(params.get("name", ""))})

        return call

    def _group(self, name: str) -> str:
        """The function's log group: its LoggingConfig's, else /aws/lambda/NAME (also for a function not found)."""
        if name in self.services.registry.names():
            custom = (self.services.registry.get(name).config.get("LoggingConfig") or {}).get("LogGroup")
            if isinstance(custom, str) and custom:
                return custom
        return default_group(name)

    def _create_call(self, params: Mapping[str, str], body: bytes) -> ApiCall:
        """CreateFunction of the form's function, passing the form's role (iam:PassRole), as the API call does."""
        fields = web.form(body)
        named = {"FunctionName": fields.get("name", ""), "Role": fields.get("role", "")}
        return api_actions.lambda_call(self.where, "CreateFunction", {}, {}, named)

    def _metrics_call(self, params: Mapping[str, str], body: bytes) -> ApiCall:
        """The charts stand for CloudWatch's GetMetricData (account-wide: it names no resource)."""
        return ApiCall("cloudwatch:GetMetricData")

    # ---- sign-in ----
    async def sign_in_page(self, call: Call) -> Response:
        return web.page("signin.html", error=None)

    async def sign_in(self, call: Call) -> Response:
        fields = web.form(call.body)
        session = self.sessions.sign_in(fields.get("access_key_id", "").strip(), fields.get("secret", ""))
        if session is None:
            return web.page("signin.html", 401, error="Those credentials are not valid.")
        cookie = web.set_cookie(COOKIE, session.token, int(self.sessions.ttl_s), self.front.secure_cookie)
        return web.redirect(f"{web.ROOT}/functions", [cookie])

    async def sign_out(self, call: Call) -> Response:
        assert call.session is not None
        self.sessions.sign_out(call.session.token)
        return web.redirect(f"{web.ROOT}/signin", [web.set_cookie(COOKIE, "", 0, self.front.secure_cookie)])

    async def asset(self, call: Call) -> Response:
        return web.static(call.params["name"]) or Response(404, b"not found", [(b"content-type", b"text/plain")])

    # ---- functions ----
    async def functions(self, call: Call) -> Response:
        search, sort, desc = call.arg("q"), call.arg("sort", "name"), call.arg("desc") == "1"
        rows = function_rows(self.services, await self.series.recent(60), search, sort, desc)
        return web.page("functions.html", session=call.session, rows=rows, q=search, sort=sort, desc=desc)

    async def new_function(self, call: Call) -> Response:
        role = f"arn:aws:iam::{self.services.settings.account_id}:role/nimbus-console"
        return web.page("new_function.html", session=call.session, runtimes=runtimes(), code=NEW_CODE,
                        role=role)  # fmt: skip

    async def create_function(self, call: Call) -> Response:
        fields = web.form(call.body)
        name = await actions.create_function(self.services, fields)
        return web.redirect(f"{web.ROOT}/functions/{name}?tab=test")

    async def function(self, call: Call) -> Response:
        name = call.params["name"]
        detail = views.function_detail(self.services, name)
        tab = call.arg("tab", "overview")
        tab = tab if tab in TABS else "overview"
        code = None
        if tab == "code":
            spec = self.services.registry.spec(name)
            config = detail["config"]
            code = await asyncio.to_thread(views.code_tree, spec.code_dir, str(config.get("Handler", "")),
                                           str(config.get("Runtime", "")))  # fmt: skip
        names = await self.events.names(name)
        detail["apis"] = self.resources.apis_of(detail["arn"])
        detail["stacks"] = self.resources.stacks_of(name)
        return web.page("function.html", session=call.session, f=detail, tab=tab, tabs=TABS, code=code,
                        saved=names, ranges=list(RANGES))  # fmt: skip

    async def invoke(self, call: Call) -> Response:
        return web.json_response(await actions.invoke(self.services, call.params["name"], call.body))

    async def event_names(self, call: Call) -> Response:
        self.services.registry.get(call.params["name"])
        return web.json_response({"names": await self.events.names(call.params["name"])})

    async def event(self, call: Call) -> Response:
        payload = await self.events.get(call.params["name"], call.params["event"])
        return web.json_response({"name": call.params["event"], "payload": payload})

    async def save_event(self, call: Call) -> Response:
        self.services.registry.get(call.params["name"])
        await actions.save_event(self.events, call.params["name"], actions.parse_body(call.body))
        return web.json_response({"saved": True})

    async def delete_event(self, call: Call) -> Response:
        await self.events.delete(call.params["name"], call.params["event"])
        return web.json_response({"deleted": True})

    async def chart(self, call: Call) -> Response:
        span, step = RANGES.get(call.arg("range", "1h"), RANGES["1h"])
        end = (int(time.time()) // step + 1) * step
        points = await self.series.series(call.params["name"], end - span, end, step)
        return web.json_response({"step": step, "points": points})

    async def tail(self, call: Call) -> Response:
        self.services.registry.get(call.params["name"])
        return self.tails.response(self._group(call.params["name"]), call.arg("filter"))

    async def invocation(self, call: Call) -> Response:
        name, request_id = call.params["name"], call.params["request_id"]
        lines = await self.tails.invocation(self._group(name), request_id)
        return web.page("invocation.html", session=call.session, name=name, request_id=request_id, lines=lines,
                        report=actions.report("\n".join(e.message for e in lines)))  # fmt: skip


def build(
    services: Services,
    engine: Engine,
    totals: Totals,
    admission: Admission,
    keys: PrincipalOf,
    authorizer: Authorizer,
    stacks: Stacks | None = None,
) -> Console:
    """The console over the server's services: its time series reads `totals` (the instance manager) and
    `admission` (the throttle); sign-in asks the key ring (`keys`: KeyRing.principal); every page and button is
    authorized by the API's authorizer."""
    settings = services.settings
    series = TimeSeries(engine, totals, admission, settings.series_retention_days)
    sessions = Sessions(keys, settings.console_session_hours * 3600)
    return Console(services, series, sessions, authorizer, stacks)
