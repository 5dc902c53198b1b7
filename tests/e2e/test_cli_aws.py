"""The real AWS CLI (v1) against the server."""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path
from typing import Any

from e2e_support import ROLE, arn, aws_cli, make_zip, sha256_b64

CODE = 'import json\ndef handler(event, context):\n    print("cli-log-marker")\n    return {"got": event}\n'


def test_cli_function_lifecycle(server: Any, lam: Any, tmp_path: Path, fn_name: str) -> None:
    zip_path = tmp_path / "fn.zip"
    zip_bytes = make_zip({"app.py": CODE})
    zip_path.write_bytes(zip_bytes)
    try:
        created = json.loads(aws_cli(
            server, "lambda", "create-function", "--function-name", fn_name, "--runtime", "python3.11",
            "--role", ROLE, "--handler", "app.handler", "--zip-file", f"fileb://{zip_path}",
            "--environment", "Variables={KEY_A=1}", "--tags", "k=v",
        ).stdout)
        assert created["FunctionName"] == fn_name
        assert created["FunctionArn"] == arn(fn_name)
        assert created["CodeSha256"] == sha256_b64(zip_bytes)

        listed = json.loads(aws_cli(server, "lambda", "list-functions").stdout)
        assert fn_name in [f["FunctionName"] for f in listed["Functions"]]

        got = json.loads(aws_cli(server, "lambda", "get-function", "--function-name", fn_name).stdout)
        assert got["Configuration"]["FunctionName"] == fn_name
        assert got["Configuration"]["Environment"] == {"Variables": {"KEY_A": "1"}}
        assert got["Code"]["RepositoryType"] == "S3"
        assert got["Tags"] == {"k": "v"}

        out_file = tmp_path / "out.json"
        result = aws_cli(server, "lambda", "invoke", "--function-name", fn_name,
                         "--payload", '{"hello": "wörld"}', "--log-type", "Tail", str(out_file))
        meta = json.loads(result.stdout)
        assert meta["StatusCode"] == 200
        assert meta["ExecutedVersion"] == "$LATEST"
        assert "FunctionError" not in meta
        assert "cli-log-marker" in base64.b64decode(meta["LogResult"]).decode()
        assert json.loads(out_file.read_text("utf-8")) == {"got": {"hello": "wörld"}}

        cfg = json.loads(aws_cli(server, "lambda", "update-function-configuration", "--function-name", fn_name,
                                 "--timeout", "10", "--memory-size", "256").stdout)
        assert (cfg["Timeout"], cfg["MemorySize"]) == (10, 256)

        deleted = aws_cli(server, "lambda", "delete-function", "--function-name", fn_name)
        assert deleted.returncode == 0
        missing = aws_cli(server, "lambda", "get-function", "--function-name", fn_name, check=False)
        assert missing.returncode != 0
        assert "ResourceNotFoundException" in missing.stderr
    finally:
        aws_cli(server, "lambda", "delete-function", "--function-name", fn_name, check=False)


def test_cli_errors_are_readable(server: Any, tmp_path: Path) -> None:
    zip_path = tmp_path / "fn.zip"
    zip_path.write_bytes(make_zip({"app.py": CODE}))
    bad = aws_cli(server, "lambda", "create-function", "--function-name", "t-cli-bad-runtime", "--runtime", "cobol",
                  "--role", ROLE, "--handler", "app.handler", "--zip-file", f"fileb://{zip_path}", check=False)
    assert bad.returncode != 0
    assert "InvalidParameterValueException" in bad.stderr, bad.stderr
    res = aws_cli(server, "lambda", "invoke", "--function-name", "t-cli-nope", str(tmp_path / "o.json"), check=False)
    assert res.returncode != 0
    assert "ResourceNotFoundException" in res.stderr, res.stderr


def test_cli_get_account_settings_and_logs(server: Any, lam: Any, create_function: Any, fn_name: str) -> None:
    create_function(fn_name, {"app.py": CODE})
    rid = lam.invoke(FunctionName=fn_name, Payload=b'{"x": 1}')["ResponseMetadata"]["RequestId"]
    logs = server.client("logs")
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and not any(
        f"REPORT RequestId: {rid}" in e["message"]
        for e in logs.filter_log_events(logGroupName=f"/aws/lambda/{fn_name}")["events"]
    ):
        time.sleep(0.2)
    settings = json.loads(aws_cli(server, "lambda", "get-account-settings").stdout)
    assert settings["AccountLimit"]["CodeSizeZipped"] == 52428800
    events = json.loads(aws_cli(server, "logs", "filter-log-events", "--log-group-name",
                                f"/aws/lambda/{fn_name}").stdout)["events"]
    assert any("cli-log-marker" in e["message"] for e in events), events
    assert any(e["message"].startswith(f"REPORT RequestId: {rid}") for e in events), events
