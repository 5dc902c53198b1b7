"""The console across a restart: the figures charted survive it (the time series writes what it holds when the
server stops, and reads it back), saved test events too; and a live tail left open does not hold the stop."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from console_support import ConsoleClient

from conftest import make_zip, start_server


def test_figures_and_saved_events_survive_a_restart_and_an_open_tail_does_not_hold_the_stop(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    data_dir: Path = tmp_path_factory.mktemp("console-restart") / "data"
    srv = start_server(data_dir)
    try:
        srv.client("lambda").create_function(
            FunctionName="kept", Runtime="python3.11", Role="arn:aws:iam::000000000000:role/r", Handler="app.handler",
            Code={"ZipFile": make_zip({"app.py": "def handler(e, c):\n    print('kept ran')\n    return e\n"})},
        )  # fmt: skip
        console = ConsoleClient(srv.endpoint)
        console.sign_in()
        for _ in range(3):
            assert console.api("POST", "/functions/kept/invoke", b"{}").status_code == 200
        assert console.api("POST", "/functions/kept/events", {"name": "Kept", "payload": '{"a": 1}'}).status_code == 200
        with (
            httpx.Client(base_url=srv.endpoint, timeout=30) as http,
            http.stream(
                "GET",
                "/console/functions/kept/tail",
                headers={"cookie": f"nimbus_console={console.http.cookies['nimbus_console']}"},
            ) as tail,
        ):
            assert next(tail.iter_lines()) == "retry: 1000"
            asked = time.monotonic()
            srv.process.send_signal(signal.SIGTERM)
            srv.process.wait(timeout=25)  # the HTTP server's drain waits up to 30 s for open requests
            print(f"stopped {time.monotonic() - asked:.2f} s after SIGTERM with a tail open")
        assert srv.process.returncode == 0
        console.close()
    finally:
        srv.stop()

    srv = start_server(data_dir)
    try:
        console = ConsoleClient(srv.endpoint)
        console.sign_in()
        points: list[dict[str, Any]] = console.api("GET", "/functions/kept/series?range=1h").json()["points"]
        assert sum(p["invocations"] for p in points) == 3
        assert json.loads(console.api("GET", "/functions/kept/events/Kept").json()["payload"]) == {"a": 1}
        console.close()
    finally:
        srv.stop()
