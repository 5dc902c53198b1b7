"""Helpers for the versions / aliases / layers acceptance tests (issue 3); not a test module."""

from __future__ import annotations

import contextlib
import io
import json
import time
import zipfile
from typing import Any

from botocore.exceptions import ClientError
from e2e_support import ACCOUNT, REGION, arn, make_zip

UUID_RE = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"

#: a function that reports which code, version and qualifier served the call
VERSIONED = """
import os
LABEL = {label!r}
def handler(event, context):
    return {{
        "label": LABEL,
        "function_version": context.function_version,
        "env_version": os.environ.get("AWS_LAMBDA_FUNCTION_VERSION"),
        "invoked_function_arn": context.invoked_function_arn,
        "log_stream_name": context.log_stream_name,
        "env_stream": os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME"),
        "key_a": os.environ.get("KEY_A"),
    }}
"""


def versioned(label: str) -> dict[str, str | bytes]:
    """Function files whose handler returns `label` (different labels → different CodeSha256)."""
    return {"app.py": VERSIONED.format(label=label)}


def versioned_zip(label: str) -> bytes:
    return make_zip(versioned(label))


def call(lam: Any, name: str, payload: Any = None, **kwargs: Any) -> tuple[str, dict[str, Any]]:
    """Invoke synchronously; returns (X-Amz-Executed-Version, decoded body). Fails on a function error."""
    resp = lam.invoke(FunctionName=name, Payload=json.dumps(payload or {}).encode(), **kwargs)
    raw = resp["Payload"].read()
    assert resp["StatusCode"] == 200, resp
    assert "FunctionError" not in resp, raw
    assert "ExecutedVersion" in resp, f"X-Amz-Executed-Version missing on invoke of {name} {kwargs}"
    return resp["ExecutedVersion"], json.loads(raw)


def qualified(name: str, qualifier: str) -> str:
    return f"{arn(name)}:{qualifier}"


def partial(name: str, qualifier: str | None = None) -> str:
    base = f"{ACCOUNT}:function:{name}"
    return base if qualifier is None else f"{base}:{qualifier}"


def layer_arn(layer: str, version: int | None = None, *, region: str = REGION, account: str = ACCOUNT) -> str:
    base = f"arn:aws:lambda:{region}:{account}:layer:{layer}"
    return base if version is None else f"{base}:{version}"


def all_versions(lam: Any, name: str) -> list[str]:
    out: list[str] = []
    for page in lam.get_paginator("list_versions_by_function").paginate(FunctionName=name):
        out.extend(v["Version"] for v in page["Versions"])
    return out


class LayerPublisher:
    """Publishes layer versions and deletes every one of them at test end (layers are server-wide)."""

    def __init__(self, lam: Any) -> None:
        self.lam = lam
        self.published: list[tuple[str, int]] = []

    def __call__(self, layer: str, files: dict[str, str | bytes] | None = None, *, zip_bytes: bytes | None = None,
                 **kwargs: Any) -> dict[str, Any]:
        content = zip_bytes if zip_bytes is not None else make_zip(files or {"python/empty.py": ""})
        resp: dict[str, Any] = self.lam.publish_layer_version(LayerName=layer, Content={"ZipFile": content},
                                                              **kwargs)
        self.published.append((layer, resp["Version"]))
        return resp

    def cleanup(self) -> None:
        for layer, version in self.published:
            with contextlib.suppress(ClientError):
                self.lam.delete_layer_version(LayerName=layer, VersionNumber=version)


def zeros_zip(unzipped_total: int, files: dict[str, str] | None = None, blob: str = "zeros.bin") -> bytes:
    """A small deflated zip whose entries (`files` plus one blob of zeros) unpack to exactly `unzipped_total`
    bytes; the blob is streamed, so memory stays at a few MB whatever the total."""
    files = files or {}
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        used = 0
        for name, text in files.items():
            data = text.encode()
            zf.writestr(name, data)
            used += len(data)
        remaining = unzipped_total - used
        assert remaining >= 0
        with zf.open(blob, "w", force_zip64=True) as f:
            chunk = b"\0" * (1 << 22)
            while remaining:
                n = min(remaining, len(chunk))
                f.write(chunk[:n])
                remaining -= n
    data = buf.getvalue()
    assert sum(i.file_size for i in zipfile.ZipFile(io.BytesIO(data)).infolist()) == unzipped_total
    return data


def wait_ready(lam: Any, name: str, timeout: float = 20.0) -> dict[str, Any]:
    """Poll until the function is Active and no update is in progress (a publish during an update is a 409)."""

    deadline = time.monotonic() + timeout
    while True:
        cfg: dict[str, Any] = lam.get_function_configuration(FunctionName=name)
        if (cfg.get("State") == "Active" and cfg.get("LastUpdateStatus") != "InProgress") or \
                time.monotonic() > deadline:
            return cfg
        time.sleep(0.05)


def update_code(lam: Any, name: str, label: str) -> dict[str, Any]:
    resp: dict[str, Any] = lam.update_function_code(FunctionName=name, ZipFile=versioned_zip(label))
    wait_ready(lam, name)
    return resp
