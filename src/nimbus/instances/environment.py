"""What an instance process is started with: the Lambda environment variables and the runtime's command line.

The environment is built from scratch (nothing of the server's own environment leaks in); the function's own
variables come next, and can never override a reserved key. `_X_AMZN_TRACE_ID` changes per invocation: the
runtime sets it from the INVOKE frame's trace header, made here (`trace_header`).
"""

from __future__ import annotations

import functools
import time
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path

import nimbus.protocol.frames as frames_module
import nimbus.protocol.runtime_api as runtime_api_module
from nimbus.instances.process import CONTROL_FD, LaunchCommand, SandboxSpec
from nimbus.protocol.random_ids import random_hex
from nimbus.protocol.records import FunctionSpec
from nimbus.runtimes import sdk
from nimbus.runtimes.registry import (
    NODEJS_RUNTIME_DIR,
    PROVIDED_RUNTIME_DIR,
    PYTHON_RUNTIME_DIR,
    ResolvedRuntime,
    shim_interpreter,
)

DEFAULT_PATH = "/usr/local/bin:/usr/bin/:/bin:/opt/bin"
#: inside a sandbox, as on Lambda: the runtime first
SANDBOX_PATH = "/var/lang/bin:/usr/local/bin:/usr/bin/:/bin:/opt/bin"
#: Lambda's; /var/lang/lib first, which is also how a relocated interpreter finds its libpython
SANDBOX_LD_LIBRARY_PATH = (
    "/var/lang/lib:/lib64:/usr/lib64:/var/runtime:/var/runtime/lib:/var/task:/var/task/lib:/opt/lib"
)
SANDBOX_TASK_ROOT = Path("/var/task")
SANDBOX_RUNTIME_DIR = Path("/var/runtime")
SANDBOX_LANG = Path("/var/lang")
BOOTSTRAP = PYTHON_RUNTIME_DIR / "bootstrap.py"
SNAPSHOT_HOOKS = PYTHON_RUNTIME_DIR / "snapshot_restore_py.py"
#: the Python runtime's modules beside bootstrap.py: a spawned bootstrap imports them from /var/runtime, while a
#: zygote's forks (and spares, and SnapStart restores) have them in memory already and need no mount of them
BOOTSTRAP_MODULES = ("context.py", "faults.py", "hardening.py", "loop.py", "snapstart.py", "trace_env.py")
#: the sources, which every runtime loads by path: the server may run them compiled (a .so: nimbus/compiled.py)
FRAMES_PATH = Path(frames_module.__file__).resolve().with_name("frames.py")
RUNTIME_API_PATH = Path(runtime_api_module.__file__).resolve().with_name("runtime_api.py")
NODE_BOOTSTRAP = NODEJS_RUNTIME_DIR / "bootstrap.mjs"
SHIM = PROVIDED_RUNTIME_DIR / "shim.py"
#: files mounted under /var/runtime in a sandbox, by the name they have there
RUNTIME_FILES = {
    "bootstrap.py": BOOTSTRAP,
    "snapshot_restore_py.py": SNAPSHOT_HOOKS,
    "nimbus_frames.py": FRAMES_PATH,
    "bootstrap.mjs": NODE_BOOTSTRAP,
    "shim.py": SHIM,
    "nimbus_runtime_api.py": RUNTIME_API_PATH,
    **{name: PYTHON_RUNTIME_DIR / name for name in BOOTSTRAP_MODULES},
}
#: where a sandboxed custom runtime's Runtime API listens when it has its own network namespace (as in Lambda's RIE)
RUNTIME_API_PRIVATE = "127.0.0.1:9001"
#: ... unless the server itself listens on 9001, whose port the API's listener in the sandbox keeps (`downstream.py`)
RUNTIME_API_MOVED = "127.0.0.1:9002"
#: with the host's network: an ephemeral port on loopback, served only to the sandbox's own processes
RUNTIME_API_HOST = "127.0.0.1:0"

#: keys a function's configuration may not set (Lambda rejects them at configuration time; we also drop them here)
RESERVED_KEYS = frozenset(
    {
        "_HANDLER",
        "_X_AMZN_TRACE_ID",
        "AWS_DEFAULT_REGION",
        "AWS_REGION",
        "AWS_EXECUTION_ENV",
        "AWS_LAMBDA_FUNCTION_NAME",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
        "AWS_LAMBDA_FUNCTION_VERSION",
        "AWS_LAMBDA_FUNCTION_TIMEOUT",
        "AWS_LAMBDA_INITIALIZATION_TYPE",
        "AWS_LAMBDA_LOG_GROUP_NAME",
        "AWS_LAMBDA_LOG_STREAM_NAME",
        "AWS_LAMBDA_RUNTIME_API",
        "LAMBDA_TASK_ROOT",
        "LAMBDA_RUNTIME_DIR",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_CREDENTIAL_EXPIRATION",
    }
)


def instance_environment(
    spec: FunctionSpec,
    runtime: ResolvedRuntime,
    log_group: str,
    stream: str,
    sandboxed: bool = False,
    init_type: str = "on-demand",
) -> dict[str, str]:
    env = {
        "PATH": SANDBOX_PATH if sandboxed else DEFAULT_PATH,
        "LANG": "en_US.UTF-8",
        "TZ": ":UTC",
    }
    env.update((k, v) for k, v in spec.environment if k not in RESERVED_KEYS)
    env.update(
        {
            "_HANDLER": spec.handler,
            "AWS_REGION": spec.region,
            "AWS_DEFAULT_REGION": spec.region,
            "AWS_LAMBDA_FUNCTION_NAME": spec.name,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory_mb),
            "AWS_LAMBDA_FUNCTION_VERSION": spec.version,
            "AWS_LAMBDA_FUNCTION_TIMEOUT": str(spec.timeout_s),
            "AWS_LAMBDA_INITIALIZATION_TYPE": init_type,
            "AWS_LAMBDA_LOG_GROUP_NAME": log_group,
            "AWS_LAMBDA_LOG_STREAM_NAME": stream,
            "LAMBDA_TASK_ROOT": str(SANDBOX_TASK_ROOT if sandboxed else spec.code_dir),
            "LAMBDA_RUNTIME_DIR": str(SANDBOX_RUNTIME_DIR if sandboxed else PYTHON_RUNTIME_DIR),
        }
    )
    if spec.log_format == "JSON":  # what Lambda's runtimes read for the advanced logging controls
        env["AWS_LAMBDA_LOG_FORMAT"] = "JSON"
        env["AWS_LAMBDA_LOG_LEVEL"] = spec.app_log_level or "INFO"
    else:  # a function may still set these itself, as it may on Lambda with the Text format
        env.setdefault("AWS_LAMBDA_LOG_FORMAT", "Text")
    if runtime.kind != "provided":  # Lambda sets no AWS_EXECUTION_ENV for custom runtimes
        env["AWS_EXECUTION_ENV"] = f"AWS_Lambda_{runtime.name}"
    if runtime.kind == "nodejs":
        env.setdefault("NODE_PATH", node_path(runtime, sandboxed))  # a function may set its own, as on Lambda
        env["LAMBDA_RUNTIME_DIR"] = str(SANDBOX_RUNTIME_DIR if sandboxed else NODEJS_RUNTIME_DIR)
    if runtime.kind == "provided" and not sandboxed:
        env["LAMBDA_RUNTIME_DIR"] = str(PROVIDED_RUNTIME_DIR)
    if sandboxed:
        env["LD_LIBRARY_PATH"] = SANDBOX_LD_LIBRARY_PATH
    return env


def trace_header(mode: str, now: float | None = None) -> str:
    """A new X-Ray trace header as Lambda puts it in `_X_AMZN_TRACE_ID` for one invocation: a root trace id (time
    plus 96 random bits), the segment it runs under, and whether it is sampled (TracingConfig Active)."""
    epoch = int(time.time() if now is None else now)
    sampled = 1 if mode == "Active" else 0
    bits = random_hex(40)  # the root's 96 random bits and the parent's 64, from the pool (no syscall per invoke)
    return f"Root=1-{epoch:08x}-{bits[:24]};Parent={bits[24:]};Sampled={sampled}"


def node_path(runtime: ResolvedRuntime, sandboxed: bool = True) -> str:
    """Lambda's NODE_PATH for a nodejsNN.x runtime (unsandboxed, the SDK's node_modules is the host's)."""
    major = runtime.name.removeprefix("nodejs").removesuffix(".x")
    node_sdk = sdk.node_sdk()
    modules = sdk.SANDBOX_NODE_MODULES if sandboxed or node_sdk is None else str(node_sdk)
    return f"/opt/nodejs/node{major}/node_modules:/opt/nodejs/node_modules:{modules}:/var/runtime:/var/task"


def launch_command(
    spec: FunctionSpec,
    runtime: ResolvedRuntime,
    log_group: str,
    stream: str,
    sandboxed: bool = False,
    init_type: str = "on-demand",
    downstream: Mapping[str, str] | None = None,
    credentials: Mapping[str, str] | None = None,
    api_listener: int = 0,
) -> LaunchCommand:
    """The command for an instance of `spec`, whatever the kind of its runtime. `init_type` is what
    AWS_LAMBDA_INITIALIZATION_TYPE says: on-demand, provisioned-concurrency or snap-start (a SnapStart template,
    which also gets `_NIMBUS_SNAPSHOT=1`; the bootstrap removes it before any function code runs).
    `downstream`: endpoint variables, which the function's own variables of the same name override; `credentials`:
    the instance's session (reserved keys: nothing overrides them); `api_listener`: a sandbox with no network
    passes the server a listening socket for the API made inside it, on 127.0.0.1 at this port."""
    if runtime.kind == "nodejs":
        command = node_command(spec, runtime, log_group, stream, sandboxed)
    elif runtime.kind == "provided":
        command = provided_command(spec, runtime, log_group, stream, sandboxed)
    else:
        command = python_command(spec, runtime, log_group, stream, sandboxed)
    if init_type != "on-demand":
        env = dict(command.env, AWS_LAMBDA_INITIALIZATION_TYPE=init_type)
        if init_type == "snap-start":
            env["_NIMBUS_SNAPSHOT"] = "1"
            # as on Lambda: SnapStart functions get no log group/stream variables
            env.pop("AWS_LAMBDA_LOG_GROUP_NAME", None)
            env.pop("AWS_LAMBDA_LOG_STREAM_NAME", None)
        command = replace(command, env=env)
    if downstream or credentials:
        env = {**(downstream or {}), **command.env, **(credentials or {})}
        command = replace(command, env=env)
    if api_listener and command.sandbox is not None and command.sandbox.network == "none":
        command = replace(command, sandbox=replace(command.sandbox, api_listener=api_listener))
        if f"127.0.0.1:{api_listener}" == RUNTIME_API_PRIVATE:  # a server on 9001: the API keeps its port (the URLs
            # it hands out name it), a custom runtime's Runtime API moves (runtimes read AWS_LAMBDA_RUNTIME_API)
            argv = [RUNTIME_API_MOVED if a == RUNTIME_API_PRIVATE else a for a in command.argv]
            command = replace(command, argv=argv)
    return command


@functools.lru_cache(maxsize=64)
def runtime_prefix(interpreter: Path) -> Path:
    """The installation an interpreter belongs to (`<prefix>/bin/python3.N` with `<prefix>/lib/python3.N/`): what
    a sandbox mounts at /var/lang."""
    prefix = interpreter.parent.parent
    if not (prefix / "lib" / interpreter.name / "os.py").is_file():
        raise RuntimeError(f"cannot find the standard library of {interpreter} under {prefix}/lib")
    return prefix


def _sandbox_spec(spec: FunctionSpec, prefix: Path) -> SandboxSpec:
    return SandboxSpec(
        code_dir=spec.code_dir,
        layer_dirs=spec.layer_dirs,
        runtime_prefix=prefix,
        memory_mb=spec.memory_mb,
        ephemeral_storage_mb=spec.ephemeral_storage_mb,
        network=spec.network,
    )


def node_flags(memory_mb: int) -> list[str]:
    """V8 heap limits sized to the function's memory, as Lambda's Node bootstrap sets them (approximately)."""
    semi = max(1, min(32, memory_mb * 5 // 100 // 3))
    old = max(16, memory_mb * 90 // 100 - 3 * semi)
    return [
        "--expose-gc",
        "--max-http-header-size=81920",
        f"--max-semi-space-size={semi}",
        f"--max-old-space-size={old}",
    ]


def node_command(
    spec: FunctionSpec, runtime: ResolvedRuntime, log_group: str, stream: str, sandboxed: bool = False
) -> LaunchCommand:
    """`node <heap flags> bootstrap.mjs <control fd>`; sandboxed, node is /var/lang/bin/node (the host's node
    installation mounted read-only at /var/lang) and the bootstrap /var/runtime/bootstrap.mjs."""
    env = instance_environment(spec, runtime, log_group, stream, sandboxed=sandboxed)
    flags = node_flags(spec.memory_mb)
    if sandboxed:
        prefix = runtime.interpreter.parent.parent
        argv = [
            str(SANDBOX_LANG / runtime.interpreter.relative_to(prefix)),
            *flags,
            str(SANDBOX_RUNTIME_DIR / "bootstrap.mjs"),
            str(CONTROL_FD),
        ]
        # the launcher runs sandbox_init.py with `interpreter` (a host python), which then execs node inside
        host_python = shim_interpreter()
        if host_python is None:
            raise RuntimeError("a sandboxed Node.js instance needs a host python3.9+ to set up its sandbox")
        return LaunchCommand(host_python[1], argv, env, SANDBOX_TASK_ROOT, _sandbox_spec(spec, prefix))
    argv = [str(runtime.interpreter), *flags, str(NODE_BOOTSTRAP), str(CONTROL_FD)]
    return LaunchCommand(runtime.interpreter, argv, env, spec.code_dir)


def provided_command(
    spec: FunctionSpec, runtime: ResolvedRuntime, log_group: str, stream: str, sandboxed: bool = False
) -> LaunchCommand:
    """`python3.N -I -S -u shim.py <frames.py> <runtime_api.py> <fd> <listen> <peer check> <bootstrap>...`: the
    Runtime API shim, which starts the function's own bootstrap (/var/task/bootstrap, else /opt/bootstrap)."""
    env = instance_environment(spec, runtime, log_group, stream, sandboxed=sandboxed)
    if sandboxed:
        prefix = runtime_prefix(runtime.interpreter)
        private_net = spec.network == "none"
        argv = [
            str(SANDBOX_LANG / runtime.interpreter.relative_to(prefix)),
            *_SHIM_FLAGS,
            str(SANDBOX_RUNTIME_DIR / "shim.py"),
            str(SANDBOX_RUNTIME_DIR / "nimbus_frames.py"),
            str(SANDBOX_RUNTIME_DIR / "nimbus_runtime_api.py"),
            str(CONTROL_FD),
            RUNTIME_API_PRIVATE if private_net else RUNTIME_API_HOST,
            "0" if private_net else "1",
            str(SANDBOX_TASK_ROOT / "bootstrap"),
            "/opt/bootstrap",
        ]
        return LaunchCommand(runtime.interpreter, argv, env, SANDBOX_TASK_ROOT, _sandbox_spec(spec, prefix))
    # unsandboxed (no namespaces on this host): no private /proc, so no peer check; layers are not merged at /opt
    candidates = [spec.code_dir / "bootstrap", *(d / "bootstrap" for d in reversed(spec.layer_dirs))]
    argv = [
        str(runtime.interpreter),
        *_SHIM_FLAGS,
        str(SHIM),
        str(FRAMES_PATH),
        str(RUNTIME_API_PATH),
        str(CONTROL_FD),
        RUNTIME_API_HOST,
        "0",
        *map(str, candidates),
    ]
    return LaunchCommand(runtime.interpreter, argv, env, spec.code_dir)


def python_command(
    spec: FunctionSpec, runtime: ResolvedRuntime, log_group: str, stream: str, sandboxed: bool = False
) -> LaunchCommand:
    """`python3.N -I -S -u -X utf8 bootstrap.py <frames.py> <control fd> <task root>`.

    Sandboxed, every path is the one seen from inside: /var/lang/bin/python3.N, /var/runtime, /var/task.
    """
    if sandboxed:
        prefix = runtime_prefix(runtime.interpreter)
        sandbox = _sandbox_spec(spec, prefix)
        argv = [
            str(SANDBOX_LANG / runtime.interpreter.relative_to(prefix)),
            *_FLAGS,
            str(SANDBOX_RUNTIME_DIR / "bootstrap.py"),
            str(SANDBOX_RUNTIME_DIR / "nimbus_frames.py"),
            str(CONTROL_FD),
            str(SANDBOX_TASK_ROOT),
        ]
        env = instance_environment(spec, runtime, log_group, stream, sandboxed=True)
        if sdk.python_sdk() is not None:
            env["_NIMBUS_PYTHON_SDK"] = sdk.SANDBOX_PYTHON_SDK
        return LaunchCommand(runtime.interpreter, argv, env, SANDBOX_TASK_ROOT, sandbox)
    argv = [
        str(runtime.interpreter),
        "-I",  # isolated: no PYTHON* variables, no user site, no script dir on sys.path
        "-S",  # no site: host site-packages (and their slow .pth hooks) stay out of functions
        "-u",  # unbuffered stdout/stderr, so output order and attribution hold
        "-X",
        "utf8",
        str(BOOTSTRAP),
        str(FRAMES_PATH),
        str(CONTROL_FD),
        str(spec.code_dir),
    ]
    env = instance_environment(spec, runtime, log_group, stream)
    python_sdk = sdk.python_sdk()
    if python_sdk is not None:
        env["_NIMBUS_PYTHON_SDK"] = str(python_sdk)
    return LaunchCommand(runtime.interpreter, argv, env, spec.code_dir)


_FLAGS = ("-I", "-S", "-u", "-X", "utf8")
_SHIM_FLAGS = ("-I", "-S", "-u")
