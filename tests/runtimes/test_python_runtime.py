"""The Python runtime (runtimes/python), driven directly: bootstrap.py started as the server starts an unsandboxed
instance, over a socketpair, speaking the frame codec. Checks its module layout too: what it may import, and that
every module a spawned sandbox needs is mounted there."""

from __future__ import annotations

import ast
import json
import select
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from runtimes_support import FrameChannel, kill_running, task_root

from nimbus.instances.environment import BOOTSTRAP_MODULES, FRAMES_PATH, RUNTIME_FILES
from nimbus.protocol import frames
from nimbus.runtimes.registry import PYTHON_RUNTIME_DIR, available_runtimes

BOOTSTRAP = PYTHON_RUNTIME_DIR / "bootstrap.py"
#: what each runtime module may import of the others (relative imports); everything else it imports is stdlib
LAYERS = {
    "faults": set(),
    "context": set(),
    "hardening": set(),
    "trace_env": set(),
    "loop": {"context", "faults", "trace_env"},
    "snapstart": {"faults", "loop"},
}

RUNTIMES = available_runtimes()
#: the oldest and the newest interpreter: the runtime must work on every python3.8+
INTERPRETERS = sorted({next(iter(RUNTIMES.values())), next(reversed(RUNTIMES.values()))}) if RUNTIMES else []

LOGGING_APP = """
import logging
logging.getLogger().setLevel(logging.INFO)
logging.getLogger("app").info("at init")

def handler(event, context):
    logging.getLogger("app").info("in %s", event["n"])
    return {"rid": context.aws_request_id, "remaining": context.get_remaining_time_in_millis() > 0}
"""

SHADOW_APP = """
import sys
import context, loop

def handler(event, context_):
    plain = sorted(k for k in sys.modules if k in ("context", "loop", "faults", "hardening", "snapstart"))
    return {"context": context.MINE, "loop": loop.MINE, "plain": plain}
"""

FAILING_APP = """
def helper():
    raise ValueError("broken")

def handler(event, context):
    helper()
"""

TRACE_APP = """
import ctypes, os, subprocess, sys
getenv = ctypes.CDLL(None).getenv
getenv.argtypes, getenv.restype = [ctypes.c_char_p], ctypes.c_char_p
CHILD = "import os; print(os.environ.get('_X_AMZN_TRACE_ID'))"

def handler(event, context):
    seen = {
        "environ": os.environ.get("_X_AMZN_TRACE_ID"),
        "getenv": os.getenv("_X_AMZN_TRACE_ID"),
        "c": None if getenv(b"_X_AMZN_TRACE_ID") is None else getenv(b"_X_AMZN_TRACE_ID").decode(),
        "child": subprocess.run([sys.executable, "-I", "-S", "-c", CHILD], capture_output=True, text=True).stdout,
    }
    if event.get("then") == "set":
        os.environ["_X_AMZN_TRACE_ID"] = "the function's own"
    elif event.get("then") == "delete":
        del os.environ["_X_AMZN_TRACE_ID"]
    return seen
"""

RSS_APP = """
def handler(event, context):
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))
"""


IMPORTING_APP = """
import sys

def handler(event, context):
    sys.path.insert(0, event["dir"])
    import extra
    return extra.VALUE
"""


def server_trace_header(n: int) -> str:
    """A trace header shaped as the server makes them (instances/environment.trace_header), distinct for each n."""
    return f"Root=1-6745a0b1-{n:024x};Parent={n:016x};Sampled=0"


class Instance(FrameChannel):
    """One bootstrap process on a socketpair, as the server runs it unsandboxed."""

    who = "the instance"

    def __init__(self, interpreter: Path, task_root: Path) -> None:
        super().__init__()
        self.sock, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        env = {"_HANDLER": "app.handler", "AWS_LAMBDA_FUNCTION_NAME": "fn", "LANG": "C.UTF-8"}
        argv = [str(interpreter), "-I", "-S", "-u", "-X", "utf8", str(BOOTSTRAP), str(FRAMES_PATH),
                str(theirs.fileno()), str(task_root)]  # fmt: skip
        self.proc = subprocess.Popen(
            argv, pass_fds=(theirs.fileno(),), env=env, cwd=task_root, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
        theirs.close()
        self.sock.settimeout(30)

    def stop(self) -> list[str]:
        """Close the channel (the runtime exits 0 on EOF); its output lines."""
        self.sock.close()
        out, _ = self.proc.communicate(timeout=30)
        assert self.proc.returncode == 0, out
        return out.decode().split("\n")  # a log event may hold \r (a multi-line record)


@pytest.fixture
def start(tmp_path: Path) -> Iterator[object]:
    started: list[Instance] = []

    def _start(files: dict[str, str], interpreter: Path | None = None) -> Instance:
        instance = Instance(interpreter or Path(sys.executable), task_root(tmp_path / f"task{len(started)}", files))
        started.append(instance)
        return instance

    yield _start
    kill_running(started)


@pytest.mark.skipif(not INTERPRETERS, reason="no python runtimes on this host")
@pytest.mark.parametrize("interpreter", INTERPRETERS, ids=lambda p: p.name)
def test_log_records_carry_the_request_id_of_the_invocation_in_progress(start: object, interpreter: Path) -> None:
    instance = start({"app.py": LOGGING_APP}, interpreter)  # type: ignore[operator]
    assert instance.receive().kind == frames.READY
    for rid in ("r-1", "r-2"):
        frame = instance.invoke(rid, {"n": rid})
        assert frame.kind == frames.RESULT, frame
        assert json.loads(frame.body) == {"rid": rid, "remaining": True}
    lines = [line.split("\t") for line in instance.stop() if line.startswith("[INFO]")]
    assert [(fields[2], fields[3]) for fields in lines] == [("", "at init"), ("r-1", "in r-1"), ("r-2", "in r-2")]
    assert all(fields[1].endswith("Z") for fields in lines)


def test_a_functions_own_context_and_loop_modules_are_its_own(start: object) -> None:
    """The runtime's modules live under a private package name: they never shadow (nor get shadowed by) a
    function's modules of the same names."""
    instance = start({"app.py": SHADOW_APP, "context.py": "MINE = 'c'\n", "loop.py": "MINE = 'l'\n"})  # type: ignore[operator]
    assert instance.receive().kind == frames.READY
    frame = instance.invoke("r-1", {})
    assert json.loads(frame.body) == {"context": "c", "loop": "l", "plain": ["context", "loop"]}
    instance.stop()


def test_an_error_trace_starts_in_the_functions_code(start: object) -> None:
    instance = start({"app.py": FAILING_APP})  # type: ignore[operator]
    assert instance.receive().kind == frames.READY
    frame = instance.invoke("r-1", {})
    assert frame.kind == frames.ERROR
    error = json.loads(frame.body)
    assert (error["errorType"], error["errorMessage"], error["requestId"]) == ("ValueError", "broken", "r-1")
    assert len(error["stackTrace"]) == 2
    assert all("app.py" in entry for entry in error["stackTrace"])
    assert "max_rss_kb" in frame.header
    out = instance.stop()
    assert any(line.startswith("[ERROR] ValueError: broken\rTraceback (most recent call last):") for line in out)


def test_an_init_failure_is_reported_and_ends_the_instance(start: object) -> None:
    instance = start({"app.py": "import no_such_dependency_xyz\n"})  # type: ignore[operator]
    frame = instance.receive()
    assert frame.kind == frames.INIT_ERROR
    error = json.loads(frame.body)
    assert error["errorType"] == "Runtime.ImportModuleError"
    assert "no_such_dependency_xyz" in error["errorMessage"]
    assert instance.proc.wait(timeout=30) == 1


def test_each_invocation_sees_its_own_trace_header_in_python_c_and_child_processes(start: object) -> None:
    """_X_AMZN_TRACE_ID is the invocation's trace header for os.environ, os.getenv, C's getenv and a child process
    alike, whatever its length, and unset when the invocation has none; a function that set or deleted it itself
    sees the next invocation's header all the same."""
    instance = start({"app.py": TRACE_APP})  # type: ignore[operator]
    assert instance.receive().kind == frames.READY
    steps = [
        (server_trace_header(1), None),
        ("Root=1-a", None),
        ("Root=1-" + "b" * 300, None),  # longer than the buffer the runtime keeps for it
        (server_trace_header(2), "set"),
        (server_trace_header(3), None),
        ("", None),  # no trace header: unset
        (server_trace_header(4), "delete"),
        (server_trace_header(5), None),
    ]
    for n, (trace, then) in enumerate(steps):
        frame = instance.invoke(f"r-{n}", {"then": then}, trace_id=trace)
        assert frame.kind == frames.RESULT, frame
        expected = trace or None
        assert json.loads(frame.body) == {"environ": expected, "getenv": expected, "c": expected,
                                          "child": f"{expected}\n"}, (n, trace)  # fmt: skip
    instance.stop()


def test_distinct_trace_headers_do_not_grow_the_runtimes_memory(start: object) -> None:
    """glibc's setenv keeps every value it was ever given: setting each invocation's trace header with it grew the
    runtime by ~140 bytes per invocation (2.8 MB per 20,000; a 128 MB function OOM-killed after some 700,000).
    The header is written in place instead."""
    instance = start({"app.py": RSS_APP})  # type: ignore[operator]
    assert instance.receive().kind == frames.READY

    def rss_after(invocations: range) -> int:
        for n in invocations:
            frame = instance.invoke(f"r-{n}", {}, trace_id=server_trace_header(n))
        return int(json.loads(frame.body))

    before = rss_after(range(2000))
    after = rss_after(range(2000, 22_000))
    assert after - before < 1024, f"VmRSS grew {after - before} kB over 20,000 invocations"
    instance.stop()


def _process(pid: int) -> tuple[str, int]:
    """(scheduler state, voluntary context switches so far) of a process, from /proc."""
    with open(f"/proc/{pid}/stat") as stat:
        state = stat.read().rsplit(")", 1)[1].split()[0]
    with open(f"/proc/{pid}/status") as status:
        switches = next(int(line.split()[1]) for line in status if line.startswith("voluntary_ctxt_switches:"))
    return state, switches


def test_the_runtime_sleeps_once_per_invocation_not_again_when_its_reply_is_read(start: object) -> None:
    """The runtime waits for the next frame in a poll for input. A blocking read would wait on the socket's one wait
    queue, which the kernel also wakes when the server reads the reply (its buffer freed: writable again): each
    invocation woke the runtime twice, once for nothing. Here the reply is read only once the runtime is asleep
    again, and its voluntary context switches are counted: one per invocation, not two."""
    instance = start({"app.py": "def handler(event, context):\n    return event\n"})  # type: ignore[operator]
    assert instance.receive().kind == frames.READY
    pid = instance.proc.pid

    def wait_asleep() -> None:
        deadline = time.monotonic() + 30
        while _process(pid)[0] != "S":
            assert time.monotonic() < deadline, "the runtime never went to sleep"
            time.sleep(0.001)

    wait_asleep()
    before = _process(pid)[1]
    invocations = 100
    for n in range(invocations):
        header = frames.invoke_header(f"r-{n}", int(time.time() * 1000) + 30_000, "arn:fn", "")
        instance.sock.sendall(frames.encode(frames.INVOKE, header, b"{}"))
        assert select.select([instance.sock], [], [], 30)[0], "no reply"
        wait_asleep()  # replied and waiting for the next frame: now read the reply
        assert instance.receive().kind == frames.RESULT
    wait_asleep()
    switches = _process(pid)[1] - before
    assert switches < invocations * 1.5, f"{switches} sleeps for {invocations} invocations"
    instance.stop()


# ---- the module layout ------------------------------------------------------------------------------------------


def test_a_spawned_sandbox_mounts_every_module_of_the_runtime() -> None:
    """A spawned bootstrap imports its modules from /var/runtime: a module added beside it must be listed there."""
    on_disk = {p.name for p in PYTHON_RUNTIME_DIR.glob("*.py")}
    assert on_disk == {"bootstrap.py", "snapshot_restore_py.py", *BOOTSTRAP_MODULES}
    assert all(RUNTIME_FILES[name] == PYTHON_RUNTIME_DIR / name for name in BOOTSTRAP_MODULES)
    assert {name.removesuffix(".py") for name in BOOTSTRAP_MODULES} == set(LAYERS)


@pytest.mark.parametrize("module", sorted(LAYERS))
def test_runtime_modules_import_the_stdlib_and_their_lower_layers_only(module: str) -> None:
    tree = ast.parse((PYTHON_RUNTIME_DIR / f"{module}.py").read_text())
    relative: set[str] = set()
    absolute: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level:
            relative.add(node.module or "")
        elif isinstance(node, ast.ImportFrom) and node.module:
            absolute.add(node.module.split(".")[0])
        elif isinstance(node, ast.Import):
            absolute.update(a.name.split(".")[0] for a in node.names)
    assert relative <= LAYERS[module], relative
    assert absolute <= sys.stdlib_module_names | {"__future__"}, absolute - sys.stdlib_module_names


@pytest.mark.skipif(not INTERPRETERS, reason="no python runtimes on this host")
@pytest.mark.parametrize("interpreter", INTERPRETERS, ids=lambda p: p.name)
def test_loading_the_bootstrap_imports_every_module_under_the_private_package(interpreter: Path) -> None:
    """What a zygote does before it forks (zygote_main.py): after it, a forked instance, a spare or a SnapStart
    restore imports no runtime file (its sandbox need not show them), and no runtime module has a plain name."""
    script = (
        "import importlib.util, sys\n"
        f"spec = importlib.util.spec_from_file_location('_nimbus_bootstrap', {str(BOOTSTRAP)!r})\n"
        "m = importlib.util.module_from_spec(spec); sys.modules[spec.name] = m; spec.loader.exec_module(m)\n"
        "print(' '.join(sorted(k for k in sys.modules if k.startswith('_nimbus_runtime.'))))\n"
        f"print(' '.join(sorted(k for k in sys.modules if k in {sorted(LAYERS)!r})))\n"
    )
    out = subprocess.run([str(interpreter), "-I", "-S", "-c", script], capture_output=True, text=True, check=True)
    loaded, plain = out.stdout.split("\n")[:2]
    assert loaded.split() == [f"_nimbus_runtime.{name.removesuffix('.py')}" for name in sorted(BOOTSTRAP_MODULES)]
    assert plain == ""


def test_the_runtime_writes_no_bytecode_for_what_the_function_imports(start: object, tmp_path: Path) -> None:
    """A sandbox's /var/task and /opt are read-only, so each module's attempt to write its .pyc there was only a
    refused mkdir and a caught exception (~30 µs a module, on every cold start): none is attempted, anywhere."""
    mods = tmp_path / "mods"
    mods.mkdir()
    (mods / "extra.py").write_text("VALUE = 7\n")
    instance = start({"app.py": IMPORTING_APP})  # type: ignore[operator]
    assert instance.receive().kind == frames.READY
    assert json.loads(instance.invoke("r-1", {"dir": str(mods)}).body) == 7
    instance.stop()
    assert not list(mods.rglob("__pycache__")), "a writable dir: the runtime would have cached its bytecode there"
