"""What the Python runtime says when something fails: Lambda's error results, their log lines, and handler loading.

Part of the in-instance runtime (see bootstrap.py): any python3.8+, stdlib only, never imports `nimbus`. Error
shapes, messages and the `[ERROR]` log line follow awslambdaric, so a function sees what it sees on Lambda.
"""

from __future__ import annotations

import decimal
import importlib
import json
import os
import resource
import sys
import time
import traceback

#: the runtime's own directory: traceback frames of files here are the runtime's, never shown to the function
RUNTIME_DIR = os.path.dirname(os.path.abspath(__file__))


class FaultException(Exception):
    """A failure that is the runtime's to name (a bad handler, an unmarshallable result), with Lambda's type."""

    MALFORMED_HANDLER_NAME = "Runtime.MalformedHandlerName"
    IMPORT_MODULE_ERROR = "Runtime.ImportModuleError"
    USER_CODE_SYNTAX_ERROR = "Runtime.UserCodeSyntaxError"
    HANDLER_NOT_FOUND = "Runtime.HandlerNotFound"
    BUILT_IN_MODULE_CONFLICT = "Runtime.BuiltInModuleConflict"
    UNMARSHAL_ERROR = "Runtime.UnmarshalError"
    MARSHAL_ERROR = "Runtime.MarshalError"

    def __init__(self, exception_type, msg, trace=None):
        Exception.__init__(self, msg)
        self.exception_type = exception_type
        self.msg = msg
        self.trace = trace


def make_error(message, error_type, stack_trace, request_id):
    return {
        "errorMessage": message if message else "",
        "errorType": error_type if error_type else "Exception",
        "requestId": request_id,
        "stackTrace": stack_trace if stack_trace else [],
    }


def build_fault_result(exc_info, request_id):
    """The error result of an exception the function raised, its traceback cut to start at the function's code."""
    etype, value, tb = exc_info
    frames = traceback.extract_tb(tb)
    for i, frame in enumerate(frames):
        if os.path.dirname(os.path.abspath(frame[0])) != RUNTIME_DIR:
            frames = frames[i:]
            break
    else:
        frames = []
    return make_error(str(value), etype.__name__, traceback.format_list(frames), request_id)


def log_error(error_result):
    """awslambdaric's `[ERROR] <Type>: <msg>\\rTraceback (most recent call last):\\r...` (one log event); with the
    JSON log format its JSON record instead: `timestamp`, `log_level` (awslambdaric's key here, not `level`), and
    the error result's errorMessage, errorType, requestId and stackTrace."""
    if os.environ.get("AWS_LAMBDA_LOG_FORMAT", "").upper() == "JSON":
        now = time.time()
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now * 1000) % 1000:03d}Z"
        record = {"timestamp": stamp, "log_level": "ERROR", **error_result}
        sys.stdout.write(json.dumps(record, default=str, ensure_ascii=False) + "\n")
        sys.stdout.flush()
        return
    description = "[ERROR]"
    if error_result.get("errorType"):
        description += " " + error_result["errorType"]
    if error_result.get("errorMessage"):
        if error_result.get("errorType"):
            description += ":"
        description += " " + error_result["errorMessage"]
    lines = [description]
    stack = error_result.get("stackTrace")
    if stack is not None:
        lines.append("Traceback (most recent call last):")
        for element in stack:
            if element == "":
                lines.append("")
            else:
                lines.extend(element.splitlines())
    sys.stdout.write("\r".join(lines) + "\n")
    sys.stdout.flush()


def _decimal_default(obj):
    if isinstance(obj, decimal.Decimal):
        if obj.is_finite() and obj == obj.to_integral_value() and obj.as_tuple().exponent >= 0:
            return int(obj)
        return float(obj)
    raise TypeError(f"Object of type {type(obj).__name__} is not JSON serializable")


#: one encoder for every result: json.dumps with any non-default argument builds a new JSONEncoder per call
_encode_result = json.JSONEncoder(default=_decimal_default, ensure_ascii=False).encode


def to_json(obj):
    """The handler's return value as the result body (Decimals as numbers, as awslambdaric marshals them)."""
    return _encode_result(obj).encode("utf-8")


def out_of_memory():
    """A MemoryError under RLIMIT_DATA (a sandbox without a memory cgroup, see instances/rlimits.py) is the limit
    reached: end as the kernel's OOM killer would have ended this process under a cgroup, so the platform reports
    Runtime.OutOfMemory and replaces the instance. Without that rlimit it is an ordinary exception."""
    if resource.getrlimit(resource.RLIMIT_DATA)[0] != resource.RLIM_INFINITY:
        sys.stdout.flush()
        sys.stderr.flush()
        os.kill(os.getpid(), 9)


def get_handler(handler):
    """Import the handler's module (the init phase) and return the handler; a FaultException names what is wrong."""
    try:
        modname, fname = handler.rsplit(".", 1)
    except ValueError as e:
        raise FaultException(FaultException.MALFORMED_HANDLER_NAME, f"Bad handler '{handler}': {e}") from None
    try:
        if modname.split(".")[0] in sys.builtin_module_names:
            raise FaultException(
                FaultException.BUILT_IN_MODULE_CONFLICT,
                f"Cannot use built-in module {modname} as a handler module",
            )
        module = importlib.import_module(modname.replace("/", "."))
    except ImportError as e:
        raise FaultException(FaultException.IMPORT_MODULE_ERROR, f"Unable to import module '{modname}': {e}") from None
    except SyntaxError as e:
        trace = [f'  File "{e.filename}" Line {e.lineno}\n    {e.text}']
        raise FaultException(
            FaultException.USER_CODE_SYNTAX_ERROR, f"Syntax error in module '{modname}': {e}", trace
        ) from None
    try:
        return getattr(module, fname)
    except AttributeError:
        raise FaultException(
            FaultException.HANDLER_NOT_FOUND, f"Handler '{fname}' missing on module '{modname}'"
        ) from None
