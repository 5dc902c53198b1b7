"""`nimbus dev ./folder --name NAME`: the edit → run loop. Creates or updates the function from the folder, then
watches it: every save is checked (Python files are compiled here first: a syntax error is shown at once and the
old code keeps serving) and sent with UpdateFunctionCode, which retires the old code's warm instances, so the next
invoke runs the new code. Meanwhile the function's logs stream to the terminal, coloured per instance, each REPORT
line summarised in one short line. Until Ctrl-C. Everything goes through the public API (Lambda, CloudWatch Logs).
"""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.text import Text

from nimbus.cli._client import DEFAULT_ENDPOINT, EndpointOpt, RegionOpt, api_errors, err, error_code, fail, make_client
from nimbus.cli._dev_logs import LogStream, changed_paths, style, syntax_errors
from nimbus.cli._logs import Printer, use_colour
from nimbus.deploy.examples import zip_folder

#: the handler of a new function, by the first of these files the folder has
_HANDLERS = (
    ("lambda_function.py", "lambda_function.lambda_handler"),
    ("app.py", "app.handler"),
    ("handler.py", "handler.handler"),
    ("index.mjs", "index.handler"),
    ("index.js", "index.handler"),
)


def _default_handler(folder: Path) -> str:
    for filename, handler in _HANDLERS:
        if (folder / filename).is_file():
            return handler
    fail(f"no handler found in {folder} (lambda_function.py, app.py, index.mjs...): give --handler", code=2)


def _deploy(lam: Any, name: str, folder: Path, runtime: str | None, handler: str | None, role: str) -> str:
    """Create the function or update its code (and the runtime or handler given); what was done."""
    import botocore.exceptions as bx

    code = zip_folder(folder)
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
    name: Annotated[
        str | None,
        typer.Option(
            "--name",
            help="Function name (created if it does not exist); with a template, the stack's.",
            show_default=False,
        ),
    ] = None,
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
    """Deploy a folder as a function, then redeploy it on every save and stream its logs, until Ctrl-C. In a folder
    with a SAM template: deploy the stack, then update each function whose CodeUri changed (the stack on a template
    change)."""
    import watchfiles  # imported here: only `nimbus dev` needs it

    from nimbus.cli._dev_stack import dev_stack, template_in  # with the stack packager and the YAML loader

    folder = folder.resolve()
    lock = threading.Lock()
    colour = use_colour()

    def say(text: str, code: str = "36") -> None:
        with lock:
            sys.stdout.write(style(text, code, colour) + "\n")
            sys.stdout.flush()

    template = template_in(folder)
    if template is not None:
        dev_stack(folder, template, name, endpoint_url, region, say, lock, colour)
        err.print(Text("stopped watching", style="dim"))
        return
    if name is None:
        fail("--name is required (or a SAM template in the folder, to deploy as a stack)", code=2)

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
            changed = sorted(p.relative_to(folder).as_posix() for p in changed_paths(changes))
            if not changed:  # only an editor's temporary files came and went
                continue
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
