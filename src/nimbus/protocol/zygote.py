"""The zygote's socket: one request per fork, one-letter replies, and the wait status of every child it reaps.

Spoken over a SOCK_SEQPACKET socket (one message per send) between the server (`instances/zygote_client.py`) and
a zygote (`instances/zygote_main.py`):

    zygote -> server   READY                  imports done, gc frozen: it serves from now on
    server -> zygote   a request              the sandbox plan (marshal format 4), with FDS_PER_REQUEST fds
                                              attached (SCM_RIGHTS: the instance's control socket end, the write
                                              end of its output pipe)
    zygote -> server   FORKED + pid           per request, in request order: the forked outer process's host pid
                       REFUSED + message      ... or why it could not fork
    zygote -> server   EXITED + pid, status   a child reaped, always after that pid's FORKED

Pure and stdlib-only, importable on python3.8: the zygote (which cannot import `nimbus`) loads this very file by
path, so both ends share one codec. No sockets here: the callers send and receive the bytes.
"""

from __future__ import annotations

import marshal
import struct
from typing import Any, NamedTuple

READY = b"R"
FORKED = b"P"
REFUSED = b"E"
EXITED = b"X"
#: fds attached to each request
FDS_PER_REQUEST = 2
#: a refusal's message is cut to this many bytes (a reply must fit in one small datagram)
MAX_MESSAGE_BYTES = 4000
_PID = struct.Struct("=i")
_EXIT = struct.Struct("=ii")


class ZygoteMessageError(ValueError):
    """Bytes that are not a message of this protocol (the peer is broken)."""


class Reply(NamedTuple):
    """One message from the zygote: `kind` is READY, FORKED, REFUSED or EXITED; the other fields as it says."""

    kind: bytes
    pid: int = 0
    status: int = 0
    message: str = ""


def encode_request(plan: dict[str, Any]) -> bytes:
    return marshal.dumps(plan, 4)


def decode_request(data: bytes) -> dict[str, Any]:
    try:
        plan = marshal.loads(data)
    except (EOFError, ValueError, TypeError) as exc:
        raise ZygoteMessageError(f"bad fork request: {exc}") from None
    if not isinstance(plan, dict):
        raise ZygoteMessageError("a fork request must hold a plan (a dict)")
    return plan


def encode_ready() -> bytes:
    return READY


def encode_forked(pid: int) -> bytes:
    return FORKED + _PID.pack(pid)


def encode_refused(message: str) -> bytes:
    return REFUSED + message.encode(errors="replace")[:MAX_MESSAGE_BYTES]


def encode_exited(pid: int, status: int) -> bytes:
    return EXITED + _EXIT.pack(pid, status)


def decode_reply(data: bytes) -> Reply:
    kind, body = data[:1], data[1:]
    try:
        if kind == READY and not body:
            return Reply(READY)
        if kind == FORKED:
            return Reply(FORKED, pid=_PID.unpack(body)[0])
        if kind == REFUSED:
            return Reply(REFUSED, message=body.decode(errors="replace"))
        if kind == EXITED:
            pid, status = _EXIT.unpack(body)
            return Reply(EXITED, pid=pid, status=status)
    except struct.error as exc:
        raise ZygoteMessageError(f"bad {kind!r} message: {exc}") from None
    raise ZygoteMessageError(f"unknown zygote message {data[:16]!r}")
