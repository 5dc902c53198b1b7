"""The sandboxing launcher: one cgroup, one set of namespaces, one read-only root per instance.

`SandboxLauncher` builds a plan (mounts, uid, network, the runtime's argv and environment as seen from inside),
makes the instance's cgroup, and spawns `sandbox_init.py`, which enters the sandbox inside the new process and
execs the runtime there. The server process itself never forks and never blocks on set-up: the plan is data, the
cgroup is a few small cgroupfs writes, and everything else happens in the child. A zygote (issue 6) can run
the same `sandbox_init.py` step in its forked children.

What an instance sees:
    /usr /bin /lib* /sbin   the host's, read-only (symlinks kept as symlinks on merged-/usr hosts)
    /etc                    only: generated passwd/group/hosts/hostname, and read-only resolv.conf, ssl certs, ...
    /var/lang               the runtime's interpreter installation, read-only (never the home dir it lives in)
    /var/runtime            the runtime's files (bootstrap.py, bootstrap.mjs or the Runtime API shim), read-only,
                            and its AWS SDK (sdk/ for Python, node_modules/ and a /node_modules link for Node.js)
    /var/task               the function code, read-only
    /opt                    the layers, merged read-only (an empty read-only dir without layers)
    /tmp                    private tmpfs capped at EphemeralStorage MB
    /dev                    null zero full random urandom, fd links
    /proc                   a private procfs: only the sandbox's own processes
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import marshal
import os
import time
import uuid
from pathlib import Path
from typing import Any

from nimbus.instances import detached, seccomp
from nimbus.instances.cgroups import CgroupLayout, InstanceCgroup, prepare, remove_server_base, sweep_stale
from nimbus.instances.environment import BOOTSTRAP_MODULES, RUNTIME_FILES
from nimbus.instances.isolation import Isolation
from nimbus.instances.process import (
    CONTROL_FD,
    LIFELINE_FD,
    LaunchCommand,
    ProcessHandle,
    SandboxSpec,
    SpawnLauncher,
)
from nimbus.instances.rlimits import RlimitRecord, RlimitReports, rlimits_for
from nimbus.protocol import spare as spare_messages
from nimbus.runtimes import sdk

log = logging.getLogger(__name__)

#: set in a SnapStart template's environment (`environment.py`); its restored instances' filter rides in the other
SNAPSHOT_VARIABLE = "_NIMBUS_SNAPSHOT"
RESTORE_SECCOMP_VARIABLE = "_NIMBUS_RESTORE_SECCOMP"
#: Lambda's sandbox user and group (sbx_user1051)
SANDBOX_UID = 993
SANDBOX_GID = 990
HOSTNAME = "sandbox"
#: the built-in SnapStart hooks module, beside every Python bootstrap in /var/runtime
SNAPSHOT_HOOKS = "snapshot_restore_py.py"
INIT = Path(__file__).resolve().with_name("sandbox_init.py")
#: what the outer process and pid 1 exec once the sandbox is set up (`native/sandbox_wait.c`, built by `make install`)
WAITER = Path(__file__).resolve().parent / "native" / "nimbus-sandbox-wait"


def native_waiter() -> Path | None:
    """The built native waiter, or None (then sandboxes keep their Python outer process and pid 1)."""
    return WAITER if os.access(WAITER, os.X_OK) else None

#: host /etc pieces a runtime may need (bound read-only when present); nothing else of /etc is visible
ETC_PIECES = (
    "resolv.conf",
    "nsswitch.conf",
    "host.conf",
    "gai.conf",
    "services",
    "protocols",
    "ld.so.cache",
    "ld.so.conf",
    "ld.so.conf.d",
    "localtime",
    "mime.types",
    "alternatives",
    "ssl/certs",
    "ssl/openssl.cnf",
    "ca-certificates",
    "ca-certificates.conf",
    "pki/tls/certs",
    "pki/ca-trust",
)
SYSTEM_DIRS = ("usr", "bin", "sbin", "lib", "lib64", "lib32", "libx32")
DEVICES = ("null", "zero", "full", "random", "urandom")

PASSWD = (
    "root:x:0:0:root:/root:/sbin/nologin\n"
    f"sbx_user1051:x:{SANDBOX_UID}:{SANDBOX_GID}::/tmp:/sbin/nologin\n"
    "nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n"
)
GROUP = f"root:x:0:\nsbx_user1051:x:{SANDBOX_GID}:\nnobody:x:65534:\n"


def _hosts() -> str:
    try:
        host = Path("/etc/hosts").read_text()
    except OSError:
        host = "127.0.0.1\tlocalhost\n::1\tlocalhost\n"
    return host.rstrip("\n") + f"\n127.0.1.1\t{HOSTNAME}\n"


def mount_plan(spec: SandboxSpec, runtime_files: dict[str, Path]) -> list[dict[str, Any]]:
    """The sandbox's file system, in mount order, as data for `sandbox_init.py`."""
    return system_mounts(spec.runtime_prefix, runtime_files) + function_mounts(spec) + device_mounts()


#: how long `system_mounts` answers from memory: built, it is ~30 stats and a read of /etc/hosts (~130 µs of the
#: server's loop per instance, 13 ms of a burst of 100); a change on the host reaches new sandboxes within this
SYSTEM_MOUNTS_TTL_S = 1.0
_system_mounts: dict[tuple[Path, tuple[tuple[str, Path], ...]], tuple[float, list[dict[str, Any]]]] = {}


def system_mounts(prefix: Path, runtime_files: dict[str, Path]) -> list[dict[str, Any]]:
    """Everything but the function's own part: the host's system dirs, /etc, the runtime, mount points. A new list
    each time; its entries are shared, and nobody changes them (plans are marshalled to the set-up as they are)."""
    key = (prefix, tuple(runtime_files.items()))
    now = time.monotonic()
    known = _system_mounts.get(key)
    if known is None or known[0] <= now:
        known = _system_mounts[key] = (now + SYSTEM_MOUNTS_TTL_S, _build_system_mounts(prefix, runtime_files))
    return list(known[1])


def _build_system_mounts(prefix: Path, runtime_files: dict[str, Path]) -> list[dict[str, Any]]:
    mounts: list[dict[str, Any]] = []
    for name in SYSTEM_DIRS:
        path = Path("/", name)
        if path.is_symlink():
            mounts.append({"kind": "symlink", "dst": f"/{name}", "target": os.readlink(path)})
        elif path.is_dir():
            mounts.append({"kind": "bind", "src": str(path), "dst": f"/{name}"})
    mounts.append({"kind": "dir", "dst": "/etc"})
    for name in ETC_PIECES:
        path = Path("/etc", name)
        if path.exists():
            mounts.append({"kind": "bind", "src": str(path), "dst": f"/etc/{name}"})
    mounts += [
        {"kind": "file", "dst": "/etc/passwd", "data": PASSWD},
        {"kind": "file", "dst": "/etc/group", "data": GROUP},
        {"kind": "file", "dst": "/etc/hosts", "data": _hosts()},
        {"kind": "file", "dst": "/etc/hostname", "data": HOSTNAME + "\n"},
        {"kind": "bind", "src": str(prefix), "dst": "/var/lang"},
        {"kind": "dir", "dst": "/var/runtime"},
    ]
    mounts += [{"kind": "bind", "src": str(src), "dst": f"/var/runtime/{name}"} for name, src in runtime_files.items()]
    mounts += sdk_mounts(runtime_files)
    mounts += [{"kind": "dir", "dst": "/var/task"}, {"kind": "dir", "dst": "/opt"}, {"kind": "dir", "dst": "/tmp"}]
    return mounts


def sdk_mounts(runtime_files: dict[str, Path]) -> list[dict[str, Any]]:
    """The runtime's AWS SDK, read-only, where it has one installed (`runtimes/sdk.py`)."""
    python, node = sdk.python_sdk(), sdk.node_sdk()
    if "bootstrap.py" in runtime_files and python is not None:
        return [{"kind": "bind", "src": str(python), "dst": sdk.SANDBOX_PYTHON_SDK}]
    if "bootstrap.mjs" in runtime_files and node is not None:
        return [
            {"kind": "bind", "src": str(node), "dst": sdk.SANDBOX_NODE_MODULES},
            {"kind": "symlink", "dst": "/node_modules", "target": sdk.SANDBOX_NODE_MODULES},
        ]
    return []


def function_mounts(spec: SandboxSpec) -> list[dict[str, Any]]:
    """The function's part: its code at /var/task, its layers at /opt, its /tmp."""
    mounts: list[dict[str, Any]] = [{"kind": "bind", "src": str(spec.code_dir), "dst": "/var/task"}]
    layers = spec.layer_dirs
    if len(layers) == 1:
        mounts.append({"kind": "bind", "src": str(layers[0]), "dst": "/opt"})
    elif layers:  # overlayfs: the first lower dir is the top one, and later layers win
        mounts.append({"kind": "overlay", "dst": "/opt", "lower": [str(p) for p in reversed(layers)]})
    mounts.append({"kind": "tmpfs", "dst": "/tmp", "size_mb": spec.ephemeral_storage_mb, "mode": 0o1777})
    return mounts


def device_mounts() -> list[dict[str, Any]]:
    mounts: list[dict[str, Any]] = [{"kind": "tmpfs", "dst": "/dev", "size_mb": 1, "mode": 0o755}]
    mounts += [{"kind": "bind", "src": f"/dev/{d}", "dst": f"/dev/{d}", "rw": True, "dev": True} for d in DEVICES]
    mounts += [
        {"kind": "symlink", "dst": "/dev/fd", "target": "/proc/self/fd"},
        {"kind": "symlink", "dst": "/dev/stdin", "target": "/proc/self/fd/0"},
        {"kind": "symlink", "dst": "/dev/stdout", "target": "/proc/self/fd/1"},
        {"kind": "symlink", "dst": "/dev/stderr", "target": "/proc/self/fd/2"},
        {"kind": "proc", "dst": "/proc"},
    ]
    return mounts


def encode_plan(plan: dict[str, Any]) -> str:
    """marshal format 4 (readable by every python3.8+), hex: the init program then needs no json import."""
    return marshal.dumps(plan, 4).hex()


class SandboxLauncher:
    """Spawn every instance inside its own sandbox, as strong as `isolation` allows (namespaces are required)."""

    sandboxed = True

    def __init__(self, isolation: Isolation) -> None:
        if not isolation.namespaces:
            raise RuntimeError("this host allows no namespaces: use SpawnLauncher")
        self.isolation = isolation
        self._spawn = SpawnLauncher(lifeline=True)  # the outer process kills the sandbox when the server dies
        self._cgroups: list[InstanceCgroup] = []
        self._seccomp = seccomp.program_bytes() if isolation.seccomp else b""
        self._template_seccomp = seccomp.program_bytes(template=True) if isolation.seccomp else b""
        #: a spare's: loaded before it waits, closed once it is set up for its function (see seccomp.py)
        self._setup_seccomp = seccomp.program_bytes(setup=True) if isolation.seccomp else b""
        self._closing_seccomp = {t: seccomp.closing_bytes(template=t) for t in (False, True) if isolation.seccomp}
        if isolation.cgroups.mode != "none":
            try:
                prepare(isolation.cgroups)
            except OSError as exc:
                log.warning("cannot use cgroup %s (%s): limits fall back to rlimits", isolation.cgroups.describe(), exc)
                self.isolation = dataclasses.replace(isolation, cgroups=CgroupLayout("none", {}))
            else:
                sweep_stale(isolation.cgroups)
        #: the native waiter the outer process and pid 1 become (None: they stay Python; tests run both)
        self.waiter = native_waiter()
        #: zygotes build a root template for their forks (`root_template`; False: each fork mounts its whole root)
        self.templates = True
        #: spares get their function's dirs as detached mounts (`detached.py`) and drop the host's root when made;
        #: False (no CAP_SYS_ADMIN here: under a user namespace), they keep it at /.host until assigned
        self.detached_mounts = not self.isolation.use_user_namespace and detached.available()
        #: without cgroups: rlimits in each sandbox, and a report file per instance (rlimits.py)
        self._reports = RlimitReports() if self.isolation.limits == "rlimit" else None

    def plan(self, command: LaunchCommand, cgroup: InstanceCgroup | None, spawned: bool = False) -> dict[str, Any]:
        """The sandbox plan of `command`; `spawned`: its runtime starts from its files (not forked by a zygote, which
        has the Python runtime's modules in memory, so only a spawned bootstrap gets them mounted)."""
        spec = command.sandbox
        assert spec is not None, "a sandboxed launch needs a SandboxSpec"
        runtime_files = {Path(a).name: Path(a) for a in command.argv if a.startswith("/var/runtime/")}
        if "bootstrap.py" in runtime_files:  # the built-in SnapStart hooks module
            runtime_files[SNAPSHOT_HOOKS] = Path("/var/runtime", SNAPSHOT_HOOKS)
            if spawned:
                runtime_files.update((name, Path("/var/runtime", name)) for name in BOOTSTRAP_MODULES)
        host_files = _runtime_sources()
        plan = self._base_plan(cgroup) | self.assignment(command)
        plan["mounts"] = mount_plan(spec, {name: host_files[name] for name in runtime_files})
        return plan

    def root_template(self, prefix: Path, runtime_files: tuple[str, ...]) -> dict[str, Any] | None:
        """What a zygote of the runtime at `prefix` builds once as its forks' root template (the system and device
        mounts of `plan` with `runtime_files` in /var/runtime: `sandbox_init.build_template`), or None: templates
        need real root (a zygote under a user namespace could not mount it); `self.templates` can turn them off."""
        if not self.templates or self.isolation.use_user_namespace:
            return None
        host_files = _runtime_sources()
        files = {name: host_files[name] for name in runtime_files}
        parent = "/run" if os.access("/run", os.W_OK) else "/tmp"  # /run: no tmp cleaner removes it meanwhile
        return {"system": system_mounts(prefix, files), "devices": device_mounts(), "parent": parent}

    def spare_plan(self, prefix: Path, runtime_files: tuple[str, ...], cgroup: InstanceCgroup | None) -> dict[str, Any]:
        """A spare: a sandbox of the runtime at `prefix` with everything but a function; `assignment` completes it."""
        host_files = _runtime_sources()
        plan = self._base_plan(cgroup)
        plan["mounts"] = system_mounts(prefix, {name: host_files[name] for name in runtime_files}) + device_mounts()
        plan["spare"] = True
        plan["host_prefix"] = str(prefix)  # its Python paths are remapped to /var/lang before it is taken
        plan["detached_mounts"] = self.detached_mounts
        # its pages copied in the idle scheduling class, and put back in the normal one before it waits: which needs
        # real root (CAP_SYS_NICE in the host's user namespace), so not under a user namespace
        plan["idle_setup"] = not self.isolation.use_user_namespace
        plan.update(seccomp_setup=self._setup_seccomp, premounts=[dict(spare_messages.PREMOUNTED_TMP)])
        return plan

    def spare_assignment(self, command: LaunchCommand) -> tuple[bytes, list[int]]:
        """A spare's assignment, encoded, and the detached mounts it comes with (the caller sends and closes them;
        none where spares keep the host's root). Raises OSError when a source dir cannot be cloned."""
        job = self.assignment(command)
        job["mounts"] = spare_messages.premounted(job["mounts"])
        if self._setup_seccomp:  # what closes the spare's set-up filter: the ordinary one's refusals, or the template's
            job["seccomp_closing"] = self._closing_seccomp["seccomp" in job]
        fds = detached.detach_sources(job) if self.detached_mounts else []
        return spare_messages.encode_assignment(job), fds

    def assignment(self, command: LaunchCommand) -> dict[str, Any]:
        """What makes a spare (or a fresh sandbox) one function's instance: its mounts, network, argv, env."""
        spec = command.sandbox
        assert spec is not None, "a sandboxed launch needs a SandboxSpec"
        job: dict[str, Any] = {
            "mounts": function_mounts(spec),
            "network": spec.network,
            "argv": list(command.argv),
            "env": dict(command.env),
            "cwd": str(command.cwd),
            "rlimits": rlimits_for(spec.memory_mb) if self._reports is not None else [],
            "host_prefix": str(spec.runtime_prefix),
            "api_listener": spec.api_listener,
        }
        if command.env.get(SNAPSHOT_VARIABLE) == "1" and self._seccomp:
            # a SnapStart template: its variant of the filter, and the ordinary one for its restored instances to
            # stack on (the bootstrap takes the variable out before any function code runs)
            job["seccomp"] = self._template_seccomp
            job["env"][RESTORE_SECCOMP_VARIABLE] = self._seccomp.hex()
        return job

    def _base_plan(self, cgroup: InstanceCgroup | None) -> dict[str, Any]:
        return {
            "cgroup_procs": cgroup.procs_files if cgroup else [],
            "limits_report": str(cgroup.path) if isinstance(cgroup, RlimitRecord) else None,
            "userns": self.isolation.use_user_namespace,
            "uid": SANDBOX_UID,
            "gid": SANDBOX_GID,
            "hostname": HOSTNAME,
            "seccomp": self._seccomp,
            "control_fd": CONTROL_FD,
            "lifeline_fd": LIFELINE_FD,
            "waiter": str(self.waiter) if self.waiter else None,
        }

    def new_cgroup(self, memory_mb: int) -> InstanceCgroup | None:
        """A fresh instance cgroup (under rlimits its report record; None unsandboxed), tracked so `close` can wait
        for its removal."""
        if self._reports is not None:
            cgroup: InstanceCgroup = self._reports.new(uuid.uuid4().hex, memory_mb)
        elif self.isolation.cgroups.mode == "none":
            return None
        else:
            cgroup = InstanceCgroup(self.isolation.cgroups, uuid.uuid4().hex, memory_mb)
        self._cgroups = [c for c in self._cgroups if not c.removed]
        self._cgroups.append(cgroup)
        return cgroup

    async def launch(self, command: LaunchCommand) -> ProcessHandle:
        spec = command.sandbox
        assert spec is not None, "a sandboxed launch needs a SandboxSpec"
        cgroup = self.new_cgroup(spec.memory_mb)
        try:
            plan = self.plan(command, cgroup, spawned=True)
            outer = LaunchCommand(
                command.interpreter,
                [str(command.interpreter), "-I", "-S", str(INIT)],
                {"NIMBUS_SANDBOX": encode_plan(plan)},
                Path("/"),
            )
            handle = await self._spawn.launch(outer)
        except BaseException:
            if cgroup is not None:
                cgroup.remove()
            raise
        handle.cgroup = cgroup
        return handle

    def prewarm(self, interpreter: Path, cold_starts: int = 0) -> None:
        """Nothing to warm: every sandbox is spawned."""

    async def adopt(self, handle: ProcessHandle, memory_mb: int) -> None:
        """Move a restored SnapStart instance (forked by its template, inside the template's cgroup) into a cgroup
        of its own with `memory_mb`'s limits. Migration in cgroup v1 waits for an RCU grace period (~10 ms), so
        the write runs off the event loop. A process already gone is left to its waiter to report."""
        cgroup = self.new_cgroup(memory_mb)
        if cgroup is None:
            return
        try:
            await asyncio.to_thread(_join, cgroup.procs_files, handle.pid)
        except OSError:
            cgroup.remove()
        else:
            handle.cgroup = cgroup

    async def close(self) -> None:
        """Wait (briefly) until every instance cgroup is gone, then remove this server's parent groups."""
        for _ in range(200):
            self._cgroups = [c for c in self._cgroups if not c.removed and not c.remove()]
            if not self._cgroups:
                break
            await asyncio.sleep(0.01)
        remove_server_base(self.isolation.cgroups)
        if self._reports is not None:
            self._reports.close()


def _runtime_sources() -> dict[str, Path]:
    return RUNTIME_FILES


def _join(procs_files: list[str], pid: int) -> None:
    """Move `pid`, then its descendants (a restored instance is three processes: `snapstart.py`). Each is moved
    before its children are listed: one forked meanwhile was forked in the new cgroup, or is listed."""
    for path in procs_files:
        with open(path, "w") as f:
            f.write(str(pid))
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return
    for child in children:
        with contextlib.suppress(OSError):  # gone meanwhile
            _join(procs_files, int(child))
