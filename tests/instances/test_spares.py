"""The spare pool follows demand: it grows while cold starts keep coming, is made ahead of them, and shrinks back
to the setting when they stop; a spare is never handed out twice, nor dead."""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from conftest import Server, child_processes, make_zip, start_server
from nimbus.instances import InstanceManager, spares
from nimbus.instances.environment import runtime_prefix
from nimbus.instances.zygote import ZygoteLauncher
from nimbus.logs.sink import MemorySink
from nimbus.runtimes.registry import available_runtimes, resolve_runtime

from .test_manager import SANDBOXED, make_spec, request, run

pytestmark = pytest.mark.skipif(not SANDBOXED, reason="spares need namespaces")

APP = "def handler(e, c):\n    return 1\n"
TMP_APP = """
import os, stat
def handler(e, c):
    st = os.statvfs("/tmp")
    mounts = [line.split()[4] for line in open("/proc/self/mountinfo")].count("/tmp")
    listed = os.listdir("/tmp")
    open("/tmp/x", "w").close()
    return [st.f_blocks * st.f_frsize >> 20, oct(stat.S_IMODE(os.stat("/tmp").st_mode)), listed, mounts, True]
"""
UNMOUNT_APP = """
import ctypes, os
def handler(e, c):
    libc = ctypes.CDLL(None, use_errno=True)
    return [libc.umount2(b"/var/task", 2), ctypes.get_errno(), os.path.exists("/.host")]
"""


async def _filled(launcher: ZygoteLauncher, interpreter: Path) -> int:
    """Wait until the pool holds as many ready spares as its level; that level."""
    for _ in range(400):
        level = launcher.spares.level(interpreter)
        if launcher.spares_ready(interpreter) == level:
            return level
        await asyncio.sleep(0.05)
    raise AssertionError(f"{launcher.spares_ready(interpreter)} spares ready, level {level}")


async def _after_a_cold_start(manager: InstanceManager, app: Path) -> tuple[ZygoteLauncher, Path]:
    """The launcher and its one interpreter, after a first cold start (which started the zygote)."""
    launcher = manager._launcher
    assert isinstance(launcher, ZygoteLauncher)
    assert (await manager.invoke(make_spec(app, name="a"), request(0))).payload == b"1"
    (interpreter,) = launcher._zygotes
    return launcher, interpreter


def test_the_pool_grows_with_cold_starts_and_serves_a_row_of_them(code: Callable[..., Path]) -> None:
    app = code(app=APP)

    async def body(manager: InstanceManager, sink: MemorySink) -> None:
        launcher, interpreter = await _after_a_cold_start(manager, app)
        level = await _filled(launcher, interpreter)
        assert level > launcher.spare_target == 2  # one cold start raised it
        used, forks = launcher.spares_used, launcher.forks
        # more cold starts in a row than the setting keeps: every one of them is served by a spare
        for n in range(level):
            assert (await manager.invoke(make_spec(app, name=f"b{n}"), request(n))).payload == b"1"
        assert (launcher.spares_used, launcher.forks) == (used + level, forks)
        assert launcher.spares.level(interpreter) == min(spares.SPARE_MAX, 2 * level)
        # a function about to be invoked cold (just created or updated) raises it ahead of the invoke
        before = launcher.spares.level(interpreter)
        manager.expect_cold_start("python3.11")
        manager.expect_cold_start("nodejs20.x")  # not a zygote's runtime: nothing to do
        assert launcher.spares.level(interpreter) == min(spares.SPARE_MAX, before + 1)

    run(body)  # `run` checks that no process is left behind: the spares are discarded at stop


def test_a_pool_grown_shrinks_back_when_idle_and_never_hands_out_a_dead_spare(
    code: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(spares, "SPARE_IDLE_S", 1.0)
    app = code(app=APP)

    async def body(manager: InstanceManager, sink: MemorySink) -> None:
        launcher, interpreter = await _after_a_cold_start(manager, app)
        assert await _filled(launcher, interpreter) > 2
        await asyncio.sleep(1.2)
        assert launcher.spares.level(interpreter) == 2
        assert await _filled(launcher, interpreter) == 2  # the extra spares were discarded
        # a spare that died while waiting is skipped, and the cold start still succeeds
        dead = launcher.spares._pools[interpreter].ready[0]
        dead.handle.kill()
        await dead.handle.wait()
        used = launcher.spares_used
        assert (await manager.invoke(make_spec(app, name="b"), request(1))).payload == b"1"
        assert launcher.spares_used == used + 1
        assert dead.handle not in [i.handle for i in manager._instances]

    run(body)


def test_no_spares_at_all_with_the_setting_at_zero(code: Callable[..., Path]) -> None:
    app = code(app=APP)

    async def body(manager: InstanceManager, sink: MemorySink) -> None:
        launcher = manager._launcher
        assert isinstance(launcher, ZygoteLauncher)
        for n in range(3):
            assert (await manager.invoke(make_spec(app, name=f"a{n}"), request(n))).payload == b"1"
        manager.expect_cold_start("python3.11")
        await asyncio.sleep(0.2)
        assert (launcher.spares_used, launcher.forks) == (0, 3)
        assert sum(launcher.spares_ready(i) for i in launcher._zygotes) == 0

    run(body, spare_instances=0)


def _read(path: str) -> str:
    with open(path) as f:
        return f.read()


def _descendants(pid: int) -> list[int]:
    try:
        children = [int(c) for c in _read(f"/proc/{pid}/task/{pid}/children").split()]
    except OSError:
        return []
    return children + [d for c in children for d in _descendants(c)]


def test_a_waiting_spare_is_in_the_normal_scheduling_class(code: Callable[..., Path]) -> None:
    """A spare copies its pages in the idle class (as root), but waits for its assignment in the normal one: woken
    in the idle class, its cold start would wait for every other runnable task on the machine first."""
    app = code(app=APP)

    async def body(manager: InstanceManager, sink: MemorySink) -> None:
        launcher, interpreter = await _after_a_cold_start(manager, app)
        await _filled(launcher, interpreter)
        waiting = list(launcher.spares._pools[interpreter].ready)
        assert waiting
        for spare in waiting:
            processes = [spare.handle.pid, *_descendants(spare.handle.pid)]
            # pid 1 and the runtime (blocked on its control socket); and an outer process under a user namespace
            assert len(processes) == (3 if launcher.sandbox.isolation.use_user_namespace else 2)
            assert [os.sched_getscheduler(p) for p in processes] == [os.SCHED_OTHER] * len(processes)

    run(body)


def test_refills_wait_for_a_pause_in_the_cold_starts_unless_the_pool_runs_low(
    code: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Spares made during a row of cold starts take the CPUs those cold starts need: with `SPARE_RESERVE` or more
    left, a take's replacements wait for a pause (here a long one); below it, they are made at once."""
    monkeypatch.setattr(spares, "SPARE_QUIET_S", 30.0)
    app = code(app=APP)

    async def body(manager: InstanceManager, sink: MemorySink) -> None:
        launcher, interpreter = await _after_a_cold_start(manager, app)
        for _ in range(spares.SPARE_RESERVE):  # the reserve is left after the next take
            manager.expect_cold_start("python3.11")
        pool = launcher.spares._pools[interpreter]
        level = await _filled(launcher, interpreter)
        assert level - 1 >= spares.SPARE_RESERVE
        used = launcher.spares_used
        assert (await manager.invoke(make_spec(app, name="b"), request(1))).payload == b"1"
        await asyncio.sleep(0.3)
        assert (launcher.spares_used, len(pool.ready), pool.making) == (used + 1, level - 1, 0)  # none made yet
        # take until fewer than the reserve are left: the refill starts without waiting for the pause
        n = 2
        while len(pool.ready) >= spares.SPARE_RESERVE:
            assert (await manager.invoke(make_spec(app, name=f"c{n}"), request(n))).payload == b"1"
            n += 1
        assert launcher.spares_used == used + n - 1
        assert await _filled(launcher, interpreter) == pool.level

    run(body)


def test_no_spare_is_made_while_a_burst_sets_up(code: Callable[..., Path], monkeypatch: pytest.MonkeyPatch) -> None:
    """A burst's cold starts are all forking at once: spares made meanwhile would take the CPUs they need and serve
    none of them. So a take while `SPARE_BURST_STARTING` other cold starts still initialise holds the refill back
    `SPARE_BURST_QUIET_S` (here 30 s) after the last, and a spare finished meanwhile makes no other; then the pool
    fills to its level. A row of cold starts (each waiting for the last) refills as it goes: the tests above."""
    monkeypatch.setattr(spares, "SPARE_BURST_QUIET_S", 30.0)
    app = code(app=APP)

    async def body(manager: InstanceManager, sink: MemorySink) -> None:
        launcher, interpreter = await _after_a_cold_start(manager, app)
        level = await _filled(launcher, interpreter)
        pool = launcher.spares._pools[interpreter]
        used, forks = launcher.spares_used, launcher.forks
        n = level + 4
        results = await asyncio.gather(*(manager.invoke(make_spec(app, name=f"b{i}"), request(i)) for i in range(n)))
        assert [r.payload for r in results] == [b"1"] * n
        assert (launcher.spares_used, launcher.forks) == (used + level, forks + 4)
        assert pool.level == spares.SPARE_MAX  # demand still raised it
        await asyncio.sleep(0.3)
        assert (len(pool.ready), pool.making) == (0, 0)  # none made during the burst, nor since
        assert pool.refill is not None
        assert pool.refill.when() > asyncio.get_running_loop().time() + 25
        launcher.spares.refill(interpreter)  # (as when a spare made before the burst finishes)
        assert pool.making == 0
        pool.refill.cancel()  # the burst is over: its timer's work, now
        launcher.spares._refill_due(interpreter)
        assert await _filled(launcher, interpreter) == spares.SPARE_MAX

    run(body)


def test_a_spare_of_an_interpreter_under_a_home_dir_imports_its_stdlib(code: Callable[..., Path]) -> None:
    """A spare knows its interpreter before it is taken, so its paths are remapped to /var/lang then (not on the
    cold start): a function made of one imports the stdlib's submodules as a forked one does."""
    shown = ("/usr/", "/bin/", "/lib", "/sbin/", "/opt/")
    hidden = [name for name, path in sorted(available_runtimes().items())
              if name.startswith("python") and not str(runtime_prefix(path)).startswith(shown)]  # fmt: skip
    if not hidden:
        pytest.skip("every Python runtime here lives where a sandbox shows it (no pyenv-style interpreter)")
    app = code(app="import importlib.metadata, email.mime.text, sys\n"
                   "def handler(e, c):\n    return [importlib.__path__, sys.prefix, sys.path]\n")  # fmt: skip

    async def body(manager: InstanceManager, sink: MemorySink) -> None:
        launcher = manager._launcher
        assert isinstance(launcher, ZygoteLauncher)
        seen = []
        for n in range(2):  # a fork (which starts the zygote), then a spare
            spec = make_spec(app, name=f"f{n}", runtime=hidden[0])
            seen.append(json.loads((await manager.invoke(spec, request(n))).payload))
            if n == 0:
                await _filled(launcher, next(iter(launcher._zygotes)))
        assert (launcher.forks, launcher.spares_used) == (1, 1)
        assert seen[0] == seen[1]  # sys.path too
        assert seen[1][:2] == [["/var/lang/lib/" + hidden[0] + "/importlib"], "/var/lang"]

    run(body)


LAYERS_APP = """
import os

def handler(event, context):
    found = {}
    for top, _, files in os.walk("/opt"):
        for name in files:
            path = os.path.join(top, name)
            found[path] = open(path).read()
    return {"opt": found, "mounts": sorted(line.split()[4] for line in open("/proc/self/mountinfo"))}
"""


@pytest.mark.parametrize("layers", [0, 1, 2])
def test_a_spare_mounts_code_and_layers_as_a_fork_does_and_never_shows_the_host(
    code: Callable[..., Path], layers: int
) -> None:
    """As real root, a spare gets its function's code and layers as mounts the server cloned (`detached.py`): it
    drops the host's root when it is made, so there is no /.host to detach on the cold start. Either way its
    function sees /var/task and /opt (one layer bound, two overlaid, the later one winning) as a fork's does."""
    app = code(app=LAYERS_APP)
    dirs = tuple(code({"python/shared.txt": f"layer {n}", f"python/only{n}.txt": str(n)}) for n in range(layers))
    seen = {}

    async def body(manager: InstanceManager, sink: MemorySink) -> None:
        launcher, interpreter = await _after_a_cold_start(manager, code(app=APP))
        await _filled(launcher, interpreter)
        real_root = not launcher.sandbox.isolation.use_user_namespace
        assert launcher.sandbox.detached_mounts is real_root
        for spare in launcher.spares._pools[interpreter].ready:
            runtime = _descendants(spare.handle.pid)[-1]
            points = [line.split()[4] for line in _read(f"/proc/{runtime}/mountinfo").splitlines()]
            assert ("/.host" in points) is not real_root, points
        used = launcher.spares_used
        result = await manager.invoke(make_spec(app, name="f", layer_dirs=dirs), request(1))
        assert launcher.spares_used == used + 1
        seen["spare"] = json.loads(result.payload)

    async def fork(manager: InstanceManager, sink: MemorySink) -> None:
        seen["fork"] = json.loads((await manager.invoke(make_spec(app, name="f", layer_dirs=dirs), request(1))).payload)

    run(body)
    run(fork, spare_instances=0)
    assert seen["spare"] == seen["fork"]
    want = {f"/opt/python/only{n}.txt": str(n) for n in range(layers)}
    if layers:
        want["/opt/python/shared.txt"] = f"layer {layers - 1}"
    assert seen["spare"]["opt"] == want


def test_a_spare_with_detached_mounts_binds_its_zygotes_root_template(code: Callable[..., Path]) -> None:
    """A spare whose root is sealed when made (its function's dirs come as detached mounts) binds the zygote's
    read-only root template as forks do (`sandbox_init.use_template`) instead of mounting ~40 pieces itself: the
    root of an instance made of a spare is the very file system of a forked one's."""
    app = code(app="import os\ndef handler(e, c):\n    return os.stat('/').st_dev\n")

    async def body(manager: InstanceManager, sink: MemorySink) -> None:
        launcher = manager._launcher
        assert isinstance(launcher, ZygoteLauncher)
        forked = json.loads((await manager.invoke(make_spec(app, name="a"), request(0))).payload)
        await _filled(launcher, next(iter(launcher._zygotes)))
        used = launcher.spares_used
        spared = json.loads((await manager.invoke(make_spec(app, name="b"), request(1))).payload)
        assert launcher.spares_used == used + 1
        # under a user namespace there is no template, and each has a tmpfs root of its own
        assert (spared == forked) is launcher.sandbox.detached_mounts

    run(body)


def test_a_spare_that_keeps_the_hosts_root_until_assigned_serves_a_cold_start(code: Callable[..., Path]) -> None:
    """The way an unprivileged server's spares work (no detached mounts: the host's root at /.host until assigned,
    then bound from, detached and the root sealed), forced here as root too: its seccomp filter, loaded before it
    waited, lets that set-up through (`seccomp.SETUP_CALLS`), and the filter closed after it leaves the function
    no unmount and no /.host."""
    app = code(app=UNMOUNT_APP)

    async def body(manager: InstanceManager, sink: MemorySink) -> None:
        launcher = manager._launcher
        assert isinstance(launcher, ZygoteLauncher)
        launcher.sandbox.detached_mounts = False  # before any spare is made
        launcher, interpreter = await _after_a_cold_start(manager, code(app=APP))
        await _filled(launcher, interpreter)
        used = launcher.spares_used
        result = await manager.invoke(make_spec(app, name="f"), request(1))
        assert launcher.spares_used == used + 1
        assert json.loads(result.payload) == [-1, 1, False], result.payload  # EPERM

    run(body)


def test_a_spares_tmp_is_mounted_when_it_is_made_and_resized_for_its_function(code: Callable[..., Path]) -> None:
    """A spare mounts /tmp at Lambda's default size before it waits (`protocol/spare.PREMOUNTED_TMP`): a function
    with that EphemeralStorage gets it as it is, one with another size gets it resized; either way one empty,
    writable, sticky /tmp of the function's size, as a fork's."""
    app = code(app=TMP_APP)
    seen = []

    async def body(manager: InstanceManager, sink: MemorySink) -> None:
        launcher, interpreter = await _after_a_cold_start(manager, code(app=APP))
        await _filled(launcher, interpreter)
        for spare in launcher.spares._pools[interpreter].ready:  # mounted already, as each waits
            runtime = _descendants(spare.handle.pid)[-1]
            assert "/tmp" in [line.split()[4] for line in _read(f"/proc/{runtime}/mountinfo").splitlines()]
        for n, size in enumerate((512, 1024)):
            await _filled(launcher, interpreter)
            used = launcher.spares_used
            result = await manager.invoke(make_spec(app, name=f"t{n}", ephemeral_storage_mb=size), request(n))
            assert launcher.spares_used == used + 1
            seen.append(json.loads(result.payload))

    run(body)
    assert seen == [[512, "0o1777", [], 1, True], [1024, "0o1777", [], 1, True]]


def test_a_spare_of_every_python_runtime_here_serves_a_cold_start(code: Callable[..., Path]) -> None:
    """The spare's side runs in each interpreter's zygote (python3.8 and up): each of them takes an assignment (and,
    as real root, its detached mounts) and serves."""
    app = code(app="import sys\ndef handler(e, c):\n    return list(sys.version_info[:2])\n")
    pythons = sorted(name for name in available_runtimes() if name.startswith("python"))

    async def body(manager: InstanceManager, sink: MemorySink) -> None:
        launcher = manager._launcher
        assert isinstance(launcher, ZygoteLauncher)
        for runtime in pythons:
            first = await manager.invoke(make_spec(app, name=f"{runtime}-a", runtime=runtime), request(0))
            assert first.function_error is None, first.payload
            interpreter = resolve_runtime(runtime, False).interpreter
            await _filled(launcher, interpreter)
            used = launcher.spares_used
            result = await manager.invoke(make_spec(app, name=f"{runtime}-b", runtime=runtime), request(1))
            assert (result.function_error, launcher.spares_used) == (None, used + 1), result.payload
            assert json.loads(result.payload) == json.loads(first.payload)

    run(body)


def _zygote_children(server: Server) -> int:
    """How many processes the server's Python zygote has forked and still runs (spares and instances: forks of it,
    or the native waiter they became once set up)."""
    zygotes = child_processes(server.process.pid, b"zygote_main.py")
    return sum(len(child_processes(z, b"zygote_main.py", b"nimbus-sandbox-wait")) for z in zygotes)


def _settled(server: Server) -> int:
    """How many processes the zygote has once their count holds still for a second (the pool made its level)."""
    last, since = -1, 0.0
    for _ in range(200):
        count = _zygote_children(server)
        if count == last and since >= 1.0:
            return count
        last, since = count, (since + 0.1 if count == last else 0.0)
        time.sleep(0.1)
    raise AssertionError(f"the zygote's processes never settled ({last})")


def test_functions_created_raise_the_spare_pool_ahead_of_their_first_invokes(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """A created function's first invoke is a cold start: the server raises its runtime's spare pool by one per
    create (a row of creates, then of first invokes, as `bench/cold_start.py` runs: each invoke finds a spare, none
    waits for one being made), before any invoke of them."""
    server = start_server(tmp_path_factory.mktemp("ahead") / "data")
    try:
        lam = server.client("lambda")
        role = "arn:aws:iam::000000000000:role/lambda-role"
        code = {"ZipFile": make_zip({"app.py": APP})}
        create = dict(Runtime="python3.11", Role=role, Handler="app.handler", Code=code)
        lam.create_function(FunctionName="warm", **create)
        assert lam.invoke(FunctionName="warm")["Payload"].read() == b"1"  # the zygote runs, its pool is made
        before = _settled(server)
        for n in range(6):
            lam.create_function(FunctionName=f"ahead-{n}", **create)
        for _ in range(200):  # made in the background, four at a time
            if _zygote_children(server) >= before + 6:
                break
            time.sleep(0.1)
        assert _zygote_children(server) >= before + 6, f"{before} before the creates"
        for n in range(6):
            assert lam.invoke(FunctionName=f"ahead-{n}")["Payload"].read() == b"1"
    finally:
        server.stop()
