"""The console authorizes every page and button as the API call it stands for, with the API's own authorizer: an
IAM user signs in with its key, sees what its policy allows, and is refused the rest with AWS's AccessDenied
wording. A deleted key ends its console sessions; temporary (assumed-role) keys do not sign in."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from console_support import ConsoleClient

from conftest import Server, make_zip, start_server
from iam_support import seed_identities

ACCOUNT = "000000000000"
FN = "console-authz"
VIEWER_POLICY = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": ["lambda:ListFunctions", "lambda:GetFunction"], "Resource": "*"},
]}  # fmt: skip

#: a role the assumer may assume (its session keys must not sign in to the console)
ROLES = {"console-temp": {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:user/assumer"}, "Action": "sts:AssumeRole"},
]}}  # fmt: skip
ASSUMER_POLICY = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"}],
}
#: a viewer (list and read functions), a user with no policy, one whose key is deleted, one who assumes a role
USERS = {"viewer": VIEWER_POLICY, "nobody": None, "leaver": VIEWER_POLICY, "assumer": ASSUMER_POLICY}


@pytest.fixture(scope="module")
def users(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, dict[str, tuple[str, str]]]]:
    data_dir = tmp_path_factory.mktemp("console-authz") / "data"
    keys = seed_identities(data_dir, ACCOUNT, USERS, ROLES)
    srv = start_server(data_dir)
    code = make_zip({"app.py": "def handler(e, c):\n    return e\n"})
    srv.client("lambda").create_function(FunctionName=FN, Runtime="python3.11", Handler="app.handler",
                                         Role=f"arn:aws:iam::{ACCOUNT}:role/r", Code={"ZipFile": code})  # fmt: skip
    yield srv, keys
    srv.stop()


def signed_in(srv: Server, key: tuple[str, str]) -> ConsoleClient:
    client = ConsoleClient(srv.endpoint)
    assert client.sign_in(*key).status_code == 303
    return client


def test_a_viewer_sees_functions_and_is_refused_invoke_logs_charts_and_create(users: Any) -> None:
    srv, keys = users
    viewer = signed_in(srv, keys["viewer"])
    try:
        assert viewer.http.get("/functions").status_code == 200
        assert viewer.http.get(f"/functions/{FN}").status_code == 200
        refused = viewer.api("POST", f"/functions/{FN}/invoke", b"{}")
        assert refused.status_code == 403
        assert refused.json()["type"] == "AccessDeniedException"
        assert refused.json()["message"] == (
            f"User: arn:aws:iam::{ACCOUNT}:user/viewer is not authorized to perform: lambda:InvokeFunction on "
            f"resource: arn:aws:lambda:us-east-1:{ACCOUNT}:function:{FN} because no identity-based policy allows the "
            "lambda:InvokeFunction action"
        )
        assert viewer.api("GET", f"/functions/{FN}/tail").status_code == 403
        assert "not authorized to perform: sqs:listqueues" in viewer.http.get("/queues").text
        assert viewer.api("GET", f"/functions/{FN}/series").status_code == 403
        assert viewer.api("POST", f"/functions/{FN}/events", {"name": "e", "payload": "{}"}).status_code == 403
        form = {"csrf": viewer.csrf, "name": "made-by-viewer", "runtime": "python3.12", "role": "r", "code": ""}
        created = viewer.http.post("/functions", data=form)
        assert created.status_code == 403
        assert "lambda:CreateFunction" in created.text
        assert FN in [f["FunctionName"] for f in srv.client("lambda").list_functions()["Functions"]]
    finally:
        viewer.close()


def test_a_user_without_a_policy_signs_in_but_sees_nothing(users: Any) -> None:
    srv, keys = users
    nobody = signed_in(srv, keys["nobody"])
    try:
        page = nobody.http.get("/functions")
        assert page.status_code == 403
        assert "not authorized to perform: lambda:ListFunctions" in page.text
    finally:
        nobody.close()


def test_a_deleted_key_ends_its_console_sessions(users: Any) -> None:
    srv, keys = users
    leaver = signed_in(srv, keys["leaver"])
    again = ConsoleClient(srv.endpoint)
    try:
        assert leaver.http.get("/functions").status_code == 200
        srv.client("iam").delete_access_key(UserName="leaver", AccessKeyId=keys["leaver"][0])
        assert leaver.http.get("/functions").status_code == 303
        assert again.sign_in(*keys["leaver"]).status_code == 401
    finally:
        leaver.close()
        again.close()


def test_temporary_credentials_do_not_sign_in(users: Any) -> None:
    srv, keys = users
    key, secret = keys["assumer"]
    creds = srv.client("sts", access_key=key, secret_key=secret).assume_role(
        RoleArn=f"arn:aws:iam::{ACCOUNT}:role/console-temp", RoleSessionName="console-session"
    )["Credentials"]
    client = ConsoleClient(srv.endpoint)
    try:
        assert client.sign_in(creds["AccessKeyId"], creds["SecretAccessKey"]).status_code == 401
    finally:
        client.close()
