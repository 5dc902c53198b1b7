"""Control plane: CreateFunction/GetFunction/Update*/Delete/List/Tags/AccountSettings with Lambda's wire shapes."""

from __future__ import annotations

import re
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from e2e_support import (
    ECHO,
    LAST_MODIFIED_RE,
    ROLE,
    arn,
    expect_error,
    http,
    invoke_json,
    make_zip,
    sha256_b64,
    wait_active,
)


def test_create_function_response_shape(lam: Any, fn_name: str) -> None:
    code = make_zip({"app.py": ECHO})
    try:
        resp = lam.create_function(
            FunctionName=fn_name, Runtime="python3.11", Role=ROLE, Handler="app.handler",
            Code={"ZipFile": code}, Description="shape check", Environment={"Variables": {"KEY_A": "1"}},
        )
        assert resp["ResponseMetadata"]["HTTPStatusCode"] == 201
        assert resp["FunctionName"] == fn_name
        assert resp["FunctionArn"] == f"arn:aws:lambda:us-east-1:000000000000:function:{fn_name}"
        assert resp["Runtime"] == "python3.11"
        assert resp["Role"] == ROLE
        assert resp["Handler"] == "app.handler"
        assert resp["CodeSize"] == len(code)
        assert resp["CodeSha256"] == sha256_b64(code)
        assert resp["Description"] == "shape check"
        assert resp["Timeout"] == 3
        assert resp["MemorySize"] == 128
        assert re.match(LAST_MODIFIED_RE, resp["LastModified"]), resp["LastModified"]
        assert resp["Version"] == "$LATEST"
        assert resp["Environment"] == {"Variables": {"KEY_A": "1"}}
        assert resp["EphemeralStorage"] == {"Size": 512}
        assert resp["Architectures"] == ["x86_64"]
        assert resp["PackageType"] == "Zip"
        uuid.UUID(resp["RevisionId"])
        assert resp["State"] == "Pending"
        assert "LastUpdateStatus" not in resp, "Lambda's CreateFunction answer has no LastUpdateStatus"

        cfg = wait_active(lam, fn_name)
        assert cfg["State"] == "Active"
        assert cfg["LastUpdateStatus"] == "Successful"
        assert cfg["CodeSha256"] == resp["CodeSha256"]
        assert cfg["RevisionId"] != resp["RevisionId"], "becoming Active is a new revision, as on Lambda"
        assert cfg["FunctionArn"] == resp["FunctionArn"]
    finally:
        lam.delete_function(FunctionName=fn_name)


def test_create_defaults_without_description_or_environment(create_function: Any, fn_name: str) -> None:
    resp = create_function(fn_name, {"app.py": ECHO})
    assert resp.get("Description", "") == ""
    assert resp["Timeout"] == 3
    assert resp["MemorySize"] == 128


def test_get_function_code_location_serves_the_zip(lam: Any, create_function: Any, fn_name: str) -> None:
    files = {"app.py": ECHO, "data/readme.txt": "hello " * 100}
    created = create_function(fn_name, files, Tags={"team": "core", "env": "test"})
    wait_active(lam, fn_name)
    got = lam.get_function(FunctionName=fn_name)
    assert got["ResponseMetadata"]["HTTPStatusCode"] == 200
    cfg = got["Configuration"]
    assert cfg["FunctionName"] == fn_name
    assert cfg["FunctionArn"] == arn(fn_name)
    assert cfg["CodeSha256"] == created["CodeSha256"]
    assert cfg["State"] == "Active"
    assert got["Tags"] == {"team": "core", "env": "test"}
    assert got["Code"]["RepositoryType"] == "S3"
    location = got["Code"]["Location"]
    assert location.startswith(("http://127.0.0.1:", "http://localhost:")), location
    status, _, body = http(location)
    assert status == 200
    assert sha256_b64(body) == created["CodeSha256"]
    assert len(body) == created["CodeSize"]


def test_get_function_by_arn(lam: Any, create_function: Any, fn_name: str) -> None:
    create_function(fn_name, {"app.py": ECHO})
    cfg = lam.get_function_configuration(FunctionName=arn(fn_name))
    assert cfg["FunctionName"] == fn_name


def test_get_function_configuration_matches_get_function(lam: Any, create_function: Any, fn_name: str) -> None:
    create_function(fn_name, {"app.py": ECHO}, Timeout=7, MemorySize=256)
    wait_active(lam, fn_name)
    cfg = lam.get_function_configuration(FunctionName=fn_name)
    full = lam.get_function(FunctionName=fn_name)["Configuration"]
    for key in ("FunctionName", "FunctionArn", "Runtime", "Role", "Handler", "CodeSize", "CodeSha256",
                "Timeout", "MemorySize", "LastModified", "Version", "RevisionId", "State", "PackageType"):
        assert cfg[key] == full[key], key
    assert cfg["Timeout"] == 7
    assert cfg["MemorySize"] == 256


def test_update_function_code_switches_code_immediately(lam: Any, create_function: Any, fn_name: str) -> None:
    v1 = 'def handler(event, context):\n    return "v1"\n'
    v2 = 'def handler(event, context):\n    return "v2"\n'
    created = create_function(fn_name, {"app.py": v1})
    wait_active(lam, fn_name)
    # warm an instance on the old code, several in parallel
    with ThreadPoolExecutor(4) as pool:
        assert set(pool.map(lambda _: invoke_json(lam, fn_name)[1], range(4))) == {"v1"}
    new_zip = make_zip({"app.py": v2})
    upd = lam.update_function_code(FunctionName=fn_name, ZipFile=new_zip)
    assert upd["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert upd["CodeSha256"] == sha256_b64(new_zip)
    assert upd["CodeSha256"] != created["CodeSha256"]
    assert upd["CodeSize"] == len(new_zip)
    assert upd["RevisionId"] != created["RevisionId"]
    assert upd["LastUpdateStatus"] in ("InProgress", "Successful")
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: invoke_json(lam, fn_name)[1], range(8)))
    assert results == ["v2"] * 8
    lam.get_waiter("function_updated_v2").wait(FunctionName=fn_name, WaiterConfig={"Delay": 1, "MaxAttempts": 10})
    got = lam.get_function(FunctionName=fn_name)
    assert got["Configuration"]["LastUpdateStatus"] == "Successful"
    assert got["Configuration"]["CodeSha256"] == sha256_b64(new_zip)
    assert sha256_b64(http(got["Code"]["Location"])[2]) == sha256_b64(new_zip)


ENV_HANDLER = """
import os
def handler(event, context):
    return {k: os.environ.get(k) for k in event["keys"]} | {
        "memory": context.memory_limit_in_mb,
        "remaining": context.get_remaining_time_in_millis(),
    }
"""


def test_update_function_configuration(lam: Any, create_function: Any, fn_name: str) -> None:
    created = create_function(
        fn_name, {"app.py": ENV_HANDLER, "other.py": 'def main(e, c):\n    return "other"\n'},
        Environment={"Variables": {"KEEP": "no", "OLD": "1"}},
    )
    wait_active(lam, fn_name)
    _, out = invoke_json(lam, fn_name, {"keys": ["OLD", "NEW"]})
    assert out["OLD"] == "1"
    assert out["NEW"] is None

    upd = lam.update_function_configuration(
        FunctionName=fn_name, MemorySize=512, Timeout=30, Description="updated",
        Environment={"Variables": {"NEW": "2"}}, EphemeralStorage={"Size": 10240}, Runtime="python3.11",
    )
    assert upd["MemorySize"] == 512
    assert upd["Timeout"] == 30
    assert upd["Description"] == "updated"
    assert upd["Environment"] == {"Variables": {"NEW": "2"}}, "Environment must be replaced, not merged"
    assert upd["EphemeralStorage"] == {"Size": 10240}
    assert upd["RevisionId"] != created["RevisionId"]
    assert upd["CodeSha256"] == created["CodeSha256"]

    _, out = invoke_json(lam, fn_name, {"keys": ["OLD", "NEW", "KEEP", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE"]})
    assert out["OLD"] is None
    assert out["KEEP"] is None
    assert out["NEW"] == "2"
    assert out["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "512"
    assert str(out["memory"]) == "512"
    assert 0 < out["remaining"] <= 30_000

    cfg = lam.get_function_configuration(FunctionName=fn_name)
    assert (cfg["MemorySize"], cfg["Timeout"], cfg["Description"]) == (512, 30, "updated")
    assert cfg["RevisionId"] not in (upd["RevisionId"], created["RevisionId"]), "a completed update is a revision"

    lam.update_function_configuration(FunctionName=fn_name, Handler="other.main")
    assert invoke_json(lam, fn_name)[1] == "other"


def test_update_configuration_revision_id_precondition(lam: Any, create_function: Any, fn_name: str) -> None:
    create_function(fn_name, {"app.py": ECHO})
    active = wait_active(lam, fn_name)["RevisionId"]  # the revision changes when the function becomes Active
    lam.update_function_configuration(FunctionName=fn_name, Description="a", RevisionId=active)
    e = expect_error(lam.update_function_configuration, "PreconditionFailedException", 412,
                     FunctionName=fn_name, Description="stale", RevisionId=active)
    assert e.response["Error"]["Message"]
    first = lam.get_function_configuration(FunctionName=fn_name)  # and again when the update completes
    assert first["Description"] == "a"
    second = lam.update_function_configuration(FunctionName=fn_name, Description="b",
                                               RevisionId=first["RevisionId"])
    assert second["Description"] == "b"


def test_update_code_revision_id_precondition(lam: Any, create_function: Any, fn_name: str) -> None:
    create_function(fn_name, {"app.py": ECHO})
    wait_active(lam, fn_name)
    expect_error(lam.update_function_code, "PreconditionFailedException", 412, FunctionName=fn_name,
                 ZipFile=make_zip({"app.py": ECHO + "\n"}), RevisionId=str(uuid.uuid4()))


def test_delete_function(lam: Any, fn_name: str) -> None:
    lam.create_function(FunctionName=fn_name, Runtime="python3.11", Role=ROLE, Handler="app.handler",
                        Code={"ZipFile": make_zip({"app.py": ECHO})})
    wait_active(lam, fn_name)
    invoke_json(lam, fn_name, {"x": 1})
    resp = lam.delete_function(FunctionName=fn_name)
    assert resp["ResponseMetadata"]["HTTPStatusCode"] in (200, 204)
    expect_error(lam.get_function, "ResourceNotFoundException", 404, FunctionName=fn_name)
    expect_error(lam.invoke, "ResourceNotFoundException", 404, FunctionName=fn_name, Payload=b"{}")
    names = [f["FunctionName"] for p in lam.get_paginator("list_functions").paginate() for f in p["Functions"]]
    assert fn_name not in names
    # the name can be reused
    lam.create_function(FunctionName=fn_name, Runtime="python3.11", Role=ROLE, Handler="app.handler",
                        Code={"ZipFile": make_zip({"app.py": 'def handler(e, c):\n    return "again"\n'})})
    try:
        wait_active(lam, fn_name)
        assert invoke_json(lam, fn_name)[1] == "again"
    finally:
        lam.delete_function(FunctionName=fn_name)


def test_list_functions_pagination(lam: Any, create_function: Any, fn_name: str) -> None:
    names = {f"{fn_name[:50]}-{i}" for i in range(5)}
    for n in names:
        create_function(n, {"app.py": ECHO})

    seen: list[str] = []
    marker = None
    pages = 0
    while True:
        kwargs: dict[str, Any] = {"MaxItems": 2}
        if marker:
            kwargs["Marker"] = marker
        page = lam.list_functions(**kwargs)
        pages += 1
        assert len(page["Functions"]) <= 2
        seen.extend(f["FunctionName"] for f in page["Functions"])
        marker = page.get("NextMarker")
        if not marker:
            break
        assert pages < 1000
    assert len(seen) == len(set(seen)), "pagination returned duplicates"
    assert names <= set(seen)
    assert pages >= 3

    paged = []
    for page in lam.get_paginator("list_functions").paginate(PaginationConfig={"PageSize": 3}):
        assert len(page["Functions"]) <= 3
        paged.extend(page["Functions"])
    assert sorted(f["FunctionName"] for f in paged) == sorted(seen)
    entry = next(f for f in paged if f["FunctionName"] in names)
    assert entry["FunctionArn"] == arn(entry["FunctionName"])
    assert entry["Runtime"] == "python3.11"
    assert entry["Handler"] == "app.handler"
    assert re.match(LAST_MODIFIED_RE, entry["LastModified"])

    everything = lam.list_functions()
    assert "NextMarker" not in everything or len(everything["Functions"]) == 50
    assert names <= {f["FunctionName"] for f in lam.get_paginator("list_functions").paginate()
                     .build_full_result()["Functions"]}


def test_tags(lam: Any, create_function: Any, fn_name: str) -> None:
    create_function(fn_name, {"app.py": ECHO}, Tags={"a": "1"})
    resource = arn(fn_name)
    assert lam.list_tags(Resource=resource)["Tags"] == {"a": "1"}
    resp = lam.tag_resource(Resource=resource, Tags={"b": "2", "c": "3", "a": "one"})
    assert resp["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert lam.list_tags(Resource=resource)["Tags"] == {"a": "one", "b": "2", "c": "3"}
    resp = lam.untag_resource(Resource=resource, TagKeys=["a", "c"])
    assert resp["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert lam.list_tags(Resource=resource)["Tags"] == {"b": "2"}
    assert lam.get_function(FunctionName=fn_name)["Tags"] == {"b": "2"}


def test_tags_unknown_function(lam: Any) -> None:
    missing = arn("t-no-such-function-for-tags")
    expect_error(lam.list_tags, "ResourceNotFoundException", 404, Resource=missing)
    expect_error(lam.tag_resource, "ResourceNotFoundException", 404, Resource=missing, Tags={"a": "b"})


def test_get_account_settings(lam: Any, create_function: Any, fn_name: str) -> None:
    code = make_zip({"app.py": ECHO})
    create_function(fn_name, {"app.py": ECHO})
    settings = lam.get_account_settings()
    limit, usage = settings["AccountLimit"], settings["AccountUsage"]
    for key in ("TotalCodeSize", "CodeSizeUnzipped", "CodeSizeZipped", "ConcurrentExecutions",
                "UnreservedConcurrentExecutions"):
        assert isinstance(limit[key], int), key
    assert limit["CodeSizeZipped"] == 52_428_800
    assert limit["CodeSizeUnzipped"] == 262_144_000
    assert limit["ConcurrentExecutions"] > 0
    assert usage["FunctionCount"] >= 1
    assert usage["TotalCodeSize"] >= len(code)
    before = usage["FunctionCount"]
    create_function(fn_name + "-2", {"app.py": ECHO})
    assert lam.get_account_settings()["AccountUsage"]["FunctionCount"] == before + 1


def test_state_becomes_active_quickly(lam: Any, create_function: Any, fn_name: str) -> None:
    t0 = time.monotonic()
    create_function(fn_name, {"app.py": ECHO})
    lam.get_waiter("function_active_v2").wait(FunctionName=fn_name, WaiterConfig={"Delay": 1, "MaxAttempts": 15})
    assert time.monotonic() - t0 < 15
