"""What the per-command CLI tests (`nimbus api|url|events|schedule|topic`) share: running `nimbus` as a subprocess
against the session server, and a throwaway function for a test to point the command at."""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Iterator
from typing import Any

from test_cli import Run, _env

from conftest import NIMBUS, ROOT, make_zip

ECHO = "def handler(event, context):\n    return event\n"


def nimbus_runner(endpoint: str) -> Run:
    """`run(*args)`: `nimbus ARGS...` against ENDPOINT, no AWS credentials, from the repo root."""

    def _run(*args: str) -> Any:
        return subprocess.run(
            [*NIMBUS, *args], capture_output=True, text=True, env=_env(endpoint), cwd=ROOT, timeout=120
        )

    return _run


@contextlib.contextmanager
def python_function(lam: Any, name: str, source: str = ECHO) -> Iterator[str]:
    """A python3.11 function NAME whose app.py is SOURCE, deleted (if still there) afterwards."""
    lam.create_function(
        FunctionName=name, Runtime="python3.11", Role="arn:aws:iam::000000000000:role/r", Handler="app.handler",
        Code={"ZipFile": make_zip({"app.py": source})},
    )  # fmt: skip
    try:
        yield name
    finally:
        with contextlib.suppress(lam.exceptions.ResourceNotFoundException):
            lam.delete_function(FunctionName=name)
