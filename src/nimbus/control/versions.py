"""Published versions and aliases: immutable snapshots of a function, and named, weighted pointers to them.

Everything here mutates a FunctionRecord under the registry's lock, writes the database first, and then lets the
registry drop cached specs (the instance manager retires the function's instances).
"""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

from sqlalchemy import delete, insert, update

from nimbus.clock import lambda_timestamp
from nimbus.control import aliases as alias_rules
from nimbus.control import validation as v
from nimbus.control.registry import FunctionRecord, Registry, VersionRecord
from nimbus.errors import InvalidParameterValue, PreconditionFailed, ResourceConflict, ResourceNotFound
from nimbus.store.schema import aliases, functions, versions

#: configuration keys that say nothing about what runs: two snapshots differing only here are the same version
VOLATILE = frozenset(
    {
        "Version", "RevisionId", "LastModified", "State", "StateReason", "StateReasonCode", "LastUpdateStatus",
        "LastUpdateStatusReason", "LastUpdateStatusReasonCode", "Description",
    }
)  # fmt: skip
PAGE_MAX = 50


def _essence(config: dict[str, Any]) -> dict[str, Any]:
    out = {k: val for k, val in config.items() if k not in VOLATILE}
    out["SnapStart"] = config["SnapStart"]["ApplyOn"]  # OptimizationStatus differs between $LATEST and versions
    return out


def _same(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return _essence(a) == _essence(b)


def page(items: list[Any], marker: str | None, max_items: int | None) -> tuple[list[Any], str | None]:
    """Index-marker pagination, at most PAGE_MAX items a page (Lambda's cap)."""
    start = 0
    if marker:
        if not marker.isdigit():
            raise InvalidParameterValue("Invalid Marker.")
        start = int(marker)
    limit = min(max_items or PAGE_MAX, PAGE_MAX)
    chunk = items[start : start + limit]
    return chunk, (str(start + limit) if start + limit < len(items) else None)


class Versions:
    def __init__(self, registry: Registry) -> None:
        self.registry = registry

    # ---- versions ----
    async def publish(self, name: str, body: dict[str, Any]) -> dict[str, Any]:
        reg = self.registry
        async with reg.lock:
            rec = reg.get(name)
            latest = rec.config
            sha = body.get("CodeSha256")
            if sha is not None and sha != latest["CodeSha256"]:
                raise InvalidParameterValue(
                    f"CodeSHA256 ({sha}) is different from current CodeSHA256 in $LATEST ({latest['CodeSha256']}). "
                    "Please try again with the CodeSHA256 in $LATEST."
                )
            if body.get("RevisionId") is not None and body["RevisionId"] != latest["RevisionId"]:
                raise PreconditionFailed(
                    "The Revision Id provided does not match the latest Revision Id. "
                    "Call the GetFunction/GetAlias API to retrieve the latest Revision Id"
                )
            newest = rec.versions[max(rec.versions)] if rec.versions else None
            if newest is not None and newest.code_sha256 == rec.code_sha256 and _same(newest.config, latest):
                return reg.configuration(rec, version=str(newest.number))
            number = rec.next_version
            config = dict(latest)
            config.update(Version=str(number), RevisionId=str(uuid.uuid4()), LastModified=lambda_timestamp())
            if config["SnapStart"]["ApplyOn"] == "PublishedVersions":
                config["SnapStart"] = {"ApplyOn": "PublishedVersions", "OptimizationStatus": "On"}
            if "Description" in body:
                config["Description"] = v.description(body["Description"])
            record = VersionRecord(number, config, rec.code_sha256)

            def write() -> None:
                with reg.engine.begin() as conn:
                    conn.execute(
                        insert(versions).values(
                            function=name, version=number, config=json.dumps(config), code_sha256=rec.code_sha256
                        )
                    )
                    conn.execute(update(functions).where(functions.c.name == name).values(next_version=number + 1))

            await asyncio.to_thread(write)
            rec.versions[number] = record
            rec.next_version = number + 1
        return reg.configuration(rec, version=str(number))

    def list_versions(
        self, name: str, marker: str | None, max_items: int | None
    ) -> tuple[list[dict[str, Any]], str | None]:
        rec = self.registry.get(name)
        chunk, next_marker = page(rec.version_names(), marker, max_items)
        # in this listing $LATEST carries its qualified ARN too (…:function:name:$LATEST), as Lambda shows it
        return [self.registry.configuration(rec, version=ver, qualifier=ver) for ver in chunk], next_marker

    async def delete_version(self, name: str, qualifier: str) -> None:
        reg = self.registry
        async with reg.lock:
            rec = reg.get(name)
            if not qualifier.isdigit():
                if qualifier in rec.aliases:
                    raise InvalidParameterValue("Deletion of aliases is done with DeleteAlias, not DeleteFunction.")
                raise ResourceNotFound(f"Function not found: {reg.function_arn(name)}:{qualifier}")
            number = int(qualifier)
            if number not in rec.versions:
                raise ResourceNotFound(f"Function not found: {reg.function_arn(name)}:{qualifier}")
            users = sorted(a for a, cfg in rec.aliases.items() if qualifier in alias_rules.referenced_versions(cfg))
            if users:
                raise ResourceConflict(
                    f"Unable to delete version because the following aliases reference it: [{', '.join(users)}]"
                )

            def write() -> None:
                with reg.engine.begin() as conn:
                    conn.execute(delete(versions).where(versions.c.function == name, versions.c.version == number))

            await asyncio.to_thread(write)
            del rec.versions[number]
            await reg.changed(name)

    # ---- aliases ----
    def alias_arn(self, name: str, alias: str) -> str:
        return f"{self.registry.function_arn(name)}:{alias}"

    def describe_alias(self, name: str, alias: str, config: dict[str, Any]) -> dict[str, Any]:
        return {"AliasArn": self.alias_arn(name, alias), "Name": alias, **config}

    def _target(self, rec: FunctionRecord, version: Any) -> str:
        if version == "$LATEST":
            return "$LATEST"
        if not isinstance(version, str) or not version.isdigit() or int(version) not in rec.versions:
            raise ResourceNotFound(f"Function not found: {self.registry.function_arn(rec.name)}:{version}")
        return version

    def _routing(self, rec: FunctionRecord, value: Any, primary: str) -> dict[str, Any] | None:
        return alias_rules.routing_config(value, primary, lambda ver: ver.isdigit() and int(ver) in rec.versions)

    async def _save_alias(self, name: str, alias: str, config: dict[str, Any], *, new: bool) -> None:
        def write() -> None:
            with self.registry.engine.begin() as conn:
                if new:
                    conn.execute(insert(aliases).values(function=name, name=alias, config=json.dumps(config)))
                else:
                    conn.execute(
                        update(aliases)
                        .where(aliases.c.function == name, aliases.c.name == alias)
                        .values(config=json.dumps(config))
                    )

        await asyncio.to_thread(write)

    async def create_alias(self, name: str, body: dict[str, Any]) -> dict[str, Any]:
        alias = alias_rules.alias_name(body.get("Name"))
        reg = self.registry
        async with reg.lock:
            rec = reg.get(name)
            if alias in rec.aliases:
                raise ResourceConflict(f"Alias already exists: {self.alias_arn(name, alias)}")
            primary = self._target(rec, body.get("FunctionVersion"))
            config: dict[str, Any] = {
                "FunctionVersion": primary,
                "Description": v.description(body.get("Description", "")),
                "RevisionId": str(uuid.uuid4()),
            }
            routing = self._routing(rec, body.get("RoutingConfig"), primary)
            if routing:
                config["RoutingConfig"] = routing
            await self._save_alias(name, alias, config, new=True)
            rec.aliases[alias] = config
        return self.describe_alias(name, alias, config)

    def get_alias(self, name: str, alias: str) -> dict[str, Any]:
        rec = self.registry.get(name)
        if alias not in rec.aliases:
            raise ResourceNotFound(f"Cannot find alias arn: {self.alias_arn(name, alias)}")
        return self.describe_alias(name, alias, rec.aliases[alias])

    async def update_alias(self, name: str, alias: str, body: dict[str, Any]) -> dict[str, Any]:
        reg = self.registry
        async with reg.lock:
            rec = reg.get(name)
            current = rec.aliases.get(alias)
            if current is None:
                raise ResourceNotFound(f"Cannot find alias arn: {self.alias_arn(name, alias)}")
            if body.get("RevisionId") is not None and body["RevisionId"] != current["RevisionId"]:
                raise PreconditionFailed(
                    "The Revision Id provided does not match the latest Revision Id. "
                    "Call the GetFunction/GetAlias API to retrieve the latest Revision Id"
                )
            config = dict(current)
            if "FunctionVersion" in body:
                config["FunctionVersion"] = self._target(rec, body["FunctionVersion"])
            if "Description" in body:
                config["Description"] = v.description(body["Description"])
            routing_in = body["RoutingConfig"] if "RoutingConfig" in body else current.get("RoutingConfig")
            routing = self._routing(rec, routing_in, config["FunctionVersion"])
            config.pop("RoutingConfig", None)
            if routing:
                config["RoutingConfig"] = routing
            config["RevisionId"] = str(uuid.uuid4())
            await self._save_alias(name, alias, config, new=False)
            rec.aliases[alias] = config
        return self.describe_alias(name, alias, config)

    async def delete_alias(self, name: str, alias: str) -> None:
        reg = self.registry
        async with reg.lock:
            rec = reg.get(name)
            if alias not in rec.aliases:
                raise ResourceNotFound(f"Alias not found: {self.alias_arn(name, alias)}")

            def write() -> None:
                with reg.engine.begin() as conn:
                    conn.execute(delete(aliases).where(aliases.c.function == name, aliases.c.name == alias))

            await asyncio.to_thread(write)
            del rec.aliases[alias]

    def list_aliases(
        self, name: str, version: str | None, marker: str | None, max_items: int | None
    ) -> tuple[list[dict[str, Any]], str | None]:
        rec = self.registry.get(name)
        found = [
            self.describe_alias(name, a, cfg)
            for a, cfg in sorted(rec.aliases.items())
            if version is None or version in alias_rules.referenced_versions(cfg)
        ]
        return page(found, marker, max_items)
