"""A zygote: one per runtime interpreter, forks sandboxed instances with the runtime already imported.

Started by the server (posix_spawn, never a fork of the server) as
`python3.N -I -S -u -X utf8 zygote_main.py <sandbox_init.py> <bootstrap.py> <frames.py> <zygote.py> <spare.py>`
(the last three are codecs in `protocol/`) with a SOCK_SEQPACKET socket at fd 3 and the server's lifeline
(`process.py`) at fd 4. It imports the sandbox set-up code, the Python runtime and the codecs, `gc.freeze()`s, says
READY, then serves requests, one message each: a sandbox plan (as `sandbox.py` builds it) with two fds attached
(SCM_RIGHTS: the instance's end of its control socket, the write end of its output pipe). Replies, in request
order: FORKED + pid (host pid of the forked outer process) or REFUSED + message. It is the parent of every
instance it forks, so it also reaps them and reports EXITED + (pid, wait status), always after that pid's FORKED.
The messages are `protocol/zygote.py`'s; a spare's assignment (read by `sandbox_init.py`) is `protocol/spare.py`'s.

Each forked child does what `sandbox_init.py` does for a spawned one (cgroups, namespaces, pid 1, root, uid,
seccomp), but its runtime process then runs the bootstrap in-process: no exec, no interpreter start, no imports.
With NIMBUS_ROOT_TEMPLATE in its environment (a root server's: `SandboxLauncher.root_template`), it first builds
that read-only tree in a mount namespace of its own, and its forks bind it as their root (`sandbox_init`'s
`build_template` / `use_template`; docs/scaling.md). It remaps its module paths to /var/lang before its first fork
(it imports nothing after that), so no fork's runtime does it again.
Each keeps the lifeline at fd 4: its outer process kills the sandbox when the server dies, even though the zygote
(which exits on its socket's EOF) is not the server.

Running as real root, it forks each instance straight into a pid namespace of its own (`unshare(CLONE_NEWPID)`
before the fork, its own namespace for children set back after it), so the fork is the sandbox's pid 1 and no
outer process is made (`sandbox_init._enter_as_init`): that pid 1 reports the runtime's end on the report pipe
(fd 5 in the fork: host pid, wait status, peak RSS), and the zygote sends that status in the fork's EXITED instead
of the fork's own exit. Under a user namespace (an unprivileged server) forks keep their outer process.

stdlib only, python3.8+: this file cannot import `nimbus`.
"""

import array
import contextlib
import gc
import importlib.util
import marshal
import os
import random
import select
import signal
import socket
import struct
import sys
import traceback

CONTROL_FD = 3
LIFELINE_FD = 4
REPORT_FD = 5  # in a fork made pid 1 of its own pid namespace: where it reports the runtime's end
_REPORT = "=iiq"  # host pid, wait status, peak RSS (kB): sandbox_init._report_end's
TEMPLATE_VARIABLE = "NIMBUS_ROOT_TEMPLATE"  # zygote_client.py's
_FD_SIZE = array.array("i").itemsize


def _load(name, path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def _remap_paths(prefix):
    """The interpreter's installation is /var/lang inside the sandbox: point sys.path (and friends) there.

    The packages the zygote imported before the fork (importlib, encodings, email, ...) keep the host's path in
    their `__path__`, which the sandbox does not show when the interpreter lives under a home dir (pyenv's
    /root/.pyenv/...): their submodules (`importlib.metadata`, which boto3 imports) must be found under /var/lang.
    """
    if not prefix or prefix == "/var/lang" or sys.prefix == "/var/lang":  # (a spare's were remapped already)
        return

    def moved(path):
        return "/var/lang" + path[len(prefix) :] if isinstance(path, str) and path.startswith(prefix + "/") else path

    sys.path[:] = [moved(p) for p in sys.path]
    for module in list(sys.modules.values()):
        search = getattr(module, "__path__", None)
        if isinstance(search, list):
            search[:] = [moved(p) for p in search]
        spec = getattr(module, "__spec__", None)
        locations = getattr(spec, "submodule_search_locations", None)
        if isinstance(locations, list) and locations is not search:
            locations[:] = [moved(p) for p in locations]
    sys.path_importer_cache.clear()
    sys.executable = "/var/lang/bin/python{}.{}".format(*sys.version_info[:2])
    sys.prefix = sys.exec_prefix = sys.base_prefix = sys.base_exec_prefix = "/var/lang"


def _runtime_main(plan):
    """The runtime process (pid 2 of the sandbox, credentials already dropped): become the Python runtime."""
    try:
        os.environ.clear()
        os.environ.update(plan["env"])
        _remap_paths(plan.get("host_prefix", ""))  # done already where the zygote remapped before forking
        random.seed()  # never the zygote's (or a sibling's) random sequence
        argv = plan["argv"]
        BOOTSTRAP.run(CODEC, CONTROL_FD, argv[-1])
    except SystemExit as e:
        sys.stdout.flush()
        code = e.code
        os._exit(code if isinstance(code, int) else (0 if code is None else 1))
    except BaseException:
        traceback.print_exc()
        sys.stderr.flush()
        os._exit(1)
    os._exit(0)


def _child(plan, control, output, report):
    """In the forked outer process (or pid 1, with `report`, the report pipe's write end): fds into place, zygote
    state dropped, then into the sandbox."""
    signal.set_wakeup_fd(-1)
    for sig in (signal.SIGCHLD, signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    os.setpgid(0, 0)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.dup2(output, 1)
    os.dup2(output, 2)
    os.dup2(control, CONTROL_FD)
    if report is not None:
        os.dup2(report, REPORT_FD)
        plan["report_fd"] = REPORT_FD
        plan["host_pid"] = int(os.readlink("/proc/self"))  # the host's /proc still: our pid there, not 1
    SANDBOX.use_template(plan, TEMPLATE)
    for fd in os.listdir("/proc/self/fd"):
        fd = int(fd)
        if fd > CONTROL_FD and fd != LIFELINE_FD and (report is None or fd != REPORT_FD):
            try:  # noqa: SIM105
                os.close(fd)
            except OSError:
                pass
    if plan.get("spare"):  # its interpreter is known already: remapped now, not on the cold start that takes it
        _remap_paths(plan.get("host_prefix", ""))
    SANDBOX.enter(plan, _runtime_main, SPARE)


def _receive(sock):
    data, ancdata, _, _ = sock.recvmsg(1 << 20, socket.CMSG_SPACE(2 * _FD_SIZE))
    fds = []
    for level, kind, payload in ancdata:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds += array.array("i", payload[: len(payload) - len(payload) % _FD_SIZE]).tolist()
    return data, fds


class _PidNamespaces:
    """Each fork made pid 1 of a pid namespace of its own, where the zygote may (real root): `unshare(CLONE_NEWPID)`
    before the fork, and the zygote's own namespace for children set back after it (`setns`; a second unshare
    would fail while the first's namespace is still the one for children)."""

    def __init__(self):
        try:
            self.own = os.open("/proc/self/ns/pid", os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            self.own = None

    def fork(self, plan):
        """`os.fork()` for `plan`, and whether the child is pid 1 of a new pid namespace."""
        direct = self._enter_new(plan)
        pid = -1
        try:
            pid = os.fork()
        finally:
            if direct and pid != 0:  # the zygote (the fork made, or failed); never the child, whose namespace it is
                SANDBOX.set_pid_namespace_for_children(self.own)
        return pid, direct

    def _enter_new(self, plan):
        """True when the next fork will be pid 1 of a new pid namespace."""
        if self.own is None or plan.get("userns"):
            return False
        try:
            SANDBOX.unshare_pid_namespace()
        except OSError:  # not privileged enough: forks keep their outer process
            os.close(self.own)
            self.own = None
            return False
        return True


def _read_reports(report_r, buffered, ended):
    """What the forks' pid 1s reported (host pid -> the runtime's wait status), read whole records only."""
    size = struct.calcsize(_REPORT)
    while True:
        try:
            chunk = os.read(report_r, 4096)
        except BlockingIOError:
            break
        if not chunk:
            break
        buffered += chunk
    whole = len(buffered) - len(buffered) % size
    for pid, status, _ in struct.iter_unpack(_REPORT, bytes(buffered[:whole])):
        ended[pid] = status
    del buffered[:whole]


def serve(sock):
    namespaces = _PidNamespaces()
    report_r, report_w = os.pipe()
    os.set_blocking(report_r, False)
    buffered, ended = bytearray(), {}
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_r, False)
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    SANDBOX.warm()  # the set-up's first-use costs (dlsym, lazy binding, file reads) paid once, not in every fork
    gc.freeze()  # everything imported so far stays shared with the children (no refcount-free CoW from the gc)
    sock.send(MESSAGES.encode_ready())
    while True:
        ready, _, _ = select.select([sock, wake_r], [], [])
        if sock in ready:
            data, fds = _receive(sock)
            if not data:
                if TEMPLATE is not None:
                    with contextlib.suppress(OSError):  # its forks keep their own copies of the tree
                        SANDBOX.drop_template(TEMPLATE[0])
                os._exit(0)
            try:
                if len(fds) != MESSAGES.FDS_PER_REQUEST:
                    raise ValueError(f"expected {MESSAGES.FDS_PER_REQUEST} fds, got {len(fds)}")
                plan = MESSAGES.decode_request(data)
                # once, before the first fork: it imports nothing more, and each fork's runtime would otherwise
                # remap them again (~0.4-0.7 ms of its cold start, most of it copy-on-write of the modules' pages)
                _remap_paths(plan.get("host_prefix", ""))
                pid, direct = namespaces.fork(plan)
                if pid == 0:
                    try:
                        sock.close()
                        _child(plan, fds[0], fds[1], report_w if direct else None)
                    finally:
                        os._exit(127)
                sock.send(MESSAGES.encode_forked(pid))
            except Exception as exc:
                sock.send(MESSAGES.encode_refused(str(exc)))
            finally:
                for fd in fds:
                    os.close(fd)
        if wake_r in ready:
            with contextlib.suppress(BlockingIOError):
                os.read(wake_r, 512)
        _read_reports(report_r, buffered, ended)  # before reaping: a pid 1 reports, then exits
        while True:  # reap after replying: an EXITED never precedes its pid's FORKED
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
            sock.send(MESSAGES.encode_exited(pid, ended.pop(pid, status)))


if __name__ == "__main__":
    SANDBOX = _load("_nimbus_sandbox_init", sys.argv[1])
    CODEC = _load("_nimbus_frames", sys.argv[3])
    MESSAGES = _load("_nimbus_zygote_messages", sys.argv[4])
    SPARE = _load("_nimbus_spare_messages", sys.argv[5])
    BOOTSTRAP = _load("_nimbus_bootstrap", sys.argv[2])
    TEMPLATE = None  # (path, system mounts, device mounts) of the root template its forks bind, if built
    if TEMPLATE_VARIABLE in os.environ:
        wanted = marshal.loads(bytes.fromhex(os.environ.pop(TEMPLATE_VARIABLE)))
        try:
            path = SANDBOX.build_template(wanted["system"], wanted["devices"], wanted["parent"])
            TEMPLATE = (path, wanted["system"], wanted["devices"])
        except OSError as exc:  # each fork mounts its whole root, as without a template
            sys.stderr.write(f"nimbus zygote: no root template ({exc})\n")
    # what the runtime imports lazily on its first invoke, done once here instead
    import decimal  # noqa: F401
    import json  # noqa: F401
    import logging  # noqa: F401

    serve(socket.socket(fileno=CONTROL_FD))
