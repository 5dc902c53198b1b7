"""SnapStart templates: an initialised runtime process that forks restored instances of one version on request.

The template is a normal instance launched with `_NIMBUS_SNAPSHOT=1`: after init (and the before-snapshot hooks)
it says READY and then only answers FORK frames (`protocol/frames.py`), each carrying the new instance's control
socket, output pipe and a pipe it waits on (SCM_RIGHTS). The forked child gives itself a sandbox of its own inside
the template's (`runtimes/python/snapstart.py`: namespaces, /tmp, pid 1 and the runtime), runs the after-restore
hooks, reseeds `random`, says READY, and serves invocations like any instance; it skips init entirely.

The child is moved into a cgroup of its own (the launcher's `adopt`) while it sets up its namespaces; the server
then closes the pipe it waits on, and only then does it fork its pid 1 and runtime, which so start in that cgroup.
Its parent is the template, which reaps it and reports its wait status (EXITED). The server learns its host pid
from /proc (NSpid), and signals it through a pidfd.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import os
import socket
import struct
from collections.abc import Awaitable, Callable
from pathlib import Path

from nimbus.instances.instance import Instance
from nimbus.instances.process import ProcessHandle, new_channels, recv_nowait
from nimbus.protocol import frames

#: what moves a restored instance into a cgroup of its own (the launcher's `adopt`, its MemorySize bound)
Adopt = Callable[[ProcessHandle], Awaitable[None]]


class TemplateGone(Exception):
    """The template died or refused to fork."""


def _children(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def ns_pid(pid: int) -> int:
    """The pid a host process has in its innermost pid namespace."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("NSpid:"):
            return int(line.split()[-1])
    return pid


def runtime_pid(top: int, sandboxed: bool) -> int:
    """Host pid of a sandbox's runtime process: outer -> init (pid 1) -> runtime (pid 2), or init -> runtime for a
    zygote's fork that is its sandbox's pid 1 itself (no outer process: sandbox_init.py)."""
    if not sandboxed:
        return top
    try:
        inits = [top] if ns_pid(top) == 1 else _children(top)
    except OSError:
        inits = []
    for init in inits:
        for runtime in _children(init):
            return runtime
    raise TemplateGone("the template's runtime process is gone")


class SnapshotTemplate:
    def __init__(self, instance: Instance, sandboxed: bool) -> None:
        self.instance = instance
        self.spec = instance.spec
        self.handle = instance.handle
        self.runtime_pid = runtime_pid(self.handle.pid, sandboxed)
        instance.detach_control()
        self._loop = asyncio.get_running_loop()
        self._decoder = frames.FrameDecoder()
        self._forks: collections.deque[asyncio.Future[int]] = collections.deque()
        self._children: dict[int, asyncio.Future[int]] = {}
        self._lock = asyncio.Lock()
        self._loop.add_reader(self.handle.control.fileno(), self._on_readable)
        self.handle.exited.add_done_callback(lambda _: self._gone())
        self.restores = 0

    @property
    def alive(self) -> bool:
        return not self.handle.exited.done()

    @property
    def live_children(self) -> int:
        return sum(1 for f in self._children.values() if not f.done())

    def _on_readable(self) -> None:
        data = recv_nowait(self.handle.control, 1 << 16)
        if data is None:
            return
        if not data:
            self._gone()
            return
        for frame in self._decoder.feed(data):
            event = frames.template_event(frame)
            if event is None:
                continue
            if event.kind == frames.FORKED:
                self._children[event.pid] = self._loop.create_future()
                if self._forks:
                    fut = self._forks.popleft()
                    if not fut.done():
                        fut.set_result(event.pid)
            else:
                child = self._children.pop(event.pid, None)
                if child is not None and not child.done():
                    child.set_result(event.status)

    def _gone(self) -> None:
        with contextlib.suppress(ValueError, OSError):
            self._loop.remove_reader(self.handle.control.fileno())
        while self._forks:
            fut = self._forks.popleft()
            if not fut.done():
                fut.set_exception(TemplateGone("the template exited"))
        # its pid namespace is gone with it, and every restored instance was killed by the kernel
        for child in self._children.values():
            if not child.done():
                child.set_result(9)  # as if SIGKILLed
        self._children.clear()

    async def fork(self, env: dict[str, str], adopt: Adopt) -> ProcessHandle:
        """One restored instance: its handle (pid on the host, exit status reported by the template), `adopt`ed
        into its own cgroup before it forks the rest of its sandbox (`snapstart.py`), which then starts there:
        one process moved (a cgroup v1 move waits for an RCU grace period, and holds up every fork meanwhile)."""
        if not self.alive:
            raise TemplateGone("the template exited")
        go_r, go_w = os.pipe()
        try:
            with new_channels() as channels:
                async with self._lock:
                    fut: asyncio.Future[int] = self._loop.create_future()
                    self._forks.append(fut)
                    fds = struct.pack("=3i", channels.child.fileno(), channels.output_w, go_r)
                    try:
                        message = frames.encode(frames.FORK, frames.fork_header(env))
                        self.handle.control.sendmsg([message], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, fds)])
                    except OSError as exc:
                        raise TemplateGone(str(exc)) from exc
                    finally:
                        os.close(go_r)
                    child = await fut
                status = self._children[child]
                host_pid = next((p for p in _children(self.runtime_pid) if ns_pid(p) == child), 0)
                if not host_pid:
                    raise TemplateGone("restored instance vanished")
            handle = ProcessHandle(host_pid, channels.control, channels.output_fd, reported=status)
            await adopt(handle)
        finally:
            os.close(go_w)  # EOF: it goes on
        self.restores += 1
        return handle
