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
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import os
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
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
#: how long after a spare is taken its replacement starts
SPARE_REFILL_DELAY_S = 0.01
#: the memory limit a spare's cgroup starts with (Lambda's default MemorySize): most assignments change nothing
SPARE_MEMORY_MB = 128
#: a spare that has not said READY by then is discarded
SPARE_READY_TIMEOUT_S = 10.0
#: a spare that failed to start this many times in a row stops the refilling (until the next take)
SPARE_FAILURES_MAX = 3

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
        self.target = target
        self._spares: dict[Path, collections.deque[Spare]] = {}
        self._filling: dict[Path, asyncio.Task[None]] = {}
        self._discarding: set[asyncio.Task[None]] = set()
        self._closing = False
        self.used = 0

    def ready(self, interpreter: Path) -> int:
        return sum(1 for s in self._spares.get(interpreter, ()) if s.alive())

    def refill(self, interpreter: Path) -> None:
        """Make spares for `interpreter` in the background until `target` are ready (or making them fails)."""
        if self.target <= 0 or self._closing or interpreter in self._filling:
            return
        task = asyncio.create_task(self._fill(interpreter), name=f"nimbus-spares-{interpreter.name}")
        self._filling[interpreter] = task
        task.add_done_callback(lambda _: self._filling.pop(interpreter, None))
        task.add_done_callback(log_failure)

    async def _fill(self, interpreter: Path) -> None:
        spares = self._spares.setdefault(interpreter, collections.deque())
        failures = 0
        while failures < SPARE_FAILURES_MAX:
            for dead in [s for s in spares if not s.alive()]:
                spares.remove(dead)
                dead.handle.close()
            zygote = self._zygote(interpreter)
            if self._closing or len(spares) >= self.target or zygote is None or not zygote.alive:
                return
            spare = await self._make(zygote)
            if spare is None:
                failures += 1
            else:
                failures = 0
                spares.append(spare)

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
        """A ready spare made this command's instance (its limits set, its assignment sent), or None."""
        assert command.sandbox is not None
        spares = self._spares.get(command.interpreter)
        handle = None
        while spares and handle is None:
            spare = spares.popleft()
            if not spare.alive():
                self._discard_soon(spare)
                continue
            try:
                if spare.handle.cgroup is not None:
                    spare.handle.cgroup.limit(command.sandbox.memory_mb)
                data = messages.encode_assignment(self._sandbox.assignment(command))
                if spare.handle.control.send(data) != len(data):
                    raise OSError("the assignment did not fit in the socket buffer")
            except OSError as exc:
                log.warning("a spare instance could not be assigned (%s)", exc)
                self._discard_soon(spare)
                continue
            handle = spare.handle
        # the replacement waits until this cold start is under way: on 2 vCPUs it would compete with it
        asyncio.get_running_loop().call_later(SPARE_REFILL_DELAY_S, self.refill, command.interpreter)
        if handle is not None:
            self.used += 1
        return handle

    def _discard_soon(self, spare: Spare) -> None:
        task = asyncio.create_task(spare.discard())
        self._discarding.add(task)
        task.add_done_callback(self._discarding.discard)
        task.add_done_callback(log_failure)

    async def close(self) -> None:
        """Finish the spares being made (a fork may be under way in the zygote), then discard every spare."""
        self._closing = True
        await asyncio.gather(*self._filling.values(), return_exceptions=True)
        spares = [s for pool in self._spares.values() for s in pool]
        self._spares.clear()
        await asyncio.gather(*(s.discard() for s in spares), *self._discarding)
