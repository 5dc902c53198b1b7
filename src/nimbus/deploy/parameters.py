"""A template's Parameters given values: declared types, defaults, AllowedValues, AllowedPattern, lengths and
ranges, NoEcho. Unknown names and missing required ones are refused, naming them. Pure.

Values are kept as CloudFormation hands them to intrinsics: a string, or a list of strings for the list types
(`CommaDelimitedList`, `List<Number>`, `List<AWS::...>`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from nimbus.errors import ValidationError

#: how NoEcho parameters are shown (CloudFormation's mask)
MASK = "****"
_PLAIN_TYPES = ("String", "Number")


@dataclass(frozen=True, slots=True)
class Parameters:
    """The resolved values, and which of them are NoEcho."""

    values: Mapping[str, Any]
    no_echo: frozenset[str]

    def shown(self) -> dict[str, Any]:
        """The values as describe shows them: NoEcho ones masked."""
        return {k: MASK if k in self.no_echo else v for k, v in self.values.items()}


def _is_list(type_: str) -> bool:
    return type_ == "CommaDelimitedList" or type_.startswith("List<")


def _check_type(name: str, type_: str) -> None:
    known = type_ in _PLAIN_TYPES or _is_list(type_) or type_.startswith("AWS::")
    if not known:
        raise ValidationError(f"Parameters: {name}: unknown Type {type_!r}")


def _as_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ",".join(_as_text(v) for v in value)
    return str(value)


def _check_value(name: str, decl: Mapping[str, Any], text: str) -> Any:
    """The value as intrinsics see it, after every constraint of its declaration."""
    type_ = str(decl.get("Type", "String"))
    items = [part.strip() for part in text.split(",")] if _is_list(type_) else [text]
    if type_ == "Number" or type_ == "List<Number>":
        for item in items:
            try:
                float(item)
            except ValueError:
                raise ValidationError(f"Parameter '{name}' must be a number (got {item!r})") from None
    allowed = decl.get("AllowedValues")
    if isinstance(allowed, list):
        allowed_text = [_as_text(a) for a in allowed]
        for item in items:
            if item not in allowed_text:
                raise ValidationError(
                    f"Parameter '{name}' must be one of AllowedValues: {', '.join(allowed_text)} (got {item!r})"
                )
    pattern = decl.get("AllowedPattern")
    if isinstance(pattern, str):
        for item in items:
            if not re.fullmatch(pattern, item):
                reason = decl.get("ConstraintDescription") or f"must match pattern {pattern}"
                raise ValidationError(f"Parameter '{name}' {reason}")
    if "MinLength" in decl and len(text) < int(decl["MinLength"]):
        raise ValidationError(f"Parameter '{name}' violates MinLength {decl['MinLength']}")
    if "MaxLength" in decl and len(text) > int(decl["MaxLength"]):
        raise ValidationError(f"Parameter '{name}' violates MaxLength {decl['MaxLength']}")
    if type_ == "Number":
        number = float(text)
        if "MinValue" in decl and number < float(decl["MinValue"]):
            raise ValidationError(f"Parameter '{name}' is less than MinValue {decl['MinValue']}")
        if "MaxValue" in decl and number > float(decl["MaxValue"]):
            raise ValidationError(f"Parameter '{name}' is greater than MaxValue {decl['MaxValue']}")
    return items if _is_list(type_) else text


def resolve_parameters(declared: Mapping[str, Any], given: Mapping[str, str]) -> Parameters:
    """Values for every declared parameter: given, else Default; unknown and missing ones refused by name."""
    unknown = sorted(set(given) - set(declared))
    if unknown:
        raise ValidationError(f"Parameters: {unknown} do not exist in the template")
    values: dict[str, Any] = {}
    no_echo: set[str] = set()
    missing: list[str] = []
    for name, decl in declared.items():
        if not isinstance(decl, dict):
            raise ValidationError(f"Parameters: {name}: a parameter is declared as a mapping (Type, Default, ...)")
        _check_type(name, str(decl.get("Type", "String")))
        if name in given:
            text = given[name]
        elif "Default" in decl:
            text = _as_text(decl["Default"])
        else:
            missing.append(name)
            continue
        values[name] = _check_value(name, decl, text)
        if str(decl.get("NoEcho", "false")).lower() == "true":
            no_echo.add(name)
    if missing:
        raise ValidationError(f"Parameters: {missing} must have values")
    return Parameters(values, frozenset(no_echo))
