"""Engine construction with the SQLite pragmas stated explicitly (WAL, busy_timeout, synchronous level)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, MetaData, create_engine, event, insert, select

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


def migrate(engine: Engine, metadata: MetaData) -> None:
    """Create missing tables and record the schema version; refuse a data dir from a newer Nimbus."""
    metadata.create_all(engine)
    with engine.begin() as conn:
        row = conn.execute(select(meta.c.version)).first()
        if row is None:
            conn.execute(insert(meta).values(version=SCHEMA_VERSION))
        elif row.version > SCHEMA_VERSION:
            raise RuntimeError(
                f"data dir schema version {row.version} is newer than this Nimbus ({SCHEMA_VERSION}): upgrade Nimbus"
            )
