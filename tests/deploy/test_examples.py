"""The example loader and the one zipper: deterministic bytes, skipped files, configs, example handlers."""

from __future__ import annotations

import importlib.util
import io
import json
import os
import stat
import zipfile
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

import pytest

from nimbus.deploy import ExampleFunction, load_examples, read_config, zip_folder

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _tree(root: Path, files: dict[str, str]) -> Path:
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
    return root


def _names(data: bytes) -> list[str]:
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        return zf.namelist()


def test_zip_is_sorted_and_skips_caches_dotfiles_and_config(tmp_path: Path) -> None:
    root = _tree(
        tmp_path,
        {
            "app.py": "x = 1\n",
            "lib/util.py": "y = 2\n",
            "lib/__pycache__/util.cpython-311.pyc": "junk",
            "lib/nimbus.json": "{}",  # only the top-level config is skipped
            "stale.pyc": "junk",
            ".env": "SECRET=1",
            ".git/config": "x",
            "nimbus.json": '{"Runtime": "python3.11"}',
            "a_data.txt": "data",
        },
    )
    assert _names(zip_folder(root)) == ["a_data.txt", "app.py", "lib/nimbus.json", "lib/util.py"]


def test_zip_bytes_ignore_mtimes_and_creation_order(tmp_path: Path) -> None:
    first = _tree(tmp_path / "a", {"b.py": "b", "a.py": "a", "pkg/c.py": "c"})
    second = _tree(tmp_path / "b", {"pkg/c.py": "c", "a.py": "a", "b.py": "b"})
    os.utime(second / "a.py", (1_000_000_000, 1_000_000_000))
    assert zip_folder(first) == zip_folder(second)
    assert zip_folder(first) == zip_folder(first)


def test_zip_preserves_the_executable_bit_only(tmp_path: Path) -> None:
    root = _tree(tmp_path, {"bootstrap": "#!/bin/sh\n", "app.py": ""})
    (root / "bootstrap").chmod(0o700)
    (root / "app.py").chmod(0o600)
    with zipfile.ZipFile(io.BytesIO(zip_folder(root))) as zf:
        modes = {info.filename: stat.S_IMODE(info.external_attr >> 16) for info in zf.infolist()}
        assert zf.read("bootstrap") == b"#!/bin/sh\n"
    assert modes == {"app.py": 0o644, "bootstrap": 0o755}


def test_zip_rejects_a_file(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("")
    with pytest.raises(ValueError, match="not a directory"):
        zip_folder(tmp_path / "f")


def test_read_config(tmp_path: Path) -> None:
    assert read_config(tmp_path) == {}
    (tmp_path / "nimbus.json").write_text('{"Handler": "x.y"}')
    assert read_config(tmp_path) == {"Handler": "x.y"}
    (tmp_path / "nimbus.json").write_text("[1]")
    with pytest.raises(ValueError, match="expected a JSON object"):
        read_config(tmp_path)
    (tmp_path / "nimbus.json").write_text("{nope")
    with pytest.raises(ValueError, match="not valid JSON"):
        read_config(tmp_path)


def test_load_examples_takes_folders_with_a_config_sorted(tmp_path: Path) -> None:
    _tree(tmp_path, {"zeta/nimbus.json": '{"Runtime": "python3.12"}', "zeta/app.py": "z"})
    _tree(tmp_path, {"alpha/nimbus.json": "{}", "alpha/app.py": "a"})
    _tree(tmp_path, {"template/template.yaml": "x", ".hidden/nimbus.json": "{}", "README.md": "x"})
    loaded = load_examples(tmp_path)
    assert [e.name for e in loaded] == ["alpha", "zeta"]
    assert loaded[1] == ExampleFunction("zeta", {"Runtime": "python3.12"}, zip_folder(tmp_path / "zeta"))
    assert _names(loaded[1].zip_bytes) == ["app.py"]


def test_load_examples_rejects_a_missing_root(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="not a directory"):
        load_examples(tmp_path / "missing")


def test_shipped_examples_load_with_lambda_field_names() -> None:
    loaded = {e.name: e for e in load_examples(EXAMPLES)}
    assert set(loaded) == {"hello", "echo", "counter", "hello-node", "hello-shell"}
    allowed = {"Runtime", "Handler", "MemorySize", "Timeout", "Description", "Environment"}
    #: where each runtime finds the handler's module
    suffixes = {"python3": (".py",), "nodejs": (".mjs", ".js", ".cjs"), "provided": (".sh",)}
    for example in loaded.values():
        assert set(example.config) <= allowed, example.name
        kind = next(k for k in suffixes if example.config["Runtime"].startswith(k))
        module = example.config["Handler"].rsplit(".", 1)[0]
        assert any(f"{module}{suffix}" in _names(example.zip_bytes) for suffix in suffixes[kind]), example.name
        assert "nimbus.json" not in _names(example.zip_bytes)
        json.dumps(example.config)  # round-trips as CreateFunction parameters


def test_the_shell_example_ships_an_executable_bootstrap() -> None:
    shell = next(e for e in load_examples(EXAMPLES) if e.name == "hello-shell")
    assert shell.config["Runtime"] == "provided.al2023"
    with zipfile.ZipFile(io.BytesIO(shell.zip_bytes)) as zf:
        modes = {info.filename: stat.S_IMODE(info.external_attr >> 16) for info in zf.infolist()}
    assert modes == {"bootstrap": 0o755, "function.sh": 0o644}


def _load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / name / "app.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _context() -> Any:
    return SimpleNamespace(
        function_name="echo",
        function_version="$LATEST",
        invoked_function_arn="arn:aws:lambda:us-east-1:000000000000:function:echo",
        memory_limit_in_mb="128",
        aws_request_id="req-1",
        log_group_name="/aws/lambda/echo",
        log_stream_name="stream",
        get_remaining_time_in_millis=lambda: 2999,
    )


def test_example_handlers_run(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GREETING", raising=False)
    hello = _load("hello")
    assert hello.handler({"name": "Ada"}, _context()) == {"message": "Hello, Ada!"}
    assert hello.handler({}, _context()) == {"message": "Hello, world!"}

    echoed = _load("echo").handler({"k": [1, 2]}, _context())
    assert echoed["event"] == {"k": [1, 2]}
    assert echoed["context"]["aws_request_id"] == "req-1"
    assert echoed["context"]["remaining_time_in_millis"] == 2999

    counter = _load("counter")
    first, second = counter.handler({}, _context()), counter.handler({}, _context())
    assert (first["invocations"], first["warm"]) == (1, False)
    assert (second["invocations"], second["warm"], second["instance"]) == (2, True, first["instance"])
