"""The duration digest: percentiles within the bucket's half-width of the exact ones, merging by adding."""

from __future__ import annotations

import random

import pytest

from nimbus.console import digest


def exact(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, -(-len(ordered) * q // 100) - 1).__int__()]


@pytest.mark.parametrize("q", [50, 90, 99, 100])
def test_percentiles_are_within_the_bucket_width(q: float) -> None:
    rng = random.Random(7)
    values = [rng.lognormvariate(2, 1.2) for _ in range(20_000)]
    d: digest.Digest = {}
    digest.add(d, values)
    got = digest.percentile(d, q)
    assert got is not None
    assert abs(got / exact(values, q) - 1) <= digest.RATIO - 1


def test_an_empty_digest_has_no_percentile() -> None:
    assert digest.percentile({}, 50) is None


def test_tiny_and_zero_durations_share_the_floor_bucket() -> None:
    d: digest.Digest = {}
    digest.add(d, [0.0, 0.001, digest.FLOOR_MS])
    assert len(d) == 1


def test_merge_adds_counts_and_round_trips_through_json() -> None:
    a: digest.Digest = {}
    b: digest.Digest = {}
    digest.add(a, [1.0, 2.0, 3.0])
    digest.add(b, [3.0, 500.0])
    digest.merge(a, b)
    assert sum(a.values()) == 5
    assert digest.loads(digest.dumps(a)) == a
    p100 = digest.percentile(a, 100)
    assert p100 is not None
    assert abs(p100 / 500 - 1) < digest.RATIO - 1
