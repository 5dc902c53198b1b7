"""A spare's seccomp filter in two parts (`seccomp.py`): the `setup` variant, loaded before it waits, and the closing
program stacked on it once it is set up for its function. Stacked, they must refuse exactly what the one program
refuses, call by call: proven here on every syscall number of both architectures with the arguments the programs
look at, by running the classic-BPF programs as the kernel does (the most restrictive answer of all the filters
wins), and in a real process with real syscalls."""

from __future__ import annotations

import os
import struct

import pytest

from nimbus.instances import seccomp
from nimbus.instances.isolation import detect

from .test_sandbox import in_child

#: what the programs read: (nr, arch, arg0) at offsets 0, 4 and 16 of struct seccomp_data
ARCHES = {"x86_64": seccomp.AUDIT_ARCH_X86_64, "aarch64": seccomp.AUDIT_ARCH_AARCH64}
#: first arguments the programs compare (clone's and unshare's flags, socket's family) and a few others
ARGS = (0, 0x11, seccomp.CLONE_NS_FLAGS, 0x00020000, 0x40000000, seccomp.RESTORE_NAMESPACES,
        seccomp.RESTORE_NAMESPACES | 0x40000000, *seccomp.ALLOWED_FAMILIES, 16, 40)  # fmt: skip


def run_bpf(program: list[tuple[int, int, int, int]], nr: int, arch: int, arg0: int) -> int:
    """The action a classic-BPF seccomp program returns for one syscall (the opcodes `seccomp.py` assembles)."""
    data = {0: nr, 4: arch, 16: arg0}
    acc, pc = 0, 0
    while True:
        code, jt, jf, k = program[pc]
        if code == 0x20:  # ld [k]
            acc, pc = data[k], pc + 1
        elif code == 0x06:  # ret k
            return k
        else:
            taken = {0x15: acc == k, 0x35: acc >= k, 0x45: bool(acc & k)}[code]
            pc += 1 + (jt if taken else jf)


def stacked(actions: list[int]) -> int:
    """The kernel's answer with several filters: the lowest action as a signed 32-bit number (kill first)."""
    return min(actions, key=lambda a: struct.unpack("=i", struct.pack("=I", a & 0xFFFF0000))[0])


@pytest.mark.parametrize("machine", sorted(ARCHES))
@pytest.mark.parametrize("template", [False, True])
def test_the_setup_variant_and_its_closing_program_refuse_exactly_what_the_filter_refuses(
    machine: str, template: bool
) -> None:
    whole = seccomp.build_filter(machine, template)
    setup = seccomp.build_filter(machine, setup=True)  # a spare does not know yet whether it becomes a template
    closing = seccomp.closing_program(machine, template)
    assert len(closing) < len(whole) // 3, "the part on the cold start is small"
    differ = 0
    for arch in (ARCHES[machine], seccomp.AUDIT_ARCH_X86_64 ^ seccomp.AUDIT_ARCH_AARCH64 ^ ARCHES[machine]):
        for nr in [*range(512), seccomp.X32_SYSCALL_BIT | 1]:
            for arg0 in ARGS:
                want = run_bpf(whole, nr, arch, arg0)
                assert stacked([run_bpf(setup, nr, arch, arg0), run_bpf(closing, nr, arch, arg0)]) == want
                differ += run_bpf(setup, nr, arch, arg0) != want
    assert differ, "the setup variant alone lets the set-up's calls through"


@pytest.mark.skipif(not detect().seccomp, reason="needs seccomp filters on a supported architecture")
def test_a_process_on_the_setup_variant_can_set_up_until_the_closing_program_is_stacked() -> None:
    setup, closing = seccomp.program_bytes(setup=True), seccomp.closing_bytes()
    own_net = "libc.unshare(0x40000000) == 0"  # a network namespace of its own, as a spare makes once assigned
    refused = "libc.unshare(0x40000000) == -1 and ctypes.get_errno() == errno.EPERM"
    if os.geteuid() == 0:
        assert in_child(own_net, (setup,)) == 0
    assert in_child(refused, (setup, closing)) == 0
    assert in_child("libc.syscall(429, -1, b'', -1, b'', 0) == -1 and ctypes.get_errno() == 1", (setup, closing)) == 0
    assert in_child("libc.ptrace(0, 0, 0, 0) == -1 and ctypes.get_errno() == errno.EPERM", (setup, closing)) == 0
    assert in_child("libc.syscall(435, 0, 0) == -1 and ctypes.get_errno() == errno.ENOSYS", (setup, closing)) == 0
