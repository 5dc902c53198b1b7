"""Detached mounts: the server's clones of a function's code and layer dirs, handed to a spare with its assignment.

A spare used to keep the host's root (at /.host) until it was assigned a function, bind the function's code from
it, and then detach it on the cold start: `umount2(MNT_DETACH)` of the host's whole tree. Every unmount waits for
an expedited RCU grace period in the kernel, the largest single step of a spare's cold start (0.4-0.6 ms on a
quiet 2-vCPU VM, 1-25 ms and worse under load: `docs/performance.md`). Instead, as real root, the server clones
each source dir of the assignment (`open_tree(2)` with OPEN_TREE_CLONE: a mount of it that belongs to no
namespace yet) and sends the fds with the assignment (SCM_RIGHTS); the spare attaches each where it goes
(`move_mount(2)`), or hands layers to overlayfs as lower dirs. So a spare drops the host's root when it is made,
off the cold path, and its cold start unmounts nothing (an overlay of two or more layers excepted: its clones are
dissolved, an unmount each, when the spare closes them).

Needs Linux 5.2+ and CAP_SYS_ADMIN in the server's mount namespace (`available`): an unprivileged server (the
sandbox in a user namespace) cannot clone mounts, and its spares keep the host's root until assigned, as before.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
from typing import Any

_libc = ctypes.CDLL(None, use_errno=True)
#: the same number on every architecture (the generic syscall table)
SYS_OPEN_TREE = 428
OPEN_TREE_CLONE = 1
OPEN_TREE_CLOEXEC = os.O_CLOEXEC
AT_FDCWD = -100
AT_RECURSIVE = 0x8000


def clone(path: str, recursive: bool = True) -> int:
    """A detached clone of the mount at `path`, with the mounts below it unless not `recursive` (the fd that holds
    it). Raises OSError."""
    flags = OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | (AT_RECURSIVE if recursive else 0)
    fd: int = _libc.syscall(SYS_OPEN_TREE, AT_FDCWD, os.fsencode(path), flags)
    if fd < 0:
        err = ctypes.get_errno()
        raise OSError(err, f"open_tree {path}: {os.strerror(err)}")
    return fd


def available() -> bool:
    """Whether this process can clone mounts (once, at start: a clone of / alone, dropped at once)."""
    try:
        os.close(clone("/", recursive=False))
    except OSError:
        return False
    return True


def detach_sources(job: dict[str, Any]) -> list[int]:
    """Clone every source dir of `job`'s mounts; record their order in `job["sources"]` (the spare maps each to the
    fd at the same place) and mark the binds `detached`. The fds are the caller's to send and close; on an error
    none is left open."""
    sources: list[str] = []
    for m in job["mounts"]:
        if m["kind"] == "bind":
            m["detached"] = True
            sources.append(m["src"])
        sources += m.get("lower", ())
    unique = list(dict.fromkeys(sources))
    fds: list[int] = []
    try:
        for src in unique:
            fds.append(clone(src))
    except OSError:
        for fd in fds:
            with contextlib.suppress(OSError):
                os.close(fd)
        raise
    job["sources"] = unique
    return fds
