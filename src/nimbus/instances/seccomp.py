"""The seccomp filter every sandboxed instance runs under: a hand-assembled classic-BPF program, stdlib only.

Default allow; the syscalls a function never needs (mount, ptrace, kexec, module loading, bpf, keyrings,
namespaces, ...) fail with EPERM, `clone` with any namespace flag fails with EPERM, `clone3` (whose flags BPF
cannot see) fails with ENOSYS so libc falls back to `clone`, and a foreign syscall ABI (i386 or x32 on x86_64)
kills the process. `socket` and `socketpair` work only for the families functions need (AF_UNIX, AF_INET,
AF_INET6): every other one (vsock, which network namespaces do not isolate; netlink, packet, alg, bluetooth, ...)
fails with EAFNOSUPPORT, as on a kernel built without it, so libc's fallbacks apply (getaddrinfo's AI_ADDRCONFIG
probe then assumes both IPv4 and IPv6). Building and loading it takes well under a millisecond, with no libseccomp.

The server assembles the program once (`program_bytes`) and hands it to `sandbox_init.py` in the plan; `install`
loads it into the calling process (used by tests and `nimbus doctor`). stdlib only.

A SnapStart template runs a variant (`template=True`) that lets it give each restored instance namespaces of its
own (`runtimes/python/snapstart.py`): `unshare` with exactly `RESTORE_NAMESPACES` (a user namespace, owned by the
sandbox user, with mount, pid and IPC namespaces), and `mount` (a fresh /tmp and /proc in them; a user namespace
confines it to those). Each restored runtime then stacks the ordinary program on top, so no function code after a
restore can do either.

A spare (`spares.py`) loads its filter before it waits, not on the cold start that takes it (loading checks and
translates the program and, on each of the ~450 syscalls, works out whether it is always allowed: ~0.1-0.2 ms).
But once assigned it still mounts its function's dirs, unshares its network namespace and (under a user
namespace) detaches the host's root: so it loads the `setup` variant, which lets `SETUP_CALLS` through, and
stacks `closing_program` on it once set up, a few instructions that refuse those calls as the ordinary program
(or the template's) does. The kernel applies the most restrictive
answer of all the filters a process has, so the two together refuse exactly what the one program refuses.
"""

from __future__ import annotations

import ctypes
import errno
import os
import struct

AUDIT_ARCH_X86_64 = 0xC000003E
AUDIT_ARCH_AARCH64 = 0xC00000B7
X32_SYSCALL_BIT = 0x40000000

RET_KILL_PROCESS = 0x80000000
RET_ERRNO = 0x00050000
RET_ALLOW = 0x7FFF0000

# classic BPF opcodes
_LD_W_ABS = 0x20
_JEQ_K = 0x15
_JGE_K = 0x35
_JSET_K = 0x45
_RET_K = 0x06

# offsets in struct seccomp_data
_NR, _ARCH, _ARG0 = 0, 4, 16

#: CLONE_NEWNS | NEWCGROUP | NEWUTS | NEWIPC | NEWUSER | NEWPID | NEWNET
CLONE_NS_FLAGS = 0x00020000 | 0x02000000 | 0x04000000 | 0x08000000 | 0x10000000 | 0x20000000 | 0x40000000

#: the namespaces a SnapStart template's child unshares for a restored instance: NEWUSER | NEWNS | NEWPID | NEWIPC
RESTORE_NAMESPACES = 0x10000000 | 0x00020000 | 0x20000000 | 0x08000000

#: blocked syscalls and their numbers per architecture (x86_64, aarch64); None where the call does not exist
BLOCKED: dict[str, tuple[int | None, int | None]] = {
    "mount": (165, 40),
    "umount2": (166, 39),
    "pivot_root": (155, 41),
    "chroot": (161, 51),
    "ptrace": (101, 117),
    "process_vm_readv": (310, 270),
    "process_vm_writev": (311, 271),
    "kcmp": (312, 272),
    "pidfd_getfd": (438, 438),
    "kexec_load": (246, 104),
    "kexec_file_load": (320, 294),
    "init_module": (175, 105),
    "finit_module": (313, 273),
    "delete_module": (176, 106),
    "create_module": (174, None),
    "get_kernel_syms": (177, None),
    "query_module": (178, None),
    "bpf": (321, 280),
    "perf_event_open": (298, 241),
    "keyctl": (250, 219),
    "add_key": (248, 217),
    "request_key": (249, 218),
    "unshare": (272, 97),
    "setns": (308, 268),
    "reboot": (169, 142),
    "swapon": (167, 224),
    "swapoff": (168, 225),
    "acct": (163, 89),
    "quotactl": (179, 60),
    "quotactl_fd": (443, 443),
    "nfsservctl": (180, 42),
    "syslog": (103, 116),
    "vhangup": (153, 58),
    "uselib": (134, None),
    "iopl": (172, None),
    "ioperm": (173, None),
    "settimeofday": (164, 170),
    "clock_settime": (227, 112),
    "clock_adjtime": (305, 266),
    "adjtimex": (159, 171),
    "sethostname": (170, 161),
    "setdomainname": (171, 162),
    "lookup_dcookie": (212, 18),
    "name_to_handle_at": (303, 264),
    "open_by_handle_at": (304, 265),
    "userfaultfd": (323, 282),
    "fanotify_init": (300, 262),
    "io_uring_setup": (425, 425),
    "io_uring_enter": (426, 426),
    "io_uring_register": (427, 427),
    "open_tree": (428, 428),
    "move_mount": (429, 429),
    "fsopen": (430, 430),
    "fsconfig": (431, 431),
    "fsmount": (432, 432),
    "fspick": (433, 433),
    "mount_setattr": (442, 442),
}
_CLONE = (56, 220)
_CLONE3 = (435, 435)
_SOCKET = (41, 198)
_SOCKETPAIR = (53, 199)

#: the only address families a sandboxed process may open sockets of (the domain is socket's first argument)
AF_UNIX, AF_INET, AF_INET6 = 1, 2, 10
ALLOWED_FAMILIES = (AF_UNIX, AF_INET, AF_INET6)

_ARCHES = {"x86_64": (0, AUDIT_ARCH_X86_64), "amd64": (0, AUDIT_ARCH_X86_64), "aarch64": (1, AUDIT_ARCH_AARCH64)}

#: what a spare calls once assigned, on its `setup` variant: its function's mounts moved into place and remounted
#: (move_mount, mount), its own network namespace (unshare), and, under a user namespace (no detached mounts), the
#: host's root detached (umount2); `closing_program` refuses them again
SETUP_CALLS = ("mount", "umount2", "move_mount", "unshare")

Program = list[tuple[int, object, object, int]]


def supported_arch(machine: str | None = None) -> bool:
    return (machine or os.uname().machine).lower() in _ARCHES


def _start(audit_arch: int) -> Program:
    """Kill a foreign syscall ABI, then load the syscall's number."""
    return [
        (_LD_W_ABS, 0, 0, _ARCH),
        (_JEQ_K, 1, 0, audit_arch),
        (_RET_K, 0, 0, RET_KILL_PROCESS),
        (_LD_W_ABS, 0, 0, _NR),
    ]


def _template_unshare(unshare: int) -> Program:
    """The template's unshare: exactly a restored instance's namespaces (then allowed), else EPERM."""
    return [(_JEQ_K, 0, 2, unshare), (_LD_W_ABS, 0, 0, _ARG0), (_JEQ_K, "allow", "eperm", RESTORE_NAMESPACES)]


def build_filter(
    machine: str | None = None, template: bool = False, setup: bool = False
) -> list[tuple[int, int, int, int]]:
    """The program as (code, jt, jf, k) instructions, for this machine's architecture (`template`: the SnapStart
    template's variant; `setup`: a spare's, without `SETUP_CALLS`; see above)."""
    column, audit_arch = _ARCHES[(machine or os.uname().machine).lower()]
    # Jumps are relative and forward; targets are symbolic until the program's length is known.
    prog = _start(audit_arch)
    if audit_arch == AUDIT_ARCH_X86_64:
        prog.append((_JGE_K, "kill", 0, X32_SYSCALL_BIT))
    prog.append((_JEQ_K, "enosys", 0, _CLONE3[column]))
    prog.append((_JEQ_K, "family", 0, _SOCKET[column]))
    prog.append((_JEQ_K, "family", 0, _SOCKETPAIR[column]))
    prog.append((_JEQ_K, 0, 2, _CLONE[column]))
    prog.append((_LD_W_ABS, 0, 0, _ARG0))  # clone's flags (low 32 bits on a little-endian machine)
    prog.append((_JSET_K, "eperm", "allow", CLONE_NS_FLAGS))
    prog += _refusals(column, [name for name in BLOCKED if not (setup and name in SETUP_CALLS)], template)
    prog.append((_JEQ_K, "allow", "allow", 0))  # the rest is allowed: jump over the socket family check
    family = len(prog)
    # socket/socketpair: the domain is an int, so its low 32 bits are all the kernel looks at
    prog.append((_LD_W_ABS, 0, 0, _ARG0))
    prog += [(_JEQ_K, "allow", 0, allowed) for allowed in ALLOWED_FAMILIES]
    prog.append((_RET_K, 0, 0, RET_ERRNO | errno.EAFNOSUPPORT))
    return _resolve(prog, family)


def closing_program(machine: str | None = None, template: bool = False) -> list[tuple[int, int, int, int]]:
    """What a spare stacks on its `setup` variant once set up: `SETUP_CALLS` refused as the ordinary program (or,
    with `template`, the template's) refuses them, everything else allowed (the `setup` variant decides it)."""
    column, audit_arch = _ARCHES[(machine or os.uname().machine).lower()]
    return _resolve(_start(audit_arch) + _refusals(column, SETUP_CALLS, template))


def _refusals(column: int, names: list[str] | tuple[str, ...], template: bool) -> Program:
    """EPERM for each of `names` (those this architecture has), by number; with `template`, the template's own
    rules instead for its two: unshare of exactly a restored instance's namespaces allowed, mount allowed."""
    prog: Program = []
    unshare = BLOCKED["unshare"][column]
    if template and unshare is not None:
        prog += _template_unshare(unshare)
    for name in names:
        nr = BLOCKED[name][column]
        if nr is not None and not (template and name in ("unshare", "mount")):
            prog.append((_JEQ_K, "eperm", 0, nr))
    return prog


def _resolve(prog: Program, family: int = -1) -> list[tuple[int, int, int, int]]:
    """The program with its return instructions appended and its symbolic jump targets made relative offsets."""
    end = len(prog)
    labels = {"allow": end, "eperm": end + 1, "enosys": end + 2, "kill": end + 3, "family": family}
    prog = [
        *prog,
        (_RET_K, 0, 0, RET_ALLOW),
        (_RET_K, 0, 0, RET_ERRNO | errno.EPERM),
        (_RET_K, 0, 0, RET_ERRNO | errno.ENOSYS),
        (_RET_K, 0, 0, RET_KILL_PROCESS),
    ]
    out: list[tuple[int, int, int, int]] = []
    for pc, (code, jt, jf, k) in enumerate(prog):

        def rel(target: object, pc: int = pc) -> int:
            if isinstance(target, str):
                offset = labels[target] - pc - 1
                assert 0 <= offset < 256, "BPF jump out of range"
                return offset
            assert isinstance(target, int)
            return target

        out.append((code, rel(jt), rel(jf), k))
    return out


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


PR_SET_NO_NEW_PRIVS = 38
PR_SET_SECCOMP = 22
SECCOMP_MODE_FILTER = 2


def program_bytes(machine: str | None = None, template: bool = False, setup: bool = False) -> bytes:
    """The program as the kernel reads it: struct sock_filter {u16 code; u8 jt; u8 jf; u32 k}[]."""
    return _bytes(build_filter(machine, template, setup))


def closing_bytes(machine: str | None = None, template: bool = False) -> bytes:
    """`closing_program` as the kernel reads it."""
    return _bytes(closing_program(machine, template))


def _bytes(program: list[tuple[int, int, int, int]]) -> bytes:
    return b"".join(struct.pack("=HBBI", *insn) for insn in program)


def install(machine: str | None = None, template: bool = False, raw: bytes | None = None) -> None:
    """Set no_new_privs and load the filter (or the program `raw`) into the calling thread (inherited by every
    child); raises OSError."""
    if raw is None:
        raw = program_bytes(machine, template)
    buf = ctypes.create_string_buffer(raw, len(raw))
    fprog = _SockFprog(len(raw) // 8, ctypes.cast(buf, ctypes.c_void_p).value)
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_void_p, ctypes.c_ulong, ctypes.c_ulong]
    if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, None, 0, 0) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"prctl(NO_NEW_PRIVS): {os.strerror(err)}")
    if libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.addressof(fprog), 0, 0) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"prctl(SECCOMP): {os.strerror(err)}")
