"""The launcher seam and the handle on one instance process: spawn, signal, reap, measure.

`Launcher` is the one seam between the instance layer and process creation. `SpawnLauncher` posix_spawns a fresh
interpreter per instance; a zygote-fork + sandbox launcher can replace it without touching the rest.
The child gets the control socket at fd 3, stdout and stderr on one pipe (so their order is kept), and /dev/null
as stdin. Children are reaped through a pidfd watched by the event loop, so there are never zombies and no thread.

The server's lifeline (`lifeline_fd`) is how a sandbox dies with the server: the read end of a pipe whose write end
only this process holds and never writes. Sandbox launchers hand the read end to every sandbox (fd 4), whose outer
process waits on it: it hangs up when the server exits in any way (kill -9 included), and the sandbox is killed
then, whatever its function is doing. No byte ever crosses it, so it costs nothing per invocation.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import signal
import socket
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from nimbus.instances.cgroups import InstanceCgroup

#: the fd number the control socket has inside the child
CONTROL_FD = 3
#: the fd number the server's lifeline has in a sandbox's outer process (and in a zygote)
LIFELINE_FD = 4
#: the lifeline pipe, made on first use: [read end, write end]; the write end stays open until this process exits
_lifeline: list[int] = []


def lifeline_fd() -> int:
    """The read end of this process's lifeline (see the module docstring), numbered above LIFELINE_FD so that a
    spawn's dup2 onto LIFELINE_FD is never a no-op that keeps O_CLOEXEC. Both ends are close-on-exec here: only the
    dup2 of a spawn passes the read end on, and the write end never leaves this process."""
    if not _lifeline:
        read, write = os.pipe()
        high = fcntl.fcntl(read, fcntl.F_DUPFD_CLOEXEC, 10)
        os.close(read)
        _lifeline.extend((high, write))
    return _lifeline[0]


@dataclass(frozen=True)
class SandboxSpec:
    """What a sandboxing launcher needs to know about the function, beyond the command."""

    code_dir: Path  # mounted read-only at /var/task
    layer_dirs: tuple[Path, ...]  # merged read-only at /opt, later layers win
    runtime_prefix: Path  # the interpreter's installation, mounted read-only at /var/lang
    memory_mb: int
    ephemeral_storage_mb: int
    network: str  # "host" | "none"
    #: with network "none", a port: the sandbox makes a listening socket for the API on 127.0.0.1:<port> inside its
    #: own network namespace and passes it to the server over the control socket before anything else (0: none)
    api_listener: int = 0


def recv_nowait(sock: socket.socket, size: int) -> bytes | None:
    """What a non-blocking socket holds now: None when nothing yet, b"" when the peer closed or the socket broke."""
    try:
        return sock.recv(size)
    except (BlockingIOError, InterruptedError):
        return None
    except OSError:
        return b""


@dataclass(frozen=True)
class LaunchCommand:
    """What to run for one instance; the launcher decides how (spawn now, zygote fork later)."""

    interpreter: Path  # the interpreter on the host
    argv: Sequence[str]  # full argv, argv[0] included (inside the sandbox's view when `sandbox` is set)
    env: Mapping[str, str]
    cwd: Path
    sandbox: SandboxSpec | None = None
    #: on-demand cold starts still initialising when this one launched (two or more: a burst, `spares.py`)
    starting: int = 0


class ProcessHandle:
    """A live (or just reaped) instance process and the parent's ends of its control socket and output pipe."""

    def __init__(
        self, pid: int, control: socket.socket, output_fd: int, reported: asyncio.Future[int] | None = None
    ) -> None:
        """`reported`: for a process that is not our child (a zygote's or a SnapStart template's), the wait status
        its parent reports; the pidfd then only signals and tells when it is gone."""
        self.pid = pid
        self.control = control
        self.output_fd = output_fd
        self._loop = asyncio.get_running_loop()
        #: resolves to the raw wait status once the process has been reaped
        self.exited: asyncio.Future[int] = self._loop.create_future()
        self._reported = reported
        self._pidfd: int | None = None
        if reported is not None:
            reported.add_done_callback(self._on_reported)
        if reported is None or not reported.done():
            try:
                self._pidfd = os.pidfd_open(pid)
            except ProcessLookupError:  # already gone and reaped by its parent: the report is on its way
                self._pidfd = None
            else:
                self._loop.add_reader(self._pidfd, self._on_pidfd_readable)
        #: the instance's cgroup when the launcher made one (memory peak, OOM count; removed on close)
        self.cgroup: InstanceCgroup | None = None
        self._final_oom = False
        self._final_peak_mb = 0

    @property
    def returncode(self) -> int | None:
        """The wait status, once reaped."""
        return self.exited.result() if self.exited.done() else None

    def _on_reported(self, fut: asyncio.Future[int]) -> None:
        if fut.cancelled():
            return
        self._close_pidfd()
        if not self.exited.done():
            self.exited.set_result(fut.result())

    def _on_pidfd_readable(self) -> None:
        try:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
        except ChildProcessError:
            if self._reported is not None:  # its parent reaps it and reports the status (`_on_reported`)
                if self._pidfd is not None:
                    self._loop.remove_reader(self._pidfd)
                return
            pid, status = self.pid, 0  # someone else reaped it; we cannot know how it ended
        if pid == 0:
            return
        self._close_pidfd()
        if not self.exited.done():
            self.exited.set_result(status)

    def _close_pidfd(self) -> None:
        if self._pidfd is not None:
            self._loop.remove_reader(self._pidfd)  # a no-op when already removed
            os.close(self._pidfd)
            self._pidfd = None

    def send_signal(self, sig: int) -> None:
        """Signal the process through its pidfd (immune to pid reuse); a no-op once it is reaped."""
        if self._pidfd is None or self.exited.done():
            return
        with contextlib.suppress(ProcessLookupError):
            signal.pidfd_send_signal(self._pidfd, sig)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    async def wait(self) -> int:
        return await asyncio.shield(self.exited)

    def max_memory_mb(self) -> int:
        """The cgroup's peak when there is one, else peak resident set size (VmHWM) in MB; 0 once gone."""
        if self.cgroup is not None:
            return self.cgroup.max_memory_mb()
        if self._final_peak_mb:
            return self._final_peak_mb
        try:
            with open(f"/proc/{self.pid}/status", "rb") as f:
                for line in f:
                    if line.startswith(b"VmHWM:"):
                        return (int(line.split()[1]) + 1023) // 1024
        except (OSError, ValueError, IndexError):
            pass
        return 0

    def oom_killed(self) -> bool:
        """Whether the kernel's OOM killer took a process of this instance (only known with a memory cgroup)."""
        if self.cgroup is None:
            return self._final_oom
        return self.cgroup.oom_kills() > 0

    def close(self) -> None:
        """Release the parent's fds and the cgroup; call only after the process is reaped and its output drained."""
        self._close_pidfd()
        self.control.close()
        if self.output_fd >= 0:
            os.close(self.output_fd)
            self.output_fd = -1
        if self.cgroup is not None:
            self._final_oom = self.cgroup.oom_kills() > 0
            self._final_peak_mb = self.cgroup.max_memory_mb()
            self._remove_cgroup(self.cgroup, 0)
            self.cgroup = None

    def _remove_cgroup(self, cgroup: InstanceCgroup, attempt: int) -> None:
        # a killed sandbox's pid namespace empties a moment after the outer process is reaped: retry briefly
        if not cgroup.remove() and attempt < 100:
            self._loop.call_later(0.02, self._remove_cgroup, cgroup, attempt + 1)


@dataclass
class Channels:
    """A new instance's control socket and output pipe: the parent's ends (kept) and the child's (handed over)."""

    control: socket.socket
    child: socket.socket
    output_fd: int
    output_w: int


@contextlib.contextmanager
def new_channels() -> Iterator[Channels]:
    """Make an instance's channels; the block hands the child's ends to the new process. They are closed after the
    block either way; the parent's ends are closed when it fails, and made non-blocking when it succeeds."""
    parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    out_r, out_w = os.pipe()
    try:
        yield Channels(parent, child, out_r, out_w)
    except BaseException:
        parent.close()
        os.close(out_r)
        raise
    finally:
        child.close()
        os.close(out_w)
    parent.setblocking(False)
    os.set_blocking(out_r, False)


class Launcher(Protocol):
    """How instance processes start. Wide enough that no caller asks which launcher it has: what one launcher does
    not need (a zygote to prewarm, a cgroup to adopt into) is a no-op there."""

    #: whether instances run in a sandbox (their paths are then /var/task, /var/lang, /var/runtime)
    sandboxed: bool

    async def launch(self, command: LaunchCommand) -> ProcessHandle:
        """Start an instance process for `command`; it must be reaped through the returned handle."""

    def prewarm(self, interpreter: Path, cold_starts: int = 0) -> None:
        """Get ready, in the background, to start instances of the Python `interpreter` fast (its zygote), and for
        `cold_starts` more of them soon (a function just created or updated: its spares)."""

    async def adopt(self, handle: ProcessHandle, memory_mb: int) -> None:
        """Put a process started elsewhere (a SnapStart restore, forked by its template) under this launcher's
        limits for `memory_mb`; the handle then owns its cgroup."""

    async def close(self) -> None:
        """Release what the launcher holds (zygotes, spares, cgroup parents); instances are stopped before."""


class SpawnLauncher:
    """posix_spawn one interpreter per instance (vfork-fast, no Python code runs between fork and exec).
    `lifeline`: give each child the server's lifeline at LIFELINE_FD (for `sandbox_init.py`, which watches it)."""

    sandboxed = False

    def __init__(self, lifeline: bool = False) -> None:
        self._lifeline = lifeline

    def prewarm(self, interpreter: Path, cold_starts: int = 0) -> None:
        """Nothing to warm: every instance is a fresh interpreter."""

    async def adopt(self, handle: ProcessHandle, memory_mb: int) -> None:
        """No limits to put it under."""

    async def close(self) -> None:
        """Nothing held."""

    async def launch(self, command: LaunchCommand) -> ProcessHandle:
        with new_channels() as channels:
            child_fd = channels.child.fileno()
            moved: list[int] = []
            try:
                # dup2 onto the same number would keep O_CLOEXEC: make sure the source is not already fd 3
                while child_fd <= CONTROL_FD:
                    child_fd = os.dup(child_fd)
                    moved.append(child_fd)
                actions: list[tuple[object, ...]] = [
                    (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
                    (os.POSIX_SPAWN_DUP2, channels.output_w, 1),
                    (os.POSIX_SPAWN_DUP2, channels.output_w, 2),
                    (os.POSIX_SPAWN_DUP2, child_fd, CONTROL_FD),
                ]
                if self._lifeline:  # last: a source above may be fd 4 itself
                    actions.append((os.POSIX_SPAWN_DUP2, lifeline_fd(), LIFELINE_FD))
                # posix_spawn is vfork+exec: it returns as soon as the child has exec'd, so it does not stall the loop
                pid = os.posix_spawn(  # noqa: ASYNC221
                    str(command.interpreter),
                    list(command.argv),
                    dict(command.env),
                    file_actions=actions,
                    setpgroup=0,
                    setsigmask=(),
                    setsigdef=(signal.SIGPIPE, signal.SIGXFSZ, signal.SIGINT, signal.SIGTERM),
                )
            finally:
                for fd in moved:
                    os.close(fd)
        return ProcessHandle(pid, channels.control, channels.output_fd)


def describe_exit(status: int) -> str:
    """A wait status in the words Lambda (Go's os.ProcessState) uses: `exit status 3`, `signal: killed`."""
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        name = signal.strsignal(sig) or f"signal {sig}"
        return f"signal: {name.lower()}"
    if os.WIFEXITED(status):
        return f"exit status {os.WEXITSTATUS(status)}"
    return "exit status unknown"
