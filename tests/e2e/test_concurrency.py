"""Reserved concurrency and the memory budget, through boto3 against a real server."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from e2e_support import start_server

SLEEPY = "import time\ndef handler(event, context):\n    time.sleep(event.get('sleep', 0))\n    return 'ok'\n"


def invoke_many(lam: Any, name: str, n: int, sleep: float) -> list[str]:
    """Invoke `n` times at once; each outcome is 'ok' or the error code."""
    results: list[str] = []
    lock = threading.Lock()

    def one() -> None:
        try:
            resp = lam.invoke(FunctionName=name, Payload=json.dumps({"sleep": sleep}))
            outcome = json.load(resp["Payload"]) if "FunctionError" not in resp else "function-error"
        except ClientError as exc:
            outcome = exc.response["Error"]["Code"]
        with lock:
            results.append(outcome)

    threads = [threading.Thread(target=one) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return results


def test_put_get_delete_function_concurrency(lam: Any, create_function: Any, fn_name: str) -> None:
    create_function(fn_name, {"app.py": SLEEPY})
    assert "ReservedConcurrentExecutions" not in lam.get_function_concurrency(FunctionName=fn_name)
    before = lam.get_account_settings()["AccountLimit"]["UnreservedConcurrentExecutions"]
    assert lam.put_function_concurrency(FunctionName=fn_name, ReservedConcurrentExecutions=5)[
        "ReservedConcurrentExecutions"
    ] == 5
    assert lam.get_function_concurrency(FunctionName=fn_name)["ReservedConcurrentExecutions"] == 5
    assert lam.get_function(FunctionName=fn_name)["Concurrency"] == {"ReservedConcurrentExecutions": 5}
    assert lam.get_account_settings()["AccountLimit"]["UnreservedConcurrentExecutions"] == before - 5
    lam.delete_function_concurrency(FunctionName=fn_name)
    assert "ReservedConcurrentExecutions" not in lam.get_function_concurrency(FunctionName=fn_name)
    assert lam.get_account_settings()["AccountLimit"]["UnreservedConcurrentExecutions"] == before


def test_zero_reserved_throttles_with_429(lam: Any, create_function: Any, fn_name: str) -> None:
    create_function(fn_name, {"app.py": SLEEPY})
    lam.put_function_concurrency(FunctionName=fn_name, ReservedConcurrentExecutions=0)
    with pytest.raises(ClientError) as err:
        lam.invoke(FunctionName=fn_name, Payload=b"{}")
    assert err.value.response["Error"]["Code"] == "TooManyRequestsException"
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 429
    assert err.value.response["Reason"] == "ReservedFunctionConcurrentInvocationLimitExceeded"
    lam.delete_function_concurrency(FunctionName=fn_name)
    assert json.load(lam.invoke(FunctionName=fn_name, Payload=b"{}")["Payload"]) == "ok"


def test_reserved_one_allows_one_at_a_time(lam: Any, create_function: Any, fn_name: str) -> None:
    create_function(fn_name, {"app.py": SLEEPY})
    lam.put_function_concurrency(FunctionName=fn_name, ReservedConcurrentExecutions=1)
    lam.invoke(FunctionName=fn_name, Payload=b"{}")  # warm
    outcomes = invoke_many(lam, fn_name, 3, sleep=1.5)
    assert outcomes.count("ok") >= 1
    assert outcomes.count("TooManyRequestsException") >= 1
    assert set(outcomes) <= {"ok", "TooManyRequestsException"}


def test_reservation_must_leave_the_unreserved_minimum(lam: Any, create_function: Any, fn_name: str) -> None:
    create_function(fn_name, {"app.py": SLEEPY})
    limit = lam.get_account_settings()["AccountLimit"]["ConcurrentExecutions"]
    with pytest.raises(ClientError) as err:
        lam.put_function_concurrency(FunctionName=fn_name, ReservedConcurrentExecutions=limit)
    assert err.value.response["Error"]["Code"] == "InvalidParameterValueException"
    with pytest.raises(ClientError) as err:
        lam.put_function_concurrency(FunctionName=f"{fn_name}:1", ReservedConcurrentExecutions=1)
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] in (400, 404)


def test_memory_budget_throttles_promptly(tmp_path: Path) -> None:
    srv = start_server(tmp_path / "data", "--memory-budget-mb", "256")
    try:
        lam = srv.client("lambda")
        from e2e_support import ROLE, make_zip

        lam.create_function(FunctionName="big", Runtime="python3.11", Role=ROLE, Handler="app.handler",
                            MemorySize=128, Code={"ZipFile": make_zip({"app.py": SLEEPY})})  # fmt: skip
        outcomes = invoke_many(lam, "big", 4, sleep=1.5)
        assert outcomes.count("ok") == 2, outcomes
        assert outcomes.count("TooManyRequestsException") == 2, outcomes
    finally:
        srv.stop()
