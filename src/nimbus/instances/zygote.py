"""Zygote-fork launching: which way each sandboxed instance starts, and the host's default launcher.

For the built-in Python runtime an instance is, in order of preference: a spare sandbox assigned the function
(`spares.py`), a fresh fork of the interpreter's zygote (`zygote_client.py`), or, when the zygote is not
available (failed to start, died, refused), a spawn of `sandbox_init.py` (`SandboxLauncher`) while a new zygote
starts in the background. Every other runtime is spawned. The server stays a child subreaper (`supervisor.py`), so
instances outlive a dead zygote, and the sandbox pid-1 processes re-parented to it are reaped a little after each
launch, off the cold path.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from pathlib import Path
from typing import Any

from nimbus.instances.cgroups import InstanceCgroup
from nimbus.instances.environment import runtime_prefix
from nimbus.instances.isolation import Isolation, detect
from nimbus.instances.process import LaunchCommand, Launcher, ProcessHandle, SpawnLauncher, new_channels
from nimbus.instances.sandbox import SandboxLauncher
from nimbus.instances.spares import DEFAULT_SPARES, SPARE_RUNTIME_FILES, SparePool
from nimbus.instances.supervisor import become_subreaper, log_failure, reap_strays
from nimbus.instances.zygote_client import Zygote, ZygoteUnavailable, sweep_templates

log = logging.getLogger(__name__)

#: how long after a launch the re-parented sandbox pid 1s are reaped (reading /proc is not for the cold path)
STRAY_REAP_DELAY_S = 0.5


def default_launcher(
    isolation: Isolation | None = None, spares: int = DEFAULT_SPARES, limits_mechanism: str = "auto"
) -> Launcher:
    """The strongest launcher this host allows; anything weaker than full isolation is logged as a WARNING.
    Raises ValueError when `limits_mechanism` is "cgroup" and the host has none for the server."""
    isolation = isolation or detect(limits_mechanism)
    for warning in isolation.warnings():
        log.warning("INSECURE: %s; run `nimbus doctor` for details", warning)
    if isolation.namespaces:
        return ZygoteLauncher(isolation, spares)
    log.warning("INSECURE: instances run UNSANDBOXED: they can read the data dir and signal the server")
    return SpawnLauncher()


def _on_the_request_path(command: LaunchCommand) -> bool:
    """Spares are for cold starts someone waits for: a provisioned instance starts in the background and lives
    long, and one made of a spare would keep the spare's copied pages (~4.5 MB more) for all that time."""
    return command.env.get("AWS_LAMBDA_INITIALIZATION_TYPE") != "provisioned-concurrency"


class ZygoteLauncher:
    """Zygote forks (or spares) for the built-in Python runtime; `SandboxLauncher` for the rest and as fallback."""

    sandboxed = True

    def __init__(self, isolation: Isolation, spares: int = DEFAULT_SPARES) -> None:
        self.sandbox = SandboxLauncher(isolation)
        self._zygotes: dict[Path, Zygote] = {}
        self._starting: dict[Path, asyncio.Task[Zygote | None]] = {}
        self.spares = SparePool(self.sandbox, self._zygotes.get, self._fork_plan, spares)
        self.forks = 0
        self.fallbacks = 0
        self._reap_scheduled = False
        become_subreaper()

    @property
    def spare_target(self) -> int:
        return self.spares.target

    @property
    def spares_used(self) -> int:
        return self.spares.used

    def spares_ready(self, interpreter: Path) -> int:
        return self.spares.ready(interpreter)

    def uses_zygote(self, command: LaunchCommand) -> bool:
        return command.sandbox is not None and any(a == "/var/runtime/bootstrap.py" for a in command.argv)

    def prewarm(self, interpreter: Path, cold_starts: int = 0) -> None:
        """Start the zygote for `interpreter` in the background (if it is not running or starting); raise its spare
        pool's level by `cold_starts` (made once the zygote runs)."""
        if cold_starts:
            self.spares.expect(interpreter, cold_starts)
        zygote = self._zygotes.get(interpreter)
        if (zygote is None or not zygote.alive) and interpreter not in self._starting:
            task = asyncio.create_task(self._start(interpreter), name=f"nimbus-zygote-{interpreter.name}")
            task.add_done_callback(log_failure)
            self._starting[interpreter] = task

    async def adopt(self, handle: ProcessHandle, memory_mb: int) -> None:
        await self.sandbox.adopt(handle, memory_mb)

    async def _start(self, interpreter: Path) -> Zygote | None:
        # its forks' /var/runtime is a spare's (`spares.py`): the bootstrap, the frames codec, the SnapStart hooks
        template = self.sandbox.root_template(runtime_prefix(interpreter), SPARE_RUNTIME_FILES)
        if template is not None:
            sweep_templates(template["parent"])
        zygote = Zygote(interpreter, template)
        try:
            await zygote.start()
        except (OSError, TimeoutError, ZygoteUnavailable) as exc:
            log.warning("zygote for %s did not start (%s); instances are spawned", interpreter, exc)
            return None
        finally:
            self._starting.pop(interpreter, None)
        old = self._zygotes.get(interpreter)
        if old is not None:
            old.close()
        self._zygotes[interpreter] = zygote
        self.spares.refill(interpreter)
        return zygote

    def _reap_strays(self) -> None:
        self._reap_scheduled = False
        reap_strays()

    async def zygote_for(self, interpreter: Path) -> Zygote | None:
        """The running zygote; the first one is waited for, a dead one is replaced in the background."""
        zygote = self._zygotes.get(interpreter)
        if zygote is not None and zygote.alive:
            return zygote
        first = zygote is None
        self.prewarm(interpreter)
        task = self._starting.get(interpreter)
        if first and task is not None:
            return await asyncio.shield(task)
        return None

    async def launch(self, command: LaunchCommand) -> ProcessHandle:
        if not self._reap_scheduled:  # strays are harmless zombies for a while: reap them later, in one go
            self._reap_scheduled = True
            asyncio.get_running_loop().call_later(STRAY_REAP_DELAY_S, self._reap_strays)
        if self.uses_zygote(command):
            zygote = await self.zygote_for(command.interpreter)
            if zygote is not None:
                handle = self.spares.take(command) if _on_the_request_path(command) else None
                if handle is not None:
                    return handle
                try:
                    return await self._fork(zygote, command)
                except ZygoteUnavailable as exc:
                    log.warning("zygote fork failed (%s); spawning this instance", exc)
            self.fallbacks += 1
        return await self.sandbox.launch(command)

    async def _fork(self, zygote: Zygote, command: LaunchCommand) -> ProcessHandle:
        assert command.sandbox is not None
        cgroup = self.sandbox.new_cgroup(command.sandbox.memory_mb)
        try:
            plan = self.sandbox.plan(command, cgroup)
        except BaseException:
            if cgroup is not None:
                cgroup.remove()
            raise
        handle = await self._fork_plan(zygote, plan, cgroup)
        self.forks += 1
        return handle

    async def _fork_plan(self, zygote: Zygote, plan: dict[str, Any], cgroup: InstanceCgroup | None) -> ProcessHandle:
        """Have the zygote fork `plan` with a new control socket and output pipe; the handle owns `cgroup`."""
        try:
            with new_channels() as channels:
                pid = await zygote.fork(plan, channels.child.fileno(), channels.output_w)
        except BaseException:
            if cgroup is not None:
                cgroup.remove()
            raise
        handle = ProcessHandle(pid, channels.control, channels.output_fd, reported=zygote.status_of(pid))
        handle.cgroup = cgroup
        return handle

    async def close(self) -> None:
        for task in list(self._starting.values()):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.spares.close()
        for zygote in self._zygotes.values():
            zygote.close()
        await asyncio.gather(*(z.wait_closed() for z in self._zygotes.values()))
        self._zygotes.clear()
        await self.sandbox.close()
