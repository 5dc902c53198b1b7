"""The registry as a service, on a real SQLite file and code store: every acknowledged change is on disk (a fresh
registry loads it back), listeners hear about changes that retire instances, and a change refused under the
write lock leaves nothing behind. Versions, aliases and provisioned configs go through the same seams."""

from __future__ import annotations

import asyncio
import base64
import io
import zipfile
from pathlib import Path
from typing import Any

import pytest

from nimbus.config import Settings
from nimbus.control.codestore import CodeStore
from nimbus.control.layers import LayerRegistry
from nimbus.control.provisioned import ProvisionedConfigs
from nimbus.control.registry import Registry
from nimbus.control.versions import Versions
from nimbus.errors import InvalidParameterValue, PreconditionFailed, ResourceConflict, ResourceNotFound
from nimbus.store.db import migrate, sqlite_engine
from nimbus.store.schema import metadata


def code(text: str = "def handler(e, c): return e\n") -> dict[str, str]:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("app.py", text)
    return {"ZipFile": base64.b64encode(buf.getvalue()).decode()}


def accept_any_runtime(name: str) -> None:
    """The runtime check the server passes resolves installed interpreters; these tests run no code."""


def open_registry(data_dir: Path, concurrency_limit: int = 1000) -> Registry:
    settings = Settings(data_dir=data_dir, concurrency_limit=concurrency_limit)
    engine = sqlite_engine(data_dir / "nimbus.db")
    migrate(engine, metadata)
    codes = CodeStore(data_dir)
    layers = LayerRegistry(settings, engine, codes)
    layers.load()
    registry = Registry(settings, engine, codes, accept_any_runtime, layers)
    registry.load()
    return registry


CREATE = {"FunctionName": "f", "Role": "arn:aws:iam::000000000000:role/r", "Runtime": "python3.12",
          "Handler": "app.handler", "Code": code()}  # fmt: skip


class Heard:
    """A listener that records the names it is told about."""

    def __init__(self) -> None:
        self.names: list[str] = []

    async def __call__(self, name: str) -> None:
        self.names.append(name)


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def test_create_is_durable_and_answers_pending(tmp_path: Path) -> None:
    registry = open_registry(tmp_path)
    out = run(registry.create(CREATE | {"MemorySize": 256, "Tags": {"team": "a"}}))
    assert (out["State"], out["StateReasonCode"], out["MemorySize"]) == ("Pending", "Creating", 256)
    assert out["FunctionArn"] == "arn:aws:lambda:us-east-1:000000000000:function:f"
    assert not [k for k in out if k.startswith("_")]
    again = open_registry(tmp_path).get("f")
    assert (again.config["RevisionId"], again.tags) == (out["RevisionId"], {"team": "a"})
    assert again.config["State"] == "Active", "stored settled: only the create answer says Pending"
    with pytest.raises(ResourceConflict):
        run(open_registry(tmp_path).create(CREATE))


def test_a_refused_create_stores_nothing(tmp_path: Path) -> None:
    registry = open_registry(tmp_path)
    with pytest.raises(InvalidParameterValue):
        run(registry.create(CREATE | {"Code": {"ZipFile": "not base64!"}}))
    assert registry.names() == []
    assert open_registry(tmp_path).names() == []


def test_an_update_changes_the_spec_and_tells_listeners(tmp_path: Path) -> None:
    registry = open_registry(tmp_path)
    heard = Heard()
    registry.subscribe(heard)
    run(registry.create(CREATE))
    before = registry.spec("f")
    assert registry.spec("f") == before, "built from the record: the same until it changes"
    out = run(registry.update_config("f", {"Timeout": 30}))
    assert out["LastUpdateStatus"] == "InProgress"
    after = registry.spec("f")
    assert (after.timeout_s, after.revision_id != before.revision_id) == (30, True)
    assert heard.names == ["f"]
    with pytest.raises(PreconditionFailed):
        run(registry.update_code("f", code("x = 1\n") | {"RevisionId": before.revision_id}))
    assert open_registry(tmp_path).get("f").config["Timeout"] == 30


def test_a_create_is_heard_only_by_the_listeners_that_asked_for_creates(tmp_path: Path) -> None:
    registry = open_registry(tmp_path)
    changes, creates = Heard(), Heard()
    registry.subscribe(changes)
    registry.subscribe(creates, creates=True)  # as the server subscribes its spare pools (a create is a cold start)
    run(registry.create(CREATE))
    with pytest.raises(ResourceConflict):
        run(registry.create(CREATE))
    with pytest.raises(InvalidParameterValue):
        run(registry.create(CREATE | {"FunctionName": "g", "Code": {"ZipFile": "not base64!"}}))
    assert (changes.names, creates.names) == ([], ["f"]), "a create retires nothing; refused creates say nothing"
    run(registry.update_config("f", {"Timeout": 30}))
    assert (changes.names, creates.names) == (["f"], ["f", "f"])


def test_tags_retire_instances_only_when_the_network_mode_changes(tmp_path: Path) -> None:
    registry = open_registry(tmp_path)
    heard = Heard()
    registry.subscribe(heard)
    run(registry.create(CREATE))
    run(registry.set_tags("f", {"team": "a"}))
    assert heard.names == []
    run(registry.set_tags("f", {"nimbus:network": "none"}))
    assert heard.names == ["f"]
    assert registry.spec("f").network == "none"
    run(registry.set_tags("f", remove=["team"]))
    assert open_registry(tmp_path).get("f").tags == {"nimbus:network": "none"}


def test_tags_and_versions_renew_the_revision_but_not_what_runs(tmp_path: Path) -> None:
    """Lambda gives a new RevisionId on every tag, untag and published version; instances are pooled by what runs,
    which none of these change."""
    registry = open_registry(tmp_path)
    run(registry.create(CREATE))
    revisions = [registry.get("f").config["RevisionId"]]
    running = registry.spec("f").revision_id
    run(registry.set_tags("f", {"team": "a"}))
    revisions.append(registry.get("f").config["RevisionId"])
    run(registry.set_tags("f", remove=["team"]))
    revisions.append(registry.get("f").config["RevisionId"])
    run(Versions(registry).publish("f", {}))
    revisions.append(registry.get("f").config["RevisionId"])
    assert len(set(revisions)) == 4
    assert registry.spec("f").revision_id == running
    assert open_registry(tmp_path).get("f").config["RevisionId"] == revisions[-1]
    run(registry.update_config("f", {"Timeout": 9}))
    assert registry.spec("f").revision_id != running, "an update is new code or configuration to run"


def test_publish_compares_every_published_field_description_included(tmp_path: Path) -> None:
    registry = open_registry(tmp_path)
    versions = Versions(registry)
    run(registry.create(CREATE))
    assert run(versions.publish("f", {"Description": "own words"}))["Version"] == "1"
    assert run(versions.publish("f", {"Description": "other words"}))["Version"] == "1", "$LATEST unchanged"
    run(registry.update_config("f", {"Description": "changed"}))
    assert run(versions.publish("f", {}))["Version"] == "2"
    assert run(versions.publish("f", {}))["Version"] == "2"
    assert open_registry(tmp_path).get("f").versions[2].config["Description"] == "changed"


def test_versions_and_aliases_are_written_through_the_registry(tmp_path: Path) -> None:
    registry = open_registry(tmp_path)
    versions = Versions(registry)
    run(registry.create(CREATE))

    async def publish_twice() -> list[dict[str, Any]]:
        return list(await asyncio.gather(versions.publish("f", {}), versions.publish("f", {})))

    first, second = run(publish_twice())
    assert first["Version"] == second["Version"] == "1", "the lock serialises: the second finds nothing new"
    run(registry.update_code("f", code("x = 2\n")))
    assert run(versions.publish("f", {"Description": "two"}))["Version"] == "2"
    alias = run(versions.create_alias("f", {"Name": "live", "FunctionVersion": "1",
                                             "RoutingConfig": {"AdditionalVersionWeights": {"2": 0.5}}}))  # fmt: skip
    assert alias["AliasArn"].endswith(":function:f:live")
    reloaded = open_registry(tmp_path).get("f")
    assert (sorted(reloaded.versions), reloaded.next_version) == ([1, 2], 3)
    assert reloaded.versions[2].config["Description"] == "two"
    assert reloaded.aliases["live"]["RoutingConfig"] == {"AdditionalVersionWeights": {"2": 0.5}}


def test_a_refused_version_delete_changes_nothing(tmp_path: Path) -> None:
    registry = open_registry(tmp_path)
    versions = Versions(registry)
    heard = Heard()
    registry.subscribe(heard)
    run(registry.create(CREATE))
    run(versions.publish("f", {}))
    run(versions.create_alias("f", {"Name": "live", "FunctionVersion": "1"}))
    with pytest.raises(ResourceConflict, match=r"\[live\]"):
        run(versions.delete_version("f", "1"))
    assert heard.names == []
    assert list(open_registry(tmp_path).get("f").versions) == [1]
    run(versions.delete_alias("f", "live"))
    run(versions.delete_version("f", "1"))
    assert heard.names == ["f"], "a deleted version's instances are retired"
    reloaded = open_registry(tmp_path).get("f")
    assert (reloaded.versions, reloaded.aliases, reloaded.next_version) == ({}, {}, 2)


def test_editing_an_unknown_function_is_not_found(tmp_path: Path) -> None:
    registry = open_registry(tmp_path)

    async def edit() -> None:
        async with registry.editing("nope"):
            pass

    with pytest.raises(ResourceNotFound):
        run(edit())


def test_delete_takes_versions_and_aliases(tmp_path: Path) -> None:
    registry = open_registry(tmp_path)
    versions = Versions(registry)
    run(registry.create(CREATE))
    run(versions.publish("f", {}))
    run(versions.create_alias("f", {"Name": "live", "FunctionVersion": "1"}))
    run(registry.delete("f"))
    assert open_registry(tmp_path).names() == []
    run(registry.create(CREATE))
    assert run(versions.publish("f", {}))["Version"] == "1", "a new function of the same name starts again"


def test_reserved_concurrency_keeps_the_unreserved_minimum(tmp_path: Path) -> None:
    registry = open_registry(tmp_path, concurrency_limit=200)
    run(registry.create(CREATE))
    run(registry.create(CREATE | {"FunctionName": "g"}))
    run(registry.set_reserved_concurrency("f", 150))
    with pytest.raises(InvalidParameterValue, match=r"minimum value of \[20\]"):
        run(registry.set_reserved_concurrency("g", 31))
    run(registry.set_reserved_concurrency("g", 30))
    assert open_registry(tmp_path).reservations() == {"f": 150, "g": 30}
    run(registry.set_reserved_concurrency("f", None))
    assert open_registry(tmp_path).reservations() == {"g": 30}


def test_provisioned_configs_are_stored_through_the_registry_store(tmp_path: Path) -> None:
    registry = open_registry(tmp_path)
    versions = Versions(registry)
    run(registry.create(CREATE))
    run(registry.set_reserved_concurrency("f", 5))
    run(versions.publish("f", {}))
    run(versions.create_alias("f", {"Name": "live", "FunctionVersion": "1"}))
    configs = ProvisionedConfigs(registry)
    run(configs.put("f", "live", 2))
    run(configs.put("f", "live", 3))
    with pytest.raises(ResourceConflict):
        run(configs.put("f", "1", 1))  # the alias's version is provisioned through the alias already
    with pytest.raises(InvalidParameterValue, match="reservedConcurrentExecution"):
        run(configs.put("f", "live", 6))
    fresh = ProvisionedConfigs(open_registry(tmp_path))
    fresh.load()
    assert [(c.qualifier, c.requested) for c in fresh.all()] == [("live", 3)]
    assert fresh.targets(fresh.all()[0]) == {"1": 3}
    assert [c.qualifier for c in run(configs.remove("f"))] == ["live"]
    fresh = ProvisionedConfigs(open_registry(tmp_path))
    fresh.load()
    assert fresh.all() == []
