"""The model-driven JSON protocol codec: validation from botocore's model, and serialization by output shape."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from botocore.model import Shape

from nimbus.api.jsonproto import JsonProtocol
from nimbus.api.sqs_api import SqsApi
from nimbus.errors import (
    InvalidAttributeName,
    InvalidRequestContent,
    NimbusError,
    SqsInvalidParameterValue,
    SqsMissingParameter,
    UnknownOperation,
    ValidationError,
)


@pytest.fixture(scope="module")
def sqs() -> JsonProtocol:
    return SqsApi(service=None).protocol  # type: ignore[arg-type]


def parse(proto: JsonProtocol, op: str, doc: Any) -> dict[str, Any]:
    return proto.parse(proto.operation(f"AmazonSQS.{op}"), json.dumps(doc).encode())


def test_operation_from_target(sqs: JsonProtocol) -> None:
    assert sqs.operation("AmazonSQS.SendMessage").name == "SendMessage"
    assert sqs.content_type == b"application/x-amz-json-1.0"
    for target in ("AmazonSQS.Nope", "Logs_20140328.GetLogEvents", ""):
        with pytest.raises(UnknownOperation):
            sqs.operation(target)


def test_required_members_use_the_services_error(sqs: JsonProtocol) -> None:
    with pytest.raises(SqsMissingParameter, match="MessageBody"):
        parse(sqs, "SendMessage", {"QueueUrl": "u"})
    with pytest.raises(SqsMissingParameter, match=r"Entries\.1\.Id"):
        parse(sqs, "SendMessageBatch", {"QueueUrl": "u", "Entries": [{"MessageBody": "x"}]})


@pytest.mark.parametrize(
    ("op", "doc"),
    [
        ("ReceiveMessage", {"QueueUrl": "u", "MaxNumberOfMessages": "10"}),  # integer as a string
        ("ReceiveMessage", {"QueueUrl": "u", "MaxNumberOfMessages": True}),  # a bool is not an integer
        ("SendMessage", {"QueueUrl": 5, "MessageBody": "x"}),
        ("SendMessageBatch", {"QueueUrl": "u", "Entries": {"Id": "x"}}),  # list expected
        ("CreateQueue", {"QueueName": "q", "Attributes": ["VisibilityTimeout"]}),  # map expected
        ("SendMessage", {"QueueUrl": "u", "MessageBody": "x",
                         "MessageAttributes": {"b": {"DataType": "Binary", "BinaryValue": "not base64!"}}}),
        ("SendMessage", {"QueueUrl": "u", "MessageBody": "x",
                         "MessageSystemAttributes": {"Other": {"DataType": "String", "StringValue": "v"}}}),  # enum key
    ],
)  # fmt: skip
def test_types_and_enums_are_checked(sqs: JsonProtocol, op: str, doc: dict[str, Any]) -> None:
    with pytest.raises(SqsInvalidParameterValue):
        parse(sqs, op, doc)


def test_enum_errors_can_be_named_by_shape_and_opened(sqs: JsonProtocol) -> None:
    with pytest.raises(InvalidAttributeName):
        parse(sqs, "GetQueueAttributes", {"QueueUrl": "u", "AttributeNames": ["Colour"]})
    # SQS takes message system attribute names in ReceiveMessage's (deprecated) AttributeNames
    assert parse(sqs, "ReceiveMessage", {"QueueUrl": "u", "AttributeNames": ["SentTimestamp"]})["AttributeNames"] == [
        "SentTimestamp"
    ]


def test_blobs_decode_and_unknown_members_drop(sqs: JsonProtocol) -> None:
    blob = {"DataType": "Binary", "BinaryValue": base64.b64encode(b"\0\1").decode()}
    doc = {"QueueUrl": "u", "MessageBody": "x", "Surprise": 1, "MessageAttributes": {"b": blob}}
    out = parse(sqs, "SendMessage", doc)
    assert out["MessageAttributes"]["b"]["BinaryValue"] == b"\0\1"
    assert "Surprise" not in out


def test_body_must_be_a_json_object(sqs: JsonProtocol) -> None:
    op = sqs.operation("AmazonSQS.ListQueues")
    assert sqs.parse(op, b"") == {}
    for body in (b"[1]", b"{not json", b'"x"'):
        with pytest.raises(InvalidRequestContent):
            sqs.parse(op, body)


def test_serialize_by_output_shape(sqs: JsonProtocol) -> None:
    op = sqs.operation("AmazonSQS.ReceiveMessage")
    out = {"Messages": [{"MessageId": "m", "Body": "b", "MD5OfMessageAttributes": None,
                         "MessageAttributes": {"b": {"DataType": "Binary", "BinaryValue": b"\xff"}}}]}  # fmt: skip
    doc = json.loads(sqs.serialize(op, out))
    attrs = {"b": {"DataType": "Binary", "BinaryValue": "/w=="}}
    assert doc == {"Messages": [{"MessageId": "m", "Body": "b", "MessageAttributes": attrs}]}
    assert sqs.serialize(sqs.operation("AmazonSQS.DeleteQueue"), None) == b"{}"


def test_constraints_from_the_model_with_default_errors() -> None:
    """min/max lengths, patterns (unanchored, as Smithy defines them) and ranges, on a model that has them (CloudWatch
    Logs, JSON 1.1)."""
    logs = JsonProtocol("logs")
    assert logs.content_type == b"application/x-amz-json-1.1"
    op = logs.operation("Logs_20140328.DescribeLogStreams")
    with pytest.raises(ValidationError, match="less than or equal to 50"):
        logs.parse(op, json.dumps({"logGroupName": "g", "limit": 51}).encode())
    with pytest.raises(ValidationError, match="greater than or equal to 1"):
        logs.parse(op, json.dumps({"logGroupName": "g", "limit": 0}).encode())
    with pytest.raises(ValidationError, match="regular expression"):
        logs.parse(op, json.dumps({"logGroupName": "!!!"}).encode())
    with pytest.raises(ValidationError, match="length greater than or equal to 1"):
        logs.parse(op, json.dumps({"logGroupName": ""}).encode())
    assert logs.parse(op, json.dumps({"logGroupName": "/aws/lambda/f", "limit": 50}).encode())["limit"] == 50


def test_factories_see_the_failing_shape() -> None:
    seen: list[str] = []

    def invalid(message: str, shape: Shape) -> NimbusError:
        seen.append(shape.name)
        return ValidationError(message)

    proto = JsonProtocol("sqs", invalid=invalid)
    with pytest.raises(ValidationError):
        proto.parse(proto.operation("AmazonSQS.ListQueues"), b'{"MaxResults": "x"}')
    assert seen == ["BoxedInteger"]


def test_a_pattern_must_match_the_whole_value_as_aws_checks_it() -> None:
    """AWS matches a member against its model pattern whole (Java's `matches`): a valid part is not enough."""
    proto = JsonProtocol("lambda", camel_paths=True)
    assert proto.validate("GetFunctionUrlConfig", {"FunctionName": "my-function"})
    with pytest.raises(ValidationError, match="at 'functionName' failed to satisfy constraint: Member must satisfy"):
        proto.validate("GetFunctionUrlConfig", {"FunctionName": "my function!"})


# ---- Lambda's words: every violation at once, lists and maps as one violation each ----


@pytest.fixture(scope="module")
def lam() -> JsonProtocol:
    return JsonProtocol("lambda", camel_paths=True, aggregate=True)


def _message(proto: JsonProtocol, op: str, value: dict[str, Any]) -> str:
    with pytest.raises(ValidationError) as info:
        proto.validate(op, value)
    return str(info.value)


def test_every_violation_is_reported_in_one_error(lam: JsonProtocol) -> None:
    message = _message(lam, "CreateAlias", {"FunctionName": "f", "Name": "123", "FunctionVersion": "x"})
    assert message == (
        "2 validation errors detected: Value '123' at 'name' failed to satisfy constraint: Member must satisfy "
        "regular expression pattern: (?!^[0-9]+$)([a-zA-Z0-9-_]+); Value 'x' at 'functionVersion' failed to "
        "satisfy constraint: Member must satisfy regular expression pattern: (\\$LATEST(\\.PUBLISHED)?|[0-9]+)"
    )
    assert _message(lam, "CreateAlias", {"FunctionName": "f", "FunctionVersion": "1"}) == (
        "1 validation error detected: Value null at 'name' failed to satisfy constraint: Member must not be null"
    )


def test_an_integer_out_of_range_is_quoted_as_the_integer_it_is(lam: JsonProtocol) -> None:
    """Compiled with mypyc, a parameter annotated `float` turns an int into a float: the message said '-1.0'."""
    message = _message(lam, "PutFunctionConcurrency", {"FunctionName": "f", "ReservedConcurrentExecutions": -1})
    assert message == (
        "1 validation error detected: Value '-1' at 'reservedConcurrentExecutions' failed to satisfy constraint: "
        "Member must have value greater than or equal to 0"
    )


def test_a_lists_members_are_one_violation_at_the_list(lam: JsonProtocol) -> None:
    message = _message(lam, "PublishLayerVersion", {"LayerName": "l", "Content": {}, "CompatibleRuntimes": ["cobol"]})
    assert message.startswith(
        "1 validation error detected: Value '[cobol]' at 'compatibleRuntimes' failed to satisfy constraint: "
        "Member must satisfy constraint: [Member must satisfy enum value set: [nodejs, nodejs4.3, "
    ), message
    two = _message(lam, "CreateFunction", {"FunctionName": "f", "Role": "arn:aws:iam::000000000000:role/r",
                                           "Code": {}, "Architectures": ["x86_64", "arm64"]})  # fmt: skip
    assert two == (
        "1 validation error detected: Value '[x86_64, arm64]' at 'architectures' failed to satisfy constraint: "
        "Member must have length less than or equal to 1"
    )


def test_a_maps_values_are_one_violation_at_the_map(lam: JsonProtocol) -> None:
    routing = {"AdditionalVersionWeights": {"2": 2}}
    assert _message(lam, "UpdateAlias", {"FunctionName": "f", "Name": "live", "RoutingConfig": routing}) == (
        "1 validation error detected: Value '{2=2.0}' at 'routingConfig.additionalVersionWeights' failed to satisfy "
        "constraint: Map value must satisfy constraint: [Member must have value less than or equal to 1.0]"
    )


def test_other_services_keep_the_first_violation(sqs: JsonProtocol) -> None:
    with pytest.raises(SqsInvalidParameterValue) as info:
        parse(sqs, "ReceiveMessage", {"QueueUrl": "u", "MaxNumberOfMessages": "10", "WaitTimeSeconds": "x"})
    assert str(info.value).startswith("1 validation error detected: Value '10' at 'MaxNumberOfMessages'")
