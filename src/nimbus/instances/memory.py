"""Max Memory Used, as a REPORT line shows it: the larger of the runtime's own peak and its sandbox's.

The runtime's peak rides free on every result frame (`max_rss_kb`). The sandbox cgroup's peak counts every
process, page cache and /tmp, but its file costs ~20 µs to read, so on the hot path it is re-read at most every
CGROUP_PEAK_TTL_S; both peaks only grow, so a slightly stale one is still a lower bound.
"""

from __future__ import annotations

import time

from nimbus.instances.process import ProcessHandle

#: how stale the sandbox cgroup's memory peak may be in a REPORT line (the runtime's own peak is always fresh)
CGROUP_PEAK_TTL_S = 0.1


class MemoryPeak:
    """One instance's Max Memory Used, with its cgroup's peak cached."""

    __slots__ = ("_handle", "_peak", "_read_at")

    def __init__(self, handle: ProcessHandle) -> None:
        self._handle = handle
        self._peak = 0
        self._read_at = -CGROUP_PEAK_TTL_S

    def max_memory_mb(self, rss_kb: object) -> int:
        """MB for a REPORT line, given the result frame's `max_rss_kb` (anything else when it has none)."""
        runtime = (rss_kb + 1023) // 1024 if isinstance(rss_kb, int) else 0
        cgroup = self._handle.cgroup
        if cgroup is None:
            return runtime or self._handle.max_memory_mb()
        now = time.monotonic()
        if now - self._read_at >= CGROUP_PEAK_TTL_S:
            self._peak = cgroup.max_memory_mb()
            self._read_at = now
        return max(runtime, self._peak)
