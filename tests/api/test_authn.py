"""Authentication against the key ring: session tokens required and checked, expired and revoked sessions refused
with AWS's errors, users' keys and root recognised (requests signed by botocore itself)."""

from __future__ import annotations

import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from iam_support import ACCOUNT, ROOT_KEY, ROOT_SECRET, open_ring
from nimbus.api import authn
from nimbus.clock import FakeClock
from nimbus.control.identity import Principal
from nimbus.control.keyring import KeyRing
from nimbus.errors import ExpiredToken, UnrecognizedClient

URL = "http://127.0.0.1:9001/2015-03-31/functions"


def verify(ring: KeyRing, key: str, secret: str, token: str | None = None) -> Principal:
    req = AWSRequest(method="GET", url=URL, headers={})
    SigV4Auth(Credentials(key, secret, token), "lambda", "us-east-1").add_auth(req)
    headers: dict[str, list[str]] = {}
    for k, val in req.headers.items():
        headers.setdefault(k.lower(), []).append(val)
    headers.setdefault("host", [urlsplit(URL).netloc])
    return authn.verify(ring, method="GET", raw_path="/2015-03-31/functions", query="", headers=headers, body=b"",
                        region="us-east-1", service="lambda")  # fmt: skip


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(time.time())


@pytest.fixture
def ring(tmp_path: Path, clock: FakeClock) -> KeyRing:
    return open_ring(tmp_path, clock)


def test_root_and_user_keys(ring: KeyRing) -> None:
    assert verify(ring, ROOT_KEY, ROOT_SECRET).arn == f"arn:aws:iam::{ACCOUNT}:root"
    assert ring.iam is not None
    ring.iam.create_user("ci")
    key = ring.iam.create_key("ci")
    assert verify(ring, key.access_key_id, key.secret).arn == f"arn:aws:iam::{ACCOUNT}:user/ci"


def test_session_with_its_token(ring: KeyRing) -> None:
    s = ring.mint_session(f"arn:aws:iam::{ACCOUNT}:role/r", "x", 900)
    assert verify(ring, s.access_key_id, s.secret, s.session_token) == s


@pytest.mark.parametrize("token", [None, "wrong-token"])
def test_session_without_its_token_is_invalid(ring: KeyRing, token: str | None) -> None:
    s = ring.mint_session(f"arn:aws:iam::{ACCOUNT}:role/r", "x", 900)
    with pytest.raises(UnrecognizedClient, match=r"^The security token included in the request is invalid\.$"):
        verify(ring, s.access_key_id, s.secret, token)


def test_long_term_key_with_a_token_is_invalid(ring: KeyRing) -> None:
    with pytest.raises(UnrecognizedClient, match="security token included in the request is invalid"):
        verify(ring, ROOT_KEY, ROOT_SECRET, "some-token")


def test_expired_session_is_expired_token(ring: KeyRing, clock: FakeClock) -> None:
    s = ring.mint_session(f"arn:aws:iam::{ACCOUNT}:role/r", "x", 900)
    clock.advance(900)
    with pytest.raises(ExpiredToken, match=r"^The security token included in the request is expired$") as caught:
        verify(ring, s.access_key_id, s.secret, s.session_token)
    assert (caught.value.wire_name, caught.value.status) == ("ExpiredTokenException", 403)


def test_revoked_session_is_invalid(ring: KeyRing) -> None:
    s = ring.mint_session(f"arn:aws:iam::{ACCOUNT}:role/r", "x", 900)
    ring.revoke(s.access_key_id)
    with pytest.raises(UnrecognizedClient) as caught:
        verify(ring, s.access_key_id, s.secret, s.session_token)
    assert not isinstance(caught.value, ExpiredToken)
