"""CloudWatch Logs filter patterns (FilterLogEvents' `filterPattern`), parsed once and matched per message.

Pure: text in, a `FilterPattern` out, whose `matches(message)` is called on every stored event of a request. The
three forms AWS documents ("Filter pattern syntax for metric filters, subscription filters, and filter log events"):

- terms: `ERROR`, `"Failed to"`, `ERROR ARGUMENTS` (all of them), `?ERROR ?WARN` (any of the ?-terms), `ERROR
  -Exiting` (not the -terms), `%regex%`; case-sensitive, matched anywhere in the message; an empty pattern, or
  `" "`, matches every event;
- JSON: `{ $.level = "ERROR" }`, `{ ($.user.id = 1) && ($.users[0].email = "a@b") }`, `{ $.ip != 123.123.* }`,
  `{ $.bandwidth > 75 }`, `{ $.x IS NULL }`, `{ $.x NOT EXISTS }`, `{ $.flag IS TRUE }`; a message that is not
  JSON never matches, nor does a comparison on a missing key (`!=` included: only NOT EXISTS matches a missing key);
- space-delimited: `[ip, user, ..., status_code = 4*, size > 1000]`: the message splits on whitespace into fields
  (a "quoted string" or a [bracketed group] is one field, without its quotes or brackets), each name takes one
  field, `...` takes any number of them, and the conditions (`&&`, `||`, parentheses) may name any field.

Values: a quoted "string" (`*` is a wildcard); a bare number, compared as a number; `%regex%`; any other bare word
is a string with `*` wildcards, which also matches a JSON number, boolean or null by its JSON text (`4*`, `true`).
A pattern this cannot parse raises `InvalidParameter` (CloudWatch's InvalidParameterException): it never quietly
matches nothing.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from nimbus.errors import InvalidParameter
from nimbus.protocol import json_text

Predicate = Callable[[str], bool]
#: what a field reference resolves to: a JSON value, or _MISSING when the key or field is absent
Resolve = Callable[[object], object]

_MISSING = object()
_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")
_TOKEN = re.compile(
    r"""\s*(?:
      (?P<str>"(?:[^"\\]|\\.)*")
    | (?P<re>%(?:[^%\\]|\\.)+%)
    | (?P<op>&&|\|\||!=|<=|>=|=|<|>|\(|\)|,|\.\.\.)
    | (?P<word>[^\s"%=!<>()&|,]+)
    )""",
    re.VERBOSE,
)
_SELECTOR_PART = re.compile(r"\.([A-Za-z0-9_@$:-]+)|\[(\d+)\]")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")
_COMPARE = ("=", "!=", "<", ">", "<=", ">=")


def _invalid(why: str, pattern: str) -> InvalidParameter:
    return InvalidParameter(f"Invalid filter pattern {pattern!r}: {why}.")


@dataclass(frozen=True)
class FilterPattern:
    """A compiled pattern. `required` are substrings that every matching message contains (case-sensitive), so
    that the store can skip other rows before `matches` runs; `exact`: they decide alone (an empty pattern, or
    plain terms only), and `matches` need not run."""

    text: str
    matches: Predicate
    required: tuple[str, ...] = ()
    exact: bool = False


def compile_pattern(text: str) -> FilterPattern:
    """Parse `text` once; raises InvalidParameter for what is no filter pattern."""
    body = text.strip()
    if not body:
        return FilterPattern(text, lambda _message: True, exact=True)
    if body[0] == "{":
        if body[-1] != "}":
            raise _invalid("a JSON pattern ends with }", text)
        return FilterPattern(text, _json_pattern(body[1:-1], text))
    if body[0] == "[":
        if body[-1] != "]":
            raise _invalid("a space-delimited pattern ends with ]", text)
        return FilterPattern(text, _delimited_pattern(body[1:-1], text))
    return _term_pattern(body, text)


# ---- terms ----
_TERM = re.compile(r'(?P<prefix>[?-]?)(?:(?P<str>"(?:[^"\\]|\\.)*")|(?P<re>%(?:[^%\\]|\\.)+%)|(?P<word>[^\s"]+))')


def _term_pattern(body: str, text: str) -> FilterPattern:
    required: list[str] = []
    checks: list[Predicate] = []
    any_of: list[Predicate] = []
    none_of: list[Predicate] = []
    pos = 0
    while True:
        while pos < len(body) and body[pos].isspace():
            pos += 1
        if pos >= len(body):
            break
        found = _TERM.match(body, pos)
        if not found or found.lastgroup is None:
            raise _invalid(f"cannot read a term from {body[pos : pos + 20]!r} (unclosed quote?)", text)
        if found.end() < len(body) and not body[found.end()].isspace():
            raise _invalid(f"terms are separated by spaces, near {body[pos : found.end() + 1]!r}", text)
        pos = found.end()
        prefix, kind = found.group("prefix"), found.lastgroup
        if not prefix and kind == "str" and not _unquote(found.group(kind), text).strip():
            continue  # `" "` is AWS's pattern for "every event"
        check, literal = _term(kind, found.group(kind), text)
        if prefix == "?":
            any_of.append(check)
        elif prefix == "-":
            none_of.append(check)
        else:
            checks.append(check)
            if literal:
                required.append(literal)

    def matches(message: str) -> bool:
        return (
            all(check(message) for check in checks)
            and not any(check(message) for check in none_of)
            and (not any_of or any(check(message) for check in any_of))
        )

    exact = not any_of and not none_of and len(required) == len(checks)
    return FilterPattern(text, matches, tuple(required), exact)


def _term(kind: str, value: str, text: str) -> tuple[Predicate, str]:
    """The check for one term and, for a plain one, the substring it needs."""
    if kind == "re":
        search = _regex(value, text).search
        return (lambda message: search(message) is not None), ""
    literal = _unquote(value, text) if kind == "str" else value
    if not literal:
        raise _invalid("an empty quoted term matches nothing", text)
    return (lambda message: literal in message), literal


def _tokens(body: str, text: str) -> list[tuple[str, str]]:
    """(kind, text) tokens of a JSON or space-delimited pattern: str, re, op or word."""
    tokens: list[tuple[str, str]] = []
    pos = 0
    while body[pos:].strip():
        found = _TOKEN.match(body, pos)
        if not found or found.lastgroup is None:
            raise _invalid(f"cannot read it from {body[pos:].strip()[:20]!r}", text)
        tokens.append((found.lastgroup, found.group(found.lastgroup)))
        pos = found.end()
    return tokens


# ---- values and comparisons, shared by JSON and space-delimited patterns ----
def _unquote(token: str, text: str) -> str:
    try:
        value = json_text.loads(token)
    except ValueError:
        raise _invalid(f"bad quoted string {token}", text) from None
    assert isinstance(value, str)
    return value


def _regex(token: str, text: str) -> re.Pattern[str]:
    try:
        return re.compile(token[1:-1])
    except re.error as exc:
        raise _invalid(f"bad regular expression {token} ({exc})", text) from None


def _glob(value: str) -> Callable[[str], bool]:
    if "*" not in value:
        return value.__eq__
    return re.compile(".*".join(map(re.escape, value.split("*"))), re.DOTALL).fullmatch  # type: ignore[return-value]


def _as_number(value: object) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str) and _NUMBER.fullmatch(value):
        return float(value)
    return None


def _comparison(op: str, kind: str, token: str, text: str, *, numbers_as_text: bool) -> Callable[[object], bool]:
    """`value OP literal` for a resolved value. `numbers_as_text`: the values are fields of a space-delimited
    event (always strings), compared as numbers when the literal is one."""
    number = float(token) if kind == "word" and _NUMBER.fullmatch(token) else None
    if op not in ("=", "!="):
        if number is None:
            raise _invalid(f"{op} compares numbers, not {token}", text)
        limit = number
        compare = {"<": limit.__gt__, ">": limit.__lt__, "<=": limit.__ge__, ">=": limit.__le__}[op]

        def ordered(value: object) -> bool:
            got = _as_number(value) if numbers_as_text or not isinstance(value, str) else None
            return got is not None and compare(got)

        return ordered
    equal: Callable[[object], bool]
    if number is not None:
        equal = lambda value: (  # noqa: E731
            (numbers_as_text or not isinstance(value, str)) and _as_number(value) == number
        )
    elif kind == "re":
        search = _regex(token, text).search
        equal = lambda value: isinstance(value, str) and search(value) is not None  # noqa: E731
    elif kind == "str":
        match = _glob(_unquote(token, text))
        equal = lambda value: isinstance(value, str) and match(value)  # noqa: E731
    else:
        bare = _glob(token)
        equal = lambda value: bare(value if isinstance(value, str) else json.dumps(value))  # noqa: E731
    if op == "=":
        return lambda value: value is not _MISSING and not isinstance(value, dict | list) and bool(equal(value))
    return lambda value: value is not _MISSING and not equal(value)


class _Parser:
    """Recursive descent over tokens: `a || b`, `a && b` (binds tighter), `( ... )`, and comparisons whose left
    side `reference` turns into a resolver (a JSON selector, or a field name)."""

    def __init__(self, tokens: list[tuple[str, str]], text: str, reference: Callable[[str], Resolve],
                 *, delimited: bool) -> None:  # fmt: skip
        self.tokens, self.pos, self.text = tokens, 0, text
        self.reference, self.delimited = reference, delimited

    def peek(self) -> tuple[str, str]:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else ("end", "")

    def take(self) -> tuple[str, str]:
        token = self.peek()
        if token[0] == "end":
            raise _invalid("it ends too early", self.text)
        self.pos += 1
        return token

    def expression(self) -> Callable[[object], bool]:
        parts = [self.conjunction()]
        while self.peek() == ("op", "||"):
            self.pos += 1
            parts.append(self.conjunction())
        return parts[0] if len(parts) == 1 else lambda event: any(part(event) for part in parts)

    def conjunction(self) -> Callable[[object], bool]:
        parts = [self.unary()]
        while self.peek() == ("op", "&&"):
            self.pos += 1
            parts.append(self.unary())
        return parts[0] if len(parts) == 1 else lambda event: all(part(event) for part in parts)

    def unary(self) -> Callable[[object], bool]:
        kind, value = self.take()
        if (kind, value) == ("op", "("):
            inner = self.expression()
            if self.peek() != ("op", ")"):
                raise _invalid("a ( is not closed", self.text)
            self.pos += 1
            return inner
        if kind != "word":
            raise _invalid(f"expected a {'field name' if self.delimited else 'selector like $.key'}, got {value!r}",
                           self.text)  # fmt: skip
        resolve = self.reference(value)
        kind, op = self.take()
        if kind == "op" and op in _COMPARE:
            value_kind, literal = self.take()
            if value_kind not in ("str", "re", "word"):
                raise _invalid(f"expected a value after {op}, got {literal!r}", self.text)
            test = _comparison(op, value_kind, literal, self.text, numbers_as_text=self.delimited)
            return lambda event: test(resolve(event))
        if kind == "word" and not self.delimited:
            return self.keyword(op.upper(), resolve)
        raise _invalid(f"expected a comparison after the {'field' if self.delimited else 'selector'}, got {op!r}",
                       self.text)  # fmt: skip

    def keyword(self, first: str, resolve: Resolve) -> Callable[[object], bool]:
        words = [first]
        if first in ("IS", "NOT"):
            words.append(self.take()[1].upper())
        tests: dict[tuple[str, ...], Callable[[object], bool]] = {
            ("EXISTS",): lambda value: value is not _MISSING,
            ("NOT", "EXISTS"): lambda value: value is _MISSING,
            ("IS", "NULL"): lambda value: value is None,
            ("IS", "TRUE"): lambda value: value is True,
            ("IS", "FALSE"): lambda value: value is False,
        }
        test = tests.get(tuple(words))
        if test is None:
            raise _invalid(f"unknown operator {' '.join(words)!r} (=, !=, <, >, <=, >=, EXISTS, NOT EXISTS, "
                           "IS NULL, IS TRUE, IS FALSE)", self.text)  # fmt: skip
        return lambda event: test(resolve(event))


# ---- JSON ----
def _selector(token: str, text: str) -> Resolve:
    if not token.startswith("$"):
        raise _invalid(f"a JSON pattern compares selectors like $.key, not {token!r}", text)
    steps: list[str | int] = []
    pos = 1
    while pos < len(token):
        part = _SELECTOR_PART.match(token, pos)
        if not part:
            raise _invalid(f"bad selector {token!r} (write $.key.subkey or $.array[0])", text)
        steps.append(part.group(1) if part.group(1) is not None else int(part.group(2)))
        pos = part.end()
    if not steps:
        raise _invalid("a selector names a key: $.key", text)

    def resolve(document: object) -> object:
        for step in steps:
            if isinstance(step, str):
                found = isinstance(document, dict) and step in document
            else:
                found = isinstance(document, list) and step < len(document)
            if not found:
                return _MISSING
            document = document[step]  # type: ignore[index]
        return document

    return resolve


def _json_pattern(body: str, text: str) -> Predicate:
    parser = _Parser(_tokens(body, text), text, lambda token: _selector(token, text), delimited=False)
    test = parser.expression()
    if parser.pos != len(parser.tokens):
        raise _invalid(f"unexpected {parser.peek()[1]!r}", text)

    def matches(message: str) -> bool:
        start = message.lstrip()[:1]
        if start not in ("{", "["):
            return False
        try:
            document = json_text.loads(message)
        except ValueError:
            return False
        return test(document)

    return matches


# ---- space-delimited ----
_FIELD = re.compile(r'"([^"]*)"?|\[([^\]]*)\]?|(\S+)')


def _split_fields(message: str) -> list[str]:
    """Fields split on whitespace; a "quoted string" or a [bracketed group] is one field, without its marks."""
    return [quoted or bracketed or word for quoted, bracketed, word in _FIELD.findall(message)]


def _delimited_pattern(body: str, text: str) -> Predicate:
    tokens = _tokens(body, text)
    slots: list[str | None] = []  # a name, or None for `...`
    conditions: list[Callable[[object], bool]] = []
    names: dict[str, int] = {}

    def reference(token: str) -> Resolve:
        if token not in names:
            raise _invalid(f"{token!r} is not one of the fields named before it", text)
        slot = names[token]
        return lambda bound: bound[slot]  # type: ignore[index]

    parser = _Parser(tokens, text, reference, delimited=True)
    while True:
        kind, value = parser.take()
        if (kind, value) == ("op", "..."):
            slots.append(None)
        elif kind == "word" and _NAME.fullmatch(value):
            if value in names:
                raise _invalid(f"the field {value!r} is named twice", text)
            names[value] = len(slots)
            slots.append(value)
            if parser.peek()[0] != "end" and parser.peek() != ("op", ","):
                parser.pos -= 1
                conditions.append(parser.expression())
        else:
            raise _invalid(f"expected a field name or ..., got {value!r}", text)
        if parser.peek()[0] == "end":
            break
        separator = parser.take()
        if separator != ("op", ","):
            raise _invalid(f"fields are separated by commas, not {separator[1]!r}", text)
    test = (lambda bound: all(condition(bound) for condition in conditions)) if conditions else None

    ellipsis = slots.index(None) if slots.count(None) == 1 else -1
    after = len(slots) - 1 - ellipsis  # names after the one `...`

    def matches(message: str) -> bool:
        fields: list[str | None] = list(_split_fields(message))
        if None not in slots:  # the common shapes align one way only: no search
            return len(fields) == len(slots) and (test is None or test(fields))
        if ellipsis >= 0:
            if len(fields) < len(slots) - 1:
                return False
            bound = [*fields[:ellipsis], None, *fields[len(fields) - after :]]
            return test is None or test(bound)
        return any(test is None or test(bound) for bound in _align(slots, fields, 0, 0, []))

    return matches


def _align(slots: list[str | None], fields: list[str | None], slot: int, field: int,
           bound: list[str | None]) -> Iterator[list[str | None]]:  # fmt: skip
    """Each way the fields fill the slots: a name takes one field, `...` any number (bound to None)."""
    if slot == len(slots):
        if field == len(fields):
            yield bound
        return
    if slots[slot] is not None:
        if field < len(fields):
            yield from _align(slots, fields, slot + 1, field + 1, [*bound, fields[field]])
        return
    for taken in range(len(fields) - field + 1):
        yield from _align(slots, fields, slot + 1, field + taken, [*bound, None])
