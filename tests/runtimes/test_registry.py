"""Runtime resolution for the non-Python runtimes: provided* (the Runtime API shim) and nodejsNN.x (host node)."""

from __future__ import annotations

import pytest

from nimbus.errors import InvalidParameterValue
from nimbus.runtimes.registry import (
    PROVIDED_RUNTIMES,
    available_runtime_names,
    node_binary,
    resolve_runtime,
    shim_interpreter,
)


@pytest.mark.parametrize("name", PROVIDED_RUNTIMES)
def test_provided_runtimes_run_the_shim_python(name: str) -> None:
    shim = shim_interpreter()
    assert shim is not None
    resolved = resolve_runtime(name, fallback=False)
    assert (resolved.kind, resolved.name, resolved.fell_back) == ("provided", name, False)
    assert resolved.interpreter == shim[1]
    assert name in available_runtime_names()


def test_node_runtime_matches_the_host_major_only() -> None:
    node = node_binary()
    if node is None:
        pytest.skip("node is not installed")
    path, major = node
    own = f"nodejs{major}.x"
    resolved = resolve_runtime(own, fallback=False)
    assert (resolved.kind, resolved.interpreter, resolved.fell_back) == ("nodejs", path, False)
    other = "nodejs18.x" if major != 18 else "nodejs20.x"
    with pytest.raises(InvalidParameterValue) as info:
        resolve_runtime(other, fallback=False)
    assert info.value.message.startswith(f"Runtime {other} is not available on this host. Available runtimes: ")
    assert own in info.value.message
    fell = resolve_runtime(other, fallback=True)
    assert (fell.requested, fell.name, fell.fell_back) == (other, own, True)
