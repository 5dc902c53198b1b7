"""The Lambda Runtime API (2018-06-01) as pure code: HTTP request parsing, routing, the invocation state machine,
and response rendering. No I/O: the in-sandbox shim (`runtimes/provided/shim.py`) owns the sockets.

Endpoints (all under `/2018-06-01/runtime`): `GET /invocation/next` (long poll), `POST /invocation/{id}/response`,
`POST /invocation/{id}/error`, `POST /init/error`. Error answers are Lambda's: 400 InvalidRequestID, 403
InvalidStateTransition, 413 RequestEntityTooLarge, 404 for an unknown path, 405 for a known path with the wrong
method; every error body is `{"errorMessage": ..., "errorType": ...}`.

stdlib only and importable on python3.8, like `frames.py`: the shim loads this very file by path.
"""

from __future__ import annotations

import json
from typing import Any, NamedTuple

PREFIX = "/2018-06-01/runtime"
#: Lambda's cap on a response (and error) body a runtime may post: 6 MiB + 100 bytes
MAX_PAYLOAD_BYTES = 6_291_556
#: request line + headers; Lambda's Go server allows 1 MiB, a runtime sends a few hundred bytes
MAX_HEAD_BYTES = 64 * 1024

# routes
NEXT = "next"
RESPONSE = "response"
ERROR = "error"
INIT_ERROR = "init_error"

REASONS = {
    200: "OK",
    202: "Accepted",
    400: "Bad Request",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    413: "Request Entity Too Large",
    500: "Internal Server Error",
}

ACCEPTED_BODY = b'{"status":"OK"}'


class HttpError(Exception):
    """A request the Runtime API answers with an error status (and, for a malformed stream, closes)."""

    def __init__(self, status: int, error_type: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.error_type = error_type
        self.message = message


def invalid_request_id() -> HttpError:
    return HttpError(400, "InvalidRequestID", "Invalid request ID")


def invalid_state_transition(message: str = "State transition is not allowed") -> HttpError:
    return HttpError(403, "InvalidStateTransition", message)


def too_large() -> HttpError:
    return HttpError(
        413, "RequestEntityTooLarge", f"Exceeded maximum allowed payload size ({MAX_PAYLOAD_BYTES} bytes)."
    )


class Request(NamedTuple):
    method: str
    path: str
    headers: dict[str, str]  # lower-cased names; repeated headers are joined with ", "
    body: bytes
    keep_alive: bool
    #: the body was over the parser's limit: it was read and dropped (the connection stays usable)
    oversize: bool = False


class RequestParser:
    """Incremental HTTP/1.1 request parser: feed it bytes, get complete requests (Content-Length or chunked)."""

    def __init__(self, max_body: int = MAX_PAYLOAD_BYTES) -> None:
        self._buf = bytearray()
        self._max_body = max_body
        self._head: tuple[str, str, dict[str, str], bool] | None = None
        self._chunked = False
        self._remaining = 0  # Content-Length mode: body bytes still to come
        self._body = bytearray()
        self._size = 0
        self._chunk_left = -1  # chunked mode: bytes left in the current chunk, -1 = a size line is next
        self._trailers = False

    def feed(self, data: bytes) -> list[Request]:
        self._buf += data
        out: list[Request] = []
        while True:
            request = self._step()
            if request is None:
                return out
            out.append(request)

    def _step(self) -> Request | None:
        if self._head is None:
            end = self._buf.find(b"\r\n\r\n")
            if end < 0:
                if len(self._buf) > MAX_HEAD_BYTES:
                    raise HttpError(400, "InvalidRequestFormat", "request header too large")
                return None
            self._start(bytes(self._buf[:end]).decode("latin-1"))
            del self._buf[: end + 4]
        return self._chunked_body() if self._chunked else self._length_body()

    def _start(self, head: str) -> None:
        lines = head.split("\r\n")
        parts = lines[0].split(" ")
        if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
            raise HttpError(400, "InvalidRequestFormat", "malformed request line")
        method, target, version = parts
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, sep, value = line.partition(":")
            if not sep or not name or name != name.strip():
                raise HttpError(400, "InvalidRequestFormat", "malformed header line")
            key = name.lower()
            value = value.strip()
            headers[key] = f"{headers[key]}, {value}" if key in headers else value
        connection = headers.get("connection", "").lower()
        keep_alive = "close" not in connection if version == "HTTP/1.1" else "keep-alive" in connection
        path = target.split("?", 1)[0]
        self._head = (method, path, headers, keep_alive)
        self._body = bytearray()
        self._size = 0
        self._chunked = "chunked" in headers.get("transfer-encoding", "").lower()
        self._chunk_left = -1
        self._trailers = False
        if not self._chunked:
            raw = headers.get("content-length", "0")
            if not raw.isdigit():
                raise HttpError(400, "InvalidRequestFormat", "invalid Content-Length")
            self._remaining = int(raw)

    def _take(self, data: bytes) -> None:
        self._size += len(data)
        if self._size <= self._max_body:
            self._body += data

    def _length_body(self) -> Request | None:
        if self._remaining:
            n = min(self._remaining, len(self._buf))
            self._take(bytes(self._buf[:n]))
            del self._buf[:n]
            self._remaining -= n
            if self._remaining:
                return None
        return self._finish()

    def _chunked_body(self) -> Request | None:
        while True:
            if self._trailers:  # trailer lines until an empty one
                end = self._buf.find(b"\r\n")
                if end < 0:
                    return None
                line = bytes(self._buf[:end])
                del self._buf[: end + 2]
                if not line:
                    return self._finish()
                continue
            if self._chunk_left < 0:
                end = self._buf.find(b"\r\n")
                if end < 0:
                    if len(self._buf) > 1024:
                        raise HttpError(400, "InvalidRequestFormat", "malformed chunk size")
                    return None
                size_text = bytes(self._buf[:end]).split(b";", 1)[0].strip()
                del self._buf[: end + 2]
                try:
                    size = int(size_text, 16)
                except ValueError:
                    raise HttpError(400, "InvalidRequestFormat", "malformed chunk size") from None
                if size == 0:
                    self._trailers = True
                    continue
                self._chunk_left = size
            if self._chunk_left > 0:
                n = min(self._chunk_left, len(self._buf))
                if n == 0:
                    return None
                self._take(bytes(self._buf[:n]))
                del self._buf[:n]
                self._chunk_left -= n
                if self._chunk_left:
                    return None
            if len(self._buf) < 2:
                return None
            if bytes(self._buf[:2]) != b"\r\n":
                raise HttpError(400, "InvalidRequestFormat", "malformed chunk")
            del self._buf[:2]
            self._chunk_left = -1

    def _finish(self) -> Request:
        assert self._head is not None
        method, path, headers, keep_alive = self._head
        self._head = None
        oversize = self._size > self._max_body
        body = b"" if oversize else bytes(self._body)
        self._body = bytearray()
        return Request(method, path, headers, body, keep_alive, oversize)


class Route(NamedTuple):
    kind: str  # NEXT | RESPONSE | ERROR | INIT_ERROR
    request_id: str  # for RESPONSE and ERROR


_METHODS = {NEXT: "GET", RESPONSE: "POST", ERROR: "POST", INIT_ERROR: "POST"}


def route(method: str, path: str) -> Route:
    """The endpoint a request is for; HttpError 404 for an unknown path, 405 for a wrong method."""
    found: Route | None = None
    if path.startswith(PREFIX + "/"):
        rest = path[len(PREFIX) + 1 :].split("/")
        if rest == ["invocation", "next"]:
            found = Route(NEXT, "")
        elif rest == ["init", "error"]:
            found = Route(INIT_ERROR, "")
        elif len(rest) == 3 and rest[0] == "invocation" and rest[1] and rest[2] in (RESPONSE, ERROR):
            found = Route(rest[2], rest[1])
    if found is None:
        raise HttpError(404, "NotFound", f"Path {path} is not found")
    if method != _METHODS[found.kind]:
        raise HttpError(405, "MethodNotAllowed", f"Method {method} is not allowed on {path}")
    return found


# -- the invocation state machine ---------------------------------------------------------------------------------

INIT = "init"  # the runtime has not asked for an event yet
WAITING = "waiting"  # a /next is pending (or due), no invocation in flight
INVOKING = "invoking"  # an event was handed out, its response or error is due


class RuntimeState:
    """One runtime's position in Lambda's sequence: init → (next → invoke → response|error)*.

    Methods return what the adapter must do, or raise HttpError with Lambda's answer for a call out of sequence.
    Exactly one invocation is in flight at a time, and one /next may be parked at a time.
    """

    def __init__(self) -> None:
        self.phase = INIT
        self.current = ""  # the request id handed out (or last handed out)
        self.answered = True  # whether `current` got its response or error
        self.next_parked = False  # a /next call waits for an event
        self.queued: Any = None  # an event that arrived before the runtime asked for it

    def on_next(self) -> bool:
        """A /next call arrived. True when this is the end of init (the platform is to be told: READY)."""
        if self.next_parked:
            raise invalid_state_transition("A request for the next invocation is already pending")
        if self.phase == INVOKING and not self.answered:
            raise invalid_state_transition("The current invocation has not been answered")
        first = self.phase == INIT
        self.phase = WAITING
        self.next_parked = True
        return first

    def take_event(self, event: Any = None) -> Any:
        """Hand an event (any object the adapter likes) to the parked /next, or queue it; returns the event that
        should be delivered now, or None. `event` is None when only delivering a queued event is wanted."""
        if event is not None:
            if self.queued is not None:
                raise invalid_state_transition("An invocation is already queued")
            self.queued = event
        if not self.next_parked or self.queued is None:
            return None
        delivered, self.queued = self.queued, None
        self.next_parked = False
        return delivered

    def delivered(self, request_id: str) -> None:
        """The adapter handed `request_id` to the runtime."""
        self.phase = INVOKING
        self.current = request_id
        self.answered = False

    def next_abandoned(self) -> None:
        """The connection of the parked /next went away (the runtime may ask again)."""
        self.next_parked = False

    def on_result(self, request_id: str) -> None:
        """A response or error for `request_id`: accept it (mark answered) or raise Lambda's answer."""
        if request_id != self.current or not self.current:
            raise invalid_request_id()
        if self.answered:
            raise invalid_state_transition(f"Invocation {request_id} has already been answered")
        self.answered = True

    def on_init_error(self) -> None:
        if self.phase != INIT:
            raise invalid_state_transition("Init errors can only be reported during init")


# -- rendering ----------------------------------------------------------------------------------------------------


def error_body(error_type: str, message: str) -> bytes:
    return json.dumps({"errorMessage": message, "errorType": error_type}, separators=(",", ":")).encode()


def render(
    status: int, body: bytes = b"", headers: list[tuple[str, str]] | None = None, keep_alive: bool = True
) -> bytes:
    """A complete HTTP/1.1 response as one buffer (the adapter writes it in one send: no Nagle stalls)."""
    lines = [f"HTTP/1.1 {status} {REASONS.get(status, 'Unknown')}"]
    has_type = False
    for name, value in headers or ():
        lines.append(f"{name}: {value}")
        has_type = has_type or name.lower() == "content-type"
    if not has_type:
        lines.append("Content-Type: application/json")
    lines.append(f"Content-Length: {len(body)}")
    if not keep_alive:
        lines.append("Connection: close")
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    return head + body


def render_error(err: HttpError, keep_alive: bool = True) -> bytes:
    return render(err.status, error_body(err.error_type, err.message), keep_alive=keep_alive)


def render_accepted(keep_alive: bool = True) -> bytes:
    return render(202, ACCEPTED_BODY, keep_alive=keep_alive)


def _header_safe(value: str) -> str:
    return value.replace("\r", " ").replace("\n", " ")


def next_headers(invoke: dict[str, Any]) -> list[tuple[str, str]]:
    """The headers of a /next answer, from an INVOKE frame's header (`frames.invoke_header`); empty ones omitted."""
    headers = [
        ("Lambda-Runtime-Aws-Request-Id", str(invoke.get("request_id") or "")),
        ("Lambda-Runtime-Deadline-Ms", str(invoke.get("deadline_ms") or "")),
        ("Lambda-Runtime-Invoked-Function-Arn", str(invoke.get("invoked_arn") or "")),
        ("Lambda-Runtime-Trace-Id", str(invoke.get("trace_id") or "")),
        ("Lambda-Runtime-Client-Context", str(invoke.get("client_context") or "")),
        ("Lambda-Runtime-Cognito-Identity", str(invoke.get("cognito_identity") or "")),
    ]
    out = [(name, _header_safe(value)) for name, value in headers if value]
    out.append(("Content-Type", "application/json"))
    return out


def function_error(body: bytes, error_type_header: str | None) -> bytes:
    """The error JSON an invocation (or init) fails with, from what the runtime posted to an /error endpoint.

    A JSON object is passed through as posted (adding `errorType` from `Lambda-Runtime-Function-Error-Type` when
    it has none); anything else becomes `{"errorMessage": <the text>, "errorType": <header or Runtime.Unknown>}`.
    """
    fallback = error_type_header or "Runtime.Unknown"
    try:
        value = json.loads(body) if body else None
    except ValueError:
        value = None
    if isinstance(value, dict):
        if "errorType" not in value and error_type_header:
            value["errorType"] = error_type_header
            return json.dumps(value, separators=(",", ":")).encode()
        return body
    message = body.decode("utf-8", "replace") if body else "Unknown application error occurred"
    return error_body(fallback, message)
