"""A small digest of durations: counts in log-spaced buckets, so a minute of a million invocations is a few dozen
integers, minutes merge by adding, and a percentile read from it is within RATIO's half-width (±4%) of the true one.

Pure: the time series digests what the invoke path recorded, off that path.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping

#: each bucket's upper bound over its lower bound
RATIO = 1.08
_LOG = math.log(RATIO)
#: durations under this many ms share the lowest bucket
FLOOR_MS = 0.01

Digest = dict[int, int]


def bucket(duration_ms: float) -> int:
    """The bucket of one duration: b such that RATIO^b <= duration < RATIO^(b+1)."""
    return math.floor(math.log(max(duration_ms, FLOOR_MS)) / _LOG)


def add(digest: Digest, durations: Iterable[float]) -> None:
    for d in durations:
        b = bucket(d)
        digest[b] = digest.get(b, 0) + 1


def merge(into: Digest, other: Mapping[int, int]) -> None:
    for b, n in other.items():
        into[b] = into.get(b, 0) + n


def percentile(digest: Mapping[int, int], q: float) -> float | None:
    """The q-th percentile (0 < q <= 100) in ms, as the geometric middle of the bucket holding it; None if empty."""
    total = sum(digest.values())
    if not total:
        return None
    rank = math.ceil(total * q / 100)
    seen = 0
    for b in sorted(digest):
        seen += digest[b]
        if seen >= rank:
            return float(RATIO ** (b + 0.5))
    raise AssertionError("unreachable: the ranks add up to the total")


def dumps(digest: Mapping[int, int]) -> str:
    return json.dumps({str(b): n for b, n in sorted(digest.items())}, separators=(",", ":"))


def loads(text: str) -> Digest:
    return {int(b): int(n) for b, n in json.loads(text).items()}
