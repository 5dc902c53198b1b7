"""What the server derives from its host and data dir before it starts, and what it tells at start-up: the banner a
person reads, the ready file a test or supervisor waits for.

Kept apart from `server.py`, which wires the services and owns their tasks: these are pure or one-shot helpers with
no part in the server's lifecycle, and `nimbus serve`'s banner is tested on its own (tests/test_startup.py).
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import sys
from pathlib import Path
from typing import Any

from nimbus.config import DEV_ACCESS_KEY_ID, DEV_SECRET_ACCESS_KEY, Settings
from nimbus.control.iam import Iam
from nimbus.control.registry import Registry
from nimbus.deploy.stacks import Stacks
from nimbus.instances.isolation import Isolation


def url_key(data_dir: Path) -> bytes:
    """The per-data-dir key that signs Code.Location links; made once, kept private."""
    path = data_dir / "url-signing.key"
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_hex(32))
    return bytes.fromhex(path.read_text().strip())


def default_memory_budget() -> int:
    """Three quarters of the host's memory, in MB: what running functions' MemorySize may add up to."""
    return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") * 3 // 4 // (1 << 20))


def configure_logging(level: str) -> None:
    logging.basicConfig(
        level=getattr(logging, level.upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


async def deploy_folder(registry: Registry, stacks: Stacks, deploy_dir: Path, iam: Iam | None = None) -> list[str]:
    """Deploy each example of `deploy_dir` that is missing or changed since Nimbus last deployed it (never over a
    user's edits: `deploy/sync.py`), and each subfolder holding a template.yaml as a stack of its name (through
    the stack engine), so `make run` starts with them ready; the names of those on the server."""
    from nimbus.deploy.sync import STATE_FILE, deploy_examples

    outcomes = await deploy_examples(registry, deploy_dir, registry.settings.data_dir / STATE_FILE, iam)
    names = [outcome.name for outcome in outcomes if outcome.action != "skipped"]
    return names + [f"{name} (stack)" for name in await stacks.deploy_folders(deploy_dir)]


def banner(settings: Settings, port: int, deployed: list[str], metrics_port: int | None = None) -> str:
    """What a person needs at start-up: where the data lives, the endpoint, how to point the AWS tools at it, where
    health and metrics are, and a first command to try."""
    wildcard = {"0.0.0.0": "127.0.0.1", "::": "[::1]", "": "127.0.0.1"}  # a client's address for an any-address bind
    host = wildcard.get(settings.host, f"[{settings.host}]" if ":" in settings.host else settings.host)
    url = f"http://{host}:{port}"
    lines = [
        f"Nimbus is serving the Lambda API at {url} (region {settings.region}, account {settings.account_id})",
        f"  data: {settings.data_dir} (functions, code, logs, queues)",
        f"  health: {url}/_nimbus/health (no credentials needed)",
        f"  console: {url}/console (sign in with an access key and its secret)",
    ]
    if metrics_port is not None:
        auth = "bearer token required" if settings.metrics_token else "UNAUTHENTICATED"
        metrics_host = wildcard.get(settings.metrics_host, settings.metrics_host)
        lines.append(f"  metrics: http://{metrics_host}:{metrics_port}/metrics (Prometheus, {auth})")
    export = f"export AWS_ENDPOINT_URL={url} AWS_DEFAULT_REGION={settings.region}"
    if settings.dev_credentials:
        lines.append(
            f"  credentials: development key pair {DEV_ACCESS_KEY_ID}/{DEV_SECRET_ACCESS_KEY} "
            "(loopback only; set NIMBUS_ACCESS_KEY_ID/NIMBUS_SECRET_ACCESS_KEY for anything else)"
        )
        export += f" AWS_ACCESS_KEY_ID={DEV_ACCESS_KEY_ID} AWS_SECRET_ACCESS_KEY={DEV_SECRET_ACCESS_KEY}"
    lines += ["  the AWS CLI, the SDKs and nimbus use Nimbus, without --endpoint-url, after:", f"    {export}"]
    if not settings.dev_credentials:
        lines.append("    (with AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY set to the key pair Nimbus was given)")
    if deployed:
        lines.append(f"  deployed: {', '.join(deployed)}")
        first = "hello" if "hello" in deployed else deployed[0]
        lines += [
            "  try:",
            f"    .venv/bin/nimbus invoke {first} --payload '{{\"name\": \"world\"}}' --endpoint-url {url}",
            f"    .venv/bin/aws lambda invoke --function-name {first} --payload '{{}}' out.json   (after the export)",
        ]
    return "\n".join(lines)


def base_url(settings: Settings, port: int) -> str:
    """This server's address as a local client reaches it (an any-address bind answers on loopback)."""
    host = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(settings.host, settings.host)
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def isolation_level(isolation: Isolation) -> str:
    """The isolation level in one word: `full` (namespaces, seccomp, cgroups), `partial` (sandboxed, some layer
    missing: `nimbus doctor` says which) or `none` (instances run unsandboxed)."""
    return "full" if isolation.full else "partial" if isolation.namespaces else "none"


def write_ready_file(path: Path, host: str, port: int, metrics_port: int | None) -> None:
    """Say the server is serving, and on which ports, in `path` (`NIMBUS_READY_FILE`): written whole, then renamed
    into place, so a reader waiting for it never sees half of it."""
    ready: dict[str, Any] = {"port": port, "url": f"http://{host}:{port}", "pid": os.getpid()}
    if metrics_port is not None:
        ready["metrics_port"] = metrics_port
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(ready))
    tmp.replace(path)
