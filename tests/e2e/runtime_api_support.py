"""Helpers for custom-runtime (`provided*`) tests: zips with executable bootstraps, shell and Python bootstraps."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

ROLE = "arn:aws:iam::000000000000:role/lambda-role"

#: a POSIX shell runtime using curl, as Lambda's tutorial writes one; `handle` (per test) sets RESPONSE
#: from EVENT, RID and the headers file, and may set ERROR_TYPE to post an error instead
SHELL_LOOP = r"""#!/bin/sh
set -eu
API="http://${AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime"
COUNT=0
HEADERS=/tmp/next-headers
header() { grep -i "^$1:" "$HEADERS" | head -n1 | cut -d' ' -f2- | tr -d '\r\n'; }
%(init)s
while true; do
  EVENT=$(curl -sS -D "$HEADERS" "$API/invocation/next")
  RID=$(header Lambda-Runtime-Aws-Request-Id)
  COUNT=$((COUNT + 1))
  ERROR_TYPE=""
  %(handle)s
  if [ -n "$ERROR_TYPE" ]; then
    curl -sS -o /tmp/post-out -w '%%{http_code}' -X POST "$API/invocation/$RID/error" \
      -H "Lambda-Runtime-Function-Error-Type: $ERROR_TYPE" --data-binary "$RESPONSE" > /tmp/post-status
  else
    curl -sS -o /tmp/post-out -w '%%{http_code}' -X POST "$API/invocation/$RID/response" \
      --data-binary "$RESPONSE" > /tmp/post-status
  fi
done
"""

ECHO_HANDLE = r"""FORMAT='{"echo":%s,"rid":"%s","count":%d,"pid":%d,"api":"%s","deadline":"%s","arn":"%s",'
  FORMAT="$FORMAT"'"trace":"%s","handler":"%s","task_root":"%s","exec_env":"%s","cwd":"%s"}'
  RESPONSE=$(printf "$FORMAT" \
    "$EVENT" "$RID" "$COUNT" "$$" "$AWS_LAMBDA_RUNTIME_API" "$(header Lambda-Runtime-Deadline-Ms)" \
    "$(header Lambda-Runtime-Invoked-Function-Arn)" "$(header Lambda-Runtime-Trace-Id)" "$_HANDLER" \
    "$LAMBDA_TASK_ROOT" "${AWS_EXECUTION_ENV:-}" "$(pwd)")
  echo "handled $RID"
"""


def shell_bootstrap(handle: str = ECHO_HANDLE, init: str = "") -> str:
    return SHELL_LOOP % {"handle": handle, "init": init}


#: a minimal stdlib-Python Runtime API client (what a hand-written custom runtime in Python looks like)
PY_LOOP = r"""#!/bin/sh
exec /var/lang/bin/python3 -u - <<'EOF'
import http.client, json, os
host, port = os.environ["AWS_LAMBDA_RUNTIME_API"].split(":")
conn = http.client.HTTPConnection(host, int(port))
while True:
    conn.request("GET", "/2018-06-01/runtime/invocation/next")
    resp = conn.getresponse()
    event = resp.read()
    rid = resp.getheader("Lambda-Runtime-Aws-Request-Id")
    conn.request("POST", f"/2018-06-01/runtime/invocation/{rid}/response", body=event,
                 headers={"Content-Type": "application/json"})
    conn.getresponse().read()
EOF
"""


def zip_with_modes(files: dict[str, str | bytes], executable: tuple[str, ...] = ("bootstrap",)) -> bytes:
    """A zip whose `executable` entries carry mode 0755 (the code store keeps the exec bit)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, content in files.items():
            info = zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            mode = 0o755 if name in executable else 0o644
            info.external_attr = (0o100000 | mode) << 16
            zf.writestr(info, content)
    return buf.getvalue()


def add_tree(files: dict[str, str | bytes], src: Path, prefix: str) -> None:
    """Add every file under `src` to `files`, at `prefix/<relative path>` (skipping bytecode caches)."""
    for path in sorted(src.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            files[f"{prefix}/{path.relative_to(src.parent).as_posix()}"] = path.read_bytes()
