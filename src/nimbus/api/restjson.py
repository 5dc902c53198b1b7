"""The REST-JSON protocol (API Gateway v2 now, usable for Lambda), driven by botocore's service model as the SDKs
are: an operation's route (method + requestUri), its input gathered from where the model says the wire carries
each member (URI labels, query string, headers, JSON body under `locationName`), validated by `JsonProtocol`'s
checks, and its output serialized by `locationName` with the model's timestamp format and `http.responseCode`.

So a service module only maps operations to service calls, and the wire names, the status codes and the
constraints come from the same model the caller's SDK was built from.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Awaitable, Callable
from functools import cache
from typing import Any

from botocore.loaders import Loader
from botocore.model import ListShape, MapShape, OperationModel, ServiceModel, Shape, StructureShape

from nimbus.api.http import Request, Response
from nimbus.api.jsonproto import JsonProtocol
from nimbus.errors import InvalidRequestContent

#: shapes whose length bounds the model only names (apigatewayv2: `StringWithLengthBetween1And128`)
_NAMED_BOUNDS = re.compile(r"(?:String|Uri)WithLengthBetween(\d+)And(\d+)(K?)")

#: an operation's service call: its validated input (by model member name) -> its output (same), or None
Operation = Callable[[dict[str, Any]], Awaitable[dict[str, Any] | None]]


@cache
def rest_model(service: str) -> ServiceModel:
    """The service's botocore model, with the length bounds its shape names state made into constraints (the
    installed model of apigatewayv2 says `StringWithLengthBetween1And128` but carries no `min`/`max`)."""
    raw = Loader().load_service_model(service, "service-2")
    for name, shape in raw["shapes"].items():
        m = _NAMED_BOUNDS.fullmatch(name)
        if m and shape.get("type") == "string":
            shape.setdefault("min", int(m.group(1)))
            shape.setdefault("max", int(m.group(2)) * (1024 if m.group(3) else 1))
    return ServiceModel(raw, service)


def iso8601(value: Any) -> Any:
    """A timestamp as API Gateway answers it (`2026-11-30T11:00:00Z`); epoch seconds or datetimes accepted."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        value = dt.datetime.fromtimestamp(value, dt.UTC)
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return value


class RestJsonProtocol:
    """Routes, parses, validates and serializes one REST-JSON service's operations."""

    def __init__(self, service: str) -> None:
        self.model = rest_model(service)
        self.checks = JsonProtocol(service, camel_paths=True, model=self.model)
        #: the timestamp format of bodies when a shape names none (rest-json's default is epoch seconds)
        self._default_time = self.model.metadata.get("timestampFormat", "unixTimestamp")

    def operation(self, name: str) -> OperationModel:
        return self.model.operation_model(name)

    def route(self, name: str) -> tuple[str, str]:
        """(method, path template) of an operation: `("GET", "/v2/apis/{apiId}")`; a greedy label `{Key+}` and
        the request URI's fixed query part are left out (no operation we serve uses them)."""
        http = self.operation(name).http
        return http["method"], http["requestUri"].partition("?")[0].replace("+}", "}")

    # ---- input ----
    def parse(self, name: str, req: Request) -> dict[str, Any]:
        """The operation's input, by model member name, from wherever the wire carried each member; validated
        against the model (a refusal is a ValidationError)."""
        op = self.operation(name)
        shape = op.input_shape
        if shape is None:
            return {}
        value: dict[str, Any] = {}
        query = req.query_params() if req.query else {}
        payload = shape.serialization.get("payload")
        body_members = False
        for member_name, member in shape.members.items():
            location = member.serialization.get("location")
            wire = member.serialization.get("name", member_name)
            if location == "uri":
                if wire in req.params:
                    value[member_name] = req.params[wire]
            elif location == "querystring":
                if wire in query:
                    values = query[wire]
                    value[member_name] = values if isinstance(member, ListShape) else _scalar(member, values[0])
            elif location == "header":
                header = req.header(wire.lower())
                if header is not None:
                    value[member_name] = _scalar(member, header)
            elif member_name == payload:
                if req.body:
                    value[member_name] = (
                        req.body.decode("utf-8", "replace") if member.type_name == "string"
                        else req.json() if isinstance(member, StructureShape) else req.body
                    )  # fmt: skip
            else:
                body_members = True
        if body_members and payload is None:
            document = req.json()
            value.update(_from_wire(shape, document, body_only=True))
        return self.checks.validate(name, value)

    # ---- output ----
    def respond(self, name: str, output: dict[str, Any] | None) -> Response:
        """The operation's answer: status from `http.responseCode`, header members as headers, the rest as a
        JSON body by `locationName` (no body when the operation has no output)."""
        op = self.operation(name)
        status = int(op.http.get("responseCode", 200))
        shape = op.output_shape
        if shape is None:
            return Response(status)
        headers: list[tuple[bytes, bytes]] = [(b"content-type", b"application/json")]
        output = output or {}
        for member_name, member in shape.members.items():
            if member.serialization.get("location") == "header" and output.get(member_name) is not None:
                wire = member.serialization.get("name", member_name)
                headers.append((wire.lower().encode(), str(output[member_name]).encode()))
        body = self._to_wire(shape, output, body_only=True)
        return Response(status, json.dumps(body, separators=(",", ":")).encode(), headers)

    def _to_wire(self, shape: Shape, value: Any, *, body_only: bool = False) -> Any:
        if isinstance(shape, StructureShape):
            out: dict[str, Any] = {}
            for member_name, member in shape.members.items():
                v = value.get(member_name)
                if v is None or (body_only and member.serialization.get("location")):
                    continue
                out[member.serialization.get("name", member_name)] = self._to_wire(member, v)
            return out
        if isinstance(shape, ListShape):
            return [self._to_wire(shape.member, v) for v in value]
        if isinstance(shape, MapShape):
            return {k: self._to_wire(shape.value, v) for k, v in value.items()}
        if shape.type_name == "timestamp":
            fmt = shape.serialization.get("timestampFormat", self._default_time)
            if fmt == "iso8601":
                return iso8601(value)
            return value.timestamp() if isinstance(value, dt.datetime) else value
        return value


def _scalar(shape: Shape, text: str) -> Any:
    """A query string or header value as the member's type; a value that is not one is left as text, for the
    model's check to refuse in its own words."""
    if shape.type_name == "boolean" and text in ("true", "false"):
        return text == "true"
    if shape.type_name in ("integer", "long") and re.fullmatch(r"-?\d{1,18}", text):
        return int(text)
    return text


def _from_wire(shape: Shape, value: Any, *, body_only: bool = False) -> Any:
    """A JSON body value by `locationName` to the same value by model member name (unknown keys dropped, as
    API Gateway ignores them)."""
    if isinstance(shape, StructureShape):
        if not isinstance(value, dict):
            if body_only:
                raise InvalidRequestContent("Could not parse request body into json: expected an object")
            return value  # the model's check refuses it, naming the member
        out: dict[str, Any] = {}
        for member_name, member in shape.members.items():
            if body_only and member.serialization.get("location"):
                continue
            wire = member.serialization.get("name", member_name)
            if wire in value:
                out[member_name] = _from_wire(member, value[wire])
        return out
    if isinstance(shape, ListShape) and isinstance(value, list):
        return [_from_wire(shape.member, v) for v in value]
    if isinstance(shape, MapShape) and isinstance(value, dict):
        return {k: _from_wire(shape.value, v) for k, v in value.items()}
    return value
