"""The official Node.js runtime interface client (npm `aws-lambda-ric`), unchanged, as a custom runtime's
bootstrap: proof that Nimbus's Runtime API speaks what AWS's own client expects.

The package compiles native code (curl, aws-lambda-cpp) on install, about two minutes here, so the build is cached
under ~/.cache/nimbus-tests. It needs npm and autotools (`.ci/run` installs them); without them this test skips
and says why.
"""

from __future__ import annotations

import base64
import io
import json
import shutil
import subprocess
import zipfile
from pathlib import Path
from typing import Any

import pytest

RIC_VERSION = "3.3.0"
CACHE = Path.home() / ".cache" / "nimbus-tests" / f"aws-lambda-ric-{RIC_VERSION}"
PACKAGE_FILES = ("package.json", "bin/index.mjs", "dist/index.mjs", "dist/rapid-client.node")


def _build() -> Path:
    package = CACHE / "node_modules" / "aws-lambda-ric"
    if (package / "dist" / "rapid-client.node").exists():
        return package
    missing = [tool for tool in ("npm", "autoreconf", "libtoolize", "cmake", "g++") if shutil.which(tool) is None]
    if missing:
        pytest.skip(f"building aws-lambda-ric needs {', '.join(missing)} (apt-get install npm autoconf libtool ...)")
    CACHE.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        ["npm", "install", "--no-audit", "--no-fund", "--prefix", str(CACHE), f"aws-lambda-ric@{RIC_VERSION}"],
        check=True, capture_output=True, timeout=900,
    )  # fmt: skip
    return package


def _function_zip(package: Path) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for sub in PACKAGE_FILES:
            info = zipfile.ZipInfo(f"node_modules/aws-lambda-ric/{sub}")
            info.external_attr = 0o755 << 16
            zf.writestr(info, (package / sub).read_bytes())
        zf.writestr(
            "index.js",
            "exports.handler = async (event, context) => {\n"
            "  console.log('hello from the npm runtime client');\n"
            "  if (event.fail) { throw new TypeError('asked to fail'); }\n"
            "  return {got: event, id: context.awsRequestId, fn: context.functionName};\n"
            "};\n",
        )
        info = zipfile.ZipInfo("bootstrap")
        info.external_attr = 0o755 << 16
        zf.writestr(
            info,
            "#!/bin/sh\ncd /var/task\n"
            "exec /usr/bin/node /var/task/node_modules/aws-lambda-ric/bin/index.mjs \"$_HANDLER\"\n",
        )
    return buf.getvalue()


@pytest.mark.timeout(900)
def test_official_node_runtime_interface_client(lam: Any, fn_name: str) -> None:
    from e2e_support import ROLE

    package = _build()
    lam.create_function(FunctionName=fn_name, Runtime="provided.al2023", Handler="index.handler", Role=ROLE,
                        Timeout=10, Code={"ZipFile": _function_zip(package)})  # fmt: skip
    try:
        resp = lam.invoke(FunctionName=fn_name, Payload=json.dumps({"a": 1}), LogType="Tail")
        assert "FunctionError" not in resp
        out = json.load(resp["Payload"])
        assert out == {"got": {"a": 1}, "id": resp["ResponseMetadata"]["RequestId"], "fn": fn_name}
        tail = base64.b64decode(resp["LogResult"]).decode()
        assert "hello from the npm runtime client" in tail

        failed = lam.invoke(FunctionName=fn_name, Payload=json.dumps({"fail": True}))
        assert failed["FunctionError"] == "Unhandled"
        error = json.load(failed["Payload"])
        assert error["errorType"] == "TypeError"
        assert error["errorMessage"] == "asked to fail"

        again = lam.invoke(FunctionName=fn_name, Payload=b"{}")
        assert json.load(again["Payload"])["got"] == {}
    finally:
        lam.delete_function(FunctionName=fn_name)
