"""`nimbus dev ./folder --name NAME`: the edit → run loop. Creates or updates the function from the folder, then
watches it: every save is checked (Python files are compiled here first: a syntax error is shown at once and the
old code keeps serving) and sent with UpdateFunctionCode, which retires the old code's warm instances, so the next
invoke runs the new code. Meanwhile the function's logs stream to the terminal, coloured per instance, each REPORT
line summarised in one short line. Until Ctrl-C. Everything goes through the public API (Lambda, CloudWatch Logs).
"""

from __future__ import annotations

import io
import os
import re
import sys
import threading
import time
import zipfile
from pathlib import Path
from typing import Annotated, Any

import botocore.exceptions as bx
import typer
from rich.text import Text

from nimbus.cli._client import DEFAULT_ENDPOINT, EndpointOpt, RegionOpt, api_errors, err, error_code, fail, make_client
from nimbus.cli._logs import Printer, use_colour

#: what is never packaged: caches, VCS and editor droppings
SKIPPED_DIRS = {"__pycache__", ".git", ".hg", ".venv", ".mypy_cache", ".pytest_cache"}
SKIPPED_SUFFIXES = (".pyc", ".swp", "~")
#: seconds between two reads of the log group
LOG_POLL_S = 0.3
_REPORT = re.compile(
    r"REPORT RequestId: (?P<id>\S+)\s+Duration: (?P<duration>[\d.]+) ms\s+Billed Duration: (?P<billed>\d+) ms"
    r"\s+Memory Size: (?P<memory>\d+) MB\s+Max Memory Used: (?P<used>\d+) MB(?:\s+Init Duration: (?P<init>[\d.]+) ms)?"
)
#: the handler of a new function, by the first of these files the folder has
_HANDLERS = (
    ("lambda_function.py", "lambda_function.lambda_handler"),
    ("app.py", "app.handler"),
    ("handler.py", "handler.handler"),
    ("index.mjs", "index.handler"),
    ("index.js", "index.handler"),
)


def package(folder: Path) -> bytes:
    """The folder as a deterministic zip (fixed times, sorted), without caches and dot-directories."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        for root, dirs, names in os.walk(folder):
            dirs[:] = sorted(d for d in dirs if d not in SKIPPED_DIRS and not d.startswith("."))
            for name in sorted(names):
                if name.endswith(SKIPPED_SUFFIXES):
                    continue
                path = Path(root) / name
                info = zipfile.ZipInfo(path.relative_to(folder).as_posix(), (2020, 1, 1, 0, 0, 0))
                info.external_attr = (0o100755 if os.access(path, os.X_OK) else 0o100644) << 16
                info.compress_type = zipfile.ZIP_DEFLATED
                zf.writestr(info, path.read_bytes())
    return buffer.getvalue()


def syntax_errors(folder: Path) -> list[str]:
    """Every Python file's syntax error, as `file:line:col: message` with the line and a caret."""
    found = []
    for path in sorted(folder.rglob("*.py")):
        if any(part in SKIPPED_DIRS or part.startswith(".") for part in path.relative_to(folder).parts[:-1]):
            continue
        try:
            compile(path.read_bytes(), str(path), "exec", dont_inherit=True)
        except SyntaxError as exc:
            where = f"{path.relative_to(folder)}:{exc.lineno}:{exc.offset}"
            text = (exc.text or "").rstrip("\n")
            caret = " " * max(0, (exc.offset or 1) - 1) + "^"
            found.append(f"{where}: {exc.msg}\n    {text}\n    {caret}" if text else f"{where}: {exc.msg}")
        except (OSError, ValueError) as exc:  # unreadable, or a NUL byte
            found.append(f"{path.relative_to(folder)}: {exc}")
    return found


def report_line(message: str) -> str | None:
    """A REPORT line in one short line: `✓ 1.23 ms (billed 2 ms) · 40/128 MB · init 91 ms`."""
    m = _REPORT.search(message)
    if m is None:
        return None
    init = f" · init {float(m['init']):.0f} ms" if m["init"] else ""
    return f"done {m['duration']} ms (billed {m['billed']} ms) · {m['used']}/{m['memory']} MB{init} · {m['id'][:8]}"


class LogStream(threading.Thread):
    """Follows the function's log group (FilterLogEvents, from now on) and prints what comes, until stopped."""

    def __init__(self, logs: Any, group: str, printer: Printer, lock: threading.Lock, since_ms: int) -> None:
        super().__init__(name="nimbus-dev-logs", daemon=True)
        self.logs, self.group, self.printer, self.lock = logs, group, printer, lock
        self.stopping = threading.Event()
        self.since = since_ms
        self.seen: set[str] = set()

    def run(self) -> None:
        while not self.stopping.wait(LOG_POLL_S):
            try:
                events = self.logs.filter_log_events(logGroupName=self.group, startTime=self.since).get("events", [])
            except (bx.ClientError, bx.BotoCoreError):
                continue  # no group yet (never invoked), or the server is restarting: try again
            for event in sorted(events, key=lambda e: (int(e.get("timestamp", 0)), str(e.get("eventId", "")))):
                key = str(event.get("eventId", ""))
                if key in self.seen:
                    continue
                self.seen.add(key)
                self.since = max(self.since, int(event.get("timestamp", 0)))
                self._print(event)

    def _print(self, event: dict[str, Any]) -> None:
        message = str(event.get("message", "")).rstrip("\n")
        with self.lock:
            if message.startswith(("START RequestId", "END RequestId")):
                return  # the REPORT line says it all
            summary = report_line(message) if message.startswith("REPORT") else None
            if summary is not None:
                label = self.printer.label(str(event.get("logStreamName", "-")))
                sys.stdout.write(f"{label} {_style(summary, '2', self.printer.colour)}\n")
            else:
                self.printer.print(event)
            sys.stdout.flush()


def _style(text: str, code: str, colour: bool) -> str:
    return f"\x1b[{code}m{text}\x1b[0m" if colour else text


def _default_handler(folder: Path) -> str:
    for filename, handler in _HANDLERS:
        if (folder / filename).is_file():
            return handler
    fail(f"no handler found in {folder} (lambda_function.py, app.py, index.mjs...): give --handler", code=2)


def _deploy(lam: Any, name: str, folder: Path, runtime: str | None, handler: str | None, role: str) -> str:
    """Create the function or update its code (and the runtime or handler given); what was done."""
    code = package(folder)
    try:
        current = lam.get_function_configuration(FunctionName=name)
    except bx.ClientError as exc:
        if error_code(exc) != "ResourceNotFoundException":
            raise
        current = None
    if current is None:
        lam.create_function(FunctionName=name, Runtime=runtime or f"python3.{sys.version_info.minor}",
                            Handler=handler or _default_handler(folder), Role=role, Code={"ZipFile": code},
                            Timeout=30)  # fmt: skip
        return "created"
    changes = {k: v for k, v in (("Runtime", runtime), ("Handler", handler)) if v and current.get(k) != v}
    if changes:
        lam.update_function_configuration(FunctionName=name, **changes)
    lam.update_function_code(FunctionName=name, ZipFile=code)
    return "updated"


def dev(
    folder: Annotated[Path, typer.Argument(help="The function's code folder.", exists=True, file_okay=False)],
    name: Annotated[str, typer.Option("--name", help="Function name (created if it does not exist).")],
    runtime: Annotated[
        str | None, typer.Option("--runtime", help="Runtime (new functions: this Python's).", show_default=False)
    ] = None,
    handler: Annotated[
        str | None,
        typer.Option(
            "--handler",
            help="Handler (new functions: found from lambda_function.py, app.py, index.mjs).",
            show_default=False,
        ),
    ] = None,
    role: Annotated[
        str, typer.Option("--role", help="Execution role of a new function.")
    ] = "arn:aws:iam::000000000000:role/nimbus-dev",
    endpoint_url: EndpointOpt = DEFAULT_ENDPOINT,
    region: RegionOpt = None,
) -> None:
    """Deploy a folder as a function, then redeploy it on every save and stream its logs, until Ctrl-C."""
    import watchfiles  # imported here: only `nimbus dev` needs it

    folder = folder.resolve()
    lock = threading.Lock()
    colour = use_colour()

    def say(text: str, code: str = "36") -> None:
        with lock:
            sys.stdout.write(_style(text, code, colour) + "\n")
            sys.stdout.flush()

    problems = syntax_errors(folder)
    began_ms = int(time.time() * 1000)  # the logs shown are those from now on
    with api_errors(endpoint_url):
        lam = make_client("lambda", endpoint_url, region)
        if problems:
            fail("the code does not compile; fix it and run nimbus dev again:\n" + "\n".join(problems))
        start = time.monotonic()
        done = _deploy(lam, name, folder, runtime, handler, role)
        group = (lam.get_function_configuration(FunctionName=name).get("LoggingConfig") or {}).get("LogGroup")
    stream = LogStream(make_client("logs", endpoint_url, region), group or f"/aws/lambda/{name}",
                       Printer(verbose=False, colour=colour), lock, began_ms)  # fmt: skip
    stream.start()
    say(f"{name} {done} from {folder} in {1000 * (time.monotonic() - start):.0f} ms; watching for changes "
        "(Ctrl-C to stop)")  # fmt: skip
    stop = threading.Event()
    try:
        for changes in watchfiles.watch(folder, debounce=50, step=20, stop_event=stop, raise_interrupt=True):
            changed = sorted({Path(p).relative_to(folder).as_posix() for _, p in changes})
            problems = syntax_errors(folder)
            if problems:
                say("not deployed, the previous code keeps serving:\n" + "\n".join(problems), "31")
                continue
            start = time.monotonic()
            try:
                with api_errors(endpoint_url):
                    _deploy(lam, name, folder, None, None, role)
            except typer.Exit:  # the error line is out; keep watching
                continue
            say(f"{', '.join(changed)} changed: {name} updated in {1000 * (time.monotonic() - start):.0f} ms")
    except KeyboardInterrupt:
        pass
    finally:
        stop.set()
        stream.stopping.set()
        stream.join(timeout=2)
        err.print(Text("stopped watching", style="dim"))
