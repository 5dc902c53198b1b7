"""Access-key secrets at rest: encrypted with AES-GCM under a key kept in the data dir (`identity.key`, 0600, made
once), never stored in plaintext. SigV4 needs each secret itself (it signs with it), so a one-way hash will not do:
what protects the secrets is that a copy of the database alone (a backup, a dump, a leaked file) reveals none of
them without the key file. The access key id is the associated data, so a ciphertext moved to another key's row
does not decrypt.
"""

from __future__ import annotations

import base64
import os
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

KEY_FILE = "identity.key"
_NONCE = 12


def load_key(data_dir: Path) -> bytes:
    """The data dir's 256-bit secret-encryption key, made (0600, O_EXCL) on first use."""
    path = data_dir / KEY_FILE
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # made meanwhile by another process: use that one
            return bytes.fromhex(path.read_text().strip())
        with os.fdopen(fd, "w") as f:
            f.write(AESGCM.generate_key(bit_length=256).hex())
    return bytes.fromhex(path.read_text().strip())


class SecretBox:
    """Seal and open access-key secrets (text) bound to their key id."""

    def __init__(self, key: bytes) -> None:
        self._aead = AESGCM(key)

    @classmethod
    def for_data_dir(cls, data_dir: Path) -> SecretBox:
        return cls(load_key(data_dir))

    def seal(self, access_key_id: str, secret: str) -> str:
        nonce = os.urandom(_NONCE)
        sealed = self._aead.encrypt(nonce, secret.encode(), access_key_id.encode())
        return base64.b64encode(nonce + sealed).decode()

    def open(self, access_key_id: str, sealed: str) -> str | None:
        """The secret, or None when the text was not sealed for this key id under this key (a data dir whose key
        file was replaced: that key is then unusable, not a crash)."""
        try:
            raw = base64.b64decode(sealed)
            return self._aead.decrypt(raw[:_NONCE], raw[_NONCE:], access_key_id.encode()).decode()
        except (InvalidTag, ValueError):
            return None
