"""AWS Signature Version 4 verification (header form), pure: request parts in, verdict out.

The canonical request is rebuilt exactly as botocore builds it (path normalised then URI-encoded again, query pairs
re-encoded and sorted, signed headers trimmed and joined), so any SigV4 client verifies. Derived signing keys are
cached per (secret, day, region, service), with HMAC's pads hashed in: the warm invoke path pays two SHA-256 copies
and updates, not six HMACs. The credential scope must
name this server's region and the service the request's API belongs to, as AWS requires.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Protocol
from urllib.parse import quote, unquote

from nimbus.errors import InvalidSignature, MissingAuthenticationToken, UnrecognizedClient

ALGORITHM = "AWS4-HMAC-SHA256"
MAX_SKEW = dt.timedelta(minutes=15)
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()


@dataclass(slots=True)
class Authorization:
    """A parsed Authorization header. Made per request (its signature is new every time) and never changed: not
    frozen, as a frozen dataclass's __init__ costs 4x (object.__setattr__ per field)."""

    access_key: str
    date: str  # yyyymmdd
    region: str
    service: str
    signed_headers: tuple[str, ...]
    signature: str


@dataclass(slots=True)
class Identity:
    """Who signed a request (made per request, never changed: not frozen, for the cost of a frozen __init__)."""

    access_key: str
    region: str
    service: str


_SIGNATURE = ", Signature="
#: the longest scope part kept by `_parse_scope`: headers are parsed before anything is verified, so what anyone
#: may make the cache hold stays small (an SDK's, its signed headers included, is under 300 characters)
_SCOPE_CACHED = 512


def parse_authorization(header: str) -> Authorization:
    """The header's parts. Every request's signature is new, but what comes before it (the credential scope, the
    signed headers) is the same for every request of a client on a day: in the form botocore and the SDKs write,
    the signature last, that part is parsed once (cached, when not unusually long) and only the signature is cut
    off per request. Any other form is parsed whole. Both ways give the same parts and raise the same errors."""
    rest, sep, signature = header.rpartition(_SIGNATURE)
    if sep and "," not in signature and not signature[-1:].isspace() and len(rest) <= _SCOPE_CACHED:
        access_key, date, region, service, signed = _parse_scope(rest)
        return Authorization(access_key, date, region, service, signed, signature)
    return _parse_whole(header)


@lru_cache(maxsize=1024)
def _parse_scope(rest: str) -> tuple[str, str, str, str, tuple[str, ...]]:
    """What precedes `, Signature=` in a header, parsed as the whole header with a placeholder signature (so
    that a malformed one fails exactly as it would whole). Pure, so cached."""
    auth = _parse_whole(rest + _SIGNATURE + "-")
    return auth.access_key, auth.date, auth.region, auth.service, auth.signed_headers


def _parse_whole(header: str) -> Authorization:
    algo, _, rest = header.strip().partition(" ")
    if algo != ALGORITHM:
        raise UnrecognizedClient("Authorization header requires the AWS4-HMAC-SHA256 algorithm.")
    parts: dict[str, str] = {}
    for item in rest.split(","):
        key, sep, value = item.strip().partition("=")
        if sep:
            parts[key] = value
    try:
        scope = parts["Credential"].split("/")
        access_key, date, region, service, terminator = scope
        signed = tuple(parts["SignedHeaders"].split(";"))
        signature = parts["Signature"]
    except (KeyError, ValueError):
        raise InvalidSignature(
            "Authorization header requires 'Credential', 'Signature' and 'SignedHeaders' parameters "
            "with a credential scope of the form <key>/<date>/<region>/<service>/aws4_request."
        ) from None
    if terminator != "aws4_request":
        raise InvalidSignature("Credential should be scoped with a valid terminator: 'aws4_request'.")
    return Authorization(access_key, date, region, service, signed, signature)


def remove_dot_segments(path: str) -> str:
    if not path:
        return "/"
    out: list[str] = []
    for seg in path.split("/"):
        if seg and seg != ".":
            if seg == "..":
                if out:
                    out.pop()
            else:
                out.append(seg)
    first = "/" if path.startswith("/") else ""
    last = "/" if path.endswith("/") and out else ""
    return first + "/".join(out) + last


def canonical_query(query: str) -> str:
    pairs: list[tuple[str, str]] = []
    for item in query.split("&"):
        if not item:
            continue
        key, _, value = item.partition("=")
        pairs.append((quote(unquote(key), safe="-_.~"), quote(unquote(value), safe="-_.~")))
    return "&".join(f"{k}={v}" for k, v in sorted(pairs))


def canonical_uri(raw_path: str) -> str:
    """The path as SigV4 signs it: dot segments removed, then URI-encoded again (cached: paths repeat). Made before
    the signature is checked, by anyone who names a known access key id: only paths of at most _SCOPE_CACHED
    characters are kept (a 16 KB path and its encoding were up to ~43 KB; 1024 of them, 44 MB held)."""
    return _canonical_uri(raw_path) if len(raw_path) <= _SCOPE_CACHED else _canonical(raw_path)


def _canonical(raw_path: str) -> str:
    return quote(remove_dot_segments(raw_path), safe="/~")


_canonical_uri = lru_cache(maxsize=1024)(_canonical)


def canonical_request(
    method: str,
    raw_path: str,
    query: str,
    headers: Mapping[str, Sequence[str]],
    signed_headers: Sequence[str],
    payload_hash: str,
) -> str:
    lines = [method.upper(), canonical_uri(raw_path), canonical_query(query) if query else ""]
    for name in signed_headers:
        values = headers.get(name, ())
        if len(values) == 1:  # the usual case: one value, no generator
            lines.append(f"{name}:{' '.join(values[0].split())}")
        else:
            lines.append(f"{name}:" + ",".join(" ".join(v.split()) for v in values))
    lines.append("")
    lines.append(";".join(signed_headers))
    lines.append(payload_hash)
    return "\n".join(lines)


@lru_cache(maxsize=256)
def signing_key(secret: str, date: str, region: str, service: str) -> bytes:
    key = hmac.new(("AWS4" + secret).encode(), date.encode(), hashlib.sha256).digest()
    for part in (region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key


#: HMAC's inner and outer pads (RFC 2104), as bytes.translate tables
_IPAD = bytes(b ^ 0x36 for b in range(256))
_OPAD = bytes(b ^ 0x5C for b in range(256))


@lru_cache(maxsize=256)
def _keyed(secret: str, date: str, region: str, service: str) -> tuple[hashlib._Hash, hashlib._Hash]:
    """The signing key's HMAC-SHA256 with both pads already hashed in, to copy per request: measured, a one-shot
    hmac.digest costs 4x two copies of these (OpenSSL 3 sets up the digest anew on every call)."""
    block = signing_key(secret, date, region, service).ljust(64, b"\0")  # a 32-byte key: shorter than a block
    return hashlib.sha256(block.translate(_IPAD)), hashlib.sha256(block.translate(_OPAD))


def _hmac_hex(keyed: tuple[hashlib._Hash, hashlib._Hash], message: bytes) -> str:
    inner, outer = keyed[0].copy(), keyed[1].copy()
    inner.update(message)
    outer.update(inner.digest())
    return outer.hexdigest()


@lru_cache(maxsize=256)
def parse_amz_date(value: str) -> dt.datetime:
    """20261127T001434Z → an aware datetime (by slicing: strptime is slow on the invoke path)."""
    try:
        if len(value) != 16 or value[8] != "T" or value[15] != "Z":
            raise ValueError(value)
        return dt.datetime(
            int(value[0:4]), int(value[4:6]), int(value[6:8]),
            int(value[9:11]), int(value[11:13]), int(value[13:15]), tzinfo=dt.UTC,
        )  # fmt: skip
    except ValueError:
        raise InvalidSignature(f"Invalid X-Amz-Date '{value}': expected the form 20261127T001434Z.") from None


class SecretLookup(Protocol):
    """Where a key's secret is found: a dict, or the key ring (`control/identity.KeyRing`)."""

    def get(self, access_key_id: str, default: str | None = None) -> str | None: ...


@dataclass(slots=True)
class Head:
    """What a request's headers alone establish: a known key, a scope for this server, a fresh date. Made once per
    request and never changed (not frozen: a frozen __init__ costs 4x)."""

    auth: Authorization
    secret: str
    amz_date: str


def check_head(
    *,
    headers: Mapping[str, Sequence[str]],
    credentials: Mapping[str, str] | SecretLookup,
    now: dt.datetime,
    region: str | None,
    service: str | None,
) -> Head:
    """Everything but the signature, which needs the body: checked at the end of the headers, so that a request
    nobody could have signed for us is refused before its body is read. Cached parses and dict lookups only.

    `region` / `service` are what the credential scope must name (None: not checked), worded as AWS words it.
    """
    auth_values = headers.get("authorization")
    if not auth_values:
        raise MissingAuthenticationToken("Missing Authentication Token")
    auth = parse_authorization(auth_values[0])
    scope_errors = ""
    if region is not None and auth.region != region:
        scope_errors += f"Credential should be scoped to a valid region, not '{auth.region}'. "
    if service is not None and auth.service != service:
        scope_errors += f"Credential should be scoped to correct service: '{service}'. "
    if scope_errors:
        raise InvalidSignature(scope_errors)
    secret = credentials.get(auth.access_key)
    if secret is None:
        raise UnrecognizedClient("The security token included in the request is invalid.")
    amz_date = (headers.get("x-amz-date") or headers.get("date") or [""])[0]
    when = parse_amz_date(amz_date)
    if abs(now - when) > MAX_SKEW:
        raise InvalidSignature(
            f"Signature expired: {amz_date} is now earlier than "
            f"{(now - MAX_SKEW).strftime('%Y%m%dT%H%M%SZ')} ({now.strftime('%Y%m%dT%H%M%SZ')} - 15 min.)"
        )
    if "host" not in auth.signed_headers:
        raise InvalidSignature("'Host' must be a signed header.")
    return Head(auth, secret, amz_date)


def check_signature(
    head: Head, *, method: str, raw_path: str, query: str, headers: Mapping[str, Sequence[str]], body: bytes
) -> Identity:
    """The signature over the whole request, once its body is in; raise InvalidSignature or say who signed."""
    auth = head.auth
    declared = (headers.get("x-amz-content-sha256") or [""])[0]
    body_hash = hashlib.sha256(body).hexdigest() if body else EMPTY_SHA256
    if declared and declared != "UNSIGNED-PAYLOAD" and declared != body_hash:
        raise InvalidSignature("The provided 'x-amz-content-sha256' header does not match what was computed.")
    payload_hash = declared or body_hash
    creq = canonical_request(method, raw_path, query, headers, auth.signed_headers, payload_hash)
    scope = f"{auth.date}/{auth.region}/{auth.service}/aws4_request"
    to_sign = "\n".join([ALGORITHM, head.amz_date, scope, hashlib.sha256(creq.encode()).hexdigest()])
    expected = _hmac_hex(_keyed(head.secret, auth.date, auth.region, auth.service), to_sign.encode())
    if not hmac.compare_digest(expected, auth.signature):
        raise InvalidSignature(
            "The request signature we calculated does not match the signature you provided. "
            "Check your AWS Secret Access Key and signing method. Consult the service documentation for details."
        )
    return Identity(auth.access_key, auth.region, auth.service)


def verify(
    *,
    method: str,
    raw_path: str,
    query: str,
    headers: Mapping[str, Sequence[str]],
    body: bytes,
    credentials: Mapping[str, str] | SecretLookup,
    now: dt.datetime,
    region: str | None = None,
    service: str | None = None,
) -> Identity:
    """Check one whole request (check_head, then check_signature); raise an AuthError, or return who signed it.

    `headers` maps lower-case names to every value received for that name.
    """
    head = check_head(headers=headers, credentials=credentials, now=now, region=region, service=service)
    return check_signature(head, method=method, raw_path=raw_path, query=query, headers=headers, body=body)
