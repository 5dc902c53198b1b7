"""Example function folders: `<root>/<name>/nimbus.json` (CreateFunction fields) next to the code.

One zipper for the whole project: `nimbus function create --code DIR` and `nimbus serve --deploy DIR` both use
`zip_folder`, so the same folder always becomes the same bytes (and the same CodeSha256).
"""

from __future__ import annotations

import io
import json
import stat
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: the per-folder function configuration, in Lambda's CreateFunction field names
CONFIG_FILE = "nimbus.json"
#: a fixed timestamp for every entry: zips must not change when only mtimes do (zip's epoch is 1980)
_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)
_SKIP_DIRS = frozenset({"__pycache__"})
_SKIP_SUFFIXES = (".pyc", ".pyo")


@dataclass(frozen=True)
class ExampleFunction:
    """One deployable folder: its function name (the folder name), its config and its zipped code."""

    name: str
    config: dict[str, Any]
    zip_bytes: bytes


def _included_files(root: Path) -> Iterator[tuple[str, Path]]:
    """(archive name, path) for every file to ship, sorted; skips dotfiles, caches and nimbus.json."""
    stack = [root]
    found: list[tuple[str, Path]] = []
    while stack:
        directory = stack.pop()
        for entry in directory.iterdir():
            if entry.name.startswith("."):
                continue
            if entry.is_dir():
                if entry.name not in _SKIP_DIRS and not entry.is_symlink():
                    stack.append(entry)
                continue
            if not entry.is_file() or entry.name.endswith(_SKIP_SUFFIXES):
                continue
            if directory == root and entry.name == CONFIG_FILE:
                continue
            found.append((entry.relative_to(root).as_posix(), entry))
    yield from sorted(found)


def zip_folder(path: Path) -> bytes:
    """Zip a folder deterministically: sorted entries, fixed timestamps, permissions normalised to 644/755."""
    if not path.is_dir():
        raise ValueError(f"not a directory: {path}")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, file in _included_files(path):
            info = zipfile.ZipInfo(name, date_time=_ZIP_EPOCH)
            info.compress_type = zipfile.ZIP_DEFLATED
            executable = file.stat().st_mode & stat.S_IXUSR
            info.external_attr = (stat.S_IFREG | (0o755 if executable else 0o644)) << 16
            info.create_system = 3  # unix, so the permission bits above are honoured on extract
            zf.writestr(info, file.read_bytes())
    return buf.getvalue()


def read_config(folder: Path) -> dict[str, Any]:
    """The folder's nimbus.json as a dict ({} when absent); ValueError names the file when it is malformed."""
    config_path = folder / CONFIG_FILE
    if not config_path.is_file():
        return {}
    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{config_path}: not valid JSON: {exc}") from exc
    if not isinstance(config, dict):
        raise ValueError(f"{config_path}: expected a JSON object")
    return config


def load_examples(root: Path) -> list[ExampleFunction]:
    """Every subfolder of root holding a nimbus.json, sorted by name; other folders are ignored."""
    if not root.is_dir():
        raise ValueError(f"not a directory: {root}")
    examples: list[ExampleFunction] = []
    for folder in sorted(root.iterdir()):
        if folder.name.startswith(".") or not (folder / CONFIG_FILE).is_file():
            continue
        examples.append(ExampleFunction(folder.name, read_config(folder), zip_folder(folder)))
    return examples
