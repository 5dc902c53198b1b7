"""A spare's messages (`protocol/spare.py`): its READY byte and the assignment that makes it a function's."""

from __future__ import annotations

from typing import Any

import pytest

from nimbus.protocol import spare as messages
from nimbus.protocol.spare import SpareMessageError


def _job(**changes: Any) -> dict[str, Any]:
    job: dict[str, Any] = {
        "mounts": [{"src": "/data/code/abc", "dst": "/var/task", "ro": True}],
        "network": "none",
        "argv": ["/var/lang/bin/python3.11", "-I", "/var/runtime/bootstrap.py"],
        "env": {"AWS_LAMBDA_FUNCTION_NAME": "fn", "TZ": ":UTC"},
        "cwd": "/var/task",
        "rlimits": [(9, 1024)],
        "host_prefix": "/usr",
    }
    job.update(changes)
    return job


def test_an_assignment_round_trips_through_its_header() -> None:
    job = _job()
    data = messages.encode_assignment(job)
    head, body = data[: messages.HEADER.size], data[messages.HEADER.size :]
    assert messages.assignment_size(head) == len(body)
    assert messages.decode_assignment(body) == job


def test_the_header_is_a_native_four_byte_length() -> None:
    data = messages.encode_assignment(_job())
    assert messages.HEADER.size == 4
    assert int.from_bytes(data[:4], "little" if messages.HEADER.pack(1)[0] else "big") == len(data) - 4
    assert messages.READY == b"S"


def test_a_short_header_is_refused() -> None:
    with pytest.raises(SpareMessageError):
        messages.assignment_size(b"\x01\x00")


@pytest.mark.parametrize(
    "body",
    [b"", b"\xffnot marshal", messages.encode_assignment({"argv": []})[4:], messages.encode_assignment([])[4:]],  # type: ignore[arg-type]
)
def test_a_broken_or_incomplete_assignment_is_refused(body: bytes) -> None:
    with pytest.raises(SpareMessageError):
        messages.decode_assignment(body)
