"""Every call is authorized: IAM users' keys against their identity policies and the resources' own policies, with
boto3 and the AWS CLI against a real server; denials in each service's own error form and AWS's wording.

The users are made in the server's data dir before it starts (`iam_support.seed_identities`: IAM's own service,
the rows the IAM API writes), so that these tests need no IAM API call to set up.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from e2e_support import (
    ACCESS_KEY,
    ACCOUNT,
    ECHO,
    NIMBUS,
    REGION,
    ROLE,
    SECRET_KEY,
    Server,
    make_zip,
    start_server,
    wait_active,
)
from http_support import Endpoint, call_signed

from iam_support import seed_identities

FN = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function"
#: the functions: the invoker's policy names `fn-*`, so the one it may not invoke is named otherwise
FN_A, OTHER = "fn-a", "other-fn"
QUEUE_ARN = f"arn:aws:sqs:{REGION}:{ACCOUNT}"


def _doc(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


USERS: dict[str, str | None] = {
    # allowed only lambda:InvokeFunction on fn-*
    "invoker": _doc({"Effect": "Allow", "Action": "lambda:InvokeFunction", "Resource": f"{FN}:fn-*"}),
    # everything in Lambda, but never DeleteFunction
    "limited": _doc({"Effect": "Allow", "Action": "lambda:*", "Resource": "*"},
                    {"Effect": "Deny", "Action": "lambda:DeleteFunction", "Resource": "*"}),
    # may create functions, but not pass roles
    "deployer": _doc({"Effect": "Allow", "Action": ["lambda:CreateFunction", "lambda:DeleteFunction"],
                      "Resource": f"{FN}:fn-*"}),
    # may create functions and pass one role
    "passer": _doc({"Effect": "Allow", "Action": ["lambda:CreateFunction", "lambda:DeleteFunction"],
                    "Resource": f"{FN}:fn-*"},
                   {"Effect": "Allow", "Action": "iam:PassRole", "Resource": ROLE}),
    # may call AWS_IAM function URLs and HTTP API routes of fn-* (GET only)
    "caller": _doc({"Effect": "Allow", "Action": "lambda:InvokeFunctionUrl", "Resource": f"{FN}:fn-*"},
                   {"Effect": "Allow", "Action": "execute-api:Invoke",
                    "Resource": f"arn:aws:execute-api:{REGION}:{ACCOUNT}:*/*/GET/*"}),
    # no identity policy at all: only resource policies can grant it anything
    "nobody": None,
}  # fmt: skip


#: roles by the service their trust policy names
ROLES = {"lambda-exec": "lambda.amazonaws.com", "ec2-only": "ec2.amazonaws.com"}


def _trust(service: str) -> Any:
    return json.loads(_doc({"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}))


def role_arn(name: str) -> str:
    return f"arn:aws:iam::{ACCOUNT}:role/{name}"


def user_arn(name: str) -> str:
    return f"arn:aws:iam::{ACCOUNT}:user/{name}"


@pytest.fixture(scope="module")
def authz(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, dict[str, tuple[str, str]]]]:
    data_dir = tmp_path_factory.mktemp("authz") / "data"
    trusts = {role: _trust(service) for role, service in ROLES.items()}
    keys = seed_identities(data_dir, ACCOUNT, {n: json.loads(p) if p else None for n, p in USERS.items()}, trusts)
    srv = start_server(data_dir)
    lam = srv.client("lambda")
    for name in (FN_A, OTHER):
        lam.create_function(FunctionName=name, Runtime="python3.12", Role=ROLE, Handler="index.handler",
                            Code={"ZipFile": make_zip({"index.py": ECHO})})  # fmt: skip
        wait_active(lam, name)
    yield srv, keys
    srv.stop()


def client(authz: tuple[Server, dict[str, tuple[str, str]]], user: str, service: str = "lambda") -> Any:
    srv, keys = authz
    key, secret = keys[user]
    return srv.client(service, access_key=key, secret_key=secret)


def denied(call: Any, *args: Any, **kwargs: Any) -> tuple[str, int, str]:
    with pytest.raises(ClientError) as caught:
        call(*args, **kwargs)
    error = caught.value.response["Error"]
    return error["Code"], caught.value.response["ResponseMetadata"]["HTTPStatusCode"], error["Message"]


def implicit(user: str, action: str, resource: str) -> str:
    return (f"User: {user_arn(user)} is not authorized to perform: {action} on resource: {resource} because no "
            f"identity-based policy allows the {action} action")  # fmt: skip


def test_a_user_invokes_only_what_its_policy_allows(authz: Any) -> None:
    lam = client(authz, "invoker")
    out = lam.invoke(FunctionName=FN_A, Payload=b'{"hi": 1}')
    assert json.loads(out["Payload"].read()) == {"hi": 1}
    assert denied(lam.delete_function, FunctionName=FN_A) == (
        "AccessDeniedException", 403, implicit("invoker", "lambda:DeleteFunction", f"{FN}:{FN_A}"))
    assert denied(lam.invoke, FunctionName=OTHER) == (
        "AccessDeniedException", 403, implicit("invoker", "lambda:InvokeFunction", f"{FN}:{OTHER}"))
    assert denied(lam.list_functions) == (
        "AccessDeniedException", 403, implicit("invoker", "lambda:ListFunctions", "*"))
    # a qualified invoke is of the qualified ARN, which `fn-*` also names
    assert lam.invoke(FunctionName=FN_A, Qualifier="$LATEST")["StatusCode"] == 200


def test_the_aws_cli_gets_the_same_denial(authz: Any, tmp_path: Path) -> None:
    srv, keys = authz
    key, secret = keys["invoker"]
    env = dict(srv.env, AWS_ACCESS_KEY_ID=key, AWS_SECRET_ACCESS_KEY=secret, AWS_DEFAULT_REGION=REGION)
    base = [sys.executable, "-m", "awscli", "--endpoint-url", srv.endpoint, "lambda"]
    ok = subprocess.run([*base, "invoke", "--function-name", FN_A, str(tmp_path / "out.json")], env=env,
                        capture_output=True, text=True, timeout=120)  # fmt: skip
    assert ok.returncode == 0, ok.stderr
    no = subprocess.run([*base, "delete-function", "--function-name", FN_A], env=env, capture_output=True, text=True,
                        timeout=120)  # fmt: skip
    assert no.returncode != 0
    assert ("An error occurred (AccessDeniedException) when calling the DeleteFunction operation: "
            + implicit("invoker", "lambda:DeleteFunction", f"{FN}:{FN_A}")) in no.stderr  # fmt: skip


def test_an_explicit_deny_beats_an_allow(authz: Any) -> None:
    lam = client(authz, "limited")
    assert lam.get_function(FunctionName=FN_A)["Configuration"]["FunctionName"] == FN_A
    assert denied(lam.delete_function, FunctionName=FN_A) == (
        "AccessDeniedException", 403,
        f"User: {user_arn('limited')} is not authorized to perform: lambda:DeleteFunction on resource: "
        f"{FN}:{FN_A} with an explicit deny in an identity-based policy",
    )  # fmt: skip


def test_create_function_needs_pass_role(authz: Any) -> None:
    code = {"ZipFile": make_zip({"index.py": ECHO})}
    deployer = client(authz, "deployer")
    assert denied(deployer.create_function, FunctionName="fn-new", Runtime="python3.12", Role=ROLE,
                  Handler="index.handler", Code=code) == (
        "AccessDeniedException", 403, implicit("deployer", "iam:PassRole", ROLE))  # fmt: skip
    passer = client(authz, "passer")
    made = passer.create_function(FunctionName="fn-new", Runtime="python3.12", Role=ROLE, Handler="index.handler",
                                  Code=code)  # fmt: skip
    assert made["FunctionName"] == "fn-new"
    passer.delete_function(FunctionName="fn-new")


def test_sqs_denies_in_its_own_form_and_a_queue_policy_grants(authz: Any) -> None:
    srv, _ = authz
    root = srv.client("sqs")
    url = root.create_queue(QueueName="orders")["QueueUrl"]
    sqs = client(authz, "nobody", "sqs")
    code, status, msg = denied(sqs.send_message, QueueUrl=url, MessageBody="x")
    assert (code, status) == ("AccessDenied", 403)
    assert msg == implicit("nobody", "sqs:sendmessage", f"{QUEUE_ARN}:orders")
    policy = _doc({"Effect": "Allow", "Principal": {"AWS": user_arn("nobody")}, "Action": "sqs:SendMessage",
                   "Resource": f"{QUEUE_ARN}:orders"})  # fmt: skip
    root.set_queue_attributes(QueueUrl=url, Attributes={"Policy": policy})
    assert sqs.send_message(QueueUrl=url, MessageBody="x")["MessageId"]
    assert denied(sqs.receive_message, QueueUrl=url)[:2] == ("AccessDenied", 403)
    # the grant is gone with the policy (a decision is cached per policy revision, not beyond it)
    root.set_queue_attributes(QueueUrl=url, Attributes={"Policy": ""})
    assert denied(sqs.send_message, QueueUrl=url, MessageBody="x")[:2] == ("AccessDenied", 403)


def test_sns_denies_with_authorization_error(authz: Any) -> None:
    srv, _ = authz
    topic = srv.client("sns").create_topic(Name="alerts")["TopicArn"]
    sns = client(authz, "nobody", "sns")
    assert denied(sns.publish, TopicArn=topic, Message="m") == (
        "AuthorizationError", 403,
        f"User: {user_arn('nobody')} is not authorized to perform: SNS:Publish on resource: {topic} because no "
        "identity-based policy allows the SNS:Publish action",
    )  # fmt: skip


def test_a_function_policy_grants_a_user(authz: Any) -> None:
    srv, _ = authz
    srv.client("lambda").add_permission(FunctionName=OTHER, StatementId="nobody", Action="lambda:InvokeFunction",
                                        Principal=user_arn("nobody"))  # fmt: skip
    lam = client(authz, "nobody")
    assert lam.invoke(FunctionName=OTHER)["StatusCode"] == 200
    assert denied(lam.invoke, FunctionName=FN_A)[:2] == ("AccessDeniedException", 403)


@pytest.mark.parametrize(("service", "call", "kwargs", "action", "status"), [
    ("events", "list_rules", {}, "events:ListRules", 400),
    ("logs", "describe_log_groups", {}, "logs:DescribeLogGroups", 400),
    ("scheduler", "list_schedules", {}, "scheduler:ListSchedules", 403),
    ("apigatewayv2", "get_apis", {}, "apigateway:GET", 403),
])  # fmt: skip
def test_other_apis_deny_with_access_denied_exception(
    authz: Any, service: str, call: str, kwargs: dict[str, Any], action: str, status: int
) -> None:
    code, got_status, msg = denied(getattr(client(authz, "nobody", service), call), **kwargs)
    assert (code, got_status) == ("AccessDeniedException", status)
    assert msg.startswith(f"User: {user_arn('nobody')} is not authorized to perform: {action} on resource: ")


def test_root_is_allowed_everything(authz: Any) -> None:
    srv, _ = authz
    assert srv.client("lambda").get_function(FunctionName=OTHER)["Configuration"]["FunctionName"] == OTHER


def test_an_aws_iam_function_url_asks_the_signers_policies(authz: Any) -> None:
    srv, keys = authz
    url = srv.client("lambda").create_function_url_config(FunctionName=FN_A, AuthType="AWS_IAM")["FunctionUrl"]
    endpoint = Endpoint(srv.port, "lambda-url", url.split("//", 1)[1].split(".", 1)[0])

    def status(user: str) -> int:
        key, secret = keys[user]
        return call_signed(endpoint, "GET", "/", access_key=key, secret_key=secret).status_code

    assert status("caller") == 200
    assert status("invoker") == 403  # lambda:InvokeFunction is not lambda:InvokeFunctionUrl
    assert status("nobody") == 403
    srv.client("lambda").add_permission(FunctionName=FN_A, StatementId="url-nobody", Principal=user_arn("nobody"),
                                        Action="lambda:InvokeFunctionUrl", FunctionUrlAuthType="AWS_IAM")  # fmt: skip
    assert status("nobody") == 200
    assert call_signed(endpoint, "GET", "/").status_code == 200  # the root


def test_an_aws_iam_route_asks_the_signers_policies(authz: Any) -> None:
    srv, keys = authz
    apigw, lam = srv.client("apigatewayv2"), srv.client("lambda")
    api_id = apigw.create_api(Name="private", ProtocolType="HTTP")["ApiId"]
    target = apigw.create_integration(ApiId=api_id, IntegrationType="AWS_PROXY", IntegrationUri=f"{FN}:{FN_A}",
                                      PayloadFormatVersion="2.0")["IntegrationId"]  # fmt: skip
    for key in ("GET /private", "POST /private"):
        apigw.create_route(ApiId=api_id, RouteKey=key, Target=f"integrations/{target}", AuthorizationType="AWS_IAM")
    apigw.create_stage(ApiId=api_id, StageName="$default", AutoDeploy=True)
    lam.add_permission(FunctionName=FN_A, StatementId=f"apigw-{api_id}", Action="lambda:InvokeFunction",
                       Principal="apigateway.amazonaws.com",
                       SourceArn=f"arn:aws:execute-api:{REGION}:{ACCOUNT}:{api_id}/*")  # fmt: skip
    endpoint = Endpoint(srv.port, "execute-api", api_id)

    def answer(user: str, method: str) -> tuple[int, str]:
        key, secret = keys[user]
        resp = call_signed(endpoint, method, "/private", access_key=key, secret_key=secret, service="execute-api")
        return resp.status_code, resp.json().get("message", "") if resp.status_code == 403 else ""

    assert answer("caller", "GET") == (200, "")
    resource = f"arn:aws:execute-api:{REGION}:{ACCOUNT}:{api_id}/$default/POST/private"
    assert answer("caller", "POST") == (403, implicit("caller", "execute-api:Invoke", resource))
    assert answer("nobody", "GET")[0] == 403


def test_the_role_must_trust_lambda_unless_it_names_no_role(authz: Any) -> None:
    srv, _ = authz
    lam = srv.client("lambda")
    code = {"ZipFile": make_zip({"index.py": ECHO})}
    made = lam.create_function(FunctionName="fn-role", Runtime="python3.12", Role=role_arn("lambda-exec"),
                               Handler="index.handler", Code=code)  # fmt: skip
    assert made["Role"] == role_arn("lambda-exec")
    wait_active(lam, "fn-role")
    refused = ("InvalidParameterValueException", 400, "The role defined for the function cannot be assumed by Lambda.")
    assert denied(lam.update_function_configuration, FunctionName="fn-role", Role=role_arn("ec2-only")) == refused
    assert denied(lam.create_function, FunctionName="fn-ec2", Runtime="python3.12", Role=role_arn("ec2-only"),
                  Handler="index.handler", Code=code) == refused  # fmt: skip
    # an ARN that names no role is accepted, with one warning per function
    ghost = role_arn("no-such-role")
    lam.update_function_configuration(FunctionName="fn-role", Role=ghost)
    wait_active(lam, "fn-role")
    lam.update_function_configuration(FunctionName="fn-role", Role=ghost, Timeout=5)
    assert lam.get_function_configuration(FunctionName="fn-role")["Role"] == ghost
    warnings = [line for line in srv.log_path.read_text().splitlines() if f"function fn-role: its role {ghost}" in line]
    assert len(warnings) == 1
    lam.delete_function(FunctionName="fn-role")


def test_doctor_lists_the_functions_whose_role_names_no_role(authz: Any) -> None:
    srv, _ = authz
    lam = srv.client("lambda")
    lam.create_function(FunctionName="fn-real", Runtime="python3.12", Role=role_arn("lambda-exec"),
                        Handler="index.handler", Code={"ZipFile": make_zip({"index.py": ECHO})})  # fmt: skip
    env = dict(srv.env, AWS_ACCESS_KEY_ID=ACCESS_KEY, AWS_SECRET_ACCESS_KEY=SECRET_KEY)
    done = subprocess.run([*NIMBUS, "doctor", "--endpoint-url", srv.endpoint], capture_output=True, text=True,
                          env=env, timeout=120)  # fmt: skip
    listed = [line.split() for line in done.stdout.splitlines() if line.startswith("  ") and ":role/" in line]
    assert [FN_A, ROLE] in listed
    assert [OTHER, ROLE] in listed
    assert not any(row[0] == "fn-real" for row in listed)
    lam.delete_function(FunctionName="fn-real")


def test_a_policy_change_takes_effect_on_the_next_call(authz: Any) -> None:
    """Decisions are cached per key ring policy version: PutUserPolicy and DeleteUserPolicy (IAM's API, as root)
    change the very next answer; a condition on the caller's address is evaluated on every call."""
    srv, _ = authz
    iam, lam = srv.client("iam"), client(authz, "nobody")
    assert denied(lam.get_function, FunctionName=FN_A)[:2] == ("AccessDeniedException", 403)
    allow = {"Effect": "Allow", "Action": "lambda:GetFunction", "Resource": f"{FN}:{FN_A}"}
    iam.put_user_policy(UserName="nobody", PolicyName="get", PolicyDocument=_doc(allow))
    assert lam.get_function(FunctionName=FN_A)["Configuration"]["FunctionName"] == FN_A
    elsewhere = allow | {"Condition": {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}}
    iam.put_user_policy(UserName="nobody", PolicyName="get", PolicyDocument=_doc(elsewhere))
    assert denied(lam.get_function, FunctionName=FN_A)[:2] == ("AccessDeniedException", 403)
    here = allow | {"Condition": {"IpAddress": {"aws:SourceIp": "127.0.0.0/8"}}}
    iam.put_user_policy(UserName="nobody", PolicyName="get", PolicyDocument=_doc(here))
    assert lam.get_function(FunctionName=FN_A)["Configuration"]["FunctionName"] == FN_A
    iam.delete_user_policy(UserName="nobody", PolicyName="get")
    assert denied(lam.get_function, FunctionName=FN_A)[:2] == ("AccessDeniedException", 403)


def test_users_are_authorized_on_iam_too(authz: Any) -> None:
    iam = client(authz, "invoker", "iam")
    assert denied(iam.create_user, UserName="intruder") == (
        "AccessDenied", 403, implicit("invoker", "iam:CreateUser", f"arn:aws:iam::{ACCOUNT}:user/intruder"))
    # a user's own keys are the resource `user/${aws:username}` of a self-service policy
    srv, _ = authz
    own = {"Effect": "Allow", "Action": "iam:ListAccessKeys",
           "Resource": f"arn:aws:iam::{ACCOUNT}:user/${{aws:username}}"}  # fmt: skip
    srv.client("iam").put_user_policy(UserName="invoker", PolicyName="own-keys", PolicyDocument=_doc(own))
    assert [k["UserName"] for k in iam.list_access_keys()["AccessKeyMetadata"]] == ["invoker"]
    assert denied(iam.list_access_keys, UserName="limited")[:2] == ("AccessDenied", 403)
    sts = client(authz, "invoker", "sts")
    assert sts.get_caller_identity()["Arn"] == user_arn("invoker")  # never denied, as on AWS


def test_a_condition_on_the_resources_tags(authz: Any) -> None:
    """A user made through IAM's API, allowed to invoke the functions tagged team=web (aws:ResourceTag/team)."""
    srv, _ = authz
    iam, root = srv.client("iam"), srv.client("lambda")
    iam.create_user(UserName="web-dev")
    iam.put_user_policy(UserName="web-dev", PolicyName="web", PolicyDocument=_doc({
        "Effect": "Allow", "Action": "lambda:InvokeFunction", "Resource": "*",
        "Condition": {"StringEquals": {"aws:ResourceTag/team": "web"}}}))  # fmt: skip
    key = iam.create_access_key(UserName="web-dev")["AccessKey"]
    root.tag_resource(Resource=f"{FN}:{FN_A}", Tags={"team": "web"})
    root.tag_resource(Resource=f"{FN}:{OTHER}", Tags={"team": "data"})
    lam = srv.client("lambda", access_key=key["AccessKeyId"], secret_key=key["SecretAccessKey"])
    assert lam.invoke(FunctionName=FN_A)["StatusCode"] == 200
    assert denied(lam.invoke, FunctionName=OTHER)[:2] == ("AccessDeniedException", 403)
    root.tag_resource(Resource=f"{FN}:{OTHER}", Tags={"team": "web"})  # tags are read per call, never cached
    assert lam.invoke(FunctionName=OTHER)["StatusCode"] == 200
