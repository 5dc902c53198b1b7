"""Nimbus's Python runtime: runs inside every instance process, on any python3.8+, stdlib only.

Started by the server as `python3.N -I -S -u -X utf8 bootstrap.py <frames.py> <control fd> <task root>`.
It loads the shared frame codec by path (it cannot import `nimbus`), imports the handler once (init), says READY
or INIT_ERROR, then serves INVOKE frames one at a time until the server closes the control socket.
Behaviour follows awslambdaric: error shapes and messages, the context object, the log line format.
"""

from __future__ import annotations

import contextlib
import decimal
import importlib
import importlib.util
import json
import logging
import os
import resource
import select
import socket
import sys
import time
import traceback

_THIS_FILE = os.path.abspath(__file__)
_current_request_id = ""


class FaultException(Exception):
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


# -- context ---------------------------------------------------------------------------------------------------------


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


class LambdaContext:
    def __init__(self, request_id, deadline_ms, invoked_arn, client_context):
        self.aws_request_id = request_id
        self.log_group_name = os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME")
        self.log_stream_name = os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME")
        self.function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME")
        self.memory_limit_in_mb = os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE")
        self.function_version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION")
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
    """`[LEVEL]\\t<UTC time>Z\\t<request id>\\t<message>`, one line per record (newlines become \\r)."""

    def emit(self, record):
        try:
            msg = self.format(record)
            sys.stdout.write(msg.replace("\n", "\r") + "\n")
            sys.stdout.flush()
        except Exception:
            self.handleError(record)


class LambdaLoggerFilter(logging.Filter):
    def filter(self, record):
        record.aws_request_id = _current_request_id
        return True


def _setup_logging():
    formatter = logging.Formatter(
        "[%(levelname)s]\t%(asctime)s.%(msecs)03dZ\t%(aws_request_id)s\t%(message)s", "%Y-%m-%dT%H:%M:%S"
    )
    formatter.converter = time.gmtime
    handler = LambdaLoggerHandler()
    handler.setFormatter(formatter)
    handler.addFilter(LambdaLoggerFilter())
    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
    root.addHandler(handler)
    level = os.environ.get("AWS_LAMBDA_LOG_LEVEL", "").upper()
    if level:
        root.setLevel({"TRACE": "DEBUG", "FATAL": "CRITICAL"}.get(level, level))


def log_error(error_result):
    """awslambdaric's `[ERROR] <Type>: <msg>\\rTraceback (most recent call last):\\r...` (one log event)."""
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


# -- errors and results ----------------------------------------------------------------------------------------------


def make_error(message, error_type, stack_trace, request_id):
    return {
        "errorMessage": message if message else "",
        "errorType": error_type if error_type else "Exception",
        "requestId": request_id,
        "stackTrace": stack_trace if stack_trace else [],
    }


def build_fault_result(exc_info, request_id):
    etype, value, tb = exc_info
    frames = traceback.extract_tb(tb)
    for i, frame in enumerate(frames):
        if os.path.abspath(frame[0]) != _THIS_FILE:
            frames = frames[i:]
            break
    else:
        frames = []
    return make_error(str(value), etype.__name__, traceback.format_list(frames), request_id)


def _decimal_default(obj):
    if isinstance(obj, decimal.Decimal):
        if obj.is_finite() and obj == obj.to_integral_value() and obj.as_tuple().exponent >= 0:
            return int(obj)
        return float(obj)
    raise TypeError(f"Object of type {type(obj).__name__} is not JSON serializable")


def to_json(obj):
    return json.dumps(obj, default=_decimal_default, ensure_ascii=False).encode("utf-8")


# -- handler loading (init) ------------------------------------------------------------------------------------------


def get_handler(handler):
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


# -- the instance loop -----------------------------------------------------------------------------------------------


def _load_codec(path):
    spec = importlib.util.spec_from_file_location("_nimbus_frames", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


class Channel:
    """The control socket: blocking reads of whole frames, whole-frame writes."""

    def __init__(self, codec, fd):
        self.codec = codec
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM, 0, fd)
        self.sock.set_inheritable(False)  # user subprocesses must not get the control channel
        self.decoder = codec.FrameDecoder()
        self.queue = []
        #: busy-poll this long before the next blocking read (the server asks for it when it is otherwise idle:
        #: the next invoke then finds this process running, not asleep on a halted vCPU)
        self.spin_ns = 0
        self.poller = None

    def receive(self):
        if self.spin_ns and not self.queue:
            end = time.perf_counter_ns() + self.spin_ns
            self.spin_ns = 0
            if self.poller is None:
                self.poller = select.poll()
                self.poller.register(self.sock, select.POLLIN)
            while not self.poller.poll(0) and time.perf_counter_ns() < end:
                os.sched_yield()  # the server may have been woken on this CPU: let it run first
        while not self.queue:
            data = self.sock.recv(1 << 18)
            if not data:
                return None
            self.queue.extend(self.decoder.feed(data))
        return self.queue.pop(0)

    def send(self, kind, body=b"", header=None):
        sys.stdout.flush()
        sys.stderr.flush()
        if kind in (self.codec.RESULT, self.codec.ERROR):
            # the peak RSS rides along with the result: the server reads no /proc file per invocation
            header = dict(header or {}, max_rss_kb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
        self.sock.sendall(self.codec.encode(kind, header, body))


def out_of_memory():
    """A MemoryError under RLIMIT_DATA (a sandbox without a memory cgroup, see instances/rlimits.py) is the limit
    reached: end as the kernel's OOM killer would have ended this process under a cgroup, so the platform reports
    Runtime.OutOfMemory and replaces the instance. Without that rlimit it is an ordinary exception."""
    if resource.getrlimit(resource.RLIMIT_DATA)[0] != resource.RLIM_INFINITY:
        sys.stdout.flush()
        sys.stderr.flush()
        os.kill(os.getpid(), 9)


def _error_frame(channel, kind, error_result):
    channel.send(kind, json.dumps(error_result).encode("utf-8"))


def handle_invoke(channel, handler, header, body):
    global _current_request_id
    codec = channel.codec
    request_id = header["request_id"]
    _current_request_id = request_id
    trace_id = header.get("trace_id")
    if trace_id:
        os.environ["_X_AMZN_TRACE_ID"] = trace_id
    else:
        os.environ.pop("_X_AMZN_TRACE_ID", None)
    context = LambdaContext(request_id, header["deadline_ms"], header["invoked_arn"], header.get("client_context"))
    channel.spin_ns = header.get("spin_us", 0) * 1000
    try:
        try:
            event = json.loads(body) if body else {}
        except ValueError as e:
            raise FaultException(FaultException.UNMARSHAL_ERROR, f"Unable to unmarshal input: {e}") from None
        result = handler(event, context)
        try:
            out = to_json(result)
        except (TypeError, ValueError, OverflowError, UnicodeError) as e:
            raise FaultException(FaultException.MARSHAL_ERROR, f"Unable to marshal response: {e}") from None
    except FaultException as e:
        error = make_error(e.msg, e.exception_type, e.trace, request_id)
        log_error(error)
        _error_frame(channel, codec.ERROR, error)
        return
    except Exception as e:
        if isinstance(e, MemoryError):
            out_of_memory()
        error = build_fault_result(sys.exc_info(), request_id)
        log_error(error)
        _error_frame(channel, codec.ERROR, error)
        return
    if len(out) > codec.MAX_RESPONSE_BYTES:
        too_large = {
            "errorMessage": "Response payload size exceeded maximum allowed payload size "
            f"({codec.MAX_RESPONSE_BYTES} bytes).",
            "errorType": "Function.ResponseSizeTooLarge",
        }
        _error_frame(channel, codec.ERROR, too_large)
        return
    channel.send(codec.RESULT, out)


CLONE_NEWNS = 0x00020000
MS_RDONLY, MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 0x1, 0x20, 0x1000, 0x4000, 0x40000


def protect_task_root(task_root):
    """Make the task root read-only for this instance, before any function code runs.

    A private mount namespace with a read-only bind mount of the task root: writes fail with EROFS whatever the
    file modes say, and functions sharing one unpacked tree cannot touch each other's code. Needs CAP_SYS_ADMIN;
    without it (an unprivileged server) nothing changes and the server warns. Hardening (dropped capabilities,
    no root) is the sandbox's job, which replaces this step.
    """
    try:
        if os.statvfs(task_root).f_flag & os.ST_RDONLY:
            return True  # already read-only: the instance runs in a sandbox (or the tree is on a read-only mount)
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_void_p]
        path = os.fsencode(task_root)
        return (
            libc.unshare(CLONE_NEWNS) == 0
            and libc.mount(None, b"/", None, MS_REC | MS_PRIVATE, None) == 0
            and libc.mount(path, path, None, MS_BIND | MS_REC, None) == 0
            and libc.mount(None, path, None, MS_REMOUNT | MS_BIND | MS_RDONLY, None) == 0
        )
    except (OSError, AttributeError, ImportError):
        return False


def main():
    frames_path, control_fd, task_root = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    run(_load_codec(frames_path), control_fd, task_root)


def run(codec, control_fd, task_root):
    """Init (import the handler), say READY or INIT_ERROR, then serve invocations until the channel closes.

    Called by `main` in a fresh interpreter, or in-process by a zygote's forked child (which imported this module
    and the codec before forking). With `_NIMBUS_SNAPSHOT` set the process becomes a SnapStart template after
    init: it runs the before-snapshot hooks and then only forks restored instances (`serve_template`).
    """
    template = os.environ.pop("_NIMBUS_SNAPSHOT", "") == "1"
    channel = Channel(codec, control_fd)
    read_only = protect_task_root(task_root)
    sys.argv = [_THIS_FILE]
    os.chdir(task_root)
    runtime_dir = os.environ.get("LAMBDA_RUNTIME_DIR") or os.path.dirname(_THIS_FILE)
    version = "python{}.{}".format(*sys.version_info[:2])
    stdlib = [p for p in sys.path if p and os.path.abspath(p) != os.path.dirname(_THIS_FILE)]
    sys.path[:] = [task_root, f"/opt/python/lib/{version}/site-packages", "/opt/python", runtime_dir, *stdlib]
    _setup_logging()

    try:
        handler = get_handler(os.environ.get("_HANDLER", ""))
    except FaultException as e:
        error = make_error(e.msg, e.exception_type, e.trace, "")
    except Exception as e:
        if isinstance(e, MemoryError):
            out_of_memory()
        error = build_fault_result(sys.exc_info(), "")
    else:
        error = None
    if error is None and template:
        error = run_hooks("before_snapshot")
    if error is not None:
        log_error(error)
        _error_frame(channel, codec.INIT_ERROR, error)
        os._exit(1)
    if template:
        channel = serve_template(channel)  # returns only in a restored child, with its own channel
        restored = time.monotonic()
        error = run_hooks("after_restore")
        if error is not None:
            log_error(error)
            _error_frame(channel, codec.INIT_ERROR, error)
            os._exit(1)
        channel.send(codec.READY, header={"task_root_read_only": read_only, "restored": True,
                                          "restore_ms": (time.monotonic() - restored) * 1000})
    else:
        channel.send(codec.READY, header={"task_root_read_only": read_only})

    while True:
        frame = channel.receive()
        if frame is None:  # the server closed the channel: stop
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(0)
        if frame.kind == codec.INVOKE:
            handle_invoke(channel, handler, frame.header, frame.body)


# -- SnapStart -------------------------------------------------------------------------------------------------------

#: (registry getter, order, error type) per hook phase, as Lambda's Python SnapStart runs them
_HOOKS = {
    "before_snapshot": ("get_before_snapshot", -1, "Runtime.BeforeSnapshotError"),
    "after_restore": ("get_after_restore", 1, "Runtime.AfterRestoreError"),
}


def run_hooks(phase):
    """Run the hooks registered with `snapshot_restore_py` (the function's own copy, or the runtime's), before
    hooks in reverse registration order, after hooks in order; an error result on the first failure, else None."""
    getter, order, error_type = _HOOKS[phase]
    if phase == "after_restore":
        _reseed()
    module = sys.modules.get("snapshot_restore_py")
    if module is None:
        return None
    try:
        hooks = list(getattr(module, getter)())[::order]
        for entry in hooks:
            func, args, kwargs = entry if isinstance(entry, tuple) else (entry, (), {})
            func(*args, **kwargs)
    except Exception as e:
        error = build_fault_result(sys.exc_info(), "")
        error["errorType"] = error_type
        error["errorMessage"] = f"{type(e).__name__}: {e}"
        return error
    return None


def _reseed():
    """A restored instance must not repeat its template's (or its siblings') random sequence."""
    rnd = sys.modules.get("random")
    if rnd is not None:
        rnd.seed()


def serve_template(channel):
    """Be a SnapStart template: say READY, then fork one restored instance per FORK frame (the server sends the new
    instance's control socket and output pipe with it, SCM_RIGHTS), report each fork's pid and each exit.
    Returns only in a forked child, with the child's own channel on the control fd."""
    import array
    import select
    import signal

    codec = channel.codec
    sock = channel.sock
    channel.send(codec.READY, header={"template": True})
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    os.set_blocking(wake_r, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    fd_size = array.array("i").itemsize
    decoder = codec.FrameDecoder()
    while True:
        ready, _, _ = select.select([sock, wake_r], [], [])
        if wake_r in ready:
            with contextlib.suppress(BlockingIOError):
                os.read(wake_r, 512)
            while True:
                try:
                    pid, status = os.waitpid(-1, os.WNOHANG)
                except ChildProcessError:
                    break
                if pid == 0:
                    break
                channel.send("exited", header={"pid": pid, "status": status})
        if sock not in ready:
            continue
        data, ancdata, _, _ = sock.recvmsg(1 << 16, socket.CMSG_SPACE(4 * fd_size))
        if not data:
            sys.stdout.flush()
            os._exit(0)
        fds = []
        for level, kind, payload in ancdata:
            if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                fds += array.array("i", payload[: len(payload) - len(payload) % fd_size]).tolist()
        for frame in decoder.feed(data):
            if frame.kind != "fork" or len(fds) < 2:
                continue
            control, output = fds[0], fds[1]
            fds = fds[2:]
            pid = os.fork()
            if pid == 0:
                signal.set_wakeup_fd(-1)
                signal.signal(signal.SIGCHLD, signal.SIG_DFL)
                os.close(wake_r)
                os.close(wake_w)
                fileno = sock.fileno()
                sock.detach()
                os.dup2(output, 1)
                os.dup2(output, 2)
                os.dup2(control, fileno)
                os.close(output)
                os.close(control)
                os.environ.update(frame.header.get("env") or {})
                return Channel(codec, fileno)
            os.close(control)
            os.close(output)
            channel.send("forked", header={"pid": pid})
        for fd in fds:
            os.close(fd)


if __name__ == "__main__":
    main()
