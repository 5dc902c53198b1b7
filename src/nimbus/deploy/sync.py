"""`nimbus serve --deploy DIR` (`make run`): put each example function on the server, without undoing a user's work.

An example is deployed when its function is missing, or when its files (code, nimbus.json, and the runtime it
runs on here) changed since Nimbus last deployed it. A function changed through the API since (new code, new
configuration: its RevisionId moved) is left alone, and the log says how to get the example back (delete the
function). What was deployed is recorded in `<data-dir>/examples.json`: per example, the hash of its files and the
RevisionId the deploy left the function at.

A function of an example's name that Nimbus has no record of (created by hand, or by a Nimbus before this record
existed) is adopted when its code is the example's, and otherwise left alone.

An example's Runtime is what it prefers: on a host without it, the example runs on the nearest runtime of its
language the host has (nodejs22.x on the host's nodejs20.x), said in the log, and moves to the preferred one at the
next start after `nimbus runtime install`. An example no runtime here can run is skipped, and the server starts.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nimbus.deploy.examples import ExampleFunction, load_examples
from nimbus.errors import EntityAlreadyExists, NimbusError
from nimbus.runtimes.installed import NODE_RELEASES
from nimbus.runtimes.registry import resolve_runtime

if TYPE_CHECKING:
    from nimbus.control.iam import Iam
    from nimbus.control.registry import Registry

log = logging.getLogger(__name__)

#: the record of deployed examples, in the data dir
STATE_FILE = "examples.json"


@dataclass(frozen=True)
class Outcome:
    name: str
    #: created, updated, unchanged, adopted, kept (changed through the API: left alone), skipped (cannot run here)
    action: str
    detail: str = ""


def example_hash(config: dict[str, Any], zip_bytes: bytes) -> str:
    """What identifies an example's deployable content: its zip and its configuration (runtime included)."""
    digest = hashlib.sha256(zip_bytes)
    digest.update(json.dumps(config, sort_keys=True).encode())
    return digest.hexdigest()


def runtime_here(preferred: str) -> str:
    """`preferred` when this host runs it, else the nearest runtime of its language it has (NimbusError: none)."""
    try:
        return resolve_runtime(preferred, fallback=False).name
    except NimbusError:
        return resolve_runtime(preferred, fallback=True).name


def _load_state(path: Path) -> dict[str, dict[str, str]]:
    try:
        state = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return state if isinstance(state, dict) else {}


def _save_state(path: Path, state: dict[str, dict[str, str]]) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(state, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, path)


#: the examples' execution role: made when missing (trusting Lambda, with AWS's basic execution policy, so that
#: an example can do nothing but run), so that they start like any function, with a role that exists, and no
#: warning about a role that names nothing
EXAMPLE_ROLE = "nimbus-example"
BASIC_EXECUTION_ARN = "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"


def service_trust(services: list[str]) -> str:
    """A trust policy that lets `services` assume a role (the examples' role here, `nimbus role create`'s)."""
    return json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"Service": services}, "Action": "sts:AssumeRole"}]})  # fmt: skip


def ensure_example_role(iam: Iam) -> None:
    """Make the examples' role when it is missing; one that exists is left as it is (the user may have changed it)."""
    with contextlib.suppress(EntityAlreadyExists):
        iam.create_role(EXAMPLE_ROLE, service_trust(["lambda.amazonaws.com"]),
                        description="The execution role of Nimbus's examples")
        iam.attach("role", EXAMPLE_ROLE, BASIC_EXECUTION_ARN)  # (control/iam_store.ROLE)


async def _apply(registry: Registry, ex: ExampleFunction, config: dict[str, Any], exists: bool) -> str:
    """Create or update the example's function; the RevisionId it is left at."""
    zip_b64 = base64.b64encode(ex.zip_bytes).decode()
    if not exists:
        body = {"Role": f"arn:aws:iam::{registry.settings.account_id}:role/{EXAMPLE_ROLE}", **config}
        out = await registry.create(body | {"FunctionName": ex.name, "Code": {"ZipFile": zip_b64}})
    else:
        await registry.update_code(ex.name, {"ZipFile": zip_b64})
        out = await registry.update_config(ex.name, config)
    return str(out["RevisionId"])


async def _sync_one(
    registry: Registry, ex: ExampleFunction, recorded: dict[str, str] | None
) -> tuple[Outcome, dict[str, str] | None]:
    """(outcome, what to record for the example, or None to keep the record as it is)."""
    config = dict(ex.config)
    preferred = str(config.get("Runtime", ""))
    detail = ""
    if preferred:
        try:
            config["Runtime"] = runtime_here(preferred)
        except NimbusError as exc:
            return Outcome(ex.name, "skipped", exc.message), None
        if config["Runtime"] != preferred:
            detail = f"runs on {config['Runtime']}: this host has no {preferred}"
            if preferred in NODE_RELEASES:
                detail += f"; `nimbus runtime install {preferred}` adds it"
    digest = example_hash(config, ex.zip_bytes)
    try:
        current = registry.get(ex.name).config
    except NimbusError:
        revision = await _apply(registry, ex, config, exists=False)
        return Outcome(ex.name, "created", detail), {"hash": digest, "revision": revision}
    if recorded is None:
        code_sha = base64.b64encode(hashlib.sha256(ex.zip_bytes).digest()).decode()
        if current.get("CodeSha256") != code_sha:
            why = "a function of this name with other code exists"
            return Outcome(ex.name, "kept", why), None
        return Outcome(ex.name, "adopted", detail), {"hash": digest, "revision": str(current["RevisionId"])}
    if current.get("RevisionId") != recorded.get("revision"):
        return Outcome(ex.name, "kept", "changed through the API since Nimbus deployed it"), None
    if recorded.get("hash") == digest:
        return Outcome(ex.name, "unchanged", detail), None
    revision = await _apply(registry, ex, config, exists=True)
    return Outcome(ex.name, "updated", detail), {"hash": digest, "revision": revision}


async def deploy_examples(registry: Registry, root: Path, state_path: Path, iam: Iam | None = None) -> list[Outcome]:
    """Deploy each example folder under `root` as the module docstring says (their role made first, when `iam` is
    given and it is missing); the outcome of each, by name."""
    state = _load_state(state_path)
    outcomes = []
    examples = load_examples(root)
    if examples and iam is not None:
        ensure_example_role(iam)
    for ex in examples:
        outcome, record = await _sync_one(registry, ex, state.get(ex.name))
        if record is not None:
            state[ex.name] = record
            _save_state(state_path, state)
        outcomes.append(outcome)
        _log(outcome, root)
    return outcomes


def _log(outcome: Outcome, root: Path) -> None:
    detail = f" ({outcome.detail})" if outcome.detail else ""
    if outcome.action == "kept":
        log.warning("example %s: not redeployed from %s%s; delete the function to get the example back",
                    outcome.name, root / outcome.name, detail)  # fmt: skip
    elif outcome.action == "skipped":
        log.warning("example %s: not deployed: %s", outcome.name, outcome.detail)
    else:
        log.info("example %s: %s%s", outcome.name, outcome.action, detail)
