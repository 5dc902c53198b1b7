"""Working out what an unserved request asks (service, protocol, operation), and the error shapes of their
protocols: pure, no server."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from nimbus.api import errors as wire
from nimbus.api.unserved import classify
from nimbus.errors import InvalidSignature, UnknownOperation

SERVED = {"lambda": "Lambda", "logs": "CloudWatch Logs", "sqs": "SQS"}


def test_a_json_target_names_its_operation_and_version() -> None:
    headers = {"x-amz-target": ["DynamoDB_20120810.ListTables"], "content-type": ["application/x-amz-json-1.0"]}
    asked = classify("POST", "/", "", headers, "dynamodb", SERVED)
    assert (asked.protocol, asked.json_version, asked.service, asked.operation) == ("json", "1.0", "DynamoDB",
                                                                                     "ListTables")  # fmt: skip
    assert not asked.served
    assert asked.error().message == (
        "Nimbus does not serve DynamoDB (dynamodb), so not ListTables: it serves Lambda, CloudWatch Logs and SQS."
    )


def test_a_rest_xml_operation_is_found_by_method_path_query_and_headers() -> None:
    def op(method: str, path: str, query: str = "", **headers: str) -> str:
        return classify(method, path, query, {k.replace("_", "-"): [v] for k, v in headers.items()}, "s3",
                        SERVED).operation  # fmt: skip

    assert op("GET", "/") == "ListBuckets"
    assert op("PUT", "/bucket/a/b.txt") == "PutObject"
    assert op("PUT", "/bucket/a/b.txt", x_amz_copy_source="/other/k") == "CopyObject"
    assert op("GET", "/bucket", "acl") == "GetBucketAcl"
    assert op("PATCH", "/nothing") == "PATCH /nothing"


def test_a_query_protocol_form_names_its_action_in_the_body() -> None:
    headers = {"content-type": ["application/x-www-form-urlencoded; charset=utf-8"]}
    asked = classify("POST", "/", "", headers, "sqs", SERVED)
    assert (asked.protocol, asked.served, asked.needs_body) == ("query", True, True)
    assert asked.with_body(b"Action=CreateQueue&QueueName=q&Version=2012-11-05").operation == "CreateQueue"
    assert "in its JSON protocol only, not CreateQueue in the query protocol" in asked.error().message


def test_an_action_in_the_query_string_is_enough() -> None:
    asked = classify("GET", "/", "Action=DescribeRegions&Version=2016-11-15", {}, "ec2", SERVED)
    assert (asked.protocol, asked.operation, asked.needs_body) == ("ec2", "DescribeRegions", False)


def test_without_models_a_few_protocols_are_still_known() -> None:
    assert classify("GET", "/", "", {}, "s3", SERVED, models=False).protocol == "rest-xml"
    assert classify("GET", "/", "", {}, "nosuchservice", SERVED).protocol == "rest-json"


def test_query_xml_error_shape() -> None:
    status, headers, body = wire.query_xml(UnknownOperation("no <such> & thing"), "rid-1")
    assert status == 400
    assert (b"content-type", b"text/xml") in headers
    root = ET.fromstring(body)
    ns = root.tag.partition("}")[0] + "}"
    assert root.find(f"{ns}Error/{ns}Type").text == "Sender"  # type: ignore[union-attr]
    assert root.find(f"{ns}Error/{ns}Code").text == "InvalidAction"  # type: ignore[union-attr]
    assert root.find(f"{ns}Error/{ns}Message").text == "no <such> & thing"  # type: ignore[union-attr]
    assert root.find(f"{ns}RequestId").text == "rid-1"  # type: ignore[union-attr]
    status, _, body = wire.query_xml(InvalidSignature("bad"), "rid-2")
    assert status == 403
    assert b"<Code>SignatureDoesNotMatch</Code>" in body


def test_s3_and_cbor_error_shapes() -> None:
    status, _, body = wire.rest_xml(UnknownOperation("nope"), "rid")
    assert status == 501
    root = ET.fromstring(body)
    assert (root.tag, root.findtext("Code"), root.findtext("Message")) == ("Error", "NotImplemented", "nope")
    status, headers, body = wire.rpc_v2_cbor(UnknownOperation("x" * 300))
    assert status == 400
    assert (b"smithy-protocol", b"rpc-v2-cbor") in headers
    assert body.startswith(b"\xa2\x66__type\x78\x19UnknownOperationException\x67message\x79\x01\x2c")
