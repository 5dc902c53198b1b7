"""The SQL behind the registries: functions, published versions, aliases, provisioned configurations and layer
versions, on one engine (the tables are described in `store/schema.py`).

This module knows no rules: the registry has checked a change before it gets here, and it holds its write lock
while the change is written, so two writes to one record never interleave. Each method is one transaction and
is synchronous: callers run it in a worker thread, so the event loop never waits on the disk.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Connection, Engine, delete, insert, select, update

from nimbus.control.records import FunctionRecord, LayerVersion, ProvisionedConfig, VersionRecord
from nimbus.store.schema import aliases, functions, layer_versions, provisioned, versions


class RecordStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # ---- reads (once, at start-up) ----
    def load_functions(self) -> dict[str, FunctionRecord]:
        """Every function with its versions and aliases."""
        out: dict[str, FunctionRecord] = {}
        with self.engine.connect() as conn:
            for row in conn.execute(select(functions)):
                out[row.name] = FunctionRecord(
                    row.name, json.loads(row.config), row.code_sha256, json.loads(row.tags), row.created_at,
                    row.next_version, row.reserved_concurrency,
                )  # fmt: skip
            for row in conn.execute(select(versions)):
                out[row.function].versions[row.version] = VersionRecord(
                    row.version, json.loads(row.config), row.code_sha256
                )
            for row in conn.execute(select(aliases)):
                out[row.function].aliases[row.name] = json.loads(row.config)
        return out

    def load_provisioned(self) -> list[ProvisionedConfig]:
        with self.engine.connect() as conn:
            return [
                ProvisionedConfig(row.function, row.qualifier, row.requested, row.last_modified)
                for row in conn.execute(select(provisioned))
            ]

    def load_layers(self) -> list[LayerVersion]:
        """Every layer version, deleted ones too (their numbers are never given again)."""
        with self.engine.connect() as conn:
            return [
                LayerVersion(
                    row.layer, row.version, json.loads(row.config), row.code_sha256, json.loads(row.policy),
                    bool(row.deleted),
                )
                for row in conn.execute(select(layer_versions))
            ]  # fmt: skip

    # ---- functions ($LATEST) ----
    @staticmethod
    def _function_values(rec: FunctionRecord) -> dict[str, Any]:
        return {
            "config": json.dumps(rec.config),
            "code_sha256": rec.code_sha256,
            "tags": json.dumps(rec.tags),
            "next_version": rec.next_version,
            "reserved_concurrency": rec.reserved_concurrency,
        }

    def insert_function(self, rec: FunctionRecord) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                insert(functions).values(name=rec.name, created_at=rec.created_at, **self._function_values(rec))
            )

    def update_function(self, rec: FunctionRecord) -> None:
        """Write `$LATEST`'s row (configuration, code, tags, next version number, reserved concurrency)."""
        with self.engine.begin() as conn:
            conn.execute(update(functions).where(functions.c.name == rec.name).values(**self._function_values(rec)))

    def delete_function(self, name: str) -> None:
        """The function with its versions and aliases, in one transaction."""
        with self.engine.begin() as conn:
            conn.execute(delete(aliases).where(aliases.c.function == name))
            conn.execute(delete(versions).where(versions.c.function == name))
            conn.execute(delete(functions).where(functions.c.name == name))

    # ---- versions ----
    def insert_version(self, name: str, record: VersionRecord) -> None:
        """A published version, and the function's next number past it (numbers are never given twice)."""
        with self.engine.begin() as conn:
            conn.execute(
                insert(versions).values(
                    function=name, version=record.number, config=json.dumps(record.config),
                    code_sha256=record.code_sha256,
                )
            )  # fmt: skip
            conn.execute(update(functions).where(functions.c.name == name).values(next_version=record.number + 1))

    def update_version(self, name: str, record: VersionRecord) -> None:
        """Rewrite a published version's configuration (only its `_` settings change: the rest is immutable)."""
        with self.engine.begin() as conn:
            conn.execute(
                update(versions)
                .where(versions.c.function == name, versions.c.version == record.number)
                .values(config=json.dumps(record.config))
            )

    def delete_version(self, name: str, number: int) -> None:
        with self.engine.begin() as conn:
            conn.execute(delete(versions).where(versions.c.function == name, versions.c.version == number))

    # ---- aliases ----
    def put_alias(self, name: str, alias: str, config: dict[str, Any]) -> None:
        """Create or replace an alias's configuration."""
        with self.engine.begin() as conn:
            self._delete_alias(conn, name, alias)
            conn.execute(insert(aliases).values(function=name, name=alias, config=json.dumps(config)))

    def delete_alias(self, name: str, alias: str) -> None:
        with self.engine.begin() as conn:
            self._delete_alias(conn, name, alias)

    @staticmethod
    def _delete_alias(conn: Connection, name: str, alias: str) -> None:
        conn.execute(delete(aliases).where(aliases.c.function == name, aliases.c.name == alias))

    # ---- provisioned concurrency ----
    def put_provisioned(self, config: ProvisionedConfig) -> None:
        """Create or replace the configuration of one (function, qualifier)."""
        with self.engine.begin() as conn:
            conn.execute(
                delete(provisioned).where(
                    provisioned.c.function == config.function, provisioned.c.qualifier == config.qualifier
                )
            )
            conn.execute(
                insert(provisioned).values(
                    function=config.function, qualifier=config.qualifier, requested=config.requested,
                    last_modified=config.last_modified,
                )
            )  # fmt: skip

    def delete_provisioned(self, function: str, qualifier: str | None = None) -> None:
        """One configuration, or every configuration of the function (qualifier None)."""
        with self.engine.begin() as conn:
            query = delete(provisioned).where(provisioned.c.function == function)
            if qualifier is not None:
                query = query.where(provisioned.c.qualifier == qualifier)
            conn.execute(query)

    # ---- layer versions ----
    def insert_layer_version(self, lv: LayerVersion) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                insert(layer_versions).values(
                    layer=lv.name, version=lv.version, config=json.dumps(lv.config), code_sha256=lv.code_sha256,
                    policy=json.dumps(lv.policy), deleted=int(lv.deleted),
                )
            )  # fmt: skip

    def update_layer_version(self, lv: LayerVersion) -> None:
        """Write what changes on a published layer version: its permission policy and whether it is deleted."""
        with self.engine.begin() as conn:
            conn.execute(
                update(layer_versions)
                .where(layer_versions.c.layer == lv.name, layer_versions.c.version == lv.version)
                .values(policy=json.dumps(lv.policy), deleted=int(lv.deleted))
            )
