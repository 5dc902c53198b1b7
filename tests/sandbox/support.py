"""Skips for hosts that cannot sandbox, each with the reason (CI runs these tests as root, and again as a non-root
user: `.ci/run`, so both the cgroup and the rlimit paths are proven)."""

from __future__ import annotations

import os

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
