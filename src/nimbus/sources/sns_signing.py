"""The key SNS messages are signed with, and its certificate, kept in the data dir.

An RSA 2048 key made once (file mode 0600) and a self-signed X.509 certificate for it, served unauthenticated at
the messages' `SigningCertURL`, so that a standard SNS message validator (SignatureVersion 1: SHA1withRSA, 2:
SHA256withRSA, over the
canonical string) pointed at Nimbus accepts them. The certificate names `sns.<region>.amazonaws.com`, as AWS's
does; validators that also insist the certificate URL's host is AWS's need that check relaxed for Nimbus.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

KEY_FILE = "sns-signing.key"
CERT_FILE = "sns-signing.pem"
#: the certificate's validity: long, as nothing renews it
VALID_DAYS = 3650


def _write_private(path: Path, data: bytes) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    tmp.replace(path)


class SigningKey:
    """Signs SNS messages; `certificate` is the PEM served at the signing certificate URL."""

    def __init__(self, data_dir: Path, region: str) -> None:
        key_path, cert_path = data_dir / KEY_FILE, data_dir / CERT_FILE
        if key_path.exists() and cert_path.exists():
            loaded = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
            assert isinstance(loaded, rsa.RSAPrivateKey)
            self._key = loaded
            self.certificate = cert_path.read_bytes()
            return
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"sns.{region}.amazonaws.com"),
                          x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Nimbus")])  # fmt: skip
        now = dt.datetime.now(dt.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self._key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=VALID_DAYS))
            .sign(self._key, hashes.SHA256())
        )
        pem = self._key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        _write_private(key_path, pem)
        self.certificate = cert.public_bytes(serialization.Encoding.PEM)
        cert_path.write_bytes(self.certificate)

    def sign(self, data: bytes, version: str = "1") -> bytes:
        """SignatureVersion 1: SHA1withRSA, 2: SHA256withRSA (PKCS#1 v1.5)."""
        digest = hashes.SHA256() if version == "2" else hashes.SHA1()
        return self._key.sign(data, padding.PKCS1v15(), digest)
