"""Scheduler's wire in process: requests serialized by botocore's own REST-JSON serializer (as boto3 sends them)
are parsed by `RestJsonProtocol("scheduler")` into the model's member names; answers and errors are parsed back by
botocore's own parser (as boto3 reads them), and key pagination survives deletions between pages."""

from __future__ import annotations

import base64
import datetime as dt
import json
from typing import Any
from urllib.parse import urlencode, urlsplit

import pytest
from botocore.parsers import create_parser
from botocore.serialize import create_serializer

from nimbus.api import errors as wire
from nimbus.api.http import Request, Router
from nimbus.api.restjson import RestJsonProtocol
from nimbus.api.scheduler_api import _page
from nimbus.errors import (
    QuotaExceeded,
    ResourceConflict,
    ResourceNotFound,
    ServiceError,
    UnrecognizedClient,
    ValidationError,
)

PROTOCOL = RestJsonProtocol("scheduler")
ROLE = "arn:aws:iam::000000000000:role/r"
QUEUE = "arn:aws:sqs:us-east-1:000000000000:q"


def through_botocore(operation: str, params: dict[str, Any]) -> dict[str, Any]:
    """Serialize `params` as boto3 would, route the request on a router of the model's routes, and parse it."""
    op = PROTOCOL.operation(operation)
    sent = create_serializer("rest-json").serialize_to_request(params, op)
    path = sent["url_path"]
    query = urlencode(sent["query_string"], doseq=True) if sent["query_string"] else ""
    router = Router()
    method, template = PROTOCOL.route(operation)
    router.add(method, template, None, operation, service="scheduler")  # type: ignore[arg-type]
    match = router.match(sent["method"], urlsplit(path).path)
    assert match is not None, (sent["method"], path)
    body = sent["body"] if isinstance(sent["body"], bytes) else sent["body"].encode()
    return PROTOCOL.parse(operation, Request(sent["method"], path, query, {}, body, "rid", match[1]))


def test_create_schedule_as_boto3_sends_it() -> None:
    start = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)
    got = through_botocore("CreateSchedule", {
        "Name": "nightly", "GroupName": "g", "ScheduleExpression": "cron(0 2 * * ? *)", "StartDate": start,
        "FlexibleTimeWindow": {"Mode": "FLEXIBLE", "MaximumWindowInMinutes": 10}, "ClientToken": "t-1",
        "Target": {"Arn": QUEUE, "RoleArn": ROLE, "Input": "{}", "RetryPolicy": {"MaximumRetryAttempts": 0}},
    })  # fmt: skip
    assert got["Name"] == "nightly"
    assert got["GroupName"] == "g"
    assert got["ClientToken"] == "t-1"
    assert got["StartDate"] == start.timestamp()
    assert got["Target"]["RetryPolicy"] == {"MaximumRetryAttempts": 0}
    assert got["FlexibleTimeWindow"] == {"Mode": "FLEXIBLE", "MaximumWindowInMinutes": 10}


def test_query_string_members_and_uri_labels() -> None:
    assert through_botocore("GetSchedule", {"Name": "n", "GroupName": "g"}) == {"Name": "n", "GroupName": "g"}
    got = through_botocore("ListSchedules", {"GroupName": "g", "NamePrefix": "a", "State": "ENABLED", "MaxResults": 5})
    assert got == {"GroupName": "g", "NamePrefix": "a", "State": "ENABLED", "MaxResults": 5}
    arn = "arn:aws:scheduler:us-east-1:000000000000:schedule-group/g"
    assert through_botocore("UntagResource", {"ResourceArn": arn, "TagKeys": ["a", "b"]}) == {
        "ResourceArn": arn, "TagKeys": ["a", "b"]}  # fmt: skip


@pytest.mark.parametrize(
    ("params", "words"),
    [
        ({"Name": "n" * 65}, "length less than or equal to 64"),
        ({"Name": "a b"}, "regular expression pattern"),
        ({"FlexibleTimeWindow": {"Mode": "FLEXIBLE", "MaximumWindowInMinutes": 1441}}, "less than or equal to 1440"),
        ({"Target": {"Arn": QUEUE, "RoleArn": ROLE, "RetryPolicy": {"MaximumEventAgeInSeconds": 59}}},
         "greater than or equal to 60"),
        ({"Target": {"Arn": QUEUE, "RoleArn": "role"}}, "roleArn"),
    ],
)
def test_the_model_refuses(params: dict[str, Any], words: str) -> None:
    base = {"Name": "n", "ScheduleExpression": "rate(1 day)", "FlexibleTimeWindow": {"Mode": "OFF"},
            "Target": {"Arn": QUEUE, "RoleArn": ROLE}}  # fmt: skip
    body = {k: v for k, v in (base | params).items() if k != "Name"}
    req = Request("POST", "/schedules/x", "", {}, json.dumps(body).encode(), "rid", {"Name": (base | params)["Name"]})
    with pytest.raises(ValidationError) as exc:
        PROTOCOL.parse("CreateSchedule", req)
    assert words in exc.value.message


def test_answers_parse_in_botocore() -> None:
    created = dt.datetime(2026, 11, 30, 12, 0, tzinfo=dt.UTC)
    resp = PROTOCOL.respond("GetSchedule", {
        "Arn": "arn:aws:scheduler:us-east-1:000000000000:schedule/default/n", "Name": "n", "GroupName": "default",
        "CreationDate": created.timestamp(), "State": "ENABLED", "ScheduleExpression": "rate(1 day)",
        "FlexibleTimeWindow": {"Mode": "OFF"}, "Target": {"Arn": QUEUE, "RoleArn": ROLE}, "Description": None,
    })  # fmt: skip
    parsed = create_parser("rest-json").parse(
        {"status_code": resp.status, "headers": dict((k.decode(), v.decode()) for k, v in resp.headers),
         "body": resp.body}, PROTOCOL.operation("GetSchedule").output_shape)  # fmt: skip
    assert parsed["CreationDate"] == created
    assert parsed["Name"] == "n"
    assert "Description" not in parsed


@pytest.mark.parametrize(
    ("exc", "name", "status"),
    [
        (ResourceNotFound("Schedule n does not exist."), "ResourceNotFoundException", 404),
        (ValidationError("bad"), "ValidationException", 400),
        (ResourceConflict("Schedule n already exists."), "ConflictException", 409),
        (QuotaExceeded("too many"), "ServiceQuotaExceededException", 402),
        (ServiceError("ours"), "InternalServerException", 500),
        (RuntimeError("a bug"), "InternalServerException", 500),
        (UnrecognizedClient("who?"), "UnrecognizedClientException", 403),
    ],
)
def test_errors_in_schedulers_shape(exc: Exception, name: str, status: int) -> None:
    got_status, headers, body = wire.scheduler_json(exc)
    assert got_status == status
    parsed = create_parser("rest-json").parse(
        {"status_code": status, "headers": dict((k.decode(), v.decode()) for k, v in headers), "body": body},
        None,
    )  # fmt: skip
    assert parsed["Error"]["Code"] == name
    assert json.loads(body) == {"Message": parsed["Error"]["Message"]}


def test_key_pagination_survives_deletions_between_pages() -> None:
    items = [f"s{i}" for i in range(5)]
    page, token = _page(items, str, {"MaxResults": 2})
    assert page == ["s0", "s1"]
    assert token is not None
    items.remove("s2")  # deleted between calls: the next page starts at the first item at or past the token
    page, token = _page(items, str, {"MaxResults": 2, "NextToken": token})
    assert page == ["s3", "s4"]
    assert token is None
    assert _page(items, str, {})[1] is None
    with pytest.raises(ValidationError):
        _page(items, str, {"NextToken": "%%%"})
    assert _page(items, str, {"NextToken": base64.urlsafe_b64encode(b"zz").decode()}) == ([], None)
