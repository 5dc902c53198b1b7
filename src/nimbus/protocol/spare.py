"""A spare sandbox's two messages: it says READY when set up for no function, then reads its assignment.

Spoken over the spare's own control socket (SOCK_STREAM), before the function's runtime speaks frames on it:

    spare -> server    READY (one byte)       set up, privileged, waiting
    server -> spare    HEADER + assignment    the function's mounts, network, argv, env, cwd, rlimits and
                                              interpreter prefix (marshal format 4), prefixed by its length;
                                              as real root, with the detached mounts of its source dirs
                                              (SCM_RIGHTS, in the order of its "sources": instances/detached.py)

EOF on the socket instead of an assignment discards the spare. Pure and stdlib-only, importable on python3.8:
the zygote (which cannot import `nimbus`) loads this very file by path and hands it to `sandbox_init.py`, whose
spare reads its assignment with it. No sockets here: the callers send and receive the bytes.
"""

from __future__ import annotations

import marshal
import struct
from typing import Any

READY = b"S"
#: the assignment's length, before it
HEADER = struct.Struct("=I")
#: keys every assignment carries
ASSIGNMENT_KEYS = frozenset({"mounts", "network", "argv", "env", "cwd", "rlimits", "host_prefix"})


class SpareMessageError(ValueError):
    """Bytes that are not an assignment (the peer is broken)."""


def encode_assignment(job: dict[str, Any]) -> bytes:
    body = marshal.dumps(job, 4)
    return HEADER.pack(len(body)) + body


def assignment_size(head: bytes) -> int:
    """The length of the assignment that follows its HEADER.size-byte `head`."""
    if len(head) != HEADER.size:
        raise SpareMessageError(f"an assignment header is {HEADER.size} bytes, got {len(head)}")
    size: int = HEADER.unpack(head)[0]
    return size


def decode_assignment(body: bytes) -> dict[str, Any]:
    try:
        job = marshal.loads(body)
    except (EOFError, ValueError, TypeError) as exc:
        raise SpareMessageError(f"bad assignment: {exc}") from None
    if not isinstance(job, dict) or not job.keys() >= ASSIGNMENT_KEYS:
        raise SpareMessageError("an assignment must be a dict with " + ", ".join(sorted(ASSIGNMENT_KEYS)))
    return job


#: the /tmp a spare mounts when it is made, at Lambda's default size (EphemeralStorage 512 MB, most functions'): a
#: tmpfs mount was ~90 µs of the cold start that took it. Its assignment then mounts no /tmp (`premounted`)
PREMOUNTED_TMP: dict[str, Any] = {"kind": "tmpfs", "dst": "/tmp", "size_mb": 512, "mode": 0o1777}


def premounted(mounts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """An assignment's mounts for a spare that has `PREMOUNTED_TMP`: that /tmp left out, or, at another size,
    resized in place (a remount: no second tmpfs over the first)."""
    out = []
    for m in mounts:
        if m == PREMOUNTED_TMP:
            continue
        if m["kind"] == "tmpfs" and m["dst"] == PREMOUNTED_TMP["dst"]:
            m = {**m, "remount": True}
        out.append(m)
    return out
