"""Nimbus's Python runtime: runs inside every instance process, on any python3.8+, stdlib only.

Started by the server as `python3.N -I -S -u -X utf8 bootstrap.py <frames.py> <control fd> <task root>`, or
loaded by a zygote (instances/zygote_main.py), which calls `run` in each forked child. It loads the shared frame
codec by path (it cannot import `nimbus`), imports the handler once (init), says READY or INIT_ERROR, then serves
INVOKE frames one at a time until the server closes the control socket. Behaviour follows awslambdaric: error
shapes and messages, the context object, the log line format.

The runtime is this entry point and the modules beside it:

    faults.py     error results, the [ERROR] log line, handler loading     (imports nothing of ours)
    context.py    the handler's context object, the logging set-up          (imports nothing of ours)
    hardening.py  the read-only task root of an unsandboxed instance       (imports nothing of ours)
    trace_env.py  each invocation's _X_AMZN_TRACE_ID, without setenv's leak (imports nothing of ours)
    loop.py       the control channel and the invoke loop (the warm path)   (context, faults, trace_env)
    snapstart.py  the template's fork server, the snapshot hooks            (faults, loop)

They are imported as the private package `_nimbus_runtime`, whose path is this directory: never on sys.path under
their own names, so a function's `context` or `loop` module is never shadowed by ours, nor ours by it. All of them
are imported here, at load time: a zygote has them in memory before it forks, and a forked instance (whose sandbox
may not even show the host's copy of this directory) imports nothing more.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import time
import types

_THIS_FILE = os.path.abspath(__file__)
_HERE = os.path.dirname(_THIS_FILE)
PACKAGE = "_nimbus_runtime"


def _package():
    """The private package of the runtime's modules (made once per process; a zygote's children inherit it)."""
    package = sys.modules.get(PACKAGE)
    if package is None:
        package = types.ModuleType(PACKAGE, "The Nimbus Python runtime's modules (see bootstrap.py).")
        package.__path__ = [_HERE]
        package.__package__ = PACKAGE
        sys.modules[PACKAGE] = package
    return package


_package()
from _nimbus_runtime.context import setup_logging  # noqa: E402
from _nimbus_runtime.faults import (  # noqa: E402
    FaultException,
    build_fault_result,
    get_handler,
    log_error,
    make_error,
    out_of_memory,
)
from _nimbus_runtime.hardening import protect_task_root  # noqa: E402
from _nimbus_runtime.loop import Channel, InvokeLoop  # noqa: E402
from _nimbus_runtime.snapstart import run_hooks, serve_template  # noqa: E402


def _load_codec(path):
    spec = importlib.util.spec_from_file_location("_nimbus_frames", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


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
    restore_seccomp = bytes.fromhex(os.environ.pop("_NIMBUS_RESTORE_SECCOMP", ""))
    sdk = os.environ.pop("_NIMBUS_PYTHON_SDK", "")
    loop = InvokeLoop(Channel(codec, control_fd))
    read_only = protect_task_root(task_root)
    sys.argv = [_THIS_FILE]
    os.chdir(task_root)
    runtime_dir = os.environ.get("LAMBDA_RUNTIME_DIR") or _HERE
    version = "python{}.{}".format(*sys.version_info[:2])
    stdlib = [p for p in sys.path if p and os.path.abspath(p) != _HERE]
    sys.path[:] = [task_root, f"/opt/python/lib/{version}/site-packages", "/opt/python", runtime_dir, *stdlib]
    if sdk:  # boto3 and botocore, last: a function's own copy (in /var/task or a layer) wins, as on Lambda
        sys.path.append(sdk)
    # no .pyc is written for what the function imports: /var/task and /opt are read-only, so each module's attempt
    # (a mkdir refused, an exception caught: ~30 µs a module) only slowed its import
    sys.dont_write_bytecode = True
    setup_logging(loop)

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
        loop.channel.send_error(codec.INIT_ERROR, error)
        os._exit(1)
    if template:
        # returns only in a restored child, with its own channel (and sandbox: see snapstart.py)
        loop.channel, isolated = serve_template(loop.channel, restore_seccomp)
        restored = time.monotonic()
        error = run_hooks("after_restore")
        if error is not None:
            log_error(error)
            loop.channel.send_error(codec.INIT_ERROR, error)
            os._exit(1)
        loop.channel.send(codec.READY, header={"task_root_read_only": read_only, "restored": True, "isolated": isolated,
                                               "restore_ms": (time.monotonic() - restored) * 1000})
    else:
        loop.channel.send(codec.READY, header={"task_root_read_only": read_only})
    loop.handler = handler
    loop.serve()


if __name__ == "__main__":
    main()
