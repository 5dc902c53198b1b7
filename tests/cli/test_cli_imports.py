"""What `nimbus` loads before it runs a command: only what that command uses (docs/performance.md, "The CLI's
start-up"). boto3/botocore, the SAM packager's YAML loader, the instance layer and the server cost most of the
start-up every command paid; they are imported inside the commands that need them, and these tests fail when a
module-level import brings one back. Each probe is a fresh interpreter, as every `nimbus` run is."""

from __future__ import annotations

import json
import subprocess
import sys

from test_cli import _env

from conftest import ROOT, Server

#: what no command's start-up may load: (module, the commands that do load it when they run)
HEAVY = (
    "boto3",  # commands that call the server
    "botocore",  # the same, and `deploy`'s signed stacks client
    "yaml",  # deploy, dev (SAM templates)
    "nimbus.deploy.package",  # deploy, dev
    "nimbus.instances",  # doctor (the host's isolation)
    "nimbus.server",  # serve
)

#: runs `nimbus ARGS` in this interpreter (as `python -m nimbus.cli.main` does), then writes its exit code and the
#: modules it loaded as the last line of stderr
PROBE = """
import json, sys
from nimbus.cli.main import app
code = 0
try:
    app(sys.argv[1:], prog_name="nimbus")
except SystemExit as exc:
    code = exc.code or 0
sys.stderr.write("\\n" + json.dumps({"code": code, "modules": sorted(sys.modules)}) + "\\n")
"""


def _loaded(args: list[str], endpoint: str | None = None) -> tuple[int, set[str]]:
    """(exit code, modules loaded) of a fresh `nimbus ARGS`; no args: only `import nimbus.cli.main`."""
    source = PROBE if args else PROBE.replace("app(sys.argv[1:]", "(lambda *a, **k: None)(sys.argv[1:]")
    result = subprocess.run([sys.executable, "-c", source, *args], capture_output=True, text=True,
                            env=_env(endpoint), cwd=ROOT, timeout=120)  # fmt: skip
    report = json.loads(result.stderr.strip().splitlines()[-1])
    return int(report["code"]), set(report["modules"])


def _heavy(modules: set[str]) -> list[str]:
    return sorted(m for m in modules for h in HEAVY if m == h or m.startswith(h + "."))


def test_importing_the_cli_loads_no_client_library_template_loader_or_instance_layer() -> None:
    code, modules = _loaded([])
    assert code == 0
    assert "nimbus.cli.main" in modules
    assert _heavy(modules) == []


def test_help_loads_none_of_them() -> None:
    for args in (["--help"], ["function", "--help"], ["function", "list", "--help"], ["deploy", "--help"],
                 ["doctor", "--help"], ["serve", "--help"], ["stack", "list", "--help"]):  # fmt: skip
        code, modules = _loaded(args)
        assert code == 0, args
        assert _heavy(modules) == [], args


def test_a_command_loads_what_it_uses_when_it_runs(server: Server) -> None:
    """The probe sees real imports: `function list` against the server loads boto3 (and nothing else heavy)."""
    code, modules = _loaded(["function", "list"], server.endpoint)
    assert code == 0
    assert {"boto3", "botocore.exceptions"} <= modules
    assert not {"yaml", "nimbus.instances", "nimbus.server", "nimbus.deploy.package"} & modules
