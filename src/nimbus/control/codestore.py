"""Content-addressed code: each zip is stored once under blobs/<sha256>.zip and unpacked once, read-only, under
code/<sha256>/. Unpacking refuses anything that could write outside its folder (absolute paths, `..`, symlinks
that point out) and stops at Lambda's unzipped-size limit however the zip's headers lie.
"""

from __future__ import annotations

import base64
import hashlib
import io
import os
import shutil
import stat
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from nimbus.control.validation import UNZIPPED_MAX, ZIPPED_MAX
from nimbus.errors import InvalidParameterValue, InvalidZipFile

CHUNK = 1 << 20


@dataclass(frozen=True)
class CodeInfo:
    sha256_hex: str
    size: int
    unzipped_size: int

    @property
    def sha256_b64(self) -> str:
        return base64.b64encode(bytes.fromhex(self.sha256_hex)).decode()


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _safe_member(info: zipfile.ZipInfo) -> PurePosixPath:
    name = info.filename.replace("\\", "/")
    path = PurePosixPath(name)
    if path.is_absolute() or ".." in path.parts or name.startswith("/") or (path.parts and ":" in path.parts[0]):
        raise InvalidZipFile(
            f"Could not unzip uploaded file. Please check your file, then try to upload again. "
            f"Entry '{info.filename}' has a path outside the package."
        )
    return path


def _is_symlink(info: zipfile.ZipInfo) -> bool:
    return stat.S_ISLNK(info.external_attr >> 16)


class CodeStore:
    def __init__(self, root: Path) -> None:
        self.blobs = root / "blobs"
        self.code = root / "code"
        self.blobs.mkdir(parents=True, exist_ok=True)
        self.code.mkdir(parents=True, exist_ok=True)

    def blob_path(self, sha256_hex: str) -> Path:
        return self.blobs / f"{sha256_hex}.zip"

    def code_dir(self, sha256_hex: str) -> Path:
        return self.code / sha256_hex

    def put(self, data: bytes) -> CodeInfo:
        """Validate, store and unpack one zip; idempotent. Blocking: call from a worker thread."""
        if len(data) > ZIPPED_MAX:
            raise InvalidParameterValue(f"Zipped size must be smaller than {ZIPPED_MAX} bytes")
        digest = hashlib.sha256(data).hexdigest()
        try:
            zf = zipfile.ZipFile(io.BytesIO(data))
        except (zipfile.BadZipFile, ValueError, OSError):
            raise InvalidZipFile(
                "Could not unzip uploaded file. Please check your file, then try to upload again."
            ) from None
        with zf:
            infos = zf.infolist()
            declared = sum(i.file_size for i in infos)
            if declared > UNZIPPED_MAX:
                raise InvalidParameterValue(f"Unzipped size must be smaller than {UNZIPPED_MAX} bytes")
            for info in infos:
                _safe_member(info)
            target = self.code_dir(digest)
            unzipped = self._unpack(zf, infos, target) if not target.exists() else declared
        blob = self.blob_path(digest)
        if not blob.exists():
            self._write_atomic(blob, data)
        return CodeInfo(digest, len(data), unzipped)

    def _write_atomic(self, path: Path, data: bytes) -> None:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
            _fsync_dir(path.parent)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def _unpack(self, zf: zipfile.ZipFile, infos: list[zipfile.ZipInfo], target: Path) -> int:
        tmp = Path(tempfile.mkdtemp(dir=self.code, prefix=".unpack-"))
        total = 0
        try:
            root = tmp.resolve()
            for info in infos:
                rel = _safe_member(info)
                dest = tmp.joinpath(*rel.parts) if rel.parts else tmp
                if info.is_dir():
                    dest.mkdir(parents=True, exist_ok=True)
                    continue
                dest.parent.mkdir(parents=True, exist_ok=True)
                if _is_symlink(info):
                    link = zf.read(info).decode("utf-8", "replace")
                    resolved = (dest.parent / link).resolve() if not link.startswith("/") else Path(link)
                    if not link or link.startswith("/") or not resolved.is_relative_to(root):
                        raise InvalidZipFile(
                            "Could not unzip uploaded file. Please check your file, then try to upload again. "
                            f"Symbolic link '{info.filename}' points outside the package."
                        )
                    os.symlink(link, dest)
                    continue
                with zf.open(info) as src, open(dest, "wb") as out:
                    while chunk := src.read(CHUNK):
                        total += len(chunk)
                        if total > UNZIPPED_MAX:
                            raise InvalidParameterValue(f"Unzipped size must be smaller than {UNZIPPED_MAX} bytes")
                        out.write(chunk)
                mode = (info.external_attr >> 16) & 0o777
                os.chmod(dest, 0o555 if mode & 0o111 else 0o444)
            for dirpath, _dirs, _files in os.walk(tmp):
                os.chmod(dirpath, 0o555)
            try:
                os.rename(tmp, target)
            except OSError:
                if not target.exists():
                    raise
                self._remove(tmp)  # a concurrent upload of the same zip won
            return total
        except BaseException:
            self._remove(tmp)
            raise

    @staticmethod
    def _remove(path: Path) -> None:
        for dirpath, _dirs, _files in os.walk(path):
            os.chmod(dirpath, 0o755)
        shutil.rmtree(path, ignore_errors=True)

    def collect(self, live: set[str]) -> None:
        """Delete blobs and unpacked trees no function references any more. Run at start-up only: a retired
        instance may still be finishing on an old tree while the server runs."""
        for blob in self.blobs.glob("*.zip"):
            if blob.stem not in live:
                blob.unlink(missing_ok=True)
        for tree in self.code.iterdir():
            if tree.name not in live:
                self._remove(tree)
