"""`GET /_nimbus/health`: whether the server is up and what it serves, for load balancers and scripts.

Unauthenticated, like a load balancer's probe must be, so it says nothing secret: no keys, no data dir, no
function names; only the version, the APIs served, and the isolation level instances run at (so a script can refuse
a host that runs them unsandboxed). The body is made once: answering costs a dict lookup and a write.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

from nimbus.api.http import Response

PATH = "/_nimbus/health"


class Health:
    """The health answer, fixed at start-up."""

    def __init__(self, version: str, services: Iterable[str], isolation: str, triggers: Iterable[str] = ()) -> None:
        """`services`: the AWS APIs served, by SigV4 signing name (`lambda`, `logs`, `sqs`); `isolation`: `full`,
        `partial` or `none` (instances unsandboxed); `triggers`: the HTTP triggers served (`lambda-url`, ...)."""
        document = {
            "status": "ok",
            "version": version,
            "services": sorted(services),
            "triggers": sorted(triggers),
            "isolation": isolation,
        }
        self.body = json.dumps(document).encode()

    def response(self) -> Response:
        return Response(200, self.body, [(b"content-type", b"application/json"), (b"cache-control", b"no-store")])
