"""`_X_AMZN_TRACE_ID`: each invocation's X-Ray trace header in the process environment, as Lambda sets it.

Part of the in-instance runtime (see bootstrap.py): any python3.8+, stdlib only, never imports `nimbus`.

Why not `os.environ[...] = trace_id` per invocation, as awslambdaric does: `os.environ` calls glibc's `setenv`,
which copies each new value into memory it never frees (a pointer into the environment may still be held) and
keeps every value it was given in a search tree, to reuse an identical one. Trace headers are all different, so
that is ~140 bytes more of the function's memory per warm invocation (a 128 MB function would be OOM-killed after
some 700,000 of them), and a search of a tree that keeps growing.

Instead the environment's entry for the variable is one of two buffers of ours: each invocation writes its header
into the one the environment does not point at, hands that to `putenv` (which stores the pointer, copying and
keeping nothing: the swap is one pointer under the C library's lock, so a `getenv` sees the old header or the new,
never half of one), and sets `os.environ`'s own mapping beside it. Python code (os.environ, os.getenv), child
processes (which inherit the C environment) and C code (getenv) all see the current header, as they did, whatever
the function set or deleted itself meanwhile. Without ctypes, or with `os.environ` replaced by something else, it
is `os.environ` as before.
"""

from __future__ import annotations

import os
import sys

try:
    import ctypes

    _libc = ctypes.CDLL(None)
    _putenv = _libc.putenv
    _putenv.argtypes = [ctypes.c_void_p]
    _putenv.restype = ctypes.c_int
except (ImportError, OSError, AttributeError):  # no ctypes (or no C library to call): os.environ, as before
    ctypes = None  # type: ignore[assignment]

NAME = "_X_AMZN_TRACE_ID"
_KEY = NAME.encode()
_PREFIX = _KEY + b"="
#: a buffer's smallest size: a header the server makes is 82 bytes, so each is allocated once
_MIN_CAPACITY = 160


class TraceVariable:
    """Sets and clears `_X_AMZN_TRACE_ID` (one per process: the environment is the process's)."""

    __slots__ = ("_current", "_encoding", "_spare")

    def __init__(self):
        #: the "NAME=value\\0" buffer the environment points at (after a set), and the other one, free to write
        self._current = None
        self._spare = None
        self._encoding = sys.getfilesystemencoding()

    def set(self, value):
        environ = os.environ
        raw = value.encode(self._encoding, "surrogateescape")
        if ctypes is None or type(environ) is not os._Environ or b"\0" in raw:
            environ[NAME] = value  # (a NUL is refused there, in its words)
            return
        size = len(_PREFIX) + len(raw) + 1
        spare = self._spare
        if spare is None or len(spare) < size:
            spare = ctypes.create_string_buffer(_PREFIX, max(size, _MIN_CAPACITY))
        ctypes.memmove(ctypes.addressof(spare) + len(_PREFIX), raw + b"\0", len(raw) + 1)
        if _putenv(ctypes.addressof(spare)) != 0:
            environ[NAME] = value
            return
        environ._data[_KEY] = raw  # what os.environ.__setitem__ stores, without its setenv
        # the environment points at `spare` now; the buffer it pointed at before is free to write next time
        self._current, self._spare = spare, self._current

    def clear(self):
        """No trace header for this invocation: the variable is unset (unsetenv only drops the pointer to ours)."""
        os.environ.pop(NAME, None)
