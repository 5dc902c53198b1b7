"""Access-key secrets at rest: sealed under the data dir's key file, never in the data dir in plaintext."""

from __future__ import annotations

import stat
import time
from pathlib import Path

from iam_support import open_iam
from nimbus.clock import FakeClock
from nimbus.control.secret_box import KEY_FILE, SecretBox


def test_secret_is_not_in_the_data_dir_in_plaintext(tmp_path: Path) -> None:
    iam = open_iam(tmp_path, FakeClock(time.time()))
    iam.create_user("ci")
    key = iam.create_key("ci")
    iam.store.engine.dispose()  # WAL checkpointed: every byte written is in the files
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert files
    for path in files:
        data = path.read_bytes()
        assert key.secret.encode() not in data, path
    assert any(key.access_key_id.encode() in p.read_bytes() for p in files)  # the key itself is stored


def test_key_file_is_private_and_kept(tmp_path: Path) -> None:
    box = SecretBox.for_data_dir(tmp_path)
    mode = stat.S_IMODE((tmp_path / KEY_FILE).stat().st_mode)
    assert mode == 0o600
    sealed = box.seal("AKIAEXAMPLE", "s3cret")
    assert SecretBox.for_data_dir(tmp_path).open("AKIAEXAMPLE", sealed) == "s3cret"


def test_sealed_secret_is_bound_to_its_key_id(tmp_path: Path) -> None:
    box = SecretBox.for_data_dir(tmp_path)
    sealed = box.seal("AKIAONE", "s3cret")
    assert box.open("AKIATWO", sealed) is None
    assert box.open("AKIAONE", "not base64 at all!") is None


def test_a_replaced_key_file_makes_stored_keys_unusable_not_a_crash(tmp_path: Path) -> None:
    clock = FakeClock(time.time())
    iam = open_iam(tmp_path, clock)
    iam.create_user("ci")
    key = iam.create_key("ci")
    iam.store.engine.dispose()
    (tmp_path / KEY_FILE).unlink()
    again = open_iam(tmp_path, clock)
    assert key.access_key_id not in again.keys
    assert again.user("ci").keys == []
