"""SnapStart: the template's fork server, and the before-snapshot / after-restore hooks around it.

Part of the in-instance runtime (see bootstrap.py): any python3.8+, stdlib only, never imports `nimbus`. A template
is an instance started with `_NIMBUS_SNAPSHOT=1`: after init it runs the before-snapshot hooks, then only forks
restored instances; each restored child runs the after-restore hooks and serves as an ordinary instance.
"""

from __future__ import annotations

import contextlib
import os
import socket
import sys

from .faults import build_fault_result
from .loop import Channel

#: (registry getter, order, error type) per hook phase, as Lambda's Python SnapStart runs them
_HOOKS = {
    "before_snapshot": ("get_before_snapshot", -1, "Runtime.BeforeSnapshotError"),
    "after_restore": ("get_after_restore", 1, "Runtime.AfterRestoreError"),
}


def run_hooks(phase):
    """Run the hooks registered with `snapshot_restore_py` (the function's own copy, or the runtime's), before
    hooks in reverse registration order, after hooks in order; an error result on the first failure, else None."""
    getter, order, error_type = _HOOKS[phase]
    if phase == "after_restore":
        _reseed()
    module = sys.modules.get("snapshot_restore_py")
    if module is None:
        return None
    try:
        hooks = list(getattr(module, getter)())[::order]
        for entry in hooks:
            func, args, kwargs = entry if isinstance(entry, tuple) else (entry, (), {})
            func(*args, **kwargs)
    except Exception as e:
        error = build_fault_result(sys.exc_info(), "")
        error["errorType"] = error_type
        error["errorMessage"] = f"{type(e).__name__}: {e}"
        return error
    return None


def _reseed():
    """A restored instance must not repeat its template's (or its siblings') random sequence."""
    rnd = sys.modules.get("random")
    if rnd is not None:
        rnd.seed()


def serve_template(channel):
    """Be a SnapStart template: say READY, then fork one restored instance per FORK frame (the server sends the new
    instance's control socket and output pipe with it, SCM_RIGHTS), report each fork's pid (FORKED) and each exit
    (EXITED). The messages are the frame codec's (protocol/frames.py). Returns only in a forked child, with the
    child's own channel on the control fd."""
    import array
    import select
    import signal

    codec = channel.codec
    sock = channel.sock
    channel.send(codec.READY, header={"template": True})
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    os.set_blocking(wake_r, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    fd_size = array.array("i").itemsize
    decoder = codec.FrameDecoder()
    while True:
        ready, _, _ = select.select([sock, wake_r], [], [])
        if wake_r in ready:
            with contextlib.suppress(BlockingIOError):
                os.read(wake_r, 512)
            while True:
                try:
                    pid, status = os.waitpid(-1, os.WNOHANG)
                except ChildProcessError:
                    break
                if pid == 0:
                    break
                channel.send(codec.EXITED, header=codec.exited_header(pid, status))
        if sock not in ready:
            continue
        data, ancdata, _, _ = sock.recvmsg(1 << 16, socket.CMSG_SPACE(4 * fd_size))
        if not data:
            sys.stdout.flush()
            os._exit(0)
        fds = []
        for level, kind, payload in ancdata:
            if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                fds += array.array("i", payload[: len(payload) - len(payload) % fd_size]).tolist()
        for frame in decoder.feed(data):
            if frame.kind != codec.FORK or len(fds) < 2:
                continue
            control, output = fds[0], fds[1]
            fds = fds[2:]
            pid = os.fork()
            if pid == 0:
                signal.set_wakeup_fd(-1)
                signal.signal(signal.SIGCHLD, signal.SIG_DFL)
                os.close(wake_r)
                os.close(wake_w)
                fileno = sock.fileno()
                sock.detach()
                os.dup2(output, 1)
                os.dup2(output, 2)
                os.dup2(control, fileno)
                os.close(output)
                os.close(control)
                os.environ.update(codec.fork_env(frame))
                return Channel(codec, fileno)
            os.close(control)
            os.close(output)
            channel.send(codec.FORKED, header=codec.forked_header(pid))
        for fd in fds:
            os.close(fd)
