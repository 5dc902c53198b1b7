"""Console sessions: sign-in against the key lookup SigV4 uses, expiry, revocation, sign-out, CSRF tokens."""

from __future__ import annotations

from nimbus.clock import FakeClock
from nimbus.console.sessions import MAX_SESSIONS, Sessions


def test_sign_in_needs_a_known_key_and_its_secret() -> None:
    keys = {"AKID": "secret"}
    sessions = Sessions(keys.get, 60, FakeClock())
    assert sessions.sign_in("AKID", "wrong") is None
    assert sessions.sign_in("OTHER", "secret") is None
    assert sessions.sign_in("", "") is None
    session = sessions.sign_in("AKID", "secret")
    assert session is not None
    assert sessions.get(session.token) == session
    assert session.token != session.csrf
    assert len(session.token) >= 40


def test_a_session_ends_at_its_expiry_at_sign_out_and_when_its_key_goes() -> None:
    keys = {"AKID": "secret"}
    clock = FakeClock()
    sessions = Sessions(keys.get, 60, clock)
    expiring, leaving, revoked = (sessions.sign_in("AKID", "secret") for _ in range(3))
    assert expiring
    assert leaving
    assert revoked
    clock.advance(59)
    assert sessions.get(expiring.token) is not None
    sessions.sign_out(leaving.token)
    assert sessions.get(leaving.token) is None
    clock.advance(1)
    assert sessions.get(expiring.token) is None
    fresh = sessions.sign_in("AKID", "secret")
    assert fresh is not None
    del keys["AKID"]
    assert sessions.get(fresh.token) is None


def test_csrf_tokens_are_compared_exactly() -> None:
    sessions = Sessions({"AKID": "secret"}.get, 60, FakeClock())
    session = sessions.sign_in("AKID", "secret")
    assert session is not None
    assert Sessions.csrf_ok(session, session.csrf)
    assert not Sessions.csrf_ok(session, None)
    assert not Sessions.csrf_ok(session, session.csrf[:-1])


def test_sessions_are_bounded() -> None:
    clock = FakeClock()
    sessions = Sessions({"AKID": "secret"}.get, 60, clock)
    first = sessions.sign_in("AKID", "secret")
    assert first is not None
    for _ in range(MAX_SESSIONS):
        clock.advance(0.001)
        sessions.sign_in("AKID", "secret")
    assert sessions.get(first.token) is None  # the oldest gave way
    assert len(sessions._by_token) == MAX_SESSIONS
