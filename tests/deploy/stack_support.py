"""Helpers of the stack tests: write a SAM app folder, run the real `nimbus deploy` / `nimbus stack` against a
server, call the stacks API signed as the CLI signs it, and wait for a stack's operation to end."""

from __future__ import annotations

import json
import subprocess
import textwrap
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from conftest import ACCESS_KEY, NIMBUS, REGION, SECRET_KEY, Server

#: statuses a stack operation ends in
TERMINAL = {"CREATE_COMPLETE", "UPDATE_COMPLETE", "ROLLBACK_COMPLETE", "UPDATE_ROLLBACK_COMPLETE", "ROLLBACK_FAILED",
            "UPDATE_ROLLBACK_FAILED", "DELETE_FAILED", "DELETE_COMPLETE"}  # fmt: skip


def write_app(folder: Path, template: str, files: dict[str, str] | None = None) -> Path:
    """A SAM app: template.yaml (dedented) and code files (paths relative to the folder)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "template.yaml").write_text(textwrap.dedent(template))
    for name, text in (files or {}).items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return folder


def cli(server: Server, folder: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """`nimbus <args>` run in `folder` (not a terminal: never prompts), pointed at the server."""
    env = dict(server.env) | {"AWS_ENDPOINT_URL": server.endpoint, "AWS_DEFAULT_REGION": REGION,
                              "AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
                              "COLUMNS": "250"}  # fmt: skip
    done = subprocess.run([*NIMBUS, *args], cwd=folder, env=env, capture_output=True, text=True, timeout=180,
                          stdin=subprocess.DEVNULL)  # fmt: skip
    if check and done.returncode != 0:
        raise AssertionError(f"nimbus {' '.join(args)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return done


def api(server: Server, method: str, path: str, body: Any = None, key: tuple[str, str] = (ACCESS_KEY, SECRET_KEY)
        ) -> tuple[int, Any]:  # fmt: skip
    """A call to the stacks API signed as the CLI signs it (with `key`): (status, decoded JSON body)."""
    data = b"" if body is None else body if isinstance(body, bytes) else json.dumps(body).encode()
    request = AWSRequest(method=method, url=server.endpoint + path, data=data)
    SigV4Auth(Credentials(*key), "cloudformation", REGION).add_auth(request)
    prepared = urllib.request.Request(request.url, data=data or None, method=method,
                                      headers=dict(request.headers.items()))  # fmt: skip
    try:
        with urllib.request.urlopen(prepared, timeout=60) as response:
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}") | {"ErrorType": exc.headers.get("x-amzn-errortype")}


def describe(server: Server, name: str) -> dict[str, Any]:
    status, body = api(server, "GET", f"/_nimbus/stacks/{name}")
    assert status == 200, body
    return dict(body)


def events(server: Server, name: str) -> list[dict[str, Any]]:
    status, body = api(server, "GET", f"/_nimbus/stacks/{name}/events")
    assert status == 200, body
    return list(body["StackEvents"])


def wait_stack(server: Server, name: str, timeout: float = 90) -> dict[str, Any]:
    """The stack once its operation has ended (polled, never a fixed sleep)."""
    deadline = time.monotonic() + timeout
    while True:
        status, body = api(server, "GET", f"/_nimbus/stacks/{name}")
        if status != 200 or body["StackStatus"] in TERMINAL:
            return dict(body)
        if time.monotonic() > deadline:
            raise AssertionError(f"stack {name} still {body['StackStatus']} after {timeout} s")
        time.sleep(0.1)


def wait_until(check: Callable[[], Any], timeout: float = 30) -> Any:
    """`check()` polled until truthy or `timeout` seconds passed; its last value."""
    deadline = time.monotonic() + timeout
    while not (value := check()) and time.monotonic() < deadline:
        time.sleep(0.2)
    return value


def physical_ids(stack: dict[str, Any]) -> dict[str, str]:
    return {r["LogicalResourceId"]: r["PhysicalResourceId"] for r in stack["Resources"]}


def resource_events(server: Server, name: str, after: int = 0) -> list[tuple[str, str]]:
    """(logical id, status) of the resource events after event number `after` (not the stack's own)."""
    found = events(server, name)
    return [(e["LogicalResourceId"], e["ResourceStatus"]) for e in found
            if e["Seq"] > after and e["ResourceType"] != "AWS::CloudFormation::Stack"]  # fmt: skip


def last_seq(server: Server, name: str) -> int:
    found = events(server, name)
    return int(found[-1]["Seq"]) if found else 0
