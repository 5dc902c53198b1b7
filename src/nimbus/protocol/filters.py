"""The one filter engine: event patterns as Lambda's FilterCriteria, EventBridge rules and SNS policies write them.

A pattern is a JSON object. Each key names a field of the event; its value is either a nested pattern (an object)
or a list of matchers for a leaf, any of which may match (OR). Keys are ANDed; `$or` takes a list of patterns,
any of which may match. A leaf matcher is a literal (string, number, boolean, null: exact match) or an object with
one operator: `prefix`, `suffix`, `equals-ignore-case`, `anything-but` (values, `prefix`, `suffix`,
`equals-ignore-case`, `wildcard`), `numeric` (`=`, `<`, `<=`, `>`, `>=`, or a range: a lower then an upper bound),
`exists` (true/false), `wildcard` (`*` only) and `cidr` (an IPv4 or IPv6 network; matches address strings in it).
Where the event has an array, a leaf matches when any element matches, and a nested pattern when any object in
the array does.

`parse_pattern` validates once (Lambda answers InvalidParameterValueException "Invalid filter pattern definition."
for anything it cannot read); `matches` is then pure dict walking. `matches_record` applies Lambda's rule for a
record's data field (SQS `body`, Kinesis `data`, ...): a JSON data field is matched by an object pattern, a plain
string by a list of matchers, and the other two pairings never match (the record is dropped).
"""

from __future__ import annotations

import ipaddress
import math
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any

from nimbus.errors import InvalidParameterValue
from nimbus.protocol import json_text

INVALID = "Invalid filter pattern definition."

#: what a parsed pattern is: the validated JSON object itself (matching walks it directly)
Pattern = Mapping[str, Any]

_LOWER = (">", ">=")
_UPPER = ("<", "<=")
_MISSING = object()


def invalid(detail: str | None = None) -> InvalidParameterValue:
    """Lambda's error for a pattern it cannot read; `detail` is kept for the server log, never the wire."""
    exc = InvalidParameterValue(INVALID)
    exc.__notes__ = [detail] if detail else []
    return exc


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


# ---- parsing ----
def parse_pattern(text: str) -> Pattern:
    """A pattern from its JSON text, validated; raises InvalidParameterValue (Lambda's wording) if it is invalid."""
    if not isinstance(text, str):
        raise invalid("the pattern is not a string")
    try:
        value = json_text.loads(text)
    except ValueError:
        raise invalid("the pattern is not JSON") from None
    if not isinstance(value, dict):
        raise invalid("the pattern is not a JSON object")
    check_pattern(value)
    return value


def check_pattern(pattern: Any, depth: int = 0) -> None:
    """Raise `invalid` unless `pattern` is a pattern object (keys to nested patterns or lists of matchers)."""
    if not isinstance(pattern, dict) or depth > 64:
        raise invalid("a pattern must be an object")
    for key, value in pattern.items():
        if key == "$or":
            if not isinstance(value, list) or len(value) < 2:
                raise invalid("$or takes a list of at least two patterns")
            for alternative in value:
                check_pattern(alternative, depth + 1)
                if not alternative:
                    raise invalid("an empty pattern in $or")
        elif isinstance(value, dict):
            check_pattern(value, depth + 1)
        elif isinstance(value, list):
            if not value:
                raise invalid(f"an empty list of matchers at {key!r}")
            for matcher in value:
                check_matcher(matcher)
        else:
            raise invalid(f"the value of {key!r} must be a list of matchers or a nested pattern")


def _check_string_operand(op: str, operand: Any) -> None:
    if isinstance(operand, str):
        return
    folded = isinstance(operand, dict) and list(operand) == ["equals-ignore-case"]
    if op in ("prefix", "suffix") and folded and isinstance(operand["equals-ignore-case"], str):
        return
    raise invalid(f"{op} takes a string")


def check_matcher(matcher: Any) -> None:
    """Raise `invalid` unless `matcher` is one literal or one operator object with a well-formed operand."""
    if matcher is None or isinstance(matcher, str | bool) or _number(matcher):
        return
    if not isinstance(matcher, dict) or len(matcher) != 1:
        raise invalid("a matcher is a literal or an object with one operator")
    ((op, operand),) = matcher.items()
    if op in ("prefix", "suffix", "equals-ignore-case", "wildcard"):
        if op in ("equals-ignore-case", "wildcard") and not isinstance(operand, str):
            raise invalid(f"{op} takes a string")
        _check_string_operand(op, operand)
        if op == "wildcard":
            _check_wildcard(operand)
    elif op == "cidr":
        if not isinstance(operand, str) or _network(operand) is None:
            raise invalid("cidr takes an IPv4 or IPv6 network in CIDR notation (10.0.0.0/24, 2001:db8::/32)")
    elif op == "exists":
        if not isinstance(operand, bool):
            raise invalid("exists takes true or false")
    elif op == "numeric":
        _check_numeric(operand)
    elif op == "anything-but":
        _check_anything_but(operand)
    else:
        raise invalid(f"unknown operator {op!r}")


def _check_wildcard(operand: str) -> None:
    if "**" in operand:
        raise invalid("wildcard does not take consecutive wildcard characters")


@lru_cache(maxsize=1024)
def _network(text: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    """The network a `cidr` operand names (host bits allowed, as in `10.0.0.1/24`), or None."""
    try:
        return ipaddress.ip_network(text.strip(), strict=False)
    except ValueError:
        return None


def _in_network(operand: str, value: Any) -> bool:
    if not isinstance(value, str):
        return False
    network = _network(operand)
    try:
        address = ipaddress.ip_address(value.strip())
    except ValueError:
        return False
    return network is not None and address.version == network.version and address in network


def _check_numeric(operand: Any) -> None:
    if not isinstance(operand, list) or len(operand) not in (2, 4):
        raise invalid("numeric takes [op, n] or [lower op, n, upper op, m]")
    pairs = [(operand[i], operand[i + 1]) for i in range(0, len(operand), 2)]
    for op, n in pairs:
        if op not in ("=", *_LOWER, *_UPPER) or not _number(n):
            raise invalid("numeric takes =, <, <=, > or >= and a number")
    if len(pairs) == 2:
        (lo_op, lo), (hi_op, hi) = pairs
        if lo_op not in _LOWER or hi_op not in _UPPER or lo >= hi:
            raise invalid("a numeric range is a lower bound (> or >=) then a greater upper bound (< or <=)")


def _check_anything_but(operand: Any) -> None:
    if isinstance(operand, str) or _number(operand):
        return
    if isinstance(operand, list):
        if not operand or not all(isinstance(v, str) or _number(v) for v in operand):
            raise invalid("anything-but takes strings or numbers")
        if len({type(v) is str for v in operand}) > 1:
            raise invalid("anything-but takes strings or numbers, not both")
        return
    if isinstance(operand, dict) and len(operand) == 1:
        ((op, inner),) = operand.items()
        if op in ("prefix", "suffix") and isinstance(inner, str):
            return
        if op in ("equals-ignore-case", "wildcard") and (
            isinstance(inner, str) or (isinstance(inner, list) and inner and all(isinstance(v, str) for v in inner))
        ):
            for glob in [inner] if isinstance(inner, str) else inner:
                if op == "wildcard":
                    _check_wildcard(glob)
            return
    raise invalid("anything-but takes a value, a list of values, or prefix / suffix / equals-ignore-case / wildcard")


# ---- matching ----
def matches(pattern: Pattern, event: Any) -> bool:
    """Whether `event` (a decoded JSON value) satisfies every key of `pattern`."""
    if isinstance(event, list):  # an array of objects: any element may satisfy a nested pattern
        return any(matches(pattern, item) for item in event if isinstance(item, dict))
    fields: Mapping[str, Any] = event if isinstance(event, dict) else {}
    for key, rule in pattern.items():
        if key == "$or":
            if not any(matches(alternative, fields) for alternative in rule):
                return False
        elif isinstance(rule, dict):
            value = fields.get(key, _MISSING)
            if not matches(rule, value if isinstance(value, dict | list) else {}):
                return False
        elif not _leaf(rule, fields.get(key, _MISSING)):
            return False
    return True


def _leaf(matchers: Sequence[Any], value: Any) -> bool:
    if isinstance(value, dict):  # a leaf rule never matches an object
        return False
    if isinstance(value, list):
        values = [v for v in value if not isinstance(v, dict | list)]
        present = bool(values)
    else:
        values = [] if value is _MISSING else [value]
        present = value is not _MISSING
    for matcher in matchers:
        if isinstance(matcher, dict) and "exists" in matcher:
            if matcher["exists"] is present:
                return True
        elif isinstance(matcher, dict) and "anything-but" in matcher:
            if values and all(_anything_but(matcher["anything-but"], v) for v in values):
                return True
        elif any(_one(matcher, v) for v in values):
            return True
    return False


def _literal(expected: Any, value: Any) -> bool:
    if expected is None or isinstance(expected, bool):
        return value is expected
    if isinstance(expected, str):
        return isinstance(value, str) and value == expected
    return _number(value) and value == expected


def _string_op(op: str, operand: Any, value: Any) -> bool:
    if not isinstance(value, str):
        return False
    fold = isinstance(operand, dict)
    text = operand["equals-ignore-case"].casefold() if fold else operand
    subject = value.casefold() if fold else value
    return subject.startswith(text) if op == "prefix" else subject.endswith(text)


def _one(matcher: Any, value: Any) -> bool:
    if not isinstance(matcher, dict):
        return _literal(matcher, value)
    ((op, operand),) = matcher.items()
    if op in ("prefix", "suffix"):
        return _string_op(op, operand, value)
    if op == "equals-ignore-case":
        return isinstance(value, str) and value.casefold() == operand.casefold()
    if op == "numeric":
        return _number(value) and all(_compare(operand[i], value, operand[i + 1]) for i in range(0, len(operand), 2))
    if op == "wildcard":
        return isinstance(value, str) and _wildcard(operand, value)
    if op == "cidr":
        return _in_network(operand, value)
    return False


def _compare(op: str, value: float, bound: float) -> bool:
    if op == "=":
        return value == bound
    if op == "<":
        return value < bound
    if op == "<=":
        return value <= bound
    if op == ">":
        return value > bound
    return value >= bound


def _anything_but(operand: Any, value: Any) -> bool:
    if isinstance(operand, dict):
        ((op, inner),) = operand.items()
        if op == "equals-ignore-case":
            words = [inner] if isinstance(inner, str) else inner
            return not (isinstance(value, str) and value.casefold() in {w.casefold() for w in words})
        if op == "wildcard":
            globs = [inner] if isinstance(inner, str) else inner
            return not (isinstance(value, str) and any(_wildcard(g, value) for g in globs))
        return not _string_op(op, inner, value)
    excluded = operand if isinstance(operand, list) else [operand]
    return not any(_literal(e, value) for e in excluded)


def _wildcard(pattern: str, value: str) -> bool:
    parts = pattern.split("*")
    if len(parts) == 1:
        return value == pattern
    if not (value.startswith(parts[0]) and value.endswith(parts[-1])) or len(value) < len(parts[0]) + len(parts[-1]):
        return False
    pos, end = len(parts[0]), len(value) - len(parts[-1])
    for middle in parts[1:-1]:
        found = value.find(middle, pos, end)
        if found < 0:
            return False
        pos = found + len(middle)
    return True


# ---- records with a data field (Lambda event source mappings) ----
def decode_data(raw: str) -> Any:
    """A record's data field as filters see it: the decoded object or array when it is JSON, else the string."""
    text = raw.lstrip()
    if text[:1] in ("{", "["):
        try:
            return json_text.loads(raw)
        except ValueError:
            pass
    return raw


def matches_record(patterns: Sequence[Pattern], record: Mapping[str, Any], data_key: str) -> bool:
    """Whether a record passes a mapping's filters (ORed; no filters: everything passes). The data field
    (`data_key`) is matched decoded when it is JSON; a JSON body with a plain-string rule, or a plain body with an
    object rule, never matches, as Lambda has it."""
    if not patterns:
        return True
    data = decode_data(record[data_key]) if isinstance(record.get(data_key), str) else record.get(data_key)
    view = {**record, data_key: data}
    json_data = isinstance(data, dict | list)
    for pattern in patterns:
        rule = pattern.get(data_key, _MISSING)
        if rule is not _MISSING and isinstance(rule, dict) != json_data:
            continue
        if matches(pattern, view):
            return True
    return False
