"""The console over real HTTP against a real server: sign-in, cookie flags, CSRF, sign-out, the pages, the test
tab's invoke and saved events (at their limits and one past), the charts' figures and the live tail (SSE)."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from console_support import ConsoleClient, signed_in

from conftest import make_zip
from nimbus.console.front import MAX_BODY, SIGN_IN_BODY
from nimbus.console.test_events import MAX_PAYLOAD, MAX_PER_FUNCTION

HANDLER = "def handler(event, context):\n    print('saw', event.get('mark'))\n    return {'echo': event}\n"


@pytest.fixture
def console(server: Any) -> Iterator[ConsoleClient]:
    yield from signed_in(server.endpoint)


@pytest.fixture
def fn(create_function: Callable[..., Any], fn_name: str) -> str:
    create_function(fn_name, {"app.py": HANDLER}, Tags={"team": "<script>alert(1)</script>"},
                    Environment={"Variables": {"GREETING": "hi"}})  # fmt: skip
    return fn_name


def test_without_a_session_pages_go_to_sign_in_and_calls_get_401(server: Any, fn: str) -> None:
    with httpx.Client(base_url=server.endpoint, follow_redirects=False) as http:
        assert http.get("/console").headers["location"] == "/console/functions"
        for path in ("/console/functions", f"/console/functions/{fn}", "/console/functions/new"):
            resp = http.get(path)
            assert (resp.status_code, resp.headers["location"]) == (303, "/console/signin"), path
        assert http.post(f"/console/functions/{fn}/invoke", content=b"{}").status_code == 401
        assert http.get(f"/console/functions/{fn}/tail").status_code == 401
        forged = http.get("/console/functions", headers={"cookie": "nimbus_console=forged"})
        assert forged.status_code == 303
        assert http.get("/console/signin").status_code == 200


def test_an_unauthenticated_body_is_refused_at_the_headers(server: Any, fn: str) -> None:
    """A 7 MB body without a session is answered 401 before one byte of it is sent (nothing is held for it)."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(f"POST /console/functions/{fn}/invoke HTTP/1.1\r\nHost: x\r\nContent-Length: 7000000\r\n"
                     "Content-Type: application/json\r\n\r\n".encode())  # fmt: skip
        head = sock.recv(65536).decode("latin-1")
    assert head.startswith("HTTP/1.1 401 ")
    assert "Sign in first." in head


def test_body_limits_at_the_limit_and_one_past(server: Any, console: ConsoleClient, fn: str) -> None:
    """The sign-in form takes SIGN_IN_BODY bytes, a signed-in request MAX_BODY; one more is the server's 413."""
    with httpx.Client(base_url=server.endpoint + "/console") as http:
        form = "access_key_id=test&secret=wrong&pad="
        at = http.post("/signin", content=form + "x" * (SIGN_IN_BODY - len(form)),
                       headers={"content-type": "application/x-www-form-urlencoded"})  # fmt: skip
        assert at.status_code == 401
        past = http.post("/signin", content=form + "x" * (SIGN_IN_BODY - len(form) + 1),
                         headers={"content-type": "application/x-www-form-urlencoded"})  # fmt: skip
        assert past.status_code == 413
    body = json.dumps({"name": "big", "payload": ""})
    padded = body[:-1] + " " * (MAX_BODY - len(body)) + "}"
    # at the limit the body is read whole, then refused by the rules ("" is no JSON payload)
    assert console.api("POST", f"/functions/{fn}/events", padded).status_code == 400
    assert console.api("POST", f"/functions/{fn}/events", padded + " ").status_code == 413


def test_sign_in_refuses_wrong_credentials_and_sets_a_strict_httponly_cookie(server: Any) -> None:
    client = ConsoleClient(server.endpoint)
    try:
        wrong = client.sign_in("test", "not-the-secret")
        assert wrong.status_code == 401
        assert "not valid" in wrong.text
        assert "set-cookie" not in wrong.headers
        assert client.sign_in("nobody", "test").status_code == 401
        ok = client.sign_in()
        assert ok.status_code == 303
        cookie = ok.headers["set-cookie"]
        assert "HttpOnly" in cookie
        assert "SameSite=Strict" in cookie
        assert "Path=/console" in cookie
        assert "Max-Age=43200" in cookie  # an expiry: 12 hours by default
        page = client.http.get("/functions")
        assert page.status_code == 200
        assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
        assert page.headers["x-frame-options"] == "DENY"
    finally:
        client.close()


def test_mutations_need_the_sessions_csrf_token(console: ConsoleClient, fn: str) -> None:
    assert console.api("POST", f"/functions/{fn}/invoke", b"{}", csrf="").status_code == 403
    assert console.api("POST", f"/functions/{fn}/invoke", b"{}", csrf=console.csrf + "x").status_code == 403
    other = ConsoleClient(console.http.base_url.join("/").__str__().rstrip("/"))
    try:
        other.sign_in()
        assert console.api("POST", f"/functions/{fn}/invoke", b"{}", csrf=other.csrf).status_code == 403
    finally:
        other.close()
    form = console.http.post("/functions", data={"name": "x-no-csrf", "runtime": "python3.12", "code": "x"})
    assert form.status_code == 403
    assert console.api("POST", f"/functions/{fn}/invoke", b"{}").status_code == 200


def test_sign_out_ends_the_session(server: Any) -> None:
    client = ConsoleClient(server.endpoint)
    try:
        client.sign_in()
        token = client.http.cookies["nimbus_console"]
        out = client.http.post("/signout", data={"csrf": client.csrf})
        assert out.status_code == 303
        assert out.headers["location"] == "/console/signin"
        assert "Max-Age=0" in out.headers["set-cookie"]
        replayed = client.http.get("/functions", headers={"cookie": f"nimbus_console={token}"})
        assert replayed.status_code == 303
    finally:
        client.close()


def test_the_function_page_shows_configuration_escaped(console: ConsoleClient, fn: str) -> None:
    page = console.http.get(f"/functions/{fn}")
    assert page.status_code == 200
    assert "GREETING" in page.text
    assert "python3.11" in page.text
    assert "<script>alert(1)</script>" not in page.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    code = console.http.get(f"/functions/{fn}?tab=code")
    assert "app.py" in code.text
    assert "print(&#39;saw&#39;" in code.text
    listing = console.http.get("/functions", params={"q": fn})
    assert f"/console/functions/{fn}" in listing.text
    assert f"/console/functions/{fn}" not in console.http.get("/functions", params={"q": "no-such-name"}).text
    missing = console.http.get("/functions/no-such-function")
    assert missing.status_code == 404
    assert "Function not found" in missing.text
    assert console.http.get("/no/such/page").status_code == 404


def test_invoke_shows_response_report_and_log(console: ConsoleClient, fn: str) -> None:
    resp = console.api("POST", f"/functions/{fn}/invoke", json.dumps({"mark": "m-1"}))
    assert resp.status_code == 200
    out = resp.json()
    assert json.loads(out["response"]) == {"echo": {"mark": "m-1"}}
    assert out["function_error"] is None
    assert out["status"] == 200
    assert "saw m-1" in out["log"]
    assert out["log"].startswith("START RequestId: " + out["request_id"])
    assert out["duration_ms"] > 0
    assert out["billed_ms"] >= 1
    assert out["memory_mb"] == 128
    assert out["max_memory_mb"] > 0
    bad = console.api("POST", f"/functions/{fn}/invoke", b"{not json")
    assert bad.status_code == 400
    assert bad.json()["type"] == "InvalidRequestContentException"


def test_saved_test_events_at_their_limits_and_one_past(console: ConsoleClient, fn: str) -> None:
    def save(name: str, payload: str) -> httpx.Response:
        return console.api("POST", f"/functions/{fn}/events", {"name": name, "payload": payload})

    assert save("a" * 25, "{}").status_code == 200
    assert save("a" * 26, "{}").status_code == 400
    assert save("bad name", "{}").status_code == 400
    assert save("notjson", "{oops").status_code == 400
    big = '"' + "x" * (MAX_PAYLOAD - 2) + '"'
    assert save("big", big).status_code == 200
    assert save("big", big[:-1] + 'x"').status_code == 400
    for i in range(MAX_PER_FUNCTION - 2):
        assert save(f"e{i}", json.dumps({"i": i})).status_code == 200
    past = save("one-too-many", "{}")
    assert past.status_code == 400
    assert str(MAX_PER_FUNCTION) in past.json()["message"]
    assert save("e0", '{"i": "changed"}').status_code == 200  # an update is not one more
    names = console.api("GET", f"/functions/{fn}/events").json()["names"]
    assert len(names) == MAX_PER_FUNCTION
    assert "e0" in names
    assert json.loads(console.api("GET", f"/functions/{fn}/events/e0").json()["payload"]) == {"i": "changed"}
    assert console.api("DELETE", f"/functions/{fn}/events/e0").status_code == 200
    assert console.api("GET", f"/functions/{fn}/events/e0").status_code == 404


def test_saved_events_go_with_their_function(console: ConsoleClient, lam: Any, fn: str) -> None:
    assert console.api("POST", f"/functions/{fn}/events", {"name": "e", "payload": "{}"}).status_code == 200
    config = lam.get_function_configuration(FunctionName=fn)
    lam.delete_function(FunctionName=fn)
    assert console.api("GET", f"/functions/{fn}/events").status_code == 404
    lam.create_function(FunctionName=fn, Runtime=config["Runtime"], Role=config["Role"], Handler="app.handler",
                        Code={"ZipFile": make_zip({"app.py": HANDLER})})  # fmt: skip
    assert console.api("GET", f"/functions/{fn}/events").json()["names"] == []


def test_charts_count_an_invocation_within_seconds(console: ConsoleClient, fn: str) -> None:
    console.api("POST", f"/functions/{fn}/invoke", b"{}")
    deadline = time.monotonic() + 30  # the sampler runs every second; a loaded machine delays it
    points: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        points = console.api("GET", f"/functions/{fn}/series?range=1h").json()["points"]
        if sum(p["invocations"] for p in points) >= 1:
            break
        time.sleep(0.2)
    assert len(points) == 60
    assert sum(p["invocations"] for p in points) == 1
    assert sum(p["cold_starts"] for p in points) == 1
    # the duration lands when the invocation ends, its concurrency when it starts: a minute boundary may split them
    assert any(p["p50"] is not None for p in points)
    assert max(p["concurrency"] for p in points) == 1
    for span, count in (("24h", 96), ("7d", 168)):
        assert len(console.api("GET", f"/functions/{fn}/series?range={span}").json()["points"]) == count


def test_the_tail_streams_a_new_line_and_links_reports(console: ConsoleClient, fn: str) -> None:
    with console.http.stream("GET", f"/functions/{fn}/tail") as stream:
        assert stream.headers["content-type"] == "text/event-stream"
        lines = stream.iter_lines()
        assert next(lines) == "retry: 1000"
        console.api("POST", f"/functions/{fn}/invoke", json.dumps({"mark": "tail-1"}))
        seen: list[dict[str, Any]] = []
        for line in lines:
            if line.startswith("data: "):
                seen.append(json.loads(line[6:]))
                if seen[-1]["message"].startswith("REPORT"):
                    break
    assert any(e["message"] == "saw tail-1" for e in seen)
    report = seen[-1]["report"]
    assert report
    assert report in seen[-1]["message"]
    page = console.http.get(f"/functions/{fn}/invocations/{report}")
    assert page.status_code == 200
    assert "saw tail-1" in page.text
    assert "Billed duration" in page.text


def test_the_tail_follows_a_custom_log_group(console: ConsoleClient, create_function: Any, fn_name: str) -> None:
    create_function(fn_name, {"app.py": HANDLER}, LoggingConfig={"LogFormat": "Text", "LogGroup": f"/custom/{fn_name}"})
    with console.http.stream("GET", f"/functions/{fn_name}/tail") as stream:
        lines = stream.iter_lines()
        assert next(lines) == "retry: 1000"
        console.api("POST", f"/functions/{fn_name}/invoke", json.dumps({"mark": "custom-group"}))
        deadline = time.monotonic() + 60  # the stream's heartbeat (every 10 s) brings the loop back here
        for line in lines:
            if line.startswith("data: ") and json.loads(line[6:])["message"] == "saw custom-group":
                break
            assert time.monotonic() < deadline, "the line never came"


def test_static_assets_and_the_vendored_chart_licence(server: Any) -> None:
    with httpx.Client(base_url=server.endpoint) as http:
        js = http.get("/console/static/uPlot.iife.min.js")
        assert js.status_code == 200
        assert js.headers["content-type"] == "text/javascript"
        assert "MIT" in http.get("/console/static/uPlot.LICENSE.txt").text
        assert http.get("/console/static/..%2Fconsole.py").status_code == 404
        assert http.get("/console/static/nothing.js").status_code == 404
