"""What an instance process is started with: the Lambda environment variables and the runtime's command line.

The environment is built from scratch (nothing of the server's own environment leaks in); the function's own
variables come next, and can never override a reserved key.
"""

from __future__ import annotations

from pathlib import Path

import nimbus.protocol.frames as frames_module
from nimbus.instances.process import CONTROL_FD, LaunchCommand
from nimbus.invoke.types import FunctionSpec
from nimbus.runtimes.registry import PYTHON_RUNTIME_DIR, ResolvedRuntime

DEFAULT_PATH = "/usr/local/bin:/usr/bin/:/bin:/opt/bin"
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


def instance_environment(spec: FunctionSpec, runtime: ResolvedRuntime, log_group: str, stream: str) -> dict[str, str]:
    env = {
        "PATH": DEFAULT_PATH,
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
            "LAMBDA_TASK_ROOT": str(spec.code_dir),
            "LAMBDA_RUNTIME_DIR": str(PYTHON_RUNTIME_DIR),
        }
    )
    return env


def python_command(spec: FunctionSpec, runtime: ResolvedRuntime, log_group: str, stream: str) -> LaunchCommand:
    """`python3.N -I -S -u -X utf8 bootstrap.py <frames.py> <control fd> <task root>`."""
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
