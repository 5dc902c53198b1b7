"""What the runtime does to its own process before any function code runs, when no sandbox did it already.

Part of the in-instance runtime (see bootstrap.py): any python3.8+, stdlib only, never imports `nimbus`. Hardening
proper (namespaces, dropped capabilities, seccomp, no root) is the sandbox's job (instances/sandbox_init.py); this
is the one step an unsandboxed instance takes for itself.
"""

from __future__ import annotations

import os

CLONE_NEWNS = 0x00020000
MS_RDONLY, MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 0x1, 0x20, 0x1000, 0x4000, 0x40000


def protect_task_root(task_root):
    """Make the task root read-only for this instance, before any function code runs.

    A private mount namespace with a read-only bind mount of the task root: writes fail with EROFS whatever the
    file modes say, and functions sharing one unpacked tree cannot touch each other's code. Needs CAP_SYS_ADMIN;
    without it (an unprivileged server) nothing changes and the server warns. Hardening (dropped capabilities,
    no root) is the sandbox's job, which replaces this step.
    """
    try:
        if os.statvfs(task_root).f_flag & os.ST_RDONLY:
            return True  # already read-only: the instance runs in a sandbox (or the tree is on a read-only mount)
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_void_p]
        path = os.fsencode(task_root)
        return (
            libc.unshare(CLONE_NEWNS) == 0
            and libc.mount(None, b"/", None, MS_REC | MS_PRIVATE, None) == 0
            and libc.mount(path, path, None, MS_BIND | MS_REC, None) == 0
            and libc.mount(None, path, None, MS_REMOUNT | MS_BIND | MS_RDONLY, None) == 0
        )
    except (OSError, AttributeError, ImportError):
        return False
