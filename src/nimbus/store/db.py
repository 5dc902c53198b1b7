"""Engine construction with the SQLite pragmas stated explicitly (WAL, busy_timeout, synchronous level)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, MetaData, create_engine, event, insert, inspect, select, update

from nimbus.store.schema import SCHEMA_VERSION, meta


def sqlite_engine(path: Path, *, synchronous: str = "FULL") -> Engine:
    """An engine for a SQLite file in WAL mode. FULL for state we promise to keep; NORMAL where a power cut may
    drop the last moments (logs) but a process crash may not."""
    path.parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(f"sqlite:///{path}", connect_args={"check_same_thread": False, "timeout": 30})

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_conn: Any, _record: Any) -> None:
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute(f"PRAGMA synchronous={synchronous}")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()

    return engine


#: steps that bring a data dir from version N-1 to N: (table, column, its definition) for each column a step adds;
#: new tables are made by create_all. SQLite's ALTER TABLE commits on its own (Python's sqlite3 opens no transaction
#: for DDL), apart from the version's update, so a server killed between them leaves a column the next start must
#: not add again: a step whose column is there already is skipped.
MIGRATIONS: dict[int, list[tuple[str, str, str]]] = {
    2: [("functions", "next_version", "INTEGER NOT NULL DEFAULT 1")],
    3: [("functions", "reserved_concurrency", "INTEGER")],
    5: [],  # event_invoke_configs: a new table, made by create_all
    6: [],  # event_source_mappings: a new table, made by create_all
    7: [],  # function_policies, function_urls, http_apis: new tables, made by create_all
    8: [],  # event_buses, event_rules, topics, subscriptions, schedule_groups, schedules, schedule_fires: new tables
    9: [],  # identities (roles, policies, users, keys), stacks, metric series: new tables, made by create_all
}


def migrate(engine: Engine, metadata: MetaData) -> None:
    """Bring the schema to SCHEMA_VERSION; refuse a data dir from a newer Nimbus."""
    with engine.begin() as conn:
        existing = set(inspect(conn).get_table_names())
        current = conn.execute(select(meta.c.version)).scalar() if "meta" in existing else None
        if current is not None and current > SCHEMA_VERSION:
            raise RuntimeError(
                f"data dir schema version {current} is newer than this Nimbus ({SCHEMA_VERSION}): upgrade Nimbus"
            )
        if current is not None:
            for step in range(current + 1, SCHEMA_VERSION + 1):
                for table, column, definition in MIGRATIONS.get(step, []):
                    if column not in {c["name"] for c in inspect(conn).get_columns(table)}:
                        conn.exec_driver_sql(f"ALTER TABLE {table} ADD COLUMN {column} {definition}")
    metadata.create_all(engine)
    with engine.begin() as conn:
        if conn.execute(select(meta.c.version)).first() is None:
            conn.execute(insert(meta).values(version=SCHEMA_VERSION))
        else:
            conn.execute(update(meta).values(version=SCHEMA_VERSION))
