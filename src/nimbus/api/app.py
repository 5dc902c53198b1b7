"""The application: authenticate, route, answer. Errors become wire errors in api/errors.py only."""

from __future__ import annotations

import datetime as dt
import logging
import os
from urllib.parse import unquote

from nimbus.api import errors as wire
from nimbus.api import sigv4
from nimbus.api.code_links import PREFIX as CODE_PREFIX
from nimbus.api.code_links import CodeLinks
from nimbus.api.http import Request, Response, Router, Routes
from nimbus.api.httpserver import Incoming
from nimbus.api.logs_api import LogsApi
from nimbus.config import Settings
from nimbus.control.codestore import CodeStore
from nimbus.errors import NimbusError, RequestTooLarge, ResourceNotFound, UnknownOperation

log = logging.getLogger("nimbus.api")

#: body limit for requests no route claims (the CloudWatch Logs JSON API, unknown paths)
JSON_BODY_MAX = 1 << 20


def new_request_id() -> str:
    """A random (version 4) UUID as text, as str(uuid.uuid4()) makes it but in a quarter of the time (per request)."""
    h = os.urandom(16).hex()
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{'89ab'[int(h[16], 16) & 3]}{h[17:20]}-{h[20:]}"


class App:
    def __init__(
        self, settings: Settings, apis: list[Routes], logs_api: LogsApi, codes: CodeStore, links: CodeLinks
    ) -> None:
        self.settings = settings
        self.credentials = settings.credentials
        self.logs_api = logs_api
        self.codes = codes
        self.links = links
        self.router = Router()
        for api in apis:
            api.register(self.router)

    async def handle(self, incoming: Incoming) -> Response:
        """Answer one request; every failure becomes a wire error, never a traceback to the client."""
        request_id = new_request_id()
        method = incoming.method
        raw_path, _, query = incoming.target.decode("latin-1").partition("?")
        headers = incoming.headers
        json11 = method == "POST" and raw_path == "/" and "x-amz-target" in headers
        try:
            if method == "GET" and raw_path.startswith(CODE_PREFIX):
                resp = self._serve_code(raw_path, query)
            else:
                resp = await self._dispatch(incoming, request_id, raw_path, query, json11)
        except Exception as exc:
            if not isinstance(exc, NimbusError):
                log.exception("unhandled error in %s %s", method, raw_path)
            status, err_headers, err_body = wire.json_11(exc) if json11 else wire.rest_json(exc)
            resp = Response(status, err_body, err_headers)
        resp.headers.append((b"x-amzn-requestid", request_id.encode()))
        return resp

    async def _dispatch(self, incoming: Incoming, request_id: str, raw_path: str, query: str, json11: bool) -> Response:
        method, headers, body = incoming.method, incoming.headers, incoming.body
        route_match = None if json11 else self.router.match(method, raw_path)
        limit = route_match[0].max_body if route_match else JSON_BODY_MAX
        if incoming.body_size > limit:
            op = route_match[0].operation if route_match else "request"
            name = "InvokeFunction" if op == "Invoke" else op
            raise RequestTooLarge(f"Request must be smaller than {limit} bytes for the {name} operation")
        sigv4.verify(
            method=method, raw_path=raw_path, query=query, headers=headers, body=body,
            credentials=self.credentials, now=dt.datetime.now(dt.UTC),
        )  # fmt: skip
        req = Request(method, raw_path, query, headers, body, request_id)
        if json11:
            return await self.logs_api.handle(req, headers["x-amz-target"][0])
        if route_match is None:
            raise UnknownOperation(f"Nimbus does not implement {method} {unquote(raw_path)}.")
        route, req.params = route_match
        return await route.handler(req)

    def _serve_code(self, raw_path: str, query: str) -> Response:
        """Code.Location downloads: authorised by the link's own HMAC, like a presigned S3 URL."""
        req = Request("GET", raw_path, query, {}, b"", "")
        name = raw_path[len(CODE_PREFIX) :].removesuffix(".zip")
        expires, signature = req.query_one("Expires") or "", req.query_one("Signature") or ""
        blob = self.codes.blob_path(name)
        if not (len(name) == 64 and name.isalnum() and self.links.check(name, expires, signature)):
            resp = Response(403, b"Request has expired or the signature does not match.")
        elif not blob.exists():
            _, h, b = wire.rest_json(ResourceNotFound("Code not found."))
            resp = Response(404, b, h)
        else:
            resp = Response(200, blob.read_bytes(), [(b"content-type", b"application/zip")])
        return resp
