"""Ids and secrets as IAM makes them: the form, every character of the alphabet in use, no repeats."""

from __future__ import annotations

import re
import string
from collections import Counter

from nimbus.control.iam_records import SESSION_KEY, new_id, new_secret


def test_ids_and_secrets_have_iams_form_and_use_the_whole_alphabet() -> None:
    ids = [new_id(SESSION_KEY, 20) for _ in range(2000)]
    secrets = [new_secret() for _ in range(2000)]
    assert all(re.fullmatch(r"ASIA[A-Z0-9]{16}", i) for i in ids)
    assert all(re.fullmatch(r"[A-Za-z0-9+/]{40}", s) for s in secrets)
    assert len(set(ids)) == len(set(secrets)) == 2000
    id_chars = Counter("".join(i[4:] for i in ids))  # 32,000 draws over 36 characters: ~889 each
    assert set(id_chars) == set(string.ascii_uppercase + string.digits)
    assert min(id_chars.values()) > 700
    assert max(id_chars.values()) < 1100
    secret_chars = Counter("".join(secrets))  # 80,000 draws over 64: 1,250 each
    assert len(secret_chars) == 64
    assert min(secret_chars.values()) > 1050
    assert max(secret_chars.values()) < 1450
