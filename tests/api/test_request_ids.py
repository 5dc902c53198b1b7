"""Request ids: what boto3, Powertools and log readers expect of Lambda's, a random version-4 UUID."""

from __future__ import annotations

import uuid

from nimbus.api.app import new_request_id


def test_request_ids_are_random_version_4_uuids() -> None:
    ids = [new_request_id() for _ in range(5000)]
    assert len(set(ids)) == len(ids)
    for rid in ids:
        parsed = uuid.UUID(rid)
        assert parsed.version == 4
        assert parsed.variant == uuid.RFC_4122
        assert str(parsed) == rid  # lower-case, canonical 8-4-4-4-12
    assert {rid[19] for rid in ids} == set("89ab")  # every variant digit occurs
