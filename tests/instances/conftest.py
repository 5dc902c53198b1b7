"""Fixtures shared by the instance-layer tests."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest


@pytest.fixture
def code(tmp_path: Path) -> Callable[..., Path]:
    """Write function files into a fresh code dir and return it."""
    counter = iter(range(1000))

    def write(files: dict[str, str] | None = None, **named: str) -> Path:
        root = tmp_path / f"code{next(counter)}"
        for name, text in {**(files or {}), **{f"{k}.py": v for k, v in named.items()}}.items():
            path = root / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(textwrap.dedent(text))
        root.mkdir(exist_ok=True)
        return root

    return write
