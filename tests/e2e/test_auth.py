"""SigV4 is verified against the configured credentials (dev credentials test/test on loopback only)."""

from __future__ import annotations

import datetime
import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from e2e_support import (
    NIMBUS,
    ROLE,
    ROOT,
    err,
    error_code,
    expect_error,
    http,
    invoke_json,
    make_zip,
    raw_client,
    send,
    signed,
    start_server,
)

CUSTOM_KEY = "AKIDEXAMPLE"
CUSTOM_SECRET = "secret"
CANARY = "server-only-canary-value-6c1f"


@pytest.fixture(scope="module")
def custom_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    srv = start_server(
        tmp_path_factory.mktemp("nimbus-auth") / "data",
        env={"NIMBUS_ACCESS_KEY_ID": CUSTOM_KEY, "NIMBUS_SECRET_ACCESS_KEY": CUSTOM_SECRET,
             "SERVER_ONLY_CANARY": CANARY},
    )
    yield srv
    srv.stop()


def list_url(server: Any) -> str:
    return f"{server.endpoint}/2015-03-31/functions"


def test_valid_signature_accepted(server: Any) -> None:
    """Control for the raw-request tests below: a correctly signed raw request succeeds."""
    status, _, body = send(signed(list_url(server)))
    assert status == 200, body
    assert "Functions" in json.loads(body)


def test_wrong_secret(server: Any) -> None:
    lam = raw_client(server, secret_key="not-the-secret")
    expect_error(lam.list_functions, "InvalidSignatureException", 403)
    expect_error(lam.invoke, "InvalidSignatureException", 403, FunctionName="anything", Payload=b"{}")


def test_logs_api_verifies_signatures(server: Any) -> None:
    logs = raw_client(server, "logs", secret_key="not-the-secret")
    expect_error(logs.describe_log_groups, "InvalidSignatureException", 403)
    status, _, _ = http(server.endpoint + "/", "POST", data=b"{}",
                        headers={"X-Amz-Target": "Logs_20140328.DescribeLogGroups",
                                 "Content-Type": "application/x-amz-json-1.1"})
    assert status == 403
    assert "logGroups" in raw_client(server, "logs").describe_log_groups()


def test_unknown_access_key(server: Any) -> None:
    lam = raw_client(server, access_key="AKIDUNKNOWN000000000", secret_key="test")
    expect_error(lam.list_functions, "UnrecognizedClientException", 403)


def test_unsigned_requests_refused(server: Any, lam: Any, create_function: Any, fn_name: str) -> None:
    create_function(fn_name, {"app.py": "def handler(e, c):\n    return 'ran'\n"})
    for method, path, data in (
        ("GET", "/2015-03-31/functions", None),
        ("GET", f"/2015-03-31/functions/{fn_name}", None),
        ("POST", f"/2015-03-31/functions/{fn_name}/invocations", b"{}"),
        ("DELETE", f"/2015-03-31/functions/{fn_name}", None),
        ("GET", "/2016-08-19/account-settings", None),
    ):
        status, headers, body = http(server.endpoint + path, method, data=data)
        assert status == 403, (method, path, status, body)
        assert error_code(headers, body), (method, path, headers, body)
    # the unsigned DELETE did nothing
    assert lam.get_function(FunctionName=fn_name)["Configuration"]["FunctionName"] == fn_name


def test_code_location_works_unsigned_but_not_tampered(lam: Any, create_function: Any, fn_name: str) -> None:
    """GetFunction's Code.Location is a pre-signed style URL: usable with plain urllib, exactly as given."""
    create_function(fn_name, {"app.py": "def handler(e, c):\n    return 1\n"})
    location = lam.get_function(FunctionName=fn_name)["Code"]["Location"]
    assert http(location)[0] == 200
    if "?" in location:  # a signed/tokenised URL: without (or with a forged) query it must be refused
        base, query = location.split("?", 1)
        assert http(base)[0] in (400, 403, 404)
        forged = query[:-1] + ("0" if query[-1] != "0" else "1")
        assert http(f"{base}?{forged}")[0] in (400, 403, 404)


def test_tampered_body_refused(server: Any, create_function: Any, fn_name: str) -> None:
    create_function(fn_name, {"app.py": "def handler(e, c):\n    return e\n"})
    req = signed(f"{server.endpoint}/2015-03-31/functions/{fn_name}/invocations", "POST", b'{"amount": 1}')
    status, headers, body = send(req, data=b'{"amount": 9}')
    assert status == 403, body
    assert error_code(headers, body) == "InvalidSignatureException", (headers, body)
    status, _, body = send(req)
    assert status == 200
    assert json.loads(body) == {"amount": 1}


@pytest.mark.parametrize("minutes", [-20, 20], ids=["signed-20-min-ago", "signed-20-min-ahead"])
def test_request_outside_15_minutes_refused(server: Any, monkeypatch: pytest.MonkeyPatch, minutes: int) -> None:
    skewed = datetime.datetime.now(datetime.UTC).replace(tzinfo=None) + datetime.timedelta(minutes=minutes)
    monkeypatch.setattr("botocore.auth.get_current_datetime", lambda *a, **k: skewed)
    lam = raw_client(server)
    with pytest.raises(ClientError) as info:
        lam.list_functions()
    code, status = err(info.value)
    assert status == 403, (code, status, info.value.response["Error"])
    assert code, info.value.response


def test_request_within_skew_accepted(server: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    skewed = datetime.datetime.now(datetime.UTC).replace(tzinfo=None) - datetime.timedelta(minutes=5)
    monkeypatch.setattr("botocore.auth.get_current_datetime", lambda *a, **k: skewed)
    assert "Functions" in raw_client(server).list_functions()


def test_configured_credentials(custom_server: Any) -> None:
    good = custom_server.client("lambda", access_key=CUSTOM_KEY, secret_key=CUSTOM_SECRET)
    assert "Functions" in good.list_functions()
    dev = custom_server.client("lambda")  # test/test
    expect_error(dev.list_functions, "UnrecognizedClientException", 403)
    wrong = custom_server.client("lambda", access_key=CUSTOM_KEY, secret_key="test")
    expect_error(wrong.list_functions, "InvalidSignatureException", 403)
    assert http(f"{custom_server.endpoint}/2015-03-31/functions")[0] == 403


def test_server_environment_not_visible_to_functions(custom_server: Any) -> None:
    lam = custom_server.client("lambda", access_key=CUSTOM_KEY, secret_key=CUSTOM_SECRET)
    name = "t-env-isolation"
    lam.create_function(FunctionName=name, Runtime="python3.11", Role=ROLE, Handler="app.handler",
                        Code={"ZipFile": make_zip({"app.py": "import os\ndef handler(e, c):\n"
                                                   "    return dict(os.environ)\n"})})
    try:
        resp, env = invoke_json(lam, name)
        assert "FunctionError" not in resp, env
        assert not [k for k in env if k.startswith("NIMBUS_")]
        assert "SERVER_ONLY_CANARY" not in env
        assert CANARY not in json.dumps(env)
        assert CUSTOM_SECRET not in env.values(), "the server's secret key leaked into the function"
        assert env.get("AWS_SECRET_ACCESS_KEY") != CUSTOM_SECRET
    finally:
        lam.delete_function(FunctionName=name)


def test_refuses_public_bind_without_credentials(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NIMBUS_", "AWS_"))}
    cmd = [*NIMBUS, "serve", "--host", "0.0.0.0", "--port", "0", "--data-dir", str(tmp_path / "data"),
           "--ready-file", str(tmp_path / "ready.json")]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, cwd=ROOT)
    try:
        out, _ = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
        pytest.fail(f"nimbus serve --host 0.0.0.0 kept running without credentials:\n{out.decode()}")
    assert proc.returncode != 0
    assert "credential" in out.decode().lower(), out.decode()
    assert not (tmp_path / "ready.json").exists()


def test_public_bind_with_credentials_starts(tmp_path: Path) -> None:
    srv = start_server(tmp_path / "data", "--host", "0.0.0.0",
                       env={"NIMBUS_ACCESS_KEY_ID": CUSTOM_KEY, "NIMBUS_SECRET_ACCESS_KEY": CUSTOM_SECRET})
    try:
        lam = srv.client("lambda", access_key=CUSTOM_KEY, secret_key=CUSTOM_SECRET)
        assert "Functions" in lam.list_functions()
    finally:
        srv.stop()
