"""Crash safety: kill -9 the server, restart on the same data dir, everything acknowledged is still there."""

from __future__ import annotations

import signal
import time
from pathlib import Path

from e2e_support import ROLE, invoke_json, make_zip, start_server, wait_active

from conftest import child_processes
from sandbox.support import needs_namespaces

CODE = 'import os\ndef handler(event, context):\n    print("durable-marker", event)\n' \
       '    return {"v": "durable", "env": os.environ.get("SETTING"), "event": event}\n'


def wait_logs(logs: object, name: str, request_id: str, timeout: float = 15) -> str:
    deadline = time.monotonic() + timeout
    text = ""
    while time.monotonic() < deadline:
        events = logs.filter_log_events(logGroupName=f"/aws/lambda/{name}")["events"]  # type: ignore[attr-defined]
        text = "\n".join(e["message"] for e in events)
        if f"REPORT RequestId: {request_id}" in text:
            break
        time.sleep(0.2)
    return text


def test_state_survives_sigkill(tmp_path: Path) -> None:
    data = tmp_path / "data"
    srv = start_server(data)
    try:
        lam = srv.client("lambda")
        zip_bytes = make_zip({"app.py": CODE})
        lam.create_function(FunctionName="durable-fn", Runtime="python3.11", Role=ROLE, Handler="app.handler",
                            Code={"ZipFile": zip_bytes}, Tags={"owner": "me", "tier": "gold"},
                            Environment={"Variables": {"SETTING": "kept"}}, Timeout=9, MemorySize=160)
        wait_active(lam, "durable-fn")
        for i in range(5):
            lam.create_function(FunctionName=f"durable-extra-{i}", Runtime="python3.11", Role=ROLE,
                                Handler="app.handler", Code={"ZipFile": zip_bytes})
        lam.delete_function(FunctionName="durable-extra-4")
        lam.tag_resource(Resource=lam.get_function(FunctionName="durable-fn")["Configuration"]["FunctionArn"],
                         Tags={"late": "tag"})
        lam.update_function_configuration(FunctionName="durable-fn", Description="after update")
        resp, out = invoke_json(lam, "durable-fn", {"n": 1})
        assert out["v"] == "durable"
        first_rid = resp["ResponseMetadata"]["RequestId"]
        # wait until the logs API shows this invocation: what the API has shown must survive the crash
        assert f"REPORT RequestId: {first_rid}" in wait_logs(srv.client("logs"), "durable-fn", first_rid)
        before = lam.get_function(FunctionName="durable-fn")
    finally:
        srv.stop(signal.SIGKILL)
    assert srv.process.returncode == -signal.SIGKILL

    srv2 = start_server(data)
    try:
        lam = srv2.client("lambda")
        after = lam.get_function(FunctionName="durable-fn")
        cfg, old = after["Configuration"], before["Configuration"]
        for key in ("FunctionArn", "CodeSha256", "CodeSize", "RevisionId", "Handler", "Runtime", "Timeout",
                    "MemorySize", "Description", "Environment", "LastModified"):
            assert cfg[key] == old[key], key
        assert cfg["State"] == "Active"
        assert after["Tags"] == {"owner": "me", "tier": "gold", "late": "tag"}
        names = {f["FunctionName"] for f in lam.get_paginator("list_functions").paginate()
                 .build_full_result()["Functions"]}
        assert names == {"durable-fn", "durable-extra-0", "durable-extra-1", "durable-extra-2", "durable-extra-3"}

        resp, out = invoke_json(lam, "durable-fn", {"n": 2})
        assert "FunctionError" not in resp, out
        assert out == {"v": "durable", "env": "kept", "event": {"n": 2}}
        resp, out = invoke_json(lam, "durable-extra-0", {"n": 3})
        assert "FunctionError" not in resp, out

        # logs shown before the crash are still there, and the log store keeps working
        logs = srv2.client("logs")
        old_text = "\n".join(e["message"] for e in logs.filter_log_events(
            logGroupName="/aws/lambda/durable-fn")["events"])
        assert f"REPORT RequestId: {first_rid}" in old_text
        assert "durable-marker {'n': 1}" in old_text
        rid = resp["ResponseMetadata"]["RequestId"]
        text = wait_logs(logs, "durable-extra-0", rid)
        assert f"REPORT RequestId: {rid}" in text
        assert "durable-marker {'n': 3}" in text

        # and writes keep working
        lam.update_function_code(FunctionName="durable-fn", ZipFile=make_zip({"app.py": CODE.replace(
            '"durable"', '"durable-v2"')}))
        assert invoke_json(lam, "durable-fn", {})[1]["v"] == "durable-v2"
    finally:
        srv2.stop()
    assert srv2.process.returncode == 0, f"graceful stop should exit 0:\n{srv2.log_path.read_text()[-2000:]}"


def test_code_location_survives_restart(tmp_path: Path) -> None:
    from e2e_support import http, sha256_b64

    data = tmp_path / "data"
    srv = start_server(data)
    try:
        lam = srv.client("lambda")
        zip_bytes = make_zip({"app.py": CODE})
        lam.create_function(FunctionName="durable-code", Runtime="python3.11", Role=ROLE, Handler="app.handler",
                            Code={"ZipFile": zip_bytes})
    finally:
        srv.stop(signal.SIGKILL)
    srv2 = start_server(data)
    try:
        location = srv2.client("lambda").get_function(FunctionName="durable-code")["Code"]["Location"]
        status, _, body = http(location)
        assert status == 200
        assert sha256_b64(body) == sha256_b64(zip_bytes)
    finally:
        srv2.stop()


@needs_namespaces  # the zygote launcher is the sandboxing one
def test_a_restarted_server_prewarms_the_python_zygote(tmp_path: Path) -> None:
    """With Python functions on record, the zygote (and its spares) start with the server, before any invoke."""
    from e2e_support import ROOT

    data = tmp_path / "data"
    srv = start_server(data, "--deploy", str(ROOT / "examples"))
    try:
        deadline = time.monotonic() + 20
        while not child_processes(srv.process.pid, b"zygote_main.py") and time.monotonic() < deadline:
            time.sleep(0.05)
        assert child_processes(srv.process.pid, b"zygote_main.py"), "no zygote before the first invoke"
    finally:
        srv.stop()
