"""The function registry: validated configuration, stored durably, cached in memory for the invoke path.

Every mutation is serialised by one lock, written to the database before it is acknowledged, and then published
to listeners (the instance manager retires instances of the old revision). Reads never touch the database.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import datetime as dt
import json
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import Any

from sqlalchemy import Engine, delete, insert, select, update

from nimbus.config import Settings
from nimbus.control import validation as v
from nimbus.control.codestore import CodeInfo, CodeStore
from nimbus.errors import InvalidParameterValue, PreconditionFailed, ResourceConflict, ResourceNotFound
from nimbus.invoke.types import FunctionSpec
from nimbus.store.schema import functions

Listener = Callable[[str], Awaitable[None]]
RuntimeCheck = Callable[[str], None]

LIST_PAGE_MAX = 50
#: the tag that picks an instance's network mode: "host" (default) or "none"
NETWORK_TAG = "nimbus:network"
NETWORK_MODES = ("host", "none")


def check_tags(tags: Any) -> dict[str, str]:
    if not isinstance(tags, dict) or not all(isinstance(k, str) and isinstance(x, str) for k, x in tags.items()):
        raise InvalidParameterValue("Tags must map strings to strings.")
    if tags.get(NETWORK_TAG, "host") not in NETWORK_MODES:
        raise InvalidParameterValue(f"Tag {NETWORK_TAG} must be one of: {', '.join(NETWORK_MODES)}.")
    return tags


def lambda_timestamp(when: float | None = None) -> str:
    """Lambda's LastModified format: 2019-08-14T22:24:28.000+0000."""
    t = dt.datetime.fromtimestamp(time.time() if when is None else when, dt.UTC)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}+0000"


@dataclass
class FunctionRecord:
    name: str
    config: dict[str, Any]  # stored FunctionConfiguration fields
    code_sha256: str  # hex
    tags: dict[str, str] = field(default_factory=dict)
    created_at: int = 0


class Registry:
    def __init__(self, settings: Settings, engine: Engine, codes: CodeStore, check_runtime: RuntimeCheck) -> None:
        self.settings = settings
        self.engine = engine
        self.codes = codes
        self.check_runtime = check_runtime
        self._functions: dict[str, FunctionRecord] = {}
        self._specs: dict[str, FunctionSpec] = {}
        self._lock = asyncio.Lock()
        self._listeners: list[Listener] = []

    # ---- reads (memory only) ----
    def load(self) -> None:
        with self.engine.connect() as conn:
            for row in conn.execute(select(functions)):
                self._functions[row.name] = FunctionRecord(
                    row.name, json.loads(row.config), row.code_sha256, json.loads(row.tags), row.created_at
                )

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
        return {r.code_sha256 for r in self._functions.values()}

    def spec(self, name: str) -> FunctionSpec:
        """The FunctionSpec instances run for $LATEST; cached until the next change."""
        spec = self._specs.get(name)
        if spec is not None:
            return spec
        rec = self.get(name)
        c = rec.config
        spec = FunctionSpec(
            name=name,
            version="$LATEST",
            revision_id=c["RevisionId"],
            arn=self.function_arn(name),
            runtime=c["Runtime"],
            handler=c["Handler"],
            code_dir=self.codes.code_dir(rec.code_sha256),
            memory_mb=c["MemorySize"],
            timeout_s=c["Timeout"],
            environment=tuple(sorted(c.get("Environment", {}).get("Variables", {}).items())),
            ephemeral_storage_mb=c["EphemeralStorage"]["Size"],
            region=self.settings.region,
            account_id=self.settings.account_id,
            log_group=c["LoggingConfig"]["LogGroup"],
            network=rec.tags.get(NETWORK_TAG, "host"),
        )
        self._specs[name] = spec
        return spec

    def configuration(self, rec: FunctionRecord, *, listing: bool = False) -> dict[str, Any]:
        """The FunctionConfiguration shape; ListFunctions omits the state fields as Lambda does."""
        out = dict(rec.config)
        out["FunctionArn"] = self.function_arn(rec.name)
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
        if "Architectures" in body:
            archs = body["Architectures"]
            if not isinstance(archs, list) or len(archs) != 1 or archs[0] not in ("x86_64", "arm64"):
                raise InvalidParameterValue("Architectures must be a list with exactly one of x86_64, arm64.")
            cfg["Architectures"] = archs
        if body.get("PackageType", "Zip") != "Zip":
            raise InvalidParameterValue("Nimbus runs Zip packages only; container images are not supported.")
        if body.get("Layers"):
            raise InvalidParameterValue("Layers are not supported yet by this Nimbus.")
        return cfg

    async def _persist(self, rec: FunctionRecord, *, new: bool) -> None:
        values = {
            "config": json.dumps(rec.config),
            "code_sha256": rec.code_sha256,
            "tags": json.dumps(rec.tags),
        }

        def write() -> None:
            with self.engine.begin() as conn:
                if new:
                    conn.execute(insert(functions).values(name=rec.name, created_at=rec.created_at, **values))
                else:
                    conn.execute(update(functions).where(functions.c.name == rec.name).values(**values))

        await asyncio.to_thread(write)

    async def _changed(self, name: str) -> None:
        self._specs.pop(name, None)
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
        async with self._lock:
            if name in self._functions:
                raise ResourceConflict(f"Function already exist: {name}")
            info = await self._store_code(data)
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
        return {"CodeSha256": info.sha256_b64, "CodeSize": info.size}

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

    async def update_code(self, name: str, body: dict[str, Any]) -> dict[str, Any]:
        self.get(name)
        data = self._decode_zip(body)
        if body.get("DryRun"):
            info = await self._store_code(data)
            return self.configuration(self.get(name)) | self._code_fields(info)
        async with self._lock:
            rec = self.get(name)
            self._check_revision(rec, body)
            info = await self._store_code(data)
            new = replace(rec, config=rec.config | self._code_fields(info) | self._stamp(), code_sha256=info.sha256_hex)
            await self._persist(new, new=False)
            self._functions[name] = new
            await self._changed(name)
        return self.configuration(new) | {"LastUpdateStatus": "InProgress",
                                          "LastUpdateStatusReason": "The function is being created.",
                                          "LastUpdateStatusReasonCode": "Creating"}  # fmt: skip

    async def update_config(self, name: str, body: dict[str, Any]) -> dict[str, Any]:
        self.get(name)
        async with self._lock:
            rec = self.get(name)
            self._check_revision(rec, body)
            cfg = self._validated_config(body, rec.config) | self._stamp()
            new = replace(rec, config=cfg)
            await self._persist(new, new=False)
            self._functions[name] = new
            await self._changed(name)
        return self.configuration(new) | {"LastUpdateStatus": "InProgress",
                                          "LastUpdateStatusReason": "The function is being updated.",
                                          "LastUpdateStatusReasonCode": "Updating"}  # fmt: skip

    async def delete(self, name: str) -> None:
        async with self._lock:
            self.get(name)

            def write() -> None:
                with self.engine.begin() as conn:
                    conn.execute(delete(functions).where(functions.c.name == name))

            await asyncio.to_thread(write)
            del self._functions[name]
            await self._changed(name)

    async def set_tags(self, name: str, tags: dict[str, str] | None = None, remove: list[str] | None = None) -> None:
        async with self._lock:
            rec = self.get(name)
            new_tags = dict(rec.tags)
            new_tags.update(tags or {})
            for key in remove or []:
                new_tags.pop(key, None)
            new = replace(rec, tags=new_tags)
            await self._persist(new, new=False)
            self._functions[name] = new
            if new_tags.get(NETWORK_TAG) != rec.tags.get(NETWORK_TAG):
                await self._changed(name)  # the network mode is part of what an instance is made with

