"""The door's payload check: a JSON document passes as the bytes it came in, anything else is the caller's
InvalidRequestContent in json's own words, the same whichever way the check reads it (the scanner straight for a
bare UTF-8 value, the decoder for white space around it or other encodings)."""

from __future__ import annotations

import json

import pytest

from nimbus.errors import InvalidRequestContent
from nimbus.invoke.payload import EMPTY_PAYLOAD, check_payload


@pytest.mark.parametrize(
    "payload",
    [b'{"a": [1, 2.5, null, true]}', b"[]", b'"text"', b"12", b"null", b' {"a": 1} ', b"\n[1]\t", b"NaN",
     '{"ü": "é"}'.encode(), '{"a": 1}'.encode("utf-16")],
)  # fmt: skip
def test_a_json_document_passes_as_it_came(payload: bytes) -> None:
    json.loads(payload)  # (each is one JSON document)
    assert check_payload(payload) is payload


@pytest.mark.parametrize("payload", [b"", b"   ", b"\n\t"])
def test_an_empty_payload_is_an_empty_object(payload: bytes) -> None:
    assert check_payload(payload) == EMPTY_PAYLOAD


@pytest.mark.parametrize(
    "payload", [b'{"a": 1}x', b'{"a": 1} {}', b'{"a":}', b"{", b"x", b"[1,]", b'{"a": 1}\x00', b"\xff\xfe{"]
)
def test_anything_else_is_refused_in_jsons_words(payload: bytes) -> None:
    try:
        json.loads(payload)
    except (ValueError, UnicodeDecodeError) as exc:
        expected = f"Could not parse request body into json: {exc}"
    else:
        raise AssertionError(f"{payload!r} is JSON")
    with pytest.raises(InvalidRequestContent) as raised:
        check_payload(payload)
    assert str(raised.value) == expected


def test_a_document_nested_too_deep_is_refused() -> None:
    with pytest.raises(InvalidRequestContent, match="nested too deeply"):
        check_payload(b"[" * 100_000 + b"]" * 100_000)
