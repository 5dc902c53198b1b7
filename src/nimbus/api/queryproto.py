"""The AWS query protocol (SNS), driven by botocore's service model, as the SDKs themselves are.

A request is a form (`application/x-www-form-urlencoded` body, or the query string of a GET) of flat keys:
`Action` and `Version`, structure members by `Member.Sub`, lists as `Member.member.N` (or the member's
locationName; flattened lists drop the `.member`), maps as `Member.entry.N.key` / `.value` (names from the key's and
value's locationName: SNS's MessageAttributes are `MessageAttributes.entry.1.Name` / `.Value.DataType`). The codec
rebuilds the operation's input dict from the model, converts scalars (booleans, numbers), and validates it with the
JSON codec's checks (`JsonProtocol.validate`). The output is XML by the model:
`<OpResponse xmlns=...><OpResult>...</OpResult><ResponseMetadata><RequestId/></ResponseMetadata></OpResponse>`, lists
as `<member>`, maps as `<entry><key/><value/></entry>`. Errors are `api/errors.py`'s.
"""

from __future__ import annotations

import base64
import datetime as dt
from typing import Any
from urllib.parse import parse_qsl

from botocore.model import ListShape, MapShape, OperationModel, ServiceModel, Shape, StructureShape

from nimbus.api.http import Request
from nimbus.api.jsonproto import InvalidFactory, JsonProtocol, MissingFactory, load_model
from nimbus.errors import InvalidParameter, NimbusError, UnknownOperation

#: the most fields a form may carry (a PublishBatch of 10 entries with 10 attributes each is ~400)
MAX_FIELDS = 5000


def _invalid(message: str, shape: Shape) -> NimbusError:
    return InvalidParameter(message)


def _missing(path: str) -> NimbusError:
    return InvalidParameter(f"Invalid parameter: {path}")


def parse_form(body: bytes, query: str = "") -> dict[str, str]:
    """The flat form of a request: its query string's fields, then its body's (the body wins), as text."""
    fields: dict[str, str] = {}
    for source in (query, body.decode("utf-8", "replace") if body else ""):
        if not source:
            continue
        try:
            fields.update(parse_qsl(source, keep_blank_values=True, max_num_fields=MAX_FIELDS, strict_parsing=False))
        except ValueError as exc:  # too many fields
            raise InvalidParameter(f"The request has too many parameters ({exc}).") from None
    return fields


def form_of(req: Request) -> dict[str, str]:
    """`req`'s form (`parse_form`), as the authorizer parsed it already (`Request.parsed`) or parsed now."""
    if req.parsed is None:
        req.parsed = parse_form(req.body, req.query)
    fields: dict[str, str] = req.parsed
    return fields


def _prefixes(fields: dict[str, str]) -> frozenset[str]:
    """Every dotted prefix of every key: `a.b.c` gives `a`, `a.b`, `a.b.c` (presence tests in O(1))."""
    out: set[str] = set()
    for key in fields:
        parts = key.split(".")
        for i in range(1, len(parts) + 1):
            out.add(".".join(parts[:i]))
    return frozenset(out)


class QueryProtocol:
    """Parse, validate and serialize one query-protocol service's operations."""

    def __init__(
        self,
        service: str,
        *,
        invalid: InvalidFactory = _invalid,
        missing: MissingFactory = _missing,
        camel_paths: bool = False,
    ) -> None:
        """`camel_paths`: members named in validation messages with a lower-case first letter, as IAM and STS
        name them ("Value 'x' at 'roleName' failed to satisfy constraint")."""
        self.model: ServiceModel = load_model(service)
        self.namespace = str(self.model.metadata.get("xmlNamespace", ""))
        self.version = str(self.model.metadata["apiVersion"])
        self.checks = JsonProtocol(service, invalid=invalid, missing=missing, model=self.model, camel_paths=camel_paths)

    def operation(self, fields: dict[str, str]) -> OperationModel:
        """The operation a form's `Action` names, or UnknownOperation (the query protocol's InvalidAction)."""
        action = fields.get("Action", "")
        if action not in self.model.operation_names:
            shown = action or "(no Action)"
            raise UnknownOperation(f"Nimbus's {self.model.service_id} API does not implement {shown}.")
        return self.model.operation_model(action)

    # ---- input ----
    def parse(self, op: OperationModel, fields: dict[str, str]) -> dict[str, Any]:
        """The operation's input dict from the flat form, checked against the model (blobs decoded)."""
        shape = op.input_shape
        if shape is None:
            return {}
        value = self._read(shape, fields, _prefixes(fields), "")
        return self.checks.validate(op.name, value if isinstance(value, dict) else {})

    def _read(self, shape: Shape, fields: dict[str, str], present: frozenset[str], prefix: str) -> Any:
        if isinstance(shape, StructureShape):
            out: dict[str, Any] = {}
            for name, member in shape.members.items():
                key = member.serialization.get("name", name)
                path = f"{prefix}.{key}" if prefix else key
                if path in present:
                    out[name] = self._read(member, fields, present, path)
            return out
        if isinstance(shape, ListShape):
            if fields.get(prefix) == "":
                return []
            flat = shape.serialization.get("flattened", False)
            base = prefix if flat else f"{prefix}.{shape.member.serialization.get('name', 'member')}"
            items: list[Any] = []
            while f"{base}.{len(items) + 1}" in present:
                items.append(self._read(shape.member, fields, present, f"{base}.{len(items) + 1}"))
            return items
        if isinstance(shape, MapShape):
            if fields.get(prefix) == "":
                return {}
            base = prefix if shape.serialization.get("flattened", False) else f"{prefix}.entry"
            key_name = shape.key.serialization.get("name", "key")
            value_name = shape.value.serialization.get("name", "value")
            entries: dict[Any, Any] = {}
            i = 1
            while f"{base}.{i}" in present:
                key = self._read(shape.key, fields, present, f"{base}.{i}.{key_name}")
                if f"{base}.{i}.{value_name}" in present:
                    entries[key] = self._read(shape.value, fields, present, f"{base}.{i}.{value_name}")
                else:
                    entries[key] = None if not isinstance(shape.value, StructureShape) else {}
                i += 1
            return entries
        text = fields.get(prefix, "")
        kind = shape.type_name
        if kind == "boolean":
            lowered = text.lower()
            return True if lowered == "true" else False if lowered == "false" else text
        if kind in ("integer", "long"):
            try:
                return int(text)
            except ValueError:
                return text
        if kind in ("float", "double"):
            try:
                return float(text)
            except ValueError:
                return text
        return text

    # ---- output ----
    def serialize(self, op: OperationModel, output: dict[str, Any] | None, request_id: str) -> bytes:
        """The XML response for `output` by the operation's output shape (a bare ResponseMetadata without one)."""
        name = op.name
        parts = [f'<?xml version="1.0" encoding="UTF-8"?>\n<{name}Response xmlns="{self.namespace}">']
        shape = op.output_shape
        if shape is not None:
            wrapper = shape.serialization.get("resultWrapper", f"{name}Result")
            parts.append(f"<{wrapper}>")
            _members(parts, shape, output or {})
            parts.append(f"</{wrapper}>")
        parts.append(f"<ResponseMetadata><RequestId>{request_id}</RequestId></ResponseMetadata></{name}Response>")
        return "".join(parts).encode()


def xml_text(value: str) -> str:
    """`value` as XML character data: markup escaped, and CR kept (a parser would fold a literal one into LF)."""
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\r", "&#13;")


def _members(parts: list[str], shape: StructureShape, value: dict[str, Any]) -> None:
    for name, member in shape.members.items():
        item = value.get(name)
        if item is None:
            continue
        _element(parts, member, member.serialization.get("name", name), item)


def _element(parts: list[str], shape: Shape, tag: str, value: Any) -> None:
    if isinstance(shape, ListShape):
        member_tag = shape.member.serialization.get("name", "member")
        if shape.serialization.get("flattened", False):
            for item in value:
                _element(parts, shape.member, tag, item)
            return
        parts.append(f"<{tag}>")
        for item in value:
            _element(parts, shape.member, member_tag, item)
        parts.append(f"</{tag}>")
        return
    if isinstance(shape, MapShape):
        key_tag = shape.key.serialization.get("name", "key")
        value_tag = shape.value.serialization.get("name", "value")
        flat = shape.serialization.get("flattened", False)
        if not flat:
            parts.append(f"<{tag}>")
        for k, v in value.items():
            parts.append(f"<{tag}>" if flat else "<entry>")
            _element(parts, shape.key, key_tag, k)
            _element(parts, shape.value, value_tag, v)
            parts.append(f"</{tag}>" if flat else "</entry>")
        if not flat:
            parts.append(f"</{tag}>")
        return
    if isinstance(shape, StructureShape):
        parts.append(f"<{tag}>")
        _members(parts, shape, value)
        parts.append(f"</{tag}>")
        return
    parts.append(f"<{tag}>{_scalar(shape, value)}</{tag}>")


def _scalar(shape: Shape, value: Any) -> str:
    kind = shape.type_name
    if kind == "boolean":
        return "true" if value else "false"
    if kind == "blob":
        data = value if isinstance(value, bytes | bytearray) else str(value).encode()
        return base64.b64encode(data).decode()
    if kind == "timestamp" and isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    return xml_text(str(value))
