"""Lambda's advanced logging controls in the runtimes, driven directly: the Python bootstrap and the Node.js
bootstrap started as the server starts an unsandboxed instance, with the environment the server sets for a
LoggingConfig (AWS_LAMBDA_LOG_FORMAT, AWS_LAMBDA_LOG_LEVEL), speaking the frame codec over a socketpair.

What they prove: the JSON log format writes one JSON object per logger record with Lambda's keys, print()/raw
stdout stays as it is, the application log level filters the logger's records, an unhandled error is one JSON
record, and `_X_AMZN_TRACE_ID` is the invocation's trace header in both runtimes."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from runtimes_support import FrameChannel, kill_running, task_root

from nimbus.instances.environment import FRAMES_PATH, NODE_BOOTSTRAP, trace_header
from nimbus.protocol import frames
from nimbus.runtimes.registry import PYTHON_RUNTIME_DIR, node_binary

BOOTSTRAP = PYTHON_RUNTIME_DIR / "bootstrap.py"
NODE = node_binary()
ISO_MS = r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z"
TRACE_RE = r"Root=1-[0-9a-f]{8}-[0-9a-f]{24};Parent=[0-9a-f]{16};Sampled=[01]"

PY_APP = """
import logging, os
log = logging.getLogger()
logging.getLogger("init").info("at init")

def handler(event, context):
    log.debug("debug hidden")
    log.info("info %s", event["n"], extra={"orderId": 7})
    logging.getLogger("app.db").warning("careful")
    print("plain print line")
    try:
        raise KeyError("k")
    except KeyError:
        log.exception("caught")
    if event.get("fail"):
        raise ValueError("boom")
    return os.environ.get("_X_AMZN_TRACE_ID")
"""

NODE_APP = """
exports.handler = async (event) => {
  console.trace('trace hidden');
  console.debug('debug hidden');
  console.log('log', event.n);
  console.info('info');
  console.warn('warn');
  console.error('error');
  process.stdout.write('raw stdout\\n');
  if (event.fail) throw new TypeError('boom');
  return process.env._X_AMZN_TRACE_ID;
};
"""


class Runtime(FrameChannel):
    """One bootstrap process on a socketpair, its stdout collected."""

    def __init__(self, argv: list[str], their_fd: int, env: dict[str, str], root: Path) -> None:
        super().__init__()
        self.proc = subprocess.Popen(argv, pass_fds=(their_fd,), env=env, cwd=root, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT)  # fmt: skip

    def stop(self) -> list[str]:
        self.sock.close()
        out, _ = self.proc.communicate(timeout=30)
        return [line for line in out.decode().split("\n") if line]


@pytest.fixture
def start(tmp_path: Path) -> Iterator[Any]:
    started: list[Runtime] = []

    def _start(kind: str, files: dict[str, str], **env: str) -> Runtime:
        root = task_root(tmp_path / f"task{len(started)}", files)
        mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        full_env = {"AWS_LAMBDA_FUNCTION_NAME": "fn", "LANG": "C.UTF-8", "TZ": ":UTC", **env}
        if kind == "python":
            full_env["_HANDLER"] = "app.handler"
            argv = [sys.executable, "-I", "-S", "-u", "-X", "utf8", str(BOOTSTRAP), str(FRAMES_PATH),
                    str(theirs.fileno()), str(root)]  # fmt: skip
        else:
            assert NODE is not None
            full_env.update(_HANDLER="index.handler", LAMBDA_TASK_ROOT=str(root))
            argv = [str(NODE[0]), str(NODE_BOOTSTRAP), str(theirs.fileno())]
        runtime = Runtime(argv, theirs.fileno(), full_env, root)
        runtime.sock = mine
        mine.settimeout(30)
        theirs.close()
        started.append(runtime)
        return runtime

    yield _start
    kill_running(started)


def records(lines: list[str]) -> tuple[list[dict[str, Any]], list[str]]:
    """(the JSON objects, the other lines) of a runtime's output."""
    objects, plain = [], []
    for line in lines:
        try:
            value = json.loads(line)
        except ValueError:
            plain.append(line)
            continue
        (objects if isinstance(value, dict) else plain).append(value)
    return objects, plain


# ---- Python --------------------------------------------------------------------------------------------------------


def test_python_json_format_writes_lambdas_record_per_logger_call(start: Any) -> None:
    rt = start("python", {"app.py": PY_APP}, AWS_LAMBDA_LOG_FORMAT="JSON", AWS_LAMBDA_LOG_LEVEL="INFO")
    assert rt.receive().kind == frames.READY
    trace = trace_header("Active")
    frame = rt.invoke("rid-1", {"n": 1}, trace)
    assert frame.kind == frames.RESULT
    assert json.loads(frame.body) == trace, "os.environ has the invocation's trace header"
    objects, plain = records(rt.stop())
    assert plain == ["plain print line"], "print() is not a logger record: it stays as it is"
    init, info, warn, caught = objects
    assert init == {"timestamp": init["timestamp"], "level": "INFO", "message": "at init", "logger": "init"}
    assert "requestId" not in init, "no request id during init"
    assert re.fullmatch(ISO_MS, info["timestamp"])
    assert info == {"timestamp": info["timestamp"], "level": "INFO", "message": "info 1", "logger": "root",
                    "requestId": "rid-1", "orderId": 7}  # fmt: skip
    assert (warn["level"], warn["logger"], warn["message"]) == ("WARNING", "app.db", "careful")
    assert (caught["level"], caught["errorType"], caught["errorMessage"]) == ("ERROR", "KeyError", "'k'")
    assert "app.py" in caught["stackTrace"][0]
    assert caught["location"].endswith("app.py:handler:14")


def test_python_application_log_level_filters_logger_records(start: Any) -> None:
    rt = start("python", {"app.py": PY_APP}, AWS_LAMBDA_LOG_FORMAT="JSON", AWS_LAMBDA_LOG_LEVEL="WARN")
    assert rt.receive().kind == frames.READY
    assert rt.invoke("rid-2", {"n": 2}).kind == frames.RESULT
    objects, plain = records(rt.stop())
    assert [o["level"] for o in objects] == ["WARNING", "ERROR"]
    assert plain == ["plain print line"], "the level filters the logger, not stdout"


def test_python_debug_level_lets_debug_records_through(start: Any) -> None:
    rt = start("python", {"app.py": PY_APP}, AWS_LAMBDA_LOG_FORMAT="JSON", AWS_LAMBDA_LOG_LEVEL="TRACE")
    assert rt.receive().kind == frames.READY
    rt.invoke("rid-3", {"n": 3})
    objects, _ = records(rt.stop())
    assert [o["level"] for o in objects] == ["INFO", "DEBUG", "INFO", "WARNING", "ERROR"]


def test_python_unhandled_error_is_one_json_record(start: Any) -> None:
    rt = start("python", {"app.py": PY_APP}, AWS_LAMBDA_LOG_FORMAT="JSON", AWS_LAMBDA_LOG_LEVEL="INFO")
    assert rt.receive().kind == frames.READY
    assert rt.invoke("rid-4", {"n": 4, "fail": True}).kind == frames.ERROR
    objects, _ = records(rt.stop())
    error = objects[-1]
    assert re.fullmatch(ISO_MS, error["timestamp"])
    assert (error["log_level"], error["errorType"], error["errorMessage"], error["requestId"]) == (
        "ERROR", "ValueError", "boom", "rid-4")  # fmt: skip
    assert any("app.py" in entry for entry in error["stackTrace"])


def test_python_text_format_is_unchanged(start: Any) -> None:
    rt = start("python", {"app.py": PY_APP}, AWS_LAMBDA_LOG_FORMAT="Text")
    assert rt.receive().kind == frames.READY
    frame = rt.invoke("rid-5", {"n": 5})
    assert json.loads(frame.body) is None, "no trace header sent: none set"
    objects, plain = records(rt.stop())
    assert not objects
    assert any(line.startswith("[WARNING]\t") and line.endswith("\trid-5\tcareful") for line in plain)


# ---- Node.js -------------------------------------------------------------------------------------------------------

needs_node = pytest.mark.skipif(NODE is None, reason="no node on this host")


@needs_node
def test_node_json_format_and_application_log_level(start: Any) -> None:
    rt = start("nodejs", {"index.js": NODE_APP}, AWS_LAMBDA_LOG_FORMAT="JSON", AWS_LAMBDA_LOG_LEVEL="INFO")
    assert rt.receive().kind == frames.READY
    trace = trace_header("PassThrough")
    frame = rt.invoke("rid-n", {"n": 1}, trace)
    assert frame.kind == frames.RESULT
    assert json.loads(frame.body) == trace, "process.env has the invocation's trace header"
    objects, plain = records(rt.stop())
    assert plain == ["raw stdout"]
    assert [(o["level"], o["message"]) for o in objects] == [("INFO", "log 1"), ("INFO", "info"), ("WARN", "warn"),
                                                             ("ERROR", "error")]  # fmt: skip
    for record in objects:
        assert set(record) == {"timestamp", "level", "requestId", "message"}
        assert record["requestId"] == "rid-n"
        assert re.fullmatch(ISO_MS, record["timestamp"])


@needs_node
def test_node_error_level_and_trace_level(start: Any) -> None:
    rt = start("nodejs", {"index.js": NODE_APP}, AWS_LAMBDA_LOG_FORMAT="JSON", AWS_LAMBDA_LOG_LEVEL="ERROR")
    assert rt.receive().kind == frames.READY
    rt.invoke("rid-e", {"n": 1})
    objects, _ = records(rt.stop())
    assert [o["level"] for o in objects] == ["ERROR"]
    rt = start("nodejs", {"index.js": NODE_APP}, AWS_LAMBDA_LOG_FORMAT="JSON", AWS_LAMBDA_LOG_LEVEL="TRACE")
    assert rt.receive().kind == frames.READY
    rt.invoke("rid-t", {"n": 1})
    objects, _ = records(rt.stop())
    assert [o["level"] for o in objects][:2] == ["TRACE", "DEBUG"]


def test_trace_header_is_lambdas_shape() -> None:
    active, passthrough = trace_header("Active", now=0x5F5E1000), trace_header("PassThrough")
    assert re.fullmatch(TRACE_RE, active)
    assert active.startswith("Root=1-5f5e1000-")
    assert active.endswith("Sampled=1")
    assert re.fullmatch(TRACE_RE, passthrough)
    assert passthrough.endswith("Sampled=0")
    assert trace_header("Active") != trace_header("Active")
