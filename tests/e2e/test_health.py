"""`GET /_nimbus/health`: unauthenticated, for load balancers and scripts; status, version, services, isolation,
and nothing secret."""

from __future__ import annotations

import json
import urllib.request
from typing import Any

from conftest import ACCESS_KEY, SECRET_KEY, Server
from nimbus import __version__
from nimbus.instances.isolation import detect
from nimbus.startup import isolation_level


def get(server: Server, path: str = "/_nimbus/health") -> tuple[int, dict[str, str], bytes]:
    with urllib.request.urlopen(server.endpoint + path, timeout=30) as resp:  # no credentials, no signature
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()


def test_health_answers_without_credentials(server: Server) -> None:
    status, headers, body = get(server)
    assert status == 200
    assert headers["content-type"] == "application/json"
    health: dict[str, Any] = json.loads(body)
    assert health["status"] == "ok"
    assert health["version"] == __version__
    assert {"lambda", "logs", "sqs"} <= set(health["services"])
    assert health["isolation"] == isolation_level(detect())  # what the server detected on this host
    assert set(health) == {"status", "version", "services", "triggers", "isolation"}
    assert health["triggers"] == ["execute-api", "lambda-url"]  # the console is served too, but it is no trigger


def test_health_ignores_a_query_string(server: Server) -> None:
    status, _, body = get(server, "/_nimbus/health?probe=lb")
    assert status == 200
    assert json.loads(body)["status"] == "ok"


def test_health_reveals_nothing_secret(server: Server) -> None:
    _, _, body = get(server)
    text = body.decode()
    assert str(server.data_dir) not in text
    assert "/" not in text  # no path of any kind
    for value in json.loads(text).values():  # no credential: the values are words, not the server's keys
        for word in value if isinstance(value, list) else [value]:
            assert word not in (ACCESS_KEY, SECRET_KEY)


def test_health_keeps_the_connection(server: Server) -> None:
    """A load balancer probes over one kept-alive connection: the answer does not close it."""
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        for _ in range(3):
            conn.request("GET", "/_nimbus/health")
            resp = conn.getresponse()
            assert resp.status == 200
            resp.read()
            assert resp.getheader("connection", "keep-alive").lower() == "keep-alive"
    finally:
        conn.close()
