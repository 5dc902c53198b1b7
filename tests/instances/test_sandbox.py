"""Sandbox pieces in isolation: the seccomp program, the mount plan, cgroup weights, detection."""

from __future__ import annotations

import ctypes
import errno
import os
from pathlib import Path

import pytest

from nimbus.instances import sandbox, seccomp
from nimbus.instances.cgroups import cpu_weight_v1, cpu_weight_v2
from nimbus.instances.environment import runtime_prefix
from nimbus.instances.isolation import detect
from nimbus.instances.process import SandboxSpec
from nimbus.instances.sandbox import mount_plan, system_mounts
from nimbus.runtimes.registry import available_runtimes


def in_child(check: str, templates: tuple[bool | bytes, ...] = (False,)) -> int:
    """Load the filters (the template's variant where True, a program's bytes as given, stacked in order) in a
    forked child, run `check` there; returns the child's exit code."""
    pid = os.fork()
    if pid == 0:  # pragma: no cover - child
        try:
            for template in templates:
                if isinstance(template, bytes):
                    seccomp.install(raw=template)
                else:
                    seccomp.install(template=template)
            libc = ctypes.CDLL(None, use_errno=True)
            ok = eval(check, {"libc": libc, "ctypes": ctypes, "os": os, "errno": errno, "seccomp": seccomp})
            os._exit(0 if ok else 1)
        except BaseException:
            os._exit(2)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


@pytest.mark.parametrize("machine", ["x86_64", "aarch64"])
@pytest.mark.parametrize("template", [False, True])
def test_program_is_well_formed(machine: str, template: bool) -> None:
    program = seccomp.build_filter(machine, template)
    assert program[-4:][0] == (0x06, 0, 0, seccomp.RET_ALLOW)
    assert len(seccomp.program_bytes(machine, template)) == 8 * len(program)
    for pc, (code, jt, jf, _) in enumerate(program):
        if code in (0x15, 0x35, 0x45):
            assert pc + 1 + max(jt, jf) < len(program)


@pytest.mark.skipif(not detect().seccomp, reason="needs seccomp filters on a supported architecture")
@pytest.mark.parametrize(
    ("check", "expected"),
    [
        ("libc.unshare(0x20000) == -1 and ctypes.get_errno() == errno.EPERM", 0),
        ("libc.mount(b'none', b'/mnt', b'tmpfs', 0, None) == -1 and ctypes.get_errno() == errno.EPERM", 0),
        ("libc.syscall(56, 0x10000000 | 17, 0, 0, 0, 0) == -1 and ctypes.get_errno() == errno.EPERM", 0),
        ("libc.syscall(435, 0, 0) == -1 and ctypes.get_errno() == errno.ENOSYS", 0),
        ("(lambda p: p == 0 and os._exit(0) or os.waitpid(p, 0)[1] == 0)(os.fork())", 0),  # plain fork works
        ("open('/proc/self/status').read().count('Seccomp:\\t2') == 1", 0),
    ],
)
def test_filter_refuses_what_functions_never_need(check: str, expected: int) -> None:
    assert in_child(check) == expected


@pytest.mark.skipif(not detect().seccomp, reason="needs seccomp filters on a supported architecture")
@pytest.mark.parametrize(
    ("check", "templates"),
    [
        # a SnapStart template may unshare exactly a restored instance's namespaces (a user namespace with them)
        ("libc.unshare(seccomp.RESTORE_NAMESPACES) == 0", (True,)),
        ("libc.unshare(0x20000) == -1 and ctypes.get_errno() == errno.EPERM", (True,)),
        ("libc.unshare(seccomp.RESTORE_NAMESPACES | 0x40000000) == -1 and ctypes.get_errno() == errno.EPERM", (True,)),
        ("libc.setns(0, 0) == -1 and ctypes.get_errno() == errno.EPERM", (True,)),
        ("libc.syscall(56, 0x10000000 | 17, 0, 0, 0, 0) == -1 and ctypes.get_errno() == errno.EPERM", (True,)),
        # a restored runtime stacks the ordinary filter on it: neither unshare nor mount any more
        ("libc.unshare(seccomp.RESTORE_NAMESPACES) == -1 and ctypes.get_errno() == errno.EPERM", (True, False)),
        (
            "libc.mount(b'none', b'/mnt', b'tmpfs', 0, None) == -1 and ctypes.get_errno() == errno.EPERM",
            (True, False),
        ),
    ],
)
def test_the_template_filter_allows_only_a_restored_instances_namespaces(
    check: str, templates: tuple[bool, ...]
) -> None:
    assert in_child(check, templates) == 0


def test_mount_plan_shows_nothing_of_homes_or_the_data_dir(tmp_path: Path) -> None:
    runtimes = available_runtimes()
    interpreter = runtimes.get("python3.12") or next(iter(runtimes.values()))
    spec = SandboxSpec(tmp_path / "code", (tmp_path / "l1", tmp_path / "l2"), runtime_prefix(interpreter), 128, 512,
                       "none")  # fmt: skip
    plan = mount_plan(spec, {"bootstrap.py": Path("/x/bootstrap.py")})
    targets = {m["dst"]: m for m in plan}
    assert targets["/var/task"]["src"] == str(tmp_path / "code")
    assert targets["/var/lang"]["src"] == str(spec.runtime_prefix)
    assert targets["/opt"] == {"kind": "overlay", "dst": "/opt", "lower": [str(tmp_path / "l2"), str(tmp_path / "l1")]}
    assert targets["/tmp"]["size_mb"] == 512
    assert not [d for d in targets if d.startswith(("/root", "/home"))]
    assert "/etc/shadow" not in targets
    assert all(not m.get("rw") or m["dst"].startswith("/dev/") for m in plan)


def test_the_system_part_of_plans_is_kept_a_moment_and_handed_out_as_new_lists(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    interpreter = next(iter(available_runtimes().values()))
    prefix, files = runtime_prefix(interpreter), {"bootstrap.py": Path("/x/bootstrap.py")}
    first, second = system_mounts(prefix, files), system_mounts(prefix, files)
    assert first == second
    assert first is not second
    assert all(a is b for a, b in zip(first, second, strict=True))  # from memory
    first.append({"kind": "dir", "dst": "/mine"})  # a caller's list is its own
    assert system_mounts(prefix, files) == second
    assert system_mounts(prefix, {"other.py": Path("/x/other.py")}) != second  # another key, built afresh
    monkeypatch.setattr(sandbox, "SYSTEM_MOUNTS_TTL_S", 0.0)
    monkeypatch.setattr(sandbox, "_system_mounts", {})
    stale = system_mounts(prefix, files)  # kept no time at all: the next call reads the host again
    again = system_mounts(prefix, files)
    assert again == stale == second
    assert all(a is not b for a, b in zip(again, stale, strict=True))


def test_cpu_weight_follows_memory_like_lambda() -> None:
    assert cpu_weight_v1(1769) == 1024
    assert cpu_weight_v1(128) == 74
    assert cpu_weight_v1(10240) > cpu_weight_v1(1769)
    assert cpu_weight_v2(1769) == 100
    assert cpu_weight_v2(128) == 7
