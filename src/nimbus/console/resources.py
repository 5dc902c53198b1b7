"""The console's pages for what functions are wired to: queues (depth, in flight, a send and receive test), topics,
EventBridge rules, Scheduler schedules, HTTP APIs and stacks. Each reads the service its API reads, is authorized as
that API's call, and links to the functions it feeds (and the function page links back here).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from nimbus.api import actions as api
from nimbus.api.actions import Call as ApiCall
from nimbus.api.actions import Where
from nimbus.api.http import Response
from nimbus.api.services import Services
from nimbus.console import web
from nimbus.console.actions import parse_body
from nimbus.console.front import Call, CallOf, ConsoleFront
from nimbus.deploy.stacks import Stacks
from nimbus.errors import InvalidParameterValue

#: queue attributes the queue page shows first
DEPTH = ("ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible", "ApproximateNumberOfMessagesDelayed")
#: a test message's most characters (SQS's 256 KiB)
SEND_MAX = 262_144


def link(text: str, href: str) -> dict[str, str]:
    return {"text": text, "href": href}


def function_link(services: Services, arn: str) -> dict[str, str] | str:
    """A function's page link from a (possibly qualified) function ARN of this account; the ARN itself otherwise."""
    prefix = services.registry.function_arn("")
    if not arn.startswith(prefix):
        return arn
    name = arn[len(prefix) :].split(":", 1)[0]
    return link(arn[len(prefix) :], f"{web.ROOT}/functions/{name}") if name in services.registry.names() else arn


class Resources:
    def __init__(self, services: Services, stacks: Stacks | None, front: ConsoleFront) -> None:
        self.services = services
        self.stacks = stacks
        self.where = Where(services.settings.region, services.settings.account_id)
        w = self.where
        add = front.add
        add("GET", "/queues", self.queues, lambda p, b: api.sqs_call(w, "ListQueues", {}))
        add("GET", "/queues/{queue}", self.queue, self._sqs("GetQueueAttributes"))
        add("POST", "/queues/{queue}/send", self.send, self._sqs("SendMessage"), api=True)
        add("POST", "/queues/{queue}/receive", self.receive, self._sqs("ReceiveMessage"), api=True)
        add("GET", "/topics", self.topics, lambda p, b: api.sns_call(w, "ListTopics", {}))
        add("GET", "/topics/{topic}", self.topic,
            lambda p, b: api.sns_call(w, "GetTopicAttributes", {"TopicArn": w.arn("sns", p["topic"])}))  # fmt: skip
        add("GET", "/rules", self.rules, lambda p, b: api.events_call(w, "ListRules", {}))
        add("GET", "/schedules", self.schedules, lambda p, b: api.scheduler_call(w, "ListSchedules", {}, {}, {}))
        add("GET", "/apis", self.apis, lambda p, b: api.apigw_call(w, "GET", "/v2/apis"))
        add("GET", "/apis/{api}", self.api_page, lambda p, b: api.apigw_call(w, "GET", f"/v2/apis/{p['api']}"))
        if stacks is not None:
            add("GET", "/stacks", self.stack_list, lambda p, b: api.stacks_call(w, "ListStacks", {}, False))
            add("GET", "/stacks/{stack}", self.stack,
                lambda p, b: api.stacks_call(w, "DescribeStack", {"StackName": p["stack"]}, False))  # fmt: skip

    def _sqs(self, operation: str) -> CallOf:
        def call(params: Mapping[str, str], body: bytes) -> ApiCall:
            return api.sqs_call(self.where, operation, {"QueueName": params.get("queue", "")})

        return call

    @staticmethod
    def _list(call: Call, title: str, columns: list[str], rows: list[list[Any]], empty: str) -> Response:
        return web.page("table.html", session=call.session, title=title, columns=columns, rows=rows, empty=empty)

    @staticmethod
    def _detail(call: Call, kind: str, path: str, title: str, facts: Mapping[str, Any],
                *tables: tuple[str, list[str], list[list[Any]]], queue: str = "") -> Response:  # fmt: skip
        """One resource's page: its kind's list linked, facts, and tables of (title, columns, rows)."""
        return web.page("detail.html", session=call.session, kind=kind, kind_href=f"{web.ROOT}/{path}", title=title,
                        facts=facts, queue=queue,
                        tables=[{"title": t, "columns": c, "rows": r} for t, c, r in tables])  # fmt: skip

    def _endpoint(self, api_id: str) -> str:
        endpoints = self.services.endpoints
        return endpoints.base("execute-api", api_id) if endpoints is not None else "-"

    # ---- queues ----
    async def queues(self, call: Call) -> Response:
        names, _ = await self.services.queues.list_queues("", None, None)
        rows = []
        for name in names:
            attrs = await self.services.queues.get_attributes(name, list(DEPTH))
            rows.append([link(name, f"{web.ROOT}/queues/{name}"), *(attrs.get(a, "") for a in DEPTH)])
        return self._list(call, "Queues", ["Name", "Available", "In flight", "Delayed"], rows, "No queues.")

    async def queue(self, call: Call) -> Response:
        name = call.params["queue"]
        attrs = await self.services.queues.get_attributes(name, ["All"])
        arn = self.services.queues.arn(name)
        feeds = [[m.uuid, function_link(self.services, self.services.registry.function_arn(m.function_name)),
                  "Enabled" if m.enabled else "Disabled", m.batch_size]
                 for m in self.services.mappings.list(arn, None, None, None)[0]]  # fmt: skip
        facts = {a: attrs[a] for a in DEPTH if a in attrs} | {k: v for k, v in sorted(attrs.items()) if k not in DEPTH}
        return self._detail(
            call,
            "Queues",
            "queues",
            name,
            facts,
            ("Event source mappings", ["UUID", "Function", "State", "Batch size"], feeds),
            queue=name,
        )

    async def send(self, call: Call) -> Response:
        body = parse_body(call.body).get("body")
        if not isinstance(body, str) or not body or len(body) > SEND_MAX:
            raise InvalidParameterValue(f"A test message has a body of 1 to {SEND_MAX} characters.")
        sent = await self.services.queues.send(call.params["queue"], body)
        return web.json_response({"MessageId": sent.message_id})

    async def receive(self, call: Call) -> Response:
        got = await self.services.queues.receive(call.params["queue"], max_count=10, wait_s=0)
        return web.json_response({"Messages": [{"MessageId": m.message_id, "Body": m.body,
                                                "ReceiveCount": m.receive_count} for _, m in got]})  # fmt: skip

    # ---- topics, rules, schedules ----
    async def topics(self, call: Call) -> Response:
        arns, _ = self.services.topics.list_topics(None)
        subs, _ = self.services.topics.list_subscriptions(None, None)
        rows = [[link(arn.rsplit(":", 1)[-1], f"{web.ROOT}/topics/{arn.rsplit(':', 1)[-1]}"), arn,
                 sum(s.topic_arn == arn for s in subs)] for arn in arns]  # fmt: skip
        return self._list(call, "Topics", ["Name", "ARN", "Subscriptions"], rows, "No topics.")

    async def topic(self, call: Call) -> Response:
        arn = self.where.arn("sns", call.params["topic"])
        attrs = self.services.topics.topic_attributes(arn)
        subs, _ = self.services.topics.list_subscriptions(arn, None)
        rows = [[s.protocol, function_link(self.services, s.endpoint) if s.protocol == "lambda" else s.endpoint,
                 "pending" if s.pending else "confirmed"] for s in subs]  # fmt: skip
        facts = {k: v for k, v in sorted(attrs.items()) if k not in ("Policy", "EffectiveDeliveryPolicy")}
        return self._detail(
            call,
            "Topics",
            "topics",
            call.params["topic"],
            facts,
            ("Subscriptions", ["Protocol", "Endpoint", "State"], rows),
        )

    async def rules(self, call: Call) -> Response:
        rows = []
        for bus in sorted(self.services.event_bus.rules.rules):
            for rule in sorted(self.services.event_bus.rules.rules[bus].values(), key=lambda r: r.name):
                targets = [function_link(self.services, str(t.get("Arn", ""))) for t in rule.targets]
                rows.append([bus, rule.name, rule.state, rule.schedule or rule.event_pattern or "", targets])
        return self._list(call, "EventBridge rules", ["Bus", "Rule", "State", "Pattern or schedule", "Targets"], rows,
                          "No rules.")  # fmt: skip

    async def schedules(self, call: Call) -> Response:
        rows = [[s.group, s.name, s.expression, s.state, [function_link(self.services, str(s.target.get("Arn", "")))]]
                for s in self.services.scheduler.schedules()]  # fmt: skip
        return self._list(call, "Schedules", ["Group", "Name", "Expression", "State", "Target"], rows, "No schedules.")

    # ---- HTTP APIs ----
    async def apis(self, call: Call) -> Response:
        rows = [[link(a.name, f"{web.ROOT}/apis/{a.api_id}"), a.api_id, a.protocol_type, len(a.routes),
                 self._endpoint(a.api_id)] for a in self.services.http_apis.apis()]  # fmt: skip
        return self._list(call, "HTTP APIs", ["Name", "Id", "Protocol", "Routes", "Endpoint"], rows, "No HTTP APIs.")

    async def api_page(self, call: Call) -> Response:
        doc = self.services.http_apis.api(call.params["api"])
        rows = []
        for route in sorted(doc.routes.values(), key=lambda r: r.route_key):
            integration = doc.integrations.get((route.target or "").removeprefix("integrations/"))
            target = function_link(self.services, integration.function_arn) if integration else "(no integration)"
            rows.append([route.route_key, route.authorization_type, target])
        facts = {"Id": doc.api_id, "Protocol": doc.protocol_type, "Endpoint": self._endpoint(doc.api_id),
                 "Stages": ", ".join(sorted(doc.stages)) or "-"}  # fmt: skip
        return self._detail(
            call, "HTTP APIs", "apis", doc.name, facts, ("Routes", ["Route", "Authorization", "Function"], rows)
        )

    # ---- stacks ----
    async def stack_list(self, call: Call) -> Response:
        assert self.stacks is not None
        found = [s for n in self.stacks.names() if (s := self.stacks.get(n, deleted_ok=True))]
        rows = [[link(s.name, f"{web.ROOT}/stacks/{s.name}"), s.status, s.updated or s.created] for s in found]
        return self._list(call, "Stacks", ["Name", "Status", "Last updated"], rows, "No stacks.")

    async def stack(self, call: Call) -> Response:
        assert self.stacks is not None
        stack = self.stacks.get(call.params["stack"])
        rows = []
        for logical_id, row in sorted(self.stacks.store.rows(stack.name).items()):
            physical = row.current.physical_id if row.current else ""
            rows.append([logical_id, row.type, self._resource_link(row.type, physical), row.status])
        outputs = [[o.get("OutputKey", ""), o.get("OutputValue", "")] for o in stack.outputs]
        facts = {"Status": stack.status, "Reason": stack.reason or "-", "Created": stack.created,
                 "Updated": stack.updated or "-"}  # fmt: skip
        return self._detail(call, "Stacks", "stacks", stack.name, facts,
                            ("Resources", ["Logical id", "Type", "Physical id", "Status"], rows),
                            ("Outputs", ["Key", "Value"], outputs))  # fmt: skip

    def _resource_link(self, kind: str, physical: str) -> dict[str, str] | str:
        if kind == "AWS::Lambda::Function" and physical in self.services.registry.names():
            return link(physical, f"{web.ROOT}/functions/{physical}")
        if kind == "AWS::SQS::Queue" and physical:
            return link(physical, f"{web.ROOT}/queues/{physical.rstrip('/').rsplit('/', 1)[-1]}")
        if kind == "AWS::SNS::Topic" and physical.startswith("arn:"):
            return link(physical, f"{web.ROOT}/topics/{physical.rsplit(':', 1)[-1]}")
        if kind == "AWS::ApiGatewayV2::Api" and physical:
            return link(physical, f"{web.ROOT}/apis/{physical}")
        return physical

    def stacks_of(self, function: str) -> list[str]:
        """The stacks that made `function` (the function page links to them)."""
        if self.stacks is None:
            return []
        return [name for name in self.stacks.names()
                if any(r.current and r.current.physical_id == function and r.type == "AWS::Lambda::Function"
                       for r in self.stacks.store.rows(name).values())]  # fmt: skip

    def apis_of(self, function_arn: str) -> list[dict[str, str]]:
        """The HTTP APIs with a route to `function_arn` (qualified or not)."""
        return [{"id": a.api_id, "name": a.name} for a in self.services.http_apis.apis()
                if any(i.function_arn == function_arn or i.function_arn.startswith(function_arn + ":")
                       for i in a.integrations.values())]  # fmt: skip
