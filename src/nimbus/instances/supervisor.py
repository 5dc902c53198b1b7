"""Liveness, reaping and ownership of the instance layer's background work.

Every task the instance layer starts goes through a `Supervisor`: one-shot work (the stop of an instance released
after a retire, a kill after a cancelled invocation, a provisioned fill) and loops (the keep-alive reaper). A task
that fails is logged with its traceback instead of dying silently; a loop that fails is logged as CRITICAL and
started again after a pause, so keep-alive reaping never quietly stops. `close` cancels the loops and waits for
the rest. Time comes from an injected clock, so the reaper's tests jump to deadlines instead of sleeping.

The kill sequence (TERM, a grace period, KILL) and the reaping of processes live here too: the server is a child
subreaper (orphans of a dead zygote come to it), and the sandbox pid-1 processes re-parented to it after their
outer process was killed are collected from /proc. An instance's liveness is watched where its events arrive: its
pidfd (or its parent's report) settles `ProcessHandle.exited`, and EOF on an idle instance's control socket drains
it (`Instance`); both end in the lifecycle's DEAD, which the manager hears.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import os
import signal
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Any

from nimbus.clock import Clock, RealClock
from nimbus.instances.process import ProcessHandle

log = logging.getLogger(__name__)

PR_SET_CHILD_SUBREAPER = 36
#: how long a stopped instance has between TERM and KILL
STOP_GRACE_S = 0.5
#: how long a failed loop waits before it runs again
LOOP_RESTART_DELAY_S = 1.0


class Supervisor:
    """Owns the instance layer's background tasks and loops; see the module docstring."""

    def __init__(self, clock: Clock | None = None) -> None:
        self.clock: Clock = clock or RealClock()
        self._tasks: set[asyncio.Task[None]] = set()
        self._loops: dict[str, asyncio.Task[None]] = {}
        self.closing = False
        #: how many times a loop died with an exception (each was logged as CRITICAL and restarted)
        self.loop_failures = 0

    def background(self, work: Coroutine[Any, Any, None]) -> None:
        """Run `work` as an owned task: `close` waits for it, and an exception in it is logged, not lost."""
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        log_failure(task)

    def every(self, name: str, interval: float, step: Callable[[float], Awaitable[None]]) -> None:
        """Run `step(now)` every `interval` seconds of the clock until `close`. A step that raises is logged as
        CRITICAL and the loop goes on after LOOP_RESTART_DELAY_S: a dead reaper would leak every idle instance."""

        async def loop() -> None:
            while True:
                await self.clock.sleep(interval)
                try:
                    await step(self.clock.monotonic())
                except asyncio.CancelledError:
                    raise
                except Exception:
                    self.loop_failures += 1
                    log.critical("instance loop %s failed; it runs again in %.0f s", name, LOOP_RESTART_DELAY_S,
                                 exc_info=True)
                    await self.clock.sleep(LOOP_RESTART_DELAY_S)

        self._loops[name] = asyncio.create_task(loop(), name=f"nimbus-{name}")

    async def stop_loops(self) -> None:
        """Stop taking new work (`closing`) and cancel the loops; one-shot tasks run on."""
        self.closing = True
        for task in self._loops.values():
            task.cancel()
        for task in self._loops.values():
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._loops.clear()

    async def close(self) -> None:
        """Cancel the loops, then wait for every background task (including those they start while we wait)."""
        await self.stop_loops()
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)


async def terminate(handle: ProcessHandle, grace_s: float = STOP_GRACE_S) -> int:
    """The kill sequence: TERM, wait up to `grace_s`, then KILL; returns the wait status once reaped."""
    if not handle.exited.done():
        handle.send_signal(signal.SIGTERM)
        try:
            async with asyncio.timeout(grace_s):
                return await handle.wait()
        except TimeoutError:
            handle.kill()
    return await handle.wait()


def log_failure(task: asyncio.Task[Any]) -> None:
    """A done callback for a task its owner keeps: an exception in it is logged with its traceback, not lost."""
    if not task.cancelled() and (exc := task.exception()) is not None:
        log.error("instance background task %s failed", task.get_name(), exc_info=exc)


def become_subreaper() -> None:
    """Orphaned instances (their zygote died) are re-parented to this process instead of to init."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)


def reap_strays() -> None:
    """Reap sandbox pid-1 processes re-parented to us (subreaper) after their outer process was killed: only
    zombies whose NSpid shows a nested pid 1, so no status of a child someone else waits for is taken."""
    me = os.getpid()
    try:
        tasks = os.listdir(f"/proc/{me}/task")
    except OSError:
        return
    for task in tasks:
        try:
            children = Path(f"/proc/{me}/task/{task}/children").read_text().split()
        except OSError:
            continue
        for child in children:
            try:
                status = Path(f"/proc/{child}/status").read_text()
            except OSError:
                continue
            fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
            if fields.get("State", "").strip().startswith("Z") and fields.get("NSpid", "").split()[1:] == ["1"]:
                with contextlib.suppress(ChildProcessError):
                    os.waitpid(int(child), os.WNOHANG)
