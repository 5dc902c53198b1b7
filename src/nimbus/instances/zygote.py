"""Zygote-fork launching: one pre-imported, gc-frozen interpreter per Python runtime forks every sandboxed instance.

The server never forks: it posix_spawns one zygote per interpreter (`zygote_main.py`) and asks it over a
SOCK_SEQPACKET socket, sending the sandbox plan and the instance's fds (control socket end, output pipe) with
SCM_RIGHTS. The zygote answers with the forked pid. Instances are the zygote's children, not ours, so:

* the zygote reaps them and reports each wait status (b"X"), which resolves the handle's `exited`;
* the server opens a pidfd on the returned pid at once (the zygote reaps only after replying, so the pid cannot
  have been reused yet) and signals through it;
* the server is a child subreaper: if the zygote dies, its instances are re-parented to the server, which then
  reaps them itself (`_orphaned`), and they keep serving.

When the zygote is not available (not a Python runtime, failed to start, died), `ZygoteLauncher` falls back to
`SandboxLauncher` (posix_spawn of sandbox_init.py) and starts a new zygote in the background.

Spares take the sandbox set-up off the cold path. Most of a fork's cost is not the fork: joining a cgroup v1
hierarchy waits for an RCU grace period (~13 ms here), building the root takes ~5 ms, forking pid 1 and the runtime
process ~3 ms. So each zygote keeps `spares` children that have done all of it for no function yet: in their own
cgroup (a 128 MB function's limits), namespaces, root built with the host's root kept at /.host, the runtime
process privileged and blocked on its control socket, after saying b"S". A cold start takes one, sets the cgroup's
limits (when its MemorySize differs) and sends the
assignment (the function's mounts, network, argv, env); the spare binds the code, drops the host's root, seals the
root read-only, drops its privileges and runs the bootstrap. A spare serves one function for its whole life (it
is never returned to the pool), and no function code runs in it before the host's root is gone. Taking one
starts a replacement in the background; with none ready, the instance is forked as before.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import ctypes
import logging
import marshal
import os
import signal
import socket
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nimbus.instances.cgroups import InstanceCgroup
from nimbus.instances.isolation import Isolation
from nimbus.instances.process import (
    CONTROL_FD,
    LIFELINE_FD,
    LaunchCommand,
    ProcessHandle,
    lifeline_fd,
    new_channels,
    recv_nowait,
)
from nimbus.instances.sandbox import INIT, SandboxLauncher, runtime_prefix

log = logging.getLogger(__name__)

PYTHON_RUNTIME = Path(__file__).resolve().parent.parent / "runtimes" / "python"
FRAMES = Path(__file__).resolve().parent.parent / "protocol" / "frames.py"

ZYGOTE_MAIN = Path(__file__).resolve().with_name("zygote_main.py")
START_TIMEOUT_S = 10.0
PR_SET_CHILD_SUBREAPER = 36
#: spare sandboxes kept ready per zygote (setting `spare_instances`)
DEFAULT_SPARES = 2
#: the runtime files a Python spare has at /var/runtime
SPARE_RUNTIME_FILES = ("bootstrap.py", "nimbus_frames.py", "snapshot_restore_py.py")
#: how long after a launch the re-parented sandbox pid 1s are reaped (reading /proc is not for the cold path)
STRAY_REAP_DELAY_S = 0.5
#: how long after a spare is taken its replacement starts
SPARE_REFILL_DELAY_S = 0.01
#: the memory limit a spare's cgroup starts with (Lambda's default MemorySize): most assignments change nothing
SPARE_MEMORY_MB = 128
#: a spare that has not said b"S" by then is discarded
SPARE_READY_TIMEOUT_S = 10.0
#: a spare that failed to start this many times in a row stops the refilling (until the next take)
SPARE_FAILURES_MAX = 3


class ZygoteUnavailable(Exception):
    """The zygote could not fork this instance (dead, or it refused): use the fallback launcher."""


def become_subreaper() -> None:
    """Orphaned instances (their zygote died) are re-parented to this process instead of to init."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)


class Zygote:
    """The server's side of one zygote process."""

    def __init__(self, interpreter: Path) -> None:
        self.interpreter = interpreter
        self.pid = 0
        self.alive = False
        self._sock: socket.socket | None = None
        self._replies: collections.deque[asyncio.Future[int]] = collections.deque()
        #: pid -> its wait status, for every instance forked and not yet reported reaped
        self._children: dict[int, asyncio.Future[int]] = {}
        self._pidfd: int | None = None
        self._ready: asyncio.Future[None] | None = None
        self.exited: asyncio.Future[int] | None = None

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        fd = theirs.fileno()
        extra: list[int] = []
        try:
            while fd <= CONTROL_FD:
                fd = os.dup(fd)
                extra.append(fd)
            argv = [str(self.interpreter), "-I", "-S", "-u", "-X", "utf8", str(ZYGOTE_MAIN)]
            argv += [str(INIT), str(PYTHON_RUNTIME / "bootstrap.py"), str(FRAMES)]
            self.pid = os.posix_spawn(  # noqa: ASYNC221  (vfork+exec: returns at once)
                str(self.interpreter),
                argv,
                {"LANG": "C.UTF-8"},
                file_actions=[
                    (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
                    (os.POSIX_SPAWN_OPEN, 1, os.devnull, os.O_WRONLY, 0),
                    (os.POSIX_SPAWN_DUP2, fd, CONTROL_FD),
                    # its forks keep it: a sandbox dies with the server (the zygote itself goes on its socket's EOF)
                    (os.POSIX_SPAWN_DUP2, lifeline_fd(), LIFELINE_FD),
                ],
                setpgroup=0,
                setsigdef=(signal.SIGPIPE, signal.SIGINT, signal.SIGTERM),
            )
        finally:
            theirs.close()
            for e in extra:
                os.close(e)
        ours.setblocking(False)
        self._sock = ours
        self.exited = loop.create_future()
        self._pidfd = os.pidfd_open(self.pid)
        loop.add_reader(self._pidfd, self._on_exit)
        self._ready = loop.create_future()
        loop.add_reader(ours.fileno(), self._on_readable)
        try:
            async with asyncio.timeout(START_TIMEOUT_S):
                await self._ready
        except BaseException:
            self.close()
            raise
        self.alive = True

    def _on_readable(self) -> None:
        assert self._sock is not None
        while True:
            msg = recv_nowait(self._sock, 4096)
            if msg is None:
                return
            if not msg:
                self._lost()
                return
            kind, body = msg[:1], msg[1:]
            if kind == b"R" and self._ready is not None and not self._ready.done():
                self._ready.set_result(None)
            elif kind == b"P":
                (pid,) = struct.unpack("=i", body)
                self._children[pid] = asyncio.get_running_loop().create_future()
                self._reply(pid, None)
            elif kind == b"E":
                self._reply(0, ZygoteUnavailable(body.decode(errors="replace")))
            elif kind == b"X":
                pid, status = struct.unpack("=ii", body)
                fut = self._children.get(pid)  # kept until `status_of` has handed it out
                if fut is not None and not fut.done():
                    fut.set_result(status)

    def _reply(self, pid: int, error: Exception | None) -> None:
        if not self._replies:
            return
        fut = self._replies.popleft()
        if fut.done():
            return
        if error is not None:
            fut.set_exception(error)
        else:
            fut.set_result(pid)

    def _drop_socket(self) -> None:
        if self._sock is not None:
            with contextlib.suppress(ValueError, OSError):
                asyncio.get_running_loop().remove_reader(self._sock.fileno())
            self._sock.close()
            self._sock = None
        self.alive = False

    def _lost(self) -> None:
        """The zygote is gone: fail what waits on it; its instances are ours to reap from now on."""
        self._drop_socket()
        if self._ready is not None and not self._ready.done():
            self._ready.set_exception(ZygoteUnavailable("the zygote exited while starting"))
        while self._replies:
            fut = self._replies.popleft()
            if not fut.done():
                fut.set_exception(ZygoteUnavailable("the zygote exited"))
        if self._children:
            asyncio.get_running_loop().call_later(0.01, self._orphaned, 0)

    def _orphaned(self, attempt: int) -> None:
        """Reap re-parented instances that died before (or while) their zygote did; the rest have pidfds."""
        for pid, fut in list(self._children.items()):
            if fut.done():
                self._children.pop(pid)
                continue
            try:
                reaped, status = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                continue  # not re-parented yet, or reaped already through its handle
            if reaped:
                self._children.pop(pid)
                fut.set_result(status)
        if self._children and attempt < 200:
            asyncio.get_running_loop().call_later(0.05, self._orphaned, attempt + 1)

    def _on_exit(self) -> None:
        with contextlib.suppress(ChildProcessError):
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid == 0:
                return
            if self.exited is not None and not self.exited.done():
                self.exited.set_result(status)
        if self._pidfd is not None:
            asyncio.get_running_loop().remove_reader(self._pidfd)
            os.close(self._pidfd)
            self._pidfd = None
        self._lost()

    def status_of(self, pid: int) -> asyncio.Future[int]:
        """The future of `pid`'s wait status (settled by the zygote's report, or by us for orphans)."""
        fut = self._children[pid]
        for other in [p for p, f in self._children.items() if f.done() and p != pid]:
            del self._children[other]
        return fut

    async def fork(self, plan: dict[str, Any], control_fd: int, output_fd: int) -> int:
        """Fork one sandboxed instance; returns its (host) pid. Raises ZygoteUnavailable."""
        if not self.alive or self._sock is None:
            raise ZygoteUnavailable("the zygote is not running")
        fut: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        fds = struct.pack(f"={2}i", control_fd, output_fd)
        try:
            self._sock.sendmsg([marshal.dumps(plan, 4)], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, fds)])
        except OSError as exc:  # EAGAIN on a full socket buffer is also "not now": fall back
            raise ZygoteUnavailable(str(exc)) from exc
        self._replies.append(fut)
        return await fut

    def kill(self) -> None:
        if self._pidfd is not None:
            with contextlib.suppress(ProcessLookupError):
                signal.pidfd_send_signal(self._pidfd, signal.SIGKILL)

    def close(self) -> None:
        """EOF on its socket makes the zygote exit; its live instances keep running (and are reaped by us)."""
        self._drop_socket()

    async def wait_closed(self, timeout_s: float = 2.0) -> None:
        if self.exited is None:
            return
        try:
            async with asyncio.timeout(timeout_s):
                await asyncio.shield(self.exited)
        except TimeoutError:
            self.kill()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout_s):
                    await asyncio.shield(self.exited)


def _reap_strays() -> None:
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


@dataclass
class _Spare:
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


class ZygoteLauncher:
    """Zygote forks for the built-in Python runtime; `SandboxLauncher` (spawn) for the rest and as the fallback."""

    sandboxed = True

    def __init__(self, isolation: Isolation, spares: int = DEFAULT_SPARES) -> None:
        self.sandbox = SandboxLauncher(isolation)
        self._zygotes: dict[Path, Zygote] = {}
        self._starting: dict[Path, asyncio.Task[Zygote | None]] = {}
        self.spare_target = spares
        self._spares: dict[Path, collections.deque[_Spare]] = {}
        self._filling: dict[Path, asyncio.Task[None]] = {}
        self.forks = 0
        self.fallbacks = 0
        self.spares_used = 0
        self._discarding: set[asyncio.Task[None]] = set()
        self._closing = False
        self._reap_scheduled = False
        become_subreaper()

    def uses_zygote(self, command: LaunchCommand) -> bool:
        return command.sandbox is not None and any(a == "/var/runtime/bootstrap.py" for a in command.argv)

    def prewarm(self, interpreter: Path) -> None:
        """Start the zygote for `interpreter` in the background (if it is not running or starting)."""
        zygote = self._zygotes.get(interpreter)
        if (zygote is None or not zygote.alive) and interpreter not in self._starting:
            task = asyncio.create_task(self._start(interpreter), name=f"nimbus-zygote-{interpreter.name}")
            self._starting[interpreter] = task

    async def _start(self, interpreter: Path) -> Zygote | None:
        zygote = Zygote(interpreter)
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
        self._refill(interpreter)
        return zygote

    def _reap_strays(self) -> None:
        self._reap_scheduled = False
        _reap_strays()

    # -- spares ---------------------------------------------------------------------------------------------------

    def spares_ready(self, interpreter: Path) -> int:
        return sum(1 for s in self._spares.get(interpreter, ()) if s.alive())

    def _refill(self, interpreter: Path) -> None:
        if self.spare_target <= 0 or self._closing or interpreter in self._filling:
            return
        task = asyncio.create_task(self._fill_spares(interpreter), name=f"nimbus-spares-{interpreter.name}")
        self._filling[interpreter] = task
        task.add_done_callback(lambda _: self._filling.pop(interpreter, None))

    async def _fill_spares(self, interpreter: Path) -> None:
        spares = self._spares.setdefault(interpreter, collections.deque())
        failures = 0
        while failures < SPARE_FAILURES_MAX:
            for dead in [s for s in spares if not s.alive()]:
                spares.remove(dead)
                dead.handle.close()
            zygote = self._zygotes.get(interpreter)
            if self._closing or len(spares) >= self.spare_target or zygote is None or not zygote.alive:
                return
            spare = await self._make_spare(zygote)
            if spare is None:
                failures += 1
            else:
                failures = 0
                spares.append(spare)

    async def _make_spare(self, zygote: Zygote) -> _Spare | None:
        cgroup = self.sandbox.new_cgroup(SPARE_MEMORY_MB)
        try:
            plan = self.sandbox.spare_plan(runtime_prefix(zygote.interpreter), SPARE_RUNTIME_FILES, cgroup)
            handle = await self._fork_plan(zygote, plan, cgroup)
        except ZygoteUnavailable as exc:
            log.warning("could not fork a spare instance (%s)", exc)
            return None
        spare = _Spare(handle)
        try:
            async with asyncio.timeout(SPARE_READY_TIMEOUT_S):
                said = await asyncio.get_running_loop().sock_recv(handle.control, 1)
        except (TimeoutError, OSError):
            said = b""
        if said != b"S":
            if zygote.alive:  # else it went with its zygote (or the server is stopping)
                log.warning("a spare instance failed to start: %s", spare.output() or "no output")
            await spare.discard()
            return None
        return spare

    def _take_spare(self, command: LaunchCommand) -> ProcessHandle | None:
        """A ready spare made this command's instance (its limits set, its assignment sent), or None. Spares are
        kept per interpreter, so a spare's runtime (/var/lang, /var/runtime) is the command's."""
        assert command.sandbox is not None
        spares = self._spares.get(command.interpreter)
        handle = None
        while spares and handle is None:
            spare = spares.popleft()
            if not spare.alive():
                self._background_discard(spare)
                continue
            try:
                if spare.handle.cgroup is not None:
                    spare.handle.cgroup.limit(command.sandbox.memory_mb)
                job = marshal.dumps(self.sandbox.assignment(command), 4)
                data = struct.pack("=I", len(job)) + job
                if spare.handle.control.send(data) != len(data):
                    raise OSError("the assignment did not fit in the socket buffer")
            except OSError as exc:
                log.warning("a spare instance could not be assigned (%s)", exc)
                self._background_discard(spare)
                continue
            handle = spare.handle
        # the replacement waits until this cold start is under way: on 2 vCPUs it would compete with it
        asyncio.get_running_loop().call_later(SPARE_REFILL_DELAY_S, self._refill, command.interpreter)
        if handle is not None:
            self.spares_used += 1
        return handle

    def _background_discard(self, spare: _Spare) -> None:
        task = asyncio.create_task(spare.discard())
        self._discarding.add(task)
        task.add_done_callback(self._discarding.discard)

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
                handle = self._take_spare(command)
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
        self._closing = True
        for task in list(self._starting.values()):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        # a spare being made is finished, not abandoned half-way (its fork may be under way in the zygote)
        await asyncio.gather(*self._filling.values(), return_exceptions=True)
        spares = [s for pool in self._spares.values() for s in pool]
        self._spares.clear()
        await asyncio.gather(*(s.discard() for s in spares), *self._discarding)
        for zygote in self._zygotes.values():
            zygote.close()
        await asyncio.gather(*(z.wait_closed() for z in self._zygotes.values()))
        self._zygotes.clear()
        await self.sandbox.close()
