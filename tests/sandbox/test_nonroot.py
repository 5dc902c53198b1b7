"""What a non-root host gets, and what `nimbus doctor` says of it: the mechanism behind every limit, a delegated
cgroup v2 subtree found and prepared, rlimits where no cgroup can be had.

The cgroup v2 cases run against a tree laid out as cgroupfs lays it out (the CI machine is cgroup v1: its memory
controller is bound to a v1 hierarchy in use, so it cannot be given to a cgroup2 mount). What the kernel itself
does with the tree (moving processes, enforcing memory.max) is proven on v1 as root, and under rlimits as non-root.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import traceback
from pathlib import Path

import pytest

from nimbus.instances.cgroups import (
    SERVER_LEAF,
    CgroupLayout,
    InstanceCgroup,
    _empty_into_leaf,
    detect_layout,
    prepare,
)
from nimbus.instances.isolation import Isolation, detect
from sandbox.support import needs_root

SCOPE = "user.slice/user-1000.slice/user@1000.service/app.slice/run-r1.scope"
NONE = CgroupLayout("none", {})


def isolation(root: bool, userns: bool, cgroups: CgroupLayout = NONE) -> Isolation:
    return Isolation(linux=True, root=root, user_namespaces=userns, cgroups=cgroups, seccomp=True)


def statuses(iso: Isolation) -> dict[str, tuple[str, str]]:
    return {name.split(" ")[0] + " " + name.split(" ")[1]: (status, how) for name, status, how in iso.layers()}


def test_non_root_without_cgroups_holds_limits_with_rlimits() -> None:
    iso = isolation(root=False, userns=True)
    assert iso.limits == "rlimit"
    layers = statuses(iso)
    assert layers["memory limit"][0] == "rlimit"
    assert "RLIMIT_DATA = MemorySize + 64 MB per process" in layers["memory limit"][1]
    assert layers["pids limit"] == ("rlimit", "RLIMIT_NPROC = 1024, counted per sandbox, in its user namespace")
    # it used to say "[enforced] cpu weight proportional to memory (none)"
    assert layers["cpu weight"][0] == "NOT ENFORCED"
    assert sum("held by an rlimit in each sandbox" in w for w in iso.warnings()) == 2
    assert not iso.full


def test_unsandboxed_enforces_no_limit() -> None:
    iso = isolation(root=False, userns=False)
    assert iso.limits == "none"
    for name in ("memory limit", "pids limit", "cpu weight"):
        assert statuses(iso)[name][0] == "NOT ENFORCED"


def test_cgroup_layers_name_their_version_and_files() -> None:
    v1 = CgroupLayout("v1", {"memory": Path("/m"), "pids": Path("/p")})
    layers = statuses(isolation(root=True, userns=True, cgroups=v1))
    assert layers["memory limit"] == ("cgroup v1", "memory.limit_in_bytes, no swap")
    assert layers["pids limit"] == ("cgroup v1", "pids.max")
    assert layers["cpu weight"] == ("NOT ENFORCED", "the cgroup has no cpu controller")
    v2 = CgroupLayout("v2", {"": Path("/x")}, ("cpu", "memory", "pids"), delegated=True)
    layers = statuses(isolation(root=False, userns=True, cgroups=v2))
    assert layers["memory limit"] == ("cgroup v2 delegated", "memory.max, memory.swap.max = 0")
    assert layers["cpu weight"] == ("cgroup v2 delegated", "cpu.weight")


def test_this_host_matches_its_user() -> None:
    iso = detect()
    if not iso.namespaces:  # no sandbox at all (a kernel that refuses unprivileged user namespaces)
        assert (iso.limits, detect("rlimit").limits) == ("none", "none")
        return
    if os.geteuid() == 0:
        assert iso.limits.startswith("cgroup"), "CI runs as root on a host with cgroups"
    else:
        assert iso.limits in ("rlimit", "cgroup v2 delegated")
    assert detect("rlimit").limits == "rlimit"


def test_the_cgroup_setting_refuses_a_host_without() -> None:
    if detect().limits.startswith("cgroup"):
        pytest.skip("this host gives the server a cgroup")
    with pytest.raises(ValueError, match="systemd-run --user --scope -p Delegate=yes"):
        detect("cgroup")


def _tree(tmp_path: Path, offered: str, enabled: str = "", procs: str = "") -> Path:
    """A cgroup2 mount at tmp_path with the server in SCOPE, as systemd delegates it."""
    (tmp_path / "cgroup.controllers").write_text("cpuset cpu io memory hugetlb pids rdma misc\n")
    own = tmp_path / SCOPE
    own.mkdir(parents=True)
    (own / "cgroup.controllers").write_text(offered + "\n")
    (own / "cgroup.subtree_control").write_text(enabled + "\n")
    (own / "cgroup.procs").write_text(procs)
    return own


def test_a_delegated_scope_is_found(tmp_path: Path) -> None:
    own = _tree(tmp_path, "cpu memory pids")
    layout = detect_layout(tmp_path, f"0::/{SCOPE}\n")
    assert layout == CgroupLayout("v2", {"": own / f"nimbus-{os.getpid()}"}, ("cpu", "memory", "pids"), True)
    assert layout.name == "cgroup v2 delegated"
    assert layout.describe() == "v2 delegated (cpu, memory, pids)"


def test_a_scope_without_memory_or_pids_is_not_used(tmp_path: Path) -> None:
    _tree(tmp_path, "cpu pids")
    assert detect_layout(tmp_path, f"0::/{SCOPE}\n") == NONE


def test_a_scope_whose_files_are_not_ours_is_not_used(tmp_path: Path) -> None:
    own = _tree(tmp_path, "memory pids")
    (own / "cgroup.subtree_control").unlink()  # not delegated: systemd hands over cgroup.procs and subtree_control
    assert detect_layout(tmp_path, f"0::/{SCOPE}\n") == NONE


def test_the_root_group_needs_no_leaf(tmp_path: Path) -> None:
    (tmp_path / "cgroup.controllers").write_text("cpu memory pids\n")
    (tmp_path / "cgroup.subtree_control").write_text("memory pids\n")
    (tmp_path / "cgroup.procs").write_text("1\n")
    layout = detect_layout(tmp_path, "0::/\n")
    assert (layout.mode, layout.delegated, layout.controllers) == ("v2", False, ("cpu", "memory", "pids"))


def test_prepare_gives_the_controllers_to_the_instance_groups(tmp_path: Path) -> None:
    """An emptied scope (its processes already in the leaf): controllers enabled for its children and again for
    the server's base, whose instance groups then get their limits."""
    own = _tree(tmp_path, "memory pids")
    layout = detect_layout(tmp_path, f"0::/{SCOPE}\n")
    prepare(layout)
    assert (own / "cgroup.subtree_control").read_text() == "+memory +pids"
    base = own / f"nimbus-{os.getpid()}"
    assert (base / "cgroup.subtree_control").read_text() == "+memory +pids"
    group = InstanceCgroup(layout, "i1", 256)
    assert (base / "i1" / "memory.max").read_text() == str(256 << 20)
    assert (base / "i1" / "pids.max").read_text() == "1024"
    assert group.procs_files == [str(base / "i1" / "cgroup.procs")]


def test_prepare_refuses_a_scope_it_cannot_empty(tmp_path: Path) -> None:
    """A plain file keeps its pids as a group would whose processes cannot move: the server then runs on rlimits
    (SandboxLauncher logs it) instead of failing every instance."""
    _tree(tmp_path, "memory pids", procs="4242\n")
    with pytest.raises(OSError, match="cannot empty it"):
        prepare(detect_layout(tmp_path, f"0::/{SCOPE}\n"))


def _cgroup2_mount() -> Path | None:
    for line in Path("/proc/self/mounts").read_text().splitlines():
        fields = line.split()
        if fields[2] == "cgroup2" and "rw" in fields[3].split(","):
            return Path(fields[1])
    return None


@needs_root
def test_a_delegated_group_is_emptied_into_its_leaf_by_its_own_user() -> None:
    """The kernel's side of a delegation, on this host's real cgroup2 mount (it has no controllers here: they are
    bound to v1): a group handed to a user as systemd's Delegate=yes hands it (the directory, cgroup.procs,
    cgroup.subtree_control and cgroup.threads chowned), holding a process of that user, who then moves it into
    the leaf unprivileged, as `prepare` does before enabling controllers."""
    mount = _cgroup2_mount()
    if mount is None:
        pytest.skip("no writable cgroup2 mount on this host")
    nobody = 65534
    own = mount / f"nimbus-test-delegated-{os.getpid()}"
    own.mkdir()
    sleeper = subprocess.Popen(["sleep", "60"], user=nobody, group=nobody, extra_groups=[])
    try:
        for path in (own, *(own / f for f in ("cgroup.procs", "cgroup.subtree_control", "cgroup.threads"))):
            os.chown(path, nobody, nobody)
        (own / "cgroup.procs").write_text(str(sleeper.pid))  # as a login session puts the user's processes there
        child = os.fork()
        if child == 0:  # pragma: no cover - the user's side
            try:
                os.setgroups([])
                os.setresgid(nobody, nobody, nobody)
                os.setresuid(nobody, nobody, nobody)
                _empty_into_leaf(own)
                os._exit(0)
            except BaseException:
                traceback.print_exc()
                os._exit(1)
        assert os.waitstatus_to_exitcode(os.waitpid(child, 0)[1]) == 0
        assert (own / "cgroup.procs").read_text() == ""
        assert (own / SERVER_LEAF / "cgroup.procs").read_text().split() == [str(sleeper.pid)]
        assert (own / SERVER_LEAF).stat().st_uid == nobody
    finally:
        sleeper.kill()
        sleeper.wait()
        with contextlib.suppress(OSError):
            (own / SERVER_LEAF).rmdir()
        own.rmdir()
