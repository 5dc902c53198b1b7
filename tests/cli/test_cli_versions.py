"""`nimbus function publish|versions`, `nimbus alias ...`, `nimbus layer ...`, `--layer` and `--qualifier`, run as a
subprocess against the session server, exactly as a user would run them."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from test_cli import Run, _env, _ok, _one_line_error

from conftest import NIMBUS, ROOT, Server, delete_functions, make_zip

VERSIONED = 'def handler(event, context):\n    return {{"v": {v}}}\n'
LOGGING = 'def handler(event, context):\n    print("marker-" + event["m"])\n    return {"ok": True}\n'
USES_LAYER = (
    "import nimbus_cli_layer_helper as helper\n\n"
    "def handler(event, context):\n    return {'greeting': helper.GREETING, 'file': helper.__file__}\n"
)


@pytest.fixture
def run(server: Server) -> Run:
    def _run(*args: str, endpoint: str | None = server.endpoint) -> Any:
        return subprocess.run(
            [*NIMBUS, *args], capture_output=True, text=True, env=_env(endpoint), cwd=ROOT, timeout=120
        )

    return _run


@pytest.fixture
def folder(tmp_path: Path) -> Callable[..., Path]:
    """A folder holding `files` (relative path -> text)."""

    def _make(name: str, files: dict[str, str]) -> Path:
        root = tmp_path / name
        for rel, text in files.items():
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            (root / rel).write_text(text)
        return root

    return _make


@pytest.fixture
def functions(lam: Any) -> Iterator[list[str]]:
    """Function names to delete (with all their versions and aliases) at test end."""
    names: list[str] = []
    yield names
    delete_functions(lam, names)


@pytest.fixture
def layers(lam: Any) -> Iterator[list[str]]:
    """Layer names whose remaining versions are deleted at test end."""
    names: list[str] = []
    yield names
    for name in names:
        with contextlib.suppress(Exception):
            for version in lam.list_layer_versions(LayerName=name).get("LayerVersions", []):
                lam.delete_layer_version(LayerName=name, VersionNumber=version["Version"])


def _create(run: Run, folder: Callable[..., Path], name: str, source: str, *extra: str) -> None:
    _ok(
        run(
            "function",
            "create",
            name,
            "--code",
            str(folder(f"{name}-{time.monotonic_ns()}", {"app.py": source})),
            *extra,
        )
    )


def _update_code(run: Run, folder: Callable[..., Path], name: str, source: str) -> None:
    _ok(run("function", "update", name, "--code", str(folder(f"{name}-{time.monotonic_ns()}", {"app.py": source}))))


def _publish(run: Run, name: str, *extra: str) -> tuple[str, str]:
    """(version, ARN) from `nimbus function publish`."""
    lines = _ok(run("function", "publish", name, *extra)).stdout.strip().splitlines()
    assert len(lines) == 2, lines
    assert lines[0].startswith(f"published {name} version "), lines
    version, arn = lines[0].rsplit(" ", 1)[1], lines[1].strip()
    assert arn.endswith(f":function:{name}:{version}"), arn
    return version, arn


def _invoke(run: Run, *args: str) -> Any:
    return json.loads(_ok(run("invoke", *args)).stdout)


def test_publish_lists_versions_and_invoke_by_qualifier(
    run: Run, folder: Callable[..., Path], functions: list[str], lam: Any
) -> None:
    name = "cliv-publish"
    functions.append(name)
    _create(run, folder, name, VERSIONED.format(v=1))
    assert _publish(run, name, "--description", "first cut")[0] == "1"
    _update_code(run, folder, name, VERSIONED.format(v=2))
    assert _publish(run, name)[0] == "2"

    shown = _ok(run("function", "versions", name)).stdout
    assert "$LATEST" in shown
    assert "first cut" in shown
    assert f":function:{name}:1" in shown
    assert f":function:{name}:2" in shown
    assert [v["Version"] for v in lam.list_versions_by_function(FunctionName=name)["Versions"]] == ["$LATEST", "1", "2"]

    assert _invoke(run, name) == {"v": 2}
    assert _invoke(run, name, "--qualifier", "1") == {"v": 1}
    assert _invoke(run, name, "-q", "2") == {"v": 2}
    assert _invoke(run, name, "-q", "$LATEST") == {"v": 2}
    assert _invoke(run, f"{name}:1") == {"v": 1}

    line = _one_line_error(run("invoke", name, "-q", "99"))
    assert line.startswith("error: ResourceNotFoundException: "), line
    line = _one_line_error(run("function", "versions", "cliv-no-such-function"))
    assert line.startswith("error: ResourceNotFoundException: "), line


def test_alias_create_list_update_delete(run: Run, folder: Callable[..., Path], functions: list[str], lam: Any) -> None:
    name = "cliv-alias"
    functions.append(name)
    _create(run, folder, name, VERSIONED.format(v=1))
    _publish(run, name)
    _update_code(run, folder, name, VERSIONED.format(v=2))
    _publish(run, name)

    created = _ok(run("alias", "create", name, "live", "--version", "1", "--description", "production")).stdout
    assert "version 1" in created
    assert f":function:{name}:live" in created
    listed = _ok(run("alias", "list", name)).stdout
    assert "live" in listed
    assert "production" in listed
    assert _invoke(run, name, "-q", "live") == {"v": 1}
    assert _invoke(run, f"{name}:live") == {"v": 1}

    _ok(run("alias", "update", name, "live", "--version", "2"))
    assert _invoke(run, name, "-q", "live") == {"v": 2}

    _ok(run("alias", "update", name, "live", "--weight", "1=0.25"))
    alias = lam.get_alias(FunctionName=name, Name="live")
    assert alias["FunctionVersion"] == "2"
    assert alias["RoutingConfig"]["AdditionalVersionWeights"] == {"1": 0.25}
    assert "1=0.25" in _ok(run("alias", "list", name)).stdout
    # the weights the CLI set do split traffic (boto3 here: 40 CLI start-ups would cost 40 s)
    seen = {json.loads(lam.invoke(FunctionName=name, Qualifier="live")["Payload"].read())["v"] for _ in range(40)}
    assert seen == {1, 2}, seen  # P(one version only in 40 draws at 25 %) < 1e-4

    _ok(run("alias", "update", name, "live", "--no-weights", "--description", "all on 2"))
    alias = lam.get_alias(FunctionName=name, Name="live")
    assert not (alias.get("RoutingConfig") or {}).get("AdditionalVersionWeights")
    assert alias["Description"] == "all on 2"
    assert "1=0.25" not in _ok(run("alias", "list", name)).stdout

    _ok(run("alias", "create", name, "canary", "--version", "1", "--weight", "2=0.5"))
    assert lam.get_alias(FunctionName=name, Name="canary")["RoutingConfig"]["AdditionalVersionWeights"] == {"2": 0.5}

    assert "deleted alias" in _ok(run("alias", "delete", name, "live")).stdout
    listed = _ok(run("alias", "list", name)).stdout
    assert "live" not in listed
    assert "canary" in listed
    # an alias already gone is deleted: Lambda's DeleteAlias answers 204 (tests/e2e/test_conformance_deletes.py)
    assert "deleted alias" in _ok(run("alias", "delete", name, "live")).stdout
    line = _one_line_error(run("alias", "create", "cliv-no-such-function", "live", "--version", "1"))
    assert line.startswith("error: ResourceNotFoundException: "), line


def test_logs_qualifier_filters_by_version_stream(run: Run, folder: Callable[..., Path], functions: list[str]) -> None:
    name = "cliv-logs"
    functions.append(name)
    _create(run, folder, name, LOGGING)
    _publish(run, name)
    _ok(run("alias", "create", name, "live", "--version", "1"))
    _ok(run("invoke", name, "-q", "1", "--payload", '{"m": "on-v1"}'))
    _ok(run("invoke", name, "--payload", '{"m": "on-latest"}'))

    deadline = time.monotonic() + 20
    while True:  # log hand-off is asynchronous: poll, bounded
        everything = _ok(run("logs", name, "--since", "1h")).stdout
        if ("marker-on-v1" in everything and "marker-on-latest" in everything) or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    assert "marker-on-v1" in everything
    assert "marker-on-latest" in everything

    for qualifier in ("1", "live"):
        shown = _ok(run("logs", name, "--since", "1h", "--qualifier", qualifier)).stdout
        assert "marker-on-v1" in shown, (qualifier, shown)
        assert "marker-on-latest" not in shown, (qualifier, shown)
        assert all(line.split(" ", 2)[1].split("/")[-1].startswith("[1]") for line in shown.splitlines()), shown
    shown = _ok(run("logs", name, "--since", "1h", "-q", "$LATEST")).stdout
    assert "marker-on-latest" in shown
    assert "marker-on-v1" not in shown

    line = _one_line_error(run("logs", name, "-q", "no-such-alias"))
    assert line.startswith("error: ResourceNotFoundException: "), line


def test_layer_publish_list_versions_delete_and_function_layers(
    run: Run, folder: Callable[..., Path], tmp_path: Path, functions: list[str], layers: list[str], lam: Any
) -> None:
    layer, name = "cliv-layer", "cliv-layered"
    layers.append(layer)
    functions.append(name)
    source = folder("layer-v1", {"python/nimbus_cli_layer_helper.py": 'GREETING = "from-layer-1"\n'})
    published = _ok(
        run("layer", "publish", layer, "--code", str(source), "--runtime", "python3.11", "--runtime", "python3.12",
            "--description", "helpers", "--license", "MIT")
    ).stdout.strip().splitlines()  # fmt: skip
    assert published[0].startswith(f"published layer {layer} version 1"), published
    arn1 = published[-1].strip()
    assert arn1.endswith(f":layer:{layer}:1"), arn1

    archive = tmp_path / "layer-v2.zip"
    archive.write_bytes(make_zip({"python/nimbus_cli_layer_helper.py": 'GREETING = "from-layer-2"\n'}))
    arn2 = _ok(run("layer", "publish", layer, "--code", str(archive), "--runtime", "python3.11")).stdout.split()[-1]
    assert arn2.endswith(f":layer:{layer}:2"), arn2

    listed = _ok(run("layer", "list")).stdout
    assert layer in listed
    assert arn2 in listed  # the latest version
    assert layer in _ok(run("layer", "list", "--runtime", "python3.11")).stdout
    assert layer not in _ok(run("layer", "list", "--runtime", "nodejs20.x")).stdout

    versions = _ok(run("layer", "versions", layer)).stdout
    assert versions.index(arn2) < versions.index(arn1), "newest first"
    assert "helpers" in versions
    assert "MIT" in versions

    _create(run, folder, name, USES_LAYER, "--layer", arn1)
    got = json.loads(_ok(run("function", "get", name)).stdout)
    assert [la["Arn"] for la in got["Configuration"]["Layers"]] == [arn1]
    result = _invoke(run, name)
    assert result["greeting"] == "from-layer-1"
    assert result["file"].startswith("/opt/python/"), result

    _ok(run("function", "update", name, "--layer", arn2))
    assert [la["Arn"] for la in lam.get_function_configuration(FunctionName=name)["Layers"]] == [arn2]
    assert _invoke(run, name)["greeting"] == "from-layer-2"

    assert "deleted layer" in _ok(run("layer", "delete", layer, "2")).stdout
    versions = _ok(run("layer", "versions", layer)).stdout
    assert arn2 not in versions
    assert arn1 in versions
    assert _invoke(run, name)["greeting"] == "from-layer-2", "functions using a deleted layer version keep working"


def test_bad_input_is_one_line(run: Run, folder: Callable[..., Path], tmp_path: Path, functions: list[str]) -> None:
    functions.append("cliv-any")
    for weight in ("2=1.5", "2=-0.1", "two=0.5", "2", "2=abc"):
        line = _one_line_error(run("alias", "create", "cliv-any", "live", "--version", "1", "--weight", weight), code=2)
        assert "--weight" in line
        assert weight in line
    line = _one_line_error(run("alias", "update", "cliv-any", "live", "--weight", "2=0.1", "--no-weights"), code=2)
    assert "--no-weights" in line
    assert "nothing to update" in _one_line_error(run("alias", "update", "cliv-any", "live"), code=2)

    code = folder("six", {"app.py": VERSIONED.format(v=1)})
    many = [arg for i in range(6) for arg in ("--layer", f"arn:aws:lambda:us-east-1:000000000000:layer:l{i}:1")]
    assert "at most 5" in _one_line_error(run("function", "create", "cliv-any", "--code", str(code), *many), code=2)
    missing = _one_line_error(run("layer", "publish", "cliv-any", "--code", str(tmp_path / "nope")), code=2)
    assert "no such file" in missing

    line = _one_line_error(run("function", "create", "cliv-any", "--code", str(code), "--layer", "not-an-arn"))
    assert line.startswith("error: "), line


def test_help_lists_the_new_commands() -> None:
    main = subprocess.run([sys.executable, "-m", "nimbus.cli.main", "--help"], capture_output=True, text=True)
    assert main.returncode == 0
    assert "alias" in main.stdout
    assert "layer" in main.stdout
    function = subprocess.run(
        [sys.executable, "-m", "nimbus.cli.main", "function", "--help"], capture_output=True, text=True
    )
    assert "publish" in function.stdout
    assert "versions" in function.stdout
