"""The extractor on its own: hostile entries are refused before anything is written, and no write follows a link
even when handed entries that were never checked."""

from __future__ import annotations

import os
import stat
import zipfile
from pathlib import Path

import pytest

from nimbus.control import unzip
from nimbus.control.codestore import CodeStore
from nimbus.errors import InvalidZipFile
from sandbox.zip_attacks import build, corrupt, escape, file, levels_to_root, link, relative_to_level

INVALID = "Could not unzip uploaded file. Please check your file, then try to upload again."


def refused(store: CodeStore, data: bytes, match: str = "") -> InvalidZipFile:
    with pytest.raises(InvalidZipFile) as info:
        store.put(data)
    assert str(info.value).startswith(INVALID)
    assert match in str(info.value)
    assert [p.name for p in store.code.iterdir()] == []  # no tree, no partial unpack left behind
    assert list(store.blobs.iterdir()) == []
    return info.value


def special(name: str, kind: int) -> tuple[zipfile.ZipInfo, bytes]:
    info = zipfile.ZipInfo(name)
    info.create_system = 3
    info.external_attr = (kind | 0o644) << 16
    return info, b""


@pytest.fixture
def store(tmp_path: Path) -> CodeStore:
    return CodeStore(tmp_path / "data")


@pytest.mark.parametrize("levels", [1, 2, 3, 10, "root"])
def test_link_chain_climbing_out_is_refused_and_writes_nothing(
    store: CodeStore, tmp_path: Path, levels: int | str
) -> None:
    """Issue 10 item 1: each link looks harmless when written; the chain climbs `levels` up. Nothing lands there."""
    n = levels_to_root(store.code) if levels == "root" else int(levels)
    where = {1: store.code, 2: tmp_path / "data"}.get(n, tmp_path)
    target = where / "pwned"
    refused(store, escape(n, relative_to_level(store.code, n, target)), "points outside the package")
    assert not target.exists()
    assert sorted(p.name for p in (tmp_path / "data").iterdir()) == ["blobs", "code"]


def test_a_root_owned_read_only_file_outside_is_not_overwritten(store: CodeStore, tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_text("original\n")
    secret.chmod(0o400)
    n = levels_to_root(store.code)
    refused(store, escape(n, relative_to_level(store.code, n, secret)))
    assert secret.read_text() == "original\n"
    assert stat.S_IMODE(secret.stat().st_mode) == 0o400


@pytest.mark.parametrize(
    ("entries", "why"),
    [
        ([link("l", "/etc/passwd")], "points outside"),
        ([link("l", "..")], "points outside"),
        ([link("d/l", "../../x")], "points outside"),
        ([link("d/l", "x/../../..")], "points outside"),  # `..` after a name: it would climb from wherever x leads
        ([link("l", "")], "points outside"),
        ([link("l", "a\x00b")], "points outside"),
        ([link("l", "a" * 4096)], "longer than 4095"),
        ([file("d/x", b""), link("l", "d"), file("l/y", b"through a link")], "inside a symbolic link"),
        ([file("l/y", b"before the link"), link("l", "d")], "inside a symbolic link"),
        ([link("l", "d"), link("l/m", "x")], "inside a symbolic link"),
        ([file("f", b""), file("f/g", b"")], "inside a file"),
        ([file("f", b"1"), file("f", b"2")], "appears twice"),
        ([file("f", b""), link("f", "g")], "appears twice"),
        ([special("dev", stat.S_IFCHR)], "not a regular file"),
        ([special("blk", stat.S_IFBLK)], "not a regular file"),
        ([special("fifo", stat.S_IFIFO)], "not a regular file"),
        ([special("sock", stat.S_IFSOCK)], "not a regular file"),
        ([file("/abs.py", b"")], "path outside"),
        ([file("a/../../x.py", b"")], "path outside"),
        ([file("C:/x.py", b"")], "path outside"),
        ([file("a" * 256, b"")], "path outside"),
    ],
)
def test_hostile_entries_are_refused(store: CodeStore, entries: list[tuple[zipfile.ZipInfo, bytes]], why: str) -> None:
    refused(store, build(entries), why)


def test_encrypted_and_unknown_methods_are_refused(store: CodeStore) -> None:
    data = bytearray(build([file("a.py", b"x")]))
    data[6] |= 0x01  # general purpose flag, bit 0: encrypted (local header)
    cd = data.rfind(b"PK\x01\x02")
    data[cd + 8] |= 0x01  # and in the central directory
    refused(store, bytes(data), "encrypted")
    data = bytearray(build([file("a.py", b"x")]))
    data[8] = 99  # compression method 99 (AES) in the local header
    data[cd + 10] = 99  # and in the central directory
    refused(store, bytes(data), "compression method")


@pytest.mark.parametrize("compression", [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED])
def test_data_failing_its_crc_is_an_invalid_zip(store: CodeStore, compression: int) -> None:
    """Issue 10 item 8b: a corrupt entry was a BadZipFile escaping as a 500."""
    refused(store, corrupt(compression), "is corrupt")


def test_links_that_stay_inside_are_kept(store: CodeStore) -> None:
    data = build(
        [
            file("node_modules/foo/bin/cli.js", b"#!/usr/bin/env node\n", 0o755),
            link("node_modules/.bin/foo", "../foo/bin/cli.js"),
            file("lib/libx.so.1", b"ELF"),
            link("lib/libx.so", "libx.so.1"),
            link("lib64", "lib"),
            link("venv/bin/python", "python3"),
            link("venv/bin/python3", "../../lib64/libx.so"),  # a chain through another link, still inside
            link("d/up", ".."),
            link("dangling", "nowhere"),
        ]
    )
    tree = store.code_dir(store.put(data).sha256_hex)
    assert (tree / "node_modules" / ".bin" / "foo").read_bytes() == b"#!/usr/bin/env node\n"
    assert (tree / "lib64" / "libx.so").read_bytes() == b"ELF"
    assert (tree / "venv" / "bin" / "python").read_bytes() == b"ELF"
    assert (tree / "d" / "up").resolve() == tree.resolve()
    assert os.readlink(tree / "dangling") == "nowhere"
    assert stat.S_IMODE((tree / "node_modules" / "foo" / "bin" / "cli.js").stat().st_mode) == 0o555
    assert stat.S_IMODE((tree / "lib" / "libx.so.1").stat().st_mode) == 0o444
    for d in (tree, tree / "node_modules" / ".bin", tree / "venv" / "bin"):
        assert stat.S_IMODE(d.lstat().st_mode) == 0o555


def test_entry_count_at_the_limit_and_one_past(store: CodeStore, tmp_path: Path) -> None:
    names = [f"f{i}" for i in range(unzip.ENTRIES_MAX)]
    tree = store.code_dir(store.put(build([file(n, b"") for n in names])).sha256_hex)
    assert len(os.listdir(tree)) == unzip.ENTRIES_MAX == 20_000
    other = CodeStore(tmp_path / "other")
    refused(other, build([file(n, b"") for n in [*names, "one-more"]]), "at most 20000 entries")


def test_a_huge_central_directory_is_refused_before_it_is_parsed(store: CodeStore) -> None:
    data = build([file(f"f{i}", b"") for i in range(2 * unzip.ENTRIES_MAX + 1)])
    refused(store, data, "at most 20000 entries")


def test_only_the_central_directory_counts(store: CodeStore) -> None:
    """A stored inner zip (a jar in a Java layer) may hold any number of entries: its records are not ours."""
    inner = build([file(f"c{i}.class", b"") for i in range(unzip.ENTRIES_MAX + 1)])
    tree = store.code_dir(store.put(build([file("java/lib/big.jar", inner), file("x", b"")])).sha256_hex)
    assert (tree / "java" / "lib" / "big.jar").read_bytes() == inner


def test_depth_at_the_limit_and_one_past(store: CodeStore, tmp_path: Path) -> None:
    deep = "/".join(["d"] * (unzip.DEPTH_MAX - 1))
    tree = store.code_dir(store.put(build([file(f"{deep}/f", b"ok")])).sha256_hex)
    assert (tree / deep / "f").read_bytes() == b"ok"
    refused(CodeStore(tmp_path / "other"), build([file(f"{deep}/d/f", b"")]), "deeper than 128")


def test_extract_never_writes_through_a_link_even_unchecked(tmp_path: Path) -> None:
    """The second lock: hand extract() entries plan() never saw, into a folder where a link already waits."""
    outside = tmp_path / "outside"
    outside.mkdir()
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / "evil").symlink_to(outside)
    (dest / "trap").symlink_to(outside / "trap")
    for entries in ([file("evil/x", b"PWNED")], [file("trap", b"PWNED")], [file("ok", b""), *[link("evil", "x")]]):
        data = build(entries)
        with unzip.open_zip(data) as zf:
            unchecked = [unzip.Entry(i, tuple(i.filename.split("/")), unzip._kind(i)) for i in zf.infolist()]
            unchecked = [unzip.Entry(e.info, e.parts, e.kind, "x") if e.kind == "link" else e for e in unchecked]
            with pytest.raises(InvalidZipFile):
                unzip.extract(zf, unchecked, str(dest), 1 << 20)
    assert list(outside.iterdir()) == []


def test_a_name_ending_in_a_slash_is_a_directory_whatever_its_mode(store: CodeStore) -> None:
    odd_dir, _ = file("d/", b"")  # some tools give directories a regular-file mode
    odd_link, _ = link("e/", "x")
    tree = store.code_dir(store.put(build([(odd_dir, b""), (odd_link, b""), file("d/f", b"ok")])).sha256_hex)
    assert (tree / "d" / "f").read_bytes() == b"ok"
    assert (tree / "e").is_dir()
    assert not (tree / "e").is_symlink()
