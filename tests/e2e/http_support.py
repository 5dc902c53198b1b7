"""Helpers for the HTTP-trigger end-to-end tests (not a test module): layers built from installed distributions the
way users ship dependencies, and requests to a function URL or an HTTP API by Host header or by path form, plain or
SigV4-signed by botocore.

A layer here is what `pip install -t python/ fastapi mangum` puts in a zip: every file each distribution recorded
(its RECORD, so `.dist-info` and compiled extensions included), found by walking `importlib.metadata`'s
requirements from the named roots (markers evaluated for this interpreter, no extras).
"""

from __future__ import annotations

import io
import re
import zipfile
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import httpx
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from e2e_support import ACCESS_KEY, REGION, SECRET_KEY
from packaging.requirements import Requirement

_NORMALIZE = re.compile(r"[-_.]+")


def _canonical(name: str) -> str:
    return _NORMALIZE.sub("-", name).lower()


def distribution_closure(*roots: str) -> list[metadata.Distribution]:
    """The installed distributions `roots` need, roots included, each once (requirements with a marker that is
    false here, such as an extra or an older Python, are skipped). A missing one fails loudly: it is a pinned test
    dependency, or the dependency of one."""
    found: dict[str, metadata.Distribution] = {}
    pending = list(roots)
    while pending:
        name = _canonical(pending.pop())
        if name in found:
            continue
        dist = metadata.distribution(name)
        found[name] = dist
        for spec in dist.requires or ():
            req = Requirement(spec)
            if req.marker is None or req.marker.evaluate({"extra": ""}):
                pending.append(req.name)
    return sorted(found.values(), key=lambda d: _canonical(d.metadata["Name"]))


def layer_zip(*roots: str) -> tuple[bytes, list[str]]:
    """A layer zip of the closure of `roots` under `python/`, and the names of the distributions in it. Files a
    distribution installed outside site-packages (console scripts in bin/) and byte-code caches are left out."""
    buf = io.BytesIO()
    names = []
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for dist in distribution_closure(*roots):
            names.append(dist.metadata["Name"])
            for rel in dist.files or ():
                if rel.parts[0] == ".." or "__pycache__" in rel.parts:
                    continue
                source = Path(str(dist.locate_file(rel)))
                if source.is_file():
                    zf.write(source, "python/" + rel.as_posix())
    return buf.getvalue(), names


def publish_layer(server: Any, name: str, *roots: str) -> tuple[str, list[str]]:
    """Publish the closure of `roots` as layer `name` (python3.11); its version ARN and its distributions."""
    content, names = layer_zip(*roots)
    resp = server.client("lambda").publish_layer_version(
        LayerName=name, Content={"ZipFile": content}, CompatibleRuntimes=["python3.11"]
    )
    return str(resp["LayerVersionArn"]), names


# ---------------------------------------------------------------------------------------------- calling endpoints


@dataclass(frozen=True)
class Endpoint:
    """A function URL or HTTP API on the test server: `kind` is "lambda-url" or "execute-api"."""

    port: int
    kind: str
    id: str

    def host(self, domain: str = "localhost") -> str:
        """The Host header that names it: `<id>.lambda-url.us-east-1.localhost:<port>`, or with an AWS domain
        (`on.aws`, `amazonaws.com`) as SAM templates print it, without a port, as a TLS proxy would forward it."""
        name = f"{self.id}.{self.kind}.{REGION}.{domain}"
        return f"{name}:{self.port}" if domain == "localhost" else name

    def url(self, path: str, form: str = "host", domain: str = "localhost") -> tuple[str, dict[str, str]]:
        """Where to send a request for `path` (with its query) and the Host header to send with it. `form` is
        "host" (127.0.0.1 with the Host that names the endpoint) or "path" (`/lambda-url/<id>/...`)."""
        if form == "path":
            return f"http://127.0.0.1:{self.port}/{self.kind}/{self.id}{path}", {}
        return f"http://127.0.0.1:{self.port}{path}", {"Host": self.host(domain)}


def call(endpoint: Endpoint, method: str, path: str, *, form: str = "host", domain: str = "localhost",
         headers: dict[str, str] | None = None, content: bytes | None = None,
         timeout: float = 60) -> httpx.Response:  # fmt: skip
    """One request over real HTTP (httpx; no cookie jar, no redirects followed)."""
    url, host = endpoint.url(path, form, domain)
    with httpx.Client(timeout=timeout, follow_redirects=False) as client:
        return client.request(method, url, headers={**host, **(headers or {})}, content=content)


def call_signed(endpoint: Endpoint, method: str, path: str, *, secret_key: str = SECRET_KEY,
                headers: dict[str, str] | None = None, content: bytes = b"", access_key: str = ACCESS_KEY,
                service: str = "lambda") -> httpx.Response:  # fmt: skip
    """The same request SigV4-signed for `service` (`lambda` for an AWS_IAM function URL, `execute-api` for an
    HTTP API's AWS_IAM route) by botocore's signer, for the Host that names the endpoint (what the AWS SDKs and
    `awscurl` sign)."""
    signed_url = f"http://{endpoint.host()}{path}"
    request = AWSRequest(method=method, url=signed_url, data=content, headers=dict(headers or {}))
    SigV4Auth(Credentials(access_key, secret_key), service, REGION).add_auth(request)
    sent = {k: str(v) for k, v in request.headers.items()}
    sent["Host"] = endpoint.host()
    with httpx.Client(timeout=60) as client:
        return client.request(method, f"http://127.0.0.1:{endpoint.port}{path}", headers=sent, content=content)
