"""The control-plane schema. SQLite runs in WAL mode with synchronous=FULL: a function that CreateFunction
acknowledged survives `kill -9` and power loss. Bump SCHEMA_VERSION and add a step to `migrate` for any change.
"""

from __future__ import annotations

from sqlalchemy import Column, Integer, MetaData, String, Table, Text

SCHEMA_VERSION = 1

metadata = MetaData()

#: one row per schema; `version` is the migration level the data dir is at
meta = Table("meta", metadata, Column("version", Integer, nullable=False))

#: one row per function ($LATEST). `config` is the stored FunctionConfiguration (JSON, Lambda field names);
#: `code_sha256` is the hex digest naming the zip in blobs/ and its unpacked tree in code/.
functions = Table(
    "functions",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("config", Text, nullable=False),
    Column("code_sha256", String(64), nullable=False),
    Column("tags", Text, nullable=False, default="{}"),
    Column("created_at", Integer, nullable=False),  # epoch ms
)
