"""The server's side of one zygote: a pre-imported, gc-frozen interpreter that forks sandboxed instances.

The server never forks: it posix_spawns one zygote per interpreter (`zygote_main.py`) and asks it over a
SOCK_SEQPACKET socket (`protocol/zygote.py`), sending the sandbox plan and the instance's fds (control socket end,
output pipe) with SCM_RIGHTS. The zygote answers with the forked pid. Instances are the zygote's children, not
ours, so:

* the zygote reaps them and reports each wait status (EXITED), which resolves the handle's `exited`;
* the server opens a pidfd on the returned pid at once (the zygote reaps only after replying, so the pid cannot
  have been reused yet) and signals through it;
* the server is a child subreaper: if the zygote dies, its instances are re-parented to the server, which then
  reaps them itself (`_orphaned`), and they keep serving.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import os
import signal
import socket
import struct
from pathlib import Path
from typing import Any

from nimbus.instances.process import CONTROL_FD, LIFELINE_FD, lifeline_fd, recv_nowait
from nimbus.instances.sandbox import INIT, encode_plan
from nimbus.protocol import zygote as messages

log = logging.getLogger(__name__)

PYTHON_RUNTIME = Path(__file__).resolve().parent.parent / "runtimes" / "python"
PROTOCOL = Path(__file__).resolve().parent.parent / "protocol"
FRAMES = PROTOCOL / "frames.py"
ZYGOTE_MAIN = Path(__file__).resolve().with_name("zygote_main.py")
START_TIMEOUT_S = 10.0
#: the root template's plan, for the zygote (`zygote_main.py`), in `encode_plan`'s form
TEMPLATE_VARIABLE = "NIMBUS_ROOT_TEMPLATE"


def sweep_templates(parent: str) -> None:
    """Remove the root templates' directories left by zygotes that died with their server (empty: the mounts went
    with the zygotes' namespaces); those of live zygotes (other servers') stay."""
    for path in Path(parent).glob(".nimbus-root-*"):
        pid = path.name.removeprefix(".nimbus-root-")
        if pid.isdigit() and not Path(f"/proc/{pid}").exists():
            with contextlib.suppress(OSError):
                path.rmdir()


class ZygoteUnavailable(Exception):
    """The zygote could not fork this instance (dead, or it refused): use the fallback launcher."""


class Zygote:
    """The server's side of one zygote process."""

    def __init__(self, interpreter: Path, template: dict[str, Any] | None = None) -> None:
        self.interpreter = interpreter
        #: the root template it builds for its forks (`SandboxLauncher.root_template`), or None
        self.template = template
        self.pid = 0
        self.alive = False
        self._sock: socket.socket | None = None
        self._replies: collections.deque[asyncio.Future[int]] = collections.deque()
        #: pid -> its wait status, for every instance forked and not yet reported reaped
        self._children: dict[int, asyncio.Future[int]] = {}
        self._pidfd: int | None = None
        self._ready: asyncio.Future[None] | None = None
        #: settled when its full socket takes requests again (one waiter for every fork waiting on it)
        self._room: asyncio.Future[None] | None = None
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
            argv += [str(PROTOCOL / "zygote.py"), str(PROTOCOL / "spare.py")]
            env = {"LANG": "C.UTF-8"}
            if self.template is not None:
                env[TEMPLATE_VARIABLE] = encode_plan(self.template)
            self.pid = os.posix_spawn(  # noqa: ASYNC221  (vfork+exec: returns at once)
                str(self.interpreter),
                argv,
                env,
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
            try:
                reply = messages.decode_reply(msg)
            except messages.ZygoteMessageError as exc:
                log.warning("zygote %d broke its protocol (%s); killing it", self.pid, exc)
                self.kill()
                self._lost()
                return
            if reply.kind == messages.READY and self._ready is not None and not self._ready.done():
                self._ready.set_result(None)
            elif reply.kind == messages.FORKED:
                self._children[reply.pid] = asyncio.get_running_loop().create_future()
                self._reply(reply.pid, None)
            elif reply.kind == messages.REFUSED:
                self._reply(0, ZygoteUnavailable(reply.message))
            elif reply.kind == messages.EXITED:
                fut = self._children.get(reply.pid)  # kept until `status_of` has handed it out
                if fut is not None and not fut.done():
                    fut.set_result(reply.status)

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
                asyncio.get_running_loop().remove_writer(self._sock.fileno())
            if self._room is not None and not self._room.done():
                self._room.set_result(None)  # its waiters find it gone
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
        if self.template is not None:  # its mount went with its namespace; the empty directory is left on the host
            with contextlib.suppress(OSError):
                os.rmdir(f"{self.template['parent']}/.nimbus-root-{self.pid}")
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
        fds = struct.pack(f"={messages.FDS_PER_REQUEST}i", control_fd, output_fd)
        request = messages.encode_request(plan)
        while True:
            if not self.alive or self._sock is None:
                raise ZygoteUnavailable("the zygote is not running")
            try:
                self._sock.sendmsg([request], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, fds)])
                break
            except BlockingIOError:
                # a burst asks faster than the zygote reads: wait for room (a spawn instead costs far more)
                await self._wait_for_room(self._sock)
            except OSError as exc:
                raise ZygoteUnavailable(str(exc)) from exc
        self._replies.append(fut)  # no await since the send: replies come in the order requests went
        return await fut

    async def _wait_for_room(self, sock: socket.socket) -> None:
        if self._room is None or self._room.done():
            loop = asyncio.get_running_loop()
            room = self._room = loop.create_future()
            fd = sock.fileno()

            def writable() -> None:
                loop.remove_writer(fd)
                if not room.done():
                    room.set_result(None)

            loop.add_writer(fd, writable)
        await asyncio.shield(self._room)

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

