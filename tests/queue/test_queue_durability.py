"""`kill -9` durability of a queue backend: what `enqueue` acknowledged is there after the process dies, exactly
once, and what was reserved comes back at its (wall-clock, persisted) visibility deadline after a restart.

A child process drives the store and reports each acknowledged result over a pipe; the test kills it with
SIGKILL and opens the same file itself."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
from collections import Counter
from pathlib import Path

import pytest

from nimbus.clock import FakeClock, RealClock
from nimbus.queue.contract import Depth, QueueStore
from nimbus.queue.sqlite import SqliteQueueStore

ROOT = Path(__file__).resolve().parents[2]
N = 2000
PRODUCERS = 8
KILL_AT = 700
START = 1_700_000_000.0

#: backend -> (the child's code that binds `store` from `path` and `clock`, the test's own opener)
BACKENDS = {
    "sqlite": (
        "from nimbus.queue.sqlite import SqliteQueueStore\nstore = SqliteQueueStore(path, clock)",
        SqliteQueueStore,
    ),
}

ENQUEUER = """
import asyncio, sys
from pathlib import Path
from nimbus.clock import RealClock
from nimbus.queue.contract import NewMessage

async def main():
    path, clock = Path(sys.argv[1]), RealClock()
    {open}
    await store.create_queue("q", {{}}, {{}})
    print("ready", flush=True)

    async def produce(k):
        for i in range(k, {n}, {producers}):
            [mid] = await store.enqueue("q", [NewMessage(f"m{{i}}")])
            sys.stdout.write(f"{{i}} {{mid}}\\n")
            sys.stdout.flush()

    await asyncio.gather(*(produce(k) for k in range({producers})))
    print("done", flush=True)

asyncio.run(main())
"""

RESERVER = """
import asyncio, sys
from pathlib import Path
from nimbus.clock import FakeClock, RealClock
from nimbus.queue.contract import NewMessage

async def main():
    path, clock = Path(sys.argv[1]), FakeClock({start})
    {open}
    await store.create_queue("q", {{}}, {{}})
    await store.enqueue("q", [NewMessage(str(i)) for i in range(10)])
    for m in await store.reserve("q", 4, 30):
        print(m.message_id, m.receipt, flush=True)
    print("reserved", flush=True)
    await asyncio.sleep(3600)

asyncio.run(main())
"""


def _child(code: str, path: Path) -> subprocess.Popen[str]:
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code), str(path)], stdout=subprocess.PIPE, text=True, env=env
    )


async def _drain(store: QueueStore) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    while batch := await store.reserve("q", 500, 300):
        out += [(m.message_id, m.body) for m in batch]
    return out


@pytest.mark.parametrize("backend", sorted(BACKENDS))
def test_every_acknowledged_enqueue_survives_kill_9_exactly_once(backend: str, tmp_path: Path) -> None:
    child_open, opener = BACKENDS[backend]
    path = tmp_path / "queues.db"
    code = ENQUEUER.format(open=textwrap.indent(child_open, "    ").strip(), n=N, producers=PRODUCERS)
    child = _child(code, path)
    assert child.stdout is not None
    assert child.stdout.readline().strip() == "ready"
    acked: dict[str, str] = {}
    try:
        for line in child.stdout:
            i, mid = line.split()
            acked[mid] = f"m{i}"
            if len(acked) == KILL_AT:
                child.send_signal(signal.SIGKILL)
                break
        rest = child.stdout.read()  # what it acknowledged before the signal landed
    finally:
        child.kill()
        child.wait()
    assert child.returncode == -signal.SIGKILL
    assert "done" not in rest, "the child finished before the kill: the test proved nothing"
    for line in rest.splitlines():
        i, mid = line.split()
        acked[mid] = f"m{i}"
    assert KILL_AT <= len(acked) < N

    async def check() -> None:
        store = opener(path, RealClock())
        try:
            found = await _drain(store)
        finally:
            await store.close()
        counts = Counter(mid for mid, _ in found)
        assert all(counts[mid] == 1 for mid in acked), "an acknowledged message is missing or doubled"
        assert max(counts.values()) == 1
        bodies = dict(found)
        assert all(bodies[mid] == body for mid, body in acked.items())
        assert len(found) <= N

    asyncio.run(check())


@pytest.mark.parametrize("backend", sorted(BACKENDS))
def test_reserved_messages_reappear_at_their_deadline_after_kill_9(backend: str, tmp_path: Path) -> None:
    child_open, opener = BACKENDS[backend]
    path = tmp_path / "queues.db"
    child = _child(RESERVER.format(open=textwrap.indent(child_open, "    ").strip(), start=START), path)
    assert child.stdout is not None
    held: dict[str, str] = {}
    try:
        for line in child.stdout:
            if line.strip() == "reserved":
                break
            mid, receipt = line.split()
            held[mid] = receipt
        child.send_signal(signal.SIGKILL)
    finally:
        child.kill()
        child.wait()
    assert len(held) == 4

    async def check() -> None:
        clock = FakeClock(START + 30 - 0.001)  # a new process: only the persisted wall-clock deadline is left
        store = opener(path, clock)
        try:
            assert await store.depth("q") == Depth(visible=6, in_flight=4, delayed=0)
            others = await store.reserve("q", 10, 300)
            assert len(others) == 6
            assert not held.keys() & {m.message_id for m in others}
            clock.advance(0.001)
            back = await store.reserve("q", 10, 300)
            assert {m.message_id: m.receive_count for m in back} == dict.fromkeys(held, 2)
            assert not any([await store.ack("q", receipt) for receipt in held.values()])  # stale now
            assert all([await store.ack("q", m.receipt) for m in back])
        finally:
            await store.close()

    asyncio.run(check())
