"""The contract tests run against every queue backend: a new backend is one more entry in BACKENDS.

Each test gets `open_store(clock)`: a function that opens a store of the backend under test on a fixed location
(so a test can close it and open it again, as a restart does), with the injected clock the test controls."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from nimbus.clock import Clock, FakeClock
from nimbus.queue.contract import QueueStore
from nimbus.queue.sqlite import SqliteQueueStore

OpenStore = Callable[[Clock], QueueStore]


def _sqlite(where: Path) -> OpenStore:
    return lambda clock: SqliteQueueStore(where / "queues.db", clock)


#: backend name -> (location -> opener). NATS JetStream joins here.
BACKENDS: dict[str, Callable[[Path], OpenStore]] = {"sqlite": _sqlite}


@pytest.fixture(params=sorted(BACKENDS))
def open_store(request: pytest.FixtureRequest, tmp_path: Path) -> OpenStore:
    return BACKENDS[request.param](tmp_path)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()
