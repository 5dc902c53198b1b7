"""Every Lambda operation's input checked against botocore's model before any service rule, as Lambda checks it.

The members are gathered from wherever the wire carries them (path, query string, headers, JSON body) under the
model's names, so one check covers them all: what the model refuses (pattern, length, range, enum, a missing
required member) is a ValidationException naming every violation ("2 validation errors detected: ...; ...") with
the member's lowerCamel wire name. What passes goes to the handler untouched, where the service rules answer
InvalidParameterValueException. Invoke is not guarded: its path is hot, and its few inputs are checked by the
function reference parser, which words its refusals from the same model.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from nimbus.api.http import Handler, Request, Response
from nimbus.api.jsonproto import JsonProtocol

_OPEN_ENUMS = frozenset({"CreateFunction.Runtime", "UpdateFunctionConfiguration.Runtime"})


@dataclass(frozen=True)
class _Member:
    name: str
    location: str  # "uri", "querystring", "header", "payload" (the raw body) or "" (a JSON body member)
    wire: str
    kind: str


def _scalar(text: str, kind: str) -> Any:
    """A path or query string value as the model types it; text that is no such value stays, for the model to
    refuse ("Member must be an integer")."""
    if kind in ("integer", "long"):
        try:
            return int(text) if text.strip() == text else text
        except ValueError:
            return text
    if kind == "boolean" and text in ("true", "false"):
        return text == "true"
    return text


class LambdaInput:
    """The model check of Lambda's operations, shared by the Lambda API modules."""

    def __init__(self) -> None:
        # a function's Runtime is a service rule (its answer is InvalidParameterValueException), not the model's
        self.protocol = JsonProtocol("lambda", camel_paths=True, aggregate=True, open_enums=_OPEN_ENUMS)
        self._plans: dict[str, tuple[tuple[_Member, ...], bool]] = {}

    def _plan(self, operation: str) -> tuple[tuple[_Member, ...], bool]:
        plan = self._plans.get(operation)
        if plan is None:
            shape = self.protocol.model.operation_model(operation).input_shape
            members = tuple(
                _Member(name, m.serialization.get("location", ""), m.serialization.get("name", name), m.type_name)
                for name, m in (shape.members.items() if shape is not None else ())
            )
            payload = shape.serialization.get("payload") if shape is not None else None
            # a raw payload (InvokeAsync's InvokeArgs) is the body itself, checked by its handler: "" stands for it
            members = tuple(_Member(m.name, "payload", "", "") if m.name == payload else m for m in members)
            plan = self._plans[operation] = (members, payload is None)
        return plan

    def members(self, operation: str, req: Request) -> dict[str, Any]:
        """The operation's input members as the request carries them (not yet checked)."""
        members, json_body = self._plan(operation)
        body = req.json() if json_body and any(not m.location for m in members) else {}
        query = req.query_params() if any(m.location == "querystring" for m in members) else {}
        value: dict[str, Any] = {}
        for m in members:
            if m.location == "uri":
                raw = req.params.get(m.wire)
                if raw is not None:
                    value[m.name] = _scalar(raw, m.kind)
            elif m.location == "querystring":
                sent = query.get(m.wire)
                if sent:
                    value[m.name] = sent if m.kind == "list" else _scalar(sent[0], m.kind)
            elif m.location == "payload":
                value[m.name] = ""
            elif m.location == "header":
                header = req.header(m.wire.lower())
                if header is not None:
                    value[m.name] = header
            elif m.name in body:
                value[m.name] = body[m.name]
        return value

    def check(self, operation: str, req: Request) -> dict[str, Any]:
        """The request's members, checked against the operation's input shape (ValidationException otherwise)."""
        return self.protocol.validate(operation, self.members(operation, req))

    def guard(self, operation: str, handler: Handler, choose: Callable[[Request], str] | None = None) -> Handler:
        """`handler`, run once the request passes the model check of `operation` (or of the operation `choose`
        names, where two operations share a route: ListLayers and GetLayerVersionByArn)."""

        async def checked(req: Request) -> Response:
            self.check(choose(req) if choose is not None else operation, req)
            return await handler(req)

        return checked
