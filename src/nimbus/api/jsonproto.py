"""The AWS JSON protocol (1.0 and 1.1), driven by botocore's service model, as the SDKs themselves are.

One codec for every JSON-protocol service: it finds the operation from `X-Amz-Target`, parses and validates the
input against the operation's input shape (required members, types, string lengths and patterns, number ranges,
enums, list and map sizes), decodes blobs, and serializes an output dict by its output shape (blobs to base64,
timestamps to epoch seconds, None dropped). What a violation is called on the wire is the service's choice, so the
codec raises through the two factories it is given; a service module then only maps operations to service calls.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import re
from collections.abc import Callable
from functools import cache
from typing import Any

from botocore.loaders import Loader
from botocore.model import ListShape, MapShape, OperationModel, ServiceModel, Shape, StructureShape

from nimbus.api.http import parse_json
from nimbus.errors import InvalidRequestContent, NimbusError, UnknownOperation, ValidationError

#: (message, shape) -> the service's error for a value its model refuses
InvalidFactory = Callable[[str, Shape], NimbusError]
#: (member path) -> the service's error for a missing required member
MissingFactory = Callable[[str], NimbusError]


def _default_invalid(message: str, shape: Shape) -> NimbusError:
    return ValidationError(message)


def _default_missing(path: str) -> NimbusError:
    return ValidationError(f"1 validation error detected: Value null at '{path}' failed to satisfy constraint: "
                           "Member must not be null")  # fmt: skip


_INDEX = re.compile(r"\.\d+")


@cache
def _pattern(text: str) -> re.Pattern[str]:
    return re.compile(text)


@cache
def load_model(service: str) -> ServiceModel:
    """The newest installed botocore model of `service` (loaded once per process)."""
    return ServiceModel(Loader().load_service_model(service, "service-2"), service)


class JsonProtocol:
    """Parse, validate and serialize one JSON-protocol service's operations."""

    def __init__(
        self,
        service: str,
        *,
        invalid: InvalidFactory = _default_invalid,
        missing: MissingFactory = _default_missing,
        open_enums: frozenset[str] = frozenset(),
        camel_paths: bool = False,
        model: ServiceModel | None = None,
    ) -> None:
        """`open_enums`: members (`Operation.Member`, list indices left out) whose modeled enum the service itself
        does not enforce (SQS's ReceiveMessage.AttributeNames takes message system attribute names too).
        `camel_paths`: name members in error messages as the service does, with a lower-case first letter
        (Lambda: "Value 'X' at 'authType' failed to satisfy constraint"). `model`: the service model to use
        instead of botocore's as installed (the REST-JSON codec completes constraints the model leaves in names)."""
        self.model = model or load_model(service)
        meta = self.model.metadata
        #: "" for a REST service (Lambda, API Gateway), which names operations by method and path, not a header
        self.target_prefix = f"{meta['targetPrefix']}." if "targetPrefix" in meta else ""
        self.content_type = f"application/x-amz-json-{meta.get('jsonVersion', '1.0')}".encode()
        self._invalid = invalid
        self._missing = missing
        self._open_enums = open_enums
        self._camel = camel_paths

    def operation(self, target: str) -> OperationModel:
        """The operation an `X-Amz-Target` header names, or UnknownOperation."""
        name = target[len(self.target_prefix) :] if target.startswith(self.target_prefix) else ""
        if name not in self.model.operation_names:
            raise UnknownOperation(f"Nimbus's {self.model.service_id} API does not implement {target!r}.")
        return self.model.operation_model(name)

    # ---- input ----
    def parse(self, op: OperationModel, body: bytes) -> dict[str, Any]:
        """The request body as a validated dict (blobs decoded to bytes); refuses what the model refuses."""
        value = parse_json(body) if body.strip() else {}
        if not isinstance(value, dict):
            raise InvalidRequestContent("Could not parse request body into json: expected an object")
        shape = op.input_shape
        if shape is None:
            return {}
        opened = frozenset(e.partition(".")[2] for e in self._open_enums if e.startswith(f"{op.name}."))
        out = self._check(shape, value, "", opened)
        assert isinstance(out, dict)
        return out

    def validate(self, operation: str, value: dict[str, Any]) -> dict[str, Any]:
        """`value` (every input member, wherever the wire carried it: path, query string, headers, body, under the
        model's member names) checked against the operation's input shape: the validation a REST service's
        handlers share with the JSON protocol's. Returns the checked dict (blobs decoded)."""
        op = self.model.operation_model(operation)
        if op.input_shape is None:
            return {}
        out = self._check(op.input_shape, value, "", frozenset())
        assert isinstance(out, dict)
        return out

    def _shown_path(self, path: str) -> str:
        if not self._camel:
            return path
        return ".".join(part[:1].lower() + part[1:] for part in path.split("."))

    def _fail(self, shape: Shape, path: str, value: Any, constraint: str) -> NimbusError:
        shown = value if isinstance(value, str | int | float) else type(value).__name__
        path = self._shown_path(path)
        return self._invalid(
            f"1 validation error detected: Value '{shown}' at '{path}' failed to satisfy constraint: {constraint}",
            shape,
        )

    def _check(self, shape: Shape, value: Any, path: str, opened: frozenset[str]) -> Any:
        kind = shape.type_name
        meta = shape.metadata
        if isinstance(shape, StructureShape):
            if not isinstance(value, dict):
                raise self._fail(shape, path, value, "Member must be a structure")
            out: dict[str, Any] = {}
            for name in shape.required_members:
                if value.get(name) is None:
                    raise self._missing(self._shown_path(f"{path}.{name}" if path else name))
            for name, member in shape.members.items():
                if value.get(name) is not None:
                    out[name] = self._check(member, value[name], f"{path}.{name}" if path else name, opened)
            return out
        if isinstance(shape, ListShape):
            if not isinstance(value, list):
                raise self._fail(shape, path, value, "Member must be a list")
            self._size(shape, path, value, len(value))
            return [self._check(shape.member, v, f"{path}.{i + 1}", opened) for i, v in enumerate(value)]
        if isinstance(shape, MapShape):
            if not isinstance(value, dict):
                raise self._fail(shape, path, value, "Member must be a map")
            self._size(shape, path, value, len(value))
            return {self._check(shape.key, k, f"{path}.key", opened): self._check(shape.value, v, f"{path}.{k}", opened)
                    for k, v in value.items()}  # fmt: skip
        if kind == "string":
            if not isinstance(value, str):
                raise self._fail(shape, path, value, "Member must be a string")
            enum = meta.get("enum")
            if enum and value not in enum and _INDEX.sub("", path) not in opened:
                raise self._fail(shape, path, value, f"Member must satisfy enum value set: [{', '.join(enum)}]")
            self._size(shape, path, value, len(value))
            if "pattern" in meta and not _pattern(meta["pattern"]).fullmatch(value):
                raise self._fail(
                    shape, path, value, f"Member must satisfy regular expression pattern: {meta['pattern']}"
                )
            return value
        if kind in ("integer", "long"):
            if not isinstance(value, int) or isinstance(value, bool):
                raise self._fail(shape, path, value, "Member must be an integer")
            self._range(shape, path, value)
            return value
        if kind in ("float", "double"):
            if not isinstance(value, int | float) or isinstance(value, bool):
                raise self._fail(shape, path, value, "Member must be a number")
            self._range(shape, path, value)
            return value
        if kind == "boolean":
            if not isinstance(value, bool):
                raise self._fail(shape, path, value, "Member must be a boolean")
            return value
        if kind == "blob":
            try:
                data = base64.b64decode(value, validate=True) if isinstance(value, str) else None
            except (binascii.Error, ValueError):
                data = None
            if data is None:
                raise self._fail(shape, path, value, "Member must be base64-encoded binary data")
            self._size(shape, path, value, len(data))
            return data
        if kind == "timestamp":
            if not isinstance(value, int | float | str) or isinstance(value, bool):
                raise self._fail(shape, path, value, "Member must be a timestamp")
            return value
        return value

    def _size(self, shape: Shape, path: str, value: Any, size: int) -> None:
        lo, hi = shape.metadata.get("min"), shape.metadata.get("max")
        if lo is not None and size < lo:
            raise self._fail(shape, path, value, f"Member must have length greater than or equal to {lo}")
        if hi is not None and size > hi:
            raise self._fail(shape, path, value, f"Member must have length less than or equal to {hi}")

    def _range(self, shape: Shape, path: str, value: float) -> None:
        lo, hi = shape.metadata.get("min"), shape.metadata.get("max")
        if lo is not None and value < lo:
            raise self._fail(shape, path, value, f"Member must have value greater than or equal to {lo}")
        if hi is not None and value > hi:
            raise self._fail(shape, path, value, f"Member must have value less than or equal to {hi}")

    # ---- output ----
    def serialize(self, op: OperationModel, output: dict[str, Any] | None) -> bytes:
        """The response body for `output`, shaped by the operation's output shape (`{}` when it has none)."""
        shape = op.output_shape
        if shape is None or not output:
            return b"{}"
        return json.dumps(_dump(shape, output), separators=(",", ":")).encode()


def _dump(shape: Shape, value: Any) -> Any:
    if isinstance(shape, StructureShape):
        return {name: _dump(shape.members[name], v) if name in shape.members else v
                for name, v in value.items() if v is not None}  # fmt: skip
    if isinstance(shape, ListShape):
        return [_dump(shape.member, v) for v in value]
    if isinstance(shape, MapShape):
        return {k: _dump(shape.value, v) for k, v in value.items()}
    if shape.type_name == "blob" and isinstance(value, bytes | bytearray):
        return base64.b64encode(value).decode()
    if shape.type_name == "timestamp" and isinstance(value, dt.datetime):
        return value.timestamp()
    return value
