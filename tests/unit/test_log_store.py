"""The log store's batch insert: every field kept exactly, in order, whatever the message holds."""

from __future__ import annotations

import asyncio
from pathlib import Path

from nimbus.logs.store import LogStore

MESSAGES = [
    "START RequestId: r1 Version: $LATEST",
    'quotes " and \\ backslashes, tabs\tand JSON {"a": [1, 2]}',
    "unicode: héllo ✓ 日本語 🙂",
    "",
    "x" * 10_000,
    "REPORT RequestId: r1\tDuration: 1.00 ms",
]


def test_a_batch_is_stored_exactly_and_in_order(tmp_path: Path) -> None:
    store = LogStore(tmp_path / "logs.db", retention_days=1)

    async def write() -> None:
        for n, message in enumerate(MESSAGES):
            store.emit("/aws/lambda/fn", f"stream-{n % 2}", 1_700_000_000_000 + n, message)
        store.emit("/aws/lambda/other", "s", 1_700_000_000_100, "elsewhere")
        await store.flush()
        await store.close()

    asyncio.run(write())
    events = store.query("/aws/lambda/fn")
    assert [e.message for e in events] == MESSAGES
    assert [e.stream for e in events] == [f"stream-{n % 2}" for n in range(len(MESSAGES))]
    assert [e.timestamp for e in events] == [1_700_000_000_000 + n for n in range(len(MESSAGES))]
    assert all(e.ingested > 1_700_000_000_000 for e in events)
    assert [e.id for e in events] == sorted(e.id for e in events)
    assert [e.message for e in store.query("/aws/lambda/other")] == ["elsewhere"]
