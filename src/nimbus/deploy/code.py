"""Code properties, as providers receive them: every `Code` (functions) and `Content` (layers) becomes
`{"CodeSha256": <hex>}`, naming a zip in the code store or one this deploy made. Pure.

Where the code comes from in the template:
- `{"S3Bucket": "nimbus-code", "S3Key": <sha256 hex>}`: a zip `nimbus deploy` uploaded (what it puts for a local
  CodeUri / ContentUri before the SAM transform, which would otherwise want an S3 location);
- `{"ZipFile": <source text>}` (SAM's InlineCode): zipped here as `index.<ext>`, the file name CloudFormation uses
  for the runtime.
"""

from __future__ import annotations

import hashlib
import io
import stat
import zipfile
from collections.abc import Callable, Mapping
from typing import Any

from nimbus.deploy.intrinsics import fail

#: the bucket name standing for Nimbus's code store in templates (`s3://nimbus-code/<sha256>`)
CODE_BUCKET = "nimbus-code"
#: the property holding code, by resource type
CODE_PROPERTY = {"AWS::Lambda::Function": "Code", "AWS::Lambda::LayerVersion": "Content"}
_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)


def inline_zip(source: str, runtime: str) -> bytes:
    """`index.py` / `index.js` holding the source, zipped deterministically (as CloudFormation does ZipFile)."""
    name = "index.js" if runtime.startswith("nodejs") else "index.py"
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        info = zipfile.ZipInfo(name, date_time=_ZIP_EPOCH)
        info.external_attr = (stat.S_IFREG | 0o644) << 16
        info.create_system = 3
        zf.writestr(info, source.encode())
    return buf.getvalue()


def normalize_code(
    type_: str, logical_id: str, props: Mapping[str, Any], known: Callable[[str], bool]
) -> tuple[dict[str, Any], dict[str, bytes]]:
    """The properties with their code property as `{"CodeSha256": hex}`, and the zips made here (by hex).
    `known(hex)`: whether the code store holds that zip (uploaded before the deploy)."""
    key = CODE_PROPERTY.get(type_)
    if key is None or key not in props:
        return dict(props), {}
    where = f"Resources.{logical_id}.Properties.{key}"
    code = props[key]
    made: dict[str, bytes] = {}
    if not isinstance(code, dict):
        raise fail(where, "a mapping (S3Bucket/S3Key or ZipFile) is expected")
    if isinstance(code.get("ZipFile"), str) and type_ == "AWS::Lambda::Function":
        data = inline_zip(code["ZipFile"], str(props.get("Runtime", "")))
        digest = hashlib.sha256(data).hexdigest()
        made[digest] = data
    elif "S3Bucket" in code or "S3Key" in code:
        if code.get("S3Bucket") != CODE_BUCKET:
            raise fail(where, f"S3Bucket {code.get('S3Bucket')!r}: only code uploaded by nimbus deploy "
                              f"({CODE_BUCKET}) can be used; give a local CodeUri/ContentUri")  # fmt: skip
        digest = str(code.get("S3Key", ""))
        if not known(digest):
            raise fail(where, f"no uploaded code with sha256 {digest!r}: run nimbus deploy, which uploads it")
    else:
        raise fail(where, "S3Bucket/S3Key (a packaged folder) or ZipFile (inline code) is required")
    return {**props, key: {"CodeSha256": digest}}, made
