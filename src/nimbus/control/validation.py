"""Lambda's limits and name rules, as pure checks that raise the error Lambda answers with (what a create or update
body makes of a function as a whole: `function_requests.py`)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from nimbus.errors import InvalidParameterValue, PreconditionFailed, ResourceNotFound, ValidationError

MEMORY_MIN, MEMORY_MAX = 128, 10240
TIMEOUT_MIN, TIMEOUT_MAX = 1, 900
EPHEMERAL_MIN, EPHEMERAL_MAX = 512, 10240
ENV_MAX_BYTES = 4096
ZIPPED_MAX = 52_428_800
UNZIPPED_MAX = 262_144_000
CREATE_BODY_MAX = 70_167_211
INVOKE_PAYLOAD_MAX = 6_291_456
DESCRIPTION_MAX = 256

NAME_RE = re.compile(r"[a-zA-Z0-9_-]{1,64}")
#: botocore's NumericLatestPublishedOrAliasQualifier (a lookup's ?Qualifier=)
QUALIFIER_PATTERN = r"\$(LATEST(\.PUBLISHED)?)|[a-zA-Z0-9-_$]+"
QUALIFIER_RE = re.compile(QUALIFIER_PATTERN)
ROLE_RE = re.compile(r"arn:(aws[a-zA-Z-]*)?:iam::\d{12}:role/?[a-zA-Z_0-9+=,.@\-_/]+")
DLQ_ARN_RE = re.compile(r"arn:aws[a-zA-Z-]*:sqs:[a-z]{2}(-gov)?-[a-z]+-\d:\d{12}:[a-zA-Z0-9_-]{1,80}(\.fifo)?")
ENV_KEY_RE = re.compile(r"[a-zA-Z][a-zA-Z0-9_]+")
#: botocore's NamespacedFunctionName (what lookups take), with names for its parts
FUNCTION_REF_PATTERN = (
    r"(arn:(aws[a-zA-Z-]*)?:lambda:)?([a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\d{1}:)?(\d{12}:)?(function:)?"
    r"([a-zA-Z0-9-_\.]+)(:(\$LATEST(\.PUBLISHED)?|[a-zA-Z0-9-_]+))?"
)
FUNCTION_REF_RE = re.compile(
    r"(?:arn:(?P<partition>aws[a-zA-Z-]*)?:lambda:)?(?P<region>[a-z]{2}(?:(?:-gov)|(?:-iso(?:[a-z]?)))?-[a-z]+-\d:)?"
    r"(?:(?P<account>\d{12}):)?(?:function:)?"
    r"(?P<name>[a-zA-Z0-9_.-]+)(?::(?P<qualifier>\$LATEST(?:\.PUBLISHED)?|[a-zA-Z0-9_-]+))?"
)

#: Lambda's Runtime enum (botocore 1.43.11), in the model's order: what CompatibleRuntimes may name
RUNTIME_ENUM = (
    "nodejs", "nodejs4.3", "nodejs6.10", "nodejs8.10", "nodejs10.x", "nodejs12.x", "nodejs14.x", "nodejs16.x",
    "java8", "java8.al2", "java11", "python2.7", "python3.6", "python3.7", "python3.8", "python3.9",
    "dotnetcore1.0", "dotnetcore2.0", "dotnetcore2.1", "dotnetcore3.1", "dotnet6", "dotnet8", "nodejs4.3-edge",
    "go1.x", "ruby2.5", "ruby2.7", "provided", "provided.al2", "nodejs18.x", "python3.10", "java17", "ruby3.2",
    "ruby3.3", "ruby3.4", "python3.11", "nodejs20.x", "provided.al2023", "python3.12", "java21", "python3.13",
    "nodejs22.x", "nodejs24.x", "python3.14", "java25", "dotnet10", "ruby4.0",
)  # fmt: skip
LAMBDA_RUNTIMES = frozenset(RUNTIME_ENUM)

RESERVED_ENV = frozenset(
    {
        "_HANDLER", "_X_AMZN_TRACE_ID", "AWS_DEFAULT_REGION", "AWS_REGION", "AWS_EXECUTION_ENV",
        "AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "AWS_LAMBDA_FUNCTION_VERSION",
        "AWS_LAMBDA_INITIALIZATION_TYPE", "AWS_LAMBDA_LOG_GROUP_NAME", "AWS_LAMBDA_LOG_STREAM_NAME",
        "AWS_ACCESS_KEY", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SECRET_KEY", "AWS_SESSION_TOKEN",
        "AWS_LAMBDA_RUNTIME_API", "LAMBDA_TASK_ROOT", "LAMBDA_RUNTIME_DIR",
    }
)  # fmt: skip


@dataclass(frozen=True)
class FunctionRef:
    name: str
    qualifier: str | None


def function_name(name: Any) -> str:
    """A plain function name as CreateFunction accepts it: the model took it (up to 140 characters, ARNs too), and
    the service rule wants 1 to 64 letters, digits, hyphens or underscores."""
    if not isinstance(name, str) or not NAME_RE.fullmatch(name):
        raise InvalidParameterValue(
            f"Function name {name} is not valid: a function name has 1 to 64 characters, each a letter, a digit, "
            "a hyphen or an underscore."
        )
    return name


@lru_cache(maxsize=1024)
def parse_function_ref(raw: str, *, region: str, account: str, qualifier: str | None = None) -> FunctionRef:
    """Resolve a name, `name:qualifier`, partial ARN or full ARN, plus an optional ?Qualifier=. What the model's
    pattern refuses is a ValidationException; a name no function can have (too long, a dot) is simply not found,
    as Lambda's lookups answer; an ARN of another region is not reachable from this one. Pure, so cached (every
    invoke names its function: no pattern match and no new FunctionRef per invoke); refusals are not cached."""
    if NAME_RE.fullmatch(raw) and (qualifier is None or QUALIFIER_RE.fullmatch(qualifier)):
        return FunctionRef(raw, qualifier)  # a plain name, the warm invoke's usual case: one short match
    m = FUNCTION_REF_RE.fullmatch(raw) if len(raw) <= 256 else None
    if m is None:
        constraint = (
            f"Member must satisfy regular expression pattern: {FUNCTION_REF_PATTERN}"
            if len(raw) <= 256 else "Member must have length less than or equal to 256"
        )  # fmt: skip
        raise ValidationError(
            f"1 validation error detected: Value '{raw}' at 'functionName' failed to satisfy constraint: {constraint}"
        )
    if qualifier is not None and not QUALIFIER_RE.fullmatch(qualifier):
        raise ValidationError(
            f"1 validation error detected: Value '{qualifier}' at 'qualifier' failed to satisfy constraint: "
            f"Member must satisfy regular expression pattern: {QUALIFIER_PATTERN}"
        )
    in_region = (m.group("region") or region + ":")[:-1]
    if in_region != region:
        raise ResourceNotFound(f"Functions from '{in_region}' are not reachable in this region ('{region}')")
    name = m.group("name")
    derived = m.group("qualifier")
    if m.group("account") not in (None, account) or not NAME_RE.fullmatch(name):
        arn = f"arn:aws:lambda:{region}:{m.group('account') or account}:function:{name}"
        shown = derived or qualifier
        raise ResourceNotFound(f"Function not found: {arn}{':' + shown if shown else ''}")
    if derived and qualifier and derived != qualifier:
        raise InvalidParameterValue(
            "The derived qualifier from the function name does not match the specified qualifier."
        )
    return FunctionRef(name, derived or qualifier)


def _int_in(value: Any, field: str, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidParameterValue(f"{field} must be an integer between {lo} and {hi}.")
    return in_range(value, field, lo, hi)


def in_range(value: int, field: str, lo: int, hi: int) -> int:
    """`value`, or the model's ValidationException for an integer member out of [lo, hi], as Lambda words it."""
    if not lo <= value <= hi:
        bound = f"greater than or equal to {lo}" if value < lo else f"less than or equal to {hi}"
        raise ValidationError(
            f"1 validation error detected: Value '{value}' at '{field[0].lower() + field[1:]}' failed to satisfy "
            f"constraint: Member must have value {bound}"
        )
    return value


def memory_size(value: Any) -> int:
    return _int_in(value, "MemorySize", MEMORY_MIN, MEMORY_MAX)


def timeout(value: Any) -> int:
    return _int_in(value, "Timeout", TIMEOUT_MIN, TIMEOUT_MAX)


def ephemeral_storage(value: Any) -> int:
    if not isinstance(value, Mapping) or "Size" not in value:
        raise InvalidParameterValue("EphemeralStorage must be an object with a Size member.")
    return _int_in(value["Size"], "EphemeralStorage.Size", EPHEMERAL_MIN, EPHEMERAL_MAX)


def environment(value: Any) -> dict[str, str]:
    if not isinstance(value, Mapping):
        raise InvalidParameterValue("Environment must be an object with a Variables map.")
    variables = value.get("Variables") or {}
    if not isinstance(variables, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in variables.items()
    ):
        raise InvalidParameterValue("Environment.Variables must map strings to strings.")
    for key in variables:
        if not ENV_KEY_RE.fullmatch(key):
            raise ValidationError(
                f"1 validation error detected: Value at 'environment.variables' failed to satisfy constraint: "
                f"Map keys must satisfy constraint: [Member must satisfy regular expression pattern: "
                f"[a-zA-Z]([a-zA-Z0-9_])+] (key '{key}')"
            )
    reserved = sorted(k for k in variables if k in RESERVED_ENV)
    if reserved:
        raise InvalidParameterValue(
            "Lambda was unable to configure your environment variables because the environment variables you have "
            "provided contains reserved keys that are currently not supported for modification. "
            f"Reserved keys used in this request: {', '.join(reserved)}"
        )
    measured = json.dumps(dict(variables), separators=(",", ":"), ensure_ascii=False)
    if len(measured.encode()) > ENV_MAX_BYTES:
        raise InvalidParameterValue(
            "Lambda was unable to configure your environment variables because the environment variables you have "
            f"provided exceeded the 4KB limit. String measured: {measured[:200]}..."
        )
    return dict(variables)


def snap_start(value: Any) -> dict[str, str]:
    """SnapStart as stored on $LATEST; published versions report OptimizationStatus On when it applies."""
    apply_on = value.get("ApplyOn") if isinstance(value, Mapping) else None
    if apply_on not in ("PublishedVersions", "None"):
        raise InvalidParameterValue("SnapStart.ApplyOn must be PublishedVersions or None.")
    return {"ApplyOn": apply_on, "OptimizationStatus": "Off"}


def description(value: Any) -> str:
    if not isinstance(value, str) or len(value) > DESCRIPTION_MAX:
        raise ValidationError(
            "1 validation error detected: Value at 'description' failed to satisfy constraint: "
            f"Member must have length less than or equal to {DESCRIPTION_MAX}"
        )
    return value


def handler(value: Any) -> str:
    if not isinstance(value, str) or not value or len(value) > 128 or any(c.isspace() for c in value):
        raise ValidationError(
            f"1 validation error detected: Value '{value}' at 'handler' failed to satisfy constraint: "
            "Member must satisfy regular expression pattern: [^\\s]+ and have length less than or equal to 128"
        )
    return value


def role(value: Any) -> str:
    if not isinstance(value, str) or not ROLE_RE.fullmatch(value):
        raise ValidationError(
            f"1 validation error detected: Value '{value}' at 'role' failed to satisfy constraint: Member must "
            "satisfy regular expression pattern: arn:(aws[a-zA-Z-]*)?:iam::\\d{12}:role/?[a-zA-Z_0-9+=,.@\\-_/]+"
        )
    return value


# ---- tags, revisions, sizes and concurrency (a request as a whole: `function_requests.py`) ----
#: the tag that picks an instance's network mode: "host" (default) or "none"
NETWORK_TAG = "nimbus:network"
NETWORK_MODES = ("host", "none")
#: Lambda keeps at least this much of the account's concurrency unreserved
UNRESERVED_MIN = 100
REVISION_MISMATCH = (
    "The Revision Id provided does not match the latest Revision Id. "
    "Call the GetFunction/GetAlias API to retrieve the latest Revision Id"
)


#: the most tags a function carries
TAGS_MAX = 50
TAG_LIMIT = "Number of tags exceeds resource tag limit."


def check_tags(tags: Any) -> dict[str, str]:
    """The tags of a CreateFunction or TagResource: a string map (the model checked it), no more than 50."""
    if not isinstance(tags, dict) or not all(isinstance(k, str) and isinstance(x, str) for k, x in tags.items()):
        raise InvalidParameterValue("Tags must map strings to strings.")
    if len(tags) > TAGS_MAX:
        raise InvalidParameterValue(TAG_LIMIT)
    if tags.get(NETWORK_TAG, "host") not in NETWORK_MODES:
        raise InvalidParameterValue(f"Tag {NETWORK_TAG} must be one of: {', '.join(NETWORK_MODES)}.")
    return tags


def tag_count(current: Mapping[str, str], added: Mapping[str, str]) -> None:
    """TagResource: at least one tag, and the function keeps no more than 50 (Lambda's words for each)."""
    if not added:
        raise InvalidParameterValue("An error occurred and the request cannot be processed.")
    if len(set(current) | set(added)) > TAGS_MAX:
        raise InvalidParameterValue(TAG_LIMIT)


def total_size(unzipped: int, layers_unzipped: Iterable[int]) -> None:
    """Function code plus its layers, unzipped, must fit Lambda's 250 MB."""
    total = unzipped + sum(layers_unzipped)
    if total > UNZIPPED_MAX:
        raise InvalidParameterValue(
            f"Function code combined with layers exceeds the maximum allowed size of {UNZIPPED_MAX} bytes. "
            f"The actual size is {total} bytes."
        )


def revision(current: str, wanted: Any) -> None:
    """A RevisionId precondition: absent, or the record's current revision."""
    if wanted is not None and wanted != current:
        raise PreconditionFailed(REVISION_MISMATCH)


def reserved_concurrency(value: int, others: int, limit: int) -> None:
    """Lambda keeps the account's unreserved pool at 100 or more (a tenth of the limit here, when the limit is set
    below 1000); `others` is what the other functions have reserved."""
    minimum = min(UNRESERVED_MIN, limit // 10)
    if limit - others - value < minimum:
        raise InvalidParameterValue(
            "Specified ReservedConcurrentExecutions for function decreases account's "
            f"UnreservedConcurrentExecution below its minimum value of [{minimum}]."
        )
