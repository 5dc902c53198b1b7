"""Schema migrations: a data dir made by an older Nimbus is brought forward without losing anything."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import select

from nimbus.store.db import migrate, sqlite_engine
from nimbus.store.schema import SCHEMA_VERSION, functions, meta, metadata


def test_fresh_data_dir_gets_the_current_schema(tmp_path: Path) -> None:
    engine = sqlite_engine(tmp_path / "n.db")
    migrate(engine, metadata)
    with engine.connect() as conn:
        assert conn.execute(select(meta.c.version)).scalar() == SCHEMA_VERSION
    migrate(engine, metadata)  # idempotent


def version_1_data_dir(db: Path, *, added: str = "", values: str = "") -> None:
    """A data dir as Nimbus 1 left it, with one function `f`; `added` columns (and their `values`) on top, as a
    migration cut short leaves them."""
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE meta (version INTEGER NOT NULL)")
        conn.execute("INSERT INTO meta VALUES (1)")
        conn.execute(
            "CREATE TABLE functions (name VARCHAR(64) PRIMARY KEY, config TEXT NOT NULL, "
            f"code_sha256 VARCHAR(64) NOT NULL, tags TEXT NOT NULL, created_at INTEGER NOT NULL{added})"
        )
        conn.execute(f"INSERT INTO functions VALUES ('f', '{{}}', 'abc', '{{}}', 1{values})")


def test_version_1_data_dir_is_migrated(tmp_path: Path) -> None:
    db = tmp_path / "n.db"
    version_1_data_dir(db)
    engine = sqlite_engine(db)
    migrate(engine, metadata)
    with engine.connect() as conn:
        row = conn.execute(select(functions)).one()
        assert (row.name, row.next_version) == ("f", 1)
        assert conn.execute(select(meta.c.version)).scalar() == SCHEMA_VERSION


def test_a_migration_cut_short_after_its_column_is_finished_at_the_next_start(tmp_path: Path) -> None:
    """A server killed between a step's ALTER TABLE (which SQLite commits on its own) and the version's update: the
    next start finds the column there and the version old, and must finish, not fail on a duplicate column."""
    db = tmp_path / "n.db"
    version_1_data_dir(db, added=", next_version INTEGER NOT NULL DEFAULT 1", values=", 4")  # step 2's, before it
    engine = sqlite_engine(db)
    migrate(engine, metadata)
    with engine.connect() as conn:
        row = conn.execute(select(functions)).one()
        assert (row.name, row.next_version, row.reserved_concurrency) == ("f", 4, None)
        assert conn.execute(select(meta.c.version)).scalar() == SCHEMA_VERSION


def test_newer_data_dir_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "n.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE meta (version INTEGER NOT NULL)")
        conn.execute(f"INSERT INTO meta VALUES ({SCHEMA_VERSION + 1})")
    with pytest.raises(RuntimeError, match="newer than this Nimbus"):
        migrate(sqlite_engine(db), metadata)
