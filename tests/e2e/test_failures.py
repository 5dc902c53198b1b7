"""Function failures are invocation results (200 + X-Amz-Function-Error), never API errors, and never sticky."""

from __future__ import annotations

import concurrent.futures
import time
import uuid
from pathlib import Path
from typing import Any

from e2e_support import invoke_json, wait_active

RAISER = """
class CustomError(Exception):
    pass

def helper(msg):
    raise CustomError(msg)

def handler(event, context):
    if event.get("fail"):
        helper("it broke: " + event["fail"])
    return "fine"
"""

SLEEPER = """
import time
from pathlib import Path
def handler(event, context):
    if event.get("sleep"):
        time.sleep(event["sleep"])
    return "awake"
"""

EXITER = """
import os
def handler(event, context):
    if event.get("exit"):
        os._exit(3)
    return "alive"
"""


def assert_unhandled(resp: dict[str, Any], out: Any, error_type: str) -> None:
    assert resp["StatusCode"] == 200
    assert resp["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert resp.get("FunctionError") == "Unhandled", resp.get("FunctionError")
    assert isinstance(out, dict), out
    assert out.get("errorType") == error_type, out
    assert isinstance(out.get("errorMessage"), str), out
    assert out["errorMessage"], out


def test_exception_is_unhandled_function_error(lam: Any, create_function: Any, fn_name: str) -> None:
    create_function(fn_name, {"app.py": RAISER})
    resp, out = invoke_json(lam, fn_name, {"fail": "ünïcode"})
    assert_unhandled(resp, out, "CustomError")
    assert out["errorMessage"] == "it broke: ünïcode"
    assert out["requestId"] == resp["ResponseMetadata"]["RequestId"]
    assert isinstance(out["stackTrace"], list)
    assert out["stackTrace"]
    trace = "".join(out["stackTrace"])
    for frame in ("app.py", "helper", "handler"):
        assert frame in trace, trace
    assert "bootstrap" not in trace.lower(), "runtime frames should be trimmed from the stack trace"
    # the same instance keeps serving
    resp, out = invoke_json(lam, fn_name, {})
    assert "FunctionError" not in resp
    assert out == "fine"


def test_missing_module(lam: Any, create_function: Any, fn_name: str) -> None:
    create_function(fn_name, {"app.py": RAISER}, handler="nosuchmodule.handler")
    resp, out = invoke_json(lam, fn_name)
    assert_unhandled(resp, out, "Runtime.ImportModuleError")
    assert "nosuchmodule" in out["errorMessage"]


def test_import_error_inside_module(lam: Any, create_function: Any, fn_name: str) -> None:
    create_function(fn_name, {"app.py": "import not_installed_dependency_xyz\ndef handler(e, c):\n    return 1\n"})
    resp, out = invoke_json(lam, fn_name)
    assert_unhandled(resp, out, "Runtime.ImportModuleError")
    assert "not_installed_dependency_xyz" in out["errorMessage"]


def test_missing_handler(lam: Any, create_function: Any, fn_name: str) -> None:
    create_function(fn_name, {"app.py": RAISER}, handler="app.nope")
    resp, out = invoke_json(lam, fn_name)
    assert_unhandled(resp, out, "Runtime.HandlerNotFound")
    assert "nope" in out["errorMessage"]


def test_init_failure_is_retried_after_code_fix(lam: Any, create_function: Any, fn_name: str) -> None:
    from e2e_support import make_zip

    create_function(fn_name, {"app.py": RAISER}, handler="app.nope")
    assert invoke_json(lam, fn_name)[0].get("FunctionError") == "Unhandled"
    lam.update_function_code(FunctionName=fn_name,
                             ZipFile=make_zip({"app.py": "def nope(e, c):\n    return 'found'\n"}))
    resp, out = invoke_json(lam, fn_name)
    assert "FunctionError" not in resp, out
    assert out == "found"


def test_timeout_then_next_invoke_works(lam: Any, create_function: Any, fn_name: str) -> None:
    create_function(fn_name, {"app.py": SLEEPER}, Timeout=1)
    wait_active(lam, fn_name)
    assert invoke_json(lam, fn_name)[1] == "awake"  # warm up so the cold start does not count
    t0 = time.monotonic()
    resp, out = invoke_json(lam, fn_name, {"sleep": 5})
    elapsed = time.monotonic() - t0
    assert resp.get("FunctionError") == "Unhandled"
    assert "Task timed out after 1.00 seconds" in out["errorMessage"], out
    assert 0.9 <= elapsed < 4, f"timeout must fire after ~1 s, took {elapsed:.2f} s"
    resp, out = invoke_json(lam, fn_name)
    assert "FunctionError" not in resp, out
    assert out == "awake"


def test_exit_then_next_invoke_works(lam: Any, create_function: Any, fn_name: str) -> None:
    create_function(fn_name, {"app.py": EXITER})
    t0 = time.monotonic()
    resp, out = invoke_json(lam, fn_name, {"exit": True})
    assert time.monotonic() - t0 < 10
    assert_unhandled(resp, out, "Runtime.ExitError")
    resp, out = invoke_json(lam, fn_name)
    assert "FunctionError" not in resp, out
    assert out == "alive"


def test_non_serialisable_result(lam: Any, create_function: Any, fn_name: str) -> None:
    code = "def handler(event, context):\n    if event.get('bad'):\n        return {'s': {1, 2}}\n    return 'ok'\n"
    create_function(fn_name, {"app.py": code})
    resp, out = invoke_json(lam, fn_name, {"bad": True})
    assert_unhandled(resp, out, "Runtime.MarshalError")
    assert invoke_json(lam, fn_name)[1] == "ok"


def test_handler_returning_none(lam: Any, create_function: Any, fn_name: str) -> None:
    create_function(fn_name, {"app.py": "def handler(event, context):\n    pass\n"})
    resp = lam.invoke(FunctionName=fn_name, Payload=b"{}")
    assert "FunctionError" not in resp
    assert resp["Payload"].read() == b"null"


def test_syntax_error_in_module(lam: Any, create_function: Any, fn_name: str) -> None:
    create_function(fn_name, {"app.py": "def handler(event, context)\n    return 1\n"})
    resp, out = invoke_json(lam, fn_name)
    assert_unhandled(resp, out, "Runtime.UserCodeSyntaxError")


NAPPER = """
import time
def handler(event, context):
    if "mark" in event:  # the process's name (PR_SET_NAME), so the test finds this instance on the host
        import ctypes
        ctypes.CDLL(None).prctl(15, event["mark"].encode(), 0, 0, 0)
    time.sleep(event.get("sleep", 0))
    return "slept"
"""


def _gone(pid: int, timeout: float = 10) -> bool:
    import os

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        try:  # reap-free check: a zombie still answers kill(0); treat Z state as gone
            with open(f"/proc/{pid}/stat") as f:
                if f.read().split(") ", 1)[1].startswith("Z"):
                    return True
        except OSError:
            return True
        time.sleep(0.1)
    return False


def _ppid(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(") ", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return 0


def _instance_processes(mark: str, server_pid: int) -> set[int]:
    """Host pids of the instance whose runtime renamed itself `mark`: the runtime process and its sandbox's
    processes up to (not including) the server or the zygote that forked it."""
    found: set[int] = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() == mark:
                    found.add(int(entry.name))
            except OSError:
                continue
    for runtime in list(found):
        parent = _ppid(runtime)
        while parent and parent != server_pid:
            try:
                zygote = b"zygote_main.py" in Path(f"/proc/{parent}/cmdline").read_bytes()
            except OSError:
                break
            if zygote and _ppid(parent) == server_pid:
                break
            found.add(parent)
            parent = _ppid(parent)
    return found


def _all_gone(pids: set[int], timeout: float = 10) -> bool:
    return all(_gone(pid, timeout) for pid in pids)


def test_timed_out_instance_is_killed(server: Any, lam: Any, create_function: Any, fn_name: str) -> None:
    create_function(fn_name, {"app.py": NAPPER}, Timeout=1)
    mark = f"nap{uuid.uuid4().hex[:12]}"
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        call = pool.submit(invoke_json, lam, fn_name, {"sleep": 30, "mark": mark})
        deadline = time.monotonic() + 10
        while not (instance := _instance_processes(mark, server.process.pid)) and time.monotonic() < deadline:
            time.sleep(0.02)
        resp, out = call.result()
    assert resp.get("FunctionError") == "Unhandled", out
    assert instance, "the invoke started no instance"
    assert _all_gone(instance), f"function processes {instance} still running after the timeout"


def test_deleted_function_instances_stop(server: Any, lam: Any, fn_name: str) -> None:
    from e2e_support import ROLE, make_zip

    lam.create_function(FunctionName=fn_name, Runtime="python3.11", Role=ROLE, Handler="app.handler",
                        Code={"ZipFile": make_zip({"app.py": NAPPER})})
    wait_active(lam, fn_name)
    mark = f"nap{uuid.uuid4().hex[:12]}"
    invoke_json(lam, fn_name, {"sleep": 0, "mark": mark})
    spawned = _instance_processes(mark, server.process.pid)
    assert spawned, "the invoke started no instance process"
    lam.delete_function(FunctionName=fn_name)
    assert _all_gone(spawned), f"warm instance processes {spawned} of a deleted function are still running"