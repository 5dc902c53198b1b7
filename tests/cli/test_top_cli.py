"""`nimbus top --once` and `nimbus invoke --event/--event-name` against the session server: the figures and saved
test events the CLI reads over Nimbus's signed routes (`console/cli_api.py`)."""

from __future__ import annotations

import json
import re
from typing import Any

import httpx
from cli_support import nimbus_runner, python_function

ECHO_MARK = "def handler(event, context):\n    print('marked', event.get('mark'))\n    return event\n"


def save_test_event(endpoint: str, function: str, name: str, payload: str) -> None:
    """Save a test event as the console's Test tab does (signed in with the dev key, CSRF token echoed)."""
    with httpx.Client(base_url=endpoint + "/console", follow_redirects=False) as http:
        assert http.post("/signin", data={"access_key_id": "test", "secret": "test"}).status_code == 303
        csrf = re.search(r'<meta name="csrf" content="([^"]+)">', http.get("/functions").text)
        assert csrf is not None
        saved = http.post(f"/functions/{function}/events", json={"name": name, "payload": payload},
                          headers={"x-csrf-token": csrf.group(1)})  # fmt: skip
        assert saved.status_code == 200


def test_top_once_lists_functions_with_their_figures(server: Any, lam: Any) -> None:
    run = nimbus_runner(server.endpoint)
    with python_function(lam, "top-cli-fn") as name:
        for _ in range(3):
            lam.invoke(FunctionName=name, Payload=b"{}")
        result = run("top", "--once")
        assert result.returncode == 0, result.stderr
        row = next(line for line in result.stdout.splitlines() if name in line)
        cells = [c.strip() for c in re.split(r"[│|]", row) if c.strip()]
        assert cells[0] == name
        assert cells[3] == "3"  # invocations since start
        assert cells[4] == "0"  # errors
        assert cells[6] == "1"  # cold starts
        assert cells[9].endswith("ms")  # p99


def test_invoke_with_a_saved_test_event_or_an_event_file(server: Any, lam: Any, tmp_path: Any) -> None:
    run = nimbus_runner(server.endpoint)
    with python_function(lam, "event-cli-fn", ECHO_MARK) as name:
        save_test_event(server.endpoint, name, "Saved", json.dumps({"mark": "from-saved"}))
        result = run("invoke", name, "--event-name", "Saved")
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout) == {"mark": "from-saved"}
        file = tmp_path / "event.json"
        file.write_text(json.dumps({"mark": "from-file"}))
        assert json.loads(run("invoke", name, "--event", str(file)).stdout) == {"mark": "from-file"}
        missing = run("invoke", name, "--event-name", "Nope")
        assert missing.returncode == 1
        assert "ResourceNotFoundException: Test event not found" in missing.stderr
        both = run("invoke", name, "--event", str(file), "--event-name", "Saved")
        assert both.returncode == 2
        assert "give one" in both.stderr
    gone = run("invoke", "no-such-fn", "--event-name", "Saved")
    assert gone.returncode == 1
    assert "ResourceNotFoundException" in gone.stderr
