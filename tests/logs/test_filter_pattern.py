"""CloudWatch Logs filter patterns against the examples of AWS's "Filter pattern syntax" page, and the patterns that
must be refused rather than match nothing."""

from __future__ import annotations

import json

import pytest

from nimbus.errors import InvalidParameter
from nimbus.logs.filter_pattern import compile_pattern

#: the log events of AWS's term examples
TERM_EVENTS = [
    "[ERROR 400] BAD REQUEST",
    "[ERROR 401] UNAUTHORIZED REQUEST",
    "[ERROR 419] MISSING ARGUMENTS",
    "[ERROR 420] INVALID ARGUMENTS",
    "[WARN] Failed to connect, retrying",
    "[INFO] Exiting after an ERROR",
    "[INFO] all good",
]


def matching(pattern: str, events: list[str]) -> list[str]:
    compiled = compile_pattern(pattern)
    return [event for event in events if compiled.matches(event)]


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("", TERM_EVENTS),
        ("   ", TERM_EVENTS),
        ('" "', TERM_EVENTS),
        ('""', TERM_EVENTS),
        ("ERROR", [*TERM_EVENTS[:4], TERM_EVENTS[5]]),
        ("ERROR ARGUMENTS", TERM_EVENTS[2:4]),
        ('"Failed to"', [TERM_EVENTS[4]]),
        ('"INVALID ARGUMENTS"', [TERM_EVENTS[3]]),
        ("?ERROR ?WARN", [*TERM_EVENTS[:6]]),
        ("?ARGUMENTS ?UNAUTHORIZED", TERM_EVENTS[1:4]),
        ("ERROR -Exiting", TERM_EVENTS[:4]),
        ("ERROR -ARGUMENTS -Exiting", TERM_EVENTS[:2]),
        ('-"all good" INFO', [TERM_EVENTS[5]]),
        ("error", []),  # case-sensitive
        ("%ERROR 4[0-9]{2}%", TERM_EVENTS[:4]),
        ("%^\\[INFO\\]%", TERM_EVENTS[5:]),
        ('"[ERROR"', TERM_EVENTS[:4]),
    ],
)
def test_term_patterns(pattern: str, expected: list[str]) -> None:
    assert matching(pattern, TERM_EVENTS) == expected


def test_plain_terms_are_handed_to_the_store_as_required_substrings() -> None:
    assert compile_pattern('ERROR "Failed to" ?x -y %re%').required == ("ERROR", "Failed to")
    assert compile_pattern('{ $.level = "ERROR" }').required == ()
    # the store's filter is the whole pattern only for plain terms (or none): then nothing is matched in Python
    assert [compile_pattern(p).exact for p in ("", 'ERROR "Failed to"', "ERROR ?x", "ERROR -x", "%E%", "[a]")] == [
        True, True, False, False, False, False,
    ]  # fmt: skip


#: the JSON event of AWS's JSON examples
DOC = {
    "eventType": "UpdateTrail",
    "sourceIPAddress": "111.111.111.111",
    "arrayKey": ["value", "another value"],
    "objectList": [{"name": "a", "id": 1}, {"name": "b", "id": 2}],
    "SomeObject": None,
    "cidr": "10.0.0.0/8",
    "ThisFlag": True,
    "ThatFlag": False,
    "bandwidth": 80,
    "latency": 12.5,
    "user": {"id": 1, "name": "john"},
    "users": [{"id": 2, "email": "John.Doe@example.com"}],
    "eventName": "ConsoleLogin",
    "errorCode": "AccessDenied",
    "matrix": [[1, 2], [3, 4]],
    "big": 1000,
}
EVENT = json.dumps(DOC)


@pytest.mark.parametrize(
    ("pattern", "matches"),
    [
        ('{ $.eventType = "UpdateTrail" }', True),
        ('{ $.eventType = "updatetrail" }', False),
        ("{ $.eventType = UpdateTrail }", True),
        ('{ ($.user.id = 1) && ($.users[0].email = "John.Doe@example.com") }', True),
        ('{ ($.user.id = 2) && ($.users[0].email = "John.Doe@example.com") }', False),
        ('{ ($.user.id = 2) || ($.users[0].email = "John.Doe@example.com") }', True),
        ("{ $.sourceIPAddress != 123.123.* }", True),
        ("{ $.sourceIPAddress = 111.111.* }", True),
        ("{ $.sourceIPAddress != 111.111.* }", False),
        ('{ $.arrayKey[0] = "value" }', True),
        ('{ $.arrayKey[1] = "value" }', False),
        ('{ $.arrayKey[5] = "value" }', False),
        ("{ $.bandwidth > 75 }", True),
        ("{ $.bandwidth < 75 }", False),
        ("{ $.bandwidth >= 80 && $.bandwidth <= 80 }", True),
        ("{ $.latency > 12.4 }", True),
        ("{ $.latency = 12.5 }", True),
        ("{ $.objectList[1].id = 2 }", True),
        ("{ $.objectList[0].id = 2 }", False),
        ("{ $.SomeObject IS NULL }", True),
        ("{ $.eventType IS NULL }", False),
        ("{ $.SomeOtherObject NOT EXISTS }", True),
        ("{ $.SomeObject NOT EXISTS }", False),
        ("{ $.SomeObject EXISTS }", True),
        ("{ $.ThisFlag IS TRUE }", True),
        ("{ $.ThatFlag IS FALSE }", True),
        ("{ $.ThatFlag IS TRUE }", False),
        ("{ $.ThisFlag = true }", True),
        ('{ $.eventName = "Console*" }', True),
        ('{ ($.errorCode = "*UnauthorizedOperation") || ($.errorCode = "AccessDenied*") }', True),
        ("{ $.user.name = %^jo+hn$% }", True),
        ("{ $.bandwidth = 8* }", True),  # a bare wildcard reads a number by its JSON text
        ('{ $.bandwidth = "80" }', False),  # a quoted value is a string
        ("{ $.user.id = 1 && $.user.name = x || $.bandwidth > 1 }", True),  # && binds tighter
        ("{ $.user.id = 1 && ($.user.name = x || $.bandwidth > 100) }", False),
        ('{ ($.user.id = 2 && $.users[0].email = "nonmatch") || $.arrayKey[1] = "another value" }', True),
        ('{ $.user.name = "nomatch" || $.matrix[0][1] = 2 && $.arrayKey[0] = "value" }', True),
        ("{ $.matrix[1][0] = 3 }", True),
        ("{ $.big = 1e+3 }", True),
        ("{ $.big > -1.5E2 }", True),
        ("{ $.errorCode != 500 }", True),
        ("{ $.missing != 1 }", False),  # a missing key matches only NOT EXISTS
        ("{ $.user = 1 }", False),  # an object is no value
    ],
)
def test_json_patterns(pattern: str, matches: bool) -> None:
    assert compile_pattern(pattern).matches(EVENT) is matches


def test_json_patterns_never_match_a_message_that_is_not_json() -> None:
    pattern = compile_pattern("{ $.level NOT EXISTS }")
    assert pattern.matches('{"other": 1}')
    for message in ("plain text", "[INFO]\t2026-11-30\tid\t{}", '{"broken": ', "", "42"):
        assert not pattern.matches(message), message
    assert compile_pattern('{ $[1] = "b" }').matches('["a", "b"]')
    # a function's line nested past the parser's recursion limit is not JSON to a pattern (it was a RecursionError)
    assert not pattern.matches("[" * 5000 + "]" * 5000)


APACHE = '127.0.0.1 - frank [10/Oct/2000:13:25:15 -0700] "GET /apache_pb.gif HTTP/1.0" 404 1534'
APACHE_OK = '10.0.0.2 - bob [10/Oct/2000:13:26:15 -0700] "GET /index.html HTTP/1.0" 200 999'


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("[ip, user, username, timestamp, request, status_code = 4*, bytes]", [APACHE]),
        ("[ip, user, username, timestamp, request, status_code, bytes]", [APACHE, APACHE_OK]),
        ("[..., status_code = 404, bytes]", [APACHE]),
        ("[..., status_code, bytes > 1000]", [APACHE]),
        ("[ip, user, ..., status_code = 4* || status_code = 2*, size > 1000]", [APACHE]),
        ("[ip, user, ..., status_code != 404, size]", [APACHE_OK]),
        ("[ip, user, username, timestamp, request = *.html*, status_code, bytes]", [APACHE_OK]),
        ("[ip, user, username, timestamp, request =*.html*, status_code = 2*, bytes]", [APACHE_OK]),
        ("[ip, user, username, timestamp, request, status_code = 404 || status_code = 410, bytes]", [APACHE]),
        ('[ip, user, username = "bob", ...]', [APACHE_OK]),
        ("[ip = 127.0.0.1, ...]", [APACHE]),
        ("[ip, user, username, timestamp = *2000:13:26*, ...]", [APACHE_OK]),
        ("[ip, ..., bytes < 1000]", [APACHE_OK]),
        ("[..., status_code = 200 && bytes > 500, bytes]", []),  # a condition may only name fields before it
        ("[ip, user]", []),
        ("[...]", [APACHE, APACHE_OK]),
        ("[a, ..., b, ..., c = 1534]", [APACHE]),
    ],
)
def test_space_delimited_patterns(pattern: str, expected: list[str]) -> None:
    events = [APACHE, APACHE_OK]
    if "&& bytes" in pattern:
        with pytest.raises(InvalidParameter, match="bytes"):
            compile_pattern(pattern)
        return
    assert matching(pattern, events) == expected


def test_space_delimited_fields_split_on_whitespace_quotes_and_brackets() -> None:
    pattern = compile_pattern('[a, b = "two words", c = "*x y*", d > 3]')
    assert pattern.matches('one "two words" [x y] 4')
    assert pattern.matches('one\t"two words"  [ax yb]\t4')
    assert not pattern.matches('one "two words" [x y] 3')
    assert not pattern.matches('one "two words" [x y] four')


@pytest.mark.parametrize(
    "pattern",
    [
        '"unterminated',
        'ERROR"x"',
        '?""',
        "%[%",
        "{ $.a = 1",
        "{ }",
        "{ $.a = }",
        '{ $.a > "x" }',
        "{ $.a > abc }",
        "{ a = 1 }",
        "{ $.a IS MAYBE }",
        "{ $.a NOT THERE }",
        "{ ($.a = 1 }",
        "{ $.a = 1 ) }",
        "{ $.a = 1 $.b = 2 }",
        "{ $.a..b = 1 }",
        "{ $ = 1 }",
        "{ $.a[x] = 1 }",
        "{ $.a = 1 && }",
        "[a, , b]",
        "[a, b",
        "[]",
        "[a b]",
        "[a, a]",
        "[a, b = ]",
        "[a, b > x]",
        "[a, b IS NULL]",
        "[a = c = d]",
        "[1a, b]",
    ],
)
def test_what_cannot_be_parsed_is_an_invalid_parameter(pattern: str) -> None:
    with pytest.raises(InvalidParameter, match="Invalid filter pattern"):
        compile_pattern(pattern)


def test_invalid_parameter_is_the_logs_wire_error() -> None:
    assert InvalidParameter.wire_name == "InvalidParameterException"
    assert InvalidParameter.status == 400
