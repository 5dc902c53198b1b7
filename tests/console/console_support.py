"""A signed-in console client over real HTTP (httpx, no redirects followed): what the wire tests and the browser
tests share."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import httpx

CONSOLE_KEY = ("test", "test")


class ConsoleClient:
    def __init__(self, endpoint: str) -> None:
        self.http = httpx.Client(base_url=endpoint + "/console", follow_redirects=False, timeout=60)
        self.csrf = ""
        self.sign_in_response: httpx.Response | None = None

    def sign_in(self, key: str = CONSOLE_KEY[0], secret: str = CONSOLE_KEY[1]) -> httpx.Response:
        resp = self.http.post("/signin", data={"access_key_id": key, "secret": secret})
        self.sign_in_response = resp
        if resp.status_code == 303:
            page = self.http.get("/functions")
            m = re.search(r'<meta name="csrf" content="([^"]+)">', page.text)
            assert m is not None
            self.csrf = m.group(1)
        return resp

    def api(self, method: str, path: str, body: Any = None, *, csrf: str | None = None) -> httpx.Response:
        headers = {"x-csrf-token": self.csrf if csrf is None else csrf} if method != "GET" else {}
        content = body if isinstance(body, bytes | str) or body is None else None
        return self.http.request(method, path, headers=headers, content=content,
                                 json=None if content is not None or body is None else body)  # fmt: skip

    def close(self) -> None:
        self.http.close()


def signed_in(endpoint: str) -> Iterator[ConsoleClient]:
    """The body of a fixture for a client signed in with the dev key (`yield from signed_in(...)`), closed after."""
    client = ConsoleClient(endpoint)
    assert client.sign_in().status_code == 303
    yield client
    client.close()
