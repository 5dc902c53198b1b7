"""The Node.js bootstrap on its own: a real `node bootstrap.mjs` with the control socket at fd 3, real JS code.

Each test spawns the bootstrap the way the server does (posix_spawn, socketpair dup'ed onto fd 3, stdout and
stderr on one pipe, the instance environment built from scratch) and speaks frames with `nimbus.protocol.frames`.
"""

from __future__ import annotations

import json
import os
import re
import selectors
import shutil
import signal
import socket
import textwrap
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from nimbus.protocol import frames

NODE = shutil.which("node") or "/usr/bin/node"
BOOTSTRAP = Path(__file__).resolve().parents[2] / "src/nimbus/runtimes/nodejs/bootstrap.mjs"
CONTROL_FD = 3
ARN = "arn:aws:lambda:us-east-1:000000000000:function:fn"
LOG_LINE = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)\t(\S+)\t(TRACE|DEBUG|INFO|WARN|ERROR|FATAL)\t(.*)$")

pytestmark = pytest.mark.skipif(not os.path.exists(NODE), reason="node is not installed")


def instance_env(task_root: Path, handler: str, extra: dict[str, str] | None = None) -> dict[str, str]:
    """What `nimbus.instances.environment.instance_environment` gives an unsandboxed instance."""
    env = {
        "PATH": "/usr/local/bin:/usr/bin/:/bin:/opt/bin",
        "LANG": "en_US.UTF-8",
        "TZ": ":UTC",
        "_HANDLER": handler,
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_EXECUTION_ENV": "AWS_Lambda_nodejs20.x",
        "AWS_LAMBDA_FUNCTION_NAME": "fn",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_FUNCTION_TIMEOUT": "3",
        "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
        "AWS_LAMBDA_LOG_GROUP_NAME": "/aws/lambda/fn",
        "AWS_LAMBDA_LOG_STREAM_NAME": "2024/05/01/[$LATEST]0123456789abcdef0123456789abcdef",
        "LAMBDA_TASK_ROOT": str(task_root),
        "LAMBDA_RUNTIME_DIR": str(BOOTSTRAP.parent),
    }
    env.update(extra or {})
    return env


class Instance:
    """One bootstrap process: send invokes, receive frames, collect its output."""

    def __init__(self, task_root: Path, handler: str, env: dict[str, str] | None = None) -> None:
        parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        out_r, out_w = os.pipe()
        child_fd = child.fileno()
        moved: list[int] = []
        try:
            while child_fd <= CONTROL_FD:  # dup2 onto itself would keep O_CLOEXEC
                child_fd = os.dup(child_fd)
                moved.append(child_fd)
            self.pid = os.posix_spawn(
                NODE,
                [NODE, str(BOOTSTRAP)],
                instance_env(task_root, handler, env),
                file_actions=[
                    (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
                    (os.POSIX_SPAWN_DUP2, out_w, 1),
                    (os.POSIX_SPAWN_DUP2, out_w, 2),
                    (os.POSIX_SPAWN_DUP2, child_fd, CONTROL_FD),
                ],
            )
        finally:
            child.close()
            os.close(out_w)
            for fd in moved:
                os.close(fd)
        os.set_blocking(out_r, False)
        self.sock = parent
        self.out_fd = out_r
        self.decoder = frames.FrameDecoder()
        self.frames: list[frames.Frame] = []
        self.output = bytearray()
        self.returncode: int | None = None

    def _drain_output(self) -> bool:
        """Read what the output pipe holds; False at EOF."""
        while True:
            try:
                data = os.read(self.out_fd, 65536)
            except BlockingIOError:
                return True
            if not data:
                return False
            self.output += data

    def next_frame(self, timeout_s: float = 10.0) -> frames.Frame:
        deadline = time.monotonic() + timeout_s
        with selectors.DefaultSelector() as sel:
            sel.register(self.sock, selectors.EVENT_READ)
            sel.register(self.out_fd, selectors.EVENT_READ)
            while not self.frames:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"no frame after {timeout_s} s; output:\n{self.text()}")
                for key, _ in sel.select(remaining):
                    if key.fileobj is self.sock:
                        data = self.sock.recv(1 << 20)
                        if not data:
                            raise EOFError(f"instance closed the control socket; output:\n{self.text()}")
                        self.frames += self.decoder.feed(data)
                    elif not self._drain_output():
                        sel.unregister(self.out_fd)
        self._drain_output()  # logs are written before the frame: all of them are in the pipe now
        return self.frames.pop(0)

    def wait_ready(self) -> frames.Frame:
        frame = self.next_frame()
        assert frame.kind in (frames.READY, frames.INIT_ERROR), frame
        return frame

    def invoke(
        self,
        event: Any = None,
        *,
        payload: bytes | None = None,
        request_id: str | None = None,
        trace_id: str = "",
        client_context: str | None = None,
        timeout_ms: int = 10_000,
    ) -> frames.Frame:
        rid = request_id or str(uuid.uuid4())
        header = frames.invoke_header(rid, int(time.time() * 1000) + timeout_ms, ARN, trace_id, client_context)
        body = payload if payload is not None else json.dumps({} if event is None else event).encode()
        self.sock.sendall(frames.encode(frames.INVOKE, header, body))
        return self.next_frame(timeout_ms / 1000 + 5)

    def text(self) -> str:
        return self.output.decode("utf-8", "replace")

    def log_lines(self) -> list[tuple[str, str, str, str]]:
        lines = []
        for line in self.text().split("\n"):
            match = LOG_LINE.match(line)
            if match:
                lines.append((match[1], match[2], match[3], match[4]))
        return lines

    def wait_exit(self, timeout_s: float = 10.0) -> int:
        deadline = time.monotonic() + timeout_s
        while self.returncode is None:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self._drain_output()
                self.returncode = os.waitstatus_to_exitcode(status)
            elif time.monotonic() > deadline:
                raise TimeoutError(f"instance still running after {timeout_s} s")
            else:
                time.sleep(0.005)
        return self.returncode

    def close(self) -> int:
        """Close the control socket (the server's stop) and reap the process."""
        self.sock.close()
        return self.wait_exit()

    def kill(self) -> None:
        if self.returncode is None:
            os.kill(self.pid, signal.SIGKILL)
            self.wait_exit()
        self.sock.close()
        os.close(self.out_fd)


@pytest.fixture
def spawn(tmp_path: Path) -> Iterator[Any]:
    """`spawn(files, handler, env)`: write the function's files under tmp_path/task, start an instance on them."""
    started: list[Instance] = []

    def _spawn(files: dict[str, str], handler: str = "index.handler", env: dict[str, str] | None = None) -> Instance:
        root = tmp_path / "task"
        for name, content in files.items():
            target = root / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(textwrap.dedent(content))
        root.mkdir(exist_ok=True)
        instance = Instance(root, handler, env)
        started.append(instance)
        return instance

    yield _spawn
    for instance in started:
        instance.kill()


def ready(spawn: Any, files: dict[str, str], handler: str = "index.handler", **kw: Any) -> Instance:
    instance: Instance = spawn(files, handler, **kw)
    frame = instance.wait_ready()
    assert frame.kind == frames.READY, f"{frame}\n{instance.text()}"
    return instance


def body(frame: frames.Frame) -> Any:
    return json.loads(frame.body)


# -- happy paths -----------------------------------------------------------------------------------------------------


def test_async_commonjs_handler(spawn: Any) -> None:
    inst = ready(spawn, {"index.js": "exports.handler = async (event) => ({ echo: event, n: 1 });"})
    frame = inst.invoke({"a": [1, 2]})
    assert frame.kind == frames.RESULT
    assert body(frame) == {"echo": {"a": [1, 2]}, "n": 1}
    assert isinstance(frame.header["max_rss_kb"], int)
    assert frame.header["max_rss_kb"] > 1000
    assert inst.close() == 0  # EOF on the control socket: a clean exit


def test_callback_handler(spawn: Any) -> None:
    code = """
    exports.handler = (event, context, callback) => {
      setTimeout(() => callback(null, { via: 'callback', waits: context.callbackWaitsForEmptyEventLoop }), 5);
    };
    """
    inst = ready(spawn, {"index.js": code})
    assert body(inst.invoke()) == {"via": "callback", "waits": True}
    fail = ready(spawn, {"index.js": "exports.handler = (e, c, cb) => cb(new TypeError('bad input'));"})
    frame = fail.invoke()
    assert frame.kind == frames.ERROR
    assert body(frame)["errorType"] == "TypeError"


def test_legacy_context_methods_and_sync_return(spawn: Any) -> None:
    code = """
    exports.succeed = (event, context) => { setTimeout(() => context.succeed({ legacy: true }), 5); };
    exports.fail = (event, context) => { context.fail(); };
    exports.done = (event, context) => { context.done(null, 'done'); };
    exports.sync = (event) => ({ ignored: true });  // Lambda answers null: not async, no callback
    """
    assert body(ready(spawn, {"index.js": code}, "index.succeed").invoke()) == {"legacy": True}
    frame = ready(spawn, {"index.js": code}, "index.fail").invoke()
    assert (frame.kind, body(frame)) == (frames.ERROR, {"errorType": "string", "errorMessage": "handled", "trace": []})
    assert body(ready(spawn, {"index.js": code}, "index.done").invoke()) == "done"
    assert body(ready(spawn, {"index.js": code}, "index.sync").invoke()) is None


def test_esm_mjs_handler(spawn: Any) -> None:
    code = """
    import { sep } from 'node:path';
    export const handler = async (event) => ({ esm: true, sep, meta: typeof import.meta.url });
    """
    inst = ready(spawn, {"index.mjs": code})
    assert body(inst.invoke()) == {"esm": True, "sep": "/", "meta": "string"}


def test_js_is_esm_under_type_module_and_cjs_extension(spawn: Any) -> None:
    files = {"package.json": '{"type": "module"}', "index.js": "export const handler = async () => 'esm-js';"}
    assert body(ready(spawn, files).invoke()) == "esm-js"
    cjs = {"package.json": '{"type": "module"}', "app.cjs": "module.exports.handler = async () => 'cjs';"}
    assert body(ready(spawn, cjs, "app.handler").invoke()) == "cjs"


def test_handler_in_folder_and_nested_property(spawn: Any) -> None:
    files = {
        "src/handlers/app.js": "exports.api = { v1: { get: async () => 'nested' } };",
        "lib/util.mjs": "export const handler = async () => 'folder-esm';",
    }
    assert body(ready(spawn, files, "src/handlers/app.api.v1.get").invoke()) == "nested"
    assert body(ready(spawn, files, "lib/util.handler").invoke()) == "folder-esm"


def test_context_fields(spawn: Any) -> None:
    code = """
    exports.handler = async (event, context) => ({
      awsRequestId: context.awsRequestId,
      functionName: context.functionName,
      functionVersion: context.functionVersion,
      invokedFunctionArn: context.invokedFunctionArn,
      memoryLimitInMB: context.memoryLimitInMB,
      logGroupName: context.logGroupName,
      logStreamName: context.logStreamName,
      remaining: context.getRemainingTimeInMillis(),
      waits: context.callbackWaitsForEmptyEventLoop,
      identity: context.identity === undefined ? 'undefined' : context.identity,
      clientContext: context.clientContext === undefined ? 'undefined' : context.clientContext,
      methods: [typeof context.done, typeof context.succeed, typeof context.fail],
      trace: process.env._X_AMZN_TRACE_ID ?? null,
      cwd: process.cwd(),
    });
    """
    inst = ready(spawn, {"index.js": code})
    cc = {"custom": {"k": "v"}, "env": {"platform": "x"}, "client": {"installation_id": "i-1"}}
    out = body(inst.invoke(request_id="req-1", trace_id="Root=1-abc", client_context=json.dumps(cc), timeout_ms=3000))
    assert 2000 < out.pop("remaining") <= 3000
    assert out.pop("cwd") == os.path.realpath(inst_root(inst))
    assert out == {
        "awsRequestId": "req-1",
        "functionName": "fn",
        "functionVersion": "$LATEST",
        "invokedFunctionArn": ARN,
        "memoryLimitInMB": "256",
        "logGroupName": "/aws/lambda/fn",
        "logStreamName": "2024/05/01/[$LATEST]0123456789abcdef0123456789abcdef",
        "waits": True,
        "identity": "undefined",
        "clientContext": cc,
        "methods": ["function", "function", "function"],
        "trace": "Root=1-abc",
    }
    second = body(inst.invoke(request_id="req-2"))
    assert (second["awsRequestId"], second["trace"], second["clientContext"]) == ("req-2", None, "undefined")


def inst_root(inst: Instance) -> str:
    return os.readlink(f"/proc/{inst.pid}/cwd")


def test_console_lines_in_lambda_format(spawn: Any) -> None:
    code = """
    console.log('at init');
    exports.handler = async (event) => {
      console.log('hello %s', 'world', { n: 1 });
      console.info('info');
      console.warn('warn');
      console.error('error');
      console.debug('debug');
      console.log('two\\nlines');
      console.log();
      process.stdout.write('raw stdout\\n');
      return 'ok';
    };
    """
    inst = ready(spawn, {"index.js": code})
    inst.invoke(request_id="rid-42")
    lines = inst.log_lines()
    assert lines[0][1:] == ("undefined", "INFO", "at init")  # before the first invoke, as on Lambda
    assert [line[1:] for line in lines[1:]] == [
        ("rid-42", "INFO", "hello world { n: 1 }"),
        ("rid-42", "INFO", "info"),
        ("rid-42", "WARN", "warn"),
        ("rid-42", "ERROR", "error"),
        ("rid-42", "DEBUG", "debug"),
        ("rid-42", "INFO", "two\rlines"),  # one log event per call: newlines become \r
        ("rid-42", "INFO", "undefined"),  # the RIC formats (message, ...params): a bare call logs "undefined"
    ]
    assert inst.text().endswith("raw stdout\n")  # written before the result frame


def test_log_level_and_json_format(spawn: Any) -> None:
    code = """
    exports.handler = async () => { console.debug('hidden'); console.warn('shown', 1); console.error(new Error('e')); };
    """
    inst = ready(spawn, {"index.js": code}, env={"AWS_LAMBDA_LOG_FORMAT": "JSON", "AWS_LAMBDA_LOG_LEVEL": "INFO"})
    inst.invoke(request_id="rid-j")
    records = [json.loads(line) for line in inst.text().splitlines()]
    assert len(records) == 2
    assert records[0]["timestamp"].endswith("Z")
    assert {k: records[0][k] for k in ("level", "requestId", "message")} == {
        "level": "WARN",
        "requestId": "rid-j",
        "message": "shown 1",
    }
    error = records[1]["message"]  # a lone Error is kept as its fields
    assert (error["errorType"], error["errorMessage"], error["stackTrace"][0]) == ("Error", "e", "Error: e")


# -- invoke errors ---------------------------------------------------------------------------------------------------


def test_thrown_error_shape(spawn: Any) -> None:
    code = """
    class ValidationError extends Error { constructor(m) { super(m); this.name = 'ValidationError'; } }
    exports.handler = async (event) => {
      if (event.kind === 'string') throw 'plain string';
      if (event.kind === 'custom') throw new ValidationError('bad field');
      throw new Error('boom');
    };
    """
    inst = ready(spawn, {"index.js": code})
    frame = inst.invoke({}, request_id="rid-err")
    assert frame.kind == frames.ERROR
    err = body(frame)
    assert (err["errorType"], err["errorMessage"]) == ("Error", "boom")
    assert err["trace"][0] == "Error: boom"
    assert re.match(r"^    at .*index\.js:\d+:\d+\)?$", err["trace"][1]), err["trace"]
    assert isinstance(frame.header["max_rss_kb"], int)
    logged = [line for line in inst.log_lines() if line[2] == "ERROR"]
    assert logged[-1][1] == "rid-err"
    assert logged[-1][3].startswith('Invoke Error \t{"errorType":"Error","errorMessage":"boom","stack":["Error: boom"')
    assert body(inst.invoke({"kind": "string"})) == {"errorType": "string", "errorMessage": "plain string", "trace": []}
    custom = body(inst.invoke({"kind": "custom"}))
    assert (custom["errorType"], custom["errorMessage"]) == ("ValidationError", "bad field")
    assert body(inst.invoke({"kind": "string"}))["errorType"] == "string"  # still serving after errors


def test_unserialisable_result(spawn: Any) -> None:
    inst = ready(spawn, {"index.js": "exports.handler = async () => { const o = {}; o.self = o; return o; };"})
    frame = inst.invoke()
    assert frame.kind == frames.ERROR
    assert body(frame)["errorMessage"] == "Unable to stringify response body"


def test_unhandled_rejection_fails_the_invoke_and_exits(spawn: Any) -> None:
    code = """
    exports.handler = async () => {
      Promise.reject(new Error('floating'));
      await new Promise((resolve) => setTimeout(resolve, 50));
      return 'unreachable';
    };
    """
    inst = ready(spawn, {"index.js": code})
    frame = inst.invoke(request_id="rid-rej")
    assert frame.kind == frames.ERROR
    err = body(frame)
    assert (err["errorType"], err["errorMessage"]) == ("Runtime.UnhandledPromiseRejection", "Error: floating")
    assert inst.wait_exit() == 128
    assert any(line[3].startswith("Unhandled Promise Rejection \t") for line in inst.log_lines())


def test_uncaught_exception_fails_the_invoke_and_exits(spawn: Any) -> None:
    code = "exports.handler = (e, c, cb) => { setTimeout(() => { throw new RangeError('late'); }, 5); };"
    inst = ready(spawn, {"index.js": code})
    frame = inst.invoke()
    assert (frame.kind, body(frame)["errorType"], body(frame)["errorMessage"]) == (frames.ERROR, "RangeError", "late")
    assert inst.wait_exit() == 129


# -- init errors -----------------------------------------------------------------------------------------------------


def init_error(spawn: Any, files: dict[str, str], handler: str = "index.handler") -> tuple[dict[str, Any], Instance]:
    inst: Instance = spawn(files, handler)
    frame = inst.wait_ready()
    assert frame.kind == frames.INIT_ERROR, frame
    assert inst.wait_exit() == 129
    return body(frame), inst


def test_init_error_missing_module(spawn: Any) -> None:
    err, inst = init_error(spawn, {"other.js": ""})
    assert err["errorType"] == "Runtime.ImportModuleError"
    assert err["errorMessage"].startswith("Error: Cannot find module 'index'\nRequire stack:\n- ")
    assert err["trace"][0] == "Runtime.ImportModuleError: Error: Cannot find module 'index'"
    assert "Uncaught Exception \t{" in inst.text()
    dep, _ = init_error(spawn, {"index.mjs": "import x from 'not-installed'; export const handler = x;"})
    # the RIC maps only CommonJS's MODULE_NOT_FOUND: an ES module's missing import stays a plain Error, as on Lambda
    assert dep["errorType"] == "Error"
    assert dep["errorMessage"].startswith("Cannot find package 'not-installed' imported from ")
    dep, _ = init_error(spawn, {"index.js": "require('not-installed');"})
    assert dep["errorType"] == "Runtime.ImportModuleError"
    assert dep["errorMessage"].startswith("Error: Cannot find module 'not-installed'\nRequire stack:\n- ")


def test_init_error_missing_handler(spawn: Any) -> None:
    err, _ = init_error(spawn, {"index.js": "exports.handler = async () => 1; exports.data = 3;"}, "index.nope")
    assert err["errorType"] == "Runtime.HandlerNotFound"
    assert err["errorMessage"] == "index.nope is undefined or not exported"
    err, _ = init_error(spawn, {"index.js": "exports.data = 3;"}, "index.data")
    assert err["errorMessage"] == "index.data is not a function"


def test_init_error_malformed_handler(spawn: Any) -> None:
    err, _ = init_error(spawn, {"index.js": ""}, "index")
    assert (err["errorType"], err["errorMessage"]) == ("Runtime.MalformedHandlerName", "Bad handler")
    err, _ = init_error(spawn, {"index.js": ""}, "../index.handler")
    assert err["errorType"] == "Runtime.MalformedHandlerName"


def test_init_error_syntax_error(spawn: Any) -> None:
    err, _ = init_error(spawn, {"index.js": "exports.handler = async () => { return 1 ;"})
    assert err["errorType"] == "Runtime.UserCodeSyntaxError"
    assert err["errorMessage"].startswith("SyntaxError: ")
    err, _ = init_error(spawn, {"index.mjs": "export const handler = ;"})
    assert err["errorType"] == "Runtime.UserCodeSyntaxError"


def test_init_error_thrown_at_module_level(spawn: Any) -> None:
    err, _ = init_error(spawn, {"index.js": "throw new Error('no config');"})
    assert (err["errorType"], err["errorMessage"]) == ("Error", "no config")


# -- payloads --------------------------------------------------------------------------------------------------------


def test_undefined_result_is_null(spawn: Any) -> None:
    inst = ready(spawn, {"index.js": "exports.handler = async () => undefined;"})
    frame = inst.invoke()
    assert (frame.kind, frame.body) == (frames.RESULT, b"null")


def test_unicode_round_trip(spawn: Any) -> None:
    inst = ready(spawn, {"index.js": "exports.handler = async (e) => ({ e, s: 'π≈3.14 😀 ünï' });"})
    event = {"text": "日本語 ✓ 😀", "rtl": "שלום"}
    frame = inst.invoke(payload=json.dumps(event, ensure_ascii=False).encode())
    assert body(frame) == {"e": event, "s": "π≈3.14 😀 ünï"}
    assert "😀".encode() in frame.body  # raw UTF-8, not \u escapes


def test_large_event_and_responses(spawn: Any) -> None:
    code = "exports.handler = async (e) => e.size ? 'x'.repeat(e.size) : e;"
    inst = ready(spawn, {"index.js": code})
    event = {"blob": "y" * 5_000_000}
    assert body(inst.invoke(event)) == event
    limit = frames.MAX_RESPONSE_BYTES
    frame = inst.invoke({"size": limit - 2})  # plus the two quotes: exactly at the limit
    assert (frame.kind, len(frame.body)) == (frames.RESULT, limit)
    frame = inst.invoke({"size": limit - 1})
    assert frame.kind == frames.ERROR
    assert body(frame) == {
        "errorMessage": f"Response payload size exceeded maximum allowed payload size ({limit} bytes).",
        "errorType": "Function.ResponseSizeTooLarge",
    }


# -- lifecycle and module paths --------------------------------------------------------------------------------------


def test_warm_reuse(spawn: Any) -> None:
    code = """
    let count = 0;
    const started = Date.now();
    exports.handler = async () => ({ count: ++count, started, pid: process.pid });
    """
    inst = ready(spawn, {"index.js": code})
    results = [body(inst.invoke()) for _ in range(3)]
    assert [r["count"] for r in results] == [1, 2, 3]
    assert len({(r["started"], r["pid"]) for r in results}) == 1
    assert results[0]["pid"] == inst.pid


def test_layer_packages_on_node_path(spawn: Any, tmp_path: Path) -> None:
    opt = tmp_path / "opt"
    for folder, name in [("nodejs/node_modules", "shared"), ("nodejs/node20/node_modules", "pinned")]:
        pkg = opt / folder / name
        pkg.mkdir(parents=True)
        (pkg / "package.json").write_text(json.dumps({"name": name, "main": "index.js"}))
        (pkg / "index.js").write_text(f"module.exports = {{ from: '{name}' }};")
    node_path = f"{opt}/nodejs/node20/node_modules:{opt}/nodejs/node_modules"
    cjs = "exports.handler = async () => [require('shared').from, require('pinned').from];"
    assert body(ready(spawn, {"index.js": cjs}, env={"NODE_PATH": node_path}).invoke()) == ["shared", "pinned"]
    esm = "import s from 'shared'; import p from 'pinned'; export const handler = async () => [s.from, p.from];"
    assert body(ready(spawn, {"index.mjs": esm}, env={"NODE_PATH": node_path}).invoke()) == ["shared", "pinned"]


def test_frames_queued_during_init_are_served_after_ready(spawn: Any) -> None:
    code = "const t = Date.now(); while (Date.now() - t < 100); exports.handler = async (e) => e.n;"
    inst: Instance = spawn({"index.js": code})
    rid = str(uuid.uuid4())
    header = frames.invoke_header(rid, int(time.time() * 1000) + 10_000, ARN)
    inst.sock.sendall(frames.encode(frames.INVOKE, header, b'{"n": 7}'))  # early, as a pipelining server would
    assert inst.wait_ready().kind == frames.READY
    frame = inst.next_frame()
    assert (frame.kind, body(frame)) == (frames.RESULT, 7)
