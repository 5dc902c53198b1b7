"""Data plane: Invoke (RequestResponse, DryRun, Event, LogType=Tail), payload round trips, concurrency."""

from __future__ import annotations

import base64
import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from botocore.exceptions import ClientError
from e2e_support import ECHO, err, expect_error, invoke_json, raw_client, wait_active

PRINTER = """
import json
def handler(event, context):
    print("hello from", context.function_name, json.dumps(event))
    for i in range(event.get("lines", 0)):
        print("line-%05d " % i + "x" * 60)
    print("last line before return")
    return {"ok": True}
"""


@pytest.fixture
def echo(lam: Any, create_function: Any, fn_name: str) -> str:
    create_function(fn_name, {"app.py": ECHO})
    wait_active(lam, fn_name)
    return fn_name


@pytest.mark.parametrize(
    "payload",
    [
        {"a": 1, "nested": {"list": [1, 2.5, None, True, "s"]}},
        {"unicode": "héllo wörld ✓ 日本語 🚀", "escapes": "quote\" backslash\\ tab\t nl\n"},
        [1, 2, 3],
        "just a string",
        42,
        None,
    ],
    ids=["object", "unicode", "list", "string", "number", "null"],
)
def test_payload_round_trip(lam: Any, echo: str, payload: Any) -> None:
    body = json.dumps(payload, ensure_ascii=False).encode()
    resp = lam.invoke(FunctionName=echo, Payload=body)
    assert resp["StatusCode"] == 200
    assert resp["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert "FunctionError" not in resp
    assert resp["ExecutedVersion"] == "$LATEST"
    assert resp["ResponseMetadata"]["HTTPHeaders"]["x-amz-executed-version"] == "$LATEST"
    assert json.loads(resp["Payload"].read().decode("utf-8")) == payload
    assert resp["ResponseMetadata"]["RequestId"]


def test_invoke_by_arn_and_qualifier(lam: Any, echo: str) -> None:
    from e2e_support import arn

    resp, out = invoke_json(lam, arn(echo), {"via": "arn"})
    assert out == {"via": "arn"}
    resp, out = invoke_json(lam, echo, {"via": "qualifier"}, Qualifier="$LATEST")
    assert out == {"via": "qualifier"}
    assert resp["ExecutedVersion"] == "$LATEST"
    _, out = invoke_json(lam, f"000000000000:function:{echo}", {"via": "partial-arn"})
    assert out == {"via": "partial-arn"}
    _, out = invoke_json(lam, f"{echo}:$LATEST", {"via": "name-qualifier"})
    assert out == {"via": "name-qualifier"}


def test_invoke_unknown_qualifier(lam: Any, echo: str) -> None:
    expect_error(lam.invoke, "ResourceNotFoundException", 404, FunctionName=echo, Qualifier="42", Payload=b"{}")


@pytest.mark.parametrize("kwargs", [{"InvocationType": "Bogus"}, {"LogType": "Everything"}],
                         ids=["invocation-type", "log-type"])
def test_invoke_header_outside_enum(server: Any, echo: str, kwargs: dict[str, str]) -> None:
    """botocore's model: InvocationType in {Event, RequestResponse, DryRun}, LogType in {None, Tail}."""
    lam = raw_client(server)
    with pytest.raises(ClientError) as info:
        lam.invoke(FunctionName=echo, Payload=b"{}", **kwargs)
    code, status = err(info.value)
    assert status == 400, (kwargs, code, status)
    assert code in ("InvalidParameterValueException", "ValidationException"), code


def test_response_over_6mb_is_a_function_error(lam: Any, create_function: Any, fn_name: str) -> None:
    create_function(fn_name, {"app.py": 'def handler(event, context):\n    return "z" * 7_000_000\n'},
                    MemorySize=512)
    resp, out = invoke_json(lam, fn_name)
    assert resp["StatusCode"] == 200
    assert resp.get("FunctionError") == "Unhandled"
    assert out["errorType"] == "Function.ResponseSizeTooLarge", out


def test_request_ids_are_unique(lam: Any, echo: str) -> None:
    ids = {invoke_json(lam, echo, {"i": i})[0]["ResponseMetadata"]["RequestId"] for i in range(5)}
    assert len(ids) == 5


def test_dry_run(lam: Any, echo: str) -> None:
    resp = lam.invoke(FunctionName=echo, InvocationType="DryRun", Payload=b"{}")
    assert resp["StatusCode"] == 204
    assert resp["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert resp["Payload"].read() == b""


def test_dry_run_unknown_function(lam: Any) -> None:
    expect_error(lam.invoke, "ResourceNotFoundException", 404, FunctionName="t-no-such-fn-dry",
                 InvocationType="DryRun", Payload=b"{}")


def test_event_invocation_is_accepted(server: Any, echo: str) -> None:
    """InvocationType Event answers 202 with an empty body (the rest is tests/e2e/test_async_invoke.py)."""
    lam = raw_client(server, read_timeout=15)
    resp = lam.invoke(FunctionName=echo, InvocationType="Event", Payload=b'{"a": 1}')
    assert resp["StatusCode"] == 202
    assert resp["Payload"].read() == b""
    assert resp["ResponseMetadata"]["HTTPHeaders"]["x-amzn-requestid"]


def test_log_tail(lam: Any, create_function: Any, fn_name: str) -> None:
    create_function(fn_name, {"app.py": PRINTER})
    resp = lam.invoke(FunctionName=fn_name, Payload=b'{"k": "v"}', LogType="Tail")
    assert json.loads(resp["Payload"].read()) == {"ok": True}
    request_id = resp["ResponseMetadata"]["RequestId"]
    log = base64.b64decode(resp["LogResult"]).decode()
    assert len(base64.b64decode(resp["LogResult"])) <= 4096
    assert f"START RequestId: {request_id} Version: $LATEST" in log
    assert f"END RequestId: {request_id}" in log
    assert f"REPORT RequestId: {request_id}" in log
    assert f'hello from {fn_name} {{"k": "v"}}' in log
    assert "last line before return" in log
    assert log.index("START") < log.index("hello from") < log.index("END RequestId") < log.index("REPORT")
    for field in ("Duration:", "Billed Duration:", "Memory Size: 128 MB", "Max Memory Used:"):
        assert field in log, log


def test_log_tail_is_last_4kb_of_this_invocation(lam: Any, create_function: Any, fn_name: str) -> None:
    create_function(fn_name, {"app.py": PRINTER})
    first = lam.invoke(FunctionName=fn_name, Payload=b'{"lines": 3}', LogType="Tail")
    first_id = first["ResponseMetadata"]["RequestId"]
    resp = lam.invoke(FunctionName=fn_name, Payload=b'{"lines": 300}', LogType="Tail")
    request_id = resp["ResponseMetadata"]["RequestId"]
    raw = base64.b64decode(resp["LogResult"])
    assert 3500 <= len(raw) <= 4096, len(raw)
    log = raw.decode("utf-8", errors="replace")
    assert f"REPORT RequestId: {request_id}" in log
    assert "last line before return" in log
    assert "line-00299" in log
    assert "line-00000" not in log, "the tail must be the LAST 4 KB"
    assert first_id not in log, "the tail must only contain this invocation's log"


def test_no_log_result_without_tail(lam: Any, echo: str) -> None:
    resp = lam.invoke(FunctionName=echo, Payload=b"{}")
    assert "LogResult" not in resp


def test_invalid_json_payload(lam: Any, echo: str) -> None:
    for bad in (b"{not json", b"\xff\xfe", b'{"a": 1'):
        expect_error(lam.invoke, "InvalidRequestContentException", 400, FunctionName=echo, Payload=bad)


def test_concurrent_invokes(lam: Any, create_function: Any, fn_name: str) -> None:
    sleepy = "import time\ndef handler(event, context):\n    time.sleep(0.3)\n    return event\n"
    create_function(fn_name, {"app.py": sleepy})
    wait_active(lam, fn_name)

    def call(i: int) -> Any:
        resp, out = invoke_json(lam, fn_name, {"i": i})
        assert "FunctionError" not in resp, out
        return out

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(call, range(8)))
    assert results == [{"i": i} for i in range(8)]
    with ThreadPoolExecutor(8) as pool:  # again, now mostly on warm instances
        assert list(pool.map(call, range(8, 16))) == [{"i": i} for i in range(8, 16)]


def test_large_response_round_trip(lam: Any, create_function: Any, fn_name: str) -> None:
    big = 'def handler(event, context):\n    return "y" * 5_000_000\n'
    create_function(fn_name, {"app.py": big})
    resp, out = invoke_json(lam, fn_name)
    assert "FunctionError" not in resp
    assert out == "y" * 5_000_000
