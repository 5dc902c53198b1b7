"""What the console's buttons do, each through the service its API call goes through: create a function (the
registry's CreateFunction), invoke it with a test event (the invoke door, as the Invoke call with LogType=Tail),
save and delete test events.
"""

from __future__ import annotations

import base64
import io
import re
import zipfile
from typing import Any

from nimbus.api.app import new_request_id
from nimbus.api.services import Services
from nimbus.console.test_events import TestEvents
from nimbus.control.validation import FunctionRef
from nimbus.errors import InvalidParameterValue
from nimbus.invoke.invoker import InvokeOptions
from nimbus.protocol import json_text

_REPORT = re.compile(
    r"REPORT RequestId: (?P<id>\S+)\s+Duration: (?P<duration>[\d.]+) ms\s+Billed Duration: (?P<billed>\d+) ms"
    r"\s+Memory Size: (?P<memory>\d+) MB\s+Max Memory Used: (?P<max_memory>\d+) MB"
    r"(?:\s+Init Duration: (?P<init>[\d.]+) ms)?"
)
#: the file a new function's code is written to, by runtime family
_FILES = {"python": "lambda_function.py", "nodejs": "index.mjs"}


def report(log: str) -> dict[str, Any]:
    """The REPORT line's figures: duration, billed duration, memory size, max memory used, init duration (ms, MB)."""
    found = list(_REPORT.finditer(log))
    if not found:
        return {}
    m = found[-1]
    return {
        "duration_ms": float(m["duration"]), "billed_ms": int(m["billed"]), "memory_mb": int(m["memory"]),
        "max_memory_mb": int(m["max_memory"]), "init_ms": float(m["init"]) if m["init"] else None,
    }  # fmt: skip


def zip_one(filename: str, source: str) -> str:
    """A zip holding one file, base64-encoded as CreateFunction's Code.ZipFile."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(zipfile.ZipInfo(filename, (2020, 1, 1, 0, 0, 0)), source)
    return base64.b64encode(buffer.getvalue()).decode()


async def create_function(services: Services, fields: dict[str, str]) -> str:
    """CreateFunction from the console's form: a name, a runtime, a handler and one source file."""
    runtime = fields.get("runtime", "")
    family = "python" if runtime.startswith("python") else "nodejs" if runtime.startswith("nodejs") else ""
    if not family:
        raise InvalidParameterValue("The console creates Python and Node.js functions; use the API for others.")
    filename = _FILES[family]
    module = filename.rpartition(".")[0]
    try:
        memory = int(fields.get("memory") or 128)
    except ValueError:
        raise InvalidParameterValue("MemorySize must be a whole number of MB.") from None
    body = {
        "FunctionName": fields.get("name", ""), "Runtime": runtime, "Handler": f"{module}.handler",
        "Role": fields.get("role", ""), "MemorySize": memory,
        "Code": {"ZipFile": zip_one(filename, fields.get("code", ""))},
    }  # fmt: skip
    out = await services.registry.create(body)
    return str(out["FunctionName"])


async def invoke(services: Services, name: str, payload: bytes) -> dict[str, Any]:
    """Invoke `name` ($LATEST) as the Invoke call does with LogType=Tail, and what the console shows of it."""
    request_id = new_request_id()
    options = InvokeOptions(request_id, log_type="Tail", source="console")
    result = await services.invoker.invoke(FunctionRef(name, None), payload, options)
    log = (result.log_tail or b"").decode("utf-8", "replace")
    return {
        "request_id": request_id, "status": 200, "function_error": result.function_error,
        "version": result.executed_version, "response": result.payload.decode("utf-8", "replace"),
        "log": log, **report(log),
    }  # fmt: skip


async def save_event(events: TestEvents, function: str, body: dict[str, Any]) -> None:
    name, payload = body.get("name"), body.get("payload")
    if not isinstance(name, str) or not isinstance(payload, str):
        raise InvalidParameterValue("A test event needs a name and a payload (text).")
    await events.put(function, name, payload)


def parse_body(raw: bytes) -> dict[str, Any]:
    try:
        value = json_text.loads(raw or b"{}")
    except ValueError:
        raise InvalidParameterValue("The request body must be a JSON object.") from None
    if not isinstance(value, dict):
        raise InvalidParameterValue("The request body must be a JSON object.")
    return value
