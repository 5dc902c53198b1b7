"""Console sessions: sign-in against the key ring's principals, expiry, a key that goes, sign-out, CSRF tokens."""

from __future__ import annotations

from nimbus.clock import FakeClock
from nimbus.console.sessions import MAX_SESSIONS, Sessions
from nimbus.control.identity import ASSUMED_ROLE, USER, Principal

ALICE = Principal("AKIDALICE", "secret", USER, "arn:aws:iam::000000000000:user/alice", "AIDA1", "000000000000", "alice")


def ring(*principals: Principal) -> dict[str, Principal]:
    return {p.access_key_id: p for p in principals}


def test_sign_in_needs_a_known_key_and_its_secret() -> None:
    sessions = Sessions(ring(ALICE).get, 60, FakeClock())
    assert sessions.sign_in("AKIDALICE", "wrong") is None
    assert sessions.sign_in("OTHER", "secret") is None
    assert sessions.sign_in("", "") is None
    session = sessions.sign_in("AKIDALICE", "secret")
    assert session is not None
    assert sessions.get(session.token) == session
    assert session.token != session.csrf
    assert len(session.token) >= 40


def test_temporary_credentials_do_not_sign_in() -> None:
    role_session = Principal("ASIAX", "secret", ASSUMED_ROLE, "arn:aws:sts::000000000000:assumed-role/r/s", "AROA:s",
                             "000000000000", "r", session_token="token")  # fmt: skip
    assert Sessions(ring(role_session).get, 60, FakeClock()).sign_in("ASIAX", "secret") is None


def test_a_session_ends_at_its_expiry_at_sign_out_and_when_its_key_goes() -> None:
    keys = ring(ALICE)
    clock = FakeClock()
    sessions = Sessions(keys.get, 60, clock)
    expiring, leaving = sessions.sign_in("AKIDALICE", "secret"), sessions.sign_in("AKIDALICE", "secret")
    assert expiring is not None
    assert leaving is not None
    clock.advance(59)
    assert sessions.get(expiring.token) is not None
    sessions.sign_out(leaving.token)
    assert sessions.get(leaving.token) is None
    clock.advance(1)
    assert sessions.get(expiring.token) is None
    fresh = sessions.sign_in("AKIDALICE", "secret")
    assert fresh is not None
    del keys["AKIDALICE"]  # the key deleted, made inactive, or its user gone
    assert sessions.get(fresh.token) is None


def test_csrf_tokens_are_compared_exactly() -> None:
    sessions = Sessions(ring(ALICE).get, 60, FakeClock())
    session = sessions.sign_in("AKIDALICE", "secret")
    assert session is not None
    assert Sessions.csrf_ok(session, session.csrf)
    assert not Sessions.csrf_ok(session, None)
    assert not Sessions.csrf_ok(session, session.csrf[:-1])


def test_sessions_are_bounded() -> None:
    clock = FakeClock()
    sessions = Sessions(ring(ALICE).get, 60, clock)
    first = sessions.sign_in("AKIDALICE", "secret")
    assert first is not None
    for _ in range(MAX_SESSIONS):
        clock.advance(0.001)
        sessions.sign_in("AKIDALICE", "secret")
    assert sessions.get(first.token) is None  # the oldest gave way
    assert len(sessions._by_token) == MAX_SESSIONS
