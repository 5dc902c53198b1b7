"""The log database's schema: a database made before stream ids (version 0) is converted on open with every event
kept, ids included, one from before the writer's line record (version 1) gains it, and one from a newer Nimbus is
refused."""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from nimbus.logs.schema import LOGS_SCHEMA_VERSION
from nimbus.logs.store import LogStore

#: the log database as Nimbus made it before stream ids (what SQLAlchemy's create_all emitted for it)
VERSION_0 = [
    "CREATE TABLE events (id INTEGER NOT NULL, grp VARCHAR(512) NOT NULL, stream VARCHAR(512) NOT NULL, "
    "ts INTEGER NOT NULL, ingested INTEGER NOT NULL, message TEXT NOT NULL, PRIMARY KEY (id))",
    "CREATE INDEX events_grp_ts ON events (grp, ts)",
    "CREATE INDEX events_grp_stream_ts ON events (grp, stream, ts)",
    "CREATE TABLE log_groups (grp VARCHAR(512) NOT NULL, created INTEGER NOT NULL, retention_days INTEGER, "
    "PRIMARY KEY (grp))",
]
#: (id, group, stream, ts, ingested, message); ids with gaps, as purges leave them
ROWS = [
    (3, "/aws/lambda/a", "s1", 1_000, 1_005, "START RequestId: r1 Version: $LATEST"),
    (4, "/aws/lambda/b", "s9", 1_001, 1_005, "other group"),
    (7, "/aws/lambda/a", "s2", 1_002, 1_006, "unicode ✓ 🙂"),
    (8, "/aws/lambda/a", "s1", 999, 1_006, "REPORT RequestId: r1\tDuration: 1.00 ms"),
]


def make_version_0(path: Path) -> None:
    with sqlite3.connect(path) as db:
        for statement in VERSION_0:
            db.execute(statement)
        db.executemany("INSERT INTO events VALUES (?, ?, ?, ?, ?, ?)", ROWS)
        db.execute("INSERT INTO log_groups VALUES ('/aws/lambda/made', 5, 7)")
    db.close()


def test_a_database_from_before_stream_ids_is_converted_with_every_event_kept(tmp_path: Path) -> None:
    path = tmp_path / "logs.db"
    make_version_0(path)
    store = LogStore(path, retention_days=1)
    got = [(e.id, e.group, e.stream, e.timestamp, e.ingested, e.message) for e in store.query("/aws/lambda/a")]
    assert got == [row for row in ROWS if row[1] == "/aws/lambda/a"]
    assert [e.id for e in store.query("/aws/lambda/b")] == [4]
    assert store.streams("/aws/lambda/a") == [("s1", 999, 1_000, 1_006), ("s2", 1_002, 1_002, 1_006)]
    assert store.groups() == [("/aws/lambda/a", 999, sum(len(r[5]) for r in ROWS if r[1] == "/aws/lambda/a")),
                              ("/aws/lambda/b", 1_001, len("other group"))]  # fmt: skip
    assert store.made_groups() == {"/aws/lambda/made": (5, 7)}
    assert [e.id for e in store.query("/aws/lambda/a", streams=["s1"], after_id=3)] == [8]

    async def more() -> None:  # a stream from before and a new one: ids go on after the old ones
        store.emit("/aws/lambda/a", "s1", 2_000, "after")
        store.emit("/aws/lambda/a", "s3", 2_001, "new stream")
        await store.close()

    asyncio.run(more())
    after = store.query("/aws/lambda/a", after_id=8)
    assert [(e.stream, e.message) for e in after] == [("s1", "after"), ("s3", "new stream")]
    assert after[0].id > 8
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone() == (LOGS_SCHEMA_VERSION,)
        assert {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'index'")} >= {"events_sid_ts"}
        assert "grp" not in {r[1] for r in db.execute("PRAGMA table_info(events)")}
    db.close()
    assert [e.id for e in LogStore(path, retention_days=1).query("/aws/lambda/a")] == [3, 7, 8, after[0].id,
                                                                                        after[1].id]  # fmt: skip


#: the log database as Nimbus made it with stream ids, before the writer's line record (version 1)
VERSION_1 = [
    "CREATE TABLE log_streams (id INTEGER NOT NULL, grp VARCHAR(512) NOT NULL, name VARCHAR(512) NOT NULL, "
    "PRIMARY KEY (id), CONSTRAINT log_streams_grp_name UNIQUE (grp, name))",
    "CREATE TABLE events (id INTEGER NOT NULL, sid INTEGER NOT NULL, ts INTEGER NOT NULL, ingested INTEGER NOT NULL, "
    "message TEXT NOT NULL, PRIMARY KEY (id))",
    "CREATE INDEX events_sid_ts ON events (sid, ts)",
    "CREATE TABLE log_groups (grp VARCHAR(512) NOT NULL, created INTEGER NOT NULL, retention_days INTEGER, "
    "PRIMARY KEY (grp))",
    "INSERT INTO log_streams VALUES (5, '/aws/lambda/a', 's1')",
    "INSERT INTO events VALUES (3, 5, 1000, 1005, 'one'), (9, 5, 1001, 1005, 'two')",
    "PRAGMA user_version = 1",
]


def test_a_database_from_before_the_writers_line_record_gains_it_with_every_event_kept(tmp_path: Path) -> None:
    path = tmp_path / "logs.db"
    with sqlite3.connect(path) as db:
        for statement in VERSION_1:
            db.execute(statement)
    db.close()
    store = LogStore(path, retention_days=1)
    store.emit("/aws/lambda/a", "s1", 2_000, "three")
    asyncio.run(store.close())
    got = [(e.id, e.stream, e.message) for e in store.query("/aws/lambda/a")]
    assert got[:2] == [(3, "s1", "one"), (9, "s1", "two")]
    assert got[2][1:] == ("s1", "three")
    assert got[2][0] > 9
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone() == (LOGS_SCHEMA_VERSION,) == (2,)
        assert db.execute("SELECT id, last_line FROM log_writer").fetchall() == [(0, 1)]  # the one line written
    db.close()


def test_a_log_database_from_a_newer_nimbus_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "logs.db"
    with sqlite3.connect(path) as db:
        db.execute(f"PRAGMA user_version={LOGS_SCHEMA_VERSION + 1}")
    db.close()
    with pytest.raises(RuntimeError, match="newer than this Nimbus"):
        LogStore(path, retention_days=1)


def test_purge_and_delete_forget_emptied_streams_and_writing_goes_on(tmp_path: Path) -> None:
    """A stream whose events are all gone is deleted with them, and a later line to it makes it again."""
    store = LogStore(tmp_path / "logs.db", retention_days=1)

    async def body() -> None:
        store.emit("/aws/lambda/a", "s", 1, "expired")
        store.emit("/aws/lambda/a", "kept", 10**13, "kept")
        await store.flush()
        assert store.purge(now_ms=10**13) == 1
        assert store.streams("/aws/lambda/a") == [("kept", 10**13, 10**13, store.streams("/aws/lambda/a")[0][3])]
        store.emit("/aws/lambda/a", "s", 10**13, "again")
        await store.flush()
        assert [e.stream for e in store.query("/aws/lambda/a")] == ["kept", "s"]
        store.delete_group("/aws/lambda/a")
        assert not store.has_group("/aws/lambda/a")
        store.emit("/aws/lambda/a", "s", 10**13, "after the delete")
        await store.close()

    asyncio.run(body())
    assert [(e.stream, e.message) for e in store.query("/aws/lambda/a")] == [("s", "after the delete")]


#: a server that dies during the conversion: SQLAlchemy's engine as the store makes it, the process killed as the
#: conversion reaches the statement given (before it runs)
_DIE_AT = """
import os, sys
from pathlib import Path
from sqlalchemy import event
from nimbus.logs.schema import migrate
from nimbus.store.db import sqlite_engine
engine = sqlite_engine(Path(sys.argv[1]), synchronous="NORMAL")
@event.listens_for(engine, "before_cursor_execute")
def die(conn, cursor, statement, parameters, context, executemany):
    if statement.lstrip().startswith(sys.argv[2]):
        os._exit(9)
migrate(engine)
"""


@pytest.mark.parametrize(
    "statement", ["CREATE TABLE log_streams", "INSERT INTO log_streams", "INSERT INTO events", "DROP TABLE"]
)
def test_a_conversion_cut_short_by_a_crash_loses_nothing_and_is_done_at_the_next_open(
    tmp_path: Path, statement: str
) -> None:
    """The conversion is one transaction: a server killed anywhere in it leaves the version-0 database as it was
    (SQLite's DDL is transactional, but Python's sqlite3 runs it outside a transaction unless one is begun)."""
    path = tmp_path / "logs.db"
    make_version_0(path)
    crashed = subprocess.run([sys.executable, "-c", _DIE_AT, str(path), statement], capture_output=True, timeout=60,
                             check=False)  # fmt: skip
    assert crashed.returncode == 9, crashed.stderr.decode()
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone() == (0,)
        assert sorted(db.execute("SELECT * FROM events")) == sorted(ROWS)
    db.close()
    store = LogStore(path, retention_days=1)
    got = [(e.id, e.group, e.stream, e.timestamp, e.ingested, e.message) for e in store.query("/aws/lambda/a")]
    assert got == [row for row in ROWS if row[1] == "/aws/lambda/a"]
    assert [e.id for e in store.query("/aws/lambda/b")] == [4]
