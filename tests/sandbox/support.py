"""Skips for hosts that cannot sandbox, each with the reason (CI runs these tests as root, and again as a non-root
user: `.ci/run`, so both the cgroup and the rlimit paths are proven), and the invoke the sandbox tests share."""

from __future__ import annotations

import json
import os
from typing import Any

import pytest

from nimbus.instances.isolation import Isolation, detect

ISOLATION: Isolation = detect()

needs_namespaces = pytest.mark.skipif(
    not ISOLATION.namespaces, reason="needs root or unprivileged user namespaces for a sandbox"
)
needs_cgroups = pytest.mark.skipif(
    ISOLATION.cgroups.mode == "none", reason="needs writable memory and pids cgroups (root, or a delegated group)"
)
#: memory and pids limits held by some mechanism: cgroups, or rlimits inside the sandbox (see `nimbus doctor`)
needs_limits = pytest.mark.skipif(
    ISOLATION.limits == "none", reason="needs a sandbox to hold memory and pids limits (cgroups or rlimits)"
)
needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (writes cgroups, mounts, or files of root's)")
needs_seccomp = pytest.mark.skipif(not ISOLATION.seccomp, reason="needs seccomp filters on a supported architecture")


def call(lam: Any, name: str, event: dict[str, Any]) -> tuple[str | None, Any]:
    """Invoke `name` with `event`; (its FunctionError, its decoded payload)."""
    resp = lam.invoke(FunctionName=name, Payload=json.dumps(event).encode())
    return resp.get("FunctionError"), json.loads(resp["Payload"].read())
