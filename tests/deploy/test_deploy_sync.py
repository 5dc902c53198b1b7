"""`nimbus serve --deploy DIR` on a real registry: an example is deployed when missing or changed since, and a
function changed through the API is never reverted (the record in <data-dir>/examples.json)."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from nimbus.config import Settings
from nimbus.deploy import zip_folder
from nimbus.deploy.sync import STATE_FILE, Outcome, deploy_examples
from nimbus.runtimes.registry import available_runtimes
from registry_support import ROLE, echo_zip, open_registry, open_store

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


class World:
    def __init__(self, tmp: Path) -> None:
        self.data = tmp / "data"
        self.data.mkdir()
        self.examples = tmp / "examples"
        self.settings = Settings(data_dir=self.data)
        self.engine, self.codes = open_store(self.data)
        self.registry = open_registry(self.settings, self.engine, self.codes)

    def example(self, name: str, source: str, **config: Any) -> Path:
        folder = self.examples / name
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "app.py").write_text(source)
        cfg = {"Runtime": "python3.11", "Handler": "app.handler", **config}
        (folder / "nimbus.json").write_text(json.dumps(cfg))
        return folder

    def sync(self) -> dict[str, str]:
        outcomes: list[Outcome] = asyncio.run(deploy_examples(self.registry, self.examples, self.data / STATE_FILE))
        return {o.name: o.action for o in outcomes}

    def revision(self, name: str) -> str:
        return str(self.registry.get(name).config["RevisionId"])

    def restart(self) -> None:
        """A new registry on the same data dir, as the next `make run` has."""
        self.engine.dispose()
        self.engine, self.codes = open_store(self.data)
        self.registry = open_registry(self.settings, self.engine, self.codes)


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    w = World(tmp_path)
    yield w
    w.engine.dispose()


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def test_missing_examples_are_created_and_unchanged_ones_left_as_they_are(world: World) -> None:
    world.example("a", "def handler(e, c):\n    return 1\n")
    world.example("b", "def handler(e, c):\n    return 2\n", MemorySize=256)
    assert world.sync() == {"a": "created", "b": "created"}
    assert world.registry.get("b").config["MemorySize"] == 256
    revisions = {n: world.revision(n) for n in ("a", "b")}
    state = json.loads((world.data / STATE_FILE).read_text())
    assert {n: s["revision"] for n, s in state.items()} == revisions
    world.restart()
    assert world.sync() == {"a": "unchanged", "b": "unchanged"}
    assert {n: world.revision(n) for n in ("a", "b")} == revisions, "nothing was redeployed"


def test_an_example_whose_files_changed_is_updated(world: World) -> None:
    folder = world.example("a", "def handler(e, c):\n    return 1\n")
    world.sync()
    before = world.registry.get("a").config["CodeSha256"]
    (folder / "app.py").write_text("def handler(e, c):\n    return 'new'\n")
    assert world.sync() == {"a": "updated"}
    assert world.registry.get("a").config["CodeSha256"] != before
    world.example("a", "def handler(e, c):\n    return 'new'\n", Timeout=9)  # nimbus.json counts too
    assert world.sync() == {"a": "updated"}
    assert world.registry.get("a").config["Timeout"] == 9
    assert world.sync() == {"a": "unchanged"}


def test_a_function_changed_through_the_api_is_never_reverted(world: World, caplog: pytest.LogCaptureFixture) -> None:
    folder = world.example("a", "def handler(e, c):\n    return 1\n")
    world.example("b", "def handler(e, c):\n    return 2\n")
    world.sync()
    run(world.registry.update_config("a", {"MemorySize": 512}))
    run(world.registry.update_code("b", {"ZipFile": echo_zip()}))
    edited_code = world.registry.get("b").config["CodeSha256"]
    (folder / "app.py").write_text("def handler(e, c):\n    return 'newer'\n")  # the example changes too
    with caplog.at_level(logging.INFO, logger="nimbus.deploy.sync"):
        assert world.sync() == {"a": "kept", "b": "kept"}
    assert world.registry.get("a").config["MemorySize"] == 512
    assert world.registry.get("b").config["CodeSha256"] == edited_code
    assert (
        f"example a: not redeployed from {folder} (changed through the API since Nimbus deployed it); "
        "delete the function to get the example back"
    ) in caplog.messages
    run(world.registry.delete("a"))  # deleting it brings the example back
    assert world.sync() == {"a": "created", "b": "kept"}
    assert world.registry.get("a").config["MemorySize"] == 128


def test_a_function_nimbus_has_no_record_of_is_adopted_only_with_the_examples_code(world: World) -> None:
    """Created by hand (`nimbus function create hello --code examples/hello`) or by an older Nimbus."""
    world.example("same", "def handler(e, c):\n    return 1\n")
    world.example("other", "def handler(e, c):\n    return 2\n")
    own = base64.b64encode(zip_folder(world.examples / "same")).decode()
    for name, zipped in (("same", own), ("other", echo_zip())):
        body = {"FunctionName": name, "Runtime": "python3.11", "Handler": "app.handler", "Role": ROLE}
        run(world.registry.create(body | {"Code": {"ZipFile": zipped}}))
    revisions = {n: world.revision(n) for n in ("same", "other")}
    assert world.sync() == {"other": "kept", "same": "adopted"}
    assert {n: world.revision(n) for n in ("same", "other")} == revisions
    assert world.sync() == {"other": "kept", "same": "unchanged"}


def test_an_example_no_runtime_here_runs_is_skipped_and_a_missing_preferred_one_runs_on_the_nearest(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    world.example("cobol", "x", Runtime="cobol85")
    world.example("future", "def handler(e, c):\n    return 1\n", Runtime="python3.99")
    with caplog.at_level(logging.INFO, logger="nimbus.deploy.sync"):
        assert world.sync() == {"cobol": "skipped", "future": "created"}
    newest = list(available_runtimes())[-1]
    assert world.registry.get("future").config["Runtime"] == newest
    assert any(m.startswith("example cobol: not deployed: Runtime cobol85 is not available") for m in caplog.messages)
    assert f"example future: created (runs on {newest}: this host has no python3.99)" in caplog.messages
    with pytest.raises(Exception, match="Function not found"):
        world.registry.get("cobol")


def test_the_shipped_examples_deploy_then_stay(world: World) -> None:
    shutil.copytree(EXAMPLES, world.examples)
    first = world.sync()
    assert {"hello", "echo", "counter", "hello-node", "hello-shell"} <= first.keys()
    assert set(first.values()) <= {"created", "skipped"}
    world.restart()
    assert set(world.sync().values()) <= {"unchanged", "skipped"}


def test_the_examples_role_is_made_once_and_then_left_as_the_user_made_it(world: World) -> None:
    from nimbus.control.keyring import open_key_ring
    from nimbus.deploy.sync import BASIC_EXECUTION_ARN, EXAMPLE_ROLE

    iam = open_key_ring(world.settings, world.engine).iam
    assert iam is not None
    world.example("hi", "def handler(e, c):\n    return 1\n")
    asyncio.run(deploy_examples(world.registry, world.examples, world.data / STATE_FILE, iam))
    role = iam.role(EXAMPLE_ROLE)
    assert role.attached == [BASIC_EXECUTION_ARN]
    assert "lambda.amazonaws.com" in role.trust_policy
    assert world.registry.get("hi").config["Role"] == role.arn
    iam.detach("role", EXAMPLE_ROLE, BASIC_EXECUTION_ARN)  # the user's change to it
    asyncio.run(deploy_examples(world.registry, world.examples, world.data / STATE_FILE, iam))
    assert not iam.role(EXAMPLE_ROLE).attached, "an existing role is never changed"
