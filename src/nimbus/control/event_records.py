"""EventBridge's buses and rules as records, and the rules about them that need no state: target ARNs (which kinds
Nimbus delivers to, in this region and account), a target's Input / InputPath / InputTransformer, event patterns,
bus names from names or ARNs, List* pages, and the quotas.

Apart from `event_rules.py`, which keeps the buses and rules (memory, the control database, the lock) and applies
these: the API (`api/events_api.py`) and the bus (`sources/event_bus.py`) use the records and helpers without the
store.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from nimbus.errors import InvalidEventPattern, InvalidParameterValue, ValidationError
from nimbus.protocol import input_transform
from nimbus.protocol.filters import Pattern, parse_pattern

DEFAULT_BUS = "default"
#: EventBridge's quotas: targets per rule, rules per bus, custom buses per account
MAX_TARGETS = 5
MAX_RULES = 300
MAX_BUSES = 100
LIST_MAX = 100
ENABLED, DISABLED = "ENABLED", "DISABLED"
_TARGET_ARN = re.compile(r"arn:aws[\w-]*:(lambda|sqs|sns):([a-z0-9-]+):(\d{12}):(.+)\Z")
_FUNCTION = re.compile(r"function:[A-Za-z0-9_-]+(:[A-Za-z0-9$_-]+)?\Z")
LIMIT = "The requested resource exceeds the maximum number allowed."


@dataclass(frozen=True, slots=True)
class Bus:
    name: str
    description: str | None
    created: float
    modified: float
    tags: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Rule:
    """One rule. `targets` are PutTargets' Target dicts as accepted (validated, only the members given)."""

    bus: str
    name: str
    event_pattern: str | None
    schedule: str | None
    state: str
    description: str | None
    role_arn: str | None
    targets: tuple[dict[str, Any], ...] = ()
    tags: dict[str, str] = field(default_factory=dict)
    #: the parsed EventPattern (not stored: parsed again at load)
    pattern: Pattern | None = None

    @property
    def enabled(self) -> bool:
        return self.state != DISABLED

    def document(self) -> str:
        doc = {"EventPattern": self.event_pattern, "ScheduleExpression": self.schedule, "State": self.state,
               "Description": self.description, "RoleArn": self.role_arn, "Targets": list(self.targets),
               "Tags": self.tags}  # fmt: skip
        return json.dumps(doc)


def target_kind(arn: str) -> str:
    """The delivery kind of a target ARN: "lambda", "sqs" or "sns" ("" for none Nimbus delivers to)."""
    found = _TARGET_ARN.match(arn)
    if found is None or (found.group(1) == "lambda" and not _FUNCTION.match(found.group(4))):
        return ""
    return found.group(1)


def bus_name(name_or_arn: str | None) -> str:
    """A bus's name from EventBusName (a name or an event-bus ARN); the default bus when absent."""
    if not name_or_arn:
        return DEFAULT_BUS
    return name_or_arn.partition(":event-bus/")[2] if name_or_arn.startswith("arn:") else name_or_arn


def page(items: Sequence[Any], token: str | None, limit: int | None) -> tuple[list[Any], str | None]:
    """One page of a List* answer: NextToken is the next item's index."""
    start = 0
    if token is not None:
        if not token.isdigit():
            raise ValidationError("The NextToken is not valid.")
        start = int(token)
    end = start + (limit or LIST_MAX)
    return list(items[start:end]), (str(end) if end < len(items) else None)


def check_pattern(text: str) -> Pattern:
    """An EventPattern parsed, or InvalidEventPattern with the reason."""
    try:
        return parse_pattern(text)
    except InvalidParameterValue as exc:
        reason = "; ".join(getattr(exc, "__notes__", [])) or "it is not an event pattern"
        raise InvalidEventPattern(f"Event pattern is not valid. Reason: {reason}") from None


def target_failure(target: Mapping[str, Any], region: str, account: str) -> str | None:
    """Why a target cannot be delivered to from this server's `region` and `account` (reported in PutTargets'
    FailedEntries), or None."""
    arn = target["Arn"]
    kind = target_kind(arn)
    found = _TARGET_ARN.match(arn)
    if not kind or found is None:
        return (
            f"Target {arn} is not a target Nimbus delivers to: use the ARN of a function "
            "(arn:aws:lambda:...:function:NAME), a queue (arn:aws:sqs:...) or a topic (arn:aws:sns:...)."
        )
    if (found.group(2), found.group(3)) != (region, account):
        return f"Target {arn} is not in this server's region {region} and account {account}."
    dlq = (target.get("DeadLetterConfig") or {}).get("Arn")
    if dlq and target_kind(dlq) != "sqs":
        return f"DeadLetterConfig.Arn {dlq} is not a queue's ARN (arn:aws:sqs:{region}:{account}:NAME)."
    return None


def check_target_input(target: Mapping[str, Any]) -> None:
    """Input, InputPath, InputTransformer: at most one, each well formed (ValidationError otherwise)."""
    given = [k for k in ("Input", "InputPath", "InputTransformer") if target.get(k) is not None]
    if len(given) > 1:
        raise ValidationError(f"Target {target['Id']}: only one of Input, InputPath and InputTransformer.")
    try:
        if target.get("Input") is not None:
            json.loads(target["Input"])
        if target.get("InputPath"):
            input_transform.parse_path(target["InputPath"])
        if target.get("InputTransformer") is not None:
            paths = target["InputTransformer"].get("InputPathsMap") or {}
            input_transform.check_paths_map(paths)
            input_transform.check_template(target["InputTransformer"]["InputTemplate"], paths)
    except (ValueError, RecursionError) as exc:
        reason = "Input is not valid JSON." if isinstance(exc, json.JSONDecodeError) else str(exc)
        raise ValidationError(f"Target {target['Id']}: {reason}") from None
