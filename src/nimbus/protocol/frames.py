"""The frame codec spoken over the control socket between the server and an instance.

A frame is `>II` (header length, body length), a small JSON header (always carrying "kind"), then the raw body
bytes. The invoke payload and the function's result travel as the body, so they are never re-encoded.

This module is pure and stdlib-only, and must stay importable on python3.8: the in-instance bootstrap loads this
very file by path (it cannot import `nimbus`), so both ends share one codec. The SnapStart template's messages
(FORK, FORKED, EXITED) are frames on the same socket, so their codec is here too: the bootstrap loads one file.
"""

from __future__ import annotations

import json
import json.encoder
import json.scanner
import struct
from typing import Any, NamedTuple

PREFIX = struct.Struct(">II")
#: a header is a handful of short fields; anything larger is a protocol violation
MAX_HEADER_BYTES = 64 * 1024
#: Lambda's runtime-side cap on a synchronous response: 6 MiB + 100 bytes
MAX_RESPONSE_BYTES = 6_291_556
#: default cap on a body the decoder accepts (requests are capped by the API layer well below this)
DEFAULT_MAX_BODY = 16 * 1024 * 1024

# server -> instance
INVOKE = "invoke"
# instance -> server
READY = "ready"  # init finished; header: {}
INIT_ERROR = "init_error"  # init failed; body: Lambda error JSON
RESULT = "result"  # handler returned; body: the JSON-encoded return value
ERROR = "error"  # handler (or the runtime for it) failed; body: Lambda error JSON
# server -> SnapStart template (an initialised runtime that only forks restored instances, `instances/snapshot.py`)
FORK = "fork"  # fork one restored instance; header: fork_header(); its control socket, output pipe and the pipe
#              # it waits on before it forks (EOF once it is in its own cgroup) ride along as SCM_RIGHTS, in that order
# SnapStart template -> server
FORKED = "forked"  # a FORK done; header: forked_header() (its pid in the template's pid namespace)
EXITED = "exited"  # a restored instance reaped by the template; header: exited_header()


class FrameError(ValueError):
    """The byte stream is not a valid frame sequence (the peer is broken or hostile)."""


class FrameTooLarge(FrameError):
    """A frame announced a body larger than the decoder accepts."""

    def __init__(self, size: int, limit: int) -> None:
        super().__init__(f"frame body of {size} bytes exceeds the limit of {limit} bytes")
        self.size = size
        self.limit = limit


class Frame(NamedTuple):
    kind: str
    header: dict[str, Any]
    body: bytes


#: the general encoder, for headers that are not flat: json.dumps with any non-default argument would build a new
#: JSONEncoder per call
_encode_header = json.JSONEncoder(separators=(",", ":"), ensure_ascii=True).encode
#: the JSON scanner itself: JSONDecoder.decode adds two regex matches and a Python call around it
_scan_header = json.scanner.make_scanner(json.JSONDecoder())  # type: ignore[arg-type]  # typeshed: it takes a decoder
_quote = json.encoder.encode_basestring_ascii


def _render(fields: dict[Any, Any]) -> str:
    """The header as compact ASCII JSON, exactly as `_encode_header` writes it. A frame header is a handful of
    strings and numbers: rendered here field by field, it costs a third of the encoder's call (which sets up a C
    encoder anew each time), the warm path's INVOKE and RESULT included. Anything else goes to the encoder. (Keys
    typed Any: compiled with mypyc, a `str` key type would be checked, and a header may have other keys.)"""
    parts = []
    for name, value in fields.items():
        kind = type(value)
        if type(name) is not str:  # json.dumps turns other keys into strings: its own way
            return _encode_header(fields)
        if kind is str:
            parts.append(f"{_quote(name)}:{_quote(value)}")
        elif kind is int:
            parts.append(f"{_quote(name)}:{value}")
        elif value is None or kind is bool:
            parts.append(f"{_quote(name)}:{'null' if value is None else 'true' if value else 'false'}")
        else:
            return _encode_header(fields)
    return "{" + ",".join(parts) + "}"


def encode(kind: str, header: dict[str, Any] | None = None, body: bytes = b"") -> bytes:
    """One frame as bytes, ready to write."""
    fields: dict[str, Any] = {"kind": kind, **header} if header else {"kind": kind}
    head = _render(fields).encode("ascii")
    if len(head) > MAX_HEADER_BYTES:
        raise FrameError(f"frame header of {len(head)} bytes exceeds {MAX_HEADER_BYTES}")
    return PREFIX.pack(len(head), len(body)) + head + body


def invoke_header(
    request_id: str,
    deadline_ms: int,
    invoked_arn: str,
    trace_id: str = "",
    client_context: str | None = None,
    spin_us: int = 0,
) -> dict[str, Any]:
    """The header of an INVOKE frame; `deadline_ms` is wall-clock epoch milliseconds. `spin_us`: after its reply,
    the runtime may busy-poll that long for the next frame before it blocks (runtimes without it just block)."""
    return {
        "request_id": request_id,
        "deadline_ms": deadline_ms,
        "invoked_arn": invoked_arn,
        "trace_id": trace_id,
        "client_context": client_context,
        "spin_us": spin_us,
    }


def encode_invoke(
    request_id: str,
    deadline_ms: int,
    invoked_arn: str,
    trace_id: str = "",
    client_context: str | None = None,
    spin_us: int = 0,
    body: bytes = b"",
) -> bytes:
    """`encode(INVOKE, invoke_header(...), body)`, byte for byte, with the header written straight: the one frame
    every warm invoke sends, without the header's dict, its merge with "kind" and the field-by-field walk."""
    context = "null" if client_context is None else _quote(client_context)
    head = (
        f'{{"kind":"invoke","request_id":{_quote(request_id)},"deadline_ms":{deadline_ms:d},'
        f'"invoked_arn":{_quote(invoked_arn)},"trace_id":{_quote(trace_id)},"client_context":{context},'
        f'"spin_us":{spin_us:d}}}'
    ).encode("ascii")
    if len(head) > MAX_HEADER_BYTES:
        raise FrameError(f"frame header of {len(head)} bytes exceeds {MAX_HEADER_BYTES}")
    return PREFIX.pack(len(head), len(body)) + head + body


def fork_header(env: dict[str, str]) -> dict[str, Any]:
    """A FORK frame's header: variables the restored instance adds to its environment."""
    return {"env": dict(env)}


def fork_env(frame: Frame) -> dict[str, str]:
    """The environment a FORK frame asks for ({} when it carries none, or not a mapping of strings)."""
    env = frame.header.get("env")
    if not isinstance(env, dict):
        return {}
    return {k: v for k, v in env.items() if isinstance(k, str) and isinstance(v, str)}


def forked_header(pid: int) -> dict[str, Any]:
    return {"pid": pid}


def exited_header(pid: int, status: int) -> dict[str, Any]:
    return {"pid": pid, "status": status}


class TemplateEvent(NamedTuple):
    """A SnapStart template's report: FORKED (pid) or EXITED (pid, wait status)."""

    kind: str
    pid: int
    status: int = 0


def template_event(frame: Frame) -> TemplateEvent | None:
    """What a frame from a SnapStart template reports; None for anything else (or a pid that is not a number)."""
    pid = frame.header.get("pid")
    if not isinstance(pid, int) or isinstance(pid, bool):
        return None
    if frame.kind == FORKED:
        return TemplateEvent(FORKED, pid)
    if frame.kind == EXITED:
        status = frame.header.get("status", 0)
        return TemplateEvent(EXITED, pid, status if isinstance(status, int) else 0)
    return None


class FrameDecoder:
    """Incremental decoder: feed it bytes as they arrive, get back the complete frames."""

    def __init__(self, max_body: int = DEFAULT_MAX_BODY) -> None:
        self._buf = bytearray()
        self._max_body = max_body

    @property
    def pending(self) -> int:
        """Bytes received that do not yet form a complete frame."""
        return len(self._buf)

    def feed(self, data: bytes | memoryview) -> list[Frame]:
        """The frames completed by `data` (bytes, or a view of a read buffer: what is kept of it is copied).
        Parsed in place: the usual read holds exactly one whole frame, and only what is left of an incomplete one
        is kept."""
        if not self._buf and len(data) >= PREFIX.size:  # the usual read: exactly one whole frame, taken at once
            head_len, body_len = PREFIX.unpack_from(data, 0)
            head = PREFIX.size + head_len
            if head + body_len == len(data) and head_len <= MAX_HEADER_BYTES and body_len <= self._max_body:
                return [_frame(bytes(data[PREFIX.size : head]), bytes(data[head:]))]
        buf: bytes | bytearray | memoryview = data
        if self._buf:
            self._buf += data
            buf = self._buf
        frames: list[Frame] = []
        pos = 0
        while (parsed := self._parse(buf, pos)) is not None:
            frame, pos = parsed
            frames.append(frame)
        if buf is self._buf:
            del self._buf[:pos]
        elif pos < len(buf):
            self._buf = bytearray(buf[pos:])
        return frames

    def _parse(self, buf: bytes | bytearray | memoryview, pos: int) -> tuple[Frame, int] | None:
        """The frame starting at `pos` and where it ends, or None while it is incomplete."""
        if len(buf) - pos < PREFIX.size:
            return None
        head_len, body_len = PREFIX.unpack_from(buf, pos)
        if head_len > MAX_HEADER_BYTES:
            raise FrameError(f"frame header of {head_len} bytes exceeds {MAX_HEADER_BYTES}")
        if body_len > self._max_body:
            raise FrameTooLarge(body_len, self._max_body)
        head = pos + PREFIX.size
        end = head + head_len + body_len
        if len(buf) < end:
            return None
        return _frame(bytes(buf[head : head + head_len]), bytes(buf[head + head_len : end])), end


def _frame(head: bytes, body: bytes) -> Frame:
    try:
        text = head.decode("utf-8")
        try:
            header, end = _scan_header(text, 0)
        except StopIteration:  # the scanner's word for "no JSON value here": json.loads words it
            end = -1
        if end != len(text):  # not one bare JSON value (white space around it, or worse): as json.loads takes it
            header = json.loads(text)
    except (ValueError, RecursionError) as exc:  # nested past the parser's recursion limit: not a ValueError
        raise FrameError(f"frame header is not JSON: {exc}") from None
    if not isinstance(header, dict) or not isinstance(header.get("kind"), str):
        raise FrameError("frame header must be a JSON object with a string 'kind'")
    kind = header.pop("kind")
    return Frame(kind, header, body)
