"""Who signed a request: SigV4's head check against the key ring, then the key's session token.

A session key (STS's, a function instance's) must come with the session's token in `X-Amz-Security-Token`; a
long-term key (root, a user's) with none. Either way round, and for a key the ring does not know, the answer is
AWS's `UnrecognizedClientException` "The security token included in the request is invalid." (the query protocol's
`InvalidClientTokenId`); a session used after its expiry is `ExpiredTokenException` "The security token included in
the request is expired" (`ExpiredToken`). Dict lookups and one constant-time comparison: this runs on every request.
"""

from __future__ import annotations

import datetime as dt
import hmac
from collections.abc import Mapping, Sequence

from nimbus.api import sigv4
from nimbus.control.identity import KeyRing, Principal
from nimbus.errors import ExpiredToken, MissingAuthenticationToken, UnrecognizedClient

INVALID_TOKEN = "The security token included in the request is invalid."
EXPIRED_TOKEN = "The security token included in the request is expired"


def check_head(
    keys: KeyRing,
    headers: Mapping[str, Sequence[str]],
    *,
    region: str | None,
    service: str | None,
) -> tuple[sigv4.Head, Principal]:
    """`sigv4.check_head` with the key ring's secrets, then whom the key stands for (its session token checked)."""
    try:
        head = sigv4.check_head(headers=headers, credentials=keys, now=dt.datetime.now(dt.UTC), region=region,
                                service=service)  # fmt: skip
    except MissingAuthenticationToken:
        raise
    except UnrecognizedClient:
        key = _access_key(headers)
        if key and keys.expired(key):
            raise ExpiredToken(EXPIRED_TOKEN) from None
        raise
    principal = keys.principal(head.auth.access_key)
    if principal is None:  # expired between the two lookups
        raise ExpiredToken(EXPIRED_TOKEN)
    given = headers.get("x-amz-security-token")
    if principal.session_token:
        if not given or not hmac.compare_digest(given[0].encode(), principal.session_token.encode()):
            raise UnrecognizedClient(INVALID_TOKEN)
    elif given:
        raise UnrecognizedClient(INVALID_TOKEN)
    return head, principal


def _access_key(headers: Mapping[str, Sequence[str]]) -> str:
    values = headers.get("authorization")
    if not values:
        return ""
    try:
        return sigv4.parse_authorization(values[0]).access_key
    except Exception:
        return ""


def verify(
    keys: KeyRing,
    *,
    method: str,
    raw_path: str,
    query: str,
    headers: Mapping[str, Sequence[str]],
    body: bytes,
    region: str | None,
    service: str | None,
) -> Principal:
    """One whole request (head, token, signature): who signed it, or the AuthError to answer."""
    head, principal = check_head(keys, headers, region=region, service=service)
    sigv4.check_signature(head, method=method, raw_path=raw_path, query=query, headers=headers, body=body)
    return principal
