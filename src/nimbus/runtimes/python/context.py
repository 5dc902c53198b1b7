"""The handler's `context` argument, and the logging set-up that stamps each record with the request id.

Part of the in-instance runtime (see bootstrap.py): any python3.8+, stdlib only, never imports `nimbus`. The shapes
(attribute names, reprs, the log line format) follow awslambdaric, because functions and libraries such as
Powertools read them.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
import traceback


class CognitoIdentity:
    __slots__ = ["cognito_identity_id", "cognito_identity_pool_id"]

    def __init__(self, identity_id=None, pool_id=None):
        self.cognito_identity_id = identity_id
        self.cognito_identity_pool_id = pool_id

    def __repr__(self):
        return (
            f"CognitoIdentity([cognito_identity_id={self.cognito_identity_id}, "
            f"cognito_identity_pool_id={self.cognito_identity_pool_id}])"
        )


class Client:
    __slots__ = ["app_package_name", "app_title", "app_version_code", "app_version_name", "installation_id"]

    def __init__(self, **fields):
        for name in self.__slots__:
            setattr(self, name, fields.get(name))


class ClientContext:
    __slots__ = ["client", "custom", "env"]

    def __init__(self, custom=None, env=None, client=None):
        self.custom = custom
        self.env = env
        self.client = client


def _client_context(raw):
    """The invoke's ClientContext JSON as objects (None when absent or not a JSON object, as awslambdaric does)."""
    if not raw:
        return None
    try:
        data = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    client = data.get("client")
    client = Client(**{k: client.get(k) for k in Client.__slots__}) if isinstance(client, dict) else None
    return ClientContext(data.get("custom"), data.get("env"), client)


_ENCODING = sys.getfilesystemencoding()
#: the function's identity in the environment, in the order of LambdaContext's fields
_IDENTITY = (
    "AWS_LAMBDA_LOG_GROUP_NAME",
    "AWS_LAMBDA_LOG_STREAM_NAME",
    "AWS_LAMBDA_FUNCTION_NAME",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
    "AWS_LAMBDA_FUNCTION_VERSION",
)
_IDENTITY_KEYS = tuple(name.encode(_ENCODING, "surrogateescape") for name in _IDENTITY)


def _identity():
    """The values of _IDENTITY (None where unset) as `os.environ.get` reads them, from `os.environ`'s own mapping of
    encoded names to encoded values when it is the usual one: each `os.environ.get` is three Python calls, and
    every invocation reads five. Asked as it is when something replaced `os.environ`."""
    environ = os.environ
    if type(environ) is not os._Environ:
        return [environ.get(name) for name in _IDENTITY]
    get = environ._data.get
    return [None if (v := get(key)) is None else v.decode(_ENCODING, "surrogateescape") for key in _IDENTITY_KEYS]


class LambdaContext:
    """One invocation's context: its request id and deadline, and the function's identity from the environment
    (read as each invocation starts, as awslambdaric does)."""

    def __init__(self, request_id, deadline_ms, invoked_arn, client_context):
        self.aws_request_id = request_id
        (
            self.log_group_name,
            self.log_stream_name,
            self.function_name,
            self.memory_limit_in_mb,
            self.function_version,
        ) = _identity()
        self.invoked_function_arn = invoked_arn
        self.tenant_id = None
        self.client_context = _client_context(client_context)
        self.identity = CognitoIdentity()
        self._deadline_ms = int(deadline_ms)

    def get_remaining_time_in_millis(self):
        return max(self._deadline_ms - int(time.time() * 1000), 0)

    def log(self, msg):
        sys.stdout.write(str(msg))
        sys.stdout.flush()

    def __repr__(self):
        return (
            f"LambdaContext([aws_request_id={self.aws_request_id},log_group_name={self.log_group_name},log_stream_name={self.log_stream_name},function_name={self.function_name},"
            f"memory_limit_in_mb={self.memory_limit_in_mb},function_version={self.function_version},invoked_function_arn={self.invoked_function_arn},client_context={self.client_context},identity={self.identity}])"
        )


# -- logging ---------------------------------------------------------------------------------------------------------


class LambdaLoggerHandler(logging.Handler):
    """`[LEVEL]\\t<UTC time>Z\\t<request id>\\t<message>` (or a JSON object), one line per record (newlines
    become \\r)."""

    def emit(self, record):
        try:
            msg = self.format(record)
            sys.stdout.write(msg.replace("\n", "\r") + "\n")
            sys.stdout.flush()
        except Exception:
            self.handleError(record)


class LambdaLoggerFilter(logging.Filter):
    """Stamps each record with the request id of the invocation in progress ("" during init).

    It reads `request_id` from the object that serves invocations (loop.InvokeLoop), which sets it as each
    invocation starts: per-request state lives on that object, never in a module global.
    """

    def __init__(self, invocations):
        logging.Filter.__init__(self)
        self.invocations = invocations

    def filter(self, record):
        record.aws_request_id = self.invocations.request_id
        return True


#: LogRecord attributes that are not a record's extra fields (awslambdaric's list)
_RESERVED_ATTRIBUTES = frozenset(
    (
        "name", "msg", "args", "levelname", "levelno", "pathname", "filename", "module", "exc_info", "exc_text",
        "stack_info", "lineno", "funcName", "created", "msecs", "relativeCreated", "thread", "threadName",
        "processName", "process", "taskName", "aws_request_id", "message", "asctime",
    )
)  # fmt: skip


class JsonFormatter(logging.Formatter):
    """Lambda's JSON log format (LoggingConfig LogFormat JSON) as awslambdaric writes it: one object per record,
    `timestamp`, `level`, `message`, `logger`, `requestId`; for an exception also `errorType`, `errorMessage`,
    `stackTrace` and `location`; a record's `extra` fields as further keys. Fields that are None are left out."""

    def formatTime(self, record, datefmt=None):
        return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z"

    def format(self, record):
        record.levelno = min(50, max(0, record.levelno)) // 10 * 10
        record.levelname = logging.getLevelName(record.levelno)
        exc = record.exc_info
        result = {
            "timestamp": self.formatTime(record),
            "level": record.levelname,
            "message": record.getMessage(),
            "logger": record.name,
            "stackTrace": traceback.format_tb(exc[2]) if exc else None,
            "errorType": exc[0].__name__ if exc else None,
            "errorMessage": str(exc[1]) if exc else None,
            "requestId": getattr(record, "aws_request_id", None) or None,
            "location": f"{record.pathname}:{record.funcName}:{record.lineno}" if exc else None,
        }
        for key, value in record.__dict__.items():
            if key not in _RESERVED_ATTRIBUTES and key not in result:
                result[key] = value
        return json.dumps({k: v for k, v in result.items() if v is not None}, default=str, ensure_ascii=False)


def json_logs():
    """LoggingConfig's format, as Lambda tells the runtime: AWS_LAMBDA_LOG_FORMAT."""
    return os.environ.get("AWS_LAMBDA_LOG_FORMAT", "").upper() == "JSON"


def _handler(formatter):
    handler = LambdaLoggerHandler()
    handler.setFormatter(formatter)
    return handler


def _text_formatter():
    formatter = logging.Formatter(
        "[%(levelname)s]\t%(asctime)s.%(msecs)03dZ\t%(aws_request_id)s\t%(message)s", "%Y-%m-%dT%H:%M:%S"
    )
    formatter.converter = time.gmtime
    return formatter


#: the text format's handler, made as this module is imported: a zygote's forks (and spares) inherit it made, which
#: takes ~25 µs off each cold start; `setup_logging` gives it its process's filter
_TEXT_HANDLER = _handler(_text_formatter())


def setup_logging(invocations):
    """Route the root logger to stdout in Lambda's format (text lines, or JSON objects when AWS_LAMBDA_LOG_FORMAT
    is JSON), at AWS_LAMBDA_LOG_LEVEL when it is set (the ApplicationLogLevel, with the JSON format).

    `invocations` is anything with a `request_id` attribute: the invoke loop, which keeps it current.
    """
    handler = _handler(JsonFormatter()) if json_logs() else _TEXT_HANDLER
    handler.filters[:] = [LambdaLoggerFilter(invocations)]
    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
    root.addHandler(handler)
    level = os.environ.get("AWS_LAMBDA_LOG_LEVEL", "").upper()
    if level:
        root.setLevel({"TRACE": "DEBUG", "FATAL": "CRITICAL"}.get(level, level))
