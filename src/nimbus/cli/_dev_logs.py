"""What `nimbus dev` shows: the files a save changed, Python syntax errors found before a deploy, and the function's
logs as they come, each REPORT line summarised in one short line."""

from __future__ import annotations

import re
import sys
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from nimbus.cli._logs import Printer

#: folders whose Python files are not checked (caches, virtual environments)
SKIPPED_DIRS = {"__pycache__", "node_modules"}
#: seconds between two reads of the log group
LOG_POLL_S = 0.3
_REPORT = re.compile(
    r"REPORT RequestId: (?P<id>\S+)\s+Duration: (?P<duration>[\d.]+) ms\s+Billed Duration: (?P<billed>\d+) ms"
    r"\s+Memory Size: (?P<memory>\d+) MB\s+Max Memory Used: (?P<used>\d+) MB(?:\s+Init Duration: (?P<init>[\d.]+) ms)?"
)


def changed_paths(changes: Iterable[tuple[Any, str]]) -> set[Path]:
    """The paths a batch of watch events (watchfiles' `(Change, path)`) really changed. Editors save by writing a
    temporary file and renaming it over the old one (`sed -i`'s `sedXXXXXX`, vim's `4913` probe): a path added in
    the batch and gone again by its end changed nothing, and is not reported or deployed for."""
    from watchfiles import Change  # imported here: only `nimbus dev` needs it

    events = list(changes)
    added = {path for kind, path in events if kind == Change.added}
    return {Path(path) for _, path in events if path not in added or Path(path).exists()}


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
        import botocore.exceptions as bx

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
                sys.stdout.write(f"{label} {style(summary, '2', self.printer.colour)}\n")
            else:
                self.printer.print(event)
            sys.stdout.flush()


def style(text: str, code: str, colour: bool) -> str:
    return f"\x1b[{code}m{text}\x1b[0m" if colour else text
