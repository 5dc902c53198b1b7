"""The AWS SDKs the runtimes include, as Lambda's do: boto3 and botocore for Python, the AWS SDK for JavaScript v3
clients for Node.js. `make install` puts them under the environment Nimbus runs from (`SDK_ROOT`): pip installs
`sdk-requirements.txt` (pinned as pyproject pins boto3 and botocore) into `python/`, and npm installs
`nodejs/sdk/package-lock.json` into `nodejs/node_modules` when Node.js is present.

Instances see them read-only: Python's at /var/runtime/sdk, on `sys.path` after /var/task, /opt/python and the
standard library (a function's own copy wins); Node.js's at /var/runtime/node_modules (on NODE_PATH after the
layers, for `require`) and at /node_modules (where an ES module's `import` finds it, after /var/task's own). Nothing
is imported until the function imports it: they are a path entry, not a cost of cold starts.
"""

from __future__ import annotations

import functools
import os
import sys
from pathlib import Path

#: where `make install` puts the SDKs: beside the interpreter environment the server runs from
SDK_ROOT = Path(sys.prefix) / "share" / "nimbus" / "runtime-sdk"
PYTHON_SDK_DIR = SDK_ROOT / "python"
NODE_SDK_MODULES = SDK_ROOT / "nodejs" / "node_modules"
#: what a sandboxed instance sees of them
SANDBOX_PYTHON_SDK = "/var/runtime/sdk"
SANDBOX_NODE_MODULES = "/var/runtime/node_modules"
#: the package.json and package-lock.json of the Node.js SDK (in the source tree, installed with `npm ci`)
NODE_SDK_PACKAGE = Path(__file__).resolve().parent / "nodejs" / "sdk"
#: the Python SDK's pins (pip install --no-deps --target)
PYTHON_SDK_REQUIREMENTS = Path(__file__).resolve().parent / "python-sdk-requirements.txt"


@functools.cache
def _usable(path: Path) -> Path | None:
    """`path` when it is a directory this process can read (what a sandbox's bind mount needs), else None."""
    return path if path.is_dir() and os.access(path, os.R_OK | os.X_OK) else None


def python_sdk() -> Path | None:
    """The Python SDK directory, or None when it is not installed (functions then bring their own)."""
    return _usable(PYTHON_SDK_DIR)


def node_sdk() -> Path | None:
    """The Node.js SDK's node_modules, or None when it is not installed (no Node.js at `make install`)."""
    return _usable(NODE_SDK_MODULES)
