"""The function registry: validated configuration, stored durably, cached in memory for the invoke path.

Every mutation is serialised by one lock, written to the database before it is acknowledged, and then published
to listeners (the instance manager retires instances of the old revision). Reads never touch the database.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import Any

from sqlalchemy import Engine, delete, insert, select, update

from nimbus.clock import lambda_timestamp
from nimbus.config import Settings
from nimbus.control import aliases as alias_rules
from nimbus.control import validation as v
from nimbus.control.codestore import CodeInfo, CodeStore
from nimbus.control.layers import LayerRegistry
from nimbus.errors import InvalidParameterValue, PreconditionFailed, ResourceConflict, ResourceNotFound
from nimbus.protocol.records import FunctionSpec
from nimbus.store.schema import aliases, functions, versions

Listener = Callable[[str], Awaitable[None]]
RuntimeCheck = Callable[[str], None]

LIST_PAGE_MAX = 50
#: Lambda keeps at least this much of the account's concurrency unreserved
UNRESERVED_MIN = 100
#: the tag that picks an instance's network mode: "host" (default) or "none"
NETWORK_TAG = "nimbus:network"
NETWORK_MODES = ("host", "none")


def check_tags(tags: Any) -> dict[str, str]:
    if not isinstance(tags, dict) or not all(isinstance(k, str) and isinstance(x, str) for k, x in tags.items()):
        raise InvalidParameterValue("Tags must map strings to strings.")
    if tags.get(NETWORK_TAG, "host") not in NETWORK_MODES:
        raise InvalidParameterValue(f"Tag {NETWORK_TAG} must be one of: {', '.join(NETWORK_MODES)}.")
    return tags


@dataclass
class VersionRecord:
    number: int
    config: dict[str, Any]  # the FunctionConfiguration snapshot, Version = str(number)
    code_sha256: str


@dataclass
class FunctionRecord:
    name: str
    config: dict[str, Any]  # stored FunctionConfiguration fields of $LATEST (internal keys start with "_")
    code_sha256: str  # hex
    tags: dict[str, str] = field(default_factory=dict)
    created_at: int = 0
    next_version: int = 1
    reserved_concurrency: int | None = None
    versions: dict[int, VersionRecord] = field(default_factory=dict)
    aliases: dict[str, dict[str, Any]] = field(default_factory=dict)  # name → AliasConfiguration (stored part)

    def version_names(self) -> list[str]:
        return ["$LATEST", *(str(n) for n in sorted(self.versions))]

    def snapshot(self, version: str) -> tuple[dict[str, Any], str]:
        """(configuration, code sha) of `$LATEST` or a published version number."""
        if version == "$LATEST":
            return self.config, self.code_sha256
        rec = self.versions.get(int(version)) if version.isdigit() else None
        if rec is None:
            raise KeyError(version)
        return rec.config, rec.code_sha256


class Registry:
    def __init__(
        self, settings: Settings, engine: Engine, codes: CodeStore, check_runtime: RuntimeCheck, layers: LayerRegistry
    ) -> None:
        self.settings = settings
        self.engine = engine
        self.codes = codes
        self.check_runtime = check_runtime
        self.layers = layers
        self._functions: dict[str, FunctionRecord] = {}
        self._specs: dict[tuple[str, str], FunctionSpec] = {}
        self.lock = asyncio.Lock()
        self._listeners: list[Listener] = []

    # ---- reads (memory only) ----
    def load(self) -> None:
        with self.engine.connect() as conn:
            for row in conn.execute(select(functions)):
                self._functions[row.name] = FunctionRecord(
                    row.name, json.loads(row.config), row.code_sha256, json.loads(row.tags), row.created_at,
                    row.next_version, row.reserved_concurrency,
                )  # fmt: skip
            for row in conn.execute(select(versions)):
                self._functions[row.function].versions[row.version] = VersionRecord(
                    row.version, json.loads(row.config), row.code_sha256
                )
            for row in conn.execute(select(aliases)):
                self._functions[row.function].aliases[row.name] = json.loads(row.config)

    def subscribe(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def function_arn(self, name: str) -> str:
        return f"arn:aws:lambda:{self.settings.region}:{self.settings.account_id}:function:{name}"

    def get(self, name: str) -> FunctionRecord:
        rec = self._functions.get(name)
        if rec is None:
            raise ResourceNotFound(f"Function not found: {self.function_arn(name)}")
        return rec

    def names(self) -> list[str]:
        return sorted(self._functions)

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

    def invocation_spec(self, name: str, qualifier: str | None) -> FunctionSpec:
        """What one invocation runs; through an alias with weights, each call rolls for its version."""
        rec, version = self.resolve(name, qualifier)
        if qualifier is not None and qualifier in rec.aliases:
            alias = rec.aliases[qualifier]
            version = alias_rules.choose_version(alias["FunctionVersion"], alias.get("RoutingConfig"))
        return self.spec(name, version)

    def spec(self, name: str, version: str = "$LATEST") -> FunctionSpec:
        """The FunctionSpec instances run for one version; cached until the function changes."""
        spec = self._specs.get((name, version))
        if spec is not None:
            return spec
        rec = self.get(name)
        c, code_sha = rec.snapshot(version)
        spec = FunctionSpec(
            name=name,
            version=version,
            revision_id=c["RevisionId"],
            arn=self.function_arn(name),
            runtime=c["Runtime"],
            handler=c["Handler"],
            code_dir=self.codes.code_dir(code_sha),
            memory_mb=c["MemorySize"],
            timeout_s=c["Timeout"],
            environment=tuple(sorted(c.get("Environment", {}).get("Variables", {}).items())),
            ephemeral_storage_mb=c["EphemeralStorage"]["Size"],
            region=self.settings.region,
            account_id=self.settings.account_id,
            log_group=c["LoggingConfig"]["LogGroup"],
            network=rec.tags.get(NETWORK_TAG, "host"),
            layer_dirs=tuple(self.layers.code_dir(lv) for lv in self.layers.attached(c.get("Layers", []))),
            snap_start=version != "$LATEST" and c["SnapStart"]["ApplyOn"] == "PublishedVersions",
        )
        self._specs[(name, version)] = spec
        return spec

    def configuration(
        self, rec: FunctionRecord, *, listing: bool = False, version: str = "$LATEST", qualifier: str | None = None
    ) -> dict[str, Any]:
        """The FunctionConfiguration shape; ListFunctions omits the state fields as Lambda does."""
        config, _ = rec.snapshot(version)
        out = {k: val for k, val in config.items() if not k.startswith("_")}
        arn = self.function_arn(rec.name)
        out["FunctionArn"] = f"{arn}:{qualifier or version}" if (qualifier or version != "$LATEST") else arn
        if listing:
            for key in ("State", "StateReason", "StateReasonCode", "LastUpdateStatus",
                        "LastUpdateStatusReason", "LastUpdateStatusReasonCode", "RuntimeVersionConfig"):  # fmt: skip
                out.pop(key, None)
        return out

    def page(self, marker: str | None, max_items: int | None) -> tuple[list[FunctionRecord], str | None]:
        limit = min(max_items or LIST_PAGE_MAX, LIST_PAGE_MAX)
        names = self.names()
        start = 0
        if marker:
            try:
                after = base64.urlsafe_b64decode(marker.encode()).decode()
            except (binascii.Error, UnicodeDecodeError, ValueError):
                raise InvalidParameterValue("Invalid Marker.") from None
            start = next((i for i, n in enumerate(names) if n > after), len(names))
        chunk = names[start : start + limit]
        more = start + limit < len(names)
        next_marker = base64.urlsafe_b64encode(chunk[-1].encode()).decode() if more and chunk else None
        return [self._functions[n] for n in chunk], next_marker

    # ---- writes ----
    def _decode_zip(self, code: Any) -> bytes:
        if not isinstance(code, dict):
            raise InvalidParameterValue("Code must be an object with a ZipFile member.")
        if "ZipFile" not in code:
            if code.get("S3Bucket") or code.get("ImageUri"):
                raise InvalidParameterValue(
                    "Nimbus has no S3 or image registry: upload the deployment package with ZipFile (base64)."
                )
            raise InvalidParameterValue("Code.ZipFile is required.")
        try:
            return base64.b64decode(code["ZipFile"], validate=True)
        except (binascii.Error, TypeError, ValueError):
            raise InvalidParameterValue("Code.ZipFile must be base64-encoded zip bytes.") from None

    async def _store_code(self, data: bytes) -> CodeInfo:
        return await asyncio.to_thread(self.codes.put, data)

    def _validated_config(self, body: dict[str, Any], base: dict[str, Any]) -> dict[str, Any]:
        cfg = dict(base)
        if "Runtime" in body:
            if not isinstance(body["Runtime"], str):
                raise InvalidParameterValue("Runtime must be a string.")
            self.check_runtime(body["Runtime"])
            cfg["Runtime"] = body["Runtime"]
        if "Handler" in body:
            cfg["Handler"] = v.handler(body["Handler"])
        if "MemorySize" in body:
            cfg["MemorySize"] = v.memory_size(body["MemorySize"])
        if "Timeout" in body:
            cfg["Timeout"] = v.timeout(body["Timeout"])
        if "Description" in body:
            cfg["Description"] = v.description(body["Description"])
        if "Environment" in body:
            cfg["Environment"] = {"Variables": v.environment(body["Environment"])}
        if "EphemeralStorage" in body:
            cfg["EphemeralStorage"] = {"Size": v.ephemeral_storage(body["EphemeralStorage"])}
        if "Role" in body:
            cfg["Role"] = v.role(body["Role"])
        if "SnapStart" in body:
            cfg["SnapStart"] = v.snap_start(body["SnapStart"])
        if "Architectures" in body:
            archs = body["Architectures"]
            if not isinstance(archs, list) or len(archs) != 1 or archs[0] not in ("x86_64", "arm64"):
                raise InvalidParameterValue("Architectures must be a list with exactly one of x86_64, arm64.")
            cfg["Architectures"] = archs
        if body.get("PackageType", "Zip") != "Zip":
            raise InvalidParameterValue("Nimbus runs Zip packages only; container images are not supported.")
        if "Layers" in body:
            cfg["Layers"] = self.layers.attachable(body["Layers"])
            if not cfg["Layers"]:
                del cfg["Layers"]
        return cfg

    def _check_total_size(self, cfg: dict[str, Any], unzipped: int) -> None:
        """Function code plus its layers, unzipped, must fit Lambda's 250 MB."""
        total = unzipped + sum(lv.config.get("_UnzippedSize", 0) for lv in self.layers.attached(cfg.get("Layers", [])))
        if total > v.UNZIPPED_MAX:
            raise InvalidParameterValue(
                f"Function code combined with layers exceeds the maximum allowed size of {v.UNZIPPED_MAX} bytes. "
                f"The actual size is {total} bytes."
            )

    async def _persist(self, rec: FunctionRecord, *, new: bool) -> None:
        values = {
            "config": json.dumps(rec.config),
            "code_sha256": rec.code_sha256,
            "tags": json.dumps(rec.tags),
            "next_version": rec.next_version,
            "reserved_concurrency": rec.reserved_concurrency,
        }

        def write() -> None:
            with self.engine.begin() as conn:
                if new:
                    conn.execute(insert(functions).values(name=rec.name, created_at=rec.created_at, **values))
                else:
                    conn.execute(update(functions).where(functions.c.name == rec.name).values(**values))

        await asyncio.to_thread(write)

    async def changed(self, name: str) -> None:
        """Drop cached specs of `name` and tell listeners (the instance manager retires its instances)."""
        for key in [k for k in self._specs if k[0] == name]:
            del self._specs[key]
        for listener in self._listeners:
            await listener(name)

    async def create(self, body: dict[str, Any]) -> dict[str, Any]:
        name = v.function_name(body.get("FunctionName"))
        for required in ("Role", "Code"):
            if required not in body:
                raise InvalidParameterValue(f"{required} is required.")
        if "Runtime" not in body or "Handler" not in body:
            raise InvalidParameterValue("Runtime and Handler are required for Zip functions.")
        tags = check_tags(body.get("Tags") or {})
        if name in self._functions:
            raise ResourceConflict(f"Function already exist: {name}")
        base: dict[str, Any] = {
            "FunctionName": name,
            "Description": "",
            "Timeout": 3,
            "MemorySize": 128,
            "Environment": {"Variables": {}},
            "EphemeralStorage": {"Size": 512},
            "Architectures": ["x86_64"],
            "PackageType": "Zip",
            "TracingConfig": {"Mode": "PassThrough"},
            "SnapStart": {"ApplyOn": "None", "OptimizationStatus": "Off"},
            "LoggingConfig": {"LogFormat": "Text", "LogGroup": f"/aws/lambda/{name}"},
            "Version": "$LATEST",
        }
        cfg = self._validated_config(body, base)
        data = self._decode_zip(body["Code"])
        async with self.lock:
            if name in self._functions:
                raise ResourceConflict(f"Function already exist: {name}")
            info = await self._store_code(data)
            self._check_total_size(cfg, info.unzipped_size)
            cfg.update(self._code_fields(info))
            cfg.update(self._stamp())
            rec = FunctionRecord(name, cfg, info.sha256_hex, dict(tags), int(time.time() * 1000))
            await self._persist(rec, new=True)
            self._functions[name] = rec
        out = self.configuration(rec)
        # Lambda reports a new function as Pending in the create response; it is Active once stored.
        out.update(State="Pending", StateReason="The function is being created.", StateReasonCode="Creating")
        return out

    @staticmethod
    def _code_fields(info: CodeInfo) -> dict[str, Any]:
        return {"CodeSha256": info.sha256_b64, "CodeSize": info.size, "_UnzippedSize": info.unzipped_size}

    def _stamp(self) -> dict[str, Any]:
        return {
            "LastModified": lambda_timestamp(),
            "RevisionId": str(uuid.uuid4()),
            "State": "Active",
            "LastUpdateStatus": "Successful",
            "RuntimeVersionConfig": {
                "RuntimeVersionArn": f"arn:aws:lambda:{self.settings.region}::runtime:nimbus"
            },
        }

    @staticmethod
    def _check_revision(rec: FunctionRecord, body: dict[str, Any]) -> None:
        want = body.get("RevisionId")
        if want is not None and want != rec.config["RevisionId"]:
            raise PreconditionFailed(
                "The Revision Id provided does not match the latest Revision Id. "
                "Call the GetFunction/GetAlias API to retrieve the latest Revision Id"
            )

    async def _commit_update(self, new: FunctionRecord) -> dict[str, Any]:
        """Store an updated $LATEST, retire its instances, and answer as Lambda does while an update settles
        (here it has settled before the answer leaves: GetFunction already says Successful)."""
        await self._persist(new, new=False)
        self._functions[new.name] = new
        await self.changed(new.name)
        return self.configuration(new) | {"LastUpdateStatus": "InProgress"}

    async def update_code(self, name: str, body: dict[str, Any]) -> dict[str, Any]:
        self.get(name)
        data = self._decode_zip(body)
        if body.get("DryRun"):
            info = await self._store_code(data)
            code = {k: val for k, val in self._code_fields(info).items() if not k.startswith("_")}
            return self.configuration(self.get(name)) | code
        async with self.lock:
            rec = self.get(name)
            self._check_revision(rec, body)
            info = await self._store_code(data)
            self._check_total_size(rec.config, info.unzipped_size)
            config = rec.config | self._code_fields(info) | self._stamp()
            return await self._commit_update(replace(rec, config=config, code_sha256=info.sha256_hex))

    async def update_config(self, name: str, body: dict[str, Any]) -> dict[str, Any]:
        self.get(name)
        async with self.lock:
            rec = self.get(name)
            self._check_revision(rec, body)
            config = self._validated_config(body, rec.config) | self._stamp()
            self._check_total_size(config, rec.config.get("_UnzippedSize", 0))
            return await self._commit_update(replace(rec, config=config))

    async def delete(self, name: str) -> None:
        async with self.lock:
            self.get(name)

            def write() -> None:
                with self.engine.begin() as conn:
                    conn.execute(delete(aliases).where(aliases.c.function == name))
                    conn.execute(delete(versions).where(versions.c.function == name))
                    conn.execute(delete(functions).where(functions.c.name == name))

            await asyncio.to_thread(write)
            del self._functions[name]
            await self.changed(name)

    async def set_tags(self, name: str, tags: dict[str, str] | None = None, remove: list[str] | None = None) -> None:
        async with self.lock:
            rec = self.get(name)
            new_tags = dict(rec.tags)
            new_tags.update(tags or {})
            for key in remove or []:
                new_tags.pop(key, None)
            new = replace(rec, tags=new_tags)
            await self._persist(new, new=False)
            self._functions[name] = new
            if new_tags.get(NETWORK_TAG) != rec.tags.get(NETWORK_TAG):
                await self.changed(name)  # the network mode is part of what an instance is made with


    async def set_reserved_concurrency(self, name: str, value: int | None) -> None:
        """Store a function's reserved concurrency (None removes it). Lambda keeps the account's unreserved pool at
        100 or more (a tenth of the limit here, when the limit is set below 1000)."""
        if value is not None:
            others = sum(r for n, r in self.reservations().items() if n != name)
            limit = self.settings.concurrency_limit
            minimum = min(UNRESERVED_MIN, limit // 10)
            if limit - others - value < minimum:
                raise InvalidParameterValue(
                    "Specified ReservedConcurrentExecutions for function decreases account's "
                    f"UnreservedConcurrentExecution below its minimum value of [{minimum}]."
                )
        async with self.lock:
            rec = self.get(name)
            new = replace(rec, reserved_concurrency=value)
            await self._persist(new, new=False)
            self._functions[name] = new

    def reservations(self) -> dict[str, int]:
        return {n: r.reserved_concurrency for n, r in self._functions.items() if r.reserved_concurrency is not None}
