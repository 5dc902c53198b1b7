"""The spare pool follows demand: it grows while cold starts keep coming, is made ahead of them, and shrinks back
to the setting when they stop; a spare is never handed out twice, nor dead."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest

from nimbus.instances import InstanceManager, spares
from nimbus.instances.zygote import ZygoteLauncher
from nimbus.logs.sink import MemorySink

from .test_manager import SANDBOXED, make_spec, request, run

pytestmark = pytest.mark.skipif(not SANDBOXED, reason="spares need namespaces")

APP = "def handler(e, c):\n    return 1\n"


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
