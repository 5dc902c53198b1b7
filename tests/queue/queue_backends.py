"""The queue backends the contract tests run against: a new backend is one more entry in BACKENDS.

A test gets `open_store(clock)`: a function that opens a store of the backend under test on a fixed location
(so a test can close it and open it again, as a restart does), with the injected clock the test controls.
(Not a conftest.py: this directory is not a package, since `tests/queue` as a package would shadow the standard
library's `queue`, and a second top-level `conftest` module would shadow `tests/conftest.py`.)"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from nimbus.clock import Clock
from nimbus.queue.contract import QueueStore
from nimbus.queue.sqlite import SqliteQueueStore

OpenStore = Callable[[Clock], QueueStore]


def _sqlite(where: Path) -> OpenStore:
    return lambda clock: SqliteQueueStore(where / "queues.db", clock)


#: backend name -> (location -> opener). NATS JetStream joins here.
BACKENDS: dict[str, Callable[[Path], OpenStore]] = {"sqlite": _sqlite}


def open_store_fixture(request: pytest.FixtureRequest, tmp_path: Path) -> OpenStore:
    """Made a fixture, parametrized over BACKENDS, by each test module: `open_store = backend_fixture()`."""
    return BACKENDS[request.param](tmp_path)


def backend_fixture() -> Callable[[pytest.FixtureRequest, Path], OpenStore]:
    return pytest.fixture(params=sorted(BACKENDS), name="open_store")(open_store_fixture)
