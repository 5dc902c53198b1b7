"""Download links for stored zips (`Code.Location`, layer `Content.Location`), signed like presigned S3 URLs.

The link carries an expiry and an HMAC made with a per-data-dir key, so the server can serve it without SigV4.
"""

from __future__ import annotations

import hashlib
import hmac
import time

from nimbus.api.http import Request

TTL_S = 600
PREFIX = "/_nimbus/code/"


class CodeLinks:
    def __init__(self, key: bytes, fallback_host: str) -> None:
        self.key = key
        self.fallback_host = fallback_host

    def _sign(self, sha256_hex: str, expires: str) -> str:
        return hmac.new(self.key, f"{sha256_hex}:{expires}".encode(), hashlib.sha256).hexdigest()

    def url(self, req: Request, sha256_hex: str) -> str:
        expires = str(int(time.time()) + TTL_S)
        host = req.header("host") or self.fallback_host
        return f"http://{host}{PREFIX}{sha256_hex}.zip?Expires={expires}&Signature={self._sign(sha256_hex, expires)}"

    def check(self, sha256_hex: str, expires: str, signature: str) -> bool:
        return (
            expires.isdigit()
            and int(expires) >= time.time()
            and hmac.compare_digest(self._sign(sha256_hex, expires), signature)
        )
