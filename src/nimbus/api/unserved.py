"""Requests for what Nimbus does not serve, answered in the caller's own protocol.

A client of another AWS service (STS, S3, DynamoDB, ...) pointed at Nimbus, or a call of an operation a served API
does not implement, must get an error its SDK parses, naming the service and the operation, so that it prints a
clean `ClientError` instead of failing to parse a body in a protocol it does not speak. This module works out,
from the request alone, what was asked: the service (the SigV4 credential scope, or the `X-Amz-Target` prefix),
its wire protocol (the target header and content type, else botocore's model of the scoped service) and the
operation (the target, the query protocol's `Action`, or the model's HTTP binding matched on method and path).
`api/errors.unserved` shapes the answer.

Only the app's failure path comes here (no route matched, or a JSON target of no served API): the served APIs'
requests never pay for it. A model is read from botocore's data once per scope, only for a caller whose key is
known, and only its operation bindings are kept.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any
from urllib.parse import parse_qs, unquote

from botocore.exceptions import DataNotFoundError
from botocore.loaders import Loader

from nimbus.errors import UnknownOperation

#: the protocols we can answer in, in the order botocore prefers them when a model lists several
PROTOCOLS = ("smithy-rpc-v2-cbor", "json", "rest-json", "rest-xml", "query", "ec2")
#: credential scopes whose botocore model has another name
_MODEL_NAMES = {"monitoring": "cloudwatch", "email": "ses", "states": "stepfunctions"}
#: the protocols of a few services' scopes, for a caller whose key is not known (no model is read for it)
KNOWN_PROTOCOLS = {"s3": "rest-xml", "route53": "rest-xml", "cloudfront": "rest-xml", "ec2": "ec2"}
#: most of an unserved request's body Nimbus reads (a query-protocol form names its Action in it)
BODY_MAX = 64 * 1024


@dataclass(frozen=True, slots=True)
class Binding:
    """One REST operation's HTTP binding: method, path pattern, query keys its requestUri requires."""

    method: str
    pattern: re.Pattern[str]
    query_keys: tuple[str, ...]
    #: headers the operation requires (S3's CopyObject is PutObject's path with `x-amz-copy-source`)
    header_keys: tuple[str, ...]
    literal: int  # literal characters in the path template: the most specific match wins
    name: str


@dataclass(frozen=True, slots=True)
class Model:
    """What an answer needs of a service's botocore model."""

    name: str
    protocol: str
    json_version: str
    bindings: tuple[Binding, ...]


@dataclass(slots=True)
class Unserved:
    """An unserved request, as far as its headers tell (a query-protocol POST names its operation in its body)."""

    scope: str
    protocol: str
    json_version: str
    service: str
    operation: str
    #: the scope names an API Nimbus serves: the operation is what is missing, not the service
    served: bool
    #: what Nimbus serves, in words ("Lambda, CloudWatch Logs and SQS")
    served_names: str

    @property
    def needs_body(self) -> bool:
        return self.protocol in ("query", "ec2") and not self.operation

    def with_body(self, body: bytes) -> Unserved:
        """Take the operation from a query-protocol form body (`Action=...`)."""
        if self.needs_body:
            action = parse_qs(body[:BODY_MAX].decode("latin-1"), max_num_fields=100).get("Action")
            self.operation = action[0] if action else ""
        return self

    def error(self) -> UnknownOperation:
        operation = self.operation or "this request"
        if self.served and self.protocol in ("query", "ec2"):  # every API Nimbus serves speaks JSON
            return UnknownOperation(
                f"Nimbus serves the {self.service} API in its JSON protocol only, not {operation} in the query "
                f"protocol: use an SDK recent enough to speak {self.service}'s JSON protocol."
            )
        if self.served:
            return UnknownOperation(f"Nimbus's {self.service} API does not implement {operation}.")
        service = f"{self.service} ({self.scope})" if self.scope and self.scope != self.service else self.service
        return UnknownOperation(
            f"Nimbus does not serve {service or 'this service'}, so not {operation}: "
            f"it serves {self.served_names}."
        )


def _binding(name: str, spec: Mapping[str, Any], shapes: Mapping[str, Any]) -> Binding:
    http = spec["http"]
    path, _, query = http["requestUri"].partition("?")
    regex = re.sub(r"\\\{(\w+)\\\+\\\}", r"(?P<\1>.+)", re.escape(path))  # {Key+}: greedy, slashes included
    regex = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", regex)
    keys = tuple(k.partition("=")[0] for k in query.split("&") if k)
    shape = shapes.get(spec.get("input", {}).get("shape", ""), {})
    members = shape.get("members", {})
    headers = tuple(str(members[m].get("locationName", m)).lower() for m in shape.get("required", ())
                    if members.get(m, {}).get("location") == "header")  # fmt: skip
    literal = len(re.sub(r"\{[^}]*\}", "", path))
    return Binding(http["method"], re.compile(regex.rstrip("/") + "/?"), keys, headers, literal, name)


@cache
def _available() -> frozenset[str]:
    return frozenset(Loader().list_available_services("service-2"))


@cache
def model(scope: str) -> Model | None:
    """The parts of the botocore model of the service `scope` names that an answer needs (None: no such model)."""
    name = _MODEL_NAMES.get(scope, scope)
    if name not in _available():
        return None
    try:
        data = Loader().load_service_model(name, "service-2")
    except DataNotFoundError:
        return None
    meta = data["metadata"]
    offered = meta.get("protocols") or [meta.get("protocol", "")]
    protocol = next((p for p in PROTOCOLS if p in offered), "rest-json")
    bindings: tuple[Binding, ...] = ()
    if protocol in ("rest-json", "rest-xml"):
        shapes = data["shapes"]
        bindings = tuple(_binding(op, spec, shapes) for op, spec in data["operations"].items() if "http" in spec)
    return Model(meta.get("serviceId") or name, protocol, meta.get("jsonVersion", "1.0"), bindings)


def _rest_operation(
    found: Model, method: str, raw_path: str, query: str, headers: Mapping[str, Sequence[str]]
) -> str:
    keys = set(parse_qs(query, keep_blank_values=True))
    path = unquote(raw_path)
    matches = [b for b in found.bindings if b.method == method and b.pattern.fullmatch(path)
               and set(b.query_keys) <= keys and all(h in headers for h in b.header_keys)]  # fmt: skip
    if not matches:
        return ""
    return max(matches, key=lambda b: (len(b.query_keys), b.literal)).name


def classify(
    method: str,
    raw_path: str,
    query: str,
    headers: Mapping[str, Sequence[str]],
    scope: str,
    served: Mapping[str, str],
    *,
    models: bool = True,
) -> Unserved:
    """What an unserved request asks, from its request line and headers. `scope` is its credential scope's service
    ("" without one); `served` names the APIs Nimbus serves by their scopes; `models`: False for a caller whose
    key is not known, for whom botocore's models are not read (a few services' protocols are known without)."""
    names = list(served.values())
    served_names = ", ".join(names[:-1]) + f" and {names[-1]}" if len(names) > 1 else "".join(names)
    # API Gateway's scope is shared by its v1 and v2 APIs; Nimbus serves (some of) v2, under /v2/
    name = "apigatewayv2" if scope == "apigateway" and raw_path.startswith("/v2/") else scope
    found = model(name) if scope and models else None
    service = served.get(scope) or (found.name if found else scope)
    content_type = (headers.get("content-type") or [""])[0].lower()
    target = (headers.get("x-amz-target") or [""])[0]
    if target:
        prefix, _, operation = target.rpartition(".")
        version = "1.0" if content_type.endswith("json-1.0") else "1.1"
        return Unserved(scope, "json", version, service or prefix, operation, scope in served, served_names)
    if (headers.get("smithy-protocol") or [""])[0] == "rpc-v2-cbor":
        operation = raw_path.rpartition("/operation/")[2]
        return Unserved(scope, "smithy-rpc-v2-cbor", "", service, operation, scope in served, served_names)
    form = content_type.startswith("application/x-www-form-urlencoded")
    action = parse_qs(query, max_num_fields=100).get("Action") if "Action=" in query else None
    known = found.protocol if found is not None else KNOWN_PROTOCOLS.get(scope, "")
    # the request's shape first: an old SDK speaks SQS's query protocol, which Nimbus does not
    form_protocol = "ec2" if known == "ec2" else "query"
    protocol = form_protocol if form or action else known or "rest-json"
    request = f"{method} {unquote(raw_path)}"
    if protocol in ("query", "ec2"):
        operation = action[0] if action else "" if method == "POST" else request
    elif protocol in ("rest-json", "rest-xml"):
        operation = (_rest_operation(found, method, raw_path, query, headers) if found else "") or request
    else:  # a JSON or CBOR service called without its target: name the request
        operation = request
    return Unserved(scope, protocol, found.json_version if found else "1.1", service, operation, scope in served,
                    served_names)  # fmt: skip
