"""Console sign-in: an access key and its secret, checked against the key ring SigV4 uses, buy a session.

A session is a random token in an HttpOnly, SameSite=Strict cookie scoped to /console, with an absolute expiry, and
a second random token that every mutating request must echo (a form field or the X-CSRF-Token header): a page of
another origin can neither read the cookie nor learn the CSRF token. Sessions live in memory: a restart signs
everyone out, which is the safe failure. A key that SigV4 no longer accepts (deleted, made inactive, its user gone)
ends its sessions at their next request. Temporary credentials (an assumed role's session key) do not sign in:
without their session token they are not the whole credential.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass

from nimbus.clock import Clock, RealClock
from nimbus.control.identity import Principal

COOKIE = "nimbus_console"
#: sessions held at once; past it the oldest is dropped (sign-ins cannot grow memory without bound)
MAX_SESSIONS = 1000

#: the key ring's lookup: whom a key SigV4 accepts now stands for, else None
PrincipalOf = Callable[[str], Principal | None]


@dataclass(frozen=True, slots=True)
class Session:
    token: str
    csrf: str
    access_key_id: str
    expires_at: float


class Sessions:
    def __init__(self, principal_of: PrincipalOf, ttl_s: float, clock: Clock | None = None) -> None:
        self.principal_of = principal_of
        self.ttl_s = ttl_s
        self.clock: Clock = clock or RealClock()
        self._by_token: dict[str, Session] = {}

    def sign_in(self, access_key_id: str, secret: str) -> Session | None:
        """A new session for a long-term key SigV4 accepts with this secret, else None (compared in constant time)."""
        who = self.principal_of(access_key_id) if access_key_id else None
        if who is None or who.session_token or not hmac.compare_digest(who.secret.encode(), secret.encode()):
            return None
        if len(self._by_token) >= MAX_SESSIONS:
            oldest = min(self._by_token.values(), key=lambda s: s.expires_at)
            del self._by_token[oldest.token]
        session = Session(secrets.token_urlsafe(32), secrets.token_urlsafe(32), access_key_id,
                          self.clock.time() + self.ttl_s)  # fmt: skip
        self._by_token[session.token] = session
        return session

    def get(self, token: str | None) -> Session | None:
        """The live session of a cookie's token: None when unknown, expired, or its key is no longer accepted."""
        session = self._by_token.get(token) if token else None
        if session is None:
            return None
        if session.expires_at <= self.clock.time() or self.principal_of(session.access_key_id) is None:
            del self._by_token[session.token]
            return None
        return session

    def sign_out(self, token: str) -> None:
        self._by_token.pop(token, None)

    @staticmethod
    def csrf_ok(session: Session, presented: str | None) -> bool:
        return presented is not None and hmac.compare_digest(session.csrf.encode(), presented.encode())
