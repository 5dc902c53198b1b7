"""The registry's records: a function's `$LATEST` with its published versions and aliases, the provisioned
concurrency configurations, and layer versions. Plain data: the registries keep them in memory, the record store
writes them.

The configuration dicts use Lambda's FunctionConfiguration field names, so that shaping them for the wire is a
copy; keys starting with "_" are ours and never leave the server. What a new function starts from and the fields
every change stamps are here too, next to the records they fill.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from nimbus.clock import lambda_timestamp
from nimbus.control.codestore import CodeInfo


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


@dataclass
class ProvisionedConfig:
    """PutProvisionedConcurrencyConfig's stored part: how many instances a version or alias keeps ready."""

    function: str
    qualifier: str
    requested: int
    last_modified: str


@dataclass
class LayerVersion:
    name: str
    version: int
    config: dict[str, Any]  # Description, CreatedDate, CompatibleRuntimes, ... plus internal `_` keys
    code_sha256: str
    policy: dict[str, Any] = field(default_factory=dict)  # {"RevisionId": ..., "Statements": {sid: statement}}
    deleted: bool = False


def new_config(name: str) -> dict[str, Any]:
    """What CreateFunction fills in for every field the request leaves out, as Lambda does."""
    return {
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


def code_fields(info: CodeInfo) -> dict[str, Any]:
    """The configuration fields that describe stored code (`_UnzippedSize` is ours: the 250 MB check needs it)."""
    return {"CodeSha256": info.sha256_b64, "CodeSize": info.size, "_UnzippedSize": info.unzipped_size}


def stamp(region: str) -> dict[str, Any]:
    """The fields every create or update of `$LATEST` renews: a new revision, settled at once. `_RunRevision` names
    what instances run (their pool key): it changes with the code or configuration only, while RevisionId also
    changes on a tag, an untag or a published version, which run nothing new."""
    return {
        "LastModified": lambda_timestamp(),
        "RevisionId": str(uuid.uuid4()),
        "_RunRevision": str(uuid.uuid4()),
        "State": "Active",
        "LastUpdateStatus": "Successful",
        "RuntimeVersionConfig": {"RuntimeVersionArn": f"arn:aws:lambda:{region}::runtime:nimbus"},
    }
