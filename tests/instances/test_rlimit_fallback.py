"""The rlimit fallback, forced with `--limits-mechanism rlimit` so it is proven on any host, root included: memory
and process limits held by rlimits inside each sandbox, out-of-memory ends reported as Runtime.OutOfMemory.

As a non-root user without a delegated cgroup the server picks this path by itself (`.ci/run` runs this file that
way too); tests/sandbox/test_hostile.py's memory and fork-bomb attacks then also run against it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import NIMBUS, ROOT, Server, delete_functions, make_zip, serving
from nimbus.instances.cgroups import PIDS_MAX
from nimbus.instances.rlimits import DATA_MARGIN_MB, oom_verdict
from nimbus.runtimes.registry import node_binary
from sandbox.attacker import ATTACKER
from sandbox.support import call, needs_namespaces

pytestmark = needs_namespaces

ROLE = "arn:aws:iam::000000000000:role/lambda-role"

HOG = r"""
import os, resource

held = []

def handler(event, context):
    what = event["do"]
    if what == "allocate":  # in touched 1 MB steps, as a growing data set
        hog = [bytearray(1 << 20) for _ in range(event["mb"])]
        return len(hog)
    if what == "allocate_once":
        return len(bytearray(event["mb"] << 20))
    if what == "fork_bomb":  # the hostile suite's own fork bomb, shipped beside this file
        import attacker
        return attacker.handler({"attack": "fork_bomb", "n": event["n"]}, context)
    if what == "hold":  # processes that stay alive, blocked, after the invocation returns
        r, w = os.pipe()
        held.append(w)
        for _ in range(event["n"]):
            if os.fork() == 0:
                os.close(w)
                os.read(r, 1)
                os._exit(0)
        os.close(r)
        return event["n"]
    if what == "exit":
        os._exit(event["code"])
    if what == "limits":
        return {"data": resource.getrlimit(resource.RLIMIT_DATA), "nproc": resource.getrlimit(resource.RLIMIT_NPROC)}
    raise ValueError(what)
"""

INIT_HOG = "hog = [bytearray(1 << 20) for _ in range(400)]\n\ndef handler(event, context):\n    return len(hog)\n"

NODE_HOG = """
exports.handler = async (event) => {
  const hog = [];
  for (let i = 0; i < event.mb; i++) hog.push(Buffer.alloc(1 << 20, 1));
  return hog.length;
};
"""


@pytest.fixture(scope="module")
def rserver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    yield from serving(tmp_path_factory, "rlimit", "--limits-mechanism", "rlimit")


@pytest.fixture
def rlam(rserver: Server) -> Any:
    return rserver.client("lambda")


@pytest.fixture
def function(rlam: Any, request: pytest.FixtureRequest) -> Iterator[Callable[..., str]]:
    """Create a function on the rlimit server (Python HOG unless told); all deleted at test end."""
    created: list[str] = []

    def create(files: dict[str, str | bytes] | None = None, **kwargs: Any) -> str:
        name = f"r-{request.node.name[:40]}-{len(created)}".replace("_", "-").replace("[", "-").replace("]", "")
        kwargs.setdefault("Runtime", "python3.11")
        kwargs.setdefault("Handler", "app.handler")
        kwargs.setdefault("MemorySize", 128)
        kwargs.setdefault("Timeout", 30)
        code = make_zip(files or {"app.py": HOG, "attacker.py": ATTACKER})
        rlam.create_function(FunctionName=name, Role=ROLE, Code={"ZipFile": code}, **kwargs)
        created.append(name)
        return name

    yield create
    delete_functions(rlam, created)


def assert_out_of_memory(outcome: tuple[str | None, Any], how: str = "signal: killed") -> None:
    err, out = outcome
    assert err == "Unhandled", out
    assert out["errorType"] == "Runtime.OutOfMemory", out
    assert out["errorMessage"].endswith(f"Error: Runtime exited with error: {how}"), out


def test_the_sandbox_runtime_gets_the_rlimits(rlam: Any, function: Callable[..., str]) -> None:
    for memory_mb in (128, 512):  # the second takes a spare made for 128 MB: its limits come with the assignment
        name = function(MemorySize=memory_mb)
        err, out = call(rlam, name, {"do": "limits"})
        assert err is None, out
        data = (memory_mb + DATA_MARGIN_MB) << 20
        assert out == {"data": [data, data], "nproc": [PIDS_MAX, PIDS_MAX]}


def test_memory_at_and_past_the_limit(rlam: Any, function: Callable[..., str]) -> None:
    name = function(MemorySize=128)
    assert call(rlam, name, {"do": "allocate", "mb": 128 - 40}) == (None, 88)  # what a 128 MB cgroup also allows
    assert_out_of_memory(call(rlam, name, {"do": "allocate", "mb": 128 + DATA_MARGIN_MB}))
    assert call(rlam, name, {"do": "allocate", "mb": 20}) == (None, 20)  # a fresh instance
    assert_out_of_memory(call(rlam, name, {"do": "allocate", "mb": 300}))
    assert call(rlam, name, {"do": "allocate", "mb": 20}) == (None, 20)


def test_one_huge_allocation_is_out_of_memory(rlam: Any, function: Callable[..., str]) -> None:
    """It fails at once, at a small resident size: the bootstrap's own kill on MemoryError tells it apart."""
    name = function(MemorySize=128)
    assert call(rlam, name, {"do": "allocate_once", "mb": 64}) == (None, 64 << 20)
    assert_out_of_memory(call(rlam, name, {"do": "allocate_once", "mb": 4096}))


def test_out_of_memory_during_init(rlam: Any, function: Callable[..., str]) -> None:
    name = function({"app.py": INIT_HOG}, MemorySize=128)
    assert_out_of_memory(call(rlam, name, {}))


def test_a_crash_well_below_the_limit_is_an_exit_error(rlam: Any, function: Callable[..., str]) -> None:
    name = function(MemorySize=128)
    err, out = call(rlam, name, {"do": "exit", "code": 3})
    assert err == "Unhandled"
    assert out["errorType"] == "Runtime.ExitError"
    assert out["errorMessage"].endswith("Runtime exited with error: exit status 3")


def test_node_heap_past_the_limit_is_out_of_memory(rlam: Any, function: Callable[..., str]) -> None:
    node = node_binary()
    if node is None:
        pytest.skip("node is not installed")
    name = function({"index.js": NODE_HOG}, Runtime=f"nodejs{node[1]}.x", Handler="index.handler", MemorySize=128)
    assert call(rlam, name, {"mb": 40}) == (None, 40)
    assert_out_of_memory(call(rlam, name, {"mb": 400}), "signal: aborted")  # V8 aborts when an allocation fails
    assert call(rlam, name, {"mb": 40}) == (None, 40)


def tasks_of_uid(uid: int) -> int:
    """Processes and threads the host runs under `uid` (RLIMIT_NPROC counts threads too)."""
    count = 0
    for status in Path("/proc").glob("[0-9]*/status"):
        with contextlib.suppress(OSError):
            fields = dict(line.split(":", 1) for line in status.read_text().splitlines() if ":" in line)
            if int(fields["Uid"].split()[0]) == uid:
                count += int(fields["Threads"])
    return count


def test_fork_bomb_stays_inside(rlam: Any, rserver: Server, function: Callable[..., str]) -> None:
    name = function(MemorySize=1024)
    # as root every sandbox of the host (any server's) counts toward uid 993's limit: those already there
    others = tasks_of_uid(993) if os.geteuid() == 0 else 0
    err, out = call(rlam, name, {"do": "fork_bomb", "n": 3000})
    assert err is None, out
    assert out["errno"] == 11  # EAGAIN
    assert min(900, PIDS_MAX - others - 100) <= out["forked"] < PIDS_MAX
    assert rserver.process.poll() is None
    assert call(rlam, name, {"do": "fork_bomb", "n": 10}) == (None, {"forked": 10, "errno": None})


def test_processes_are_counted_per_sandbox_in_a_user_namespace(rlam: Any, function: Callable[..., str]) -> None:
    """A non-root server's sandboxes each count only their own processes (a user namespace each); a root server's
    share uid 993's count across the host (documented in rlimits.py: root servers use cgroups)."""
    holder, bomber = function(), function()
    assert call(rlam, holder, {"do": "hold", "n": 600}) == (None, 600)
    err, out = call(rlam, bomber, {"do": "fork_bomb", "n": 3000})
    assert err is None, out
    assert out["errno"] == 11
    if os.geteuid() == 0:
        assert out["forked"] < PIDS_MAX - 600
    else:
        assert 900 <= out["forked"] < PIDS_MAX


def test_doctor_names_the_rlimit_mechanism() -> None:
    done = subprocess.run([*NIMBUS, "doctor", "--limits-mechanism", "rlimit"], capture_output=True, text=True,
                          cwd=ROOT, timeout=60)  # fmt: skip
    assert done.returncode == 1  # weaker than full: no cgroups
    lines = done.stdout.splitlines()
    assert any(line.startswith("  [rlimit] memory limit = MemorySize") for line in lines), lines
    assert any(line.startswith(f"  [rlimit] pids limit = {PIDS_MAX}") for line in lines), lines
    assert any(line.startswith("  [NOT ENFORCED] cpu weight") for line in lines), lines
    assert "limits: rlimit" in lines[0]


def test_an_unknown_mechanism_is_refused(tmp_path: Path) -> None:
    done = subprocess.run([*NIMBUS, "serve", "--port", "0", "--data-dir", str(tmp_path), "--limits-mechanism",
                           "magic"], capture_output=True, text=True, cwd=ROOT, timeout=60)  # fmt: skip
    assert done.returncode == 2
    assert "limits_mechanism must be auto, cgroup or rlimit" in done.stderr


@pytest.mark.parametrize(
    ("status", "max_rss_mb", "oom"),
    [
        (signal.SIGKILL, 20, True),  # the Python bootstrap's own kill on MemoryError, whatever the size
        (signal.SIGABRT, 128, True),  # Node.js: V8 aborts, at the limit
        (signal.SIGABRT, 127, False),  # one MB below MemorySize: an ordinary abort
        (signal.SIGSEGV, 200, True),
        (3 << 8, 128, True),  # exit status 3 at the limit (a runtime that exits on a failed allocation)
        (3 << 8, 40, False),
        (0, 500, False),  # a clean exit is never out of memory
        (signal.SIGTERM, 500, False),
    ],
)
def test_oom_verdict(status: int, max_rss_mb: int, oom: bool) -> None:
    assert oom_verdict(status, max_rss_mb * 1024, 128) is oom

