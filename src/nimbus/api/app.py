"""The ASGI application: read, authenticate, route, answer. Errors become wire errors in api/errors.py only."""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from nimbus.api import errors as wire
from nimbus.api import sigv4
from nimbus.api.http import Request, Response, Router, read_body
from nimbus.api.lambda_api import LambdaApi
from nimbus.api.logs_api import LogsApi
from nimbus.config import Settings
from nimbus.control.codestore import CodeStore
from nimbus.control.validation import INVOKE_PAYLOAD_MAX
from nimbus.errors import NimbusError, RequestTooLarge, ResourceNotFound, UnknownOperation

log = logging.getLogger("nimbus.api")

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

CODE_PREFIX = "/_nimbus/code/"


class App:
    def __init__(self, settings: Settings, lambda_api: LambdaApi, logs_api: LogsApi, codes: CodeStore) -> None:
        self.settings = settings
        self.credentials = settings.credentials
        self.lambda_api = lambda_api
        self.logs_api = logs_api
        self.codes = codes
        self.router = Router()
        lambda_api.register(self.router)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        request_id = str(uuid.uuid4())
        raw_path = scope.get("raw_path") or scope["path"].encode()
        raw_path_s = raw_path.decode("latin-1")
        method = scope["method"]
        headers: dict[str, list[str]] = {}
        for k, val in scope["headers"]:
            headers.setdefault(k.decode("latin-1"), []).append(val.decode("latin-1"))
        query = scope.get("query_string", b"").decode("latin-1")
        json11 = method == "POST" and raw_path_s == "/" and "x-amz-target" in headers
        try:
            if method == "GET" and raw_path_s.startswith(CODE_PREFIX):
                await self._serve_code(raw_path_s, query, send)
                return
            route_match = None if json11 else self.router.match(method, raw_path_s)
            limit = route_match[0].max_body if route_match else 1 << 20
            body = await read_body(receive, limit)
            if body is None:
                op = route_match[0].operation if route_match else "request"
                if op == "Invoke":
                    raise RequestTooLarge(
                        f"Request must be smaller than {INVOKE_PAYLOAD_MAX} bytes for the InvokeFunction operation"
                    )
                raise RequestTooLarge(f"Request must be smaller than {limit} bytes for the {op} operation")
            req = Request(method, raw_path_s, query, headers, body, request_id)
            sigv4.verify(
                method=method, raw_path=raw_path_s, query=query, headers=headers, body=body,
                credentials=self.credentials, now=dt.datetime.now(dt.UTC),
            )  # fmt: skip
            if json11:
                resp = await self.logs_api.handle(req, headers["x-amz-target"][0])
            elif route_match is None:
                raise UnknownOperation(f"Nimbus does not implement {method} {scope['path']}.")
            else:
                route, req.params = route_match
                resp = await route.handler(req)
        except Exception as exc:  # every failure becomes a wire error, never a traceback to the client
            if not isinstance(exc, NimbusError):
                log.exception("unhandled error in %s %s", method, scope["path"])
            status, err_headers, err_body = wire.json_11(exc) if json11 else wire.rest_json(exc)
            resp = Response(status, err_body, err_headers)
        await self._send(send, resp, request_id)

    @staticmethod
    async def _send(send: Send, resp: Response, request_id: str) -> None:
        headers = resp.headers
        headers.append((b"x-amzn-requestid", request_id.encode()))
        headers.append((b"content-length", str(len(resp.body)).encode()))
        await send({"type": "http.response.start", "status": resp.status, "headers": headers})
        await send({"type": "http.response.body", "body": resp.body})

    async def _serve_code(self, raw_path: str, query: str, send: Send) -> None:
        """Code.Location downloads: authorised by the link's own HMAC, like a presigned S3 URL."""
        req = Request("GET", raw_path, query, {}, b"", "")
        name = raw_path[len(CODE_PREFIX) :].removesuffix(".zip")
        expires, signature = req.query_one("Expires") or "", req.query_one("Signature") or ""
        blob = self.codes.blob_path(name)
        if not (len(name) == 64 and name.isalnum() and self.lambda_api.check_code_url(name, expires, signature)):
            resp = Response(403, b"Request has expired or the signature does not match.")
        elif not blob.exists():
            _, h, b = wire.rest_json(ResourceNotFound("Code not found."))
            resp = Response(404, b, h)
        else:
            resp = Response(200, blob.read_bytes(), [(b"content-type", b"application/zip")])
        await self._send(send, resp, str(uuid.uuid4()))
