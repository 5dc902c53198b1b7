"""Hostile templates sent straight to the stacks API (no CLI in front to refuse them first): intrinsics nested as
deep as the template depth limit allows are resolved, and one level past it (or as deep as the JSON parser reads) is
a 400 ValidationError at once, before anything is planned or applied, with no traceback in the server's log. Before
the limit, a few hundred nested `Fn::Join` ran the engine's resolver into a RecursionError (a 500)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest
from e2e_support import Server, error_code, send, serving, signed

from nimbus.deploy.template import TEMPLATE_DEPTH_MAX

#: `Fn::Join`s whose innermost list sits exactly at the limit: QueueName's mapping is level 5, each join 3 levels
AT_LIMIT = (TEMPLATE_DEPTH_MAX - 4) // 3


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    yield from serving(tmp_path_factory, "hostile-templates")


def deploy(srv: Server, name: str, template: str, dry_run: bool) -> tuple[int, str, bytes]:
    """POST a deploy whose Template is `template`, JSON text (written by hand: json.dumps itself refuses to nest
    as deep as the server's parser reads)."""
    flags = json.dumps({"Parameters": {}, "DryRun": dry_run, "SourceHash": "x"})
    body = ('{"Template": ' + template + ", " + flags[1:]).encode()
    req = signed(f"{srv.endpoint}/_nimbus/stacks/{name}", "POST", body, service="cloudformation")
    status, headers, answer = send(req)
    return status, error_code(headers, answer), answer


def wait_done(srv: Server, name: str, timeout: float = 60) -> str:
    """The stack's status once its operation has ended: a deploy's POST answers with the plan and applies it in the
    background (polled, never a fixed sleep)."""
    deadline = time.monotonic() + timeout
    while True:
        status, _, answer = send(signed(f"{srv.endpoint}/_nimbus/stacks/{name}", "GET", b"", service="cloudformation"))
        assert status == 200, answer[:300]
        stack_status = str(json.loads(answer)["StackStatus"])
        if not stack_status.endswith("IN_PROGRESS") or time.monotonic() > deadline:
            return stack_status
        time.sleep(0.05)


def queue_named_by_joins(joins: int) -> str:
    """A queue whose QueueName is `joins` Fn::Join inside each other around one string."""
    name = '{"Fn::Join": ["", [' * joins + '"deepq"' + "]]}" * joins
    return '{"Resources": {"Q": {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": ' + name + "}}}}"


def test_intrinsics_nested_to_the_depth_limit_resolve(srv: Server) -> None:
    assert 3 * AT_LIMIT + 4 == TEMPLATE_DEPTH_MAX
    status, _, answer = deploy(srv, "deep-at-limit", queue_named_by_joins(AT_LIMIT), dry_run=False)
    assert status == 200, answer[:300]
    assert wait_done(srv, "deep-at-limit") == "CREATE_COMPLETE"
    queues = srv.client("sqs").list_queues(QueueNamePrefix="deepq").get("QueueUrls", [])
    assert [url.rsplit("/", 1)[1] for url in queues] == ["deepq"]


@pytest.mark.parametrize("dry_run", [True, False], ids=["preview", "deploy"])
@pytest.mark.parametrize(
    ("joins", "code", "says"),
    [(AT_LIMIT + 1, "ValidationException", f"nested deeper than {TEMPLATE_DEPTH_MAX} levels"),
     (300, "ValidationException", f"nested deeper than {TEMPLATE_DEPTH_MAX} levels"),
     (3000, "InvalidRequestContentException", "nested too deeply")],
    ids=["one-past", "resolver-deep", "parser-deep"],
)  # fmt: skip
def test_a_template_past_the_depth_limit_is_a_400(srv: Server, joins: int, code: str, says: str,
                                                  dry_run: bool) -> None:  # fmt: skip
    status, got, answer = deploy(srv, f"deep-{joins}-{int(dry_run)}", queue_named_by_joins(joins), dry_run)
    assert (status, got) == (400, code), answer[:300]
    assert says.encode() in answer
    log = srv.log_path.read_text()
    assert "RecursionError" not in log
    assert "Traceback" not in log
