"""The signing key and certificate: made once in the data dir (key file 0600), kept across restarts, and messages
signed with it pass the standard SNS verification written here as AWS documents it (independent of our code)."""

from __future__ import annotations

import base64
import stat
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from nimbus.protocol import sns_messages as sm
from nimbus.sources.sns_signing import CERT_FILE, KEY_FILE, SigningKey

TOPIC = "arn:aws:sns:us-east-1:000000000000:orders"


def verify_sns_message(message: dict[str, Any], certificate_pem: bytes) -> None:
    """The standard check (AWS's "Verifying the signatures of Amazon SNS messages"): the fields of the message's
    type, in order, each as "name\\nvalue\\n", Subject only when present; SHA1withRSA (SignatureVersion 1) or
    SHA256withRSA (2) with the certificate's public key. (Validators also require the certificate URL's host to be
    sns.<region>.amazonaws.com; that check is left out here, as Nimbus serves the certificate itself.)"""
    assert message["SignatureVersion"] in ("1", "2")
    if message["Type"] == "Notification":
        keys = ["Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"]
    else:
        keys = ["Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"]
    text = "".join(f"{k}\n{message[k]}\n" for k in keys if k in message and message[k] is not None)
    cert = x509.load_pem_x509_certificate(certificate_pem)
    public = cert.public_key()
    assert isinstance(public, rsa.RSAPublicKey)
    digest = hashes.SHA256() if message["SignatureVersion"] == "2" else hashes.SHA1()
    public.verify(base64.b64decode(message["Signature"]), text.encode(), padding.PKCS1v15(), digest)


def test_the_key_is_made_once_private_and_kept(tmp_path: Path) -> None:
    first = SigningKey(tmp_path, "us-east-1")
    assert stat.S_IMODE((tmp_path / KEY_FILE).stat().st_mode) == 0o600
    assert (tmp_path / CERT_FILE).read_bytes() == first.certificate
    cert = x509.load_pem_x509_certificate(first.certificate)
    assert "sns.us-east-1.amazonaws.com" in cert.subject.rfc4514_string()
    again = SigningKey(tmp_path, "us-east-1")
    assert again.certificate == first.certificate
    assert again.sign(b"x") == first.sign(b"x")  # PKCS#1 v1.5 is deterministic: the same key


def test_a_notification_and_a_confirmation_pass_the_standard_verification(tmp_path: Path) -> None:
    key = SigningKey(tmp_path, "us-east-1")
    for subject in ("Hi", None):
        env = sm.notification(topic_arn=TOPIC, message_id="m", message="héllo\nworld", subject=subject,
                              when="2026-11-30T11:00:00.000Z", attributes={}, unsubscribe_url="u", cert_url="c",
                              sign=key.sign)  # fmt: skip
        verify_sns_message(env, key.certificate)
    conf = sm.confirmation(topic_arn=TOPIC, message_id="m", token="t", subscribe_url="http://x/?a=b", when="w",
                           cert_url="c", sign=key.sign)  # fmt: skip
    verify_sns_message(conf, key.certificate)


def test_a_tampered_message_fails_the_verification(tmp_path: Path) -> None:
    key = SigningKey(tmp_path, "us-east-1")
    env = sm.notification(topic_arn=TOPIC, message_id="m", message="pay 10", subject=None, when="w", attributes={},
                          unsubscribe_url="u", cert_url="c", sign=key.sign)  # fmt: skip
    env["Message"] = "pay 1000"
    with pytest.raises(InvalidSignature):
        verify_sns_message(env, key.certificate)


def test_signature_version_2_is_sha256(tmp_path: Path) -> None:
    key = SigningKey(tmp_path, "us-east-1")
    env = sm.notification(topic_arn=TOPIC, message_id="m", message="x", subject=None, when="w", attributes={},
                          unsubscribe_url="u", cert_url="c", sign=lambda d: key.sign(d, "2"),
                          signature_version="2")  # fmt: skip
    assert env["SignatureVersion"] == "2"
    verify_sns_message(env, key.certificate)
    with pytest.raises(InvalidSignature):  # a version-1 signature does not pass as version 2
        verify_sns_message(env | {"Signature": base64.b64encode(key.sign(sm.string_to_sign(env))).decode()},
                           key.certificate)  # fmt: skip
