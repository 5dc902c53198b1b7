"""A zygote's root template (`sandbox_init.build_template`): its forks bind one read-only tree, built once, as
their root instead of mounting ~40 pieces each, and see exactly the sandbox they saw without it."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from nimbus.instances import InstanceManager
from nimbus.instances.isolation import detect
from nimbus.instances.zygote import ZygoteLauncher
from nimbus.instances.zygote_client import Zygote, sweep_templates
from nimbus.logs.sink import MemorySink

from .test_fast_starts import PROBE_APP
from .test_manager import SANDBOXED, make_spec, request, run

pytestmark = pytest.mark.skipif(not SANDBOXED, reason="templates are for sandboxes")
#: templates need real root: a zygote under a user namespace could not mount one
TEMPLATES = SANDBOXED and not detect().use_user_namespace
NO_TEMPLATES = "templates need real root (a user namespace's zygote has none)"

APP = PROBE_APP + """

def root(event, context):
    # the root's file system: one template shared by the forks of a zygote, or a tmpfs of each instance's own
    return {"dev": os.stat("/").st_dev, "probe": handler(event, context)}
"""


def _zygote(manager: InstanceManager) -> Zygote:
    launcher = manager._launcher
    assert isinstance(launcher, ZygoteLauncher)
    (zygote,) = launcher._zygotes.values()
    return zygote


async def _burst(manager: InstanceManager, app: Path, n: int, **spec: object) -> list[dict[str, object]]:
    """`n` instances at once (no spares: forks), each answering its root's device and the probe."""
    results = await asyncio.gather(
        *(manager.invoke(make_spec(app, handler="app.root", **spec), request(i)) for i in range(n))
    )
    assert [r.function_error for r in results] == [None] * n, results[0].payload
    return [json.loads(r.payload) for r in results]


def _seen(app: Path, templates: bool, network: str) -> tuple[set[object], list[object]]:
    out: dict[str, object] = {}

    async def body(manager: InstanceManager, sink: MemorySink) -> None:
        launcher = manager._launcher
        assert isinstance(launcher, ZygoteLauncher)
        launcher.sandbox.templates = templates  # before the zygote starts (at the first invoke)
        answers = await _burst(manager, app, 3, network=network, ephemeral_storage_mb=600)
        out["devs"] = {a["dev"] for a in answers}
        out["probes"] = [a["probe"] for a in answers]

    run(body, spare_instances=0)
    return out["devs"], out["probes"]  # type: ignore[return-value]


@pytest.mark.parametrize("network", ["host", "none"])
def test_forks_bind_one_template_and_see_the_same_sandbox_as_without_it(
    code: Callable[..., Path], network: str
) -> None:
    app = code({"lib/data.txt": "x"}, app=APP)
    devs_without, without = _seen(app, False, network)
    assert len(devs_without) == 3  # each instance its own root tmpfs
    devs_with, with_template = _seen(app, True, network)
    if TEMPLATES:
        assert len(devs_with) == 1  # one tree, bound by all three
    assert with_template == without
    probe = with_template[0]
    assert isinstance(probe, dict)
    assert probe["root_writable"] is False
    assert ".host" not in probe["root"]
    # the host's root stays mounted below the sandbox's (moved over it, then chrooted into), never in its view: every
    # mount it shows is its root or under a dir of that root (no /sys, /home, /work of the host's)
    mounts = probe["mounts"]
    assert isinstance(mounts, list)
    assert mounts.count("/") == 1
    assert [m for m in mounts if m != "/" and m.split("/")[1] not in probe["root"]] == []
    assert probe["caps"] == ["0000000000000000"] * 5
    assert probe["processes"] == [1, 2]


def _check_template(pid: int, template: str) -> None:
    """The template in the zygote's (pid `pid`) mount namespace: read-only, /dev and the binds in it too; on the
    host, only its empty directory (nothing mounted in the zygote's namespace reaches the host's)."""
    mounts = [line.split() for line in Path(f"/proc/{pid}/mountinfo").read_text().splitlines()]
    options = {m[4]: m[5].split(",") for m in mounts}
    for path in (template, template + "/dev", template + "/usr", template + "/var/lang"):
        assert "ro" in options[path], path
    assert template not in {line.split()[4] for line in Path("/proc/self/mountinfo").read_text().splitlines()}
    assert Path(template).is_dir()
    assert not any(Path(template).iterdir())


@pytest.mark.skipif(not TEMPLATES, reason=NO_TEMPLATES)
def test_the_template_is_read_only_private_to_the_zygote_and_removed_with_it(code: Callable[..., Path]) -> None:
    app = code(app=APP)
    seen: dict[str, str] = {}

    async def body(manager: InstanceManager, sink: MemorySink) -> None:
        await _burst(manager, app, 1)
        zygote = _zygote(manager)
        assert zygote.template is not None
        seen["template"] = f"{zygote.template['parent']}/.nimbus-root-{zygote.pid}"
        _check_template(zygote.pid, seen["template"])

    run(body, spare_instances=0)
    assert not os.path.exists(seen["template"])  # the zygote's exit removed it


@pytest.mark.skipif(not TEMPLATES, reason=NO_TEMPLATES)
def test_forks_mount_their_whole_root_when_the_template_is_gone(code: Callable[..., Path]) -> None:
    """The host removing the template's directory detaches it in the zygote's namespace too: the next forks see
    it is gone and build their root as without a template."""
    app = code(app=APP)

    async def body(manager: InstanceManager, sink: MemorySink) -> None:
        (first,) = await _burst(manager, app, 1)
        zygote = _zygote(manager)
        assert zygote.template is not None
        os.rmdir(f"{zygote.template['parent']}/.nimbus-root-{zygote.pid}")
        after = await _burst(manager, app, 2, name="other")  # another function: new instances
        assert len({a["dev"] for a in after} | {first["dev"]}) == 3
        assert [a["probe"] for a in after] == [first["probe"]] * 2

    run(body, spare_instances=0)


def test_the_directories_of_dead_zygotes_templates_are_swept(tmp_path: Path) -> None:
    """A zygote killed with its server leaves its template's empty directory; the next zygote's start removes it,
    never a live zygote's (another server's)."""
    dead = os.fork()
    if dead == 0:  # pragma: no cover - child
        os._exit(0)
    os.waitpid(dead, 0)
    (tmp_path / f".nimbus-root-{dead}").mkdir()
    (tmp_path / f".nimbus-root-{os.getpid()}").mkdir()
    (tmp_path / ".nimbus-root-x").mkdir()
    sweep_templates(str(tmp_path))
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([f".nimbus-root-{os.getpid()}", ".nimbus-root-x"])
