"""The log database's tables, and the step that brings a log database made before stream ids to them.

The log database (logs.db) is a file of its own, apart from the control database and its `store.db.MIGRATIONS`:
its version is SQLite's `user_version`. Version 0 (before stream ids) kept each event's group and stream names in
the row and indexed them twice, (group, time) and (group, stream, time): two long text keys per row, the dearest
part of writing a log line. Version 1 names each stream once, in `log_streams`, and events carry its integer id:
one index of (stream id, time) whose keys are a few bytes, so an invoke's START, END and REPORT write about half
the pages they did (bench/log_store.py). Event ids are kept by the migration: eventIds and paging tokens handed
out before it stay valid. Version 2 adds `log_writer`: the number of the last line the writer process stored, kept
in each chunk's own transaction, so that a chunk sent again after a writer died between its commit and its answer
is recognised and not stored twice (`nimbus.logs.writer`).
"""

from __future__ import annotations

from sqlalchemy import Column, Engine, Index, Integer, MetaData, String, Table, Text, UniqueConstraint, inspect

LOGS_SCHEMA_VERSION = 2

metadata = MetaData()

#: one row per log stream of a group that has events; `id` is what its events carry
log_streams = Table(
    "log_streams",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("grp", String(512), nullable=False),
    Column("name", String(512), nullable=False),
    UniqueConstraint("grp", "name", name="log_streams_grp_name"),
)
#: one row per log line. `id` orders events and is their eventId; `ts` is the event time (epoch ms).
events = Table(
    "events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("sid", Integer, nullable=False),
    Column("ts", Integer, nullable=False),
    Column("ingested", Integer, nullable=False),
    Column("message", Text, nullable=False),
    Index("events_sid_ts", "sid", "ts"),
)
#: log groups made on purpose (a stack's AWS::Logs::LogGroup), with their own retention (None: the server's); a
#: group a function logs to needs no row, it exists by its events
log_groups = Table(
    "log_groups",
    metadata,
    Column("grp", String(512), primary_key=True),
    Column("created", Integer, nullable=False),
    Column("retention_days", Integer, nullable=True),
)

#: one row (id 0): the number of the last line the writer process stored (the server numbers the lines it sends in
#: order, from one more than this at its start); updated in the transaction of the chunk that stored the line
log_writer = Table(
    "log_writer",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("last_line", Integer, nullable=False),
)

#: version 0 -> 1, after the old table is renamed events_v0 and the new tables made: streams named once, events
#: keyed by stream id (ids, times and messages kept as they were)
_TO_STREAM_IDS = [
    "INSERT INTO log_streams (grp, name) SELECT grp, stream FROM events_v0 GROUP BY grp, stream",
    "INSERT INTO events (id, sid, ts, ingested, message) SELECT e.id, s.id, e.ts, e.ingested, e.message "
    "FROM events_v0 AS e JOIN log_streams AS s ON s.grp = e.grp AND s.name = e.stream ORDER BY e.id",
    "DROP TABLE events_v0",
]


def migrate(engine: Engine) -> None:
    """Bring the log database to LOGS_SCHEMA_VERSION (tables it lacks are made); refuse one from a newer Nimbus.

    All of it is one transaction, begun here: Python's sqlite3 begins one only before INSERT, UPDATE and DELETE, so
    the rename, the new tables and the DROP would each commit on their own, and a crash between them would leave
    the old events in a table nothing reads (and the version set over them at the next open)."""
    with engine.begin() as conn:
        conn.exec_driver_sql("BEGIN IMMEDIATE")
        version = conn.exec_driver_sql("PRAGMA user_version").scalar() or 0
        if version > LOGS_SCHEMA_VERSION:
            raise RuntimeError(
                f"log database schema version {version} is newer than this Nimbus ({LOGS_SCHEMA_VERSION}): "
                "upgrade Nimbus"
            )
        old = "events" in inspect(conn).get_table_names() and version == 0
        if old and "grp" in {c["name"] for c in inspect(conn).get_columns("events")}:
            conn.exec_driver_sql("ALTER TABLE events RENAME TO events_v0")
            metadata.create_all(conn)
            for statement in _TO_STREAM_IDS:
                conn.exec_driver_sql(statement)
        metadata.create_all(conn)  # (version 1 -> 2: the log_writer table, and its row)
        conn.exec_driver_sql("INSERT OR IGNORE INTO log_writer (id, last_line) VALUES (0, 0)")
        conn.exec_driver_sql(f"PRAGMA user_version={LOGS_SCHEMA_VERSION}")
