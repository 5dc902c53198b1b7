"""SNS deliveries against the real server: a topic fanning out to two functions and a queue with a filter policy
(a third function without the permission is refused and reported), an http subscription confirmed by a real
local HTTP server through its SubscribeURL and then notified (signatures checked by the standard verification
with the certificate the message points at), raw message delivery to a queue, and `kill -9` with published
messages in flight losing none."""

from __future__ import annotations

import base64
import http.server
import json
import queue
import signal
import threading
import time
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from e2e_support import ACCOUNT, REGION, ROLE, make_zip, receive_all, start_server, wait_for

ECHO = "def handler(event, context):\n    return event\n"
QUEUE = f"arn:aws:sqs:{REGION}:{ACCOUNT}:"
#: a delivery in hand when the server dies is made again this soon after the restart (the least the server takes)
FAST = ("--delivery-visibility", "11")


def verify_sns_message(message: dict[str, Any]) -> None:
    """The standard verification (SignatureVersion 1 or 2), as AWS documents it: fetch the certificate from
    SigningCertURL (host-agnostic here: AWS's validators also require sns.<region>.amazonaws.com, which a
    self-hosted server cannot be), build the string to sign from the message's type's fields in order, and check
    SHA1withRSA (1) or SHA256withRSA (2) with the certificate's public key."""
    assert message["SignatureVersion"] in ("1", "2")
    cert_url = message.get("SigningCertURL") or message["SigningCertUrl"]
    with urllib.request.urlopen(cert_url, timeout=10) as resp:
        cert = x509.load_pem_x509_certificate(resp.read())
    if message["Type"] == "Notification":
        keys = ["Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"]
    else:
        keys = ["Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"]
    text = "".join(f"{k}\n{message[k]}\n" for k in keys if message.get(k) is not None)
    public = cert.public_key()
    assert isinstance(public, rsa.RSAPublicKey)
    digest = hashes.SHA256() if message["SignatureVersion"] == "2" else hashes.SHA1()
    public.verify(base64.b64decode(message["Signature"]), text.encode(), padding.PKCS1v15(), digest)


@pytest.fixture
def clients(server: Any) -> tuple[Any, Any, Any]:
    return server.client("sns"), server.client("sqs"), server.client("lambda")


def test_a_topic_fans_out_to_two_functions_and_a_queue_with_a_filter_policy(
    server: Any, clients: tuple[Any, Any, Any]
) -> None:
    sns, sqs, lam = clients
    topic = sns.create_topic(Name="fan-out")["TopicArn"]
    done = sqs.create_queue(QueueName="fan-out-done")["QueueUrl"]
    reds = sqs.create_queue(QueueName="fan-out-reds")["QueueUrl"]
    names = ["fan-a", "fan-b", "fan-unpermitted"]
    try:
        subs = {}
        for name in names:
            arn = lam.create_function(FunctionName=name, Runtime="python3.11", Role=ROLE, Handler="app.handler",
                                      Code={"ZipFile": make_zip({"app.py": ECHO})})["FunctionArn"]  # fmt: skip
            lam.put_function_event_invoke_config(
                FunctionName=name, DestinationConfig={"OnSuccess": {"Destination": QUEUE + "fan-out-done"}}
            )
            if name != "fan-unpermitted":
                lam.add_permission(FunctionName=name, StatementId="sns", Action="lambda:InvokeFunction",
                                   Principal="sns.amazonaws.com", SourceArn=topic)  # fmt: skip
            subs[name] = sns.subscribe(TopicArn=topic, Protocol="lambda", Endpoint=arn)["SubscriptionArn"]
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=QUEUE + "fan-out-reds",
                      Attributes={"FilterPolicy": json.dumps({"color": ["red"]})})  # fmt: skip

        def color(value: str) -> dict[str, Any]:
            return {"color": {"DataType": "String", "StringValue": value}}

        red = sns.publish(TopicArn=topic, Message="a red one", Subject="Colors", MessageAttributes=color("red"))
        blue = sns.publish(TopicArn=topic, Message="a blue one", MessageAttributes=color("blue"))
        red, blue = red["MessageId"], blue["MessageId"]

        records = [json.loads(m["Body"]) for m in receive_all(sqs, done, 4, timeout=60)]
        seen = {(r["requestContext"]["functionArn"].split(":")[6],
                 r["requestPayload"]["Records"][0]["Sns"]["MessageId"]) for r in records}  # fmt: skip
        assert seen == {("fan-a", red), ("fan-a", blue), ("fan-b", red), ("fan-b", blue)}
        record = next(r["requestPayload"]["Records"][0] for r in records
                      if r["requestPayload"]["Records"][0]["Sns"]["MessageId"] == red)  # fmt: skip
        assert record["EventSource"] == "aws:sns"
        assert record["EventSubscriptionArn"] in (subs["fan-a"], subs["fan-b"])
        sns_part = record["Sns"]
        assert (sns_part["Type"], sns_part["TopicArn"], sns_part["Subject"], sns_part["Message"]) == (
            "Notification", topic, "Colors", "a red one")  # fmt: skip
        assert sns_part["MessageAttributes"] == {"color": {"Type": "String", "Value": "red"}}
        verify_sns_message(sns_part)

        [only] = receive_all(sqs, reds, 1, timeout=60)
        envelope = json.loads(only["Body"])
        assert (envelope["MessageId"], envelope["Message"]) == (red, "a red one")
        verify_sns_message(envelope)
        assert receive_all(sqs, reds, 1, timeout=2) == []  # the blue one was filtered out

        # the function without the permission: refused, and the log says how to allow it
        def warned() -> bool:
            log = server.log_path.read_text(errors="replace")
            return "sns.amazonaws.com may not invoke function" in log and "fan-unpermitted" in log

        assert wait_for(warned, timeout=30)
        log = server.log_path.read_text(errors="replace")
        assert "add-permission --function-name fan-unpermitted" in log
        assert not [r for r in records if "fan-unpermitted" in r["requestContext"]["functionArn"]]
    finally:
        for name in names:
            lam.delete_function(FunctionName=name)
        sns.delete_topic(TopicArn=topic)
        for url in (done, reds):
            sqs.delete_queue(QueueUrl=url)


class Recorder(http.server.BaseHTTPRequestHandler):
    """Records each POST (headers, JSON body) into the server's queue and answers 200 (500 to `refuse_path`
    once a SubscriptionConfirmation has been recorded)."""

    refuse_path: str | None = None

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.server.posts.put((dict(self.headers), body))  # type: ignore[attr-defined]
        refused = self.path == Recorder.refuse_path and body["Type"] != "SubscriptionConfirmation"
        self.send_response(500 if refused else 200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[tuple[str, queue.Queue[tuple[dict[str, str], dict[str, Any]]]]]:
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    posts: queue.Queue[tuple[dict[str, str], dict[str, Any]]] = queue.Queue()
    httpd.posts = posts  # type: ignore[attr-defined]
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/hook", posts
    httpd.shutdown()
    httpd.server_close()


def test_an_http_subscription_is_confirmed_by_a_real_local_server_then_notified(
    clients: tuple[Any, Any, Any], receiver: tuple[str, queue.Queue[tuple[dict[str, str], dict[str, Any]]]]
) -> None:
    sns, _, _ = clients
    url, posts = receiver
    topic = sns.create_topic(Name="http-hook")["TopicArn"]
    try:
        sub = sns.subscribe(TopicArn=topic, Protocol="http", Endpoint=url, ReturnSubscriptionArn=True)[
            "SubscriptionArn"
        ]
        headers, confirmation = posts.get(timeout=30)
        assert confirmation["Type"] == "SubscriptionConfirmation"
        assert headers["x-amz-sns-message-type"] == "SubscriptionConfirmation"
        assert headers["x-amz-sns-topic-arn"] == topic
        verify_sns_message(confirmation)
        # the endpoint confirms as SNS's endpoints do: a plain GET of SubscribeURL, no credentials
        with urllib.request.urlopen(confirmation["SubscribeURL"], timeout=10) as resp:
            answer = resp.read().decode()
        assert f"<SubscriptionArn>{sub}</SubscriptionArn>" in answer
        assert sns.get_subscription_attributes(SubscriptionArn=sub)["Attributes"]["PendingConfirmation"] == "false"

        message_id = sns.publish(TopicArn=topic, Message="ping", Subject="Hello")["MessageId"]
        headers, note = posts.get(timeout=30)
        assert (note["Type"], note["MessageId"], note["Message"], note["Subject"]) == (
            "Notification", message_id, "ping", "Hello")  # fmt: skip
        assert headers["x-amz-sns-message-type"] == "Notification"
        assert headers["x-amz-sns-message-id"] == message_id
        assert headers["x-amz-sns-subscription-arn"] == sub
        assert headers["Content-Type"] == "text/plain; charset=UTF-8"
        verify_sns_message(note)
        # UnsubscribeURL works the same way
        with urllib.request.urlopen(note["UnsubscribeURL"], timeout=10):
            pass
        assert sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"] == []
    finally:
        sns.delete_topic(TopicArn=topic)


def test_raw_message_delivery_to_a_queue(clients: tuple[Any, Any, Any]) -> None:
    sns, sqs, _ = clients
    topic = sns.create_topic(Name="raw-topic")["TopicArn"]
    url = sqs.create_queue(QueueName="raw-target")["QueueUrl"]
    try:
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=QUEUE + "raw-target",
                      Attributes={"RawMessageDelivery": "true"})  # fmt: skip
        sns.publish(TopicArn=topic, Message='{"order": 1}', MessageAttributes={
            "kind": {"DataType": "String", "StringValue": "order"},
            "n": {"DataType": "Number", "StringValue": "7"},
            "bin": {"DataType": "Binary", "BinaryValue": b"\x00\x01"}})  # fmt: skip
        [m] = receive_all(sqs, url, 1, timeout=60)
        assert m["Body"] == '{"order": 1}'
        attrs = m["MessageAttributes"]
        assert attrs["kind"] == {"DataType": "String", "StringValue": "order"}
        assert attrs["n"] == {"DataType": "Number", "StringValue": "7"}
        assert attrs["bin"] == {"DataType": "Binary", "BinaryValue": b"\x00\x01"}
    finally:
        sns.delete_topic(TopicArn=topic)
        sqs.delete_queue(QueueUrl=url)


def test_kill_9_with_published_messages_in_flight_loses_none(tmp_path: Path) -> None:
    """Every Publish that answered reaches each subscribed queue after `kill -9` (right after the last answer,
    with deliveries still queued or in hand) and a restart on the same data dir."""
    data = tmp_path / "data"
    server = start_server(data, *FAST)
    try:
        sns, sqs = server.client("sns"), server.client("sqs")
        topic = sns.create_topic(Name="durable")["TopicArn"]
        names = [f"durable-{i}" for i in range(3)]
        for name in names:
            sqs.create_queue(QueueName=name)
            sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=QUEUE + name,
                          Attributes={"RawMessageDelivery": "true"})  # fmt: skip
        total = 300
        with ThreadPoolExecutor(16) as pool:
            list(pool.map(lambda i: sns.publish(TopicArn=topic, Message=str(i)), range(total)))
        server.process.send_signal(signal.SIGKILL)
        server.process.wait()
        server = start_server(data, *FAST)
        sqs = server.client("sqs")
        for name in names:
            url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
            bodies: set[str] = set()
            deadline = time.monotonic() + 120
            while len(bodies) < total and time.monotonic() < deadline:  # at least once: duplicates may come too
                bodies |= {m["Body"] for m in receive_all(sqs, url, 10, timeout=5)}
            assert bodies == {str(i) for i in range(total)}, name
    finally:
        server.stop()


def test_an_undeliverable_message_goes_to_the_subscriptions_redrive_queue(
    tmp_path: Path, receiver: tuple[str, queue.Queue[tuple[dict[str, str], dict[str, Any]]]]
) -> None:
    """An http endpoint that stops answering: SNS's 3 retries (fast here), then the RedrivePolicy's queue gets the
    message with the delivery error."""
    url, posts = receiver
    server = start_server(tmp_path / "data", "--delivery-retry-delays", "0.1")
    try:
        sns, sqs = server.client("sns"), server.client("sqs")
        topic = sns.create_topic(Name="redriven")["TopicArn"]
        dlq = sqs.create_queue(QueueName="redriven-dlq")["QueueUrl"]
        sub = sns.subscribe(TopicArn=topic, Protocol="http", Endpoint=url.replace("/hook", "/gone"),
                            ReturnSubscriptionArn=True)["SubscriptionArn"]  # fmt: skip
        _, confirmation = posts.get(timeout=30)
        with urllib.request.urlopen(confirmation["SubscribeURL"], timeout=10):
            pass
        redrive = json.dumps({"deadLetterTargetArn": QUEUE + "redriven-dlq"})
        sns.set_subscription_attributes(SubscriptionArn=sub, AttributeName="RedrivePolicy", AttributeValue=redrive)
        # the endpoint now refuses: it answers 500 to /gone from here on
        Recorder.refuse_path = "/gone"
        message_id = sns.publish(TopicArn=topic, Message="lost?")["MessageId"]
        [dead] = receive_all(sqs, dlq, 1, timeout=60)
        assert json.loads(dead["Body"])["MessageId"] == message_id
        assert dead["MessageAttributes"]["SubscriptionArn"]["StringValue"] == sub
        assert dead["MessageAttributes"]["ERROR_CODE"]["StringValue"] == "HTTP_500"
        assert posts.qsize() == 4  # the first attempt and SNS's 3 retries
    finally:
        Recorder.refuse_path = None
        server.stop()
