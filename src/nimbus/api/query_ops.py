"""One signed query-protocol request answered from a table of operations: the form's Action, its input by the
model, the handler, the XML answer. What the IAM and STS fronts share (SNS's has public GETs of its own)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from nimbus.api.http import Request, Response
from nimbus.api.queryproto import QueryProtocol, parse_form
from nimbus.errors import UnknownOperation

#: (input, request) -> output (None: an operation without one)
Operation = Callable[[dict[str, Any], Request], Awaitable[dict[str, Any] | None]]
XML = [(b"content-type", b"text/xml")]


async def answer(protocol: QueryProtocol, ops: dict[str, Operation], req: Request) -> Response:
    fields = parse_form(req.body, req.query)
    op = protocol.operation(fields)
    handler = ops.get(op.name)
    if handler is None:
        raise UnknownOperation(f"Nimbus's {protocol.model.service_id} API does not implement {op.name}.")
    out = await handler(protocol.parse(op, fields), req)
    return Response(200, protocol.serialize(op, out, req.request_id), list(XML))
