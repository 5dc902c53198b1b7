"""The record store on a real SQLite file: what it writes comes back as the same records, each write is one
transaction, and the "put" writes replace instead of failing on a row that is already there."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.exc import IntegrityError

from nimbus.control.records import FunctionRecord, LayerVersion, ProvisionedConfig, VersionRecord
from nimbus.control.records_store import RecordStore
from nimbus.store.db import migrate, sqlite_engine
from nimbus.store.schema import aliases, functions, metadata, versions


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    engine = sqlite_engine(tmp_path / "nimbus.db")
    migrate(engine, metadata)
    return engine


def record(name: str = "f", **changes: object) -> FunctionRecord:
    rec = FunctionRecord(name, {"FunctionName": name, "RevisionId": "r1", "_UnzippedSize": 3}, "ab" * 32, {"k": "v"}, 7)
    for key, value in changes.items():
        setattr(rec, key, value)
    return rec


def count(engine: Engine, table: object) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())  # type: ignore[arg-type]


def test_a_function_with_versions_and_aliases_comes_back_as_written(engine: Engine) -> None:
    store = RecordStore(engine)
    store.insert_function(record(reserved_concurrency=5))
    store.insert_version("f", VersionRecord(1, {"Version": "1", "RevisionId": "r2"}, "cd" * 32))
    store.put_alias("f", "live", {"FunctionVersion": "1", "Description": "", "RevisionId": "r3"})
    loaded = RecordStore(engine).load_functions()  # a fresh store: nothing comes from memory
    rec = loaded["f"]
    assert (rec.config, rec.code_sha256, rec.tags, rec.created_at) == (record().config, "ab" * 32, {"k": "v"}, 7)
    assert rec.reserved_concurrency == 5
    assert rec.versions == {1: VersionRecord(1, {"Version": "1", "RevisionId": "r2"}, "cd" * 32)}
    assert rec.next_version == 2, "publishing moves the next number past the version, in the same transaction"
    assert rec.aliases == {"live": {"FunctionVersion": "1", "Description": "", "RevisionId": "r3"}}


def test_update_rewrites_the_latest_row_only(engine: Engine) -> None:
    store = RecordStore(engine)
    store.insert_function(record())
    store.insert_version("f", VersionRecord(1, {"Version": "1"}, "cd" * 32))
    store.update_function(record(config={"FunctionName": "f", "RevisionId": "r9"}, tags={}, next_version=2))
    rec = store.load_functions()["f"]
    assert (rec.config["RevisionId"], rec.tags, rec.created_at) == ("r9", {}, 7)
    assert list(rec.versions) == [1]


def test_a_function_cannot_be_inserted_twice(engine: Engine) -> None:
    store = RecordStore(engine)
    store.insert_function(record())
    with pytest.raises(IntegrityError):
        store.insert_function(record())


def test_put_alias_replaces_and_delete_alias_removes(engine: Engine) -> None:
    store = RecordStore(engine)
    store.insert_function(record())
    store.put_alias("f", "live", {"FunctionVersion": "$LATEST"})
    store.put_alias("f", "live", {"FunctionVersion": "1"})
    assert store.load_functions()["f"].aliases == {"live": {"FunctionVersion": "1"}}
    store.delete_alias("f", "live")
    assert store.load_functions()["f"].aliases == {}


def test_deleting_a_function_takes_its_versions_and_aliases(engine: Engine) -> None:
    store = RecordStore(engine)
    store.insert_function(record("f"))
    store.insert_function(record("g"))
    for name in ("f", "g"):
        store.insert_version(name, VersionRecord(1, {}, "cd" * 32))
        store.put_alias(name, "live", {"FunctionVersion": "1"})
    store.delete_function("f")
    assert set(store.load_functions()) == {"g"}
    assert (count(engine, functions), count(engine, versions), count(engine, aliases)) == (1, 1, 1)


def test_delete_version_keeps_the_others(engine: Engine) -> None:
    store = RecordStore(engine)
    store.insert_function(record())
    for n in (1, 2):
        store.insert_version("f", VersionRecord(n, {}, "cd" * 32))
    store.delete_version("f", 1)
    rec = store.load_functions()["f"]
    assert (list(rec.versions), rec.next_version) == ([2], 3), "a deleted number is not given again"


def test_provisioned_configs_put_replace_and_delete(engine: Engine) -> None:
    store = RecordStore(engine)
    store.put_provisioned(ProvisionedConfig("f", "1", 2, "t1"))
    store.put_provisioned(ProvisionedConfig("f", "1", 4, "t2"))  # a second put of the same key replaces it
    store.put_provisioned(ProvisionedConfig("f", "live", 1, "t3"))
    store.put_provisioned(ProvisionedConfig("g", "1", 1, "t4"))
    got = {(c.function, c.qualifier): c for c in RecordStore(engine).load_provisioned()}
    assert got[("f", "1")] == ProvisionedConfig("f", "1", 4, "t2")
    assert len(got) == 3
    store.delete_provisioned("f", "live")
    assert {(c.function, c.qualifier) for c in store.load_provisioned()} == {("f", "1"), ("g", "1")}
    store.delete_provisioned("f")  # no qualifier: every configuration of the function
    assert [(c.function, c.qualifier) for c in store.load_provisioned()] == [("g", "1")]


def test_layer_versions_keep_their_policy_and_deleted_flag(engine: Engine) -> None:
    store = RecordStore(engine)
    store.insert_layer_version(LayerVersion("lib", 1, {"Description": "d", "_UnzippedSize": 4}, "ef" * 32))
    store.insert_layer_version(LayerVersion("lib", 2, {}, "ef" * 32))
    assert RecordStore(engine).load_layers()[0] == LayerVersion("lib", 1, {"Description": "d", "_UnzippedSize": 4},
                                                                 "ef" * 32)  # fmt: skip
    policy = {"RevisionId": "p1", "Statements": {"s": {"Sid": "s"}}}
    store.update_layer_version(LayerVersion("lib", 1, {"ignored": True}, "00", policy, deleted=True))
    got = {lv.version: lv for lv in store.load_layers()}
    assert (got[1].policy, got[1].deleted, got[1].config) == (policy, True, {"Description": "d", "_UnzippedSize": 4})
    assert (got[2].policy, got[2].deleted) == ({}, False), "a deleted version keeps its row; the others are untouched"
