"""What Nimbus does not serve is refused in the caller's own protocol: every SDK client below raises a clean
botocore ClientError with its protocol's code, naming the service and the operation, never a parse error. And a
container-image function is refused as such."""

from __future__ import annotations

import json
import urllib.request
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import botocore.session
import pytest
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.exceptions import ClientError

from conftest import ACCESS_KEY, REGION, SECRET_KEY, Server

SERVED = "it serves Lambda, CloudWatch Logs, SQS, EventBridge, SNS, IAM, STS, API Gateway and EventBridge Scheduler."


def refused(call: Callable[[], Any]) -> dict[str, Any]:
    with pytest.raises(ClientError) as caught:
        call()
    response: dict[str, Any] = caught.value.response
    return {"status": response["ResponseMetadata"]["HTTPStatusCode"], **response["Error"]}


@pytest.mark.parametrize(
    ("service", "call", "status", "code", "message"),
    [
        ("cloudformation", lambda c: c.list_stacks(), 400, "InvalidAction",
         "Nimbus does not serve CloudFormation (cloudformation), so not ListStacks"),
        ("ec2", lambda c: c.describe_instances(), 400, "InvalidAction",
         "Nimbus does not serve EC2 (ec2), so not DescribeInstances"),
        ("s3", lambda c: c.list_buckets(), 501, "NotImplemented", "Nimbus does not serve S3 (s3), so not ListBuckets"),
        ("s3", lambda c: c.put_object(Bucket="b", Key="dir/k.txt", Body=b"x"), 501, "NotImplemented",
         "Nimbus does not serve S3 (s3), so not PutObject"),
        ("dynamodb", lambda c: c.list_tables(), 400, "UnknownOperationException",
         "Nimbus does not serve DynamoDB (dynamodb), so not ListTables"),
        ("ssm", lambda c: c.describe_parameters(), 400, "UnknownOperationException",
         "Nimbus does not serve SSM (ssm), so not DescribeParameters"),
        ("cloudwatch", lambda c: c.list_metrics(), 400, "UnknownOperationException",
         "Nimbus does not serve CloudWatch (monitoring), so not ListMetrics"),
        ("eks", lambda c: c.list_clusters(), 404, "UnknownOperationException",
         "Nimbus does not serve EKS (eks), so not ListClusters"),
    ],
    ids=["cloudformation-query", "ec2", "s3-rest-xml", "s3-put", "dynamodb-json-1.0",
         "ssm-json-1.1", "cloudwatch-cbor", "eks-rest-json"],
)  # fmt: skip
def test_an_unserved_service_is_refused_in_its_own_protocol(
    server: Server, service: str, call: Callable[[Any], Any], status: int, code: str, message: str
) -> None:
    error = refused(lambda: call(server.client(service)))
    assert (error["status"], error["Code"]) == (status, code), error
    assert error["Message"] == f"{message}: {SERVED}", error


@pytest.mark.parametrize(
    ("service", "call", "status", "code", "message"),
    [
        ("lambda", lambda c: c.list_capacity_providers(), 404, "UnknownOperationException",
         "Nimbus's Lambda API does not implement ListCapacityProviders."),
        ("logs", lambda c: c.put_retention_policy(logGroupName="g", retentionInDays=1), 400,
         "UnknownOperationException",
         "Nimbus's CloudWatch Logs API does not implement 'Logs_20140328.PutRetentionPolicy'."),
        ("apigatewayv2", lambda c: c.get_vpc_links(), 404, "NotFoundException",
         "Nimbus's API Gateway API does not implement GetVpcLinks."),
        ("sts", lambda c: c.get_session_token(), 400, "InvalidAction",
         "Nimbus's STS API does not implement GetSessionToken."),
        ("iam", lambda c: c.list_groups(), 400, "InvalidAction", "Nimbus's IAM API does not implement ListGroups."),
    ],
    ids=["lambda", "logs", "apigatewayv2", "sts-query", "iam-query"],
)  # fmt: skip
def test_an_unimplemented_operation_of_a_served_api_is_named(
    server: Server, service: str, call: Callable[[Any], Any], status: int, code: str, message: str
) -> None:
    error = refused(lambda: call(server.client(service)))
    assert (error["status"], error["Code"], error["Message"]) == (status, code, message), error


def test_sqs_in_the_query_protocol_says_to_use_the_json_one(server: Server, tmp_path: Path) -> None:
    """Older SDKs speak SQS's query protocol (form posts, `Action=...`): refused as such, in XML they parse."""
    session = botocore.session.get_session()
    loader = session.get_component("data_loader")
    data = loader.load_service_model("sqs", "service-2")
    version = data["metadata"]["apiVersion"]
    data["metadata"].update(protocol="query", protocols=["query"])
    for key in ("jsonVersion", "targetPrefix", "awsQueryCompatible"):
        data["metadata"].pop(key, None)
    (tmp_path / "sqs" / version).mkdir(parents=True)
    (tmp_path / "sqs" / version / "service-2.json").write_text(json.dumps(data))
    loader.search_paths.insert(0, str(tmp_path))
    sqs = boto3.Session(botocore_session=session).client(
        "sqs", endpoint_url=server.endpoint, region_name=REGION, aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY, config=Config(retries={"max_attempts": 0}),
    )  # fmt: skip
    assert sqs.meta.service_model.protocol == "query"
    error = refused(lambda: sqs.create_queue(QueueName="old-sdk"))
    assert (error["status"], error["Code"]) == (400, "InvalidAction"), error
    assert error["Message"] == (
        "Nimbus serves the SQS API in its JSON protocol only, not CreateQueue in the query protocol: "
        "use an SDK recent enough to speak SQS's JSON protocol."
    )


def test_the_query_error_body_is_the_protocols(server: Server) -> None:
    """STS's raw answer to an operation it does not serve: `<ErrorResponse><Error><Type>Sender</Type>
    <Code>InvalidAction</Code>...<RequestId>`."""
    from botocore.auth import SigV4Auth
    from botocore.credentials import Credentials

    body = b"Action=GetSessionToken&Version=2011-06-15"
    req = AWSRequest(method="POST", url=server.endpoint + "/", data=body,
                     headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"})  # fmt: skip
    SigV4Auth(Credentials(ACCESS_KEY, SECRET_KEY), "sts", REGION).add_auth(req)
    prepared = req.prepare()
    request = urllib.request.Request(prepared.url, data=body, headers=dict(prepared.headers), method="POST")
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(request, timeout=30)
    assert caught.value.code == 400
    assert caught.value.headers["content-type"] == "text/xml"
    root = ET.fromstring(caught.value.read())
    ns = root.tag.partition("}")[0] + "}" if root.tag.startswith("{") else ""
    assert root.tag == f"{ns}ErrorResponse"
    error = root.find(f"{ns}Error")
    assert error is not None
    assert [child.tag.removeprefix(ns) for child in error] == ["Type", "Code", "Message"]
    assert (error.findtext(f"{ns}Type"), error.findtext(f"{ns}Code")) == ("Sender", "InvalidAction")
    assert root.findtext(f"{ns}RequestId")


def test_an_unknown_key_is_refused_in_the_callers_protocol(server: Server) -> None:
    sts = server.client("sts", access_key="AKIDUNKNOWN", secret_key="x")
    error = refused(sts.get_caller_identity)
    assert (error["status"], error["Code"]) == (403, "InvalidClientTokenId"), error
    s3 = server.client("s3", access_key="AKIDUNKNOWN", secret_key="x")
    error = refused(s3.list_buckets)
    assert (error["status"], error["Code"]) == (403, "InvalidAccessKeyId"), error


def test_a_container_image_function_is_refused_as_such(lam: Any) -> None:
    for code in ({"ImageUri": "123456789012.dkr.ecr.us-east-1.amazonaws.com/app:latest"}, {"ZipFile": b"PK"}):
        with pytest.raises(lam.exceptions.InvalidParameterValueException) as caught:
            lam.create_function(FunctionName="t-image", PackageType="Image", Role="arn:aws:iam::000000000000:role/r",
                                Code=code)  # fmt: skip
        message = caught.value.response["Error"]["Message"]
        assert message.startswith("Nimbus does not support container images (PackageType Image)"), message
