"""Enter an instance's sandbox, then exec the runtime. The first code every sandboxed instance process runs.

Started (posix_spawn, or later a zygote's fork) as `python3 -I -S sandbox_init.py` with the plan, built by
`sandbox.py` on the server side, in the NIMBUS_SANDBOX environment variable (hex of `marshal.dumps` format 4, which
every python3.8+ reads). Three processes result, and the server only ever sees the first:

    outer (host pid ns, root)      joins the cgroups, unshares the namespaces, forks; waits and mirrors the exit
      └─ init (pid 1 in the sandbox)   builds the root, mounts /proc, pivots; seccomp; forks; reaps; reports
           └─ runtime (pid 2)          drops to the sandbox uid, no capabilities (no_new_privs and the seccomp
                                       filter inherited from init; a spare loads its own: see below); execs

A zygote's fork running as real root has no outer process: the zygote forks it straight into a pid namespace of its
own (`zygote_main.py`), so the fork is init, and init does the outer process's duties too (the cgroups, the other
namespaces, the lifeline; `_enter_as_init`). It reports the runtime's end to the zygote on a pipe (`report_fd`),
and the zygote reports that status to the server as the fork's own, so the server sees the same statuses either way:
one interpreter fork and one exec fewer per instance (docs/performance.md, "A fork without its outer process").

When the runtime (pid 2) ends, init reports its wait status through a pipe and exits, which makes the kernel kill
whatever else the function left in its pid namespace; the outer process then exits the same way the runtime did
(same code, same signal), so the server's "signal: killed" and "exit status 3" stay exact. If the outer process is
killed (timeout, stop), init gets SIGKILL (PDEATHSIG) and the whole pid namespace goes with it. The outer process
also holds the server's lifeline (`plan["lifeline_fd"]`, a pipe only the server can write to, see `process.py`):
when it hangs up, the server is gone (even by kill -9, when no timeout will ever fire), and the outer process kills
init, so no function outlives the server that would have enforced its deadline.

A spare (`plan["spare"]`, zygote path only) is all of the above for no function yet: its root lacks /var/task
and /opt (its /tmp is mounted at the usual size, `plan["premounts"]`); its runtime process, still privileged,
copies its pages from the zygote (so the cold start takes no copy-on-write faults), drops the bounding set, says
READY on the control socket and blocks. The assignment that
follows (`protocol/spare.py`, whose codec the zygote hands to `enter`: the function's mounts, network, argv, env)
comes with detached mounts of the function's dirs (`plan["detached_mounts"]`: the server's clones, see
`instances/detached.py`), which are moved into place, so its root was sealed and the host's dropped when it was
made. Where the server cannot clone mounts (under a user namespace), the spare keeps the host's root at /.host and
its root writable until assigned, binds the function's dirs from there, then detaches the host's root and seals
its own. Then the runtime goes on as any other: credentials, seccomp, bootstrap. Its seccomp filter is loaded
before it says READY, in the variant that still lets the assignment's mounts and unshare through, and closed by a
few instructions stacked on it after them (`instances/seccomp.py`): loading the whole program took ~0.1-0.2 ms of
each cold start.

stdlib only, python3.8+: this file cannot import `nimbus`. The seccomp program arrives assembled, as bytes.
It is one file, over the ~400 lines a module should keep to, because it is the program every spawned sandbox
starts with: each more file would be one more path lookup and load on every cold start.
"""

from __future__ import annotations

# Imports are kept to the cheap ones (this runs on every cold start): no json, socket, signal or platform, whose
# imports (enum, re, ...) would cost more than the whole sandbox set-up.
import _signal  # type: ignore[import-not-found]  # signal.py imports enum: too slow here
import ctypes
import marshal
import os
import resource
import struct

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs ~10 ms to import; annotations here are never evaluated
    from typing import Any

CLONE_NEWNS = 0x00020000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000

MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 0x1, 0x2, 0x4, 0x8
MS_REMOUNT, MS_BIND, MS_MOVE, MS_REC, MS_PRIVATE, MS_SLAVE = 0x20, 0x1000, 0x2000, 0x4000, 0x40000, 0x80000
MS_NOATIME, MS_NODIRATIME, MS_RELATIME, ST_RELATIME = 0x400, 0x800, 0x200000, 0x1000
MNT_DETACH = 2
SYS_MOVE_MOUNT, MOVE_MOUNT_F_EMPTY_PATH, AT_FDCWD = 429, 0x4, -100  # (the generic table's number on every arch)
PR_SET_PDEATHSIG, PR_GET_DUMPABLE, PR_SET_DUMPABLE, PR_CAPBSET_DROP, PR_SET_NO_NEW_PRIVS = 1, 3, 4, 24, 38
PR_SET_SECCOMP, SECCOMP_MODE_FILTER = 22, 2
SYS_PIVOT_ROOT = {"x86_64": 155, "aarch64": 41}
#: where the new root is assembled (in the private mount namespace only; sources are held open as O_PATH fds)
STAGING = "/tmp"
#: where a spare keeps the host's root until it is assigned a function
HOST = "/.host"

_libc = ctypes.CDLL(None, use_errno=True)
_libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p]
_libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]
_libc.unshare.argtypes = [ctypes.c_int]
_libc.setns.argtypes = [ctypes.c_int, ctypes.c_int]
_libc.chroot.argtypes = [ctypes.c_char_p]
_libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
_libc.sethostname.argtypes = [ctypes.c_char_p, ctypes.c_size_t]
_libc.ioctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_void_p]
SIGPIPE, SIGKILL, SIGCHLD, SIGSTOP = 13, 9, 17, 19
SIOCGIFFLAGS, SIOCSIFFLAGS, IFF_UP, IFF_RUNNING = 0x8913, 0x8914, 0x1, 0x40


def _check(ret: int, what: str) -> None:
    if ret != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def _b(path: str | None) -> bytes | None:
    return None if path is None else os.fsencode(path)


def mount(src: str | None, dst: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    _check(_libc.mount(_b(src), _b(dst), _b(fstype), flags, _b(data)), f"mount {src} on {dst}")


def _write(path: str, data: str) -> None:
    fd = os.open(path, os.O_WRONLY)
    try:
        os.write(fd, data.encode())
    finally:
        os.close(fd)


# -- outer: cgroups, user namespace, unshare ----------------------------------------------------------------------


def _join_cgroups(procs_files: list[str]) -> None:
    for path in procs_files:
        _write(path, "0")  # the writing process itself (its pid in our namespace may be 1, in a new pid namespace)


def _enter_user_namespace(uid: int, gid: int) -> None:
    """Unprivileged host: a user namespace mapping the sandbox uid/gid onto ours (full caps inside it only)."""
    outer_uid, outer_gid = os.geteuid(), os.getegid()
    _check(_libc.unshare(CLONE_NEWUSER), "unshare(NEWUSER)")
    _write("/proc/self/setgroups", "deny")
    _write("/proc/self/uid_map", f"{uid} {outer_uid} 1")
    _write("/proc/self/gid_map", f"{gid} {outer_gid} 1")


def _open_sources(mounts: list[dict[str, Any]], prefix: str = "") -> dict[str, int]:
    """O_PATH fds for every bind source (looked up under `prefix`), taken before anything is mounted over the
    staging directory (so a source under /tmp stays reachable)."""
    fds: dict[str, int] = {}
    for m in mounts:
        if m["kind"] == "bind" and m["src"] not in fds:
            fds[m["src"]] = os.open(prefix + m["src"], os.O_PATH | os.O_CLOEXEC)
        for layer in m.get("lower", ()):
            if layer not in fds:
                fds[layer] = os.open(prefix + layer, os.O_PATH | os.O_CLOEXEC)
    return fds


def _loopback_up() -> None:
    """Bring `lo` up in a fresh network namespace (it starts down), so 127.0.0.1 works inside: a custom runtime's
    Runtime API listens there. ioctl(SIOCGIFFLAGS/SIOCSIFFLAGS) on a throwaway socket; needs CAP_NET_ADMIN over the
    namespace, which the outer process has (root, or root of the user namespace that owns the new netns)."""
    fd = _libc.socket(2, 2, 0)  # AF_INET, SOCK_DGRAM
    if fd < 0:
        _check(-1, "socket")
    try:
        ifreq = ctypes.create_string_buffer(b"lo", 40)  # struct ifreq: char[16] name, then short flags
        _check(_libc.ioctl(fd, SIOCGIFFLAGS, ifreq), "ioctl(SIOCGIFFLAGS)")
        flags = struct.unpack_from("=h", ifreq, 16)[0] | IFF_UP | IFF_RUNNING
        struct.pack_into("=h", ifreq, 16, flags)
        _check(_libc.ioctl(fd, SIOCSIFFLAGS, ifreq), "ioctl(SIOCSIFFLAGS)")
    finally:
        os.close(fd)


def _send_api_listener(control_fd: int, port: int) -> None:
    """A sandbox with no network reaches the API through a listening socket made here, in its own network
    namespace, on 127.0.0.1 at the server's own port (so the URLs the API hands out work inside too): passed to the
    server (b"L" + SCM_RIGHTS on the control socket, before any frame), which serves it as one of its own
    listeners. No proxy runs in the sandbox."""
    import socket  # only here: its import (enum) costs more than the rest of the set-up

    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    control = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM, fileno=os.dup(control_fd))
    try:
        listener.bind(("127.0.0.1", port))
        listener.listen(64)
        socket.send_fds(control, [b"L"], [listener.fileno()])
    finally:
        control.close()
        listener.close()


# -- init: the root file system ----------------------------------------------------------------------------------


def _remount_flags(path: str, rw: bool, dev: bool) -> int:
    """Read-only (unless `rw`), nosuid, nodev (unless `dev`); keep the source's noexec/atime flags (they are
    locked in a user namespace)."""
    have = os.statvfs(path).f_flag
    flags = MS_REMOUNT | MS_BIND | MS_NOSUID | (0 if dev else MS_NODEV) | (0 if rw else MS_RDONLY)
    flags |= have & (MS_NOEXEC | MS_NOATIME | MS_NODIRATIME)
    if have & ST_RELATIME:
        flags |= MS_RELATIME
    return flags


def _mount(m: dict[str, Any], root: str, fds: dict[str, int]) -> None:
    """One entry of a mount plan, at `root` + its destination."""
    dst = root + m["dst"]
    kind = m["kind"]
    if kind == "symlink":
        os.symlink(m["target"], dst)
    elif kind == "dir":
        os.makedirs(dst, mode=m.get("mode", 0o755), exist_ok=True)
    elif kind == "file":
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        with open(dst, "w") as f:
            f.write(m["data"])
        os.chmod(dst, 0o644)
    elif kind == "bind" and m.get("detached"):  # the server's clone: attached here, nothing to copy
        moved = _libc.syscall(SYS_MOVE_MOUNT, fds[m["src"]], b"", AT_FDCWD, _b(dst), MOVE_MOUNT_F_EMPTY_PATH)
        _check(moved, f"move_mount {dst}")
        mount(None, dst, None, _remount_flags(dst, m.get("rw", False), m.get("dev", False)))
    elif kind == "bind":
        src_fd = fds[m["src"]]
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        if os.path.isdir(f"/proc/self/fd/{src_fd}"):
            os.makedirs(dst, exist_ok=True)
        elif not os.path.exists(dst):
            open(dst, "w").close()
        mount(f"/proc/self/fd/{src_fd}", dst, None, MS_BIND | MS_REC)
        mount(None, dst, None, _remount_flags(dst, m.get("rw", False), m.get("dev", False)))
    elif kind == "tmpfs" and m.get("remount"):  # a spare's premounted /tmp, at another size
        mount(None, dst, None, MS_REMOUNT | MS_NOSUID | MS_NODEV, f"size={m['size_mb']}m")
    elif kind == "tmpfs":
        os.makedirs(dst, exist_ok=True)
        mount("tmpfs", dst, "tmpfs", MS_NOSUID | MS_NODEV, f"size={m['size_mb']}m,mode={m.get('mode', 0o755):o}")
    elif kind == "overlay":
        os.makedirs(dst, exist_ok=True)
        # only lower dirs: the overlay is read-only by construction; the first lower dir is the top one
        lower = ":".join(f"/proc/self/fd/{fds[p]}" for p in m["lower"])
        mount("overlay", dst, "overlay", MS_RDONLY | MS_NOSUID | MS_NODEV, f"lowerdir={lower}")
    elif kind == "proc":
        os.makedirs(dst, exist_ok=True)
        mount("proc", dst, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    else:
        raise ValueError(f"unknown mount kind {kind!r}")


def _mount_all(mounts: list[dict[str, Any]], root: str, fds: dict[str, int]) -> None:
    """Every entry of a mount plan in order, then the sources' fds closed."""
    for m in mounts:
        _mount(m, root, fds)
    for fd in fds.values():
        os.close(fd)


def _build_root(plan: dict[str, Any], fds: dict[str, int]) -> None:
    """Assemble the root on a tmpfs and pivot into it. A spare without detached mounts keeps the host's root at
    /.host (its function's code is bound from there once assigned) and its root writable until then. With a
    zygote's root template (`plan["template"]`), the root is one recursive bind of it, and the plan's mounts are
    the function's only."""
    mount(None, "/", None, MS_REC | MS_PRIVATE)
    root = STAGING
    if plan.get("template"):
        mount(plan["template"], root, None, MS_BIND | MS_REC)
    else:
        mount("nimbus-root", root, "tmpfs", MS_NOSUID | MS_NODEV, "size=4m,mode=0755")
    _mount_all(plan["mounts"], root, fds)
    os.chdir(root)
    machine = os.uname().machine
    if plan.get("spare") and not plan.get("detached_mounts"):
        os.mkdir(HOST[1:], 0o700)
        _check(_libc.syscall(SYS_PIVOT_ROOT[machine], b".", HOST[1:].encode()), "pivot_root")
        os.chdir("/")
        return
    # the new root moved over the old one and made this process's root (as switch_root does), not pivot_root and a
    # detach of the old root: any unmount waits for an expedited RCU grace period, and a burst's forks queued on
    # them (~150 ms each of 100, perf sched, docs/performance.md). The old root stays below, unreachable (nothing
    # in the sandbox keeps a capability; seccomp refuses mount, umount2, chroot, pivot_root) and out of mountinfo
    # (which shows only mounts under the process's root); it goes with the namespace, as the rest of the tree.
    mount(".", "/", None, MS_MOVE)
    _check(_libc.chroot(b"."), "chroot")
    os.chdir("/")
    _seal_root()


def _seal_root() -> None:
    mount(None, "/", None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV)


# -- a zygote's root template -----------------------------------------------------------------------------------


def unshare_pid_namespace() -> None:
    """In a zygote: the next fork is pid 1 of a new pid namespace (`zygote_main._PidNamespaces`)."""
    _check(_libc.unshare(CLONE_NEWPID), "unshare(NEWPID)")


def set_pid_namespace_for_children(fd: int) -> None:
    """In a zygote, after that fork: its forks go into the pid namespace open at `fd` (its own) again."""
    _check(_libc.setns(fd, CLONE_NEWPID), "setns(NEWPID)")


def build_template(system: list[dict[str, Any]], devices: list[dict[str, Any]], parent: str) -> str:
    """In a zygote running as real root, once: the part of every root that is the same for all its instances (the
    system dirs, /etc, the runtime, /dev: the ~40 mounts `_build_root` would otherwise make in each fork), built
    read-only in the zygote's own mount namespace at a new directory under `parent`. A fork's pid 1 then binds
    it recursively as its root (one mount call; the kernel copies the tree with each mount's flags) and mounts
    only the function's part and /proc. The zygote's namespace follows the host's mounts (slave), and nothing
    mounted here reaches the host. Returns the template's path."""
    _check(_libc.unshare(CLONE_NEWNS), "unshare(NEWNS)")
    mount(None, "/", None, MS_REC | MS_SLAVE)
    path = f"{parent}/.nimbus-root-{os.getpid()}"
    os.mkdir(path, 0o700)
    try:
        mount("nimbus-root", path, "tmpfs", MS_NOSUID | MS_NODEV, "size=4m,mode=0755")
        tree = [dict(m, kind="dir") if m["kind"] == "proc" else m for m in system + devices]
        _mount_all(tree, path, _open_sources(tree))
        for dst in ("", "/dev"):  # not even root writes to the tree every instance shares
            mount(None, path + dst, None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV)
    except BaseException:
        _libc.umount2(path.encode(), MNT_DETACH)  # where it was mounted at all
        os.rmdir(path)
        raise
    return path


def drop_template(path: str) -> None:
    """The zygote's last act: its template unmounted (forks keep their copies) and its directory removed."""
    _check(_libc.umount2(path.encode(), MNT_DETACH), "umount template")
    os.rmdir(path)


def use_template(plan: dict[str, Any], template: tuple[str, list[Any], list[Any]] | None) -> None:
    """Make a fork's plan bind the zygote's root template (`build_template`) instead of mounting the same tree
    again, when the plan's system and device mounts are exactly the template's (and the template is still there).
    Spares too, when their function's dirs come as detached mounts (their root is sealed when made); not the others,
    whose root is writable until assigned and shows the host's at /.host meanwhile."""
    if template is None or (plan.get("spare") and not plan.get("detached_mounts")):
        return
    path, system, devices = template
    mounts = plan["mounts"]
    if mounts[: len(system)] != system or mounts[len(mounts) - len(devices) :] != devices:
        return
    if not os.path.isdir(path + "/var/runtime"):  # gone from under the zygote (the host removed the directory)
        return
    plan["template"] = path
    plan["mounts"] = mounts[len(system) : len(mounts) - len(devices)] + devices[-1:]  # the function's, and /proc


def _read_head(fd: int, n: int) -> tuple[bytes, list[int]]:
    """Up to `n` bytes and the fds that came with them (SCM_RIGHTS). Only a spare reads fds: it is a zygote's fork,
    which has `socket` and `array` imported already (recvmsg, not socket.recv_fds: that is python3.9+)."""
    import array
    import socket

    size = array.array("i").itemsize
    sock = socket.socket(fileno=os.dup(fd))
    try:
        data, ancillary, _, _ = sock.recvmsg(n, socket.CMSG_SPACE(16 * size))
    finally:
        sock.close()
    fds: list[int] = []
    for level, kind, payload in ancillary:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds += array.array("i", payload[: len(payload) - len(payload) % size]).tolist()
    if not data:
        raise EOFError("the server closed the channel")
    return data, fds


def _read_exact(fd: int, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = os.read(fd, n - len(data))
        if not chunk:
            raise EOFError("the server closed the channel")
        data += chunk
    return data


MADV_POPULATE_WRITE = 23


def _prefault() -> None:
    """Copy every private writable page from the zygote now, so the copy-on-write faults (most of a forked
    interpreter's first steps: refcounts are writes) do not land on the cold start."""
    _libc.madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    with open("/proc/self/maps") as f:
        lines = f.read().splitlines()
    for line in lines:
        fields = line.split()
        if fields[1] != "rw-p" or (len(fields) > 5 and fields[5].startswith("[v")):
            continue
        start, end = (int(x, 16) for x in fields[0].split("-"))
        _libc.madvise(start, end - start, MADV_POPULATE_WRITE)


def _take_assignment(plan: dict[str, Any], spare_codec: Any) -> None:
    """A spare's runtime process (still privileged): say it waits, read the instance's assignment from the control
    socket (`spare_codec`: protocol/spare.py), mount the function's part of the root (from the detached mounts sent
    with it, or from the host's root, which is then dropped and the root sealed read-only), and take the
    assignment's argv/env into `plan`. EOF: the spare is discarded."""
    fd = plan["control_fd"]
    if plan.get("idle_setup"):
        # its copying (most of a spare's CPU) only with CPU time nothing else wants. Nothing before this point runs
        # in the idle class: the cgroup join and the mounts hold kernel-wide locks, and a starved holder would stall
        # every cold start (and the server's cgroup mkdirs) behind it
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
    _prefault()
    if plan.get("idle_setup"):
        # back in the normal class before it waits: the class only matters while it runs, and a spare woken by its
        # assignment in the idle class waited for every other runnable task first (0.5-10 ms of its cold start)
        os.sched_setscheduler(0, os.SCHED_OTHER, os.sched_param(0))
    _drop_bounding_set()  # needs no more than the effective set, which the mounts below still have
    _mount_all(plan.get("premounts", []), "", {})  # its /tmp, at the usual size (protocol/spare.py)
    if plan.get("seccomp_setup"):  # its filter loaded now, off the cold start; closed in `_exec_runtime`
        _install_seccomp(plan["seccomp_setup"])
    os.write(fd, spare_codec.READY)
    try:
        head, received = _read_head(fd, spare_codec.HEADER.size) if plan.get("detached_mounts") else (b"", [])
        head += _read_exact(fd, spare_codec.HEADER.size - len(head))
        job = spare_codec.decode_assignment(_read_exact(fd, spare_codec.assignment_size(head)))
    except EOFError:
        os._exit(0)
    plan.update(job)
    if plan.get("detached_mounts"):  # its root was sealed, and the host's dropped, when it was made
        sources = job.get("sources", [])
        if len(received) != len(sources):
            raise OSError(f"{len(sources)} detached mounts announced, {len(received)} received")
        _mount_all(job["mounts"], "", {src: received[i] for i, src in enumerate(sources)})
    else:
        _mount_all(job["mounts"], "", _open_sources(job["mounts"], HOST))
        _check(_libc.umount2(HOST.encode(), MNT_DETACH), "umount host root")
        os.rmdir(HOST)
        _seal_root()
    if job["network"] == "none":
        _check(_libc.unshare(CLONE_NEWNET), "unshare(NEWNET)")
        _loopback_up()
        if job.get("api_listener"):
            _send_api_listener(fd, job["api_listener"])


# -- runtime: credentials, seccomp, exec ------------------------------------------------------------------------


#: the highest capability number (from /proc/sys/kernel/cap_last_cap; read by `warm` in a zygote, else on first use)
_cap_last: list[int] = []


def _last_capability() -> int:
    if not _cap_last:
        with open("/proc/sys/kernel/cap_last_cap") as f:
            _cap_last.append(int(f.read()))
    return _cap_last[0]


def _drop_bounding_set() -> None:
    """No capability can ever come back, whatever is exec'd (needs CAP_SETPCAP: before the uid changes)."""
    for cap in range(_last_capability() + 1):
        _check(_libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0), f"drop capability {cap}")


#: capset's arguments: _LINUX_CAPABILITY_VERSION_3 for this thread, and two zeroed __user_cap_data_struct
_CAP_HEADER = struct.pack("=Ii", 0x20080522, 0)
_CAP_DATA = ctypes.create_string_buffer(24)


def _clear_capabilities() -> None:
    """Empty permitted, effective and inheritable sets (a setuid away from root already cleared most of them)."""
    _check(_libc.capset(_CAP_HEADER, _CAP_DATA), "capset")


def warm() -> None:
    """In a zygote, before it forks: do once what every forked set-up would otherwise do first. A fresh fork that
    looks up a libc function (dlsym), makes its first ctypes call (the dynamic linker binds ctypes' and libffi's
    own calls lazily) or opens its first file copies the pages all of that writes, in every child: measured
    ~1 ms of a forked runtime's ~1.5 ms of credential and capability dropping."""
    for name in ("capset", "madvise", "poll", "socket", "syscall"):
        getattr(_libc, name)
    _libc.prctl(PR_GET_DUMPABLE, 0, 0, 0, 0)
    _last_capability()


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


def _install_seccomp(program: bytes) -> None:
    """no_new_privs, then the filter the server assembled (`seccomp.py`): 8 bytes per BPF instruction."""
    _check(_libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "prctl(NO_NEW_PRIVS)")
    buf = ctypes.create_string_buffer(program, len(program))
    fprog = _SockFprog(len(program) // 8, ctypes.addressof(buf))
    _check(_libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.addressof(fprog), 0, 0), "prctl(SECCOMP)")


def _close_fds_except(keep: set[int]) -> None:
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        if fd not in keep:
            try:  # noqa: SIM105  (contextlib's import costs more than the whole set-up)
                os.close(fd)
            except OSError:
                pass


def _exec_runtime(plan: dict[str, Any], runtime_main: Any = None) -> None:
    """Drop to the sandbox's credentials, then exec the runtime, or (zygote path) call `runtime_main(plan)` in
    this very process, which already has the runtime's code imported."""
    uid, gid = plan["uid"], plan["gid"]
    if not plan["userns"]:
        os.setgroups([])
        os.setresgid(gid, gid, gid)
    if not plan.get("spare"):  # a spare dropped it before it waited
        _drop_bounding_set()
    if not plan["userns"]:
        os.setresuid(uid, uid, uid)
    for limit, value in plan.get("rlimits", ()):  # no memory and pids cgroup here: see rlimits.py
        resource.setrlimit(limit, (value, value))
    _clear_capabilities()
    if plan.get("seccomp_inherited"):
        pass  # pid 1 installed the filter (and no_new_privs) before it forked this process
    elif plan.get("seccomp_setup") and plan.get("seccomp_closing"):
        _install_seccomp(plan["seccomp_closing"])  # a spare, on its set-up variant: the two are the whole filter
    elif plan["seccomp"]:
        _install_seccomp(plan["seccomp"])
    else:
        _check(_libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "prctl(NO_NEW_PRIVS)")
    _close_fds_except({0, 1, 2, plan["control_fd"]})
    os.chdir(plan["cwd"])
    if runtime_main is not None:
        runtime_main(plan)
        os._exit(0)
    argv = plan["argv"]
    os.execve(argv[0], argv, plan["env"])


def _init(
    plan: dict[str, Any],
    fds: dict[str, int],
    status_w: int,
    runtime_main: Any = None,
    spare_codec: Any = None,
    limits_report: int = -1,
) -> None:
    """pid 1 of the sandbox: build the root, start the runtime, reap everything, report the runtime's status (to the
    outer process on `status_w`; with none, -1, to the zygote on `plan["report_fd"]`)."""
    if status_w >= 0:  # its outer process's death ends it; a zygote's direct fork outlives its zygote, as outers do
        _check(_libc.prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0), "prctl(PDEATHSIG)")
    _build_root(plan, fds)
    hostname = plan["hostname"].encode()
    _check(_libc.sethostname(hostname, len(hostname)), "sethostname")
    # one filter for pid 1 and the runtime, compiled once and inherited; not a spare's, whose runtime still mounts
    # its function's part once assigned (so it loads its own set-up variant before it waits, and stacks the closing
    # program on it once set up: seccomp.py)
    shared = bool(plan["seccomp"]) and not plan.get("spare")
    if shared:
        _install_seccomp(plan["seccomp"])
        plan["seccomp_inherited"] = True
    runtime = os.fork()
    if runtime == 0:
        try:
            if status_w >= 0:
                os.close(status_w)
            if plan.get("spare"):
                _take_assignment(plan, spare_codec)
            _exec_runtime(plan, runtime_main)
        except BaseException as exc:
            _fail(f"runtime set-up failed: {exc}")
    for sig in (1, 2, 10, 12, 15):  # HUP INT USR1 USR2 TERM: only handled signals reach a pid 1 from inside
        _signal.signal(sig, _signal.SIG_IGN)
    if status_w >= 0:  # the runtime's end goes to the outer process
        keep = [status_w]
        args: list[Any] = ["init", runtime, status_w]
    else:  # no outer process: the runtime's end goes to the zygote, and the lifeline is watched here
        lifeline = plan.get("lifeline_fd")
        keep = [plan["report_fd"], -1 if lifeline is None else lifeline, limits_report]
        args = ["pid1", runtime, keep[0], plan["host_pid"], *keep[1:]]
    waiter = plan["waiter_fd"]
    _close_fds_except({waiter, *keep})
    _check(_libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0), "prctl(DUMPABLE)")
    if plan["seccomp"] and not shared:
        _install_seccomp(plan["seccomp"])
    _exec_waiter(waiter, args, keep)
    if status_w < 0:
        _serve_as_pid1(*args[1:])
    while True:
        try:
            pid, status, usage = os.wait4(-1, 0)
        except ChildProcessError:
            os._exit(0)
        if pid == runtime:  # with its peak resident size, which tells an out-of-memory end under rlimits
            os.write(status_w, struct.pack("=iq", status, usage.ru_maxrss))
            os._exit(0)


def _open_waiter(path: str | None) -> int:
    """The native waiter (`native/sandbox_wait.c`), open for an exec by fd; -1 where it is not there."""
    if not path:
        return -1
    try:
        return os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return -1


def _exec_waiter(waiter: int, args: list[Any], keep: list[int]) -> None:
    """Become the native waiter (outer or init, same duty, a few pages instead of a Python process's); returns
    only where the exec failed, and the caller runs the same loop in Python. The fds in `keep` (made inheritable
    here: Python makes its own close-on-exec; -1 for none) are what it keeps."""
    if waiter < 0:
        return
    try:
        for fd in keep:
            if fd >= 0:
                os.set_inheritable(fd, True)
        os.execve(waiter, ["nimbus-sandbox-wait", *(str(a) for a in args)], {})
    except OSError:
        pass


def _report_end(status: int, max_rss_kb: int, report: int, host_pid: int, limits_report: int) -> None:
    """pid 1 without an outer process, once the runtime has ended: the limits report (when there is one), then the
    runtime's status for the zygote (one atomic 16-byte write on its pipe), then exit, which ends the namespace. With
    the zygote gone, its own exit code is the nearest thing to the status the server can read."""
    if limits_report >= 0:
        os.write(limits_report, b"%d %d" % (status, max_rss_kb))
    try:  # noqa: SIM105  (contextlib's import costs more than the whole set-up)
        os.write(report, struct.pack("=iiq", host_pid, status, max_rss_kb))
    except OSError:
        pass
    if os.WIFEXITED(status):
        os._exit(os.WEXITSTATUS(status))
    os._exit(128 + (os.WTERMSIG(status) if os.WIFSIGNALED(status) else 0))


def _serve_as_pid1(runtime: int, report: int, host_pid: int, lifeline: int, limits_report: int) -> None:
    """The native waiter's `pid1` loop, in Python where it is not built: reap every process until the runtime ends,
    and exit at once when the server's lifeline hangs up (the kernel then kills the rest of the namespace)."""
    import select  # only here (a C module; the native waiter is the usual path)

    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    _signal.set_wakeup_fd(wake_w)
    _signal.signal(SIGCHLD, lambda *_: None)
    _signal.signal(SIGPIPE, _signal.SIG_IGN)
    poller = select.poll()
    poller.register(wake_r, POLLIN)
    if lifeline >= 0:
        poller.register(lifeline, 0)  # no events asked: only its hang-up is reported
    while True:
        while True:
            try:
                pid, status, usage = os.wait4(-1, os.WNOHANG)
            except ChildProcessError:
                os._exit(0)
            if pid == 0:
                break
            if pid == runtime:
                _report_end(status, usage.ru_maxrss, report, host_pid, limits_report)
        for fd, _ in poller.poll():
            if fd == lifeline:
                os._exit(137)
            os.read(wake_r, 512)


def _mirror(status: int) -> None:
    """Exit the way the runtime did: same signal, or same exit code."""
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        if sig not in (SIGKILL, SIGSTOP):
            _signal.signal(sig, _signal.SIG_DFL)
            _signal.pthread_sigmask(_signal.SIG_UNBLOCK, [sig])
        os.kill(os.getpid(), sig)
        os._exit(128 + sig)
    os._exit(os.WEXITSTATUS(status) if os.WIFEXITED(status) else 1)


def _fail(message: str) -> None:
    try:
        os.write(2, f"nimbus sandbox: {message}\n".encode())
    finally:
        os._exit(127)


def main() -> None:
    enter(marshal.loads(bytes.fromhex(os.environ.pop("NIMBUS_SANDBOX"))))


def _enter_namespaces(plan: dict[str, Any], pid_namespace: int) -> tuple[dict[str, int], int]:
    """What comes before pid 1: the cgroups, the limits report's fd (opened while still on the host), the
    namespaces (`pid_namespace`: CLONE_NEWPID for an outer process, 0 for a process that is pid 1 already), the
    network's, and the bind sources' fds (after the unshare: a bind mount's source must be in our own mount
    namespace). Returns the sources' fds and the limits report's (-1 for none)."""
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    plan["waiter_fd"] = _open_waiter(plan.get("waiter"))  # on the host's root: init execs it after the pivot
    _join_cgroups(plan["cgroup_procs"])
    # under rlimits, where the runtime's end is written for the server
    limits_report = os.open(plan["limits_report"], os.O_WRONLY) if plan.get("limits_report") else -1
    if plan["userns"]:
        _enter_user_namespace(plan["uid"], plan["gid"])
    flags = CLONE_NEWNS | pid_namespace | CLONE_NEWIPC | CLONE_NEWUTS
    if plan.get("network") == "none":
        flags |= CLONE_NEWNET
    _check(_libc.unshare(flags), "unshare")
    if plan.get("network") == "none":
        _loopback_up()
        if plan.get("api_listener"):
            _send_api_listener(plan["control_fd"], plan["api_listener"])
    return _open_sources(plan["mounts"]), limits_report


def _enter_as_init(plan: dict[str, Any], runtime_main: Any, spare_codec: Any) -> None:
    """A zygote's fork that is pid 1 of its own pid namespace already: the outer process's set-up, then init's.
    Never returns."""
    try:
        fds, limits_report = _enter_namespaces(plan, 0)
        _init(plan, fds, -1, runtime_main, spare_codec, limits_report)
    except BaseException as exc:
        _fail(f"set-up failed: {exc}")
    os._exit(127)


def enter(plan: dict[str, Any], runtime_main: Any = None, spare_codec: Any = None) -> None:
    """Become the outer process of a sandbox built from `plan`; never returns. With `runtime_main` (a zygote's
    forked child), the runtime process calls it instead of exec'ing `plan["argv"]`; a spare (zygote path only)
    reads its assignment with `spare_codec` (protocol/spare.py, loaded by the zygote). A zygote's fork made pid 1
    of a new pid namespace (`plan["report_fd"]` set) becomes that sandbox's init at once, with no outer process."""
    if plan.get("report_fd") is not None:
        _enter_as_init(plan, runtime_main, spare_codec)
    try:
        fds, limits_report = _enter_namespaces(plan, CLONE_NEWPID)
        status_r, status_w = os.pipe()
        open_fds = [int(name) for name in os.listdir("/proc/self/fd")]
        init = os.fork()
    except BaseException as exc:
        _fail(f"set-up failed: {exc}")
    if init == 0:
        try:
            os.close(status_r)
            _init(plan, fds, status_w, runtime_main, spare_codec)
        except BaseException as exc:
            _fail(f"set-up failed: {exc}")
    os.close(status_w)
    # fds listed before the fork: /proc may already be the sandbox's, where this process has no /proc/self
    for fd in open_fds:
        if fd > 2 and fd not in (status_r, plan.get("lifeline_fd"), limits_report, plan["waiter_fd"]):
            try:  # noqa: SIM105  (contextlib's import costs more than the whole set-up)
                os.close(fd)
            except OSError:
                pass
    # the outer process holds nothing of the sandbox's: not the control socket, not its output
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    os.close(devnull)
    lifeline = plan.get("lifeline_fd")
    outer_fds = [status_r, -1 if lifeline is None else lifeline, limits_report]
    _exec_waiter(plan["waiter_fd"], ["outer", init, *outer_fds], outer_fds)
    _wait_init(init, status_r, lifeline)
    _, init_status = os.waitpid(init, 0)
    report = os.read(status_r, 12)
    if len(report) == 12:
        status, max_rss_kb = struct.unpack("=iq", report)
        if limits_report >= 0:
            os.write(limits_report, b"%d %d" % (status, max_rss_kb))
        _mirror(status)
    _mirror(init_status)  # init died without a word


class _PollFd(ctypes.Structure):
    _fields_ = [("fd", ctypes.c_int), ("events", ctypes.c_short), ("revents", ctypes.c_short)]


POLLIN = 0x1
EINTR = 4


def _wait_init(init: int, status_r: int, lifeline: int | None) -> None:
    """Sleep until init reports (the runtime's status, or EOF: init died) or the server's lifeline hangs up; on a
    hang-up, kill init (and with it the pid namespace). Asking for no events on the lifeline means only its hang-up
    wakes us (POLLHUP is always reported): nothing ever wakes this process while the sandbox serves."""
    if lifeline is None:
        return
    fds = (_PollFd * 2)(_PollFd(status_r, POLLIN, 0), _PollFd(lifeline, 0, 0))
    _libc.poll.argtypes = [ctypes.c_void_p, ctypes.c_ulong, ctypes.c_int]
    while True:
        if _libc.poll(fds, 2, -1) < 0:
            if ctypes.get_errno() == EINTR:
                continue
            return  # cannot watch: wait for init as before
        if fds[1].revents:
            os.kill(init, SIGKILL)
            return
        if fds[0].revents:
            return


if __name__ == "__main__":
    main()
