"""Published versions and aliases: immutable snapshots of a function, and named, weighted pointers to them.

Every change goes through `Registry.editing`: under the registry's lock, the rules here decide on the current
record, and the edit writes the database first and memory second (dropping a version retires its instances).
"""

from __future__ import annotations

import uuid
from typing import Any

from nimbus.clock import lambda_timestamp
from nimbus.control import aliases as alias_rules
from nimbus.control import validation as v
from nimbus.control import wire
from nimbus.control.records import FunctionRecord, VersionRecord
from nimbus.control.registry import Registry
from nimbus.control.wire import page
from nimbus.errors import InvalidParameterValue, ResourceConflict, ResourceNotFound

__all__ = ["VOLATILE", "Versions", "page"]  # `page` is re-exported: the API's list operations import it here

#: the internal key a version keeps `$LATEST`'s Description in, as it was when the version was published
LATEST_DESCRIPTION = "_PublishedFromDescription"

#: configuration keys that are not published fields: two snapshots differing only here are the same version.
#: Description is compared apart (a version's own may come from PublishVersion); the `_` settings are the function's
#: (recursion, runtime management), set beside the configuration and never a reason for a new version
VOLATILE = frozenset(
    {
        "Version", "RevisionId", "LastModified", "State", "StateReason", "StateReasonCode", "LastUpdateStatus",
        "LastUpdateStatusReason", "LastUpdateStatusReasonCode", "Description", LATEST_DESCRIPTION, "_RunRevision",
        "_RecursiveLoop", "_RuntimeManagement",
    }
)  # fmt: skip


def _essence(config: dict[str, Any]) -> dict[str, Any]:
    out = {k: val for k, val in config.items() if k not in VOLATILE}
    out["SnapStart"] = config["SnapStart"]["ApplyOn"]  # OptimizationStatus differs between $LATEST and versions
    return out


def _same(version: dict[str, Any], latest: dict[str, Any]) -> bool:
    """Whether `$LATEST` still is what `version` was published from: every published field, its Description
    included (compared with the Description `$LATEST` had then, as PublishVersion may have given the version its
    own)."""
    published_from = version.get(LATEST_DESCRIPTION, version.get("Description", ""))
    return published_from == latest.get("Description", "") and _essence(version) == _essence(latest)


def new_version(rec: FunctionRecord, body: dict[str, Any]) -> VersionRecord | None:
    """The version PublishVersion makes of `$LATEST`, or None when the newest version already is `$LATEST`
    (Lambda answers with that one). The preconditions of the body (CodeSha256, RevisionId) are checked here."""
    latest = rec.config
    sha = body.get("CodeSha256")
    if sha is not None and sha != latest["CodeSha256"]:
        raise InvalidParameterValue(
            f"CodeSHA256 ({sha}) is different from current CodeSHA256 in $LATEST ({latest['CodeSha256']}). "
            "Please try again with the CodeSHA256 in $LATEST."
        )
    v.revision(latest["RevisionId"], body.get("RevisionId"))
    newest = rec.versions[max(rec.versions)] if rec.versions else None
    if newest is not None and newest.code_sha256 == rec.code_sha256 and _same(newest.config, latest):
        return None
    number = rec.next_version
    config = dict(latest)
    config.update(Version=str(number), RevisionId=str(uuid.uuid4()), LastModified=lambda_timestamp())
    config[LATEST_DESCRIPTION] = latest.get("Description", "")
    if config["SnapStart"]["ApplyOn"] == "PublishedVersions":
        config["SnapStart"] = {"ApplyOn": "PublishedVersions", "OptimizationStatus": "On"}
    if "Description" in body:
        config["Description"] = v.description(body["Description"])
    return VersionRecord(number, config, rec.code_sha256)


class Versions:
    def __init__(self, registry: Registry) -> None:
        self.registry = registry

    # ---- versions ----
    async def publish(self, name: str, body: dict[str, Any]) -> dict[str, Any]:
        async with self.registry.editing(name) as edit:
            record = new_version(edit.rec, body)
            if record is None:
                number = max(edit.rec.versions)
            else:
                await edit.add_version(record)
                await edit.renew_revision()  # publishing changes $LATEST's RevisionId too, as on Lambda
                number = record.number
        return self.registry.configuration(edit.rec, version=str(number))

    def list_versions(
        self, name: str, marker: str | None, max_items: int | None
    ) -> tuple[list[dict[str, Any]], str | None]:
        rec = self.registry.get(name)
        chunk, next_marker = page(rec.version_names(), marker, max_items)
        # in this listing $LATEST carries its qualified ARN too (…:function:name:$LATEST), as Lambda shows it, and
        # no item its state fields
        items = [self.registry.configuration(rec, listing=True, version=ver, qualifier=ver) for ver in chunk]
        return items, next_marker

    async def delete_version(self, name: str, qualifier: str) -> None:
        reg = self.registry
        async with reg.editing(name) as edit:
            rec = edit.rec
            if not qualifier.isdigit():
                if qualifier in rec.aliases:
                    raise InvalidParameterValue("Deletion of aliases is done with DeleteAlias, not DeleteFunction.")
                raise ResourceNotFound(f"Function not found: {reg.function_arn(name)}:{qualifier}")
            number = int(qualifier)
            if number not in rec.versions:
                return  # Lambda answers success: the version is not there, as asked
            users = sorted(a for a, cfg in rec.aliases.items() if qualifier in alias_rules.referenced_versions(cfg))
            if users:
                raise ResourceConflict(
                    f"Unable to delete version because the following aliases reference it: [{', '.join(users)}]"
                )
            await edit.drop_version(number)

    # ---- aliases ----
    def alias_arn(self, name: str, alias: str) -> str:
        return f"{self.registry.function_arn(name)}:{alias}"

    def describe_alias(self, name: str, alias: str, config: dict[str, Any]) -> dict[str, Any]:
        return wire.describe_alias(self.registry.function_arn(name), alias, config)

    def _target(self, rec: FunctionRecord, version: Any) -> str:
        if version == "$LATEST":
            return "$LATEST"
        if not isinstance(version, str) or not version.isdigit() or int(version) not in rec.versions:
            raise ResourceNotFound(f"Function not found: {self.registry.function_arn(rec.name)}:{version}")
        return version

    def _routing(self, rec: FunctionRecord, value: Any, primary: str) -> dict[str, Any] | None:
        return alias_rules.routing_config(value, primary, lambda ver: ver.isdigit() and int(ver) in rec.versions)

    async def create_alias(self, name: str, body: dict[str, Any]) -> dict[str, Any]:
        alias = alias_rules.alias_name(body.get("Name"))
        async with self.registry.editing(name) as edit:
            rec = edit.rec
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
            await edit.put_alias(alias, config)
        return self.describe_alias(name, alias, config)

    def get_alias(self, name: str, alias: str) -> dict[str, Any]:
        rec = self.registry.get(name)
        if alias not in rec.aliases:
            raise ResourceNotFound(f"Cannot find alias arn: {self.alias_arn(name, alias)}")
        return self.describe_alias(name, alias, rec.aliases[alias])

    async def update_alias(self, name: str, alias: str, body: dict[str, Any]) -> dict[str, Any]:
        async with self.registry.editing(name) as edit:
            rec = edit.rec
            current = rec.aliases.get(alias)
            if current is None:
                raise ResourceNotFound(f"Cannot find alias arn: {self.alias_arn(name, alias)}")
            v.revision(current["RevisionId"], body.get("RevisionId"))
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
            await edit.put_alias(alias, config)
        return self.describe_alias(name, alias, config)

    async def delete_alias(self, name: str, alias: str) -> None:
        async with self.registry.editing(name) as edit:
            if alias not in edit.rec.aliases:
                return  # Lambda answers success (its model lists no ResourceNotFound for DeleteAlias)
            await edit.drop_alias(alias)

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
