"""Whether any HTTP client is waiting on the event loop (asked by busy polling before it holds the loop)."""

from __future__ import annotations

import contextlib
import select


class Activity:
    """Whether any client is waiting on us: one epoll over every connection (and the listening sockets), asked
    with a zero timeout. Busy polling (the instance layer's) stops as soon as it says yes: a request sitting in a
    socket buffer is work the event loop should get to, which `inflight` alone cannot see when the loop is the
    bottleneck."""

    def __init__(self) -> None:
        self._epoll = select.epoll()
        #: fd -> who watches it: a closed connection's fd number may already be a new connection's
        self._owners: dict[int, object] = {}

    def watch(self, fd: int, owner: object) -> None:
        self._owners[fd] = owner
        with contextlib.suppress(OSError):
            self._epoll.register(fd, select.EPOLLIN)

    def unwatch(self, fd: int, owner: object) -> None:
        if self._owners.get(fd) is owner:
            del self._owners[fd]
            with contextlib.suppress(OSError, ValueError):
                self._epoll.unregister(fd)

    def waiting(self) -> bool:
        try:
            return bool(self._epoll.poll(0, 1))
        except ValueError:  # closed: the server has stopped
            return False

    def close(self) -> None:
        self._epoll.close()
