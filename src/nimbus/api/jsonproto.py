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
from dataclasses import dataclass
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


@dataclass(frozen=True)
class _Violation:
    shape: Shape | None  # None: a required member is missing
    path: str
    value: Any
    constraint: str


def _as_double(value: Any) -> Any:
    return float(value) if isinstance(value, int) and not isinstance(value, bool) else value


def _scalar(shape: Shape) -> bool:
    return not isinstance(shape, StructureShape | ListShape | MapShape)


def _text(value: Any) -> str:
    """A value as Lambda's (Java) validation messages print it: lists `[a, b]`, maps `{k=v}`, booleans lower."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, list):
        return "[" + ", ".join(_text(x) for x in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_text(k)}={_text(x)}" for k, x in value.items()) + "}"
    return "null" if value is None else str(value)


def _render(value: Any, aggregate: bool) -> str:
    if value is None:
        return "null"
    if aggregate:
        return f"'{_text(value)}'"
    return f"'{value if isinstance(value, str | int | float) else type(value).__name__}'"


#: the Unicode property classes some models' patterns use (IAM's tag keys: `[\p{L}\p{Z}\p{N}_.:/=+\-@]+`), which
#: Python's `re` lacks, as the nearest classes it has (`\w` is letters and more: a little more lenient)
_PROPERTY_CLASSES = {r"\p{L}": r"\w", r"\p{N}": r"\d", r"\p{Z}": r"\s"}


@cache
def _pattern(text: str) -> re.Pattern[str]:
    for prop, nearest in _PROPERTY_CLASSES.items():
        text = text.replace(prop, nearest)
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
        aggregate: bool = False,
        model: ServiceModel | None = None,
    ) -> None:
        """`open_enums`: members (`Operation.Member`, list indices left out) whose modeled enum the service itself
        does not enforce (SQS's ReceiveMessage.AttributeNames takes message system attribute names too).
        `camel_paths`: name members in error messages as the service does, with a lower-case first letter
        (Lambda: "Value 'X' at 'authType' failed to satisfy constraint"). `model`: the service model to use
        instead of botocore's as installed (the REST-JSON codec completes constraints the model leaves in names).
        `aggregate`: report every violation in one error, as Lambda does ("2 validation errors detected: ...;
        ..."), a missing member among them ("Value null at ..."), a list's or map's members as one violation at
        the list ("Value '[a, b]' at 'architectures' ...: Member must satisfy constraint: [...]"); otherwise the
        first violation is raised alone, a missing member through `missing`."""
        self.model = model or load_model(service)
        meta = self.model.metadata
        #: "" for a REST service (Lambda, API Gateway), which names operations by method and path, not a header
        self.target_prefix = f"{meta['targetPrefix']}." if "targetPrefix" in meta else ""
        self.content_type = f"application/x-amz-json-{meta.get('jsonVersion', '1.0')}".encode()
        self._invalid = invalid
        self._missing = missing
        self._open_enums = open_enums
        self._camel = camel_paths
        self._aggregate = aggregate

    def operation(self, target: str) -> OperationModel:
        """The operation an `X-Amz-Target` header names, or UnknownOperation."""
        name = target[len(self.target_prefix) :] if target.startswith(self.target_prefix) else ""
        if name not in self.model.operation_names:
            raise UnknownOperation(f"Nimbus's {self.model.service_id} API does not implement {target!r}.")
        return self.model.operation_model(name)

    # ---- input ----
    def parse(self, op: OperationModel, body: bytes, parsed: Any = None) -> dict[str, Any]:
        """The request body as a validated dict (blobs decoded to bytes); refuses what the model refuses.
        `parsed`: the body's JSON value where the authorizer parsed it already (`Request.parsed`)."""
        value = parsed if parsed is not None else parse_json(body) if body.strip() else {}
        if not isinstance(value, dict):
            raise InvalidRequestContent("Could not parse request body into json: expected an object")
        shape = op.input_shape
        if shape is None:
            return {}
        opened = frozenset(e.partition(".")[2] for e in self._open_enums if e.startswith(f"{op.name}."))
        out = self._check_all(shape, value, opened)
        assert isinstance(out, dict)
        return out

    def validate(self, operation: str, value: dict[str, Any]) -> dict[str, Any]:
        """`value` (every input member, wherever the wire carried it: path, query string, headers, body, under the
        model's member names) checked against the operation's input shape: the validation a REST service's
        handlers share with the JSON protocol's. Returns the checked dict (blobs decoded)."""
        op = self.model.operation_model(operation)
        if op.input_shape is None:
            return {}
        opened = frozenset(e.partition(".")[2] for e in self._open_enums if e.startswith(f"{operation}."))
        out = self._check_all(op.input_shape, value, opened)
        assert isinstance(out, dict)
        return out

    def _shown_path(self, path: str) -> str:
        if not self._camel:
            return path
        return ".".join(part[:1].lower() + part[1:] for part in path.split("."))

    def _check_all(self, shape: Shape, value: Any, opened: frozenset[str]) -> Any:
        """Check the whole input, collecting every violation; raise them together (`aggregate`) or the first."""
        found: list[_Violation] = []
        out = self._check(shape, value, "", opened, found)
        if not found:
            return out
        first = found[0]
        if first.shape is None and not self._aggregate:
            raise self._missing(self._shown_path(first.path))
        shown = found if self._aggregate else found[:1]
        count = f"{len(shown)} validation error{'s' if len(shown) > 1 else ''} detected: "
        text = "; ".join(
            f"Value {_render(x.value, self._aggregate)} at '{self._shown_path(x.path)}' failed to satisfy "
            f"constraint: {x.constraint}"
            for x in shown
        )
        raise self._invalid(count + text, first.shape or shape)

    def _check(self, shape: Shape, value: Any, path: str, opened: frozenset[str], found: list[_Violation]) -> Any:
        kind = shape.type_name
        meta = shape.metadata

        def fail(constraint: str) -> Any:
            found.append(_Violation(shape, path, value, constraint))
            return value

        if isinstance(shape, StructureShape):
            if not isinstance(value, dict):
                return fail("Member must be a structure")
            out: dict[str, Any] = {}
            for name in shape.required_members:
                if value.get(name) is None:
                    found.append(_Violation(None, f"{path}.{name}" if path else name, None, "Member must not be null"))
            for name, member in shape.members.items():
                if value.get(name) is not None:
                    out[name] = self._check(member, value[name], f"{path}.{name}" if path else name, opened, found)
            return out
        if isinstance(shape, ListShape):
            if not isinstance(value, list):
                return fail("Member must be a list")
            self._size(shape, path, value, len(value), found)
            if self._aggregate and _scalar(shape.member):  # Lambda's words: one violation for the whole list
                inner: list[_Violation] = []
                items = [self._check(shape.member, v, path, opened, inner) for v in value]
                self._collapse(shape, path, value, "Member must satisfy constraint", inner, found)
                return items
            return [self._check(shape.member, v, f"{path}.{i + 1}", opened, found) for i, v in enumerate(value)]
        if isinstance(shape, MapShape):
            if not isinstance(value, dict):
                return fail("Member must be a map")
            self._size(shape, path, value, len(value), found)
            if self._aggregate and _scalar(shape.value):
                keys: list[_Violation] = []
                values: list[_Violation] = []
                checked = {
                    self._check(shape.key, k, path, opened, keys): self._check(shape.value, v, path, opened, values)
                    for k, v in value.items()
                }
                self._collapse(shape, path, value, "Map keys must satisfy constraint", keys, found)
                self._collapse(shape, path, value, "Map value must satisfy constraint", values, found)
                return checked
            return {self._check(shape.key, k, f"{path}.key", opened, found):
                    self._check(shape.value, v, f"{path}.{k}", opened, found)
                    for k, v in value.items()}  # fmt: skip
        if kind == "string":
            if not isinstance(value, str):
                return fail("Member must be a string")
            enum = meta.get("enum")
            if enum and value not in enum and _INDEX.sub("", path) not in opened:
                return fail(f"Member must satisfy enum value set: [{', '.join(enum)}]")
            self._size(shape, path, value, len(value), found)
            if "pattern" in meta and not _pattern(meta["pattern"]).fullmatch(value):
                return fail(f"Member must satisfy regular expression pattern: {meta['pattern']}")
            return value
        if kind in ("integer", "long"):
            if not isinstance(value, int) or isinstance(value, bool):
                return fail("Member must be an integer")
            self._range(shape, path, value, found)
            return value
        if kind in ("float", "double"):
            if not isinstance(value, int | float) or isinstance(value, bool):
                return fail("Member must be a number")
            self._range(shape, path, value, found)
            return value
        if kind == "boolean":
            if not isinstance(value, bool):
                return fail("Member must be a boolean")
            return value
        if kind == "blob":
            try:
                data = base64.b64decode(value, validate=True) if isinstance(value, str) else None
            except (binascii.Error, ValueError):
                data = None
            if data is None:
                return fail("Member must be base64-encoded binary data")
            self._size(shape, path, value, len(data), found)
            return data
        if kind == "timestamp":
            if not isinstance(value, int | float | str) or isinstance(value, bool):
                return fail("Member must be a timestamp")
            return value
        return value

    @staticmethod
    def _collapse(
        shape: Shape, path: str, value: Any, lead: str, inner: list[_Violation], found: list[_Violation]
    ) -> None:
        """The violations of a list's members (or a map's keys or values) as one, in Lambda's words: "Member
        must satisfy constraint: [Member must satisfy enum value set: [...]]", at the list's own path."""
        constraints = list(dict.fromkeys(x.constraint for x in inner))
        if constraints:
            if isinstance(shape, MapShape) and shape.value.type_name in ("float", "double"):
                value = {k: _as_double(x) for k, x in value.items()}  # Java prints a double as 2.0
            found.append(_Violation(shape, path, value, f"{lead}: [{', '.join(constraints)}]"))

    @staticmethod
    def _size(shape: Shape, path: str, value: Any, size: int, found: list[_Violation]) -> None:
        lo, hi = shape.metadata.get("min"), shape.metadata.get("max")
        if lo is not None and size < lo:
            found.append(_Violation(shape, path, value, f"Member must have length greater than or equal to {lo}"))
        elif hi is not None and size > hi:
            found.append(_Violation(shape, path, value, f"Member must have length less than or equal to {hi}"))

    @staticmethod
    def _range(shape: Shape, path: str, value: int | float, found: list[_Violation]) -> None:
        # `int | float`, not `float`: compiled, mypyc turns an int passed as a `float` into one ('-1.0' in the message)
        lo, hi = shape.metadata.get("min"), shape.metadata.get("max")
        if lo is not None and value < lo:
            found.append(_Violation(shape, path, value, f"Member must have value greater than or equal to {lo}"))
        elif hi is not None and value > hi:
            found.append(_Violation(shape, path, value, f"Member must have value less than or equal to {hi}"))

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
