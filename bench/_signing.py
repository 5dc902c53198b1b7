"""Many distinct, freshly signed Invoke requests, fast: what the warm-invoke benchmark sends, so that no cache of
verified requests can answer any of them (real clients never replay).

botocore signs one request in ~160 µs, too slow to make the hundreds of thousands a wrk run at full speed needs.
`Presigner` builds the same SigV4 header form (signed headers `host;x-amz-date`, as botocore signs a Lambda POST)
with hashlib alone in ~10 µs, and checks itself against botocore on its first request: a request it makes is
byte for byte what botocore would send at the same second.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from _support import KEY, REGION, SECRET


class Presigner:
    """Signs POSTs of `path` to `host` for `service`, each at the current second."""

    def __init__(self, host: str, path: str, service: str = "lambda", key: str = KEY, secret: str = SECRET) -> None:
        """`key`, `secret`: whose key signs (the root's by default)."""
        self.host, self.path, self.service = host, path, service
        self.key_id, self.secret = key, secret
        self._day = ""
        self._key = b""
        self._checked = False

    def _signing_key(self, day: str) -> bytes:
        if day != self._day:
            key = hmac.digest(("AWS4" + self.secret).encode(), day.encode(), "sha256")
            for part in (REGION, self.service, "aws4_request"):
                key = hmac.digest(key, part.encode(), "sha256")
            self._day, self._key = day, key
        return self._key

    def _signature(self, body: bytes, when: str) -> str:
        scope = f"{when[:8]}/{REGION}/{self.service}/aws4_request"
        creq = (f"POST\n{self.path}\n\nhost:{self.host}\nx-amz-date:{when}\n\nhost;x-amz-date\n"
                f"{hashlib.sha256(body).hexdigest()}")  # fmt: skip
        to_sign = f"AWS4-HMAC-SHA256\n{when}\n{scope}\n{hashlib.sha256(creq.encode()).hexdigest()}"
        return hmac.digest(self._signing_key(when[:8]), to_sign.encode(), "sha256").hex()

    def sign(self, body: bytes) -> bytes:
        """One complete raw request carrying `body`, signed now."""
        if not self._checked:
            self._check(body)
        when = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
        return (
            f"POST {self.path} HTTP/1.1\r\nHost: {self.host}\r\nX-Amz-Date: {when}\r\n"
            f"Authorization: AWS4-HMAC-SHA256 Credential={self.key_id}/{when[:8]}/{REGION}/{self.service}/"
            "aws4_request, "
            f"SignedHeaders=host;x-amz-date, Signature={self._signature(body, when)}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode() + body

    def _check(self, body: bytes) -> None:
        """botocore must compute the same signature for the same request at the same second."""
        request = AWSRequest(method="POST", url=f"http://{self.host}{self.path}", data=body)
        SigV4Auth(Credentials(self.key_id, self.secret), self.service, REGION).add_auth(request)
        theirs = str(request.headers["Authorization"]).rpartition("Signature=")[2]
        ours = self._signature(body, str(request.headers["X-Amz-Date"]))
        if theirs != ours:
            raise SystemExit(f"bench/_signing.py disagrees with botocore: {ours} != {theirs}")
        self._checked = True
