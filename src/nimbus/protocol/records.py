"""The records every layer shares: what to run (FunctionSpec), with what (InvokeRequest), and what came back
(InvokeResult). Pure data, no I/O: they live in `protocol/` so that `instances/` never imports upward."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class FunctionSpec:
    """Everything an instance needs to run one (function, version, revision). Immutable: an update makes a new one.

    Instances are pooled per `pool_key`; an instance created for one revision never serves another, which is
    how "no invocation reaches old code or config after an update completes" holds.
    """

    name: str
    version: str  # "$LATEST" or "N"
    revision_id: str  # changes on every code or configuration update
    arn: str  # unqualified function ARN
    runtime: str  # e.g. "python3.11"
    handler: str  # e.g. "app.handler"
    code_dir: Path  # unpacked, read-only function code (the task root)
    memory_mb: int
    timeout_s: int
    environment: tuple[tuple[str, str], ...] = ()
    ephemeral_storage_mb: int = 512
    region: str = "us-east-1"
    account_id: str = "000000000000"
    log_group: str = ""
    #: "host" (default: the host's network, so functions reach downstream resources) or "none" (own empty
    #: network namespace); set per function with the tag `nimbus:network`
    network: str = "host"
    #: the function's layers, unpacked, read-only, in order (later layers win on conflicts): mounted merged at /opt
    layer_dirs: tuple[Path, ...] = ()
    #: SnapStart applies (ApplyOn=PublishedVersions on a published version): after the first instance's init, it
    #: becomes the template later instances of this version start from
    snap_start: bool = False
    #: TracingConfig.Mode: every invocation gets an X-Ray trace header, Sampled=1 when "Active"
    tracing: str = "PassThrough"
    #: LoggingConfig: "Text" or "JSON" (then the levels are set: the runtime's logger filters application records
    #: below `app_log_level`, the platform's records below `system_log_level` are not written)
    log_format: str = "Text"
    app_log_level: str = ""
    system_log_level: str = ""
    #: the Architectures value when the host cannot run it and architecture_fallback runs it anyway (warned)
    foreign_architecture: str = ""
    #: the execution role's ARN: each instance gets a session of it (AWS_ACCESS_KEY_ID, ... in its environment)
    role: str = ""

    @property
    def pool_key(self) -> tuple[str, str, str]:
        return (self.name, self.version, self.revision_id)


# InvokeRequest and InvokeResult are made once per invocation: not frozen, since a frozen dataclass's __init__ sets
# each field through object.__setattr__ (4x the cost of a plain one, measured); nothing mutates them after creation
@dataclass(slots=True)
class InvokeRequest:
    request_id: str
    payload: bytes  # raw JSON bytes, validated by the API layer, never re-encoded
    invoked_arn: str  # the ARN as invoked (with the qualifier the caller used, if any)
    client_context: str | None = None  # decoded client context JSON, if the caller sent one
    want_log_tail: bool = False
    trace_id: str = ""
    #: a caller waits on this answer (a synchronous API call), so a lone invocation is worth busy polling for;
    #: event sources' invocations (async, queues) are not: polling would only burn the CPU their batch needs
    interactive: bool = True


@dataclass(slots=True)
class InvokeResult:
    payload: bytes  # the function's JSON result, or Lambda's error JSON when function_error is set
    function_error: str | None = None  # "Unhandled" when the function (or its runtime) failed
    log_tail: bytes | None = None  # last 4 KB of this invocation's log (START..REPORT), when asked
    executed_version: str = "$LATEST"
    extra: dict[str, str] = field(default_factory=dict)
    #: the REPORT line's Duration (handler time, init excluded); 0 for a failed init
    duration_ms: float = 0.0
