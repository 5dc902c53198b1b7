"""Hostile zips (not a test module): symbolic-link chains that climb out of the unpack folder, corrupt data.

The chain is the one issue 10 found. Each link is harmless when it is written, because the links its target passes
through do not exist yet; once the later links exist, the first one climbs `levels` directories above the unpack
folder, and a file entry behind it is written there. With A_k -> "s/l{k-1}/..", s/l{k} -> "../A_k" and s/l0 -> "..",
written in the order A_n, s/l{n-1}, A_{n-1}, ..., A_1, s/l0: s/l0 is the folder, A_1 its parent, A_k k levels up.
"""

from __future__ import annotations

import io
import stat
import warnings
import zipfile
from pathlib import Path, PurePosixPath

Entry = tuple[zipfile.ZipInfo, bytes]


def link(name: str, target: str) -> Entry:
    info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
    info.create_system = 3
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    return info, target.encode()


def file(name: str, data: bytes, mode: int = 0o644) -> Entry:
    info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
    info.create_system = 3
    info.external_attr = (stat.S_IFREG | mode) << 16
    return info, data


def build(entries: list[Entry], compression: int = zipfile.ZIP_STORED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression) as zf, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # duplicate names are one of the attacks
        for info, data in entries:
            info.compress_type = compression
            zf.writestr(info, data)
    return buf.getvalue()


def chain(levels: int, top: str = "up") -> list[Entry]:
    """Links making `top` (A_levels) point `levels` directories above the unpack folder, in the order that fools a
    check made once per link when it is written."""
    out: list[Entry] = []
    for k in range(levels, 0, -1):
        out.append(link(top if k == levels else f"a{k}", f"s/l{k - 1}/.."))
        out.append(link(f"s/l{k - 1}", ".." if k == 1 else f"../a{k - 1}"))
    return out


def escape(levels: int, payload: str, data: bytes = b"PWNED\n", lead: list[Entry] | None = None) -> bytes:
    """A zip whose `payload` (a path below the directory `levels` up from the unpack folder) is written there by a
    naive unpacker; `lead` entries (say, a valid handler) come first."""
    return build([*(lead or []), *chain(levels), file(f"up/{payload}", data)])


def relative_to_level(unpack_parent: Path, levels: int, target: Path) -> str:
    """The payload path that reaches `target` from `levels` up above an unpack folder made in `unpack_parent`
    (above `/` there is only `/`)."""
    here = PurePosixPath(unpack_parent / ".unpack-x")
    for _ in range(levels):
        here = here.parent
    return str(PurePosixPath(target).relative_to(here))


def levels_to_root(unpack_parent: Path) -> int:
    """How many levels up from an unpack folder made in `unpack_parent` is `/` (more would pass Linux's limit of
    40 links in one lookup, and fail for that reason instead of reaching `/`)."""
    return len(PurePosixPath(unpack_parent / ".unpack-x").parents)


def corrupt(compression: int) -> bytes:
    """A valid-looking zip whose one file's data fails its CRC check (a byte flipped in the middle of its data)."""
    content = bytes(range(256)) * 64
    data = bytearray(build([file("app.py", b"x = 1\n"), file("blob.bin", content)], compression))
    with zipfile.ZipFile(io.BytesIO(bytes(data))) as zf:
        info = zf.getinfo("blob.bin")
    name_len = int.from_bytes(data[info.header_offset + 26 : info.header_offset + 28], "little")
    extra_len = int.from_bytes(data[info.header_offset + 28 : info.header_offset + 30], "little")
    start = info.header_offset + 30 + name_len + extra_len
    data[start + info.compress_size // 2] ^= 0x01
    return bytes(data)
