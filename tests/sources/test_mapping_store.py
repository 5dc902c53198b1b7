"""Mappings are rows of the control store: a data dir from before them gains the table, and rows round-trip."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import inspect

from nimbus.sources.mapping_rules import MappingRecord, apply
from nimbus.sources.mappings import MappingStore
from nimbus.store.db import migrate, sqlite_engine
from nimbus.store.schema import metadata


def test_an_older_data_dir_gains_the_table_and_rows_round_trip(tmp_path: Path) -> None:
    db = tmp_path / "nimbus.db"
    engine = sqlite_engine(db)
    with engine.begin() as conn:  # a data dir at version 5, before mappings
        conn.exec_driver_sql("CREATE TABLE meta (version INTEGER NOT NULL)")
        conn.exec_driver_sql("INSERT INTO meta VALUES (5)")
    migrate(engine, metadata)
    assert "event_source_mappings" in inspect(engine).get_table_names()
    store = MappingStore(engine)
    base = MappingRecord("11111111-2222-4333-8444-555555555555", "fn", "live", "arn:aws:sqs:us-east-1:000000000000:q")
    rec = apply(base, {"BatchSize": 7, "FilterCriteria": {"Filters": [{"Pattern": '{"body": ["x"]}'}]}}, creating=True)
    store.insert(rec)
    assert store.load() == [rec]
    changed = apply(rec, {"Enabled": False}, creating=False)
    store.update(changed)
    assert store.load() == [changed]
    store.delete(rec.uuid)
    assert store.load() == []
    engine.dispose()
