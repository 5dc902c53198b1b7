"""IAM's condition operators, pure: a policy's `Condition` block against a request's context keys.

Written from the IAM User Guide ("IAM JSON policy elements: Condition operators", "Creating a condition with
multiple keys or values", "Single-valued vs. multivalued context keys"):
- several operators in a block, and several keys under one operator, are ANDed; several values of one key are ORed;
- a key absent from the request makes a positive operator false and a negated one (`StringNotEquals`, ...) true,
  unless the operator ends in `IfExists` (then an absent key is true either way); `Null` tests presence itself;
- `ForAnyValue:` is true when any of the request's values matches (false when the key is absent), `ForAllValues:`
  when every one does (true when the key is absent or empty);
- context key names are case-insensitive; `String*IgnoreCase` and the Like/Arn wildcards (`*`, `?`) are as AWS has
  them; `${aws:username}`-style policy variables are substituted in String and Arn values first.

`Keys` records which context keys an evaluation read, so that a caller can tell whether a decision may be cached.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import re
from collections.abc import Callable, Mapping
from functools import lru_cache
from typing import Any

#: a request's context: lower-cased key -> one value or several (a multivalued key)
Context = Mapping[str, "str | list[str]"]

_VARIABLE = re.compile(r"\$\{([^}]*)\}")
_SPECIAL = {"*": "*", "?": "?", "$": "$"}


@lru_cache(maxsize=4096)
def _glob(pattern: str, ignore_case: bool) -> re.Pattern[str]:
    """`*` (any run) and `?` (one character) as a compiled regex matching the whole value."""
    parts = (".*" if ch == "*" else "." if ch == "?" else re.escape(ch) for ch in pattern)
    return re.compile("".join(parts), re.DOTALL | (re.IGNORECASE if ignore_case else 0))


def glob_match(pattern: str, value: str, *, ignore_case: bool = False) -> bool:
    """IAM's wildcard match of a whole value (Action, StringLike)."""
    if pattern == "*":
        return True
    if "*" not in pattern and "?" not in pattern:
        return pattern.lower() == value.lower() if ignore_case else pattern == value
    return _glob(pattern, ignore_case).fullmatch(value) is not None


def arn_match(pattern: str, arn: str) -> bool:
    """ARN matching as IAM does it for Resource and ArnLike: each of the six colon-separated parts on its own (the
    last, the resource, keeps its colons); a pattern of fewer parts lets its last part match the rest."""
    if pattern == "*":
        return True
    want = pattern.split(":", 5)
    have = arn.split(":", 5)
    if len(want) < 6 and len(have) > len(want):
        have = [*have[: len(want) - 1], ":".join(have[len(want) - 1 :])]
    if len(want) != len(have):
        return False
    return all(glob_match(w, h) for w, h in zip(want, have, strict=True))


def substitute(text: str, context: Context, read: set[str] | None = None) -> str | None:
    """`${aws:username}` and friends replaced by the request's values (`${key, 'default'}` when absent; `${*}`,
    `${?}`, `${$}` are the literal characters). None when a variable has no value and no default: AWS then treats
    the element as not matching."""
    if "${" not in text:
        return text
    missing = False

    def one(m: re.Match[str]) -> str:
        nonlocal missing
        inner = m.group(1).strip()
        if inner in _SPECIAL:
            return _SPECIAL[inner]
        name, _, default = inner.partition(",")
        key = name.strip().lower()
        if read is not None:
            read.add(key)
        value = context.get(key)
        if isinstance(value, str):
            return value
        default = default.strip()
        if len(default) >= 2 and default[0] == default[-1] == "'":
            return default[1:-1]
        missing = True
        return ""

    out = _VARIABLE.sub(one, text)
    return None if missing else out


def _as_list(value: Any) -> list[str]:
    items = value if isinstance(value, list) else [value]
    return ["true" if v is True else "false" if v is False else str(v) for v in items]


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _date(text: str) -> float | None:
    """An ISO 8601 date or time, or epoch seconds, as epoch seconds."""
    number = _number(text)
    if number is not None:
        return number
    try:
        when = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return when.timestamp()


def _ip(have: str, want: str) -> bool:
    try:
        return ipaddress.ip_address(have) in ipaddress.ip_network(want, strict=False)
    except ValueError:
        return False


def _ordered(
    convert: Callable[[str], float | None], test: Callable[[float, float], bool]
) -> Callable[[str, str], bool]:
    def compare(have: str, want: str) -> bool:
        a, b = convert(have), convert(want)
        return a is not None and b is not None and test(a, b)

    return compare


def _equal(a: float, b: float) -> bool:
    return a == b


#: the positive operators: (request value, policy value) -> match, and whether policy variables apply to the value
_POSITIVE: dict[str, tuple[Callable[[str, str], bool], bool]] = {
    "stringequals": (lambda have, want: have == want, True),
    "stringequalsignorecase": (lambda have, want: have.lower() == want.lower(), True),
    "stringlike": (lambda have, want: glob_match(want, have), True),
    "arnequals": (lambda have, want: arn_match(want, have), True),
    "arnlike": (lambda have, want: arn_match(want, have), True),
    "bool": (lambda have, want: have.lower() == want.lower(), False),
    "ipaddress": (_ip, False),
    "numericequals": (_ordered(_number, _equal), False),
    "numericlessthan": (_ordered(_number, lambda a, b: a < b), False),
    "numericlessthanequals": (_ordered(_number, lambda a, b: a <= b), False),
    "numericgreaterthan": (_ordered(_number, lambda a, b: a > b), False),
    "numericgreaterthanequals": (_ordered(_number, lambda a, b: a >= b), False),
    "dateequals": (_ordered(_date, _equal), False),
    "datelessthan": (_ordered(_date, lambda a, b: a < b), False),
    "datelessthanequals": (_ordered(_date, lambda a, b: a <= b), False),
    "dategreaterthan": (_ordered(_date, lambda a, b: a > b), False),
    "dategreaterthanequals": (_ordered(_date, lambda a, b: a >= b), False),
}
#: the negated operators, by the positive one they negate
_NEGATED = {
    "stringnotequals": "stringequals",
    "stringnotequalsignorecase": "stringequalsignorecase",
    "stringnotlike": "stringlike",
    "arnnotequals": "arnequals",
    "arnnotlike": "arnlike",
    "notipaddress": "ipaddress",
    "numericnotequals": "numericequals",
    "datenotequals": "dateequals",
}


def _operator(name: str) -> tuple[str, str, bool] | None:
    """`ForAnyValue:StringLikeIfExists` -> ("any", "stringlike", if_exists), lower-cased; None when unknown."""
    qualifier, _, op = name.rpartition(":")
    qualifier, op = qualifier.lower(), op.lower()
    if qualifier not in ("", "foranyvalue", "forallvalues"):
        return None
    if_exists = op.endswith("ifexists") and op != "ifexists"
    base = op.removesuffix("ifexists") if if_exists else op
    if base not in _POSITIVE and base not in _NEGATED and base != "null":
        return None
    return qualifier, base, if_exists


def _key_holds(name: str, key: str, wanted: Any, context: Context, read: set[str]) -> bool:
    parsed = _operator(name)
    if parsed is None:
        return False  # an operator IAM does not know matches nothing (IAM refuses such a policy when it is put)
    qualifier, base, if_exists = parsed
    key = key.lower()
    read.add(key)
    present = context.get(key)
    values = _as_list(wanted)
    if base == "null":
        is_absent = present is None or present == []
        return any((v.lower() == "true") == is_absent for v in values)
    negated = base in _NEGATED
    compare, variables = _POSITIVE[_NEGATED.get(base, base)]
    if variables:
        values = [v for v in (substitute(v, context, read) for v in values) if v is not None]
    if present is None or (qualifier and present == []):
        if qualifier == "forallvalues":
            return True
        if qualifier == "foranyvalue":
            return False
        return if_exists or negated

    def one(have: str) -> bool:
        hit = any(compare(have, want) for want in values)
        return not hit if negated else hit

    have = present if isinstance(present, list) else [present]
    if qualifier == "forallvalues":
        return all(one(h) for h in have)
    if qualifier == "foranyvalue" or not negated:
        return any(one(h) for h in have)
    return all(one(h) for h in have)  # a negated operator on a multivalued key: none of its values matches


def conditions_hold(block: Any, context: Context, read: set[str]) -> bool:
    """Whether a statement's `Condition` block holds for `context` (every operator and key ANDed). `read` gains
    every context key the block looked at."""
    if not block:
        return True
    if not isinstance(block, dict):
        return False
    for name, keys in block.items():
        if not isinstance(keys, dict):
            return False
        for key, wanted in keys.items():
            if not _key_holds(str(name), str(key), wanted, context, read):
                return False
    return True
