"""examples/sam-app, deployed the way `make run` does it (`nimbus serve --deploy examples`: a folder with a
template.yaml becomes a stack of its name), then called end to end: its HTTP API over HTTP (the URL its Outputs
give, reached by its Host), its queue through the consumer the SQS event made, the layer both import, and the
schedule's rule targeting the ticker. A second start from the same files (given as the app's own folder this
time) deploys nothing, and one the user deployed since with other parameters is left as it is."""

from __future__ import annotations

import contextlib
import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from stack_support import cli, describe, last_seq, wait_until

from conftest import ROOT, Server, serving, start_server


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    yield from serving(tmp_path_factory, "sam-app", "--deploy", str(ROOT / "examples"))


def outputs(stack: dict[str, Any]) -> dict[str, str]:
    return {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}


def get(url: str, port: int) -> tuple[int, Any]:
    """GET an HTTP API URL: sent to this server's port with the URL's own Host (as DNS for *.localhost would)."""
    parts = urlsplit(url)
    request = urllib.request.Request(f"http://127.0.0.1:{port}{parts.path}?{parts.query}",
                                     headers={"Host": parts.netloc})  # fmt: skip
    with urllib.request.urlopen(request, timeout=30) as response:
        return response.status, json.loads(response.read())


def logged(app: Server, function: str, text: str) -> bool:
    logs = app.client("logs")
    try:
        found = logs.filter_log_events(logGroupName=f"/aws/lambda/{function}")["events"]
    except logs.exceptions.ResourceNotFoundException:
        return False
    return any(text in e["message"] for e in found)


def test_make_run_deploys_the_sam_app_and_it_answers(app: Server) -> None:
    stack = describe(app, "sam-app")
    assert stack["StackStatus"] == "CREATE_COMPLETE", stack
    out = outputs(stack)
    assert out["HelloUrl"].startswith("http://")
    assert f".execute-api.us-east-1.localhost:{app.port}/hello" in out["HelloUrl"]
    status, body = get(out["HelloUrl"], app.port)
    assert (status, body["message"]) == (200, "Hello, Ada!")  # GREETING from the parameter, reply() from the layer
    assert body["orders_queue"] == out["OrdersQueueUrl"]

    app.client("sqs").send_message(QueueUrl=out["OrdersQueueUrl"], MessageBody=json.dumps({"pizza": 2}))
    assert wait_until(lambda: logged(app, out["OrderConsumerName"], '"taken"'), timeout=60)

    rules = app.client("events").list_rule_names_by_target(TargetArn=app.client("lambda").get_function(
        FunctionName=out["TickerName"])["Configuration"]["FunctionArn"])["RuleNames"]  # fmt: skip
    assert len(rules) == 1
    rule = app.client("events").describe_rule(Name=rules[0])
    assert (rule["ScheduleExpression"], rule["State"]) == ("rate(1 minute)", "ENABLED")


def test_restart_from_the_same_files_deploys_nothing(app: Server) -> None:
    seq = last_seq(app, "sam-app")
    app.stop()
    srv = start_server(app.data_dir, "--deploy", str(ROOT / "examples" / "sam-app"))  # the app's folder itself
    try:
        assert describe(srv, "sam-app")["StackStatus"] == "CREATE_COMPLETE"
        assert last_seq(srv, "sam-app") == seq
        assert f"stack sam-app from {ROOT / 'examples' / 'sam-app'}: UNCHANGED" in srv.log_path.read_text()
    finally:
        srv.stop()


@contextlib.contextmanager
def make_run(data_dir: Path) -> Iterator[Server]:
    """`make run` again on the same data dir, stopped at the end of the block."""
    srv = start_server(data_dir, "--deploy", str(ROOT / "examples"))
    try:
        yield srv
    finally:
        srv.stop()


def greeting(srv: Server) -> str:
    return {p["ParameterKey"]: p["ParameterValue"] for p in describe(srv, "sam-app")["Parameters"]}["Greeting"]


def test_a_stack_deployed_since_from_other_parameters_is_not_reverted_at_the_next_start(app: Server) -> None:
    """As for the function examples: what the user deployed stands; deleting the stack brings the example back."""
    app.stop()
    folder = ROOT / "examples" / "sam-app"
    with make_run(app.data_dir) as srv:
        cli(srv, folder, "deploy", "--stack-name", "sam-app", "--parameter-overrides", "Greeting=Howdy", "--no-confirm")
    with make_run(app.data_dir) as srv:
        assert greeting(srv) == "Howdy"
        assert get(outputs(describe(srv, "sam-app"))["HelloUrl"], srv.port)[1]["message"] == "Howdy, Ada!"
        assert "WARNING nimbus.deploy.stacks: stack sam-app from" in srv.log_path.read_text()
        assert "not redeployed (deployed since from other files or parameters)" in srv.log_path.read_text()
        assert "Deleted stack sam-app" in cli(srv, folder, "stack", "delete", "sam-app").stdout
    with make_run(app.data_dir) as srv:
        assert greeting(srv) == "Hello"
