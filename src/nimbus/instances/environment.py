"""What an instance process is started with: the Lambda environment variables and the runtime's command line.

The environment is built from scratch (nothing of the server's own environment leaks in); the function's own
variables come next, and can never override a reserved key.
"""

from __future__ import annotations

from pathlib import Path

import nimbus.protocol.frames as frames_module
from nimbus.instances.process import CONTROL_FD, LaunchCommand, SandboxSpec
from nimbus.invoke.types import FunctionSpec
from nimbus.runtimes.registry import PYTHON_RUNTIME_DIR, ResolvedRuntime

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
FRAMES_PATH = Path(frames_module.__file__).resolve()

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
    }
)


def instance_environment(
    spec: FunctionSpec, runtime: ResolvedRuntime, log_group: str, stream: str, sandboxed: bool = False
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
            "AWS_EXECUTION_ENV": f"AWS_Lambda_{runtime.name}",
            "AWS_LAMBDA_FUNCTION_NAME": spec.name,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory_mb),
            "AWS_LAMBDA_FUNCTION_VERSION": spec.version,
            "AWS_LAMBDA_FUNCTION_TIMEOUT": str(spec.timeout_s),
            "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
            "AWS_LAMBDA_LOG_GROUP_NAME": log_group,
            "AWS_LAMBDA_LOG_STREAM_NAME": stream,
            "LAMBDA_TASK_ROOT": str(SANDBOX_TASK_ROOT if sandboxed else spec.code_dir),
            "LAMBDA_RUNTIME_DIR": str(SANDBOX_RUNTIME_DIR if sandboxed else PYTHON_RUNTIME_DIR),
        }
    )
    if sandboxed:
        env["LD_LIBRARY_PATH"] = SANDBOX_LD_LIBRARY_PATH
    return env


def python_command(
    spec: FunctionSpec, runtime: ResolvedRuntime, log_group: str, stream: str, sandboxed: bool = False
) -> LaunchCommand:
    """`python3.N -I -S -u -X utf8 bootstrap.py <frames.py> <control fd> <task root>`.

    Sandboxed, every path is the one seen from inside: /var/lang/bin/python3.N, /var/runtime, /var/task.
    """
    if sandboxed:
        from nimbus.instances.sandbox import runtime_prefix

        prefix = runtime_prefix(runtime.interpreter)
        sandbox = SandboxSpec(
            code_dir=spec.code_dir,
            layer_dirs=spec.layer_dirs,
            runtime_prefix=prefix,
            memory_mb=spec.memory_mb,
            ephemeral_storage_mb=spec.ephemeral_storage_mb,
            network=spec.network,
        )
        argv = [
            str(SANDBOX_LANG / runtime.interpreter.relative_to(prefix)),
            *_FLAGS,
            str(SANDBOX_RUNTIME_DIR / "bootstrap.py"),
            str(SANDBOX_RUNTIME_DIR / "nimbus_frames.py"),
            str(CONTROL_FD),
            str(SANDBOX_TASK_ROOT),
        ]
        env = instance_environment(spec, runtime, log_group, stream, sandboxed=True)
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
    return LaunchCommand(runtime.interpreter, argv, env, spec.code_dir)


_FLAGS = ("-I", "-S", "-u", "-X", "utf8")
