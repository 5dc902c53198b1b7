"""examples/README.md, followed as written right after `make run`: every fenced `sh` block runs, with the real
`nimbus` and `aws` commands, against a server started as `make run` starts it (`nimbus serve --deploy examples`).

The only changes to the commands: `.venv/bin/` becomes the bin folder of the python running the tests (the same
venv under `make test`), the endpoint `http://127.0.0.1:9001` becomes the test server's, and the default data dir
is the test server's (NIMBUS_DATA_DIR), so `nimbus runtime ...` works on it as it would on `make run`'s.
Then the server restarts as `make run` would again, and what the README promises about that is checked.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from e2e_support import ROOT, Server, start_server

README = ROOT / "examples" / "README.md"
BIN = Path(sys.executable).parent
FENCE = re.compile(r"^```sh\n(.*?)^```", re.S | re.M)


def blocks() -> list[str]:
    return FENCE.findall(README.read_text())


def serve(data: Path) -> Server:
    return start_server(data, "--deploy", str(ROOT / "examples"))


@pytest.fixture
def first_start(tmp_path: Path) -> Iterator[Server]:
    srv = serve(tmp_path / "data")
    yield srv
    srv.stop()


def run_block(srv: Server, block: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    script = block.replace(".venv/bin/", f"{BIN}/").replace("http://127.0.0.1:9001", srv.endpoint)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NIMBUS_", "AWS_"))}
    env.update(NIMBUS_DATA_DIR=str(srv.data_dir), NIMBUS_ENDPOINT_URL=srv.endpoint, COLUMNS="200",
               AWS_SHARED_CREDENTIALS_FILE="/nonexistent", AWS_CONFIG_FILE="/nonexistent")  # fmt: skip
    # the README is run from the repository root: here, a scratch folder with its examples/ (out.json lands here)
    if not (cwd / "examples").exists():
        (cwd / "examples").symlink_to(ROOT / "examples")
    return subprocess.run(["bash", "-e", "-c", script], capture_output=True, text=True, env=env, cwd=cwd, timeout=600)


def test_the_readme_has_the_blocks_this_test_checks() -> None:
    found = blocks()
    assert len(found) == 6
    assert found[0].startswith(".venv/bin/nimbus function list\n"), "it starts with what `make run` deployed"
    for name in ("hello", "echo", "counter", "hello-node", "hello-shell"):
        assert f".venv/bin/nimbus invoke {name} " in found[0] or f".venv/bin/nimbus invoke {name}\n" in found[0]


def test_the_examples_walkthrough_runs_after_make_run(first_start: Server, tmp_path: Path) -> None:
    srv = first_start
    outputs = []
    for block in blocks():
        proc = run_block(srv, block, tmp_path)
        if proc.returncode != 0 and "runtime install" in block and "cannot read" in proc.stderr:
            pytest.skip(f"PyPI is out of reach here: {proc.stderr.strip()}")
        assert proc.returncode == 0, (block, proc.stdout, proc.stderr)
        assert "Traceback" not in proc.stderr, (block, proc.stderr)
        assert "error:" not in proc.stderr, (block, proc.stderr)
        outputs.append(proc.stdout)
    invoke, aws, create, change, runtimes, sam = outputs
    for name in ("counter", "echo", "hello", "hello-node", "hello-shell"):
        assert f"│ {name} " in invoke, "nimbus function list shows each example"
    assert '"message": "Hello, Ada!"' in invoke
    assert '"invocations": 2' in invoke
    assert '"warm": true' in invoke
    assert '"node": "v' in invoke
    assert '"message": "Hello from a shell bootstrap!"' in invoke
    assert "greeting Ada" in invoke, "nimbus logs shows the function's output"
    listed = json.loads(aws[aws.index("[") : aws.index("]") + 1])
    assert [n for n in listed if not n.startswith("sam-app-")] == ["counter", "echo", "hello", "hello-node",
                                                                   "hello-shell"]  # fmt: skip
    assert len([n for n in listed if n.startswith("sam-app-")]) == 3, "sam-app's three functions, as a stack names them"
    assert '"message":"Hello, Ada!"' in aws  # Node's JSON.stringify
    assert '"event": {"n": 1}' in aws
    assert '"message": "Bonjour, Ada!"' in create
    assert '"message": "Hi, Ada!"' in change
    assert re.search(r"^nodejs22\.x\s+installed\s+", runtimes, re.M) or "nodejs22.x: Node.js" in runtimes
    assert "No changes to deploy" in sam, "make run deployed sam-app already: the same files deploy nothing"
    assert "/hello" in sam, sam

    # the next `make run`: the user's change stands, their own function too, and hello-node moves to nodejs22.x
    srv.stop()
    again = serve(srv.data_dir)
    try:
        lam = again.client("lambda")
        hello = lam.get_function_configuration(FunctionName="hello")
        assert hello["Environment"]["Variables"] == {"GREETING": "Hi"}
        assert lam.get_function_configuration(FunctionName="my-hello")["Environment"]["Variables"] == {
            "GREETING": "Bonjour"}  # fmt: skip
        assert lam.get_function_configuration(FunctionName="hello-node")["Runtime"] == "nodejs22.x"
        log = again.log_path.read_text()
        assert "example hello: not redeployed from" in log
        assert "example echo: unchanged" in log
    finally:
        again.stop()
