"""The pooled random identifiers: each digit handed out once, across refills and forks."""

from __future__ import annotations

import os
import re
import uuid

from nimbus.protocol.random_ids import POOL_BYTES, HexPool, random_hex, request_id


def test_a_pool_hands_out_distinct_hex_across_refills() -> None:
    pool = HexPool()
    # 40 digits does not divide the pool's 8192: some takes straddle a refill, and start a fresh buffer instead
    taken = [pool.take(40) for _ in range(3 * 2 * POOL_BYTES // 40)]
    assert all(re.fullmatch(r"[0-9a-f]{40}", t) for t in taken)
    assert len(set(taken)) == len(taken)


def test_a_take_as_large_as_the_pool_is_served_whole() -> None:
    pool = HexPool()
    pool.take(10)
    whole = pool.take(2 * POOL_BYTES)
    assert re.fullmatch(f"[0-9a-f]{{{2 * POOL_BYTES}}}", whole)


def test_request_ids_are_version_4_uuids() -> None:
    ids = [request_id() for _ in range(3000)]  # 32 digits each: several refills
    assert len(set(ids)) == len(ids)
    for rid in ids[:50]:
        parsed = uuid.UUID(rid)
        assert (parsed.version, parsed.variant, str(parsed)) == (4, uuid.RFC_4122, rid)


def test_a_forked_child_does_not_repeat_its_parents_digits() -> None:
    random_hex(8)  # the parent's pool holds digits not handed out yet
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its first digits, to the parent
        try:
            os.write(write_end, random_hex(64).encode())
        finally:
            os._exit(0)
    os.close(write_end)
    _, status = os.waitpid(pid, 0)
    with os.fdopen(read_end, "rb") as f:
        child = f.read().decode()
    assert os.waitstatus_to_exitcode(status) == 0
    assert len(child) == 64
    assert child != random_hex(64)  # what the parent hands out next is not what the child got
