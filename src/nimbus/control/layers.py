"""Layers: versioned, immutable zips of libraries, runtimes or data, attached to functions and merged at /opt.

Layer code goes through the same content-addressed CodeStore as function code (stored once, unpacked once,
read-only). Deleting a layer version hides it from the API but keeps its row and tree while functions use it,
as on Lambda, and its number is never given again. Rows are written by the record store.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import re
import uuid
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from nimbus.clock import lambda_timestamp
from nimbus.config import Settings
from nimbus.control import validation as v
from nimbus.control.codestore import CodeStore
from nimbus.control.records import LayerVersion
from nimbus.control.records_store import RecordStore
from nimbus.errors import InvalidParameterValue, PreconditionFailed, ResourceConflict, ResourceNotFound

__all__ = ["LayerRegistry", "LayerVersion"]  # LayerVersion is re-exported: the layers API imports it here

MAX_LAYERS = 5
LAYER_NAME_RE = re.compile(r"[a-zA-Z0-9_-]{1,140}")
LAYER_ARN_RE = re.compile(
    r"arn:(?P<partition>aws[a-zA-Z-]*):lambda:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):layer:(?P<name>[a-zA-Z0-9_-]+)"
    r"(?::(?P<version>[0-9]+))?"
)
ARCHITECTURES = ("x86_64", "arm64")


def _strings(value: Any, field_name: str, limit: int, allowed: tuple[str, ...] | None = None) -> list[str]:
    if not isinstance(value, list) or len(value) > limit or not all(isinstance(x, str) for x in value):
        raise InvalidParameterValue(f"{field_name} must be a list of at most {limit} strings.")
    bad = [x for x in value if allowed and x not in allowed]
    if bad:
        raise InvalidParameterValue(f"{field_name}: {', '.join(bad)} is not a Lambda runtime/architecture name.")
    return list(value)


class LayerRegistry:
    def __init__(self, settings: Settings, engine: Engine, codes: CodeStore) -> None:
        self.settings = settings
        self.store = RecordStore(engine)
        self.codes = codes
        self._versions: dict[tuple[str, int], LayerVersion] = {}
        self._lock = asyncio.Lock()

    def load(self) -> None:
        self._versions = {(lv.name, lv.version): lv for lv in self.store.load_layers()}

    # ---- names and lookups ----
    def layer_arn(self, name: str) -> str:
        return f"arn:aws:lambda:{self.settings.region}:{self.settings.account_id}:layer:{name}"

    def name_of(self, raw: str) -> str:
        """A LayerName path parameter: a name or a layer ARN of this region and account."""
        if LAYER_NAME_RE.fullmatch(raw):
            return raw
        m = LAYER_ARN_RE.fullmatch(raw)
        if m is None or m.group("version") is not None:
            raise InvalidParameterValue(f"Invalid layer name or ARN: {raw}")
        if m.group("region") != self.settings.region or m.group("account") != self.settings.account_id:
            raise ResourceNotFound(f"Layer not found: {raw}")
        return m.group("name")

    def live_code(self) -> set[str]:
        """The code of every layer version not deleted (a deleted one lives on while functions attach it: the
        function registry adds those)."""
        return {lv.code_sha256 for lv in self._versions.values() if not lv.deleted}

    def get(self, name: str, version: int) -> LayerVersion:
        lv = self._versions.get((name, version))
        if lv is None or lv.deleted:
            raise ResourceNotFound(f"Layer version {self.layer_arn(name)}:{version} does not exist.")
        return lv

    def parse_version_arn(self, arn: Any) -> tuple[str, int]:
        m = LAYER_ARN_RE.fullmatch(arn) if isinstance(arn, str) else None
        if m is None or m.group("version") is None:
            raise InvalidParameterValue(f"Layer version ARN '{arn}' is not a valid layer version ARN.")
        if m.group("region") != self.settings.region or m.group("account") != self.settings.account_id:
            raise InvalidParameterValue(
                f"Layer version {arn} is not in this region and account "
                f"({self.settings.region}, {self.settings.account_id}): Nimbus only serves its own layers."
            )
        return m.group("name"), int(m.group("version"))

    def attachable(self, arns: Any) -> list[dict[str, Any]]:
        """Validate a function's Layers list; returns Lambda's `Layers` shape ({Arn, CodeSize})."""
        if not isinstance(arns, list):
            raise InvalidParameterValue("Layers must be a list of layer version ARNs.")
        if len(arns) > MAX_LAYERS:
            raise InvalidParameterValue(f"Cannot reference more than {MAX_LAYERS} layers.")
        out = []
        seen: dict[str, str] = {}  # layer ARN -> the version ARN that named it first
        for arn in arns:
            m = LAYER_ARN_RE.fullmatch(arn) if isinstance(arn, str) else None
            if m is not None and m.group("region") != self.settings.region:
                raise InvalidParameterValue(
                    "Layers are not in the same region as the function. "
                    f"Layers are expected to be in region {self.settings.region}."
                )
            layer = arn.rpartition(":")[0] if isinstance(arn, str) else ""
            if layer in seen:
                raise InvalidParameterValue(
                    f"Two different versions of the same layer are not allowed. {seen[layer]} and {arn}."
                )
            seen[layer] = arn
            lv = self._versions.get(self.parse_version_arn(arn))
            if lv is None or lv.deleted:
                raise InvalidParameterValue(f"Layer version {arn} does not exist.")
            out.append({"Arn": arn, "CodeSize": lv.config["CodeSize"]})
        return out

    def attached(self, layers: list[dict[str, Any]]) -> list[LayerVersion]:
        """The layer versions a stored configuration uses, deleted or not (they keep working)."""
        return [self._versions[self.parse_version_arn(entry["Arn"])] for entry in layers]

    def code_dir(self, lv: LayerVersion) -> Path:
        return self.codes.code_dir(lv.code_sha256)

    # ---- shapes ----
    def describe(self, lv: LayerVersion, *, listing: bool = False) -> dict[str, Any]:
        out = {k: val for k, val in lv.config.items() if not k.startswith("_")}
        out["LayerVersionArn"] = f"{self.layer_arn(lv.name)}:{lv.version}"
        out["Version"] = lv.version
        sha = out.pop("CodeSha256")
        size = out.pop("CodeSize")
        if not listing:
            out["LayerArn"] = self.layer_arn(lv.name)
            out["Content"] = {"CodeSha256": sha, "CodeSize": size}
        return out

    def _matching(self, name: str, runtime: str | None, arch: str | None) -> list[LayerVersion]:
        found = [lv for (n, _), lv in self._versions.items() if n == name and not lv.deleted]
        if runtime:
            found = [lv for lv in found if runtime in lv.config.get("CompatibleRuntimes", [])]
        if arch:
            found = [lv for lv in found if arch in lv.config.get("CompatibleArchitectures", [])]
        return sorted(found, key=lambda lv: lv.version, reverse=True)

    def list_versions(self, name: str, runtime: str | None, arch: str | None) -> list[dict[str, Any]]:
        return [self.describe(lv, listing=True) for lv in self._matching(name, runtime, arch)]

    def list_layers(self, runtime: str | None, arch: str | None) -> list[dict[str, Any]]:
        out = []
        for name in sorted({n for n, _ in self._versions}):
            matching = self._matching(name, runtime, arch)
            if matching:
                out.append(
                    {
                        "LayerName": name,
                        "LayerArn": self.layer_arn(name),
                        "LatestMatchingVersion": self.describe(matching[0], listing=True),
                    }
                )
        return out

    # ---- writes ----
    async def publish(self, name: str, body: dict[str, Any]) -> LayerVersion:
        content = body.get("Content")
        if not isinstance(content, dict) or "ZipFile" not in content:
            raise InvalidParameterValue("Content.ZipFile is required: Nimbus has no S3 to take layer code from.")
        try:
            data = base64.b64decode(content["ZipFile"], validate=True)
        except (binascii.Error, TypeError, ValueError):
            raise InvalidParameterValue("Content.ZipFile must be base64-encoded zip bytes.") from None
        config: dict[str, Any] = {
            "Description": v.description(body.get("Description", "")),
            "CompatibleRuntimes": _strings(
                body.get("CompatibleRuntimes", []), "CompatibleRuntimes", 15, tuple(sorted(v.LAMBDA_RUNTIMES))
            ),
            "CompatibleArchitectures": _strings(
                body.get("CompatibleArchitectures", []), "CompatibleArchitectures", 2, ARCHITECTURES
            ),
        }
        license_info = body.get("LicenseInfo")
        if license_info is not None:
            if not isinstance(license_info, str) or len(license_info) > 512:
                raise InvalidParameterValue("LicenseInfo must be a string of at most 512 characters.")
            config["LicenseInfo"] = license_info
        info = await asyncio.to_thread(self.codes.put, data)
        config.update(
            CreatedDate=lambda_timestamp(), CodeSha256=info.sha256_b64, CodeSize=info.size,
            _UnzippedSize=info.unzipped_size,
        )  # fmt: skip
        async with self._lock:
            version = 1 + max((n for (layer, n) in self._versions if layer == name), default=0)
            lv = LayerVersion(name, version, config, info.sha256_hex)
            await asyncio.to_thread(self.store.insert_layer_version, lv)
            self._versions[(name, version)] = lv
        return lv

    async def _save(self, lv: LayerVersion) -> None:
        await asyncio.to_thread(self.store.update_layer_version, lv)

    async def delete(self, name: str, version: int) -> None:
        """Idempotent, as on Lambda: deleting a missing or deleted version succeeds."""
        async with self._lock:
            lv = self._versions.get((name, version))
            if lv is not None and not lv.deleted:
                lv.deleted = True
                await self._save(lv)

    async def add_permission(self, name: str, version: int, body: dict[str, Any]) -> dict[str, Any]:
        async with self._lock:
            lv = self.get(name, version)
            self._check_policy_revision(lv, body)
            sid, action, principal = body.get("StatementId"), body.get("Action"), body.get("Principal")
            if not all(isinstance(x, str) and x for x in (sid, action, principal)):
                raise InvalidParameterValue("StatementId, Action and Principal are required.")
            statements = lv.policy.setdefault("Statements", {})
            if sid in statements:
                raise ResourceConflict(f"The statement id ({sid}) provided already exists. Please provide a new "
                                       "statement id, or remove the existing statement.")  # fmt: skip
            statement: dict[str, Any] = {
                "Sid": sid,
                "Effect": "Allow",
                "Principal": "*" if principal == "*" else {"AWS": principal},
                "Action": action,
                "Resource": f"{self.layer_arn(name)}:{version}",
            }
            if body.get("OrganizationId"):
                statement["Condition"] = {"StringEquals": {"aws:PrincipalOrgID": body["OrganizationId"]}}
            statements[sid] = statement
            lv.policy["RevisionId"] = str(uuid.uuid4())
            await self._save(lv)
        return {"Statement": json.dumps(statement), "RevisionId": lv.policy["RevisionId"]}

    def policy(self, name: str, version: int) -> dict[str, Any]:
        lv = self.get(name, version)
        statements = lv.policy.get("Statements") or {}
        if not statements:
            raise ResourceNotFound("No policy is associated with the given resource.")
        document = {"Version": "2012-10-17", "Id": "default", "Statement": list(statements.values())}
        return {"Policy": json.dumps(document), "RevisionId": lv.policy["RevisionId"]}

    async def remove_permission(self, name: str, version: int, sid: str, revision: str | None) -> None:
        async with self._lock:
            lv = self.get(name, version)
            self._check_policy_revision(lv, {"RevisionId": revision})
            statements = lv.policy.get("Statements") or {}
            if sid not in statements:
                raise ResourceNotFound(f"Statement {sid} is not found in resource policy.")
            del statements[sid]
            lv.policy["RevisionId"] = str(uuid.uuid4())
            await self._save(lv)

    @staticmethod
    def _check_policy_revision(lv: LayerVersion, body: dict[str, Any]) -> None:
        want = body.get("RevisionId")
        if want and want != lv.policy.get("RevisionId"):
            raise PreconditionFailed(
                "The Revision Id provided does not match the latest Revision Id. "
                "Call the GetLayerVersionPolicy API to retrieve the latest Revision Id"
            )
