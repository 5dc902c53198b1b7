"""The query-protocol codec against botocore's own query serializer and XML parser: what boto3 sends parses back to
the same input, and what we answer boto3 reads back to the same output — the proof of boto3 compatibility."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import pytest
from botocore.parsers import create_parser
from botocore.serialize import create_serializer

from nimbus.api.queryproto import QueryProtocol, parse_form, xml_text
from nimbus.errors import InvalidParameter, UnknownOperation

SNS = QueryProtocol("sns")
TOPIC = "arn:aws:sns:us-east-1:000000000000:orders"


def boto_form(op_name: str, params: dict[str, Any]) -> bytes:
    """The form body botocore sends for `params` (query serializer, url-encoded as its HTTP layer does)."""
    request = create_serializer("query").serialize_to_request(params, SNS.model.operation_model(op_name))
    return urlencode(request["body"]).encode()


def boto_read(op_name: str, body: bytes) -> dict[str, Any]:
    """What botocore's query parser makes of our XML."""
    op = SNS.model.operation_model(op_name)
    parsed = create_parser("query").parse({"body": body, "headers": {}, "status_code": 200}, op.output_shape)
    parsed.pop("ResponseMetadata", None)
    return parsed  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    ("op_name", "params"),
    [
        ("CreateTopic", {"Name": "orders", "Attributes": {"DisplayName": "Orders & <co>", "FifoTopic": "false"},
                         "Tags": [{"Key": "team", "Value": "a"}, {"Key": "env", "Value": "dev"}]}),
        ("Publish", {"TopicArn": TOPIC, "Message": "héllo\r\nworld", "Subject": "s",
                     "MessageAttributes": {"color": {"DataType": "String", "StringValue": "red"},
                                           "n": {"DataType": "Number", "StringValue": "3.5"},
                                           "b": {"DataType": "Binary", "BinaryValue": b"\x00\xff"}}}),
        ("PublishBatch", {"TopicArn": TOPIC, "PublishBatchRequestEntries": [
            {"Id": "1", "Message": "a", "MessageAttributes": {"k": {"DataType": "String", "StringValue": "v"}}},
            {"Id": "2", "Message": "b", "Subject": "t"}]}),
        ("Subscribe", {"TopicArn": TOPIC, "Protocol": "sqs", "Endpoint": "arn:aws:sqs:us-east-1:000000000000:q",
                       "Attributes": {"RawMessageDelivery": "true", "FilterPolicy": '{"a": ["b"]}'},
                       "ReturnSubscriptionArn": True}),
        ("UntagResource", {"ResourceArn": TOPIC, "TagKeys": ["a", "b"]}),
        ("UntagResource", {"ResourceArn": TOPIC, "TagKeys": []}),
        ("ListTopics", {}),
        ("ConfirmSubscription", {"TopicArn": TOPIC, "Token": "t", "AuthenticateOnUnsubscribe": "true"}),
    ],
)  # fmt: skip
def test_a_boto3_request_parses_back_to_its_input(op_name: str, params: dict[str, Any]) -> None:
    fields = parse_form(boto_form(op_name, params))
    op = SNS.operation(fields)
    assert op.name == op_name
    assert SNS.parse(op, fields) == params


@pytest.mark.parametrize(
    ("op_name", "output"),
    [
        ("CreateTopic", {"TopicArn": TOPIC}),
        ("ListTopics", {"Topics": [{"TopicArn": TOPIC}, {"TopicArn": TOPIC + "2"}], "NextToken": "abc"}),
        ("ListTopics", {"Topics": []}),
        ("GetTopicAttributes", {"Attributes": {"Policy": '{"a": "<&>"}', "DisplayName": "x\r\ny"}}),
        ("PublishBatch", {"Successful": [{"Id": "1", "MessageId": "m1"}],
                          "Failed": [{"Id": "2", "Code": "InvalidParameter", "Message": "no", "SenderFault": True}]}),
        ("ListTagsForResource", {"Tags": [{"Key": "k", "Value": "v"}]}),
        ("ListSubscriptionsByTopic", {"Subscriptions": [{"SubscriptionArn": TOPIC + ":1", "Owner": "0",
                                      "Protocol": "lambda", "Endpoint": "e", "TopicArn": TOPIC}]}),
        ("Publish", {"MessageId": "m"}),
    ],
)  # fmt: skip
def test_our_xml_reads_back_in_boto3_as_the_output(op_name: str, output: dict[str, Any]) -> None:
    body = SNS.serialize(SNS.model.operation_model(op_name), output, "req-1")
    assert body.startswith(b'<?xml version="1.0" encoding="UTF-8"?>\n<' + op_name.encode() + b"Response xmlns=")
    assert boto_read(op_name, body) == output


def test_an_operation_without_output_answers_response_metadata_only() -> None:
    op = SNS.model.operation_model("DeleteTopic")
    body = SNS.serialize(op, None, "rid")
    assert b"<ResponseMetadata><RequestId>rid</RequestId></ResponseMetadata></DeleteTopicResponse>" in body
    parsed = create_parser("query").parse({"body": body, "headers": {}, "status_code": 200}, op.output_shape)
    assert parsed["ResponseMetadata"]["RequestId"] == "rid"


def test_unknown_or_missing_actions_are_unknown_operations() -> None:
    with pytest.raises(UnknownOperation, match="does not implement Frobnicate"):
        SNS.operation({"Action": "Frobnicate"})
    with pytest.raises(UnknownOperation, match=r"\(no Action\)"):
        SNS.operation({})


def test_model_violations_are_invalid_parameter() -> None:
    op = SNS.model.operation_model("Publish")
    with pytest.raises(InvalidParameter, match="Invalid parameter: Message"):
        SNS.parse(op, {"Action": "Publish", "TopicArn": TOPIC})
    op = SNS.model.operation_model("Subscribe")
    with pytest.raises(InvalidParameter, match="must be a boolean"):
        SNS.parse(op, {"TopicArn": TOPIC, "Protocol": "sqs", "ReturnSubscriptionArn": "perhaps"})
    op = SNS.model.operation_model("Publish")
    with pytest.raises(InvalidParameter, match="base64"):
        SNS.parse(op, {"Message": "m", "MessageAttributes.entry.1.Name": "b",
                       "MessageAttributes.entry.1.Value.DataType": "Binary",
                       "MessageAttributes.entry.1.Value.BinaryValue": "!!"})  # fmt: skip


def test_query_string_and_body_both_count_and_the_body_wins() -> None:
    fields = parse_form(b"Action=Publish&Message=body", "Action=ListTopics&TopicArn=x")
    assert fields == {"Action": "Publish", "Message": "body", "TopicArn": "x"}


def test_too_many_fields_are_refused() -> None:
    with pytest.raises(InvalidParameter, match="too many parameters"):
        parse_form(b"&".join(b"a%d=1" % i for i in range(5001)))
    assert len(parse_form(b"&".join(b"a%d=1" % i for i in range(5000)))) == 5000


def test_xml_text_escapes_markup_and_keeps_carriage_returns() -> None:
    assert xml_text("a&b<c>d\re") == "a&amp;b&lt;c&gt;d&#13;e"
