"""Skips for hosts that cannot sandbox (CI runs as root on Linux, where every test here runs)."""

from __future__ import annotations

import pytest

from nimbus.instances.isolation import Isolation, detect

ISOLATION: Isolation = detect()

needs_namespaces = pytest.mark.skipif(
    not ISOLATION.namespaces, reason="needs root or unprivileged user namespaces for a sandbox"
)
needs_cgroups = pytest.mark.skipif(
    ISOLATION.cgroups.mode == "none", reason="needs writable memory and pids cgroups (root, or a delegated group)"
)
needs_seccomp = pytest.mark.skipif(not ISOLATION.seccomp, reason="needs seccomp filters on a supported architecture")
