"""Content-addressed code: each zip is stored once under blobs/<sha256>.zip and unpacked once, read-only, under
code/<sha256>/ (by `unzip`, where no write follows a link and nothing lands outside the folder).

Code nobody references any more is collected: at start-up at once, and while the server runs by a mark-and-sweep
(`sweep`, driven by `collect_forever`): a tree is removed only when two sweeps in a row find it neither referenced
by a function, version or layer version nor mounted by a live instance, and not stored again in between. The
second sweep covers what the first cannot see: an upload whose record is being written, an instance being launched.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
import os
import shutil
import tempfile
import threading
import uuid
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from nimbus.control import unzip
from nimbus.control.validation import UNZIPPED_MAX, ZIPPED_MAX
from nimbus.errors import InvalidParameterValue

log = logging.getLogger(__name__)

#: the shortest pause between two sweeps: the two-sweep rule needs an upload's record written within one
GC_INTERVAL_MIN = 1.0


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


class CodeStore:
    def __init__(self, root: Path) -> None:
        self.blobs = root / "blobs"
        self.code = root / "code"
        self.blobs.mkdir(parents=True, exist_ok=True)
        self.code.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()  # put() runs in worker threads, sweep() too
        self._condemned: set[str] = set()  # unreferenced at the last sweep: removed at the next one if still so

    def blob_path(self, sha256_hex: str) -> Path:
        return self.blobs / f"{sha256_hex}.zip"

    def code_dir(self, sha256_hex: str) -> Path:
        return self.code / sha256_hex

    def put(self, data: bytes) -> CodeInfo:
        """Validate, store and unpack one zip; idempotent. Blocking: call from a worker thread."""
        if len(data) > ZIPPED_MAX:
            raise InvalidParameterValue(f"Zipped size must be smaller than {ZIPPED_MAX} bytes")
        digest = hashlib.sha256(data).hexdigest()
        with unzip.open_zip(data) as zf:
            entries = unzip.plan(zf)
            declared = sum(e.info.file_size for e in entries)
            if declared > UNZIPPED_MAX:
                raise InvalidParameterValue(f"Unzipped size must be smaller than {UNZIPPED_MAX} bytes")
            self._keep(digest)  # before looking: a sweep cannot take what is being stored again
            target = self.code_dir(digest)
            unzipped = self._unpack(zf, entries, target) if not target.exists() else declared
        blob = self.blob_path(digest)
        if not blob.exists():
            self._write_atomic(blob, data)
        self._keep(digest)
        return CodeInfo(digest, len(data), unzipped)

    def _keep(self, digest: str) -> None:
        with self._lock:
            self._condemned.discard(digest)

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

    def _unpack(self, zf: zipfile.ZipFile, entries: list[unzip.Entry], target: Path) -> int:
        tmp = Path(tempfile.mkdtemp(dir=self.code, prefix=".unpack-"))
        try:
            total = unzip.extract(zf, entries, str(tmp), UNZIPPED_MAX)
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
        """Delete an unpacked tree (its directories are 0555: made writable first, for a non-root server)."""
        for dirpath, _dirs, _files in os.walk(path):
            os.chmod(dirpath, 0o755)
        shutil.rmtree(path, ignore_errors=True)

    def _present(self) -> set[str]:
        trees = {p.name for p in self.code.iterdir() if not p.name.startswith(".")}
        return trees | {b.stem for b in self.blobs.glob("*.zip")}

    def collect(self, live: set[str]) -> None:
        """Delete at once every blob and tree (and leftover partial unpack) not in `live`: for start-up, before
        any instance runs."""
        for blob in self.blobs.glob("*.zip"):
            if blob.stem not in live:
                blob.unlink(missing_ok=True)
        for tree in self.code.iterdir():
            if tree.name not in live:
                self._remove(tree)

    def sweep(self, keep: set[str]) -> list[str]:
        """One mark-and-sweep step: remove the blobs and trees that were outside `keep` at the previous step too
        (and not stored since), and mark the ones outside it now. `keep` is every hash referenced or in use.
        Returns the hashes removed. Blocking: call from a worker thread."""
        with self._lock:
            unused = self._present() - keep
            doomed = unused & self._condemned
            self._condemned = unused - doomed
            trash: list[Path] = []
            for digest in sorted(doomed):
                self.blob_path(digest).unlink(missing_ok=True)
                tree = self.code_dir(digest)
                moved = self.code / f".trash-{digest}-{uuid.uuid4().hex[:8]}"
                try:
                    os.rename(tree, moved)  # under the lock: a put() of the same zip unpacks it afresh
                except FileNotFoundError:
                    continue
                trash.append(moved)
        for path in trash:
            self._remove(path)
        return sorted(doomed)

    async def collect_forever(self, keep: Callable[[], set[str]], interval: float) -> None:
        """Sweep every `interval` seconds (at least GC_INTERVAL_MIN; 0: never, the task just waits to be cancelled)
        for as long as the server runs. `keep` is called on the event loop, where the registry and instances change."""
        if interval <= 0:
            await asyncio.Event().wait()
        interval = max(interval, GC_INTERVAL_MIN)
        while True:
            await asyncio.sleep(interval)
            try:
                removed = await asyncio.to_thread(self.sweep, keep())
            except OSError as exc:  # a full or read-only disk: try again next time, never fatal
                log.warning("code collection failed, will retry: %s", exc)
                continue
            for digest in removed:
                log.info("collected unused code %s", digest)
