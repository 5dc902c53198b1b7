"""The poller base every event source reuses: workers that take batches from a source and hand them to its
handler, as many as the backlog asks for up to a concurrency cap, each backing off when its source or the function
refuses, and a stop that lets a batch in hand finish.

A source says how to receive a batch (waiting for one: long polling, batching windows), how to handle it (invoke,
then checkpoint or acknowledge), and how large its backlog is. The poller owns the tasks: `start` creates them,
`stop` ends them (workers waiting for a batch are cancelled at once; a worker with a batch in hand finishes it,
within `grace` seconds). Nothing here is durable: what a worker held when the server died is in flight in the
source and comes back after its visibility timeout (at-least-once).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections.abc import Callable, Sequence
from typing import Generic, Protocol, TypeVar

from nimbus.clock import Clock, RealClock
from nimbus.errors import NimbusError

log = logging.getLogger("nimbus.sources")

B = TypeVar("B")

#: backoff after a refused batch or a failed receive: 1 s doubling to 60 s (Lambda backs off throttled pollers
#: the same way), reset by the next batch handled
BACKOFF_FIRST_S = 1.0
BACKOFF_MAX_S = 60.0
#: how often the poller compares its workers with the backlog
SCALE_INTERVAL_S = 1.0


class Backoff(NimbusError):
    """A batch the function or the source refused for now (throttled, function missing): the worker waits."""


class Source(Protocol[B]):
    async def receive(self) -> Sequence[B]:
        """Wait for the next batch (empty when none came within the source's long poll)."""
        ...

    async def handle(self, batch: Sequence[B]) -> None:
        """Deliver one batch and settle it; raise Backoff (or any error) to make the worker wait."""
        ...

    async def backlog(self) -> int:
        """Items waiting (the depth of the queue): how many workers are worth running."""
        ...

    @property
    def batch_size(self) -> int: ...


class Poller(Generic[B]):
    def __init__(
        self, name: str, source: Source[B], concurrency: Callable[[], int], clock: Clock | None = None
    ) -> None:
        self.name = name
        self.source = source
        self.concurrency = concurrency
        self.clock: Clock = clock or RealClock()
        self._workers: set[asyncio.Task[None]] = set()
        self._busy: set[asyncio.Task[None]] = set()
        self._scaler: asyncio.Task[None] | None = None
        self._stopping = False
        #: batches handled and batches refused, for tests and metrics
        self.handled = 0
        self.refused = 0

    @property
    def workers(self) -> int:
        return len(self._workers)

    def start(self) -> None:
        self._scaler = asyncio.create_task(self._scale(), name=f"poller-{self.name}")
        self._scaler.add_done_callback(self._ended)

    def _ended(self, task: asyncio.Task[None]) -> None:
        """The scaler never ends but by `stop`: say so loudly if it does."""
        if not task.cancelled() and task.exception() is not None:
            log.error("poller %s stopped", self.name, exc_info=task.exception())

    async def stop(self, grace: float = 30.0) -> None:
        """End every task: idle workers now, busy ones after their batch (or after `grace` seconds)."""
        self._stopping = True
        if self._scaler is not None:
            self._scaler.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._scaler
        for task in self._workers - self._busy:
            task.cancel()
        if self._workers:
            _, late = await asyncio.wait(self._workers, timeout=grace)
            for task in late:
                task.cancel()
            await asyncio.gather(*self._workers, return_exceptions=True)
        self._workers.clear()

    # ---- scaling ----
    def _wanted(self, backlog: int) -> int:
        cap = max(1, self.concurrency())
        return max(1, min(cap, math.ceil(backlog / max(1, self.source.batch_size))))

    async def _scale(self) -> None:
        """Keep as many workers as the backlog asks for (at least one, at most the cap); workers leave by
        themselves when they find nothing and others remain."""
        while not self._stopping:
            try:
                backlog = await self.source.backlog()
            except Exception as exc:  # the source is gone or failing: one worker finds out and backs off
                log.debug("poller %s: backlog unknown (%s)", self.name, exc)
                backlog = 0
            for _ in range(self._wanted(backlog) - len(self._workers)):
                self._spawn()
            await self.clock.sleep(SCALE_INTERVAL_S)

    def _spawn(self) -> None:
        task = asyncio.create_task(self._work(), name=f"poller-{self.name}-worker")
        self._workers.add(task)
        task.add_done_callback(self._workers.discard)

    # ---- one worker ----
    async def _work(self) -> None:
        me = asyncio.current_task()
        assert me is not None
        delay = 0.0
        while not self._stopping:
            if delay:
                await self.clock.sleep(delay)
            try:
                batch = await self.source.receive()
            except Exception as exc:
                delay = self._refused(delay, exc)
                continue
            if not batch:
                delay = 0.0
                if len(self._workers) > 1:  # scale down: the others can take what comes
                    return
                continue
            self._busy.add(me)
            try:
                await self.source.handle(batch)
            except Exception as exc:
                delay = self._refused(delay, exc)
            else:
                self.handled += 1
                delay = 0.0
            finally:
                self._busy.discard(me)

    def _refused(self, delay: float, exc: Exception) -> float:
        self.refused += 1
        nxt = min(BACKOFF_MAX_S, max(BACKOFF_FIRST_S, delay * 2))
        if isinstance(exc, NimbusError):
            log.info("poller %s: %s; retrying in %.0f s", self.name, exc.message, nxt)
        else:
            log.error("poller %s failed; retrying in %.0f s", self.name, nxt, exc_info=exc)
        return nxt
