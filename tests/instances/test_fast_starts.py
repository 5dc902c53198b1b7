"""Zygote forks, SnapStart templates and provisioned instances, end to end through InstanceManager."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import re
import signal
import socket
from collections.abc import Callable
from pathlib import Path

import pytest

from nimbus.instances import InstanceManager
from nimbus.instances.environment import launch_command, runtime_prefix
from nimbus.instances.process import LaunchCommand
from nimbus.instances.rlimits import RlimitRecord
from nimbus.instances.zygote import ZygoteLauncher
from nimbus.logs.sink import MemorySink
from nimbus.protocol import zygote as zygote_messages
from nimbus.runtimes.registry import available_runtimes, resolve_runtime

from .test_manager import SANDBOXED, ParkedClock, make_spec, messages, request, run

pytestmark = pytest.mark.skipif(not SANDBOXED, reason="zygote and SnapStart need namespaces")

SNAP_APP = """
import os, random
from snapshot_restore_py import register_before_snapshot, register_after_restore
EVENTS = []
SEED_DRAW = random.random()

@register_before_snapshot
def before_a():
    EVENTS.append("before_a")

@register_before_snapshot
def before_b():
    EVENTS.append("before_b")

def after(tag):
    EVENTS.append("after:" + tag)

register_after_restore(after, "x")

def handler(event, context):
    import time
    time.sleep(event.get("sleep", 0))
    return {"events": EVENTS, "r": random.random(), "type": os.environ["AWS_LAMBDA_INITIALIZATION_TYPE"]}
"""


def _payload(result: object) -> dict[str, object]:
    return json.loads(result.payload)  # type: ignore[attr-defined, no-any-return]


def test_zygote_is_the_default_launcher_and_forks(code: Callable[..., Path]) -> None:
    spec = make_spec(code(app="def handler(e, c):\n    return 7\n"))

    async def body(manager: InstanceManager, sink: MemorySink) -> None:
        launcher = manager._launcher
        assert isinstance(launcher, ZygoteLauncher)
        assert (await manager.invoke(spec, request(1))).payload == b"7"
        assert launcher.forks == 1
        assert launcher.fallbacks == 0

    run(body)


def test_a_forked_instance_imports_the_stdlib_of_an_interpreter_under_a_home_dir(
    code: Callable[..., Path],
) -> None:
    """pyenv's interpreters live under /root or /home, which no sandbox shows: the packages the zygote imported
    before the fork (importlib, email, ...) must find their submodules at /var/lang (boto3 imports
    importlib.metadata)."""
    shown = ("/usr/", "/bin/", "/lib", "/sbin/", "/opt/")
    hidden = [name for name, path in sorted(available_runtimes().items())
              if name.startswith("python") and not str(runtime_prefix(path)).startswith(shown)]  # fmt: skip
    if not hidden:
        pytest.skip("every Python runtime here lives where a sandbox shows it (no pyenv-style interpreter)")
    app = code(app="import importlib.metadata, email.mime.text\ndef handler(e, c):\n    return importlib.__path__\n")
    spec = make_spec(app, runtime=hidden[0])

    async def body(manager: InstanceManager, sink: MemorySink) -> None:
        result = await manager.invoke(spec, request(1))
        assert json.loads(result.payload) == ["/var/lang/lib/" + hidden[0] + "/importlib"], result.payload
        launcher = manager._launcher
        assert isinstance(launcher, ZygoteLauncher)
        assert launcher.forks == 1

    run(body)


def test_spawn_fallback_when_the_zygote_dies(code: Callable[..., Path]) -> None:
    app = code(app="def handler(e, c):\n    return 1\n")

    async def body(manager: InstanceManager, sink: MemorySink) -> None:
        launcher = manager._launcher
        assert isinstance(launcher, ZygoteLauncher)
        first = make_spec(app, name="a")
        assert (await manager.invoke(first, request(1))).payload == b"1"
        (zygote,) = launcher._zygotes.values()
        os.kill(zygote.pid, signal.SIGKILL)
        assert zygote.exited is not None
        await asyncio.wait_for(asyncio.shield(zygote.exited), 5)
        # the next cold start still works (spawned), and a new zygote starts in the background
        assert (await manager.invoke(make_spec(app, name="b"), request(2))).payload == b"1"
        assert launcher.fallbacks == 1
        for _ in range(100):
            new = list(launcher._zygotes.values())
            if new and new[0].alive and new[0] is not zygote:
                break
            await asyncio.sleep(0.05)
        assert (await manager.invoke(make_spec(app, name="c"), request(3))).payload == b"1"
        assert launcher.fallbacks == 1  # "c" came from the new zygote (a fork, or one of its spares)
        assert launcher.forks + launcher.spares_used == 2
        # the instance forked by the dead zygote still serves (re-parented to us)
        assert (await manager.invoke(first, request(4))).payload == b"1"

    run(body)


PROBE_APP = """
import os, socket

def _status(key):
    for line in open("/proc/self/status"):
        if line.startswith(key + ":"):
            return line.split(":", 1)[1].strip()

def handler(event, context):
    try:
        open("/written", "w")
        root_writable = True
    except OSError:
        root_writable = False
    tmp = os.statvfs("/tmp")
    return {
        "root": sorted(os.listdir("/")),
        "var": sorted(os.listdir("/var")),
        "task": sorted(os.listdir("/var/task")),
        "opt": sorted(os.listdir("/opt")),
        "ids": [os.getuid(), os.getgid(), os.getpid()],
        # a spare copies its pages in the idle scheduling class: its function runs in the normal one, as does pid 1
        "sched": [os.sched_getscheduler(0), os.sched_getscheduler(1)],
        "caps": [_status(k) for k in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb")],
        "seccomp": [_status("Seccomp"), _status("NoNewPrivs")],
        # a restored instance's /tmp and /proc cover its template's (which its user namespace cannot unmount)
        "mounts": sorted({line.split()[4] for line in open("/proc/self/mountinfo")}),
        "processes": sorted(int(p) for p in os.listdir("/proc") if p.isdigit()),
        "tmp_mb": tmp.f_blocks * tmp.f_frsize // (1 << 20),
        "root_writable": root_writable,
        "hostname": socket.gethostname(),
        "cwd": os.getcwd(),
        # not socket.if_nameindex(): it needs a netlink socket, which the seccomp filter refuses
        "ifaces": sorted(line.split(":")[0].strip() for line in open("/proc/net/dev").readlines()[2:]),
        "env": {k: os.environ.get(k) for k in ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "LAMBDA_TASK_ROOT", "PATH")}
        | {k: v for k, v in os.environ.items() if k.startswith("_NIMBUS")},  # none: taken out before function code
    }
"""


async def _wait_spares(launcher: ZygoteLauncher, want: int = 1) -> None:
    for _ in range(200):
        if sum(launcher.spares_ready(i) for i in launcher._zygotes) >= want:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("no spare became ready")


@pytest.mark.parametrize("network", ["host", "none"])
def test_a_spare_makes_the_same_sandbox_as_a_fork(code: Callable[..., Path], network: str) -> None:
    """What a function sees from an instance made of a spare equals what it sees from a freshly forked one, and
    from one restored from a SnapStart template (its own pid and mount namespaces, its own /tmp: but for the
    template's /tmp and /proc under its own, the same mounts)."""
    spec = make_spec(
        code({"lib/data.txt": "x"}, app=PROBE_APP), memory_mb=512, ephemeral_storage_mb=600, network=network
    )
    seen: dict[str, object] = {}

    async def from_spare(manager: InstanceManager, sink: MemorySink) -> None:
        launcher = manager._launcher
        assert isinstance(launcher, ZygoteLauncher)
        assert (await manager.invoke(make_spec(spec.code_dir, name="warm"), request(0))).function_error is None
        await _wait_spares(launcher)
        used = launcher.spares_used
        result = await manager.invoke(spec, request(1))
        assert result.function_error is None, result.payload
        assert launcher.spares_used == used + 1
        (instance,) = [i for i in manager._instances if i.spec.name == "fn"]
        cgroup = instance.handle.cgroup
        if cgroup is not None and not isinstance(cgroup, RlimitRecord):  # the function's limit, not the spare's
            assert cgroup.memory_mb == 512
            limit = "memory.max" if cgroup.layout.mode == "v2" else "memory.limit_in_bytes"
            assert (cgroup._memory / limit).read_text().strip() == str(512 << 20)
        seen["spare"] = _payload(result)

    async def from_fork(manager: InstanceManager, sink: MemorySink) -> None:
        launcher = manager._launcher
        assert isinstance(launcher, ZygoteLauncher)
        result = await manager.invoke(spec, request(1))
        assert result.function_error is None, result.payload
        assert launcher.spares_used == 0
        assert launcher.forks == 1
        seen["fork"] = _payload(result)

    async def from_restore(manager: InstanceManager, sink: MemorySink) -> None:
        result = await manager.invoke(dataclasses.replace(spec, version="1", snap_start=True), request(1))
        assert result.function_error is None, result.payload
        assert manager.function_statistics("fn").restores == 0  # this request made the template: it waited for init
        seen["restore"] = _payload(result)

    run(from_spare)
    run(from_fork, spare_instances=0)
    run(from_restore)
    assert seen["spare"] == seen["fork"] == seen["restore"]
    probe = seen["spare"]
    assert isinstance(probe, dict)
    assert ".host" not in probe["root"]
    assert probe["task"] == ["app.py", "lib"]
    assert probe["ids"] == [993, 990, 2]
    assert probe["processes"] == [1, 2]
    assert probe["sched"] == [os.SCHED_OTHER, os.SCHED_OTHER]
    assert probe["caps"] == ["0000000000000000"] * 5
    assert probe["seccomp"] == ["2", "1"]
    assert probe["root_writable"] is False
    assert probe["tmp_mb"] == 600
    assert probe["ifaces"] == ["lo"] if network == "none" else len(probe["ifaces"]) > 1


def test_snapstart_hooks_restore_duration_and_reseeding(code: Callable[..., Path]) -> None:
    spec = make_spec(code(app=SNAP_APP), version="1", snap_start=True)
    slow = json.dumps({"sleep": 0.3}).encode()

    async def body(manager: InstanceManager, sink: MemorySink) -> None:
        results = [_payload(await manager.invoke(spec, request(0)))]
        busy = await asyncio.gather(*(manager.invoke(spec, request(n, slow)) for n in (1, 2)))
        results += [_payload(r) for r in busy]
        for r in results:
            # before hooks ran once, in reverse order, in the template; after hooks in each restored instance
            assert r["events"] == ["before_b", "before_a", "after:x"]
            assert r["type"] == "snap-start"
        assert len({r["r"] for r in results}) == 3  # reseeded after restore
        stats = manager.function_statistics("fn")
        assert stats.restores >= 1
        assert stats.cold_starts == 1

    sink = run(body)
    reports = [m for m in messages(sink) if m.startswith("REPORT")]
    assert "Init Duration" in reports[0]
    assert "Restore Duration" not in reports[0]
    restored = [m for m in reports if "Restore Duration" in m]
    assert restored
    assert all("Init Duration" not in m for m in restored)
    assert re.search(r"Restore Duration: [\d.]+ ms\tBilled Restore Duration: \d+ ms", restored[0])


TMP_APP = """
import os, time
os.makedirs("/tmp/d", exist_ok=True)
with open("/tmp/d/x", "w") as f:  # made during init: in the snapshot
    f.write("init")
os.symlink("d/x", "/tmp/link")

def handler(event, context):
    before = open("/tmp/link").read()
    with open("/tmp/d/x", "w") as f:
        f.write(context.aws_request_id)
    time.sleep(event.get("sleep", 0))
    return {"before": before, "after": open("/tmp/d/x").read(), "id": context.aws_request_id,
            "processes": sorted(int(p) for p in os.listdir("/proc") if p.isdigit())}
"""


def test_restored_instances_have_their_own_tmp_and_processes(code: Callable[..., Path]) -> None:
    """Concurrent restored instances of one version each start from the template's /tmp as it was at snapshot time,
    write /tmp/d/x without colliding, and see no process but their own (pid 1 and the runtime)."""
    spec = make_spec(code(app=TMP_APP), version="1", snap_start=True)
    slow = json.dumps({"sleep": 0.5}).encode()

    async def body(manager: InstanceManager, sink: MemorySink) -> None:
        first = _payload(await manager.invoke(spec, request(0)))  # makes the template, then its first restore
        assert first["before"] == "init"
        busy = [_payload(r) for r in await asyncio.gather(*(manager.invoke(spec, request(n, slow)) for n in (1, 2)))]
        for r in [first, *busy]:
            assert r["after"] == r["id"]  # nobody else wrote it meanwhile
            assert r["processes"] == [1, 2]
        # the instance the first request left idle took one; the other is a new restore, from the snapshot's /tmp
        assert sorted(r["before"] for r in busy) == sorted(["init", first["id"]])
        assert manager.function_statistics("fn").restores >= 1

    run(body)


def test_snapstart_hook_errors(code: Callable[..., Path]) -> None:
    before = "from snapshot_restore_py import register_before_snapshot\n"
    before += "register_before_snapshot(lambda: 1 / 0)\ndef handler(e, c):\n    return 1\n"
    spec = make_spec(code(app=before), version="1", snap_start=True)

    async def body(manager: InstanceManager, sink: MemorySink) -> None:
        result = await manager.invoke(spec, request(0))
        assert result.function_error == "Unhandled"
        assert _payload(result)["errorType"] == "Runtime.BeforeSnapshotError"

    run(body)


def test_snapstart_with_the_package_bundled(code: Callable[..., Path]) -> None:
    bundled = Path(__import__("snapshot_restore_py").__file__).read_text()
    after = "from snapshot_restore_py import register_after_restore\n"
    after += "@register_after_restore\ndef boom():\n    raise ValueError('no')\ndef handler(e, c):\n    return 1\n"
    spec = make_spec(code({"snapshot_restore_py.py": bundled}, app=after), version="1", snap_start=True)

    async def body(manager: InstanceManager, sink: MemorySink) -> None:
        result = await manager.invoke(spec, request(0))
        assert _payload(result)["errorType"] == "Runtime.AfterRestoreError"

    run(body)


def test_provisioned_instances_ready_used_first_not_reaped(code: Callable[..., Path]) -> None:
    app = "import os\ndef handler(e, c):\n    return os.environ['AWS_LAMBDA_INITIALIZATION_TYPE']\n"
    spec = make_spec(code(app=app), version="3")
    clock = ParkedClock()

    async def body(manager: InstanceManager, sink: MemorySink) -> None:
        await manager.provision(spec, 2)
        for _ in range(200):
            if manager.provisioned_ready("fn", "3") == 2:
                break
            await asyncio.sleep(0.02)
        assert manager.provisioned_ready("fn", "3") == 2
        assert manager.statistics().cold_starts == 2
        assert (await manager.invoke(spec, request(1))).payload == b'"provisioned-concurrency"'
        clock.advance(600)  # well past keep_alive
        await manager.reap(clock.monotonic())
        assert manager.provisioned_ready("fn", "3") == 2
        assert manager.statistics().cold_starts == 2  # no on-demand start: provisioned ones served
        await manager.unprovision("fn", "3")
        assert manager.provisioned_ready("fn", "3") == 0
        clock.advance(59)
        await manager.reap(clock.monotonic())
        assert manager.statistics().instances == 2  # ordinary now, idle since the unprovision...
        clock.advance(1)
        await manager.reap(clock.monotonic())
        assert manager.statistics().instances == 0  # ...and reaped after keep-alive

    run(body, clock, keep_alive=60)


def _command(app: Path) -> LaunchCommand:
    return launch_command(make_spec(app), resolve_runtime("python3.11", False), "group", "stream", sandboxed=True)


def test_a_burst_waits_for_room_at_the_zygote_instead_of_spawning(code: Callable[..., Path]) -> None:
    """More concurrent cold starts than the zygote's socket holds requests for: each waits for room there (a
    spawned sandbox instead would cost a whole interpreter start); none falls back."""
    app = code(app="import time\ndef handler(e, c):\n    time.sleep(e['sleep'])\n    return 1\n")
    burst = 80

    async def body(manager: InstanceManager, sink: MemorySink) -> None:
        launcher = manager._launcher
        assert isinstance(launcher, ZygoteLauncher)
        assert (await manager.invoke(make_spec(app, name="warm"), request(0, b'{"sleep": 0}'))).payload == b"1"
        (zygote,) = launcher._zygotes.values()
        assert zygote._sock is not None
        room = zygote._sock.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF)
        request_size = len(zygote_messages.encode_request(launcher.sandbox.plan(_command(app), None)))
        assert burst * request_size > room  # the burst does not fit at once
        spec = make_spec(app, name="burst", timeout_s=30)
        os.kill(zygote.pid, signal.SIGSTOP)  # it reads nothing for a while: its socket fills up for sure
        try:
            calls = [asyncio.ensure_future(manager.invoke(spec, request(n, b'{"sleep": 1}'))) for n in range(burst)]
            await asyncio.sleep(0.5)
        finally:
            os.kill(zygote.pid, signal.SIGCONT)
        results = await asyncio.gather(*calls)
        assert [r.payload for r in results] == [b"1"] * burst
        assert launcher.fallbacks == 0
        assert launcher.forks == burst + 1

    run(body, spare_instances=0, memory_budget_mb=burst * 128 * 2)
