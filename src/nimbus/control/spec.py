"""A record turned into the FunctionSpec instances run: the one place that maps Lambda's configuration fields
onto what the sandbox needs (code and layer trees on disk, limits, environment, network mode, SnapStart, tracing,
logging controls, an architecture run by fallback).

The registry caches the result per (function, version) until the function changes; this module keeps no state.
"""

from __future__ import annotations

from nimbus.config import Settings
from nimbus.control.codestore import CodeStore
from nimbus.control.function_settings import host_architecture
from nimbus.control.layers import LayerRegistry
from nimbus.control.records import FunctionRecord
from nimbus.control.validation import NETWORK_TAG
from nimbus.protocol.records import FunctionSpec


def build_spec(
    rec: FunctionRecord, version: str, arn: str, settings: Settings, codes: CodeStore, layers: LayerRegistry
) -> FunctionSpec:
    """The spec of `$LATEST` or a published version number of `rec` (KeyError for a version it does not have)."""
    c, code_sha = rec.snapshot(version)
    logging = c["LoggingConfig"]
    arch = c.get("Architectures", ["x86_64"])[0]
    return FunctionSpec(
        name=rec.name,
        version=version,
        revision_id=c.get("_RunRevision", c["RevisionId"]),  # what runs: a tag's new RevisionId starts no instance
        arn=arn,
        runtime=c["Runtime"],
        handler=c["Handler"],
        code_dir=codes.code_dir(code_sha),
        memory_mb=c["MemorySize"],
        timeout_s=c["Timeout"],
        environment=tuple(sorted(c.get("Environment", {}).get("Variables", {}).items())),
        ephemeral_storage_mb=c["EphemeralStorage"]["Size"],
        region=settings.region,
        account_id=settings.account_id,
        log_group=logging["LogGroup"],
        network=rec.tags.get(NETWORK_TAG, "host"),
        layer_dirs=tuple(layers.code_dir(lv) for lv in layers.attached(c.get("Layers", []))),
        snap_start=version != "$LATEST" and c["SnapStart"]["ApplyOn"] == "PublishedVersions",
        tracing=c.get("TracingConfig", {}).get("Mode", "PassThrough"),
        log_format=logging["LogFormat"],
        app_log_level=logging.get("ApplicationLogLevel", ""),
        system_log_level=logging.get("SystemLogLevel", ""),
        foreign_architecture="" if arch == host_architecture() else arch,
        role=c.get("Role", ""),
    )
