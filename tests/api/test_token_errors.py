"""The session-token refusals in each protocol's own words: REST-JSON and JSON name them
`UnrecognizedClientException` / `ExpiredTokenException`, the query protocols (IAM, STS, SNS) `InvalidClientTokenId` /
`ExpiredToken`, and SQS's JSON carries the query code in `x-amzn-query-error`; all 403."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pytest

from nimbus.api import errors as wire
from nimbus.api.app import QueryErrorShape
from nimbus.api.authn import EXPIRED_TOKEN, INVALID_TOKEN
from nimbus.errors import ExpiredToken, UnrecognizedClient


@pytest.mark.parametrize(("exc", "name"), [(UnrecognizedClient(INVALID_TOKEN), "UnrecognizedClientException"),
                                           (ExpiredToken(EXPIRED_TOKEN), "ExpiredTokenException")])  # fmt: skip
def test_json_protocols(exc: Exception, name: str) -> None:
    status, headers, body = wire.rest_json(exc)
    assert (status, dict(headers)[b"x-amzn-errortype"].decode()) == (403, name)
    assert json.loads(body)["message"] == str(exc)
    status, _, body = wire.json_11(exc)
    assert (status, json.loads(body)["__type"]) == (403, name)


def test_sqs_json_carries_the_query_code() -> None:
    status, headers, body = wire.json_10(ExpiredToken(EXPIRED_TOKEN))
    assert status == 403
    assert dict(headers)[b"x-amzn-query-error"] == b"ExpiredToken;Sender"
    assert json.loads(body)["message"] == "The security token included in the request is expired"


@pytest.mark.parametrize("shape", [wire.iam_xml, wire.sts_xml, wire.sns_xml])
@pytest.mark.parametrize(("exc", "code"), [(UnrecognizedClient(INVALID_TOKEN), "InvalidClientTokenId"),
                                           (ExpiredToken(EXPIRED_TOKEN), "ExpiredToken")])  # fmt: skip
def test_query_protocols(shape: QueryErrorShape, exc: Exception, code: str) -> None:
    status, _, body = shape(exc, "req-1")
    root = ET.fromstring(body)
    ns = root.tag.partition("}")[0] + "}"
    assert status == 403
    assert root.findtext(f"{ns}Error/{ns}Code") == code
    assert root.findtext(f"{ns}Error/{ns}Message") == str(exc)
    assert root.findtext(f"{ns}Error/{ns}Type") == "Sender"
