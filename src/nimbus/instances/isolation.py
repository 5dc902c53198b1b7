"""What isolation this host allows, detected once at start-up, and the words `nimbus doctor` and the server use.

The strongest available level is chosen: as root, namespaces + a non-root uid + cgroups + seccomp; without root,
the same inside a user namespace when the kernel allows one (cgroup limits only if a writable, delegated cgroup
exists); with neither, instances run unsandboxed and the server says so loudly.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

from nimbus.instances import seccomp
from nimbus.instances.cgroups import CgroupLayout, detect_layout


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

    def layers(self) -> list[tuple[str, bool, str]]:
        """(layer, enforced, how) for every isolation layer, in the order docs/security.md lists them."""
        ns = self.namespaces
        how_ns = "as root" if self.root else "in a user namespace" if ns else "needs root or user namespaces"
        return [
            ("mount namespace: read-only root, /var/task, /var/lang, /opt; private /tmp and /proc", ns, how_ns),
            ("pid, ipc and uts namespaces", ns, how_ns),
            ("network mode 'none' (own empty network namespace)", ns, how_ns),
            (
                "unprivileged uid/gid 993/990, no capabilities, no_new_privs",
                ns,
                "setresuid" if self.root else "uid mapped in a user namespace" if ns else "unsandboxed",
            ),
            ("seccomp filter (mount, ptrace, kexec, modules, bpf, keyctl, ...)", self.seccomp and ns, _sc(self)),
            ("memory limit = MemorySize, OOM detection", self.cgroups.mode != "none", self.cgroups.describe()),
            ("pids limit (fork bombs stay inside)", self.cgroups.mode != "none", self.cgroups.describe()),
            ("cpu weight proportional to memory", "cpu" in self.cgroups.controllers, self.cgroups.describe()),
        ]

    def warnings(self) -> list[str]:
        return [f"NOT ENFORCED: {name} ({how})" for name, on, how in self.layers() if not on]


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


def detect() -> Isolation:
    linux = sys.platform == "linux"
    root = linux and os.geteuid() == 0
    return Isolation(
        linux=linux,
        root=root,
        user_namespaces=linux and user_namespaces_allowed(),
        cgroups=detect_layout() if linux else CgroupLayout("none", {}),
        seccomp=linux and seccomp_available(),
    )
