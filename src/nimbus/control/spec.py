"""A record turned into the FunctionSpec instances run: the one place that maps Lambda's configuration fields
onto what the sandbox needs (code and layer trees on disk, limits, environment, network mode, SnapStart).

The registry caches the result per (function, version) until the function changes; this module keeps no state.
"""

from __future__ import annotations

from nimbus.config import Settings
from nimbus.control.codestore import CodeStore
from nimbus.control.layers import LayerRegistry
from nimbus.control.records import FunctionRecord
from nimbus.control.validation import NETWORK_TAG
from nimbus.protocol.records import FunctionSpec


def build_spec(
    rec: FunctionRecord, version: str, arn: str, settings: Settings, codes: CodeStore, layers: LayerRegistry
) -> FunctionSpec:
    """The spec of `$LATEST` or a published version number of `rec` (KeyError for a version it does not have)."""
    c, code_sha = rec.snapshot(version)
    return FunctionSpec(
        name=rec.name,
        version=version,
        revision_id=c["RevisionId"],
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
        log_group=c["LoggingConfig"]["LogGroup"],
        network=rec.tags.get(NETWORK_TAG, "host"),
        layer_dirs=tuple(layers.code_dir(lv) for lv in layers.attached(c.get("Layers", []))),
        snap_start=version != "$LATEST" and c["SnapStart"]["ApplyOn"] == "PublishedVersions",
    )
