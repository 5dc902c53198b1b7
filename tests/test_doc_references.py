"""Every test the promise tables name exists: a promise in docs/guarantees.md or docs/security.md whose proof was
renamed or deleted fails here, not silently in the docs."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = ["docs/guarantees.md", "docs/security.md"]
#: `tests/a/b.py::test_x`, `b.py::test_x` (a test file's unique basename), `::test_y` (the file named last in the
#: same row), or a file alone
_REF = re.compile(r"`((?:tests/[\w/]+/)?test_\w+\.py)?(?:::(\w+))?`")


def _references(doc: str) -> list[tuple[str, str | None]]:
    refs = []
    for row in (ROOT / doc).read_text().splitlines():
        current = None
        for path, name in _REF.findall(row):
            current = path or current
            if current and (path or name):
                refs.append((current, name or None))
    return refs


@pytest.mark.parametrize("doc", DOCS)
def test_every_named_test_exists(doc: str) -> None:
    missing = []
    refs = _references(doc)
    assert refs, f"{doc} names no test"
    for path, name in refs:
        found = [ROOT / path] if path.startswith("tests/") else list((ROOT / "tests").rglob(path))
        file = found[0] if len(found) == 1 else ROOT / path
        if not file.exists():
            missing.append(path)
        elif name and not re.search(rf"^\s*(async )?def {name}\(", file.read_text(), re.M):
            missing.append(f"{path}::{name}")
    assert not missing, f"{doc} names tests that do not exist: {missing}"
