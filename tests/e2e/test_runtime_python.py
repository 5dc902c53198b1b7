"""Inside the Python execution environment: handler resolution, context, env vars, warm reuse."""

from __future__ import annotations

import base64
import json
import re
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from e2e_support import LOG_STREAM_RE, arn, invoke_json, wait_active

CONTEXT_HANDLER = """
def handler(event, context):
    cc = context.client_context
    ident = context.identity
    return {
        "aws_request_id": context.aws_request_id,
        "function_name": context.function_name,
        "function_version": context.function_version,
        "invoked_function_arn": context.invoked_function_arn,
        "memory_limit_in_mb": context.memory_limit_in_mb,
        "log_group_name": context.log_group_name,
        "log_stream_name": context.log_stream_name,
        "remaining": context.get_remaining_time_in_millis(),
        "has_identity": ident is not None and hasattr(ident, "cognito_identity_id")
                        and hasattr(ident, "cognito_identity_pool_id"),
        "client_context": None if cc is None else {
            "custom": cc.custom,
            "env": cc.env,
            "installation_id": getattr(cc.client, "installation_id", None) if cc.client is not None else None,
            "app_title": getattr(cc.client, "app_title", None) if cc.client is not None else None,
        },
    }
"""

ENV_HANDLER = """
import os
def handler(event, context):
    return dict(os.environ)
"""

INIT_HANDLER = """
import os, time, uuid
INSTANCE = uuid.uuid4().hex
PID = os.getpid()
INIT_COUNT = 0
INIT_COUNT += 1
CALLS = 0
def handler(event, context):
    global CALLS
    CALLS += 1
    return {"instance": INSTANCE, "pid": PID, "init_count": INIT_COUNT, "calls": CALLS}
"""


def test_handler_module_function(lam: Any, create_function: Any, fn_name: str) -> None:
    create_function(fn_name, {"service.py": 'def entry(event, context):\n    return {"from": "service.entry"}\n'},
                    handler="service.entry")
    assert invoke_json(lam, fn_name)[1] == {"from": "service.entry"}


def test_handler_in_package_path(lam: Any, create_function: Any, fn_name: str) -> None:
    files = {
        "pkg/mod.py": "from pkg import helper\ndef handler(event, context):\n    return helper.value()\n",
        "pkg/helper.py": 'def value():\n    return "nested"\n',
    }
    create_function(fn_name, files, handler="pkg/mod.handler")
    resp, out = invoke_json(lam, fn_name)
    assert "FunctionError" not in resp, out
    assert out == "nested"


def test_handler_imports_sibling_modules_and_reads_data_files(lam: Any, create_function: Any, fn_name: str) -> None:
    files = {
        "app.py": "import util, os\ndef handler(event, context):\n"
                  "    return util.f() + open(os.path.join(os.path.dirname(__file__), 'data.txt')).read()\n",
        "util.py": 'def f():\n    return "util+"\n',
        "data.txt": "data",
    }
    create_function(fn_name, files)
    assert invoke_json(lam, fn_name)[1] == "util+data"


def test_context_attributes(lam: Any, create_function: Any, fn_name: str) -> None:
    create_function(fn_name, {"app.py": CONTEXT_HANDLER}, Timeout=5, MemorySize=256)
    wait_active(lam, fn_name)
    resp, ctx = invoke_json(lam, fn_name)
    assert "FunctionError" not in resp, ctx
    assert ctx["aws_request_id"] == resp["ResponseMetadata"]["RequestId"]
    assert ctx["function_name"] == fn_name
    assert ctx["function_version"] == "$LATEST"
    assert ctx["invoked_function_arn"] == arn(fn_name)
    assert str(ctx["memory_limit_in_mb"]) == "256"
    assert ctx["log_group_name"] == f"/aws/lambda/{fn_name}"
    assert re.match(LOG_STREAM_RE, ctx["log_stream_name"]), ctx["log_stream_name"]
    assert 0 < ctx["remaining"] <= 5000
    assert ctx["remaining"] > 3000, "almost the whole timeout should remain at handler entry"
    assert ctx["has_identity"] is True
    assert ctx["client_context"] is None


def test_context_invoked_arn_reflects_qualifier(lam: Any, create_function: Any, fn_name: str) -> None:
    create_function(fn_name, {"app.py": CONTEXT_HANDLER})
    _, ctx = invoke_json(lam, arn(fn_name) + ":$LATEST")
    assert ctx["invoked_function_arn"] == arn(fn_name) + ":$LATEST"
    assert ctx["function_version"] == "$LATEST"


def test_client_context_round_trip(lam: Any, create_function: Any, fn_name: str) -> None:
    create_function(fn_name, {"app.py": CONTEXT_HANDLER})
    client_context = {
        "client": {"installation_id": "inst-1", "app_title": "Nimbus Test", "app_version_name": "1.0",
                   "app_version_code": "1", "app_package_name": "io.nimbus"},
        "custom": {"user": "ünïcode", "n": 7},
        "env": {"platform": "linux", "locale": "en_GB"},
    }
    encoded = base64.b64encode(json.dumps(client_context).encode()).decode()
    resp, ctx = invoke_json(lam, fn_name, ClientContext=encoded)
    assert "FunctionError" not in resp, ctx
    assert ctx["client_context"] == {
        "custom": {"user": "ünïcode", "n": 7},
        "env": {"platform": "linux", "locale": "en_GB"},
        "installation_id": "inst-1",
        "app_title": "Nimbus Test",
    }


def test_environment_variables(lam: Any, create_function: Any, fn_name: str) -> None:
    create_function(fn_name, {"app.py": ENV_HANDLER}, MemorySize=192,
                    Environment={"Variables": {"MY_VAR": "my value", "OTHER": "ü✓"}})
    resp, env = invoke_json(lam, fn_name)
    assert "FunctionError" not in resp, env
    assert env["MY_VAR"] == "my value"
    assert env["OTHER"] == "ü✓"
    assert env["AWS_LAMBDA_FUNCTION_NAME"] == fn_name
    assert env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "192"
    assert env["AWS_LAMBDA_FUNCTION_VERSION"] == "$LATEST"
    assert env["AWS_LAMBDA_LOG_GROUP_NAME"] == f"/aws/lambda/{fn_name}"
    assert re.match(LOG_STREAM_RE, env["AWS_LAMBDA_LOG_STREAM_NAME"]), env["AWS_LAMBDA_LOG_STREAM_NAME"]
    assert env["AWS_REGION"] == "us-east-1"
    assert env["AWS_DEFAULT_REGION"] == "us-east-1"
    assert env["_HANDLER"] == "app.handler"
    assert env["LAMBDA_TASK_ROOT"]
    assert env["LAMBDA_RUNTIME_DIR"]
    assert env["TZ"] in (":UTC", "UTC"), env["TZ"]
    assert not [k for k in env if k.startswith("NIMBUS_")], "server settings leaked into the function"


def test_task_root_holds_the_code(lam: Any, create_function: Any, fn_name: str) -> None:
    code = (
        "import os\ndef handler(event, context):\n"
        "    root = os.environ['LAMBDA_TASK_ROOT']\n"
        "    return {'app': os.path.isfile(os.path.join(root, 'app.py')),\n"
        "            'file_in_root': os.path.dirname(os.path.abspath(__file__)) == os.path.abspath(root)}\n"
    )
    create_function(fn_name, {"app.py": code})
    assert invoke_json(lam, fn_name)[1] == {"app": True, "file_in_root": True}


def test_stream_name_matches_between_env_and_context(lam: Any, create_function: Any, fn_name: str) -> None:
    code = "import os\ndef handler(e, c):\n    return [os.environ['AWS_LAMBDA_LOG_STREAM_NAME'], c.log_stream_name]\n"
    create_function(fn_name, {"app.py": code})
    env_stream, ctx_stream = invoke_json(lam, fn_name)[1]
    assert env_stream == ctx_stream


def test_module_init_runs_once_per_instance(lam: Any, create_function: Any, fn_name: str) -> None:
    create_function(fn_name, {"app.py": INIT_HANDLER})
    wait_active(lam, fn_name)
    outs = [invoke_json(lam, fn_name)[1] for _ in range(4)]
    assert len({o["instance"] for o in outs}) == 1, "sequential invokes must reuse the warm instance"
    assert [o["calls"] for o in outs] == [1, 2, 3, 4]
    assert all(o["init_count"] == 1 for o in outs)


def test_concurrent_invokes_use_separate_instances(lam: Any, create_function: Any, fn_name: str) -> None:
    code = INIT_HANDLER.replace("    CALLS += 1\n", "    CALLS += 1\n    time.sleep(1.0)\n")
    create_function(fn_name, {"app.py": code})
    wait_active(lam, fn_name)
    with ThreadPoolExecutor(3) as pool:
        outs = list(pool.map(lambda _: invoke_json(lam, fn_name), range(3)))
    for resp, out in outs:
        assert "FunctionError" not in resp, out
    # one instance handles one invocation at a time
    assert len({o["instance"] for _, o in outs}) == 3
    assert all(o["calls"] == 1 for _, o in outs)


def test_stdout_is_not_the_response(lam: Any, create_function: Any, fn_name: str) -> None:
    code = ("import sys\ndef handler(e, c):\n    print('noise')\n    sys.stdout.write('more noise')\n"
            "    sys.stderr.write('err noise\\n')\n    return {'clean': True}\n")
    create_function(fn_name, {"app.py": code})
    resp = lam.invoke(FunctionName=fn_name, Payload=b"{}")
    assert json.loads(resp["Payload"].read()) == {"clean": True}


TAMPER = """
import os
# {marker}
def handler(event, context):
    if event.get("tamper"):
        target = os.path.join(os.environ["LAMBDA_TASK_ROOT"], "app.py")
        try:
            with open(target, "a") as f:
                f.write("\\ndef handler(event, context):\\n    return 'tampered'\\n")
            return {{"wrote": True}}
        except OSError as exc:
            return {{"wrote": False, "error": type(exc).__name__}}
    return "pristine"
"""


def test_task_root_is_read_only(lam: Any, create_function: Any, fn_name: str) -> None:
    create_function(fn_name, {"app.py": TAMPER.format(marker=fn_name)})
    _, out = invoke_json(lam, fn_name, {"tamper": True})
    assert out["wrote"] is False, "LAMBDA_TASK_ROOT (function code) must be read-only to the function"


def test_function_cannot_change_another_functions_code(lam: Any, fn_name: str) -> None:
    """Two functions deployed from the same zip: one rewriting its code must not affect the other."""
    from e2e_support import ROLE, make_zip

    zip_bytes = make_zip({"app.py": TAMPER.format(marker=fn_name + "-shared")})
    names = [f"{fn_name[:55]}-a", f"{fn_name[:55]}-b"]
    for name in names:
        lam.create_function(FunctionName=name, Runtime="python3.11", Role=ROLE, Handler="app.handler",
                            Code={"ZipFile": zip_bytes})
    try:
        invoke_json(lam, names[0], {"tamper": True})
        _, out = invoke_json(lam, names[1])  # a cold start of the other function
        assert out == "pristine", "one function's write altered another function's code"
        got = lam.get_function(FunctionName=names[1])["Code"]["Location"]
        from e2e_support import http, sha256_b64

        assert sha256_b64(http(got)[2]) == sha256_b64(zip_bytes)
    finally:
        for name in names:
            lam.delete_function(FunctionName=name)
