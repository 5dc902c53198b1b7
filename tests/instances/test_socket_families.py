"""The seccomp filter's socket family check on its own: loaded in a forked child, probed with real syscalls."""

from __future__ import annotations

import ctypes
import errno
import os
import socket

import pytest

from nimbus.instances import seccomp
from nimbus.instances.isolation import detect

pytestmark = pytest.mark.skipif(not detect().seccomp, reason="needs seccomp filters on a supported architecture")

SYS_SOCKET = {"x86_64": 41, "aarch64": 198}


def _errno_in_child(probe: str) -> int:
    """Load the filter in a forked child and run `probe` there: the errno it raised (0 for none)."""
    pid = os.fork()
    if pid == 0:  # pragma: no cover - child
        code = 100
        try:
            seccomp.install()
            libc = ctypes.CDLL(None, use_errno=True)
            exec(probe, {"libc": libc, "ctypes": ctypes, "socket": socket, "SYS_SOCKET": SYS_SOCKET})
            code = 0
        except OSError as e:
            code = e.errno or 100
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


@pytest.mark.parametrize(
    ("family", "kind"),
    [
        (socket.AF_VSOCK, socket.SOCK_STREAM),
        (socket.AF_NETLINK, socket.SOCK_RAW),
        (socket.AF_NETLINK, socket.SOCK_DGRAM),
        (socket.AF_PACKET, socket.SOCK_RAW),
        (socket.AF_ALG, socket.SOCK_SEQPACKET),
        (socket.AF_UNSPEC, socket.SOCK_STREAM),
    ],
)
def test_other_families_are_refused(family: int, kind: int) -> None:
    assert _errno_in_child(f"socket.socket({family}, {kind}).close()") == errno.EAFNOSUPPORT


@pytest.mark.parametrize("family", [socket.AF_VSOCK, socket.AF_NETLINK, socket.AF_PACKET])
def test_socketpair_is_checked_too(family: int) -> None:
    """Without the filter the kernel says EOPNOTSUPP (no pairs of those): the filter answers first."""
    assert _errno_in_child(f"socket.socketpair({family}, socket.SOCK_STREAM)") == errno.EAFNOSUPPORT


@pytest.mark.parametrize(
    "probe",
    [
        "socket.socket(socket.AF_UNIX, socket.SOCK_STREAM).close()",
        "socket.socket(socket.AF_INET, socket.SOCK_STREAM).close()",
        "socket.socket(socket.AF_INET, socket.SOCK_DGRAM).close()",
        "socket.socket(socket.AF_INET6, socket.SOCK_STREAM).close()",
        "[s.close() for s in socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)]",
        "socket.getaddrinfo('localhost', 80, flags=socket.AI_ADDRCONFIG)",
    ],
)
def test_unix_inet_and_inet6_still_work(probe: str) -> None:
    assert _errno_in_child(probe) == 0


def test_the_high_bits_of_the_domain_do_not_slip_a_family_past() -> None:
    """The kernel reads the domain as an int (its low 32 bits), and so does the filter."""
    probe = (
        "import os\n"
        "libc.syscall.restype = ctypes.c_long\n"
        "fd = libc.syscall(ctypes.c_long(SYS_SOCKET[os.uname().machine]), ctypes.c_long((1 << 32) | 40),"
        " ctypes.c_long(1), ctypes.c_long(0))\n"
        "if fd < 0: raise OSError(ctypes.get_errno(), 'socket')\n"
    )
    assert _errno_in_child(probe) == errno.EAFNOSUPPORT
