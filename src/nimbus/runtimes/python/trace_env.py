"""`_X_AMZN_TRACE_ID`: each invocation's X-Ray trace header in the process environment, as Lambda sets it.

Part of the in-instance runtime (see bootstrap.py): any python3.8+, stdlib only, never imports `nimbus`.

Why not `os.environ[...] = trace_id` per invocation, as awslambdaric does: `os.environ` calls glibc's `setenv`,
which copies each new value into memory it never frees (a pointer into the environment may still be held) and
keeps every value it was given in a search tree, to reuse an identical one. Trace headers are all different, so
that is ~140 bytes more of the function's memory per warm invocation (a 128 MB function would be OOM-killed after
some 700,000 of them), and a search of a tree that keeps growing.

Instead the environment's entry for the variable is a buffer of ours, given to the C library once with `putenv`
(which stores the pointer, copying nothing), and each invocation writes the new header into it in place, and into
`os.environ`'s own mapping. Python code (os.environ, os.getenv), child processes (which inherit the C environment)
and C code (getenv) all see the current header, as they did. If anything else replaced or removed the entry since
(the function's own `os.environ` writes, a C library's `setenv`), the buffer is given again. Without ctypes, or
with `os.environ` replaced by something else, it is `os.environ` as before.
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
    _getenv = _libc.getenv
    _getenv.argtypes = [ctypes.c_char_p]
    _getenv.restype = ctypes.c_void_p
except (ImportError, OSError, AttributeError):  # no ctypes (or no C library to call): os.environ, as before
    ctypes = None  # type: ignore[assignment]

NAME = "_X_AMZN_TRACE_ID"
_KEY = NAME.encode()
_PREFIX = _KEY + b"="
#: the buffer's smallest size: a header the server makes is 82 bytes, so it is allocated once
_MIN_CAPACITY = 160


class TraceVariable:
    """Sets and clears `_X_AMZN_TRACE_ID` (one per process: the environment is the process's)."""

    __slots__ = ("_encoding", "_entry", "_value_at")

    def __init__(self):
        #: our "NAME=value\\0" buffer, and the address of its value (what getenv returns while the entry is ours)
        self._entry = None
        self._value_at = 0
        self._encoding = sys.getfilesystemencoding()

    def set(self, value):
        environ = os.environ
        raw = value.encode(self._encoding, "surrogateescape")
        if ctypes is None or type(environ) is not os._Environ or b"\0" in raw:
            environ[NAME] = value  # (a NUL is refused there, in its words)
            return
        environ._data[_KEY] = raw  # what os.environ.__setitem__ stores, without its setenv
        entry = self._entry
        if entry is not None and len(_PREFIX) + len(raw) < len(entry):
            ctypes.memmove(self._value_at, raw + b"\0", len(raw) + 1)
            if _getenv(_KEY) == self._value_at:  # the entry is still ours: written in place, done
                return
            if _putenv(ctypes.addressof(entry)) != 0:  # unset or replaced since: ours again
                environ[NAME] = value
            return
        fresh = ctypes.create_string_buffer(_PREFIX + raw, max(len(_PREFIX) + len(raw) + 1, _MIN_CAPACITY))
        if _putenv(ctypes.addressof(fresh)) != 0:
            environ[NAME] = value
            return
        # the C environment points at the new buffer now: the old one (if any) may go
        self._entry = fresh
        self._value_at = ctypes.addressof(fresh) + len(_PREFIX)

    def clear(self):
        """No trace header for this invocation: the variable is unset (unsetenv frees nothing of ours)."""
        os.environ.pop(NAME, None)
