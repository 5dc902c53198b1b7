"""The SNS API through boto3's `sns` client (the query protocol, XML answers) and the AWS CLI, against the real
server: every operation, SNS's wire errors by name and status as botocore models them, and each limit at the limit
and one past (256 KB with attributes, 10 per batch, 100-character subjects, 256-character topic names)."""

from __future__ import annotations

import contextlib
import json
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from e2e_support import ACCOUNT, REGION, aws_cli, expect_error, raw_client

TOPIC_PREFIX = f"arn:aws:sns:{REGION}:{ACCOUNT}:"
QUEUE = f"arn:aws:sqs:{REGION}:{ACCOUNT}:"
FN = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:"


@pytest.fixture
def sns(server: Any) -> Any:
    return server.client("sns")


@pytest.fixture
def raw(server: Any) -> Any:
    """Client-side validation off, so out-of-range values reach the server."""
    return raw_client(server, "sns")


@pytest.fixture
def topic(sns: Any, request: pytest.FixtureRequest) -> Iterator[str]:
    name = ("t-" + request.node.name.replace("[", "-").replace("]", "").replace("_", "-"))[:200]
    arn = sns.create_topic(Name=name)["TopicArn"]
    yield arn
    sns.delete_topic(TopicArn=arn)


# ---- topics ---------------------------------------------------------------------------------------------------------


def test_topic_lifecycle(sns: Any) -> None:
    arn = sns.create_topic(Name="lifecycle", Attributes={"DisplayName": "Life & <times>"},
                           Tags=[{"Key": "team", "Value": "a"}])["TopicArn"]  # fmt: skip
    assert arn == TOPIC_PREFIX + "lifecycle"
    assert sns.create_topic(Name="lifecycle")["TopicArn"] == arn  # idempotent
    attrs = sns.get_topic_attributes(TopicArn=arn)["Attributes"]
    assert attrs["DisplayName"] == "Life & <times>"
    assert (attrs["TopicArn"], attrs["Owner"], attrs["SubscriptionsConfirmed"]) == (arn, ACCOUNT, "0")
    assert json.loads(attrs["Policy"])["Statement"][0]["Resource"] == arn
    sns.set_topic_attributes(TopicArn=arn, AttributeName="DeliveryPolicy", AttributeValue='{"http": {}}')
    assert sns.get_topic_attributes(TopicArn=arn)["Attributes"]["DeliveryPolicy"] == '{"http": {}}'
    assert {"TopicArn": arn} in sns.list_topics()["Topics"]
    sns.delete_topic(TopicArn=arn)
    sns.delete_topic(TopicArn=arn)  # deleting a topic that is gone is no error, as on SNS
    assert {"TopicArn": arn} not in sns.list_topics()["Topics"]


def test_list_topics_pages_by_100(sns: Any) -> None:
    arns = [sns.create_topic(Name=f"page-{i:03d}")["TopicArn"] for i in range(120)]
    try:
        first = sns.list_topics()
        assert len(first["Topics"]) == 100
        assert "NextToken" in first
        rest = sns.list_topics(NextToken=first["NextToken"])
        seen = [t["TopicArn"] for t in first["Topics"] + rest["Topics"]]
        assert set(arns) <= set(seen)
        paged = [t["TopicArn"] for p in sns.get_paginator("list_topics").paginate() for t in p["Topics"]]
        assert paged == seen
        expect_error(sns.list_topics, "InvalidParameter", 400, NextToken="not-a-token")
    finally:
        for arn in arns:
            sns.delete_topic(TopicArn=arn)


def test_topic_names_at_and_past_the_limit(sns: Any) -> None:
    arn = sns.create_topic(Name="n" * 256)["TopicArn"]
    sns.delete_topic(TopicArn=arn)
    for bad in ("n" * 257, "bad name", "x.fifo"):
        err = expect_error(sns.create_topic, "InvalidParameter", 400, Name=bad)
        assert isinstance(err, sns.exceptions.InvalidParameterException)
    err = expect_error(sns.create_topic, "InvalidParameter", 400, Name="f.fifo", Attributes={"FifoTopic": "true"})
    assert "FIFO" in err.response["Error"]["Message"]


def test_tags(sns: Any, topic: str) -> None:
    sns.tag_resource(ResourceArn=topic, Tags=[{"Key": "a", "Value": "1"}, {"Key": "b", "Value": "2"}])
    sns.untag_resource(ResourceArn=topic, TagKeys=["a"])
    assert sns.list_tags_for_resource(ResourceArn=topic)["Tags"] == [{"Key": "b", "Value": "2"}]
    sns.tag_resource(ResourceArn=topic, Tags=[{"Key": f"k{i}", "Value": "v"} for i in range(49)])
    expect_error(sns.tag_resource, "InvalidParameter", 400, ResourceArn=topic, Tags=[{"Key": "x", "Value": "v"}])
    err = expect_error(sns.list_tags_for_resource, "NotFound", 404, ResourceArn=topic + "-missing")
    assert isinstance(err, sns.exceptions.NotFoundException)


# ---- subscriptions --------------------------------------------------------------------------------------------------


def test_subscription_lifecycle(sns: Any, topic: str) -> None:
    attributes = {"RawMessageDelivery": "true", "FilterPolicy": '{"k": ["v"]}'}
    sub = sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=QUEUE + "somewhere", Attributes=attributes)[
        "SubscriptionArn"
    ]
    assert sub.startswith(topic + ":")
    fn_sub = sns.subscribe(TopicArn=topic, Protocol="lambda", Endpoint=FN + "f")["SubscriptionArn"]
    attrs = sns.get_subscription_attributes(SubscriptionArn=sub)["Attributes"]
    assert (attrs["RawMessageDelivery"], attrs["FilterPolicyScope"], attrs["PendingConfirmation"]) == (
        "true", "MessageAttributes", "false")  # fmt: skip
    sns.set_subscription_attributes(SubscriptionArn=sub, AttributeName="FilterPolicyScope",
                                    AttributeValue="MessageBody")  # fmt: skip
    assert sns.get_subscription_attributes(SubscriptionArn=sub)["Attributes"]["FilterPolicyScope"] == "MessageBody"
    listed = sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]
    assert {s["SubscriptionArn"] for s in listed} == {sub, fn_sub}
    assert {s["Protocol"] for s in listed} == {"sqs", "lambda"}
    assert {sub, fn_sub} <= {s["SubscriptionArn"] for s in sns.list_subscriptions()["Subscriptions"]}
    assert sns.get_topic_attributes(TopicArn=topic)["Attributes"]["SubscriptionsConfirmed"] == "2"
    sns.unsubscribe(SubscriptionArn=fn_sub)
    assert sns.get_topic_attributes(TopicArn=topic)["Attributes"]["SubscriptionsDeleted"] == "1"
    expect_error(sns.unsubscribe, "NotFound", 404, SubscriptionArn=fn_sub)
    expect_error(sns.get_subscription_attributes, "NotFound", 404, SubscriptionArn=fn_sub)


def test_subscribe_errors(sns: Any, topic: str) -> None:
    expect_error(sns.subscribe, "NotFound", 404, TopicArn=topic + "-missing", Protocol="sqs", Endpoint=QUEUE + "q")
    expect_error(sns.subscribe, "InvalidParameter", 400, TopicArn=topic, Protocol="email", Endpoint="a@b.example")
    expect_error(sns.subscribe, "InvalidParameter", 400, TopicArn=topic, Protocol="lambda", Endpoint=FN + "f",
                 Attributes={"RawMessageDelivery": "true"})  # fmt: skip
    expect_error(sns.subscribe, "InvalidParameter", 400, TopicArn=topic, Protocol="sqs", Endpoint=QUEUE + "q",
                 Attributes={"FilterPolicy": "{not json"})  # fmt: skip
    expect_error(sns.confirm_subscription, "InvalidParameter", 400, TopicArn=topic, Token="nope")


def test_an_http_subscription_is_pending_until_confirmed(sns: Any, topic: str) -> None:
    resp = sns.subscribe(TopicArn=topic, Protocol="http", Endpoint="http://127.0.0.1:9/unreachable")
    assert resp["SubscriptionArn"] == "pending confirmation"
    arn = sns.subscribe(TopicArn=topic, Protocol="http", Endpoint="http://127.0.0.1:9/unreachable",
                        ReturnSubscriptionArn=True)["SubscriptionArn"]  # fmt: skip
    assert arn.startswith(topic + ":")
    [listed] = sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]
    assert listed["SubscriptionArn"] == "PendingConfirmation"
    assert sns.get_subscription_attributes(SubscriptionArn=arn)["Attributes"]["PendingConfirmation"] == "true"


# ---- publishing -----------------------------------------------------------------------------------------------------


def test_publish_and_its_limits(sns: Any, raw: Any, topic: str) -> None:
    attrs = {"k": {"DataType": "String", "StringValue": "v"}}
    room = 262_144 - len("k") - len("String") - len("v")
    assert sns.publish(TopicArn=topic, Message="x" * room, MessageAttributes=attrs)["MessageId"]
    expect_error(
        sns.publish, "InvalidParameter", 400, TopicArn=topic, Message="x" * (room + 1), MessageAttributes=attrs
    )
    assert sns.publish(TargetArn=topic, Message="m", Subject="s" * 100)["MessageId"]
    expect_error(sns.publish, "InvalidParameter", 400, TopicArn=topic, Message="m", Subject="s" * 101)
    expect_error(raw.publish, "InvalidParameter", 400, TopicArn=topic)  # no Message
    expect_error(sns.publish, "InvalidParameter", 400, Message="m")  # no topic
    expect_error(sns.publish, "InvalidParameter", 400, TopicArn=topic, TargetArn=topic, Message="m")
    expect_error(sns.publish, "InvalidParameter", 400, TopicArn=topic, Message="m", MessageDeduplicationId="d")
    err = expect_error(sns.publish, "NotFound", 404, TopicArn=topic + "-missing", Message="m")
    assert err.response["Error"]["Message"] == "Topic does not exist"
    err = expect_error(sns.publish, "ParameterValueInvalid", 400, TopicArn=topic, Message="m",
                       MessageAttributes={"n": {"DataType": "Number", "StringValue": "NaN-ish"}})  # fmt: skip
    assert isinstance(err, sns.exceptions.InvalidParameterValueException)
    eleven = {f"a{i}": {"DataType": "String", "StringValue": "v"} for i in range(11)}
    expect_error(sns.publish, "ParameterValueInvalid", 400, TopicArn=topic, Message="m", MessageAttributes=eleven)
    expect_error(sns.publish, "InvalidParameter", 400, TopicArn=topic, Message='{"sqs": "x"}', MessageStructure="json")
    assert sns.publish(TopicArn=topic, Message='{"default": "d"}', MessageStructure="json")["MessageId"]


def test_publish_batch_and_its_limits(sns: Any, raw: Any, topic: str) -> None:
    entries = [{"Id": f"e{i}", "Message": f"m{i}"} for i in range(10)]
    entries[4]["Subject"] = "s" * 101
    out = sns.publish_batch(TopicArn=topic, PublishBatchRequestEntries=entries)
    assert [s["Id"] for s in out["Successful"]] == [f"e{i}" for i in range(10) if i != 4]
    assert [(f["Id"], f["Code"], f["SenderFault"]) for f in out["Failed"]] == [("e4", "InvalidParameter", True)]
    eleven = [{"Id": f"e{i}", "Message": "m"} for i in range(11)]
    err = expect_error(sns.publish_batch, "TooManyEntriesInBatchRequest", 400, TopicArn=topic,
                       PublishBatchRequestEntries=eleven)  # fmt: skip
    assert isinstance(err, sns.exceptions.TooManyEntriesInBatchRequestException)
    expect_error(raw.publish_batch, "EmptyBatchRequest", 400, TopicArn=topic, PublishBatchRequestEntries=[])
    expect_error(sns.publish_batch, "BatchEntryIdsNotDistinct", 400, TopicArn=topic,
                 PublishBatchRequestEntries=[{"Id": "a", "Message": "1"}, {"Id": "a", "Message": "2"}])  # fmt: skip
    expect_error(sns.publish_batch, "InvalidBatchEntryId", 400, TopicArn=topic,
                 PublishBatchRequestEntries=[{"Id": "a:b", "Message": "1"}])  # fmt: skip
    half = 262_144 // 2
    sns.publish_batch(TopicArn=topic, PublishBatchRequestEntries=[
        {"Id": "a", "Message": "x" * half}, {"Id": "b", "Message": "y" * half}])  # fmt: skip
    expect_error(sns.publish_batch, "BatchRequestTooLong", 400, TopicArn=topic, PublishBatchRequestEntries=[
        {"Id": "a", "Message": "x" * half}, {"Id": "b", "Message": "y" * (half + 1)}])  # fmt: skip
    expect_error(sns.publish_batch, "NotFound", 404, TopicArn=topic + "-missing", PublishBatchRequestEntries=entries)


# ---- the wire -------------------------------------------------------------------------------------------------------


def test_an_operation_nimbus_does_not_implement_is_invalid_action(sns: Any) -> None:
    err = expect_error(sns.list_platform_applications, "InvalidAction", 400)
    assert "ListPlatformApplications" in err.response["Error"]["Message"]


def test_a_bad_key_is_refused_in_snss_shape(server: Any) -> None:
    bad = server.client("sns", access_key="nobody", secret_key="x")
    expect_error(bad.list_topics, "InvalidClientTokenId", 403)
    wrong = server.client("sns", secret_key="wrong")
    expect_error(wrong.list_topics, "SignatureDoesNotMatch", 403)


def test_the_signing_certificate_is_served_without_credentials(server: Any) -> None:
    with urllib.request.urlopen(f"{server.endpoint}/_nimbus/sns/SimpleNotificationService.pem", timeout=10) as r:
        assert r.read().startswith(b"-----BEGIN CERTIFICATE-----")


def test_an_unsigned_get_of_other_actions_is_refused(server: Any, topic: str) -> None:
    req = urllib.request.Request(f"{server.endpoint}/?Action=ListTopics")
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(req, timeout=10)
    assert info.value.code in (400, 403)


# ---- the AWS CLI ----------------------------------------------------------------------------------------------------


def test_the_aws_cli(server: Any, sns: Any) -> None:
    created = json.loads(aws_cli(server, "sns", "create-topic", "--name", "cli-topic",
                                 "--attributes", "DisplayName=CLI").stdout)  # fmt: skip
    arn = created["TopicArn"]
    try:
        assert {"TopicArn": arn} in json.loads(aws_cli(server, "sns", "list-topics").stdout)["Topics"]
        attrs = json.loads(aws_cli(server, "sns", "get-topic-attributes", "--topic-arn", arn).stdout)["Attributes"]
        assert attrs["DisplayName"] == "CLI"
        aws_cli(server, "sns", "set-topic-attributes", "--topic-arn", arn, "--attribute-name", "DisplayName",
                "--attribute-value", "Other")  # fmt: skip
        subscribed = aws_cli(server, "sns", "subscribe", "--topic-arn", arn, "--protocol", "sqs",
                             "--notification-endpoint", QUEUE + "sns-cli-absent-q",
                             "--attributes", '{"RawMessageDelivery": "true"}')  # fmt: skip
        sub = json.loads(subscribed.stdout)["SubscriptionArn"]
        subs = json.loads(aws_cli(server, "sns", "list-subscriptions-by-topic", "--topic-arn", arn).stdout)
        assert [s["SubscriptionArn"] for s in subs["Subscriptions"]] == [sub]
        assert sub in aws_cli(server, "sns", "list-subscriptions").stdout
        aws_cli(server, "sns", "set-subscription-attributes", "--subscription-arn", sub, "--attribute-name",
                "FilterPolicy", "--attribute-value", '{"k": ["v"]}')  # fmt: skip
        got = json.loads(aws_cli(server, "sns", "get-subscription-attributes", "--subscription-arn", sub).stdout)
        assert got["Attributes"]["FilterPolicy"] == '{"k": ["v"]}'
        published = json.loads(aws_cli(server, "sns", "publish", "--topic-arn", arn, "--message", "hi",
                                       "--subject", "S", "--message-attributes",
                                       '{"k": {"DataType": "String", "StringValue": "v"}}').stdout)  # fmt: skip
        assert published["MessageId"]
        entries = ("--publish-batch-request-entries", "Id=a,Message=one", "Id=b,Message=two")
        batch = json.loads(aws_cli(server, "sns", "publish-batch", "--topic-arn", arn, *entries).stdout)
        assert [s["Id"] for s in batch["Successful"]] == ["a", "b"]
        aws_cli(server, "sns", "tag-resource", "--resource-arn", arn, "--tags", "Key=a,Value=1")
        tags = json.loads(aws_cli(server, "sns", "list-tags-for-resource", "--resource-arn", arn).stdout)
        assert tags["Tags"] == [{"Key": "a", "Value": "1"}]
        aws_cli(server, "sns", "untag-resource", "--resource-arn", arn, "--tag-keys", "a")
        aws_cli(server, "sns", "unsubscribe", "--subscription-arn", sub)
        missing = aws_cli(server, "sns", "get-topic-attributes", "--topic-arn", arn + "-missing", check=False)
        assert missing.returncode != 0
        assert "(NotFound)" in missing.stderr
        assert "Topic does not exist" in missing.stderr
        batch_err = aws_cli(server, "sns", "publish-batch", "--topic-arn", arn, "--publish-batch-request-entries",
                            *[f"Id=e{i},Message=m" for i in range(11)], check=False)  # fmt: skip
        assert "(TooManyEntriesInBatchRequest)" in batch_err.stderr
        pending = json.loads(aws_cli(server, "sns", "subscribe", "--topic-arn", arn, "--protocol", "http",
                                     "--notification-endpoint", "http://127.0.0.1:9/x").stdout)  # fmt: skip
        assert pending["SubscriptionArn"] == "pending confirmation"
        bad = aws_cli(server, "sns", "confirm-subscription", "--topic-arn", arn, "--token", "nope", check=False)
        assert "(InvalidParameter)" in bad.stderr
    finally:
        with contextlib.suppress(Exception):
            aws_cli(server, "sns", "delete-topic", "--topic-arn", arn)


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (("publish", "--message", "m", "--message-attributes",
          '{"n": {"DataType": "Number", "StringValue": "x"}}'), "ParameterValueInvalid"),
        (("publish", "--message", "m", "--subject", "s" * 101), "InvalidParameter"),
        (("publish-batch", "--publish-batch-request-entries", "[]"), "EmptyBatchRequest"),
        (("publish-batch", "--publish-batch-request-entries", "Id=a,Message=1", "Id=a,Message=2"),
         "BatchEntryIdsNotDistinct"),
        (("publish-batch", "--publish-batch-request-entries", "Id=a.b,Message=1"), "InvalidBatchEntryId"),
        (("publish-batch", "--publish-batch-request-entries", "BIG"), "BatchRequestTooLong"),
    ],
    ids=["ParameterValueInvalid", "InvalidParameter", "EmptyBatchRequest", "BatchEntryIdsNotDistinct",
         "InvalidBatchEntryId", "BatchRequestTooLong"],
)  # fmt: skip
def test_the_aws_cli_shows_each_wire_error(
    server: Any, topic: str, tmp_path: Any, args: tuple[str, ...], code: str
) -> None:
    if "BIG" in args:  # past one argument's size limit on Linux: from a file, as the CLI allows
        big = tmp_path / "entries.json"
        big.write_text(json.dumps([{"Id": "a", "Message": "x" * 131_072}, {"Id": "b", "Message": "y" * 131_073}]))
        args = (*args[:-1], f"file://{big}")
    result = aws_cli(server, "sns", args[0], "--topic-arn", topic, *args[1:], check=False)
    assert result.returncode != 0
    assert f"({code})" in result.stderr, result.stderr


def test_the_aws_cli_names_an_operation_nimbus_does_not_implement(server: Any) -> None:
    result = aws_cli(server, "sns", "list-platform-applications", check=False)
    assert "(InvalidAction)" in result.stderr, result.stderr
