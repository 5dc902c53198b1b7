"""The native waiter (`instances/native/sandbox_wait.c`, built by `make install`) and the Python loops it replaces
behave the same: a sandbox's outer process and pid 1 become it once the sandbox is set up, and what the server
sees of an instance's end (exit code, signal, timeout kill, peak memory under rlimits) is the same either way."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path

import pytest

from nimbus.instances import InstanceManager
from nimbus.instances.sandbox import WAITER, native_waiter
from nimbus.instances.snapshot import ns_pid
from nimbus.instances.zygote import ZygoteLauncher
from nimbus.logs.sink import MemorySink

from .test_manager import SANDBOXED, make_spec, messages, request, run

pytestmark = pytest.mark.skipif(not SANDBOXED, reason="the waiter runs in sandboxes")

MODES = [
    pytest.param("native", marks=pytest.mark.skipif(native_waiter() is None, reason="not built (make install)")),
    "python",
]

APP = """
import os, signal, time

def handler(event, context):
    how = event["how"]
    if how == "exit":
        os._exit(3)
    if how == "signal":
        os.kill(os.getpid(), signal.SIGSEGV)
    if how == "sleep":
        time.sleep(10)
    if how == "allocate":
        block = bytearray(40 << 20)
        return len(block)
    return {"pid": os.getpid(), "processes": sorted(int(p) for p in os.listdir("/proc") if p.isdigit())}
"""


def _program(pid: int) -> str:
    """What a process runs: argv[0], or the script a Python process was started or forked with."""
    argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    return "python" if any(a.endswith(b".py") for a in argv) else argv[0].decode()


def _children(pid: int) -> list[int]:
    return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def _waiters(top: int) -> list[int]:
    """The processes of a sandbox that become the waiter: its outer process and pid 1, or only pid 1 where the
    zygote forked it straight into its own pid namespace (as real root)."""
    if ns_pid(top) == 1:
        return [top]
    (init,) = _children(top)
    return [top, init]


def _outcomes(app: Path, mode: str, **settings: object) -> list[object]:
    """What a function's callers see, in order: an answer, an exit, a signal, a timeout, then memory."""
    seen: list[object] = []

    async def body(manager: InstanceManager, sink: MemorySink) -> None:
        launcher = manager._launcher
        assert isinstance(launcher, ZygoteLauncher)
        launcher.sandbox.waiter = WAITER if mode == "native" else None
        for n, how in enumerate(("answer", "exit", "signal", "sleep", "allocate")):
            spec = make_spec(app, name=f"f{n}", timeout_s=1)
            result = await manager.invoke(spec, request(n, json.dumps({"how": how}).encode()))
            seen.append([result.function_error, json.loads(result.payload)])
            if how == "answer":
                (instance,) = [i for i in manager._instances if i.spec.name == "f0"]
                names = {_program(pid) for pid in _waiters(instance.handle.pid)}
                assert names == {"nimbus-sandbox-wait" if mode == "native" else "python"}
        reports = [m for m in messages(sink) if m.startswith("REPORT")]
        used = [int(m.split("Max Memory Used: ")[1].split()[0]) for m in reports]
        seen.append(used[-1] >= 40)  # the peak the runtime reached, from the cgroup or pid 1's report

    run(body, **settings)  # `run` checks that no process is left behind
    return seen


@pytest.mark.parametrize("limits", ["auto", "rlimit"])
def test_the_native_waiter_and_the_python_loops_behave_the_same(code: Callable[..., Path], limits: str) -> None:
    app = code(app=APP)
    outcomes = {mode: _outcomes(app, mode, limits_mechanism=limits) for mode in ("native", "python")
                if mode == "python" or native_waiter() is not None}  # fmt: skip
    python = outcomes["python"]
    assert python[0] == [None, {"pid": 2, "processes": [1, 2]}]
    assert python[1][1]["errorType"] == "Runtime.ExitError"
    assert "exit status 3" in python[1][1]["errorMessage"]
    assert "signal: segmentation fault" in python[2][1]["errorMessage"]
    assert "Task timed out after 1.00 seconds" in python[3][1]["errorMessage"]
    assert python[4][0] is None
    assert python[5] is True
    if "native" in outcomes:
        for mine, theirs in zip(outcomes["native"], python, strict=True):
            if isinstance(mine, list) and isinstance(mine[1], dict) and "errorMessage" in mine[1]:
                # request ids differ; the rest of the message is the same
                assert mine[1]["errorMessage"].split(" Error: ")[-1] == theirs[1]["errorMessage"].split(" Error: ")[-1]
                assert mine[0] == theirs[0]
            else:
                assert mine == theirs


@pytest.mark.parametrize("mode", MODES)
def test_a_spare_uses_the_same_waiter(code: Callable[..., Path], mode: str) -> None:
    """Spares (made ahead, assigned later) exec the waiter too, and serve the same."""
    app = code(app=APP)

    async def body(manager: InstanceManager, sink: MemorySink) -> None:
        launcher = manager._launcher
        assert isinstance(launcher, ZygoteLauncher)
        launcher.sandbox.waiter = WAITER if mode == "native" else None
        warm = await manager.invoke(make_spec(app, name="warm"), request(0, b'{"how": "answer"}'))
        assert warm.function_error is None
        for _ in range(100):
            if sum(launcher.spares_ready(i) for i in launcher._zygotes) and launcher.spares.level(
                next(iter(launcher._zygotes))
            ) == sum(launcher.spares_ready(i) for i in launcher._zygotes):
                break
            await asyncio.sleep(0.05)
        used = launcher.spares_used
        result = await manager.invoke(make_spec(app, name="fn"), request(1, b'{"how": "answer"}'))
        assert launcher.spares_used == used + 1
        assert json.loads(result.payload) == {"pid": 2, "processes": [1, 2]}
        (instance,) = [i for i in manager._instances if i.spec.name == "fn"]
        names = {_program(pid) for pid in _waiters(instance.handle.pid)}
        assert names == {"nimbus-sandbox-wait" if mode == "native" else "python"}

    run(body)
