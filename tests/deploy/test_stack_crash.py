"""A server killed with SIGKILL in the middle of a deploy: at its next start the stack is found in progress and
rolled back from its durable rows, so what the deploy had made is gone and what it had changed is as it was. Killed
in the clean-up after a successful update, or in a deletion, the next start goes on with it.

The deploys here are long on purpose (a chain of queues, each waiting for the one before through DependsOn) so
that the kill lands while resources are being made: the test waits for a few to be complete, then kills.
"""

from __future__ import annotations

import signal
import time
from pathlib import Path
from typing import Any

from stack_support import api, events, physical_ids, wait_stack

from conftest import Server, start_server

#: how many chained queues the long deploys make (each waits for the previous one)
CHAIN = 60

FUNCTION = {
    "Type": "AWS::Lambda::Function",
    "Properties": {
        "Runtime": "python3.12",
        "Handler": "index.handler",
        "Role": "arn:aws:iam::000000000000:role/lambda",
        "Code": {"ZipFile": "import os\ndef handler(event, context):\n    return os.environ['VERSION']\n"},
        "Environment": {"Variables": {"VERSION": "1"}},
    },
}


def chain(first_depends_on: str | None) -> dict[str, Any]:
    """CHAIN queues, each DependsOn the one before (the first on `first_depends_on`)."""
    resources: dict[str, Any] = {}
    before = first_depends_on
    for i in range(CHAIN):
        resources[f"Link{i}"] = {"Type": "AWS::SQS::Queue"} | ({"DependsOn": before} if before else {})
        before = f"Link{i}"
    return resources


def kill_mid_deploy(srv: Server, name: str, template: dict[str, Any], completes_before_kill: int) -> None:
    status, body = api(srv, "POST", f"/_nimbus/stacks/{name}", {"Template": template})
    assert status == 200, body
    deadline = time.monotonic() + 60
    while True:
        done = [e for e in events(srv, name) if e["ResourceStatus"].endswith("_COMPLETE")
                and e["ResourceType"] == "AWS::SQS::Queue" and e["LogicalResourceId"].startswith("Link")]  # fmt: skip
        if len(done) >= completes_before_kill:
            break
        assert time.monotonic() < deadline, "the deploy never got going"
        time.sleep(0.005)
    srv.stop(signal.SIGKILL)
    assert srv.process.returncode == -signal.SIGKILL


def queue_names(srv: Server) -> set[str]:
    return {u.rsplit("/", 1)[-1] for u in srv.client("sqs").list_queues().get("QueueUrls", [])}


def test_kill_9_mid_create_rolls_back_at_next_start(tmp_path: Path) -> None:
    data = tmp_path / "data"
    srv = start_server(data)
    try:
        kill_mid_deploy(srv, "crashy", {"Resources": {"Fn": FUNCTION} | chain("Fn")}, 3)
    finally:
        srv.stop(signal.SIGKILL)
    srv = start_server(data)
    try:
        stack = wait_stack(srv, "crashy")
        assert stack["StackStatus"] == "ROLLBACK_COMPLETE", stack
        assert "stopped during the deploy" in stack["StackStatusReason"]
        assert stack["Resources"] == []
        assert not [q for q in queue_names(srv) if q.startswith("crashy-")]
        functions = srv.client("lambda").list_functions()["Functions"]
        assert not [f for f in functions if f["FunctionName"].startswith("crashy-")]
        # the name can be deployed again, from nothing
        status, body = api(srv, "POST", "/_nimbus/stacks/crashy", {"Template": {"Resources": {"Fn": FUNCTION}}})
        assert status == 200, body
        assert wait_stack(srv, "crashy")["StackStatus"] == "CREATE_COMPLETE"
    finally:
        srv.stop()


def test_kill_9_mid_update_puts_the_stack_back(tmp_path: Path) -> None:
    data = tmp_path / "data"
    srv = start_server(data)
    try:
        v1 = {"Resources": {"Fn": FUNCTION, "Keep": {"Type": "AWS::SQS::Queue"}}}
        status, body = api(srv, "POST", "/_nimbus/stacks/steady", {"Template": v1})
        assert status == 200, body
        before = wait_stack(srv, "steady")
        assert before["StackStatus"] == "CREATE_COMPLETE"
        ids = physical_ids(before)
        version_2 = {"Environment": {"Variables": {"VERSION": "2"}}}
        fn2 = {"Type": FUNCTION["Type"], "Properties": FUNCTION["Properties"] | version_2}
        kill_mid_deploy(srv, "steady", {"Resources": {"Fn": fn2, "Keep": v1["Resources"]["Keep"]} | chain("Fn")}, 3)
    finally:
        srv.stop(signal.SIGKILL)
    srv = start_server(data)
    try:
        stack = wait_stack(srv, "steady")
        assert stack["StackStatus"] == "UPDATE_ROLLBACK_COMPLETE", stack
        assert physical_ids(stack) == ids
        reply = srv.client("lambda").invoke(FunctionName=ids["Fn"])
        assert reply["Payload"].read() == b'"1"'
        assert {q for q in queue_names(srv) if q.startswith("steady-")} == {ids["Keep"]}
    finally:
        srv.stop()


def kill_mid(srv: Server, name: str, status: str, after: int) -> None:
    """Kill the server once `after` resource events of `status` are in the stack's events."""
    deadline = time.monotonic() + 60

    def seen() -> int:
        return len([e for e in events(srv, name) if e["ResourceStatus"] == status and e["LogicalResourceId"] != name])

    while seen() < after:
        assert time.monotonic() < deadline, f"no {status} events"
        time.sleep(0.005)
    srv.stop(signal.SIGKILL)


def test_kill_9_mid_clean_up_and_mid_delete_goes_on_at_next_start(tmp_path: Path) -> None:
    data = tmp_path / "data"
    srv = start_server(data)
    try:
        many = {"Resources": {"Fn": FUNCTION} | chain("Fn")}
        assert api(srv, "POST", "/_nimbus/stacks/tidy", {"Template": many})[0] == 200
        assert wait_stack(srv, "tidy")["StackStatus"] == "CREATE_COMPLETE"
        # the queues leave the template: deleted in the clean-up, after the update succeeded
        assert api(srv, "POST", "/_nimbus/stacks/tidy", {"Template": {"Resources": {"Fn": FUNCTION}}})[0] == 200
        kill_mid(srv, "tidy", "DELETE_COMPLETE", 3)
    finally:
        srv.stop(signal.SIGKILL)
    srv = start_server(data)
    try:
        stack = wait_stack(srv, "tidy")
        assert stack["StackStatus"] == "UPDATE_COMPLETE", stack
        assert list(physical_ids(stack)) == ["Fn"]
        assert not [q for q in queue_names(srv) if q.startswith("tidy-")]
        # a deletion cut short goes on too
        assert api(srv, "POST", "/_nimbus/stacks/tidy", {"Template": many})[0] == 200
        assert wait_stack(srv, "tidy")["StackStatus"] == "UPDATE_COMPLETE"
        assert api(srv, "DELETE", "/_nimbus/stacks/tidy")[0] == 200
        kill_mid(srv, "tidy", "DELETE_COMPLETE", CHAIN + 3)  # the clean-up's, then 3 of the deletion's
    finally:
        srv.stop(signal.SIGKILL)
    srv = start_server(data)
    try:
        assert wait_stack(srv, "tidy")["message"] == "Stack with id tidy does not exist"
        assert events(srv, "tidy")[-1]["ResourceStatus"] == "DELETE_COMPLETE"
        assert not [q for q in queue_names(srv) if q.startswith("tidy-")]
        functions = srv.client("lambda").list_functions()["Functions"]
        assert not [f for f in functions if f["FunctionName"].startswith("tidy-")]
    finally:
        srv.stop()
