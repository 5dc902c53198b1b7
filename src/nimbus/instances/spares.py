"""Spare sandboxes: set up ahead of demand for no function, taken by cold starts and assigned one.

Most of a fork's cost is not the fork: joining a cgroup v1 hierarchy waits for an RCU grace period (~13 ms here),
building the root takes ~5 ms, forking pid 1 and the runtime process ~3 ms. So each zygote keeps `target` children
that have done all of it for no function yet: in their own cgroup (a 128 MB function's limits), namespaces, root
built with the host's root kept at /.host, the runtime process privileged and blocked on its control socket, after
saying READY (`protocol/spare.py`). A cold start takes one, sets the cgroup's limits (when its MemorySize differs)
and sends the assignment (the function's mounts, network, argv, env); the spare binds the code, drops the host's
root, seals the root read-only, drops its privileges and runs the bootstrap. A spare serves one function for its
whole life (it is never returned to the pool), and no function code runs in it before the host's root is gone.
Taking one starts a replacement in the background; with none ready, the instance is forked as before.

The pool follows demand (measured: twelve cold starts in a row ran out of two spares by the third, and the rest
waited ~35 ms each for a fork's set-up): every take raises the interpreter's level by one, up to `SPARE_MAX`,
a take that found none ready by two, and the missing spares are made several at once (most of a spare's set-up
is waiting, for the kernel's RCU grace period in the cgroup join, not CPU), so the refill keeps pace with the
drain. While enough are left, the refill waits for a pause in the cold starts: spares made during a row of them
take the CPUs those cold starts need. After `SPARE_IDLE_S` with no take, the level falls back to the setting and
the extra spares are discarded.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import os
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nimbus.instances.cgroups import InstanceCgroup
from nimbus.instances.environment import runtime_prefix
from nimbus.instances.process import LaunchCommand, ProcessHandle
from nimbus.instances.sandbox import SandboxLauncher
from nimbus.instances.supervisor import log_failure
from nimbus.instances.zygote_client import Zygote, ZygoteUnavailable
from nimbus.protocol import spare as messages

log = logging.getLogger(__name__)

#: spare sandboxes kept ready per zygote (setting `spare_instances`)
DEFAULT_SPARES = 2
#: the runtime files a Python spare has at /var/runtime
SPARE_RUNTIME_FILES = ("bootstrap.py", "nimbus_frames.py", "snapshot_restore_py.py")
#: how long after a spare is taken its replacement starts, when the pool runs low
SPARE_REFILL_DELAY_S = 0.01
#: with at least this many spares still ready after a take, the replacements wait for a pause in the cold starts
#: (a spare takes ~10-40 ms to make, a row's cold starts come every few ms, and one that finds none forks: ~35 ms)
SPARE_RESERVE = 6
#: the pause: this long without a take (back-to-back cold starts come a few ms apart)
SPARE_QUIET_S = 0.05
#: a take for a cold start launched while this many others still initialise is a burst's (a row's each wait for the
#: last: none; the time between takes tells nothing, ~1 ms in a row from spares, 0-9 ms in a burst over HTTP)
SPARE_BURST_STARTING = 2
#: during a burst no spare is made until its forks have set up: this long after its last take (a burst of 100 sets
#: up in ~0.5 s on 2 quiet vCPUs, longer on a busy machine; spares made meanwhile took ~14% of its CPU, serving none)
SPARE_BURST_QUIET_S = 1.0
#: the memory limit a spare's cgroup starts with (Lambda's default MemorySize): most assignments change nothing
SPARE_MEMORY_MB = 128
#: a spare that has not said READY by then is discarded
SPARE_READY_TIMEOUT_S = 10.0
#: a spare that failed to start this many times in a row stops the refilling (until the next take)
SPARE_FAILURES_MAX = 3
#: the most spares an interpreter's pool grows to while cold starts keep coming (each ~3 MB and a cgroup)
SPARE_MAX = 16
#: spares made at once per interpreter
SPARE_PARALLEL = 4
#: seconds without a take after which a grown pool shrinks back to the setting
SPARE_IDLE_S = 30.0

#: how a spare's plan is forked: (zygote, plan, cgroup) -> handle (the launcher's `fork_plan`)
ForkPlan = Callable[[Zygote, dict[str, Any], InstanceCgroup | None], Awaitable[ProcessHandle]]


@dataclass
class Spare:
    """A ready sandbox with no function yet: its handle (control socket, output pipe, pidfd, cgroup)."""

    handle: ProcessHandle

    def alive(self) -> bool:
        return not self.handle.exited.done()

    def output(self) -> str:
        """What it wrote (a failed set-up says why), for the log."""
        try:
            return os.read(self.handle.output_fd, 4096).decode(errors="replace").strip()
        except OSError:
            return ""

    async def discard(self) -> None:
        """EOF on its control socket ends a waiting spare (exit 0); a stuck one is killed."""
        with contextlib.suppress(OSError):
            self.handle.control.shutdown(socket.SHUT_RDWR)
        try:
            async with asyncio.timeout(2.0):
                await self.handle.wait()
        except TimeoutError:
            self.handle.kill()
            await self.handle.wait()
        self.handle.close()


@dataclass
class _Interpreter:
    """One interpreter's spares: those ready, how many are being made, and the level demand has raised."""

    level: int
    ready: collections.deque[Spare] = field(default_factory=collections.deque)
    making: int = 0
    failures: int = 0
    shrink: asyncio.TimerHandle | None = None
    #: the refill scheduled after the last take
    refill: asyncio.TimerHandle | None = None
    #: until when a burst holds the refill back (loop time)
    burst_until: float = float("-inf")


class SparePool:
    """The spares of every zygote, per interpreter (a spare's /var/lang and /var/runtime are its interpreter's)."""

    def __init__(
        self,
        sandbox: SandboxLauncher,
        zygotes: Callable[[Path], Zygote | None],
        fork_plan: ForkPlan,
        target: int = DEFAULT_SPARES,
    ) -> None:
        self._sandbox = sandbox
        self._zygote = zygotes
        self._fork_plan = fork_plan
        #: the setting: the level each interpreter starts at and shrinks back to (0: no spares at all)
        self.target = target
        self._pools: dict[Path, _Interpreter] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._closing = False
        self.used = 0
        self.missed = 0

    def _pool(self, interpreter: Path) -> _Interpreter:
        pool = self._pools.get(interpreter)
        if pool is None:
            pool = self._pools[interpreter] = _Interpreter(self.target)
        return pool

    def ready(self, interpreter: Path) -> int:
        pool = self._pools.get(interpreter)
        return 0 if pool is None else sum(1 for s in pool.ready if s.alive())

    def level(self, interpreter: Path) -> int:
        """How many spares `interpreter`'s pool is kept at now (the setting, or more while demand lasts)."""
        return self._pool(interpreter).level

    def refill(self, interpreter: Path) -> None:
        """Start making spares for `interpreter` in the background, up to its level, `SPARE_PARALLEL` at a time."""
        if self.target <= 0 or self._closing:
            return
        pool = self._pool(interpreter)
        if asyncio.get_running_loop().time() < pool.burst_until:
            return  # a burst is setting up: `_refill_later`'s timer comes back once it has
        for dead in [s for s in pool.ready if not s.alive()]:
            pool.ready.remove(dead)
            dead.handle.close()
        zygote = self._zygote(interpreter)
        if zygote is None or not zygote.alive or pool.failures >= SPARE_FAILURES_MAX:
            return
        missing = min(pool.level - len(pool.ready) - pool.making, SPARE_PARALLEL - pool.making)
        for _ in range(missing):
            pool.making += 1
            self._own(self._make_into(pool, zygote, interpreter), f"nimbus-spare-{interpreter.name}")

    def _own(self, work: Awaitable[None], name: str) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(work)
        task.set_name(name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        task.add_done_callback(log_failure)

    async def _make_into(self, pool: _Interpreter, zygote: Zygote, interpreter: Path) -> None:
        try:
            spare = await self._make(zygote)
        finally:
            pool.making -= 1
        if spare is None:
            pool.failures += 1
        elif self._closing or len(pool.ready) >= pool.level:  # stopping, or the level fell meanwhile
            await spare.discard()
            return
        else:
            pool.failures = 0
            pool.ready.append(spare)
        self.refill(interpreter)

    async def _make(self, zygote: Zygote) -> Spare | None:
        cgroup = self._sandbox.new_cgroup(SPARE_MEMORY_MB)
        try:
            plan = self._sandbox.spare_plan(runtime_prefix(zygote.interpreter), SPARE_RUNTIME_FILES, cgroup)
            handle = await self._fork_plan(zygote, plan, cgroup)
        except ZygoteUnavailable as exc:
            log.warning("could not fork a spare instance (%s)", exc)
            return None
        spare = Spare(handle)
        try:
            async with asyncio.timeout(SPARE_READY_TIMEOUT_S):
                said = await asyncio.get_running_loop().sock_recv(handle.control, len(messages.READY))
        except (TimeoutError, OSError):
            said = b""
        if said != messages.READY:
            if zygote.alive:  # else it went with its zygote (or the server is stopping)
                log.warning("a spare instance failed to start: %s", spare.output() or "no output")
            await spare.discard()
            return None
        return spare

    def take(self, command: LaunchCommand) -> ProcessHandle | None:
        """A ready spare made this command's instance (its limits set, its assignment sent), or None. Either way
        demand rose: the pool's level goes up (more when none was ready) and the refill starts."""
        assert command.sandbox is not None
        if self.target <= 0:
            return None
        pool = self._pool(command.interpreter)
        handle = None
        while pool.ready and handle is None:
            spare = pool.ready.popleft()
            if not spare.alive():
                self._own(spare.discard(), "nimbus-spare-discard")
                continue
            try:
                data, fds = self._sandbox.spare_assignment(command)
            except OSError as exc:  # the function's dirs, not the spare: a fork says what is wrong
                log.warning("no spare instance for %s (%s)", command.env.get("AWS_LAMBDA_FUNCTION_NAME"), exc)
                pool.ready.appendleft(spare)
                return None
            try:
                if spare.handle.cgroup is not None:
                    spare.handle.cgroup.limit(command.sandbox.memory_mb)
                control = spare.handle.control
                if (socket.send_fds(control, [data], fds) if fds else control.send(data)) != len(data):
                    raise OSError("the assignment did not fit in the socket buffer")
            except OSError as exc:
                log.warning("a spare instance could not be assigned (%s)", exc)
                self._own(spare.discard(), "nimbus-spare-discard")
                continue
            finally:
                for fd in fds:  # the spare has its own copies (or goes, and they with it)
                    os.close(fd)
            handle = spare.handle
        if handle is not None:
            self.used += 1
        else:
            self.missed += 1
        # one more after a hit; after a miss the level was too low for this rate of cold starts: double it
        self._grow(pool, command.interpreter, pool.level + 1 if handle is not None else 2 * pool.level + 1)
        self._refill_later(pool, command.interpreter, burst=command.starting >= SPARE_BURST_STARTING)
        return handle

    def _refill_later(self, pool: _Interpreter, interpreter: Path, burst: bool) -> None:
        """Schedule the replacements of a take. Making a spare costs about as much CPU as a bare interpreter's start,
        and on 2 vCPUs every one made during a row of cold starts delays them (measured: `docs/performance.md`). So
        while `SPARE_RESERVE` or more are left, they wait until the takes pause for `SPARE_QUIET_S` (each take puts
        it off again); below that, they start `SPARE_REFILL_DELAY_S` after the take, once its cold start is under
        way. In a burst (`SPARE_BURST_STARTING` other cold starts still initialising) none is made until
        `SPARE_BURST_QUIET_S` after its last take: its cold starts are all forking already, and spares made meanwhile
        would only take their CPUs."""
        loop = asyncio.get_running_loop()
        now = loop.time()
        low = sum(1 for s in pool.ready if s.alive()) < SPARE_RESERVE
        if burst:
            due = pool.burst_until = now + SPARE_BURST_QUIET_S
        else:
            due = max(now + (SPARE_REFILL_DELAY_S if low else SPARE_QUIET_S), pool.burst_until)
        if pool.refill is not None:
            if not burst and low and pool.refill.when() <= due:
                return
            pool.refill.cancel()
        pool.refill = loop.call_at(due, self._refill_due, interpreter)

    def _refill_due(self, interpreter: Path) -> None:
        pool = self._pool(interpreter)
        pool.refill = None
        pool.burst_until = float("-inf")  # (a timer may fire a clock tick early)
        self.refill(interpreter)

    def expect(self, interpreter: Path, cold_starts: int) -> None:
        """`cold_starts` more are coming (functions just created or updated): raise the level ahead of them."""
        if self.target <= 0:
            return
        pool = self._pool(interpreter)
        self._grow(pool, interpreter, pool.level + cold_starts)
        self.refill(interpreter)

    def _grow(self, pool: _Interpreter, interpreter: Path, level: int) -> None:
        """Raise the level (up to `SPARE_MAX`, or the setting if higher) and restart the idle countdown."""
        pool.level = min(max(SPARE_MAX, self.target), level)
        pool.failures = 0
        if pool.shrink is not None:
            pool.shrink.cancel()
        pool.shrink = asyncio.get_running_loop().call_later(SPARE_IDLE_S, self._shrink, interpreter)

    def _shrink(self, interpreter: Path) -> None:
        """No cold start for `SPARE_IDLE_S`: back to the setting's level, the extra spares discarded."""
        pool = self._pool(interpreter)
        pool.shrink = None
        pool.level = self.target
        while len(pool.ready) > pool.level:
            self._own(pool.ready.pop().discard(), "nimbus-spare-discard")

    async def close(self) -> None:
        """Finish the spares being made (a fork may be under way in the zygote), then discard every spare."""
        self._closing = True
        for pool in self._pools.values():
            for timer in (pool.shrink, pool.refill):
                if timer is not None:
                    timer.cancel()
        while self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        spares = [s for pool in self._pools.values() for s in pool.ready]
        self._pools.clear()
        await asyncio.gather(*(s.discard() for s in spares))
