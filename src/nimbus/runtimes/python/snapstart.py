"""SnapStart: the template's fork server, and the before-snapshot / after-restore hooks around it.

Part of the in-instance runtime (see bootstrap.py): any python3.8+, stdlib only, never imports `nimbus`. A template
is an instance started with `_NIMBUS_SNAPSHOT=1`: after init it runs the before-snapshot hooks, then only forks
restored instances; each restored child runs the after-restore hooks and serves as an ordinary instance.

Each restored instance gets a sandbox of its own inside the template's (`_isolate`), as on Lambda, where every
execution environment is separate: the forked child unshares a user namespace (owned by the sandbox user, which is
all an unprivileged process may do; the template's seccomp variant allows exactly that unshare and `mount`), with
mount, pid and IPC namespaces; mounts a fresh /tmp of the template's size and copies the template's /tmp into it
(the snapshot's /tmp), then forks pid 1 of the new pid namespace, which mounts its /proc and forks the runtime
(pid 2). The runtime drops every capability it has in the new user namespace and stacks the ordinary seccomp
filter (`_NIMBUS_RESTORE_SECCOMP`), so function code after a restore can do no more than in any instance:

    child (template's pid ns)  waits for pid 1, exits as the runtime did; its death kills pid 1 (PDEATHSIG)
      └─ pid 1 (own pid ns)    mounts /proc, reaps, reports the runtime's wait status to the child, exits
           └─ runtime (pid 2)  no capabilities, both filters; serves

Where the host allows no user namespace to the sandbox user, the restored instance shares the template's
sandbox as before (the READY header says `isolated: false`, and the server warns).
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


_RESTORE_NAMESPACES = 0x10000000 | 0x00020000 | 0x20000000 | 0x08000000  # NEWUSER NEWNS NEWPID NEWIPC (seccomp.py)
_MS_NOSUID, _MS_NODEV, _MS_NOEXEC = 0x2, 0x4, 0x8
_PR_SET_PDEATHSIG, _PR_SET_DUMPABLE, _PR_CAPBSET_DROP, _PR_SET_SECCOMP = 1, 4, 24, 22


def _libc():
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p]
    libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
    return ctypes, libc


def _check(ctypes, ret, what):
    if ret != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def _write(path, data):
    with open(path, "w") as f:
        f.write(data)


def _copy_tree(src_fd, dst):
    """The template's /tmp (open at `src_fd`, now covered) into the fresh one at `dst`: dirs, files, symlinks."""
    for dirpath, dirnames, filenames, dirfd in os.fwalk(".", dir_fd=src_fd):
        target = os.path.normpath(os.path.join(dst, dirpath))
        for name in dirnames:
            os.mkdir(os.path.join(target, name), os.stat(name, dir_fd=dirfd, follow_symlinks=False).st_mode & 0o7777)
        for name in filenames:
            st = os.stat(name, dir_fd=dirfd, follow_symlinks=False)
            path = os.path.join(target, name)
            if (st.st_mode & 0o170000) == 0o120000:
                os.symlink(os.readlink(name, dir_fd=dirfd), path)
                continue
            if (st.st_mode & 0o170000) != 0o100000:
                continue  # sockets, fifos: not part of a snapshot
            src = os.open(name, os.O_RDONLY | os.O_NOFOLLOW, dir_fd=dirfd)
            try:
                dst_fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, st.st_mode & 0o7777)
                try:
                    left = st.st_size
                    while left > 0:
                        sent = os.sendfile(dst_fd, src, None, left)
                        if sent == 0:
                            break
                        left -= sent
                finally:
                    os.close(dst_fd)
            finally:
                os.close(src)


def _mirror(status):
    """Exit the way the runtime did: same signal, or same exit code."""
    import signal

    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        with contextlib.suppress(OSError, ValueError):
            signal.signal(sig, signal.SIG_DFL)
            signal.pthread_sigmask(signal.SIG_UNBLOCK, [sig])
        os.kill(os.getpid(), sig)
        os._exit(128 + sig)
    os._exit(os.WEXITSTATUS(status) if os.WIFEXITED(status) else 1)


def _quiet(open_fds, keep):
    """The child and pid 1 hold nothing of the instance's: not its control socket, not its output. `open_fds` were
    listed before pid 1 mounted its /proc, where the child (not in that pid namespace) has no /proc/self."""
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    for fd in open_fds:
        if fd > 2 and fd not in keep and fd != devnull:
            with contextlib.suppress(OSError):
                os.close(fd)
    os.close(devnull)


def _isolate(seccomp_program, go):
    """In a restored child just forked: its own user, mount, pid and IPC namespaces and /tmp (see the docstring
    above). Returns in the runtime process only: True, or False where the host refused the user namespace (the
    child then goes on in the template's sandbox). It forks nothing before `go` (a pipe) says the server has moved it
    into its own cgroup: what it forks then starts there."""
    import signal

    ctypes, libc = _libc()
    uid, gid = os.getuid(), os.getgid()
    tmp = os.statvfs("/tmp")
    old_tmp = os.open("/tmp", os.O_RDONLY | os.O_DIRECTORY)
    if libc.unshare(_RESTORE_NAMESPACES) != 0:
        os.close(old_tmp)
        os.close(go)
        return False
    # its /proc/self files are root's while it is not dumpable (which the uid change made it): for the maps only
    _check(ctypes, libc.prctl(_PR_SET_DUMPABLE, 1, 0, 0, 0), "prctl(DUMPABLE)")
    _write("/proc/self/setgroups", "deny")
    _write("/proc/self/uid_map", f"{uid} {uid} 1")
    _write("/proc/self/gid_map", f"{gid} {gid} 1")
    _check(ctypes, libc.prctl(_PR_SET_DUMPABLE, 0, 0, 0, 0), "prctl(DUMPABLE)")
    size = tmp.f_blocks * tmp.f_frsize
    _check(ctypes, libc.mount(b"tmpfs", b"/tmp", b"tmpfs", _MS_NOSUID | _MS_NODEV, f"size={size},mode=1777".encode()),
           "mount /tmp")  # fmt: skip
    _copy_tree(old_tmp, "/tmp")
    os.close(old_tmp)
    os.read(go, 1)  # EOF once the server has moved this process into its cgroup
    os.close(go)
    status_r, status_w = os.pipe()
    open_fds = [int(name) for name in os.listdir("/proc/self/fd")]
    init = os.fork()
    if init:
        _child_waits(init, status_r, status_w, open_fds)
    try:
        _check(ctypes, libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0), "prctl(PDEATHSIG)")
        os.close(status_r)
        flags = _MS_NOSUID | _MS_NODEV | _MS_NOEXEC
        _check(ctypes, libc.mount(b"proc", b"/proc", b"proc", flags, None), "mount /proc")
        runtime = os.fork()
    except BaseException as exc:
        os.write(2, f"nimbus: the restored instance's pid 1 failed: {exc}\n".encode())
        os._exit(127)
    if runtime == 0:
        os.close(status_w)
        _drop_everything(ctypes, libc, seccomp_program)
        return True
    _init_reaps(runtime, status_w, open_fds)
    return False  # never reached: pid 1 exits


def _child_waits(init, status_r, status_w, open_fds):
    """The child (in the template's pid namespace): wait for pid 1's report (or its end), exit as the runtime did."""
    import struct

    try:
        os.close(status_w)
        _quiet(open_fds, {status_r})
        report = b""
        while len(report) < 4:
            chunk = os.read(status_r, 4 - len(report))
            if not chunk:
                break
            report += chunk
        _, init_status = os.waitpid(init, 0)
        _mirror(struct.unpack("=i", report)[0] if len(report) == 4 else init_status)
    finally:
        os._exit(127)


def _init_reaps(runtime, status_w, open_fds):
    """pid 1: only handled signals reach it from inside; reap everything, report the runtime's status, exit."""
    import signal
    import struct

    try:
        for sig in (signal.SIGHUP, signal.SIGINT, signal.SIGUSR1, signal.SIGUSR2, signal.SIGTERM):
            signal.signal(sig, signal.SIG_IGN)
        _quiet(open_fds, {status_w})
        while True:
            try:
                pid, status = os.wait()
            except ChildProcessError:
                break
            if pid == runtime:
                os.write(status_w, struct.pack("=i", status))
                break
    finally:
        os._exit(0)


def _drop_everything(ctypes, libc, seccomp_program):
    """The runtime of a restored instance: no capability in its user namespace (the bounding set too, which a new
    user namespace fills again), then the ordinary filter stacked on the template's."""
    with open("/proc/sys/kernel/cap_last_cap") as f:
        last = int(f.read())
    for cap in range(last + 1):
        _check(ctypes, libc.prctl(_PR_CAPBSET_DROP, cap, 0, 0, 0), f"drop capability {cap}")
    import struct

    header = struct.pack("=Ii", 0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3, this thread; all sets empty
    _check(ctypes, libc.capset(header, ctypes.create_string_buffer(24)), "capset")
    if seccomp_program:

        class SockFprog(ctypes.Structure):
            _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]  # noqa: RUF012  (ctypes' own protocol)

        buf = ctypes.create_string_buffer(seccomp_program, len(seccomp_program))
        fprog = SockFprog(len(seccomp_program) // 8, ctypes.addressof(buf))
        _check(ctypes, libc.prctl(_PR_SET_SECCOMP, 2, ctypes.addressof(fprog), 0, 0), "prctl(SECCOMP)")


def serve_template(channel, restore_seccomp=b""):
    """Be a SnapStart template: say READY, then fork one restored instance per FORK frame (the server sends the new
    instance's control socket and output pipe with it, SCM_RIGHTS), report each fork's pid (FORKED) and each exit
    (EXITED). The messages are the frame codec's (protocol/frames.py). Returns only in a forked child (in its own
    sandbox, `_isolate`), with the child's own channel on the control fd and whether it is isolated."""
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
            if frame.kind != codec.FORK or len(fds) < 3:
                continue
            control, output, go = fds[0], fds[1], fds[2]
            fds = fds[3:]
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
                try:
                    isolated = _isolate(restore_seccomp, go)
                except OSError as exc:
                    print(f"nimbus: the restored instance's sandbox failed: {exc}", file=sys.stderr, flush=True)
                    os._exit(127)
                return Channel(codec, fileno), isolated
            os.close(control)
            os.close(output)
            os.close(go)
            channel.send(codec.FORKED, header=codec.forked_header(pid))
        for fd in fds:
            os.close(fd)
