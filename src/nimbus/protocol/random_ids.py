"""Random identifiers the wire carries on every invoke (request ids, X-Ray trace ids), as hex cut from a pooled
buffer of the kernel's CSPRNG: one `getrandom` per 4 KB instead of one per identifier.

A warm invoke needs 36 random bytes (a request id, a trace header's root and parent): read one by one, that is two
syscalls per invoke on the server's hot path. The bytes are the same `os.urandom` bytes, only read ahead; each
is handed out once. A forked child starts with an empty pool (`os.register_at_fork`), so parent and child never
hand out the same identifiers. Used from the event loop's thread only (no lock: every caller is a coroutine or a
callback of the loop).
"""

from __future__ import annotations

import os

#: bytes read per refill
POOL_BYTES = 4096


class HexPool:
    """Random hex digits, read from `os.urandom` POOL_BYTES at a time and handed out once each."""

    __slots__ = ("_hex", "_pos")

    def __init__(self) -> None:
        self._hex = ""
        self._pos = 0

    def take(self, digits: int) -> str:
        """`digits` random hex digits (at most 2 * POOL_BYTES)."""
        start = self._pos
        end = start + digits
        if end > len(self._hex):
            self._hex = os.urandom(POOL_BYTES).hex()
            start, end = 0, digits
        self._pos = end
        return self._hex[start:end]

    def reset(self) -> None:
        """Drop what is left (a forked child: its parent hands those digits out)."""
        self._hex = ""
        self._pos = 0


_POOL = HexPool()
os.register_at_fork(after_in_child=_POOL.reset)


def random_hex(digits: int) -> str:
    """`digits` hex digits from the kernel's CSPRNG, never handed out before in this process."""
    return _POOL.take(digits)


def request_id() -> str:
    """A random (version 4) UUID as text, as str(uuid.uuid4()) writes it: a Lambda request id."""
    h = _POOL.take(32)
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{'89ab'[int(h[16], 16) & 3]}{h[17:20]}-{h[20:]}"
