"""`nimbus deploy` and `nimbus stack` as a person runs them: samconfig.toml's stack name and overrides, overrides
after --parameter-overrides, InlineCode, --skip-unsupported (their Ref is their logical id, and it says so), the
change summary, every `stack` command; and bad input refused before anything is applied, naming what is wrong."""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
from pathlib import Path

import pytest
from stack_support import api, cli, describe, physical_ids, write_app

from conftest import NIMBUS, Server

INLINE = """\
    Transform: AWS::Serverless-2016-10-31
    Parameters:
      Stage: {Type: String, AllowedValues: [dev, prod]}
      Owner: {Type: String, Default: nobody}
    Resources:
      Echo:
        Type: AWS::Serverless::Function
        Properties:
          Runtime: python3.12
          Handler: index.handler
          InlineCode: |
            import os
            def handler(event, context):
                return {k: os.environ[k] for k in ("STAGE", "OWNER", "TABLE")}
          Environment:
            Variables: {STAGE: !Ref Stage, OWNER: !Ref Owner, TABLE: !Ref Table}
      Table:
        Type: AWS::DynamoDB::Table
        Properties: {BillingMode: PAY_PER_REQUEST}
    Outputs:
      EchoName: {Value: !Ref Echo, Description: the function}
"""


def invoke(server: Server, name: str) -> object:
    return json.loads(server.client("lambda").invoke(FunctionName=name)["Payload"].read())


def test_samconfig_overrides_inline_code_skip_unsupported_and_stack_commands(server: Server, tmp_path: Path) -> None:
    app = write_app(tmp_path / "inline", INLINE)
    (app / "samconfig.toml").write_text('version = 0.1\n[default.deploy.parameters]\nstack_name = "inline-app"\n'
                                        'parameter_overrides = "Stage=dev"\n')  # fmt: skip
    refused = cli(server, app, "deploy", "--no-confirm", check=False)
    assert refused.returncode == 1
    assert "Unsupported resource types" in refused.stderr
    assert "Table (AWS::DynamoDB::Table)" in refused.stderr
    assert api(server, "GET", "/_nimbus/stacks/inline-app")[0] == 400  # nothing applied
    done = cli(server, app, "deploy", "--no-confirm", "--skip-unsupported", "--parameter-overrides", "Owner=ada",
               "Stage=prod")  # fmt: skip
    assert "Not deployed (unsupported types, --skip-unsupported; their Ref is their logical id): Table" in done.stdout
    assert "Changes to stack inline-app" in done.stdout
    assert "Successfully created/updated stack - inline-app" in done.stdout
    stack = describe(server, "inline-app")
    assert stack["SkippedResources"] == ["Table"]
    assert invoke(server, physical_ids(stack)["Echo"]) == {"STAGE": "prod", "OWNER": "ada", "TABLE": "Table"}

    listed = cli(server, app, "stack", "list").stdout
    assert "inline-app" in listed
    assert "CREATE_COMPLETE" in listed
    described = cli(server, app, "stack", "describe", "inline-app").stdout
    assert "parameter Stage = prod" in described
    assert "not deployed (unsupported types): Table" in described
    assert physical_ids(stack)["Echo"] in cli(server, app, "stack", "outputs", "inline-app").stdout
    assert "CREATE_COMPLETE" in cli(server, app, "stack", "events", "inline-app").stdout
    deleted = cli(server, app, "stack", "delete", "inline-app")
    assert "DELETE_COMPLETE" in deleted.stdout
    assert "Deleted stack inline-app" in deleted.stdout
    with pytest.raises(Exception, match="ResourceNotFoundException"):
        server.client("lambda").get_function(FunctionName=physical_ids(stack)["Echo"])


@pytest.mark.parametrize(
    ("template", "args", "says"),
    [
        ("Resources:\n  Q: [unclosed\n", (), "not a valid template"),
        (
            "Transform: AWS::Serverless-2016-10-31\nResources:\n  Fn:\n    Type: AWS::Serverless::Function\n"
            "    Properties: {CodeUri: missing/, Handler: a.b, Runtime: python3.12}\n",
            (),
            "Resources.Fn.Properties.CodeUri: 'missing/' does not exist",
        ),
        (
            "Transform: AWS::Serverless-2016-10-31\nResources:\n  Fn:\n    Type: AWS::Serverless::Function\n"
            "    Properties: {InlineCode: x, Handler: a.b, Runtime: python3.12, Events: {Q: {Type: SQS}}}\n",
            (),
            "Transform AWS::Serverless-2016-10-31 failed: Resource with id [FnQ] is invalid",
        ),
        (
            "Resources:\n  Q: {Type: 'AWS::SQS::Queue'}\n",
            ("--parameter-overrides", "Nope=1"),
            "Parameters: ['Nope'] do not exist in the template",
        ),
        (
            "Parameters: {Need: {Type: String}}\nResources:\n  Q: {Type: 'AWS::SQS::Queue'}\n",
            (),
            "Parameters: ['Need'] must have values",
        ),
        (
            "Resources:\n  Q: {Type: 'AWS::SQS::Queue', Properties: {QueueName: !Ref Nothing}}\n",
            (),
            "Resources.Q.Properties.QueueName.Ref: Unresolved resource dependency [Nothing]",
        ),
        (
            "Resources:\n  A: {Type: 'AWS::SQS::Queue', Properties: {QueueName: !GetAtt B.QueueName}}\n"
            "  B: {Type: 'AWS::SQS::Queue', Properties: {QueueName: !GetAtt A.QueueName}}\n",
            (),
            "Circular dependency between resources: [A, B]",
        ),
        ("Resources:\n  Q: {Type: 'AWS::SQS::Queue'}\n", ("extra",), "unexpected argument 'extra'"),
    ],
)
def test_bad_input_is_refused_before_anything_is_applied(server: Server, tmp_path: Path, template: str,
                                                         args: tuple[str, ...], says: str) -> None:  # fmt: skip
    app = write_app(tmp_path / "bad", template)
    done = cli(server, app, "deploy", "--stack-name", "bad-input", "--no-confirm", *args, check=False)
    assert done.returncode in (1, 2), done
    assert says in done.stderr
    assert "Traceback" not in done.stderr
    assert api(server, "GET", "/_nimbus/stacks/bad-input")[0] == 400


def test_a_stack_name_is_required(server: Server, tmp_path: Path) -> None:
    app = write_app(tmp_path / "noname", "Resources:\n  Q: {Type: 'AWS::SQS::Queue'}\n")
    done = cli(server, app, "deploy", check=False)
    assert done.returncode == 2
    assert "--stack-name is required" in done.stderr


def test_on_a_terminal_the_change_summary_waits_for_a_yes(server: Server, tmp_path: Path) -> None:
    app = write_app(tmp_path / "asked", "Resources:\n  Q: {Type: 'AWS::SQS::Queue'}\n")

    def run_with_answer(answer: bytes) -> str:
        leader, follower = pty.openpty()
        env = dict(server.env) | {"AWS_ENDPOINT_URL": server.endpoint, "AWS_DEFAULT_REGION": "us-east-1",
                                  "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test"}  # fmt: skip
        proc = subprocess.Popen([*NIMBUS, "deploy", "--stack-name", "asked"], cwd=app, env=env, stdin=follower,
                                stdout=follower, stderr=follower)  # fmt: skip
        os.close(follower)
        seen = b""
        try:
            while b"Deploy this changeset?" not in seen:
                ready, _, _ = select.select([leader], [], [], 60)
                assert ready, seen
                seen += os.read(leader, 4096)
            os.write(leader, answer)
            while True:
                ready, _, _ = select.select([leader], [], [], 60)
                try:
                    chunk = os.read(leader, 4096) if ready else b""
                except OSError:  # the child closed the terminal
                    break
                if not chunk:
                    break
                seen += chunk
        finally:
            proc.wait(timeout=120)
            os.close(leader)
        return seen.decode(errors="replace")

    declined = run_with_answer(b"n\n")
    assert "Changes to stack asked" in declined
    assert "Nothing deployed." in declined
    assert api(server, "GET", "/_nimbus/stacks/asked")[0] == 400
    accepted = run_with_answer(b"y\n")
    assert "Successfully created/updated stack - asked" in accepted
    assert describe(server, "asked")["StackStatus"] == "CREATE_COMPLETE"
    cli(server, app, "stack", "delete", "asked")
