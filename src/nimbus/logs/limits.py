"""How much log output a function may leave, and the count of what was dropped (pure: no I/O, time passed in).

A function is untrusted and can print without end. Three limits keep the server safe from that, and a fourth
keeps its memory bounded:
- per invocation: at most `invocation_bytes` of output, each line costing its UTF-8 bytes + EVENT_OVERHEAD (what
  storing a line costs beyond its text, so that a flood of empty lines is bounded on disk too); the rest of that
  invocation's output is dropped. Lambda itself has no per-invoke cap, but CloudWatch throttles
  ingestion; 6 MiB is Lambda's own payload ceiling and far above what a healthy invocation logs.
- per function (per log group): a token bucket of `function_bytes_per_s`, holding at most `burst_bytes` (the
  per-invocation cap, or one second of rate if larger), shared by all its instances: a quiet function may write a
  whole invocation's cap at once, a function that logs without pause gets the sustained rate.
- free space: below `disk_reserve_bytes` free on the data dir's file system, function output is not written; below
  half of it nothing is (see `LogStore`).
- the store's buffer of unwritten lines holds at most `buffer_bytes`; past it function output is dropped, past
  twice it platform lines too.

Dropping, never blocking: the server keeps reading the function's pipe and discards what is over a limit, so a
noisy function runs on at full speed and never hangs on a full pipe. Where output was dropped, a marker line says how
much and why; START/END/REPORT and the other platform lines never count against the per-invocation or per-function
limits. Every dropped line is counted in `Drops`, by reason, and exported as metrics.
"""

from __future__ import annotations

from dataclasses import dataclass, field

MIB = 1 << 20
#: what one line costs against the limits beyond its UTF-8 bytes: its row, stream name and two index entries in the
#: log store (measured: ~260 bytes a row for one-byte lines). CloudWatch counts 26; ours is what the disk pays
EVENT_OVERHEAD = 256
#: what CloudWatch Logs adds to each event's UTF-8 size when it counts its event size limit
CLOUDWATCH_EVENT_OVERHEAD = 26
#: CloudWatch's maximum event size (256 KiB, overhead included): a longer line is split into events of this size
MAX_EVENT_BYTES = 256 * 1024 - CLOUDWATCH_EVENT_OVERHEAD

#: after output was dropped for the function's rate, it resumes only once the bucket holds this much again (or its
#: whole capacity, if smaller): a flood that keeps the bucket near empty gets a few gaps a second, not a marker per line
RESUME_BYTES = 64 * 1024

#: the reasons a line is dropped (the `reason` label of nimbus_log_*_dropped_total)
INVOCATION_LIMIT = "invocation_limit"
FUNCTION_RATE = "function_rate"
DISK_RESERVE = "disk_reserve"
BACKLOG = "backlog"
WRITE_ERROR = "write_error"
REASONS = (INVOCATION_LIMIT, FUNCTION_RATE, DISK_RESERVE, BACKLOG, WRITE_ERROR)


@dataclass(frozen=True)
class LogLimits:
    """The limits in force (0 turns a limit off). Defaults are the server's documented defaults."""

    invocation_bytes: int = 6 * MIB
    function_bytes_per_s: int = 1 * MIB
    disk_reserve_bytes: int = 512 * MIB
    buffer_bytes: int = 32 * MIB

    @property
    def burst_bytes(self) -> int:
        return max(self.invocation_bytes, self.function_bytes_per_s)


def event_cost(nbytes: int) -> int:
    """What one event of `nbytes` UTF-8 bytes counts against a limit."""
    return nbytes + EVENT_OVERHEAD


class TokenBucket:
    """Bytes a log group may still write: refills at `rate` per second up to `capacity`; rate 0 means no limit."""

    def __init__(self, rate: float, capacity: float, now: float) -> None:
        self.rate = rate
        self.capacity = capacity
        self.tokens = capacity
        self.updated = now

    def take(self, cost: int, now: float, keep: float = 0) -> bool:
        """Spend `cost` if the bucket holds it and `keep` more besides (all or nothing)."""
        if self.rate <= 0:
            return True
        if now > self.updated:
            self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
            self.updated = now
        if cost + max(0.0, min(keep, self.capacity - cost)) > self.tokens:
            return False
        self.tokens -= cost
        return True


@dataclass
class Drops:
    """Lines and bytes dropped so far, by reason (counters only grow)."""

    lines: dict[str, int] = field(default_factory=lambda: dict.fromkeys(REASONS, 0))
    bytes: dict[str, int] = field(default_factory=lambda: dict.fromkeys(REASONS, 0))

    def add(self, reason: str, lines: int, nbytes: int) -> None:
        self.lines[reason] += lines
        self.bytes[reason] += nbytes


class LogGate:
    """The limits and drop counters one server shares between its instances' output captures and its store."""

    def __init__(self, limits: LogLimits | None = None) -> None:
        self.limits = limits or LogLimits()
        self.drops = Drops()
        self._buckets: dict[str, TokenBucket] = {}

    def bucket(self, group: str, now: float) -> TokenBucket:
        """The rate budget of a log group (one per function unless functions share a LoggingConfig group)."""
        bucket = self._buckets.get(group)
        if bucket is None:
            limits = self.limits
            bucket = self._buckets[group] = TokenBucket(limits.function_bytes_per_s, limits.burst_bytes, now)
        return bucket


def drop_marker(reason: str, nbytes: int, lines: int, limits: LogLimits) -> str:
    """The line written into a stream where output was dropped."""
    if reason == INVOCATION_LIMIT:
        why = f"this invocation reached its log limit of {limits.invocation_bytes} bytes (--log-invocation-bytes)"
    else:
        why = (
            f"the function exceeded its log rate of {limits.function_bytes_per_s} bytes/s (--log-function-bytes-per-s)"
        )
    return f"[nimbus] {nbytes} bytes of output in {lines} lines dropped: {why}"
