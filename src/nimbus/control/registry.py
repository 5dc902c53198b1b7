"""The function registry: validated configuration, stored durably, cached in memory for the invoke path.

Every change is serialised by one lock, written to the database (`RecordStore`) before it is acknowledged, and
then published to listeners (the invoke door drops its cached specs, the instance pools retire old instances).
Reads never touch the database. The rules live in `validation`, the JSON shapes in `wire`, the FunctionSpec
mapping in `spec`; this module orchestrates them. Versions and aliases change a record through `editing`, which
holds the lock.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import replace
from typing import Any

from sqlalchemy import Engine

from nimbus.config import Settings
from nimbus.control import function_requests as fr
from nimbus.control import validation as v
from nimbus.control import wire
from nimbus.control.codestore import CodeInfo, CodeStore
from nimbus.control.layers import LayerRegistry
from nimbus.control.records import FunctionRecord, VersionRecord, code_fields, new_config, stamp
from nimbus.control.records_store import RecordStore
from nimbus.control.spec import build_spec
from nimbus.control.validation import NETWORK_TAG, check_tags
from nimbus.errors import ResourceConflict, ResourceNotFound
from nimbus.protocol.records import FunctionSpec

# FunctionRecord, VersionRecord and check_tags are re-exported: the API and the versions module import them here
__all__ = [
    "FunctionRecord", "Listener", "RecordEdit", "Registry", "RoleCheck", "RuntimeCheck", "VersionRecord", "check_tags",
]

Listener = Callable[[str], Awaitable[None]]
RuntimeCheck = Callable[[str], None]
#: `check(function, role_arn)`: refuses a role Lambda could not assume (control/execution_roles.py)
RoleCheck = Callable[[str, str], None]


class RecordEdit:
    """One function's record opened for change under the registry's lock (only `Registry.editing` makes one).

    Each method writes the database first and memory second, so what the API acknowledges survives a crash; the
    checks that decide a change are the caller's, made on `rec` while the lock keeps it still.
    """

    def __init__(self, store: RecordStore, rec: FunctionRecord) -> None:
        self.rec = rec
        self._store = store
        #: a version went away: its instances are retired when the edit ends
        self.retire = False
        #: an alias went away: what hangs on it (policies, URLs, event invoke configs) goes when the edit ends
        self.alias_dropped = False

    async def add_version(self, record: VersionRecord) -> None:
        await asyncio.to_thread(self._store.insert_version, self.rec.name, record)
        self.rec.versions[record.number] = record
        self.rec.next_version = record.number + 1

    async def drop_version(self, number: int) -> None:
        await asyncio.to_thread(self._store.delete_version, self.rec.name, number)
        del self.rec.versions[number]
        self.retire = True

    async def put_alias(self, alias: str, config: dict[str, Any]) -> None:
        await asyncio.to_thread(self._store.put_alias, self.rec.name, alias, config)
        self.rec.aliases[alias] = config

    async def drop_alias(self, alias: str) -> None:
        await asyncio.to_thread(self._store.delete_alias, self.rec.name, alias)
        del self.rec.aliases[alias]
        self.alias_dropped = True

    async def renew_revision(self) -> None:
        """A new RevisionId for `$LATEST`: Lambda gives one whenever the function changes, a published version
        included, so a RevisionId read before the change no longer passes a precondition."""
        self.rec.config = self.rec.config | {"RevisionId": str(uuid.uuid4())}
        await asyncio.to_thread(self._store.update_function, self.rec)

    async def set_settings(self, version: str, settings: dict[str, Any]) -> None:
        """Merge internal (`_`) settings into `$LATEST`'s or a published version's configuration: the function-level
        settings Lambda keeps beside the configuration (recursion, runtime management), stored with it."""
        if version == "$LATEST":
            self.rec.config = self.rec.config | settings
            await asyncio.to_thread(self._store.update_function, self.rec)
            return
        record = self.rec.versions[int(version)]
        record.config = record.config | settings
        await asyncio.to_thread(self._store.update_version, self.rec.name, record)


class Registry:
    def __init__(
        self, settings: Settings, engine: Engine, codes: CodeStore, check_runtime: RuntimeCheck, layers: LayerRegistry
    ) -> None:
        self.settings = settings
        self.store = RecordStore(engine)
        self.codes = codes
        self.check_runtime = check_runtime
        self.layers = layers
        #: the execution role rule, once the server has IAM's roles (None: any role ARN is taken)
        self.check_role: RoleCheck | None = None
        self._functions: dict[str, FunctionRecord] = {}
        self._lock = asyncio.Lock()
        self._listeners: list[Listener] = []
        #: the listeners that also hear of a deleted alias (which retires no instance, so the others do not)
        self._alias_listeners: list[Listener] = []
        #: the listeners that also hear of a function created (which retires nothing, so the others do not)
        self._create_listeners: list[Listener] = []

    # ---- reads (memory only) ----
    def load(self) -> None:
        self._functions = self.store.load_functions()

    def subscribe(self, listener: Listener, *, aliases: bool = False, creates: bool = False) -> None:
        """Call `listener(name)` after each change of what a function runs (an update, a deleted version, the
        function deleted); with `aliases`, also after one of its aliases is deleted: what is attached to an alias
        (a policy, a function URL, an event invoke config) must go with it, or a re-created alias would inherit
        it; with `creates`, also after the function is created (its first invoke is a cold start)."""
        self._listeners.append(listener)
        if aliases:
            self._alias_listeners.append(listener)
        if creates:
            self._create_listeners.append(listener)

    def function_arn(self, name: str) -> str:
        return wire.function_arn(self.settings.region, self.settings.account_id, name)

    def get(self, name: str) -> FunctionRecord:
        rec = self._functions.get(name)
        if rec is None:
            raise ResourceNotFound(f"Function not found: {self.function_arn(name)}")
        return rec

    def names(self) -> list[str]:
        return sorted(self._functions)

    def reservations(self) -> dict[str, int]:
        return {n: r.reserved_concurrency for n, r in self._functions.items() if r.reserved_concurrency is not None}

    def live_code(self) -> set[str]:
        """Every code hash a function, a version or a layer version references; the rest is collected."""
        live = {r.code_sha256 for r in self._functions.values()}
        configs = [r.config for r in self._functions.values()]
        for r in self._functions.values():
            live.update(vr.code_sha256 for vr in r.versions.values())
            configs += [vr.config for vr in r.versions.values()]
        live.update(lv.code_sha256 for c in configs for lv in self.layers.attached(c.get("Layers", [])))
        return live | self.layers.live_code()

    def resolve(self, name: str, qualifier: str | None) -> tuple[FunctionRecord, str]:
        """The record and the version a qualifier names: $LATEST, a version number, or an alias's primary."""
        rec = self.get(name)
        if qualifier is None or qualifier == "$LATEST":
            return rec, "$LATEST"
        if qualifier.isdigit():
            if int(qualifier) not in rec.versions:
                raise ResourceNotFound(f"Function not found: {self.function_arn(name)}:{qualifier}")
            return rec, qualifier
        alias = rec.aliases.get(qualifier)
        if alias is None:
            raise ResourceNotFound(f"Function not found: {self.function_arn(name)}:{qualifier}")
        return rec, alias["FunctionVersion"]

    def spec(self, name: str, version: str = "$LATEST") -> FunctionSpec:
        """The FunctionSpec instances run for one version, built from the record as it is now. Not cached here:
        the invoke door keeps the one cache of specs, and drops a function's entries on each of its events."""
        return build_spec(self.get(name), version, self.function_arn(name), self.settings, self.codes, self.layers)

    # ---- wire shapes (thin: the API shapes through these until it calls `wire` itself) ----
    def configuration(
        self, rec: FunctionRecord, *, listing: bool = False, version: str = "$LATEST", qualifier: str | None = None
    ) -> dict[str, Any]:
        """The FunctionConfiguration shape; ListFunctions omits the state fields as Lambda does."""
        return wire.configuration(rec, self.function_arn(rec.name), listing=listing, version=version,
                                  qualifier=qualifier)  # fmt: skip

    def page(self, marker: str | None, max_items: int | None) -> tuple[list[FunctionRecord], str | None]:
        """One page of ListFunctions, in name order."""
        names, next_marker = wire.page_by_name(self.names(), marker, max_items)
        return [self._functions[n] for n in names], next_marker

    # ---- writes ----
    async def changed(self, name: str) -> None:
        """Tell listeners that what `name` runs has changed (the invoke door drops its specs, the pools retire its
        instances, the concurrency owner drops what a deleted function or version had)."""
        for listener in self._listeners:
            await listener(name)

    @asynccontextmanager
    async def editing(self, name: str) -> AsyncIterator[RecordEdit]:
        """Hold the write lock over one function's record (ResourceNotFound when there is none): the caller reads,
        checks and changes it through the `RecordEdit`, and nobody else writes meanwhile."""
        async with self._lock:
            edit = RecordEdit(self.store, self.get(name))
            yield edit
            if edit.retire:
                await self.changed(name)
            elif edit.alias_dropped:
                for listener in self._alias_listeners:
                    await listener(name)

    async def _store_code(self, data: bytes) -> CodeInfo:
        return await asyncio.to_thread(self.codes.put, data)

    def _config(self, body: dict[str, Any], base: dict[str, Any]) -> dict[str, Any]:
        return fr.function_config(
            body, base, self.check_runtime, self.layers.attachable, self.settings.architecture_fallback
        )

    def _check_role(self, name: str, body: dict[str, Any]) -> None:
        role = body.get("Role")
        if self.check_role is not None and isinstance(role, str):
            self.check_role(name, role)

    def _check_total_size(self, cfg: dict[str, Any], unzipped: int) -> None:
        layers = self.layers.attached(cfg.get("Layers", []))
        v.total_size(unzipped, (lv.config.get("_UnzippedSize", 0) for lv in layers))

    async def create(self, body: dict[str, Any]) -> dict[str, Any]:
        name = fr.create_request(body)
        tags = check_tags(body.get("Tags") or {})
        if name in self._functions:
            raise ResourceConflict(f"Function already exist: {name}")
        cfg = self._config(body, new_config(name))
        self._check_role(name, body)
        data = fr.zip_file(body["Code"])
        async with self._lock:
            if name in self._functions:
                raise ResourceConflict(f"Function already exist: {name}")
            info = await self._store_code(data)
            self._check_total_size(cfg, info.unzipped_size)
            cfg.update(code_fields(info))
            cfg.update(stamp(self.settings.region))
            rec = FunctionRecord(name, cfg, info.sha256_hex, dict(tags), int(time.time() * 1000))
            await asyncio.to_thread(self.store.insert_function, rec)
            self._functions[name] = rec
        for listener in self._create_listeners:
            await listener(name)
        return wire.created(self.configuration(rec))

    async def _commit(self, new: FunctionRecord) -> None:
        """Store a changed `$LATEST` row and take it into memory (the caller holds the lock)."""
        await asyncio.to_thread(self.store.update_function, new)
        self._functions[new.name] = new

    async def _commit_update(self, new: FunctionRecord) -> dict[str, Any]:
        """Store an updated $LATEST, retire its instances, and answer as Lambda does while an update settles
        (here it has settled before the answer leaves: GetFunction already says Successful)."""
        await self._commit(new)
        await self.changed(new.name)
        return self.configuration(new) | wire.UPDATING

    async def update_code(self, name: str, body: dict[str, Any]) -> dict[str, Any]:
        self.get(name)
        settings = fr.code_update_settings(body, self.settings.architecture_fallback)
        data = fr.zip_file(body)
        if body.get("DryRun"):
            info = await self._store_code(data)
            code = {k: val for k, val in code_fields(info).items() if not k.startswith("_")}
            return self.configuration(self.get(name)) | settings | code
        async with self._lock:
            rec = self.get(name)
            v.revision(rec.config["RevisionId"], body.get("RevisionId"))
            info = await self._store_code(data)
            self._check_total_size(rec.config, info.unzipped_size)
            config = rec.config | settings | code_fields(info) | stamp(self.settings.region)
            return await self._commit_update(replace(rec, config=config, code_sha256=info.sha256_hex))

    async def update_config(self, name: str, body: dict[str, Any]) -> dict[str, Any]:
        self.get(name)
        async with self._lock:
            rec = self.get(name)
            v.revision(rec.config["RevisionId"], body.get("RevisionId"))
            config = self._config(body, rec.config) | stamp(self.settings.region)
            self._check_total_size(config, rec.config.get("_UnzippedSize", 0))
            self._check_role(name, body)
            return await self._commit_update(replace(rec, config=config))

    async def delete(self, name: str) -> None:
        async with self._lock:
            self.get(name)
            await asyncio.to_thread(self.store.delete_function, name)
            del self._functions[name]
            await self.changed(name)

    async def set_tags(self, name: str, tags: dict[str, str] | None = None, remove: list[str] | None = None) -> None:
        async with self._lock:
            rec = self.get(name)
            new_tags = dict(rec.tags)
            new_tags.update(tags or {})
            for key in remove or []:
                new_tags.pop(key, None)
            # a tag change is a change of the function: a new RevisionId, as Lambda gives
            config = rec.config | {"RevisionId": str(uuid.uuid4())}
            await self._commit(replace(rec, tags=new_tags, config=config))
            if new_tags.get(NETWORK_TAG) != rec.tags.get(NETWORK_TAG):
                await self.changed(name)  # the network mode is part of what an instance is made with

    async def set_reserved_concurrency(self, name: str, value: int | None) -> None:
        """Store a function's reserved concurrency (None removes it), keeping the account's unreserved minimum."""
        if value is not None:
            others = sum(r for n, r in self.reservations().items() if n != name)
            v.reserved_concurrency(value, others, self.settings.concurrency_limit)
        async with self._lock:
            rec = self.get(name)
            await self._commit(replace(rec, reserved_concurrency=value))
