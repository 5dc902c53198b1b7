"""Custom runtimes (`provided*`) through a real server: real Runtime API clients (curl, awslambdaric), every error
path, warm reuse, layers, and the endpoint's reachability."""

from __future__ import annotations

import base64
import contextlib
import http.client
import importlib.util
import json
import shutil
import socket
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from e2e_support import arn, delete_functions, invoke_json
from runtime_api_support import ROLE, add_tree, shell_bootstrap, zip_with_modes

pytestmark = pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")

PY = f"python3.{sys.version_info.minor}"  # the shim's python: the server's own minor (see runtimes/registry.py)


@pytest.fixture
def provided(lam: Any) -> Iterator[Any]:
    """Create a `provided.al2023` function from files (bootstrap executable); deleted at test end."""
    created: list[str] = []

    def _create(name: str, files: dict[str, str | bytes], **kwargs: Any) -> Any:
        kwargs.setdefault("Runtime", "provided.al2023")
        kwargs.setdefault("Handler", "function.handler")
        executable = kwargs.pop("executable", ("bootstrap",))
        resp = lam.create_function(FunctionName=name, Role=ROLE, Code={"ZipFile": zip_with_modes(files, executable)},
                                   **kwargs)
        created.append(name)
        return resp

    yield _create
    delete_functions(lam, created)


def tail(resp: dict[str, Any]) -> str:
    return base64.b64decode(resp["LogResult"]).decode()


# -- happy paths --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("runtime", ["provided", "provided.al2", "provided.al2023"])
def test_runtime_names_are_accepted(lam: Any, provided: Any, fn_name: str, runtime: str) -> None:
    name = fn_name.replace(".", "-")
    provided(name, {"bootstrap": shell_bootstrap()}, Runtime=runtime)
    assert invoke_json(lam, name, {"r": runtime})[1]["echo"] == {"r": runtime}


@pytest.mark.parametrize("network", ["host", "none"])
def test_shell_curl_bootstrap(lam: Any, provided: Any, fn_name: str, network: str) -> None:
    provided(fn_name, {"bootstrap": shell_bootstrap()}, Tags={"nimbus:network": network})
    resp, out = invoke_json(lam, fn_name, {"hello": "world", "n": [1, 2]}, LogType="Tail")
    assert resp.get("FunctionError") is None
    assert out["echo"] == {"hello": "world", "n": [1, 2]}
    assert out["count"] == 1
    assert out["handler"] == "function.handler"
    assert out["task_root"] == "/var/task"
    assert out["cwd"] == "/var/task"
    assert out["exec_env"] == ""  # Lambda sets no AWS_EXECUTION_ENV for custom runtimes
    assert out["arn"] == arn(fn_name)
    assert int(out["deadline"]) > 0
    host, _, port = out["api"].partition(":")
    assert host == "127.0.0.1"
    if network == "none":
        assert port == "9001"  # its own network namespace, loopback brought up inside
    log = tail(resp)
    assert f"handled {out['rid']}" in log
    assert log.index(f"START RequestId: {out['rid']}") < log.index(f"handled {out['rid']}") < log.index("END ")
    # warm reuse: the same bootstrap process serves the next invocation
    second = invoke_json(lam, fn_name, {"again": True})[1]
    assert second["pid"] == out["pid"]
    assert second["count"] == 2
    assert second["rid"] != out["rid"]


def test_headers_on_next(lam: Any, provided: Any, fn_name: str) -> None:
    provided(fn_name, {"bootstrap": shell_bootstrap()})
    resp = lam.invoke(FunctionName=f"{fn_name}", Payload=b"{}")
    out = json.loads(resp["Payload"].read())
    assert out["rid"] == resp["ResponseMetadata"]["RequestId"]
    lam.publish_version(FunctionName=fn_name)
    out = invoke_json(lam, fn_name, {}, Qualifier="1")[1]
    assert out["arn"] == arn(fn_name) + ":1"  # the ARN as invoked


def test_bootstrap_from_layer(lam: Any, provided: Any, fn_name: str) -> None:
    layer = f"{fn_name[:40]}-{uuid.uuid4().hex[:8]}"
    content = zip_with_modes({"bootstrap": shell_bootstrap()})
    version = lam.publish_layer_version(LayerName=layer, Content={"ZipFile": content},
                                        CompatibleRuntimes=["provided.al2023"])
    try:
        provided(fn_name, {"function.sh": "# no bootstrap here\n"}, executable=(),
                 Layers=[version["LayerVersionArn"]])
        resp, out = invoke_json(lam, fn_name, {"from": "layer"})
        assert resp.get("FunctionError") is None
        assert out["echo"] == {"from": "layer"}
    finally:
        lam.delete_layer_version(LayerName=layer, VersionNumber=version["Version"])


def _awslambdaric_files(handler_code: str, bootstrap_handler: str = "$_HANDLER") -> dict[str, str | bytes]:
    site = Path(importlib.util.find_spec("awslambdaric").origin).parent.parent  # type: ignore[arg-type,union-attr]
    files: dict[str, str | bytes] = {
        "bootstrap": f"#!/bin/sh\nexport PYTHONPATH=/var/task/lib:/var/task\n"
                     f"exec /var/lang/bin/{PY} -m awslambdaric {bootstrap_handler}\n",
        "app.py": handler_code,
    }
    for package in ("awslambdaric", "simplejson"):
        add_tree(files, site / package, "lib")
    for single in [*site.glob("runtime_client*.so"), site / "snapshot_restore_py.py"]:
        files[f"lib/{single.name}"] = single.read_bytes()
    return files


RIC_APP = """
import os
def handler(event, context):
    print("from the handler", context.aws_request_id)
    return {"event": event, "rid": context.aws_request_id, "fn": context.function_name,
            "arn": context.invoked_function_arn, "mem": context.memory_limit_in_mb,
            "remaining": context.get_remaining_time_in_millis(), "pid": os.getpid()}

class CustomError(Exception):
    pass

def fail(event, context):
    raise CustomError("it went wrong")
"""


@pytest.fixture
def awslambdaric_site() -> None:
    """awslambdaric is a pinned test dependency: its absence is a broken install, not a reason to skip."""
    assert importlib.util.find_spec("awslambdaric") is not None, "run `make install`: awslambdaric is missing"


@pytest.mark.usefixtures("awslambdaric_site")
def test_awslambdaric(lam: Any, provided: Any, fn_name: str) -> None:
    provided(fn_name, _awslambdaric_files(RIC_APP), Handler="app.handler", MemorySize=256, Timeout=10)
    resp, out = invoke_json(lam, fn_name, {"x": 1}, LogType="Tail")
    assert resp.get("FunctionError") is None, out
    assert out["event"] == {"x": 1}
    assert out["rid"] == resp["ResponseMetadata"]["RequestId"]
    assert out["fn"] == fn_name
    assert out["arn"] == arn(fn_name)
    assert out["mem"] == "256"
    assert 0 < out["remaining"] <= 10_000
    assert f"from the handler {out['rid']}" in tail(resp)
    again = invoke_json(lam, fn_name, {"x": 2})[1]
    assert again["pid"] == out["pid"]  # warm: the same runtime process


@pytest.mark.usefixtures("awslambdaric_site")
def test_awslambdaric_errors(lam: Any, provided: Any, fn_name: str) -> None:
    provided(fn_name, _awslambdaric_files(RIC_APP), Handler="app.fail")
    resp, out = invoke_json(lam, fn_name, {})
    assert resp["FunctionError"] == "Unhandled"
    assert out["errorType"] == "CustomError"
    assert out["errorMessage"] == "it went wrong"
    assert isinstance(out["stackTrace"], list)
    lam.update_function_configuration(FunctionName=fn_name, Handler="missing_module.handler")
    resp, out = invoke_json(lam, fn_name, {})
    assert resp["FunctionError"] == "Unhandled"
    assert out["errorType"] == "Runtime.ImportModuleError"


# -- error paths --------------------------------------------------------------------------------------------------


INIT_ERROR = r"""
curl -sS -X POST "$API/init/error" -H "Lambda-Runtime-Function-Error-Type: Custom.InitBroken" \
  --data-binary '{"errorMessage":"config missing","errorType":"Custom.InitBroken"}'
exit 1
"""


def test_init_error(lam: Any, provided: Any, fn_name: str) -> None:
    provided(fn_name, {"bootstrap": shell_bootstrap(init=INIT_ERROR)})
    resp, out = invoke_json(lam, fn_name, {}, LogType="Tail")
    assert resp["FunctionError"] == "Unhandled"
    assert out == {"errorMessage": "config missing", "errorType": "Custom.InitBroken"}
    assert "Error Type: Custom.InitBroken" in tail(resp)


def test_invocation_error_with_type(lam: Any, provided: Any, fn_name: str) -> None:
    handle = r"""
  case "$EVENT" in
    *json*) RESPONSE='{"errorMessage":"bad input","errorType":"InputError","stackTrace":["a","b"]}' ;;
    *) RESPONSE='plain text failure' ;;
  esac
  ERROR_TYPE=Custom.Failure
"""
    provided(fn_name, {"bootstrap": shell_bootstrap(handle)})
    resp, out = invoke_json(lam, fn_name, {"mode": "json"})
    assert resp["FunctionError"] == "Unhandled"
    assert out == {"errorMessage": "bad input", "errorType": "InputError", "stackTrace": ["a", "b"]}
    resp, out = invoke_json(lam, fn_name, {"mode": "text"})
    assert resp["FunctionError"] == "Unhandled"
    assert out == {"errorMessage": "plain text failure", "errorType": "Custom.Failure"}


def test_missing_bootstrap(lam: Any, provided: Any, fn_name: str) -> None:
    provided(fn_name, {"function.sh": "echo hi\n"}, executable=())
    resp, out = invoke_json(lam, fn_name, {})
    assert resp["FunctionError"] == "Unhandled"
    assert out["errorType"] == "Runtime.InvalidEntrypoint"
    assert "/var/task/bootstrap" in out["errorMessage"]


def test_bootstrap_not_executable(lam: Any, provided: Any, fn_name: str) -> None:
    provided(fn_name, {"bootstrap": shell_bootstrap()}, executable=())
    resp, out = invoke_json(lam, fn_name, {})
    assert resp["FunctionError"] == "Unhandled"
    assert out["errorType"] == "Runtime.InvalidEntrypoint"
    assert "executable" in out["errorMessage"]


def test_bootstrap_exits_at_init(lam: Any, provided: Any, fn_name: str) -> None:
    provided(fn_name, {"bootstrap": "#!/bin/sh\necho starting up\nexit 3\n"})
    resp, out = invoke_json(lam, fn_name, {}, LogType="Tail")
    assert resp["FunctionError"] == "Unhandled"
    assert out["errorType"] == "Runtime.ExitError"
    assert out["errorMessage"].endswith("Runtime exited with error: exit status 3")
    assert "starting up" in tail(resp)


def test_bootstrap_exits_mid_invoke_and_is_replaced(lam: Any, provided: Any, fn_name: str) -> None:
    handle = r"""
  case "$EVENT" in *die*) echo "dying"; exit 7 ;; esac
""" + "  " + "RESPONSE=$(printf '{\"pid\":%d}' \"$$\")\n"
    provided(fn_name, {"bootstrap": shell_bootstrap(handle)})
    first = invoke_json(lam, fn_name, {})[1]
    resp, out = invoke_json(lam, fn_name, {"die": True})
    assert resp["FunctionError"] == "Unhandled"
    assert out["errorType"] == "Runtime.ExitError"
    assert out["errorMessage"].endswith("exit status 7")
    after = invoke_json(lam, fn_name, {})
    assert after[0].get("FunctionError") is None
    assert after[1]["pid"] > 0
    assert first["pid"] > 0


def test_bootstrap_hangs_in_invoke_times_out(lam: Any, provided: Any, fn_name: str) -> None:
    handle = r"""
  case "$EVENT" in *hang*) sleep 30 ;; esac
  RESPONSE='"ok"'
"""
    provided(fn_name, {"bootstrap": shell_bootstrap(handle)}, Timeout=1)
    resp, out = invoke_json(lam, fn_name, {"hang": True})
    assert resp["FunctionError"] == "Unhandled"
    assert out["errorType"] == "Sandbox.Timedout"
    assert invoke_json(lam, fn_name, {})[1] == "ok"  # replaced


def test_bootstrap_never_calls_next(lam: Any, provided: Any, fn_name: str) -> None:
    provided(fn_name, {"bootstrap": "#!/bin/sh\necho waiting forever\nexec sleep 600\n"}, Timeout=3)
    resp, out = invoke_json(lam, fn_name, {})
    assert resp["FunctionError"] == "Unhandled"
    assert out["errorType"] == "Sandbox.Timedout"


PROBE = r"""#!/bin/sh
exec /var/lang/bin/python3 -u - <<'EOF'
import http.client, json, os
host, port = os.environ["AWS_LAMBDA_RUNTIME_API"].split(":")
B = "/2018-06-01/runtime"

def call(method, path, body=None, headers=None):
    c = http.client.HTTPConnection(host, int(port))
    c.request(method, path, body=body, headers=headers or {})
    r = c.getresponse()
    data = r.read()
    c.close()
    return r, [r.status, json.loads(data) if data else None]

probes = {}
probes["unknown_path"] = call("GET", B + "/nope")[1]
probes["wrong_method"] = call("POST", B + "/invocation/next", b"")[1]
probes["response_during_init"] = call("POST", B + "/invocation/abc/response", b"{}")[1]
while True:
    r, answer = call("GET", B + "/invocation/next")
    rid = r.getheader("Lambda-Runtime-Aws-Request-Id")
    event = answer[1]
    if event.get("step") == "probe":
        probes["next_while_invoking"] = call("GET", B + "/invocation/next")[1]
        probes["unknown_id"] = call("POST", B + "/invocation/not-a-request/response", b"{}")[1]
        probes["first"] = call("POST", f"{B}/invocation/{rid}/response", b'{"first":true}')[1]
        probes["second"] = call("POST", f"{B}/invocation/{rid}/response", b'{"second":true}')[1]
        probes["error_after_response"] = call("POST", f"{B}/invocation/{rid}/error", b"{}")[1]
        probes["init_error_after_init"] = call("POST", B + "/init/error", b"{}")[1]
    elif event.get("step") == "big":
        probes["too_large"] = call("POST", f"{B}/invocation/{rid}/response", b'"' + b"x" * 6291556 + b'"')[1]
    else:
        call("POST", f"{B}/invocation/{rid}/response", json.dumps(probes).encode())
EOF
"""


def test_runtime_api_error_answers(lam: Any, provided: Any, fn_name: str) -> None:
    provided(fn_name, {"bootstrap": PROBE}, MemorySize=512)
    assert invoke_json(lam, fn_name, {"step": "probe"})[1] == {"first": True}
    resp, big = invoke_json(lam, fn_name, {"step": "big"})
    assert resp["FunctionError"] == "Unhandled"
    assert big["errorType"] == "Function.ResponseSizeTooLarge"
    probes = invoke_json(lam, fn_name, {"step": "report"})[1]

    def answer(name: str) -> tuple[int, str]:
        status, body = probes[name]
        assert set(body) == {"errorType", "errorMessage"}
        return status, body["errorType"]

    assert answer("unknown_path")[0] == 404
    assert answer("wrong_method")[0] == 405
    assert answer("response_during_init") == (400, "InvalidRequestID")
    assert answer("next_while_invoking") == (403, "InvalidStateTransition")
    assert probes["unknown_id"] == [400, {"errorType": "InvalidRequestID", "errorMessage": "Invalid request ID"}]
    assert probes["first"] == [202, {"status": "OK"}]
    assert answer("second") == (403, "InvalidStateTransition")
    assert answer("error_after_response") == (403, "InvalidStateTransition")
    assert answer("init_error_after_init") == (403, "InvalidStateTransition")
    assert probes["too_large"] == [413, {
        "errorType": "RequestEntityTooLarge",
        "errorMessage": "Exceeded maximum allowed payload size (6291556 bytes).",
    }]


def test_runtime_api_unreachable_from_outside(lam: Any, provided: Any, fn_name: str) -> None:
    provided(fn_name, {"bootstrap": shell_bootstrap()})  # the host's network: loopback is shared with the host
    out = invoke_json(lam, fn_name, {})[1]
    host, _, port = out["api"].partition(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    with contextlib.suppress(ConnectionError):  # the close may already reset the connection
        conn.request("GET", "/2018-06-01/runtime/invocation/next")
    with pytest.raises((http.client.RemoteDisconnected, ConnectionError, socket.timeout)):
        conn.getresponse()
    conn.close()
    # and the function still works (the refused connection took nothing away from it)
    assert invoke_json(lam, fn_name, {"still": "ok"})[1]["echo"] == {"still": "ok"}
