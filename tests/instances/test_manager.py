"""The instance layer end to end: real interpreter processes running real function code from tmp_path."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import uvloop

from conftest import child_processes
from nimbus.clock import Clock, FakeClock
from nimbus.config import Settings
from nimbus.errors import InvalidParameterValue
from nimbus.instances import InstanceManager
from nimbus.instances.isolation import detect
from nimbus.instances.stats import FunctionStats
from nimbus.logs.sink import MemorySink
from nimbus.protocol.records import FunctionSpec, InvokeRequest, InvokeResult
from nimbus.runtimes.registry import available_runtime_names, available_runtimes, resolve_runtime

ARN = "arn:aws:lambda:us-east-1:000000000000:function:fn"
#: whether InstanceManager's default launcher sandboxes instances on this host (it does as root on Linux)
SANDBOXED = detect().namespaces

COUNTER_APP = """
import os, sys, logging, uuid
INSTANCE = uuid.uuid4().hex  # pids repeat across sandboxes (every runtime is pid 2 in its own pid namespace)
INITS = 0
INITS += 1
logger = logging.getLogger()
logger.setLevel(logging.INFO)

def handler(event, context):
    print("event", event)
    logger.info("logged %s", event.get("n"))
    return {"inits": INITS, "pid": INSTANCE, "event": event}
"""


def _children() -> set[int]:
    """Child processes of this test process that are instances (a session's `nimbus serve` may be a child too)."""
    return child_processes(os.getpid(), b"bootstrap.py", b"sandbox_init.py", b"nimbus-sandbox-wait")


def make_spec(code_dir: Path, handler: str = "app.handler", **kwargs: Any) -> FunctionSpec:
    fields: dict[str, Any] = {
        "name": "fn",
        "version": "$LATEST",
        "revision_id": "rev1",
        "arn": ARN,
        "runtime": "python3.11",
        "handler": handler,
        "code_dir": code_dir,
        "memory_mb": 128,
        "timeout_s": 3,
    }
    fields.update(kwargs)
    return FunctionSpec(**fields)


def request(n: int = 0, payload: bytes | None = None, **kwargs: Any) -> InvokeRequest:
    body = json.dumps({"n": n}).encode() if payload is None else payload
    return InvokeRequest(request_id=f"req-{n}-{time.monotonic_ns()}", payload=body, invoked_arn=ARN, **kwargs)


class ParkedClock(FakeClock):
    """A fake clock that moves only when the test advances it: the reaper sleeps forever on it and the test reaps
    by hand (`InstanceManager.reap`), so no keep-alive test waits for real time."""

    async def sleep(self, seconds: float) -> None:
        await asyncio.Event().wait()


def run(
    body: Callable[[InstanceManager, MemorySink], Awaitable[None]],
    clock: Clock | None = None,
    uv: bool = False,
    **settings: Any,
) -> MemorySink:
    """Run `body` against a started manager (on asyncio's loop, or on uvloop's as the server runs); stop it and check
    no child process is left behind."""
    sink = MemorySink()

    async def main() -> None:
        manager = InstanceManager(Settings(**settings), sink, clock=clock)
        await manager.start()
        try:
            await body(manager, sink)
        finally:
            await manager.stop()
        assert manager.statistics().instances == 0

    if uv:
        uvloop.run(main())
    else:
        asyncio.run(main())
    # an outer process that has exited may still wait a moment for the loop's child watcher to reap it (seen as a
    # non-root server under load): polled, so only a process that stays is a leak
    deadline = time.monotonic() + 5
    while (left := _children()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert left == set(), "instance processes left behind"
    return sink


def messages(sink: MemorySink) -> list[str]:
    return [e[3] for e in sink.events]


def loads(result: InvokeResult) -> Any:
    return json.loads(result.payload)


# -- happy path ----------------------------------------------------------------------------------------------------


def test_warm_reuse_runs_init_once_and_frames_the_logs(code: Callable[..., Path]) -> None:
    spec = make_spec(code(app=COUNTER_APP))
    results: list[InvokeResult] = []

    async def body(m: InstanceManager, sink: MemorySink) -> None:
        for n in range(3):
            results.append(await m.invoke(spec, request(n, want_log_tail=n == 1)))
        stats = m.statistics()
        assert (stats.instances, stats.idle, stats.busy, stats.cold_starts, stats.invocations) == (1, 1, 0, 1, 3)

    sink = run(body)
    outs = [loads(r) for r in results]
    assert [o["inits"] for o in outs] == [1, 1, 1]
    assert len({o["pid"] for o in outs}) == 1
    assert outs[0]["event"] == {"n": 0}
    assert all(r.function_error is None and r.executed_version == "$LATEST" for r in results)

    groups = {e[0] for e in sink.events}
    streams = {e[1] for e in sink.events}
    assert groups == {"/aws/lambda/fn"}
    [stream] = streams
    assert re.fullmatch(r"\d{4}/\d{2}/\d{2}/\[\$LATEST\][0-9a-f]{32}", stream)
    lines = messages(sink)
    first = lines[:5]
    assert first[0].startswith("START RequestId: req-0-")
    assert first[0].endswith(" Version: $LATEST")
    assert first[1] == "event {'n': 0}"
    assert re.fullmatch(r"\[INFO\]\t\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z\treq-0-\d+\tlogged 0", first[2])
    assert first[3].startswith("END RequestId: req-0-")
    assert re.fullmatch(
        r"REPORT RequestId: req-0-\d+\tDuration: \d+\.\d\d ms\tBilled Duration: \d+ ms\tMemory Size: 128 MB\t"
        r"Max Memory Used: [1-9]\d* MB\tInit Duration: \d+\.\d\d ms\t",
        first[4],
    )
    assert "Init Duration" not in lines[9]  # second REPORT: warm
    assert results[0].log_tail is None
    tail = results[1].log_tail
    assert tail is not None
    tail_lines = tail.decode().split("\n")
    assert tail_lines[0].startswith("START RequestId: req-1-")
    assert tail_lines[-1] == ""
    assert tail_lines[-2].startswith("REPORT RequestId: req-1-")



CHATTY_APP = """
def handler(event, context):
    n = event["n"]
    for i in range(2000):  # ~150 KB: more than a pipe holds, read over several wake-ups
        print(f"line {n} {i} " + "x" * 60)
    return {"n": n}
"""


@pytest.mark.parametrize("uv", [False, True], ids=["asyncio", "uvloop"])
def test_output_written_before_the_reply_comes_before_end(code: Callable[..., Path], uv: bool) -> None:
    """The pipe is not read again before END when the reply came through the event loop (`Instance.invoke`): the
    loop ran the pipe's reader first. Every line an invocation printed is between its START and its END."""
    spec = make_spec(code(app=CHATTY_APP))

    async def body(m: InstanceManager, sink: MemorySink) -> None:
        for n in range(4):
            assert loads(await m.invoke(spec, request(n))) == {"n": n}

    lines = messages(run(body, uv=uv))
    for n in range(4):
        start = next(i for i, line in enumerate(lines) if line.startswith(f"START RequestId: req-{n}-"))
        end = next(i for i, line in enumerate(lines) if line.startswith(f"END RequestId: req-{n}-"))
        printed = [i for i, line in enumerate(lines) if line.startswith(f"line {n} ")]
        assert len(printed) == 2000
        assert start < min(printed)
        assert max(printed) < end
        assert lines[max(printed)].startswith(f"line {n} 1999 ")


def test_context_environment_and_payload_handling(code: Callable[..., Path]) -> None:
    app = """
    import os, sys, decimal
    def handler(event, context):
        cc = context.client_context
        return {
            "event": event,
            "ctx": [context.aws_request_id, context.function_name, context.function_version,
                    context.invoked_function_arn, context.memory_limit_in_mb, context.log_group_name,
                    context.log_stream_name],
            "identity": [context.identity.cognito_identity_id, context.identity.cognito_identity_pool_id],
            "client": None if cc is None else [cc.custom, cc.env, cc.client.installation_id],
            "remaining": context.get_remaining_time_in_millis(),
            "env": dict(os.environ),
            "path": sys.path[:4],
            "cwd": os.getcwd(),
            "dec": [decimal.Decimal("1.5"), decimal.Decimal("10")],
        }
    """
    code_dir = code(app=app)
    spec = make_spec(
        code_dir,
        memory_mb=256,
        timeout_s=7,
        environment=(("MY_VAR", "x"), ("AWS_REGION", "evil"), ("_HANDLER", "evil")),
        region="eu-west-1",
    )
    client_context = json.dumps({"custom": {"k": "v"}, "env": {"e": 1}, "client": {"installation_id": "i"}})
    out: dict[str, Any] = {}

    async def body(m: InstanceManager, sink: MemorySink) -> None:
        out["a"] = await m.invoke(spec, request(1, client_context=client_context, trace_id="Root=1-abc"))
        out["b"] = await m.invoke(spec, request(2, payload=b""))

    run(body)
    a, b = loads(out["a"]), loads(out["b"])
    assert a["ctx"][1:5] == ["fn", "$LATEST", ARN, "256"]
    assert a["ctx"][0].startswith("req-1-")
    assert a["ctx"][5] == "/aws/lambda/fn"
    assert re.fullmatch(r"\d{4}/\d{2}/\d{2}/\[\$LATEST\][0-9a-f]{32}", a["ctx"][6])
    assert a["identity"] == [None, None]
    assert a["client"] == [{"k": "v"}, {"e": 1}, "i"]
    assert b["client"] is None
    assert 6000 < a["remaining"] <= 7000
    assert b["event"] == {}
    assert a["dec"] == [1.5, 10]
    env = a["env"]
    runtime = resolve_runtime("python3.11", False)
    assert env["MY_VAR"] == "x"
    assert env["AWS_REGION"] == env["AWS_DEFAULT_REGION"] == "eu-west-1"
    assert env["_HANDLER"] == "app.handler"
    assert env["AWS_EXECUTION_ENV"] == "AWS_Lambda_python3.11"
    assert env["AWS_LAMBDA_FUNCTION_NAME"] == "fn"
    assert env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "256"
    assert env["AWS_LAMBDA_FUNCTION_VERSION"] == "$LATEST"
    assert env["AWS_LAMBDA_FUNCTION_TIMEOUT"] == "7"
    assert env["AWS_LAMBDA_INITIALIZATION_TYPE"] == "on-demand"
    assert env["AWS_LAMBDA_LOG_GROUP_NAME"] == "/aws/lambda/fn"
    assert env["AWS_LAMBDA_LOG_STREAM_NAME"] == a["ctx"][6]
    task_root = "/var/task" if SANDBOXED else str(code_dir)
    assert env["LAMBDA_TASK_ROOT"] == task_root == a["cwd"]
    if SANDBOXED:
        assert env["LAMBDA_RUNTIME_DIR"] == "/var/runtime"
        assert env["PATH"].startswith("/var/lang/bin:")
    else:
        assert Path(env["LAMBDA_RUNTIME_DIR"], "bootstrap.py").is_file()
    assert env["TZ"] == ":UTC"
    assert env["LANG"] == "en_US.UTF-8"
    assert env["PATH"]
    assert env["_X_AMZN_TRACE_ID"] == "Root=1-abc"
    # an invocation without a trace header gets a new one, as on Lambda (PassThrough: not sampled)
    assert re.fullmatch(r"Root=1-[0-9a-f]{8}-[0-9a-f]{24};Parent=[0-9a-f]{16};Sampled=0", b["env"]["_X_AMZN_TRACE_ID"])
    assert "HOME" not in env
    assert not [k for k in env if k.startswith("NIMBUS")]
    assert a["path"] == [
        task_root,
        "/opt/python/lib/python3.11/site-packages",
        "/opt/python",
        env["LAMBDA_RUNTIME_DIR"],
    ]
    assert str(runtime.interpreter)


def test_package_handler_path_and_oldest_runtime(code: Callable[..., Path]) -> None:
    runtimes = available_runtimes()
    oldest = next(iter(runtimes))
    code_dir = code(
        {"pkg/__init__.py": "", "pkg/mod.py": "import sys\ndef h(e, c):\n    return sys.version_info[:2]\n"}
    )
    spec = make_spec(code_dir, handler="pkg/mod.h", runtime=oldest)
    out: list[InvokeResult] = []

    async def body(m: InstanceManager, sink: MemorySink) -> None:
        out.append(await m.invoke(spec, request()))

    run(body)
    assert out[0].function_error is None
    assert f"python{loads(out[0])[0]}.{loads(out[0])[1]}" == oldest


# -- function errors -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("files", "handler", "error_type", "message"),
    [
        (
            {"app.py": "def handler(e, c): pass"},
            "app",
            "Runtime.MalformedHandlerName",
            "Bad handler 'app': not enough values to unpack (expected 2, got 1)",
        ),
        ({}, "nomod.handler", "Runtime.ImportModuleError", "Unable to import module 'nomod': No module named 'nomod'"),
        (
            {"app.py": "def handler(e, c)\n    pass\n"},
            "app.handler",
            "Runtime.UserCodeSyntaxError",
            "Syntax error in module 'app': ",
        ),
        ({"app.py": "x = 1\n"}, "app.nope", "Runtime.HandlerNotFound", "Handler 'nope' missing on module 'app'"),
        ({"app.py": "raise ValueError('bad init')\n"}, "app.handler", "ValueError", "bad init"),
    ],
)
def test_init_errors_are_the_invoke_result_and_init_is_retried(
    code: Callable[..., Path], files: dict[str, str], handler: str, error_type: str, message: str
) -> None:
    spec = make_spec(code(files), handler=handler)
    results: list[InvokeResult] = []

    async def body(m: InstanceManager, sink: MemorySink) -> None:
        results.append(await m.invoke(spec, request(1, want_log_tail=True)))
        results.append(await m.invoke(spec, request(2)))
        assert m.statistics().cold_starts == 2
        assert m.statistics().instances == 0

    sink = run(body)
    for result in results:
        error = loads(result)
        assert result.function_error == "Unhandled"
        assert error["errorType"] == error_type
        assert error["errorMessage"].startswith(message)
        assert error["requestId"] == ""
        assert isinstance(error["stackTrace"], list)
    if error_type == "ValueError":
        assert "raise ValueError('bad init')" in loads(results[0])["stackTrace"][-1]
    lines = messages(sink)
    assert lines[0].startswith(f"[ERROR] {error_type}: {message}")
    assert "\rTraceback (most recent call last):" in lines[0]
    assert lines[1].startswith("START RequestId: req-1-")
    assert lines[3].startswith("REPORT RequestId: req-1-")
    assert lines[3].endswith(f"Status: error\tError Type: {error_type}")
    assert results[0].log_tail is not None
    assert b"[ERROR] " + error_type.encode() in results[0].log_tail


def test_handler_exception_shape_and_log(code: Callable[..., Path]) -> None:
    app = """
    def helper():
        raise RuntimeError("Handler fails")

    def handler(event, context):
        if event.get("n") == 1:
            helper()
        return "ok"
    """
    spec = make_spec(code(app=app))
    out: list[InvokeResult] = []

    async def body(m: InstanceManager, sink: MemorySink) -> None:
        out.append(await m.invoke(spec, request(1)))
        out.append(await m.invoke(spec, request(2)))
        assert m.statistics().cold_starts == 1  # a handler exception does not cost the instance

    sink = run(body)
    error = loads(out[0])
    assert out[0].function_error == "Unhandled"
    assert error["errorType"] == "RuntimeError"
    assert error["errorMessage"] == "Handler fails"
    assert error["requestId"].startswith("req-1-")
    assert len(error["stackTrace"]) == 2
    assert error["stackTrace"][0].startswith('  File "')
    assert "in handler\n    helper()\n" in error["stackTrace"][0]
    assert 'raise RuntimeError("Handler fails")' in error["stackTrace"][1]
    assert "bootstrap.py" not in "".join(error["stackTrace"])
    assert out[1].payload == b'"ok"'
    assert out[1].function_error is None
    logged = [line for line in messages(sink) if line.startswith("[ERROR]")]
    assert logged[0].startswith("[ERROR] RuntimeError: Handler fails\rTraceback (most recent call last):\r  File ")
    report = next(line for line in messages(sink) if line.startswith("REPORT"))
    assert "Status" not in report  # a handled function error is a normal invocation for the platform


def test_marshal_error_none_and_bad_input(code: Callable[..., Path]) -> None:
    app = """
    def handler(event, context):
        return {"set": {1}} if event.get("n") == 1 else None
    """
    spec = make_spec(code(app=app))
    out: list[InvokeResult] = []

    async def body(m: InstanceManager, sink: MemorySink) -> None:
        out.append(await m.invoke(spec, request(1)))
        out.append(await m.invoke(spec, request(2)))

    run(body)
    error = loads(out[0])
    assert out[0].function_error == "Unhandled"
    assert error["errorType"] == "Runtime.MarshalError"
    assert error["errorMessage"] == "Unable to marshal response: Object of type set is not JSON serializable"
    assert out[1].payload == b"null"
    assert out[1].function_error is None


def test_response_too_large(code: Callable[..., Path]) -> None:
    spec = make_spec(code(app="def handler(e, c):\n    return 'x' * (6 * 1024 * 1024 + 100)\n"))
    out: list[InvokeResult] = []

    async def body(m: InstanceManager, sink: MemorySink) -> None:
        out.append(await m.invoke(spec, request()))

    run(body)
    assert out[0].function_error == "Unhandled"
    assert loads(out[0]) == {
        "errorMessage": "Response payload size exceeded maximum allowed payload size (6291556 bytes).",
        "errorType": "Function.ResponseSizeTooLarge",
    }


# -- timeouts and crashes ------------------------------------------------------------------------------------------


def test_timeout_kills_and_the_next_invoke_gets_a_fresh_instance(code: Callable[..., Path]) -> None:
    app = """
    import os, time
    def handler(event, context):
        print("before sleep")
        if event.get("n") == 1:
            time.sleep(30)
        return os.getpid()
    """
    spec = make_spec(code(app=app), timeout_s=1)
    out: list[InvokeResult] = []

    async def body(m: InstanceManager, sink: MemorySink) -> None:
        started = time.monotonic()
        out.append(await m.invoke(spec, request(1)))
        assert time.monotonic() - started < 3
        out.append(await m.invoke(spec, request(2)))
        assert m.statistics().cold_starts == 2

    sink = run(body)
    error = loads(out[0])
    assert out[0].function_error == "Unhandled"
    assert error["errorType"] == "Sandbox.Timedout"
    assert re.fullmatch(r"RequestId: req-1-\d+ Error: Task timed out after 1\.00 seconds", error["errorMessage"])
    assert out[1].function_error is None
    lines = messages(sink)
    i = next(i for i, line in enumerate(lines) if "Task timed out" in line)
    assert lines[i - 1] == "before sleep"
    assert re.fullmatch(
        r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z req-1-\d+ Task timed out after 1\.00 seconds", lines[i]
    )
    assert lines[i + 1].startswith("END RequestId: req-1-")
    assert lines[i + 2].startswith("REPORT RequestId: req-1-")
    assert lines[i + 2].endswith("\tStatus: timeout")


@pytest.mark.parametrize(
    ("crash", "description"),
    [
        ("os._exit(3)", "exit status 3"),
        ("sys.exit(2)", "exit status 2"),
        ("os.kill(os.getpid(), signal.SIGSEGV)", "signal: segmentation fault"),
        ("os.kill(os.getpid(), signal.SIGKILL)", "signal: killed"),
    ],
)
def test_crash_mid_invoke_then_recovery(code: Callable[..., Path], crash: str, description: str) -> None:
    app = f"""
    import os, sys, signal
    def handler(event, context):
        if event.get("n") == 1:
            print("about to crash")
            {crash}
        return "fine"
    """
    spec = make_spec(code(app=app))
    out: list[InvokeResult] = []

    async def body(m: InstanceManager, sink: MemorySink) -> None:
        out.append(await m.invoke(spec, request(1)))
        out.append(await m.invoke(spec, request(2)))

    sink = run(body)
    error = loads(out[0])
    assert out[0].function_error == "Unhandled"
    assert error["errorType"] == "Runtime.ExitError"
    assert re.fullmatch(rf"RequestId: req-1-\d+ Error: Runtime exited with error: {description}", error["errorMessage"])
    assert out[1].payload == b'"fine"'
    lines = messages(sink)
    assert "about to crash" in lines
    report = next(line for line in lines if line.startswith("REPORT RequestId: req-1-"))
    assert report.endswith("Status: error\tError Type: Runtime.ExitError")


def test_idle_instance_death_is_removed_silently(code: Callable[..., Path]) -> None:
    spec = make_spec(code(app=COUNTER_APP))

    async def body(m: InstanceManager, sink: MemorySink) -> None:
        pid = loads(await m.invoke(spec, request(1)))["pid"]
        [instance] = m._instances
        os.kill(instance.pid, signal.SIGKILL)
        for _ in range(200):
            if m.statistics().instances == 0:
                break
            await asyncio.sleep(0.01)
        assert m.statistics().instances == 0
        again = await m.invoke(spec, request(2))
        assert again.function_error is None
        assert loads(again)["pid"] != pid

    run(body)


# -- scaling, retire, keep-alive -----------------------------------------------------------------------------------


def test_parallel_invokes_get_their_own_instances_up_to_the_limit(code: Callable[..., Path]) -> None:
    app = """
    import uuid, time
    INSTANCE = uuid.uuid4().hex
    def handler(event, context):
        time.sleep(0.4)
        return INSTANCE
    """
    spec = make_spec(code(app=app))

    async def body(m: InstanceManager, sink: MemorySink) -> None:
        results = await asyncio.gather(*(m.invoke(spec, request(n)) for n in range(3)))
        assert len({r.payload for r in results}) == 3
        assert m.statistics().instances == 3
        assert m.statistics().idle == 3
        # admission (429 past the limit) is the door's, in nimbus.invoke (tests/invoke/test_invoker.py): the pools
        # take what they are given
        more = await asyncio.gather(*(m.invoke(spec, request(n)) for n in range(5)))
        assert len({r.payload for r in more}) == 5
        assert m.statistics().instances == 5

    run(body, concurrency_limit=4)


def test_retire_and_new_revisions_never_reuse_old_instances(code: Callable[..., Path]) -> None:
    app = """
    import uuid, time
    INSTANCE = uuid.uuid4().hex
    def handler(event, context):
        time.sleep(event.get("sleep", 0))
        return INSTANCE
    """
    spec = make_spec(code(app=app))

    async def body(m: InstanceManager, sink: MemorySink) -> None:
        first = loads(await m.invoke(spec, request(1)))
        await m.retire("fn")
        assert m.statistics().instances == 0
        second = loads(await m.invoke(spec, request(2)))
        assert second != first
        # a busy instance is stopped right after it finishes
        slow = asyncio.create_task(m.invoke(spec, request(3, payload=b'{"sleep": 0.3}')))
        await asyncio.sleep(0.1)
        await m.retire("fn")
        assert loads(await slow) == second
        for _ in range(100):
            if m.statistics().instances == 0:
                break
            await asyncio.sleep(0.01)
        assert m.statistics().instances == 0
        # a new revision of the same version replaces the old pool's instances
        third = loads(await m.invoke(spec, request(4)))
        fourth = loads(await m.invoke(replace(spec, revision_id="rev2"), request(5)))
        assert len({second, third, fourth}) == 3

    run(body)


def test_reaper_stops_instances_idle_past_keep_alive(code: Callable[..., Path]) -> None:
    spec = make_spec(code(app=COUNTER_APP))
    clock = ParkedClock()

    async def body(m: InstanceManager, sink: MemorySink) -> None:
        await m.invoke(spec, request(1))
        assert m.statistics().instances == 1
        clock.advance(59.9)
        await m.reap(clock.monotonic())
        assert m.statistics().instances == 1  # idle, but not for keep-alive yet
        await m.invoke(spec, request(2))  # used again: its idle time starts over
        clock.advance(59.9)
        await m.reap(clock.monotonic())
        assert m.statistics().instances == 1
        clock.advance(0.1)
        await m.reap(clock.monotonic())  # waits for the stop
        assert m.statistics().instances == 0

    run(body, clock, keep_alive=60)


def test_the_reaper_loop_runs_on_the_managers_clock(code: Callable[..., Path]) -> None:
    """`start` puts the reaper on the injected clock: an autojumping one reaches keep-alive without real waiting."""
    spec = make_spec(code(app=COUNTER_APP))

    async def body(m: InstanceManager, sink: MemorySink) -> None:
        await m.invoke(spec, request(1))
        async with asyncio.timeout(10):  # real time only bounds a hang: the clock jumps 5 s per reaper turn
            while m.statistics().instances:  # noqa: ASYNC110
                await asyncio.sleep(0)
        assert m.statistics().instances == 0

    run(body, FakeClock(), keep_alive=3600)


# -- runtimes ------------------------------------------------------------------------------------------------------


def test_runtime_registry_finds_real_binaries_only() -> None:
    runtimes = available_runtimes()
    assert runtimes, "this host has no python3.N binaries"
    for name, path in runtimes.items():
        assert re.fullmatch(r"python3\.\d+", name)
        assert int(name.split(".")[1]) >= 8
        assert path.read_bytes()[:4] == b"\x7fELF"
        assert "shims" not in str(path)
    with pytest.raises(InvalidParameterValue) as info:
        resolve_runtime("python3.99", fallback=False)
    assert info.value.message == (
        f"Runtime python3.99 is not available on this host. Available runtimes: {', '.join(available_runtime_names())}"
    )
    assert list(runtimes) == available_runtime_names()[: len(runtimes)]
    with pytest.raises(InvalidParameterValue):
        resolve_runtime("nodejs99.x", fallback=False)
    with pytest.raises(InvalidParameterValue):
        resolve_runtime("provided.al2099", fallback=True)
    newest = list(runtimes)[-1]
    fell = resolve_runtime("python3.99", fallback=True)
    assert (fell.requested, fell.name, fell.fell_back) == ("python3.99", newest, True)
    exact = resolve_runtime(newest, fallback=True)
    assert not exact.fell_back
    assert exact.interpreter == runtimes[newest]


def test_unknown_runtime_raises_invalid_parameter(code: Callable[..., Path]) -> None:
    spec = make_spec(code(app=COUNTER_APP), runtime="python3.99")

    async def body(m: InstanceManager, sink: MemorySink) -> None:
        with pytest.raises(InvalidParameterValue):
            await m.invoke(spec, request())
        assert m.statistics().instances == 0

    run(body)


def test_idle_instances_of_other_functions_are_evicted_at_the_limit(code: Callable[..., Path]) -> None:
    code_dir = code(app=COUNTER_APP)

    async def body(m: InstanceManager, sink: MemorySink) -> None:
        first = await m.invoke(make_spec(code_dir), request(1))
        second = await m.invoke(make_spec(code_dir, name="other"), request(2))
        assert loads(first)["pid"] != loads(second)["pid"]
        for _ in range(100):
            if m.statistics().instances == 1:
                break
            await asyncio.sleep(0.01)
        assert m.statistics().instances == 1

    run(body, concurrency_limit=1)


def test_function_statistics_count_errors_and_handler_time(code: Callable[..., Path]) -> None:
    app = """
    import time
    def handler(event, context):
        time.sleep(0.05)
        if event.get("n") == 1:
            raise RuntimeError("fails")
        return "ok"
    """
    spec = make_spec(code(app=app))
    broken = make_spec(code(app="raise ValueError('bad init')"), name="broken")

    async def body(m: InstanceManager, sink: MemorySink) -> None:
        for n in (1, 2, 3):
            await m.invoke(spec, request(n))
        assert (await m.invoke(broken, request(4))).function_error == "Unhandled"
        every = m.all_function_statistics()
        assert set(every) == {"fn", "broken"}
        fn = every["fn"]
        assert fn == m.function_statistics("fn")
        assert (fn.invocations, fn.errors, fn.durations, fn.cold_starts) == (3, 1, 3, 1)
        assert (fn.instances, fn.idle) == (1, 1)  # invocations running now are the throttle's count (invoke/)
        assert 0.15 <= fn.duration_s < 3  # the handlers' time only: the cold start's init is not in it
        bad = every["broken"]
        assert (bad.invocations, bad.errors, bad.durations, bad.instances) == (1, 1, 0, 0)
        assert m.function_statistics("never") == FunctionStats(0, 0, 0, 0, 0, 0)

    run(body)


@pytest.mark.parametrize("busy_poll", [True, False])
def test_busy_polling_keeps_results_order_and_shutdown(code: Callable[..., Path], busy_poll: bool) -> None:
    """Replies faster and slower than the server's poll, invokes right after one another (the runtime is still
    polling), a lone invoke next to a concurrent pair, and a stop while the runtime polls: same results either way."""
    app = code(app="import time\ndef handler(e, c):\n    time.sleep(e['s'])\n    return e['n']\n")
    spec = make_spec(app)

    async def body(manager: InstanceManager, sink: MemorySink) -> None:
        results = []
        for n, s in enumerate([0, 0, 0.005, 0, 0.05, 0]):
            result = await manager.invoke(spec, request(n, json.dumps({"n": n, "s": s}).encode()))
            results.append(loads(result))
        pair = await asyncio.gather(
            *(manager.invoke(spec, request(n, json.dumps({"n": n, "s": 0.02}).encode())) for n in (10, 11))
        )
        results += [loads(r) for r in pair]
        assert results == [0, 1, 2, 3, 4, 5, 10, 11]
        assert manager.function_statistics("fn").instances == 2
        assert manager.function_statistics("fn").cold_starts == 2

    sink = run(body, busy_poll=busy_poll)
    assert sum(m.startswith("REPORT") for m in messages(sink)) == 8


def test_package_exports() -> None:
    import nimbus.instances

    assert sorted(nimbus.instances.__all__) == ["DeathReason", "InstanceManager", "InstanceState", "ManagerStats"]
