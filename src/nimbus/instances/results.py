"""The results the platform itself makes for an invocation that failed below the function: Lambda's shapes.

A timeout, a crash, an out-of-memory kill or an oversized response is not an exception of ours: it is the
invocation's result, with `FunctionError: Unhandled` and an error body in the form Lambda returns for its own
errors. One module builds them all, so the starter and the instance word them the same way.
"""

from __future__ import annotations

import json

from nimbus.logs import framing
from nimbus.protocol import frames

UNHANDLED = "Unhandled"
OUT_OF_MEMORY = "Runtime.OutOfMemory"


def error_payload(error_type: str, message: str) -> bytes:
    """A platform-made error result, in the shape Lambda returns for its own errors."""
    return json.dumps({"errorType": error_type, "errorMessage": message}, separators=(",", ":")).encode()


def timeout_error(rid: str, timeout_s: int) -> bytes:
    return error_payload("Sandbox.Timedout", f"RequestId: {rid} Error: {framing.timeout_message(timeout_s)}")


def exit_error(rid: str, description: str) -> bytes:
    return error_payload("Runtime.ExitError", f"RequestId: {rid} Error: Runtime exited with error: {description}")


def oom_error(rid: str, description: str) -> bytes:
    """What Lambda returns when an instance hits its memory limit (the kernel killed it)."""
    return error_payload(OUT_OF_MEMORY, f"RequestId: {rid} Error: Runtime exited with error: {description}")


def too_large_error() -> bytes:
    return error_payload(
        "Function.ResponseSizeTooLarge",
        f"Response payload size exceeded maximum allowed payload size ({frames.MAX_RESPONSE_BYTES} bytes).",
    )
