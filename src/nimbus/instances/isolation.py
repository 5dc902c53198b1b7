"""What isolation this host allows, detected once at start-up, and the words `nimbus doctor` and the server use.

The strongest available level is chosen: as root, namespaces + a non-root uid + cgroups + seccomp; without root,
the same inside a user namespace when the kernel allows one (cgroup limits only if a writable, delegated cgroup
exists, else rlimits inside each sandbox); with neither, instances run unsandboxed and the server says so loudly.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

from nimbus.instances import seccomp
from nimbus.instances.cgroups import PIDS_MAX, CgroupLayout, detect_layout
from nimbus.instances.rlimits import DATA_MARGIN_MB

#: the values of the `limits_mechanism` setting: cgroups where the host gives them, else rlimits (auto); cgroups
#: or refuse to start (cgroup); rlimits even where cgroups exist (rlimit: how CI proves that path as root)
LIMITS_MECHANISMS = ("auto", "cgroup", "rlimit")


@dataclass(frozen=True)
class Isolation:
    linux: bool
    root: bool
    user_namespaces: bool
    cgroups: CgroupLayout
    seccomp: bool

    @property
    def namespaces(self) -> bool:
        """Mount/pid/ipc/uts/net namespaces: as root directly, otherwise through a user namespace."""
        return self.linux and (self.root or self.user_namespaces)

    @property
    def use_user_namespace(self) -> bool:
        return self.namespaces and not self.root

    @property
    def full(self) -> bool:
        return self.namespaces and self.seccomp and self.cgroups.mode != "none"

    @property
    def limits(self) -> str:
        """What holds the memory and pids limits: "cgroup v1", "cgroup v2", "cgroup v2 delegated" (the sandbox
        joins its groups), "rlimit" (set inside each sandbox, see rlimits.py) or "none" (instances unsandboxed)."""
        if not self.namespaces:
            return "none"
        return self.cgroups.name if self.cgroups.mode != "none" else "rlimit"

    def layers(self) -> list[tuple[str, str, str]]:
        """(layer, status, how) for every isolation layer, in the order docs/security.md lists them. The status is
        "enforced", "NOT ENFORCED", or for the limits the mechanism that holds them (`limits`)."""
        ns = self.namespaces
        on = "enforced" if ns else NOT_ENFORCED
        how_ns = "as root" if self.root else "in a user namespace" if ns else "needs root or user namespaces"
        return [
            ("mount namespace: read-only root, /var/task, /var/lang, /opt; private /tmp and /proc", on, how_ns),
            ("pid, ipc and uts namespaces", on, how_ns),
            ("network mode 'none' (own empty network namespace)", on, how_ns),
            (
                "unprivileged uid/gid 993/990, no capabilities, no_new_privs",
                on,
                "setresuid" if self.root else "uid mapped in a user namespace" if ns else "unsandboxed",
            ),
            (
                "seccomp filter (mount, ptrace, kexec, modules, bpf, keyctl, ...)",
                "enforced" if self.seccomp and ns else NOT_ENFORCED,
                _sc(self),
            ),
            *self._limit_layers(),
        ]

    def _limit_layers(self) -> list[tuple[str, str, str]]:
        memory = "memory limit = MemorySize, OOM detection"
        pids = f"pids limit = {PIDS_MAX} processes and threads (fork bombs stay inside)"
        cpu = "cpu weight proportional to memory"
        mechanism = self.limits
        if mechanism == "none":
            return [(name, NOT_ENFORCED, "instances run unsandboxed") for name in (memory, pids, cpu)]
        if mechanism == "rlimit":
            shared = (
                "counted per sandbox, in its user namespace"
                if self.use_user_namespace
                else ("counted for uid 993 across every sandbox of the host (no user namespace as root)")
            )
            return [
                (
                    memory,
                    "rlimit",
                    f"RLIMIT_DATA = MemorySize + {DATA_MARGIN_MB} MB per process, not the sandbox's "
                    "total, /tmp and shared memory not counted; a failed allocation ends as Runtime.OutOfMemory",
                ),
                (pids, "rlimit", f"RLIMIT_NPROC = {PIDS_MAX}, {shared}"),
                (cpu, NOT_ENFORCED, "needs a cpu cgroup controller; no rlimit gives a weight"),
            ]
        v2 = self.cgroups.mode == "v2"
        has_cpu = "cpu" in self.cgroups.controllers
        return [
            (memory, mechanism, "memory.max, memory.swap.max = 0" if v2 else "memory.limit_in_bytes, no swap"),
            (pids, mechanism, "pids.max"),
            (
                cpu,
                mechanism if has_cpu else NOT_ENFORCED,
                ("cpu.weight" if v2 else "cpu.shares") if has_cpu else "the cgroup has no cpu controller",
            ),
        ]

    def warnings(self) -> list[str]:
        layers = self.layers()
        found = [f"NOT ENFORCED: {name} ({how})" for name, status, how in layers if status == NOT_ENFORCED]
        found += [
            f"no memory and pids cgroup: {name} held by an rlimit in each sandbox ({how})"
            for name, status, how in layers
            if status == "rlimit"
        ]
        return found


NOT_ENFORCED = "NOT ENFORCED"


def _sc(iso: Isolation) -> str:
    if not iso.seccomp:
        return "kernel without seccomp filters, or an unsupported architecture"
    return "raw BPF via prctl" if iso.namespaces else "needs the sandbox"


def _read(path: str) -> str | None:
    try:
        return Path(path).read_text().strip()
    except OSError:
        return None


def user_namespaces_allowed() -> bool:
    """Whether an unprivileged process may create a user namespace here (sysctls of Debian, Ubuntu, upstream)."""
    if _read("/proc/sys/kernel/unprivileged_userns_clone") == "0":
        return False
    if _read("/proc/sys/user/max_user_namespaces") in ("0", None):
        return False
    return _read("/proc/sys/kernel/apparmor_restrict_unprivileged_userns") != "1"


def seccomp_available() -> bool:
    status = _read("/proc/self/status") or ""
    return "Seccomp:" in status and seccomp.supported_arch()


def detect(limits_mechanism: str = "auto") -> Isolation:
    """This host's isolation; `limits_mechanism` "rlimit" leaves cgroups aside, "cgroup" refuses a host without."""
    if limits_mechanism not in LIMITS_MECHANISMS:
        raise ValueError(f"limits mechanism must be one of {', '.join(LIMITS_MECHANISMS)}, not {limits_mechanism!r}")
    linux = sys.platform == "linux"
    root = linux and os.geteuid() == 0
    use_cgroups = linux and limits_mechanism != "rlimit"
    isolation = Isolation(
        linux=linux,
        root=root,
        user_namespaces=linux and user_namespaces_allowed(),
        cgroups=detect_layout() if use_cgroups else CgroupLayout("none", {}),
        seccomp=linux and seccomp_available(),
    )
    if limits_mechanism == "cgroup" and not isolation.limits.startswith("cgroup"):
        raise ValueError(
            "--limits-mechanism cgroup: this host gives no writable memory and pids cgroup (run as root, or in a "
            "delegated one: systemd-run --user --scope -p Delegate=yes nimbus serve); see `nimbus doctor`"
        )
    return isolation
