"""SigV4 verification against requests signed by botocore itself."""

from __future__ import annotations

import datetime as dt
from urllib.parse import urlsplit

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from nimbus.api import sigv4
from nimbus.errors import InvalidSignature, UnrecognizedClient

CREDS = {"AKID": "secret"}


def signed(method: str, url: str, body: bytes = b"", secret: str = "secret", key: str = "AKID") -> AWSRequest:
    req = AWSRequest(method=method, url=url, data=body, headers={"Content-Type": "application/json"})
    SigV4Auth(Credentials(key, secret), "lambda", "us-east-1").add_auth(req)
    return req


def check(req: AWSRequest, now: dt.datetime | None = None, creds: dict[str, str] = CREDS) -> sigv4.Identity:
    parts = urlsplit(req.url)
    headers: dict[str, list[str]] = {}
    for k, val in req.headers.items():
        headers.setdefault(k.lower(), []).append(val)
    headers.setdefault("host", [parts.netloc])
    body = req.body if isinstance(req.body, bytes) else (req.body or "").encode()
    return sigv4.verify(
        method=req.method, raw_path=parts.path, query=parts.query, headers=headers, body=body,
        credentials=creds, now=now or dt.datetime.now(dt.UTC),
    )  # fmt: skip


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9001/2015-03-31/functions/fn/invocations",
        "http://127.0.0.1:9001/2015-03-31/functions/arn%3Aaws%3Alambda%3Aus-east-1%3A000000000000%3Afunction%3Afn/invocations",
        "http://127.0.0.1:9001/2015-03-31/functions?Marker=abc%3D%3D&MaxItems=5",
        "http://localhost/2017-03-31/tags/arn%3Aaws%3Alambda%3Aus-east-1%3A000000000000%3Afunction%3Afn?tagKeys=b&tagKeys=a",
    ],
)
def test_botocore_signed_requests_verify(url: str) -> None:
    ident = check(signed("POST", url, b'{"a": 1}'))
    assert ident.access_key == "AKID"
    assert ident.service == "lambda"


def test_wrong_secret_is_invalid_signature() -> None:
    with pytest.raises(InvalidSignature, match="signature we calculated"):
        check(signed("GET", "http://h/2015-03-31/functions", secret="nope"))


def test_unknown_key_is_unrecognized() -> None:
    with pytest.raises(UnrecognizedClient):
        check(signed("GET", "http://h/2015-03-31/functions", key="OTHER"))


def test_missing_authorization_is_unrecognized() -> None:
    with pytest.raises(UnrecognizedClient, match="Missing Authentication Token"):
        sigv4.verify(method="GET", raw_path="/", query="", headers={}, body=b"", credentials=CREDS,
                     now=dt.datetime.now(dt.UTC))  # fmt: skip


def test_tampered_body_fails() -> None:
    req = signed("POST", "http://h/2015-03-31/functions/fn/invocations", b'{"a": 1}')
    tampered = AWSRequest(method="POST", url=req.url, data=b'{"a": 2}', headers=dict(req.headers.items()))
    with pytest.raises(InvalidSignature):
        check(tampered)


def test_signature_older_than_15_minutes_is_refused() -> None:
    req = signed("GET", "http://h/2015-03-31/functions")
    later = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=16)
    with pytest.raises(InvalidSignature, match="Signature expired"):
        check(req, now=later)
    assert check(req, now=dt.datetime.now(dt.UTC) + dt.timedelta(minutes=14)).access_key == "AKID"


def test_dot_segments_and_query_canonicalisation() -> None:
    assert sigv4.remove_dot_segments("/a/./b/../c//d/") == "/a/c/d/"
    assert sigv4.canonical_query("b=2&a=1&a=0") == "a=0&a=1&b=2"
    assert sigv4.canonical_query("k=a%20b") == "k=a%20b"


_SCOPE = "Credential=AKID/20261130/us-east-1/lambda/aws4_request"


@pytest.mark.parametrize(
    "header",
    [
        f"AWS4-HMAC-SHA256 {_SCOPE}, SignedHeaders=host;x-amz-date, Signature=ab12",  # botocore's: signature last
        f"AWS4-HMAC-SHA256 Signature=ab12, {_SCOPE}, SignedHeaders=host;x-amz-date",  # signature first
        f"AWS4-HMAC-SHA256 {_SCOPE},SignedHeaders=host;x-amz-date,Signature=ab12",  # no spaces
        f"  AWS4-HMAC-SHA256 {_SCOPE}, SignedHeaders=host;x-amz-date, Signature=ab12  ",  # white space around
        f"AWS4-HMAC-SHA256 {_SCOPE}, Signature=zz, SignedHeaders=host;x-amz-date, Signature=ab12",  # twice: the last
    ],
)
def test_the_authorization_header_parses_alike_in_any_order(header: str) -> None:
    """The scope before a trailing signature is parsed once per client (cached), the rest whole: the same parts."""
    for _ in range(2):  # parsed, then from the cache
        auth = sigv4.parse_authorization(header)
        assert (auth.access_key, auth.date, auth.region, auth.service) == ("AKID", "20261130", "us-east-1", "lambda")
        assert (auth.signed_headers, auth.signature) == (("host", "x-amz-date"), "ab12")


@pytest.mark.parametrize(
    ("header", "error"),
    [
        ("AWS4-HMAC-SHA1 Credential=a/b/c/d/aws4_request, SignedHeaders=host, Signature=ab", UnrecognizedClient),
        ("AWS4-HMAC-SHA256, Signature=ab", UnrecognizedClient),
        ("AWS4-HMAC-SHA256 Credential=a/b/c/aws4_request, SignedHeaders=host, Signature=ab", InvalidSignature),
        ("AWS4-HMAC-SHA256 Credential=a/b/c/d/e, SignedHeaders=host, Signature=ab", InvalidSignature),
        ("AWS4-HMAC-SHA256 Credential=a/b/c/d/aws4_request, Signature=ab", InvalidSignature),
    ],
)
def test_a_malformed_authorization_header_fails_every_time(header: str, error: type[Exception]) -> None:
    for _ in range(2):  # a failed parse is not cached as a success
        with pytest.raises(error):
            sigv4.parse_authorization(header)


def test_an_unusually_long_scope_is_parsed_whole_and_not_kept() -> None:
    """Headers are parsed before anything is verified: what anyone can make the scope cache hold stays small."""
    long_signed = ";".join(f"x-h{n}" for n in range(200))
    kept = sigv4._parse_scope.cache_info().currsize
    for n in range(3):
        header = f"AWS4-HMAC-SHA256 {_SCOPE}, SignedHeaders=host;{long_signed}{n}, Signature=ab12"
        auth = sigv4.parse_authorization(header)
        assert auth.signed_headers[-1] == f"x-h199{n}"
        assert auth.signature == "ab12"
    assert sigv4._parse_scope.cache_info().currsize == kept


@pytest.mark.parametrize("length", [sigv4._SCOPE_CACHED, sigv4._SCOPE_CACHED + 1])
def test_a_long_path_verifies_alike_and_only_a_short_one_is_kept(length: int) -> None:
    """The canonical path is made before the signature is checked: a path of up to 512 characters is kept for
    the next request, a longer one (up to the 16 KB target limit) verifies the same but is not kept."""
    prefix = "/2015-03-31/functions/"
    path = prefix + "%41" * ((length - len(prefix)) // 3) + "a" * ((length - len(prefix)) % 3)
    assert len(path) == length
    sigv4._canonical_uri.cache_clear()
    assert check(signed("POST", f"http://h{path}", b"{}")).access_key == "AKID"
    assert sigv4._canonical_uri.cache_info().currsize == (1 if length <= sigv4._SCOPE_CACHED else 0)
    with pytest.raises(InvalidSignature, match="signature we calculated"):
        check(signed("POST", f"http://h{path}", b"{}", secret="nope"))
