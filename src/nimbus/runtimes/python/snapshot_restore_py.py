"""Nimbus's built-in `snapshot_restore_py`: the API of AWS's package (PyPI `snapshot-restore-py` 1.0.0).

Functions that bundle the package get their own copy (the task root comes first on sys.path); the others import
this one from the runtime directory. The runtime reads the registries through `get_before_snapshot` and
`get_after_restore`, whichever copy is loaded.
"""

__version__ = "1.0.0"
__all__ = ["register_after_restore", "register_before_snapshot"]

_before_snapshot_registry = []
_after_restore_registry = []


def register_before_snapshot(func, *args, **kwargs):
    """Run `func(*args, **kwargs)` once, in the template, before it starts serving as a snapshot (decorator too)."""
    _before_snapshot_registry.append((func, args, kwargs))
    return func


def register_after_restore(func, *args, **kwargs):
    """Run `func(*args, **kwargs)` in every instance restored from the snapshot, before its first invoke."""
    _after_restore_registry.append((func, args, kwargs))
    return func


def get_before_snapshot():
    return _before_snapshot_registry


def get_after_restore():
    return _after_restore_registry
