"""Unpacking an untrusted zip into a fresh directory, where no write ever follows a symbolic link.

Two steps. `plan` checks every entry before anything is written: its path (relative, no `..`, no entry inside a
file or a link), its type (files, directories and symbolic links only), the entry count, and each link's target
against the final tree. `extract` then creates directories and regular files relative to directory fds opened with
O_NOFOLLOW (files with O_CREAT | O_EXCL, so never through an existing name), and makes the links last. Even a check
that missed something could not make a write land outside: a link is never written through, because none exists
while files are written and every path walk refuses one.

Links that stay inside the tree are kept (node_modules/.bin/x -> ../x/cli.js, lib64 -> lib): real packages ship
them. A kept link's target is `..` components then names, climbing no higher than the link's own (real) directory
allows; by induction every link then resolves inside the tree, whatever other links it passes through.
"""

from __future__ import annotations

import errno
import io
import lzma
import os
import stat
import struct
import zipfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import Literal

from nimbus.errors import InvalidParameterValue, InvalidZipFile

#: entries one zip may hold (files, directories and links); each costs an inode, and Lambda packages are far below
ENTRIES_MAX = 20_000
#: path components in one entry's name; deeper trees break recursive tools (os.walk, shutil.rmtree) of Python 3.11
DEPTH_MAX = 128
#: Linux limits: a path, and one of its components, in bytes
PATH_MAX = 4095
NAME_MAX = 255
CHUNK = 1 << 20
#: compression methods zipfile decompresses (stored, deflate, bzip2, lzma)
METHODS = frozenset({zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA})
#: what reading corrupt entry data raises (a bad CRC is a BadZipFile; bzip2 says OSError)
READ_ERRORS = (zipfile.BadZipFile, zlib.error, lzma.LZMAError, EOFError, OSError, ValueError, NotImplementedError)
#: Lambda's answer to a package it cannot unzip (InvalidParameterValueException, 400)
INVALID = "Could not unzip uploaded file. Please check your file, then try to upload again."
_CD_SIGNATURE = b"PK\x01\x02"
_END_SIGNATURE = b"PK\x05\x06"
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_FILE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC

Kind = Literal["dir", "file", "link"]


def invalid(detail: str = "") -> InvalidZipFile:
    """Lambda's invalid-zip error, with what Nimbus refused after its sentence."""
    return InvalidZipFile(f"{INVALID} {detail}".rstrip())


@dataclass(frozen=True)
class Entry:
    info: zipfile.ZipInfo
    parts: tuple[str, ...]  # the path inside the tree, normalised ("a/./b/" -> ("a", "b"))
    kind: Kind
    target: str = ""  # a link's target, as stored

    @property
    def executable(self) -> bool:
        return bool((self.info.external_attr >> 16) & 0o111)


def _central_records(data: bytes) -> int:
    """An upper bound on the central directory records zipfile would parse: the record signatures in the region
    the end record names (the whole zip for zip64, whose sizes live elsewhere)."""
    end = len(data) - 22 if data[-22:-18] == _END_SIGNATURE else data.rfind(_END_SIGNATURE, max(0, len(data) - 65557))
    if end < 0 or end + 22 > len(data):
        return 0  # not a zip: zipfile says so
    entries, size, offset = struct.unpack_from("<HII", data, end + 10)
    if entries == 0xFFFF or 0xFFFFFFFF in (size, offset):
        return data.count(_CD_SIGNATURE)
    return data.count(_CD_SIGNATURE, max(0, end - size), end)


def open_zip(data: bytes) -> zipfile.ZipFile:
    """A ZipFile over `data`, refusing more than ENTRIES_MAX entries before the central directory is parsed.

    zipfile reads the whole central directory into memory before anyone can count it: a 50 MB zip of empty entries
    would be ~700,000 ZipInfo objects, some 300 MB. Every central record starts with its signature, so counting
    signatures in the directory's bytes bounds the records cheaply."""
    if _central_records(data) > ENTRIES_MAX:
        raise invalid(f"Nimbus unpacks at most {ENTRIES_MAX} entries.")
    try:
        return zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, ValueError, OSError, EOFError, NotImplementedError, struct.error):
        raise invalid() from None


def _parts(info: zipfile.ZipInfo) -> tuple[str, ...]:
    name = info.filename.replace("\\", "/")
    parts = tuple(p for p in name.split("/") if p not in ("", "."))
    if (
        name.startswith("/")
        or ".." in parts
        or (parts and ":" in parts[0])
        or len(name.encode("utf-8", "surrogateescape")) > PATH_MAX
        or any(len(p.encode("utf-8", "surrogateescape")) > NAME_MAX for p in parts)
    ):
        raise invalid(f"Entry '{info.filename}' has a path outside the package.")
    if len(parts) > DEPTH_MAX:
        raise invalid(f"Entry '{info.filename}' is nested deeper than {DEPTH_MAX} directories.")
    return parts


def _kind(info: zipfile.ZipInfo) -> Kind:
    """From the Unix mode in the high half of external_attr (zero when the zip was made elsewhere). Zip has no
    hard-link entry; devices, FIFOs and sockets are refused."""
    ftype = stat.S_IFMT(info.external_attr >> 16)
    if ftype not in (0, stat.S_IFREG, stat.S_IFDIR, stat.S_IFLNK):
        raise invalid(f"Entry '{info.filename}' is not a regular file, directory or symbolic link.")
    if ftype == stat.S_IFDIR or info.is_dir():  # a name ending in "/" is a directory whatever its mode says
        return "dir"
    return "link" if ftype == stat.S_IFLNK else "file"


def _read_link(zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> str:
    if info.file_size > PATH_MAX:
        raise invalid(f"Symbolic link '{info.filename}' has a target longer than {PATH_MAX} bytes.")
    try:
        with zf.open(info) as src:
            raw = src.read(PATH_MAX + 1)
    except READ_ERRORS:
        raise invalid(f"Entry '{info.filename}' is corrupt.") from None
    return os.fsdecode(raw)


def _check_link(entry: Entry) -> None:
    """Relative, `..`s first then names, climbing no higher than the tree's root from the link's directory."""
    target = entry.target
    comps = [c for c in target.split("/") if c not in ("", ".")]
    ups = 0
    while ups < len(comps) and comps[ups] == "..":
        ups += 1
    if not target or "\x00" in target or target.startswith("/") or ".." in comps[ups:] or ups > len(entry.parts) - 1:
        raise invalid(f"Symbolic link '{entry.info.filename}' points outside the package.")


def plan(zf: zipfile.ZipFile) -> list[Entry]:
    """Every entry checked against the whole zip, before anything is written; raises Lambda's invalid-zip error."""
    infos = zf.infolist()
    if len(infos) > ENTRIES_MAX:
        raise invalid(f"Nimbus unpacks at most {ENTRIES_MAX} entries.")
    entries: list[Entry] = []
    kinds: dict[tuple[str, ...], Kind] = {(): "dir"}
    for info in infos:
        if info.flag_bits & 0x1:
            raise invalid(f"Entry '{info.filename}' is encrypted.")
        if info.compress_type not in METHODS:
            raise invalid(f"Entry '{info.filename}' uses an unsupported compression method.")
        parts, kind = _parts(info), _kind(info)
        seen = kinds.get(parts)
        if seen is not None and not (seen == kind == "dir"):
            raise invalid(f"Entry '{info.filename}' appears twice in the package.")
        kinds[parts] = kind
        target = _read_link(zf, info) if kind == "link" else ""
        entries.append(Entry(info, parts, kind, target))
    for entry in entries:
        for depth in range(len(entry.parts) - 1, 0, -1):  # up to a known directory: its own walk checks above it
            above = kinds.get(entry.parts[:depth])
            if above is None:
                kinds[entry.parts[:depth]] = "dir"
                continue
            if above == "dir":
                break
            where = "a symbolic link" if above == "link" else "a file"
            raise invalid(f"Entry '{entry.info.filename}' is inside {where}.")
        if entry.kind == "link":
            _check_link(entry)
    return entries


class _Tree:
    """Directory fds of one tree, walked component by component with O_NOFOLLOW; caches the last directory."""

    def __init__(self, root_fd: int) -> None:
        self.root_fd = root_fd
        self._cached: tuple[tuple[str, ...], int] | None = None

    def close(self) -> None:
        if self._cached is not None:
            os.close(self._cached[1])
            self._cached = None

    def dir_fd(self, parts: tuple[str, ...], create: bool) -> int:
        """An fd of the directory at `parts` (made when `create`); owned by the cache, valid until the next call."""
        if self._cached is not None and self._cached[0] == parts:
            return self._cached[1]
        self.close()
        fd = os.dup(self.root_fd)
        try:
            for name in parts:
                if create:
                    with suppress(FileExistsError):
                        os.mkdir(name, 0o755, dir_fd=fd)
                child = os.open(name, _DIR_FLAGS, dir_fd=fd)  # ELOOP on a link, ENOTDIR on a file
                os.close(fd)
                fd = child
        except BaseException:
            os.close(fd)
            raise
        self._cached = (parts, fd)
        return fd


@contextmanager
def _open_tree(path: str) -> Iterator[_Tree]:
    root_fd = os.open(path, _DIR_FLAGS)
    tree = _Tree(root_fd)
    try:
        yield tree
    finally:
        tree.close()
        os.close(root_fd)


def _write_file(zf: zipfile.ZipFile, entry: Entry, dir_fd: int, written: int, limit: int) -> int:
    """One regular file, created (never opened) with O_EXCL | O_NOFOLLOW; returns `written` plus its bytes."""
    fd = os.open(entry.parts[-1], _FILE_FLAGS, 0o600, dir_fd=dir_fd)
    try:
        try:
            src = zf.open(entry.info)
        except READ_ERRORS:
            raise invalid(f"Entry '{entry.info.filename}' is corrupt.") from None
        with src:
            while True:
                try:
                    chunk = src.read(CHUNK)
                except READ_ERRORS:  # a bad CRC is noticed at the end of the data
                    raise invalid(f"Entry '{entry.info.filename}' is corrupt.") from None
                if not chunk:
                    break
                written += len(chunk)
                if written > limit:
                    raise InvalidParameterValue(f"Unzipped size must be smaller than {limit} bytes")
                _write_all(fd, chunk)
        os.fchmod(fd, 0o555 if entry.executable else 0o444)
    finally:
        os.close(fd)
    return written


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _with_ancestors(dirs: set[tuple[str, ...]]) -> set[tuple[str, ...]]:
    every: set[tuple[str, ...]] = set()
    for parts in dirs:
        for depth in range(len(parts), -1, -1):
            if parts[:depth] in every:
                break
            every.add(parts[:depth])
    return every


def extract(zf: zipfile.ZipFile, entries: list[Entry], dest: str, limit: int) -> int:
    """Unpack a planned zip into the empty directory `dest`; returns the bytes written (at most `limit`, else
    InvalidParameterValue). Directories end 0555 and files 0444 (0555 when executable): the tree is read-only."""
    total = 0
    dirs: set[tuple[str, ...]] = set()
    try:
        with _open_tree(dest) as tree:
            for entry in entries:
                if entry.kind == "dir":
                    tree.dir_fd(entry.parts, create=True)
                    dirs.add(entry.parts)
                elif entry.kind == "file":
                    parent = entry.parts[:-1]
                    total = _write_file(zf, entry, tree.dir_fd(parent, create=True), total, limit)
                    dirs.add(parent)
            for entry in entries:  # links last: nothing is written after them
                if entry.kind == "link":
                    os.symlink(entry.target, entry.parts[-1], dir_fd=tree.dir_fd(entry.parts[:-1], create=True))
                    dirs.add(entry.parts[:-1])
            for parts in sorted(_with_ancestors(dirs), key=len, reverse=True):
                os.fchmod(tree.dir_fd(parts, create=False), 0o555)
    except (FileExistsError, NotADirectoryError, IsADirectoryError) as exc:
        raise invalid(f"Entry '{exc.filename}' clashes with another entry.") from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:  # a walk met a link (plan() refuses those; this is the second lock)
            raise invalid("An entry is inside a symbolic link.") from None
        raise
    return total
