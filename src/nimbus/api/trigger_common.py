"""What both trigger fronts (function URLs in api/url_front.py, HTTP APIs in api/api_front.py) put into the events
and answers they build, kept in one place so that the two cannot drift apart: AWS gives the same
`requestContext.authorizer.iam`, the same `x-forwarded-port` and the same `Date` for both kinds of trigger."""

from __future__ import annotations

import time
from email.utils import formatdate
from typing import Any

from nimbus.api.http import Incoming
from nimbus.config import Settings
from nimbus.control.identity import Principal


def iam_authorizer(who: Principal) -> dict[str, Any]:
    """`requestContext.authorizer` of a SigV4-signed request: the signer as the key ring knows it (root, a user, a
    role's session)."""
    return {
        "iam": {
            "accessKey": who.access_key_id, "accountId": who.account, "callerId": who.user_id,
            "cognitoIdentity": None, "principalOrgId": None, "userArn": who.arn, "userId": who.user_id,
        }
    }  # fmt: skip


def client_port(incoming: Incoming, settings: Settings) -> int:
    """The port the client reached (`x-forwarded-port`): the public one when set, else the Host's, else the
    scheme's default."""
    if settings.http_public_port is not None:
        return settings.http_public_port
    host = incoming.headers.get("host")
    if host:
        _, colon, port = host[0].rpartition(":")
        if colon and port.isdigit():
            return int(port)
    return 443 if settings.http_scheme == "https" else 80


class DateHeader:
    """The `Date` header's value, formatted at most once a second: every trigger answer carries one, and
    formatting it per request is measurable on the warm path."""

    __slots__ = ("_second", "_value")

    def __init__(self) -> None:
        self._second = 0
        self._value = b""

    def now(self) -> bytes:
        second = int(time.time())
        if self._second != second:
            self._second, self._value = second, formatdate(second, usegmt=True).encode()
        return self._value
