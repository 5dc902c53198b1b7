"""The limits of an instance where no cgroup can be had: rlimits set inside its sandbox, and how it died.

A non-root server without a delegated cgroup (a laptop, most CI runners) cannot make memory or pids groups. Its
sandboxes then get, in the runtime process before any function code runs (`sandbox_init.py`):

- RLIMIT_DATA = MemorySize + DATA_MARGIN_MB. It counts private writable memory (heap, anonymous mmap, thread
  stacks), not file mappings or untouched PROT_NONE reservations, so Node.js (whose V8 reserves gigabytes of
  address space up front) starts where RLIMIT_AS would kill it. The margin covers what is reserved writable but
  never touched, which a memory cgroup would not charge: an 8 MB stack per thread, malloc arenas (Node.js 20
  idles at 81 MB of data for 42 MB resident, with 11 threads; Python at 9 MB for 13 MB). An allocation past the
  limit fails (Python's MemoryError, Node.js's heap abort, malloc's NULL) instead of waking the kernel's OOM
  killer; `oom_verdict` turns that end into Runtime.OutOfMemory.
- RLIMIT_NPROC = PIDS_MAX (Lambda's 1024 processes and threads). In the user namespace of a non-root server's
  sandbox the kernel counts it per namespace (Linux 5.14+ ucounts), so it counts this sandbox's tasks alone, and
  the server user's own limit still caps the total on the host. A root server's sandboxes share the host uid 993
  and have no user namespace, so there the count spans every sandbox of the host: a fork bomb in one can make
  forks fail in the others until it ends (its timeout). Root servers normally have cgroups and never get here.

What rlimits cannot do: RLIMIT_DATA bounds each process, not the sandbox as a whole (a function that forks may use
up to PIDS_MAX times it), and /tmp (a tmpfs, capped at EphemeralStorage) and shared memory are not counted; CPU
weight has no rlimit. `nimbus doctor` says so.

How the server learns the end: the sandbox's init reaps the runtime with wait4 and hands its wait status and peak
resident size to the outer process, which writes them to this instance's report file (made here, opened by the
outer process before it enters any namespace) just before it exits.
"""

from __future__ import annotations

import contextlib
import os
import resource
import signal
import tempfile
from pathlib import Path

from nimbus.instances.cgroups import PIDS_MAX, CgroupLayout, InstanceCgroup

#: RLIMIT_DATA is MemorySize plus this (see the module docstring)
DATA_MARGIN_MB = 64
#: how a runtime ends when an allocation fails: the Python bootstrap kills itself (as the OOM killer would),
#: Node.js and C runtimes abort; the others are crashes that a failed allocation commonly becomes
_ALLOCATION_FAILURE_SIGNALS = frozenset({signal.SIGABRT, signal.SIGSEGV, signal.SIGBUS, signal.SIGTRAP, signal.SIGILL})
_NO_LAYOUT = CgroupLayout("none", {})


def rlimits_for(memory_mb: int) -> list[tuple[int, int]]:
    """(resource, limit) pairs for a sandbox's runtime process, soft = hard (nothing inside may raise them)."""
    return [
        (resource.RLIMIT_DATA, (memory_mb + DATA_MARGIN_MB) << 20),
        (resource.RLIMIT_NPROC, PIDS_MAX),
    ]


def oom_verdict(status: int, max_rss_kb: int, memory_mb: int) -> bool:
    """Whether a runtime's end is an out-of-memory end under rlimits.

    Killed (SIGKILL): nothing but the runtime itself does that inside a sandbox, and the Python bootstrap does it
    on a MemoryError under RLIMIT_DATA (the server's own kills land on the outer process, which never reports).
    Any other abnormal end (an abort, a crash, an error exit) counts when the runtime's resident size had reached
    MemorySize: a cgroup would have killed it there.
    """
    if os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL:
        return True
    abnormal = os.WIFSIGNALED(status) and os.WTERMSIG(status) in _ALLOCATION_FAILURE_SIGNALS
    abnormal = abnormal or (os.WIFEXITED(status) and os.WEXITSTATUS(status) != 0)
    return abnormal and max_rss_kb >= memory_mb * 1024


class RlimitReports:
    """This server's directory of report files (private to its user), removed at stop; a dead server's too."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.gettempdir()) / f"nimbus-limits-{os.getpid()}"
        self.dir.mkdir(mode=0o700, exist_ok=True)
        self._sweep_stale()

    def new(self, name: str, memory_mb: int) -> RlimitRecord:
        return RlimitRecord(self.dir / name, memory_mb)

    def close(self) -> None:
        for path in self.dir.glob("*"):
            path.unlink(missing_ok=True)
        with contextlib.suppress(OSError):
            self.dir.rmdir()

    def _sweep_stale(self) -> None:
        for stale in self.dir.parent.glob("nimbus-limits-*"):
            pid = stale.name.removeprefix("nimbus-limits-")
            if not pid.isdigit() or Path(f"/proc/{pid}").exists() or stale.stat().st_uid != os.getuid():
                continue
            for path in stale.glob("*"):
                path.unlink(missing_ok=True)
            with contextlib.suppress(OSError):
                stale.rmdir()


class RlimitRecord(InstanceCgroup):
    """Stands in for an instance's cgroup under rlimits: the same questions (peak memory, killed for memory?)
    answered from the report file its sandbox writes as it ends. No process ever joins it."""

    def __init__(self, path: Path, memory_mb: int) -> None:  # no cgroup: InstanceCgroup.__init__ is not for this
        self.layout = _NO_LAYOUT
        self.removed = False
        self.dirs = {}
        self.path = path
        self.memory_mb = memory_mb
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
        os.close(fd)

    def limit(self, memory_mb: int) -> None:
        """A spare's record takes its function's MemorySize (the rlimits themselves travel in the assignment)."""
        self.memory_mb = memory_mb

    @property
    def procs_files(self) -> list[str]:
        return []

    def _report(self) -> tuple[int, int] | None:
        """(wait status, peak RSS in KB) of the runtime, once its sandbox has ended and said so."""
        try:
            status, max_rss_kb = self.path.read_text().split()
            return int(status), int(max_rss_kb)
        except (OSError, ValueError):
            return None

    def max_memory_mb(self) -> int:
        report = self._report()
        return (report[1] + 1023) // 1024 if report else 0

    def oom_kills(self) -> int:
        report = self._report()
        return int(report is not None and oom_verdict(report[0], report[1], self.memory_mb))

    def remove(self) -> bool:
        self.path.unlink(missing_ok=True)
        self.removed = True
        return True
