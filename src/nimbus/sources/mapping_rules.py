"""What an event source mapping is, and Lambda's rules for the fields of Create/UpdateEventSourceMapping.

The rules are pure (no registry, no queue): the service checks what needs them (the function exists, the queue
exists, no duplicate mapping) around these. Range and type violations are ValidationException in the words
Lambda's model gives them; the service rules are InvalidParameterValueException in Lambda's words.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import Any

from nimbus.errors import InvalidParameterValue, ResourceNotFound, ValidationError
from nimbus.protocol.filters import Pattern, parse_pattern

#: Lambda's default and cap of concurrent batches per SQS mapping when ScalingConfig names none: Lambda starts
#: with five pollers; a self-hosted server keeps that as its ceiling (the function's concurrency still applies)
DEFAULT_CONCURRENCY = 5
MAX_FILTERS = 5
SQS_ARN_RE = re.compile(r"arn:aws[a-zA-Z-]*:sqs:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):(?P<name>[A-Za-z0-9_.-]+)")
UUID_RE = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
#: the members these rules read; any other member of the request is refused (it belongs to another source type)
KNOWN = {"FunctionName", "EventSourceArn", "Enabled", "BatchSize", "MaximumBatchingWindowInSeconds",
         "FunctionResponseTypes", "ScalingConfig", "FilterCriteria", "UUID"}  # fmt: skip


@dataclass(frozen=True)
class MappingRecord:
    """One mapping as it is stored: the user's settings, the function it feeds (name and qualifier, as given),
    and its target state ("Enabled" or "Disabled"; the transitions are reported, not stored)."""

    uuid: str
    function_name: str
    qualifier: str | None
    source_arn: str
    batch_size: int = 10
    window_s: int = 0
    enabled: bool = True
    report_failures: bool = False
    max_concurrency: int | None = None
    filters: tuple[str, ...] = ()
    last_modified: float = 0.0
    patterns: tuple[Pattern, ...] = field(default=(), compare=False, repr=False)

    @property
    def queue_name(self) -> str:
        return self.source_arn.rsplit(":", 1)[1]

    @property
    def concurrency(self) -> int:
        return self.max_concurrency or DEFAULT_CONCURRENCY

    def to_json(self) -> dict[str, Any]:
        return {"UUID": self.uuid, "FunctionName": self.function_name, "Qualifier": self.qualifier,
                "EventSourceArn": self.source_arn, "BatchSize": self.batch_size,
                "MaximumBatchingWindowInSeconds": self.window_s, "Enabled": self.enabled,
                "ReportBatchItemFailures": self.report_failures, "MaximumConcurrency": self.max_concurrency,
                "Filters": list(self.filters), "LastModified": self.last_modified}  # fmt: skip

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> MappingRecord:
        filters = tuple(doc.get("Filters", ()))
        return cls(
            doc["UUID"], doc["FunctionName"], doc.get("Qualifier"), doc["EventSourceArn"], doc["BatchSize"],
            doc["MaximumBatchingWindowInSeconds"], doc["Enabled"], doc["ReportBatchItemFailures"],
            doc.get("MaximumConcurrency"), filters, doc["LastModified"], tuple(parse_pattern(f) for f in filters),
        )  # fmt: skip


def _violation(value: Any, path: str, constraint: str) -> ValidationError:
    return ValidationError(
        f"1 validation error detected: Value '{value}' at '{path}' failed to satisfy constraint: {constraint}"
    )


def _int(body: dict[str, Any], key: str, path: str, lo: int, hi: int) -> int | None:
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidParameterValue(f"{key} must be an integer.")
    if value < lo:
        raise _violation(value, path, f"Member must have value greater than or equal to {lo}")
    if value > hi:
        raise _violation(value, path, f"Member must have value less than or equal to {hi}")
    return value


def not_found() -> ResourceNotFound:
    """Lambda's answer for a mapping UUID it does not know."""
    return ResourceNotFound("The resource you requested does not exist.")


def parse_source_arn(arn: Any) -> str:
    """The queue name of an SQS queue ARN; refuses what is not one (Lambda: "Unrecognized event source")."""
    if not isinstance(arn, str) or not arn:
        raise InvalidParameterValue("Unrecognized event source.")
    m = SQS_ARN_RE.fullmatch(arn)
    if m is None:
        if arn.startswith("arn:"):
            raise InvalidParameterValue(
                "Unrecognized event source, must be kinesis, dynamodb stream or sqs. Unsupported source arn : " + arn
            )
        raise _violation(
            arn,
            "eventSourceArn",
            "Member must satisfy regular expression pattern: "
            "arn:(aws[a-zA-Z0-9-]*):([a-zA-Z0-9\\-])+:([a-z]{2}(-gov)?-[a-z]+-\\d{1})?:(\\d{12})?:(.*)",
        )
    return m.group("name")


def _filters(body: dict[str, Any]) -> tuple[str, ...] | None:
    criteria = body.get("FilterCriteria")
    if criteria is None:
        return None
    if not isinstance(criteria, dict):
        raise InvalidParameterValue("Invalid filter pattern definition.")
    filters = criteria.get("Filters") or []
    if not isinstance(filters, list):
        raise InvalidParameterValue("Invalid filter pattern definition.")
    if len(filters) > MAX_FILTERS:
        raise InvalidParameterValue(
            f"The number of filters in FilterCriteria exceeds the allowed limit of {MAX_FILTERS}."
        )
    patterns = []
    for i, item in enumerate(filters):
        text = item.get("Pattern") if isinstance(item, dict) else None
        if isinstance(text, str) and len(text) > 4096:
            raise _violation(text, f"filterCriteria.filters.{i + 1}.member.pattern",
                             "Member must have length less than or equal to 4096")  # fmt: skip
        if not isinstance(text, str) or not text:
            raise InvalidParameterValue("Invalid filter pattern definition.")
        parse_pattern(text)
        patterns.append(text)
    return tuple(patterns)


def apply(base: MappingRecord, body: dict[str, Any], *, creating: bool) -> MappingRecord:
    """`base` with the fields of a Create or Update request applied, each checked; the cross-field rule (an SQS
    batch over 10 needs a batching window) is checked on the result, as Lambda checks it."""
    unknown = sorted(k for k in body if k not in KNOWN and body[k] is not None)
    if unknown:
        raise InvalidParameterValue(
            f"Unsupported parameter for an Amazon SQS event source mapping: {', '.join(unknown)}."
        )
    changes: dict[str, Any] = {}
    if (batch := _int(body, "BatchSize", "batchSize", 1, 10_000)) is not None:
        changes["batch_size"] = batch
    window = _int(body, "MaximumBatchingWindowInSeconds", "maximumBatchingWindowInSeconds", 0, 300)
    if window is not None:
        changes["window_s"] = window
    if "Enabled" in body and body["Enabled"] is not None:
        if not isinstance(body["Enabled"], bool):
            raise InvalidParameterValue("Enabled must be true or false.")
        changes["enabled"] = body["Enabled"]
    types = body.get("FunctionResponseTypes")
    if types is not None:
        if not isinstance(types, list) or len(types) > 1:
            raise _violation(types, "functionResponseTypes", "Member must have length less than or equal to 1")
        for t in types:
            if t != "ReportBatchItemFailures":
                raise _violation(t, "functionResponseTypes",
                                 "Member must satisfy enum value set: [ReportBatchItemFailures]")  # fmt: skip
        changes["report_failures"] = bool(types)
    scaling = body.get("ScalingConfig")
    if scaling is not None:
        if not isinstance(scaling, dict):
            raise InvalidParameterValue("ScalingConfig must be an object.")
        cap = _int(scaling, "MaximumConcurrency", "scalingConfig.maximumConcurrency", 2, 1000)
        changes["max_concurrency"] = cap
    filters = _filters(body)
    if filters is not None:
        changes["filters"] = filters
        changes["patterns"] = tuple(parse_pattern(f) for f in filters)
    out = replace(base, **changes)
    if out.batch_size > 10 and out.window_s < 1:
        raise InvalidParameterValue(
            "Maximum batch window in seconds must be greater than 0 if maximum batch size is greater than 10"
        )
    if creating and out.queue_name.endswith(".fifo") and out.batch_size > 10:
        raise InvalidParameterValue("Batch size for FIFO queues must be less than or equal to 10.")
    return out
