"""Zip validation and unpacking: nothing escapes the package folder, limits hold whatever the headers say."""

from __future__ import annotations

import io
import stat
import zipfile
from pathlib import Path

import pytest

from nimbus.control.codestore import CodeStore
from nimbus.errors import InvalidParameterValue, InvalidZipFile


def zip_of(entries: list[tuple[zipfile.ZipInfo | str, bytes]]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for info, data in entries:
            zf.writestr(info, data)
    return buf.getvalue()


def symlink(name: str, target: str) -> tuple[zipfile.ZipInfo, bytes]:
    info = zipfile.ZipInfo(name)
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    return info, target.encode()


def test_put_unpacks_read_only_and_is_idempotent(tmp_path: Path) -> None:
    store = CodeStore(tmp_path)
    data = zip_of([("app.py", b"x = 1\n"), ("pkg/mod.py", b"y = 2\n")])
    info = store.put(data)
    tree = store.code_dir(info.sha256_hex)
    assert (tree / "pkg" / "mod.py").read_text() == "y = 2\n"
    assert not (tree / "app.py").stat().st_mode & 0o222
    assert store.blob_path(info.sha256_hex).read_bytes() == data
    assert store.put(data) == info


@pytest.mark.parametrize("name", ["../evil.py", "/tmp/nimbus-evil.py", "a/../../evil.py"])
def test_paths_that_escape_are_refused(tmp_path: Path, name: str) -> None:
    store = CodeStore(tmp_path / "data")
    with pytest.raises(InvalidZipFile):
        store.put(zip_of([("ok.py", b""), (name, b"pwned")]))
    assert not (tmp_path / "evil.py").exists()
    assert not Path("/tmp/nimbus-evil.py").exists()
    assert list((tmp_path / "data" / "code").iterdir()) == []


def test_symlink_out_is_refused_and_inside_is_kept(tmp_path: Path) -> None:
    store = CodeStore(tmp_path)
    with pytest.raises(InvalidZipFile):
        store.put(zip_of([symlink("link", "../../../etc/passwd")]))
    with pytest.raises(InvalidZipFile):
        store.put(zip_of([symlink("link", "/etc/passwd")]))
    info = store.put(zip_of([("real.py", b"z = 3\n"), symlink("alias.py", "real.py")]))
    assert (store.code_dir(info.sha256_hex) / "alias.py").read_text() == "z = 3\n"


def test_not_a_zip(tmp_path: Path) -> None:
    with pytest.raises(InvalidZipFile, match="Could not unzip"):
        CodeStore(tmp_path).put(b"this is not a zip")


def test_unzipped_limit_counts_real_bytes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import nimbus.control.codestore as cs

    monkeypatch.setattr(cs, "UNZIPPED_MAX", 1000)
    store = CodeStore(tmp_path)
    store.put(zip_of([("a", b"0" * 1000)]))
    with pytest.raises(InvalidParameterValue, match="Unzipped size must be smaller than 1000 bytes"):
        store.put(zip_of([("a", b"0" * 1001)]))


def test_sweep_removes_unused_code_at_the_second_sweep_that_finds_it(tmp_path: Path) -> None:
    """Runtime collection is mark-and-sweep: the first sweep marks, the second removes (a record being written or an
    instance being launched has the interval to show up in `keep`)."""
    store = CodeStore(tmp_path)
    old = store.put(zip_of([("app.py", b"v = 1\n")])).sha256_hex
    new = store.put(zip_of([("app.py", b"v = 2\n")])).sha256_hex
    assert store.sweep({new}) == []  # marked
    assert store.code_dir(old).is_dir()
    assert store.sweep({new}) == [old]
    assert not store.code_dir(old).exists()
    assert not store.blob_path(old).exists()
    assert store.code_dir(new).is_dir()
    assert [p.name for p in store.code.iterdir()] == [new]  # no trash left behind


def test_sweep_keeps_what_is_kept_again_or_stored_again_between_sweeps(tmp_path: Path) -> None:
    store = CodeStore(tmp_path)
    data = zip_of([("app.py", b"v = 1\n")])
    digest = store.put(data).sha256_hex
    assert store.sweep(set()) == []
    assert store.sweep({digest}) == []  # in use again (an instance runs from it): the mark is dropped
    assert store.sweep(set()) == []
    store.put(data)  # uploaded again between two sweeps: its record is about to be written
    assert store.sweep(set()) == []
    assert store.code_dir(digest).is_dir()
    assert store.sweep(set()) == [digest]
    assert store.put(data).sha256_hex == digest  # and stored afresh after a collection
    assert (store.code_dir(digest) / "app.py").read_text() == "v = 1\n"


def test_code_gc_interval_setting() -> None:
    from nimbus.config import Settings, from_env

    assert Settings().code_gc_interval == 60.0
    assert from_env({"NIMBUS_CODE_GC_INTERVAL": "0.5"}).code_gc_interval == 0.5
    assert from_env({}, code_gc_interval=0.0).code_gc_interval == 0.0  # start-up collection only
    with pytest.raises(ValueError, match="code_gc_interval"):
        from_env({"NIMBUS_CODE_GC_INTERVAL": "-1"}).check()
