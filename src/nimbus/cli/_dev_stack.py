"""`nimbus dev` in a folder with a SAM (or CloudFormation) template, as `sam sync --watch` does it: deploy the stack,
then watch the folder. A changed template (or samconfig) redeploys the stack; a change under a function's CodeUri
updates only that function's code (after the same local syntax check as for one function); every function's logs
stream meanwhile. Through the public API only: the stacks API (`nimbus deploy`'s), Lambda and CloudWatch Logs."""

from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import typer

from nimbus.cli import _deploy
from nimbus.cli._client import api_errors, make_client
from nimbus.cli._dev_logs import LogStream, changed_paths, syntax_errors
from nimbus.cli._logs import Printer
from nimbus.cli._stacks import StackClient
from nimbus.deploy.examples import zip_folder
from nimbus.deploy.package import TEMPLATE_NAMES, read_samconfig
from nimbus.deploy.template import load_template

Say = Callable[..., None]


def template_in(folder: Path) -> Path | None:
    """The folder's template (template.yaml, template.yml, template.json; not a build's copy), if it has one."""
    return next((folder / n for n in TEMPLATE_NAMES if not n.startswith(".") and (folder / n).is_file()), None)


def code_folders(template: Path) -> dict[str, Path]:
    """Each function's code folder by logical id: a SAM function's CodeUri (or the Globals'), a plain function's
    Code given as a local folder. Inline code, S3 locations and zips are not watched."""
    doc = load_template(template.read_bytes(), str(template))
    globals_uri = ((doc.get("Globals") or {}).get("Function") or {}).get("CodeUri")
    found: dict[str, Path] = {}
    for logical_id, resource in (doc.get("Resources") or {}).items():
        if not isinstance(resource, dict):
            continue
        props = resource.get("Properties") or {}
        if resource.get("Type") == "AWS::Serverless::Function":
            uri = props.get("CodeUri", None if "InlineCode" in props else globals_uri)
        elif resource.get("Type") == "AWS::Lambda::Function":
            uri = props.get("Code")
        else:
            continue
        if isinstance(uri, str) and not uri.startswith("s3://") and (template.parent / uri).is_dir():
            found[logical_id] = (template.parent / uri).resolve()
    return found


def stack_name_for(folder: Path, given: str | None) -> str:
    """--name, else samconfig's stack_name, else the folder's name as a stack name (letters, digits, hyphens)."""
    name = given or read_samconfig(folder).stack_name or re.sub(r"[^A-Za-z0-9-]+", "-", folder.name).strip("-")
    return name if name[:1].isalpha() else f"dev-{name}"


def _deploy_stack(folder: Path, template: Path, name: str, endpoint_url: str, region: str | None) -> dict[str, str]:
    """`nimbus deploy` of the template, without asking; the stack's functions' physical names by logical id."""
    here = Path.cwd()
    os.chdir(folder)  # deploy reads samconfig.toml and resolves CodeUri where it runs, as sam does
    try:
        _deploy.deploy(template_file=template, stack_name=name, no_confirm=True, endpoint_url=endpoint_url,
                       region=region)  # fmt: skip
    finally:
        os.chdir(here)
    stack = StackClient(endpoint_url, region).get_json(f"/_nimbus/stacks/{name}")
    return {r["LogicalResourceId"]: r["PhysicalResourceId"] for r in stack["Resources"]
            if r["ResourceType"] == "AWS::Lambda::Function" and r["PhysicalResourceId"]}  # fmt: skip


def dev_stack(
    folder: Path, template: Path, given_name: str | None, endpoint_url: str, region: str | None, say: Say,
    lock: threading.Lock, colour: bool,
) -> None:  # fmt: skip
    import watchfiles

    name = stack_name_for(folder, given_name)
    began_ms = int(time.time() * 1000)
    functions = _deploy_stack(folder, template, name, endpoint_url, region)
    lam, logs = make_client("lambda", endpoint_url, region), make_client("logs", endpoint_url, region)
    printer = Printer(verbose=False, colour=colour)
    streams: dict[str, LogStream] = {}

    def follow_logs() -> None:
        for physical in functions.values():
            if physical not in streams:
                streams[physical] = LogStream(logs, f"/aws/lambda/{physical}", printer, lock, began_ms)
                streams[physical].start()

    follow_logs()
    folders = code_folders(template)
    say(f"stack {name}: {', '.join(f'{k} ({v})' for k, v in sorted(functions.items()))}; watching {folder} "
        "(Ctrl-C to stop)")  # fmt: skip
    stop = threading.Event()
    try:
        for changes in watchfiles.watch(folder, debounce=50, step=20, stop_event=stop, raise_interrupt=True):
            paths = {p.resolve() for p in changed_paths(changes)}
            if any(p.name in ("samconfig.toml", template.name) and p.parent == folder for p in paths):
                say(f"{template.name} changed: redeploying stack {name}")
                try:
                    functions = _deploy_stack(folder, template, name, endpoint_url, region)
                except typer.Exit:
                    continue
                folders = code_folders(template)
                follow_logs()
                continue
            for logical_id, code_dir in sorted(folders.items()):
                if logical_id in functions and any(p.is_relative_to(code_dir) for p in paths):
                    _update(lam, functions[logical_id], logical_id, code_dir, endpoint_url, say)
    except KeyboardInterrupt:
        pass
    finally:
        stop.set()
        for stream in streams.values():
            stream.stopping.set()


def _update(lam: Any, physical: str, logical_id: str, code_dir: Path, endpoint_url: str, say: Say) -> None:
    problems = syntax_errors(code_dir)
    if problems:
        say(f"{logical_id} not updated, its previous code keeps serving:\n" + "\n".join(problems), "31")
        return
    start = time.monotonic()
    try:
        with api_errors(endpoint_url):
            lam.update_function_code(FunctionName=physical, ZipFile=zip_folder(code_dir))
    except typer.Exit:
        return
    say(f"{logical_id} ({physical}) updated in {1000 * (time.monotonic() - start):.0f} ms")
