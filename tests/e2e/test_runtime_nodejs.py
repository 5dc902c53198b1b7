"""The Node.js runtime through a real server: CommonJS and ES modules, callbacks, folders, errors, logs, layers,
warm reuse, and which nodejsNN.x names this host accepts.

Each test runs twice: on the host's own node, and on a Node.js that `nimbus runtime install` put into the server's
data dir (nodejs22.x, or nodejs24.x on a host whose node is 22), which the sandbox mounts at /var/lang as it mounts
the host's. The install really downloads the pinned wheel from PyPI, once: the wheel stays in the download cache
(~/.cache/nimbus/wheels), so later runs only unpack it (about 3 s).
"""

from __future__ import annotations

import base64
import subprocess
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from e2e_support import NIMBUS, ROLE, Server, arn, delete_functions, invoke_json, make_zip, start_server

from nimbus.runtimes.registry import node_binary

NODE = node_binary()
HOST_RUNTIME = f"nodejs{NODE[1]}.x" if NODE else "nodejs20.x"
#: the runtime installed for these tests: one the host's node is not
INSTALLED = "nodejs24.x" if NODE and NODE[1] == 22 else "nodejs22.x"


@pytest.fixture(scope="session")
def installed_node(server: Server) -> str:
    """INSTALLED, installed into the session server's data dir by the real `nimbus runtime install` (which the
    running server serves at once). Skipped only when PyPI cannot be reached from here; any other failure fails."""
    cmd = [*NIMBUS, "runtime", "install", INSTALLED, "--data-dir", str(server.data_dir)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=server.env)
    if proc.returncode != 0 and "cannot read" in proc.stderr:
        pytest.skip(f"{INSTALLED} cannot be installed here, PyPI is out of reach: {proc.stderr.strip()}")
    assert proc.returncode == 0, proc.stderr
    return INSTALLED


@pytest.fixture(params=["host", "installed"])
def runtime(request: pytest.FixtureRequest) -> str:
    """The nodejsNN.x a test's functions run on: the host's node, or the installed one."""
    if request.param == "installed":
        return str(request.getfixturevalue("installed_node"))
    if NODE is None:
        pytest.skip("the host has no node")
    return HOST_RUNTIME


@pytest.fixture
def node_fn(lam: Any, runtime: str) -> Iterator[Any]:
    created: list[str] = []

    def _create(name: str, files: dict[str, str | bytes], handler: str = "index.handler", **kwargs: Any) -> Any:
        kwargs.setdefault("Runtime", runtime)
        resp = lam.create_function(FunctionName=name, Role=ROLE, Handler=handler,
                                   Code={"ZipFile": make_zip(files)}, **kwargs)
        created.append(name)
        return resp

    yield _create
    delete_functions(lam, created)


CJS_ASYNC = """
let calls = 0;
const started = Date.now() + Math.random();
exports.handler = async (event, context) => {
  calls += 1;
  console.log('handling', context.awsRequestId);
  return {
    event, calls, started, pid: process.pid,
    awsRequestId: context.awsRequestId, functionName: context.functionName,
    functionVersion: context.functionVersion, invokedFunctionArn: context.invokedFunctionArn,
    memoryLimitInMB: context.memoryLimitInMB, logGroupName: context.logGroupName,
    logStreamName: context.logStreamName, remaining: context.getRemainingTimeInMillis(),
    waits: context.callbackWaitsForEmptyEventLoop,
    execEnv: process.env.AWS_EXECUTION_ENV, nodePath: process.env.NODE_PATH,
    taskRoot: process.env.LAMBDA_TASK_ROOT, runtimeApi: process.env.AWS_LAMBDA_RUNTIME_API ?? null,
    node: process.version, execPath: process.execPath,
  };
};
"""


def test_commonjs_async_context_env_logs_and_warm_reuse(lam: Any, node_fn: Any, fn_name: str, runtime: str) -> None:
    node_fn(fn_name, {"index.js": CJS_ASYNC}, MemorySize=256)
    resp, out = invoke_json(lam, fn_name, {"a": 1}, LogType="Tail")
    assert resp.get("FunctionError") is None, out
    assert out["event"] == {"a": 1}
    assert out["awsRequestId"] == resp["ResponseMetadata"]["RequestId"]
    assert out["functionName"] == fn_name
    assert out["functionVersion"] == "$LATEST"
    assert out["invokedFunctionArn"] == arn(fn_name)
    assert str(out["memoryLimitInMB"]) == "256"
    assert out["logGroupName"] == f"/aws/lambda/{fn_name}"
    assert out["logStreamName"]
    assert 0 < out["remaining"] <= 3000
    assert out["waits"] is True
    assert out["execEnv"] == f"AWS_Lambda_{runtime}"
    major = runtime.removeprefix("nodejs").removesuffix(".x")
    assert out["node"].startswith(f"v{major}."), "the runtime's own node runs it"
    assert out["nodePath"] == (f"/opt/nodejs/node{major}/node_modules:/opt/nodejs/node_modules:"
                               "/var/runtime/node_modules:/var/runtime:/var/task")
    assert out["taskRoot"] == "/var/task"
    assert out["runtimeApi"] is None  # built-in runtime: frames, no Runtime API
    log = base64.b64decode(resp["LogResult"]).decode()
    assert f"\t{out['awsRequestId']}\tINFO\thandling {out['awsRequestId']}" in log
    again = invoke_json(lam, fn_name, {"a": 2})[1]
    assert (again["calls"], again["started"], again["pid"]) == (2, out["started"], out["pid"])


def test_commonjs_callback(lam: Any, node_fn: Any, fn_name: str) -> None:
    code = "exports.handler = (event, context, callback) => { setTimeout(() => callback(null, {cb: event.v}), 5); };"
    node_fn(fn_name, {"index.js": code})
    assert invoke_json(lam, fn_name, {"v": 42})[1] == {"cb": 42}


def test_callback_error(lam: Any, node_fn: Any, fn_name: str) -> None:
    code = "exports.handler = (event, context, callback) => callback(new RangeError('out of range'));"
    node_fn(fn_name, {"index.js": code})
    resp, out = invoke_json(lam, fn_name, {})
    assert resp["FunctionError"] == "Unhandled"
    assert out["errorType"] == "RangeError"
    assert out["errorMessage"] == "out of range"


def test_es_module(lam: Any, node_fn: Any, fn_name: str) -> None:
    code = "import { sep } from 'node:path';\nexport const handler = async (event) => ({ esm: true, sep, event });\n"
    node_fn(fn_name, {"index.mjs": code})
    assert invoke_json(lam, fn_name, {"x": "y"})[1] == {"esm": True, "sep": "/", "event": {"x": "y"}}


def test_handler_in_folder(lam: Any, node_fn: Any, fn_name: str) -> None:
    files = {
        "src/handlers/app.js": "const util = require('../lib/util');\nexports.run = async () => util.answer();\n",
        "src/lib/util.js": "exports.answer = () => ({ answer: 42 });\n",
    }
    node_fn(fn_name, files, handler="src/handlers/app.run")
    assert invoke_json(lam, fn_name, {})[1] == {"answer": 42}


def test_error_shape(lam: Any, node_fn: Any, fn_name: str) -> None:
    code = "exports.handler = async () => { throw new TypeError('bad thing'); };"
    node_fn(fn_name, {"index.js": code})
    resp, out = invoke_json(lam, fn_name, {}, LogType="Tail")
    assert resp["FunctionError"] == "Unhandled"
    assert out["errorType"] == "TypeError"
    assert out["errorMessage"] == "bad thing"
    assert isinstance(out["trace"], list)
    assert out["trace"][0].startswith("TypeError: bad thing")
    assert "bad thing" in base64.b64decode(resp["LogResult"]).decode()


def test_init_error_missing_handler(lam: Any, node_fn: Any, fn_name: str) -> None:
    node_fn(fn_name, {"index.js": "exports.other = async () => 1;"})
    resp, out = invoke_json(lam, fn_name, {})
    assert resp["FunctionError"] == "Unhandled"
    assert out["errorType"].startswith("Runtime.")


def test_layer_node_modules(lam: Any, node_fn: Any, fn_name: str, runtime: str) -> None:
    layer = f"{fn_name[:40]}-{uuid.uuid4().hex[:8]}"
    content = make_zip({"nodejs/node_modules/x/index.js": "exports.fromLayer = () => 'hello from layer';\n",
                        "nodejs/node_modules/x/package.json": '{"name":"x","main":"index.js"}'})
    version = lam.publish_layer_version(LayerName=layer, Content={"ZipFile": content}, CompatibleRuntimes=[runtime])
    try:
        code = "const x = require('x');\nexports.handler = async () => ({ msg: x.fromLayer() });\n"
        node_fn(fn_name, {"index.js": code}, Layers=[version["LayerVersionArn"]])
        resp, out = invoke_json(lam, fn_name, {})
        assert resp.get("FunctionError") is None, out
        assert out == {"msg": "hello from layer"}
    finally:
        lam.delete_layer_version(LayerName=layer, VersionNumber=version["Version"])


def test_other_node_majors_are_refused(lam: Any, fn_name: str, runtime: str) -> None:
    other = next(r for r in ("nodejs18.x", "nodejs20.x", "nodejs22.x") if r not in (runtime, HOST_RUNTIME, INSTALLED))
    with pytest.raises(lam.exceptions.InvalidParameterValueException) as info:
        lam.create_function(FunctionName=fn_name, Role=ROLE, Handler="index.handler", Runtime=other,
                            Code={"ZipFile": make_zip({"index.js": "exports.handler = async () => 1;"})})
    message = str(info.value)
    assert other in message
    assert runtime in message  # names what is available


def test_node_fallback_runs_on_the_nearest_major_with_a_warning_per_cold_start(tmp_path: Any) -> None:
    """With --runtime-fallback, a nodejsNN.x no node here has runs on the nearest (here: the host's), and every
    cold start warns; without it (the session server) the same CreateFunction is refused (above)."""
    if NODE is None:
        pytest.skip("the host has no node")
    wanted = "nodejs24.x" if NODE[1] != 24 else "nodejs22.x"
    srv = start_server(tmp_path / "data", "--runtime-fallback")
    try:
        lam = srv.client("lambda")
        code = "exports.handler = async () => ({ node: process.version, env: process.env.AWS_EXECUTION_ENV });"
        lam.create_function(FunctionName="fb", Role=ROLE, Handler="index.handler", Runtime=wanted,
                            Code={"ZipFile": make_zip({"index.js": code})})
        out = invoke_json(lam, "fb", {})[1]
        assert out["node"].startswith(f"v{NODE[1]}.")
        assert out["env"] == f"AWS_Lambda_{HOST_RUNTIME}", "the environment names what really runs, as for python"
        lam.update_function_configuration(FunctionName="fb", MemorySize=256)  # a new instance: a second cold start
        assert invoke_json(lam, "fb", {})[1]["node"] == out["node"]
        assert lam.get_function_configuration(FunctionName="fb")["Runtime"] == wanted
    finally:
        srv.stop()
    warning = f"fb: runtime {wanted} is not on this host, running it with {HOST_RUNTIME}"
    assert srv.log_path.read_text().count(warning) == 2
