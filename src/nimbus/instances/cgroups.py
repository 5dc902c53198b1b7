"""Per-instance cgroups: memory at MemorySize, a pids cap, CPU weight proportional to memory; peak and OOM reads.

cgroup v2 is used where the server's own group offers the memory and pids controllers and this user may write it:
as root, or in a subtree delegated to the user (a systemd user service, or
`systemd-run --user --scope -p Delegate=yes nimbus serve`). Otherwise the v1 hierarchies (the layout of the
machines Nimbus is measured on: memory/cpu/pids under /sys/fs/cgroup/<controller>, an empty cgroup2 beside).
Groups are made under the server's own cgroup (`<own>/nimbus-<server pid>/<instance>`), so a server running in a
limited cgroup keeps its instances inside its limits, and several servers never touch each other's groups.

cgroup v2 lets a group give controllers to its children only while it holds no process itself (the "no internal
processes" rule), and a delegated scope holds the server. So `prepare` first moves every process of the server's
group into a leaf beside the instance groups (`<own>/nimbus-server`), then enables memory, pids and cpu for the
children. Without any usable cgroup, `rlimits.py` holds the limits instead.

Every operation is a handful of small writes to cgroupfs (well under a millisecond), done inline.
"""

from __future__ import annotations

import contextlib
import os
import signal
from dataclasses import dataclass
from pathlib import Path

ROOT = Path("/sys/fs/cgroup")
V1_CONTROLLERS = ("memory", "pids", "cpu")
#: Lambda: at most 1024 processes and threads per execution environment
PIDS_MAX = 1024
#: Lambda gives one full vCPU at 1769 MB
MB_PER_VCPU = 1769


#: the leaf a delegated v2 group's own processes (the server's) move into, so it may give its children controllers
SERVER_LEAF = "nimbus-server"


@dataclass(frozen=True)
class CgroupLayout:
    """What the host offers: "v2" (one dir with controllers), "v1" (one dir per controller) or "none"."""

    mode: str
    #: controller -> the directory under which this server makes its instance groups
    bases: dict[str, Path]
    #: v2: the controllers the server's group offers its children (cpu only where the parent gives it)
    v2_controllers: tuple[str, ...] = ()
    #: v2: the server's group is a subtree below the root (systemd's Delegate=yes hands out such): it may hold no
    #: process while it gives controllers to its children, so `prepare` moves its processes into a leaf
    delegated: bool = False

    @property
    def controllers(self) -> tuple[str, ...]:
        if self.mode == "v1":
            return tuple(sorted(self.bases))
        return self.v2_controllers if self.mode == "v2" else ()

    @property
    def name(self) -> str:
        """How `nimbus doctor` names the mechanism: "cgroup v1", "cgroup v2", "cgroup v2 delegated" or "none"."""
        if self.mode == "none":
            return "none"
        return f"cgroup {self.mode}" + (" delegated" if self.delegated else "")

    def describe(self) -> str:
        if self.mode == "none":
            return "none"
        return f"{self.mode}{' delegated' if self.delegated else ''} ({', '.join(self.controllers)})"


def _own_path(controller: str, proc_cgroup: str) -> str:
    """This process's path in a v1 hierarchy ("" for v2 when controller is "")."""
    for line in proc_cgroup.splitlines():
        _, names, path = line.split(":", 2)
        if (controller == "" and names == "") or controller in names.split(","):
            return path.lstrip("/")
    return ""


def _writable(path: Path) -> bool:
    return path.is_dir() and os.access(path, os.W_OK)


def _words(path: Path) -> set[str]:
    try:
        return set(path.read_text().split())
    except OSError:
        return set()


def detect_layout(root: Path = ROOT, proc_cgroup: str | None = None) -> CgroupLayout:
    """Find usable controllers (`proc_cgroup`: this process's /proc/self/cgroup); nothing is created or moved until
    `prepare`, so `nimbus doctor` can call this freely."""
    try:
        proc = Path("/proc/self/cgroup").read_text() if proc_cgroup is None else proc_cgroup
    except OSError:
        return CgroupLayout("none", {})
    server = f"nimbus-{os.getpid()}"
    if (root / "cgroup.controllers").exists():  # a pure cgroup2 host: one tree
        return _detect_v2(root, _own_path("", proc), server)
    bases = {}
    for controller in V1_CONTROLLERS:
        own = root / controller / _own_path(controller, proc)
        if _writable(own) and (root / controller / "cgroup.procs").exists():
            bases[controller] = own / server
    if "memory" in bases and "pids" in bases:
        return CgroupLayout("v1", bases)
    return CgroupLayout("none", {})


def _detect_v2(root: Path, own_path: str, server: str) -> CgroupLayout:
    """The server's own group is usable when it offers memory and pids and this user may write its directory, its
    cgroup.procs (to move processes) and its cgroup.subtree_control (to give the controllers to children)."""
    own = root / own_path
    offered = _words(own / "cgroup.controllers")
    if not ({"memory", "pids"} <= offered and _writable(own)):
        return CgroupLayout("none", {})
    if not all(os.access(own / f, os.W_OK) for f in ("cgroup.procs", "cgroup.subtree_control")):
        return CgroupLayout("none", {})
    wanted = tuple(c for c in ("cpu", "memory", "pids") if c in offered)
    # the root group may hold processes and give controllers at once; any other must be emptied first
    return CgroupLayout("v2", {"": own / server}, wanted, delegated=own_path != "")


def prepare(layout: CgroupLayout) -> None:
    """Make this server's base groups, ready for instance groups. In v2, memory and pids are enabled for the
    children of the server's group (after moving its processes into the `SERVER_LEAF` leaf when it is delegated)
    and of the base; cpu where offered, when the kernel agrees. Raises OSError when it cannot."""
    for base in layout.bases.values():
        if layout.mode == "v2":
            _give_controllers(base.parent, layout, empty_first=layout.delegated)
            base.mkdir(exist_ok=True)
            _give_controllers(base, layout, empty_first=False)
        else:
            base.mkdir(exist_ok=True)


def _give_controllers(group: Path, layout: CgroupLayout, empty_first: bool) -> None:
    enabled = _words(group / "cgroup.subtree_control")
    if not {"memory", "pids"} <= enabled:
        if empty_first:
            _empty_into_leaf(group)
        _put(group / "cgroup.subtree_control", "+memory +pids")
    if "cpu" in layout.controllers and "cpu" not in enabled:  # refused with realtime tasks about: no weight then
        _put(group / "cgroup.subtree_control", "+cpu", optional=True)


def _empty_into_leaf(own: Path) -> None:
    """Move every process of `own` into `own/SERVER_LEAF` (a few rounds: a process may fork meanwhile)."""
    leaf = own / SERVER_LEAF
    for _ in range(10):
        pids = _read(own / "cgroup.procs").split()
        if not pids:
            return
        leaf.mkdir(exist_ok=True)
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                _put(leaf / "cgroup.procs", pid)
    raise OSError(f"{own} keeps getting new processes: cannot empty it into {leaf}")


def cpu_weight_v1(memory_mb: int) -> int:
    """cpu.shares: 1024 per vCPU, where a vCPU comes with every 1769 MB (as Lambda allots CPU)."""
    return max(2, memory_mb * 1024 // MB_PER_VCPU)


def cpu_weight_v2(memory_mb: int) -> int:
    return max(1, min(10000, memory_mb * 100 // MB_PER_VCPU))


class InstanceCgroup:
    """One instance's groups: created with limits before launch, joined by the instance, removed after it dies."""

    def __init__(self, layout: CgroupLayout, name: str, memory_mb: int) -> None:
        self.layout = layout
        self.removed = False
        self.dirs = {c: base / name for c, base in layout.bases.items()}
        for d in self.dirs.values():
            d.mkdir()
        self._memory = self.dirs["" if layout.mode == "v2" else "memory"]
        if layout.mode == "v2":
            _put(self._memory / "pids.max", str(PIDS_MAX))
            _put(self._memory / "memory.swap.max", "0", optional=True)
        else:
            _put(self.dirs["pids"] / "pids.max", str(PIDS_MAX))
        self.memory_mb = 0
        self.limit(memory_mb)

    def limit(self, memory_mb: int) -> None:
        """Memory at `memory_mb` (no swap beyond it) and CPU weight in proportion; a no-op when they are already
        (a spare's group is made with the default MemorySize's)."""
        if memory_mb == self.memory_mb:
            return
        limit = str(memory_mb * 1024 * 1024)
        if self.layout.mode == "v2":
            _put(self._memory / "memory.max", limit)
            _put(self._memory / "cpu.weight", str(cpu_weight_v2(memory_mb)), optional=True)
        else:
            # memory+swap may never be below memory alone: raise it first, lower it last
            memsw = self._memory / "memory.memsw.limit_in_bytes"
            raising = 0 < self.memory_mb < memory_mb
            if raising:
                _put(memsw, limit, optional=True)
            _put(self._memory / "memory.limit_in_bytes", limit)
            if not raising:
                _put(memsw, limit, optional=True)
            if "cpu" in self.dirs:
                _put(self.dirs["cpu"] / "cpu.shares", str(cpu_weight_v1(memory_mb)))
        self.memory_mb = memory_mb

    @property
    def procs_files(self) -> list[str]:
        return [str(d / "cgroup.procs") for d in self.dirs.values()]

    def max_memory_mb(self) -> int:
        """Peak memory of the whole sandbox (every process, page cache and tmpfs included), in MB rounded up."""
        name = "memory.peak" if self.layout.mode == "v2" else "memory.max_usage_in_bytes"
        try:
            value = int(_read(self._memory / name))
        except (OSError, ValueError):
            return 0
        return (value + (1 << 20) - 1) >> 20

    def oom_kills(self) -> int:
        """How many processes the kernel's OOM killer took in this group (`memory.failcnt` is no use here)."""
        name = "memory.events" if self.layout.mode == "v2" else "memory.oom_control"
        try:
            for line in _read(self._memory / name).splitlines():
                key, _, value = line.partition(" ")
                if key == "oom_kill":
                    return int(value)
        except (OSError, ValueError):
            pass
        return 0

    def remove(self) -> bool:
        """Kill what is left in the groups and remove them; False while a process is still on its way out."""
        done = True
        for d in self.dirs.values():
            if not d.exists():
                continue
            with contextlib.suppress(OSError, ValueError):
                for pid in _read(d / "cgroup.procs").split():
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(int(pid), signal.SIGKILL)
            if d == self._memory and self.layout.mode == "v1":
                # reclaim what is still charged here (page cache, tmpfs), or the removed group lingers in the
                # kernel as a dying memcg; hundreds of those slow the whole machine down
                with contextlib.suppress(OSError):
                    _put(d / "memory.force_empty", "0")
            try:
                d.rmdir()
            except FileNotFoundError:
                pass
            except OSError:
                done = False
        self.removed = done
        return done


def _read(path: Path) -> str:
    """A cgroup file's text, by plain os calls: `open()` builds three file objects and makes twice the syscalls, and
    the memory peak is read on the warm path (`memory.MemoryPeak`, every 100 ms per busy instance)."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        chunks = []
        while chunk := os.read(fd, 65536):
            chunks.append(chunk)
    finally:
        os.close(fd)
    return b"".join(chunks).decode()


def _put(path: Path, value: str, optional: bool = False) -> None:
    try:
        with open(path, "w") as f:
            f.write(value)
    except OSError:
        if not optional:
            raise


def remove_server_base(layout: CgroupLayout) -> None:
    """At server stop: the per-server parent groups (empty by then)."""
    for base in layout.bases.values():
        with contextlib.suppress(OSError):
            base.rmdir()


def sweep_stale(layout: CgroupLayout) -> int:
    """Remove the groups of servers that died without cleaning up (`nimbus-<pid>` whose pid is gone)."""
    removed = 0
    for base in layout.bases.values():
        for stale in base.parent.glob("nimbus-*"):
            pid = stale.name.removeprefix("nimbus-")
            if not pid.isdigit() or Path(f"/proc/{pid}").exists():
                continue
            for child in [d for d in stale.iterdir() if d.is_dir()]:
                with contextlib.suppress(OSError, ValueError):
                    for p in _read(child / "cgroup.procs").split():
                        with contextlib.suppress(ProcessLookupError):
                            os.kill(int(p), signal.SIGKILL)
                with contextlib.suppress(OSError):
                    child.rmdir()
                    removed += 1
            with contextlib.suppress(OSError):
                stale.rmdir()
    return removed
