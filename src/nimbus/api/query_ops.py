"""One signed query-protocol request answered from a table of operations: the form's Action, its input by the
model, the handler, the XML answer. What the IAM and STS fronts share (SNS's has public GETs of its own)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from botocore.model import Shape

from nimbus.api.http import Request, Response
from nimbus.api.queryproto import QueryProtocol, form_of
from nimbus.errors import IamValidation, NimbusError, UnknownOperation

#: (input, request) -> output (None: an operation without one)
Operation = Callable[[dict[str, Any], Request], Awaitable[dict[str, Any] | None]]
XML = [(b"content-type", b"text/xml")]


def iam_protocol(service: str) -> QueryProtocol:
    """The query protocol as IAM and STS speak it: input errors are ValidationError, worded as the model's."""
    return QueryProtocol(service, invalid=_invalid, missing=_missing, camel_paths=True)


def _invalid(message: str, shape: Shape) -> NimbusError:
    return IamValidation(message)


def _missing(path: str) -> NimbusError:
    return IamValidation(f"1 validation error detected: Value null at '{path}' failed to satisfy constraint: "
                         "Member must not be null")  # fmt: skip


async def answer(protocol: QueryProtocol, ops: dict[str, Operation], req: Request) -> Response:
    fields = form_of(req)
    op = protocol.operation(fields)
    handler = ops.get(op.name)
    if handler is None:
        raise UnknownOperation(f"Nimbus's {protocol.model.service_id} API does not implement {op.name}.")
    out = await handler(protocol.parse(op, fields), req)
    return Response(200, protocol.serialize(op, out, req.request_id), list(XML))
