"""The SNS API (the query protocol: `POST /` with a form body, SigV4 scope `sns`, XML answers), operations mapped to
the topics service. Parsing, validation and serialization come from botocore's model (`api/queryproto.py`);
errors are shaped by `api/errors.sns_xml`.

Three requests are answered without SigV4, as SNS answers them: the signing certificate (`GET CERT_PATH`), and a
message's SubscribeURL and UnsubscribeURL (`GET /?Action=ConfirmSubscription&TopicArn=..&Token=..`,
`GET /?Action=Unsubscribe&SubscriptionArn=..`): the token, or the subscription's ARN, is the credential.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from botocore.model import Shape

from nimbus.api.http import Request, Response
from nimbus.api.queryproto import QueryProtocol, form_of, parse_form
from nimbus.errors import NimbusError, SnsInvalidParameter, SnsNotFound, UnknownOperation
from nimbus.sources.sns_fanout import CERT_PATH
from nimbus.sources.subscriptions import Subscription
from nimbus.sources.topics import Topics

SERVICE = "sns"
#: a PublishBatch of 256 KB can grow threefold when form-encoded (%XX per byte)
BODY_MAX = 1 << 20
#: the actions a GET without SigV4 may ask for (the URLs in SNS's messages)
PUBLIC_ACTIONS = frozenset({"ConfirmSubscription", "Unsubscribe"})
_XML = [(b"content-type", b"text/xml")]

Handler = Callable[[dict[str, Any]], Awaitable[dict[str, Any] | None]]


def _invalid(message: str, shape: Shape) -> NimbusError:
    return SnsInvalidParameter(message)


def _missing(path: str) -> NimbusError:
    return SnsInvalidParameter(f"Invalid parameter: {path}")


def _listed(sub: Subscription) -> dict[str, str]:
    return {"SubscriptionArn": sub.shown_arn, "Owner": sub.owner, "Protocol": sub.protocol, "Endpoint": sub.endpoint,
            "TopicArn": sub.topic_arn}  # fmt: skip


class SnsApi:
    def __init__(self, topics: Topics) -> None:
        self.topics = topics
        self.protocol = QueryProtocol(SERVICE, invalid=_invalid, missing=_missing)
        t = topics
        self._ops: dict[str, Handler] = {
            "CreateTopic": self.create_topic,
            "DeleteTopic": lambda b: self._none(t.delete_topic, b["TopicArn"]),
            "ListTopics": self.list_topics,
            "GetTopicAttributes": self.get_topic_attributes,
            "SetTopicAttributes": lambda b: self._none(
                t.set_topic_attribute, b["TopicArn"], b["AttributeName"], b.get("AttributeValue")
            ),
            "Subscribe": self.subscribe,
            "ConfirmSubscription": self.confirm_subscription,
            "Unsubscribe": lambda b: self._none(t.unsubscribe, b["SubscriptionArn"]),
            "ListSubscriptions": self.list_subscriptions,
            "ListSubscriptionsByTopic": self.list_subscriptions,
            "GetSubscriptionAttributes": self.get_subscription_attributes,
            "SetSubscriptionAttributes": lambda b: self._none(
                t.set_subscription_attribute, b["SubscriptionArn"], b["AttributeName"], b.get("AttributeValue")
            ),
            "Publish": self.publish,
            "PublishBatch": self.publish_batch,
            "TagResource": lambda b: self._none(t.tag, b["ResourceArn"], {x["Key"]: x["Value"] for x in b["Tags"]}),
            "UntagResource": lambda b: self._none(t.untag, b["ResourceArn"], b["TagKeys"]),
            "ListTagsForResource": self.list_tags,
        }

    async def handle(self, req: Request) -> Response:
        """One signed request: the form's Action, its input by the model, the service, the XML answer."""
        fields = form_of(req)
        op = self.protocol.operation(fields)
        handler = self._ops.get(op.name)
        if handler is None:
            raise UnknownOperation(f"Nimbus's SNS API does not implement {op.name}.")
        out = await handler(self.protocol.parse(op, fields))
        return Response(200, self.protocol.serialize(op, out, req.request_id), list(_XML))

    def is_public(self, raw_path: str, query: str) -> bool:
        """Whether an unsigned GET is one SNS answers without SigV4 (the certificate, a Subscribe/UnsubscribeURL)."""
        if raw_path == CERT_PATH:
            return True
        if raw_path != "/" or "Action=" not in query:
            return False
        return parse_form(b"", query).get("Action") in PUBLIC_ACTIONS

    async def handle_public(self, req: Request) -> Response:
        if req.raw_path == CERT_PATH:
            return Response(200, self.topics.signing.certificate, [(b"content-type", b"application/x-pem-file")])
        fields = parse_form(b"", req.query)
        op = self.protocol.operation(fields)
        if op.name not in PUBLIC_ACTIONS:
            raise UnknownOperation(f"{op.name} needs a signed request.")
        out = await self._ops[op.name](self.protocol.parse(op, fields))
        return Response(200, self.protocol.serialize(op, out, req.request_id), list(_XML))

    @staticmethod
    async def _none(call: Callable[..., None], *args: Any) -> None:
        call(*args)

    # ---- topics ----
    async def create_topic(self, b: dict[str, Any]) -> dict[str, Any]:
        tags = {t["Key"]: t["Value"] for t in b.get("Tags") or []}
        return {"TopicArn": self.topics.create_topic(b["Name"], b.get("Attributes") or {}, tags)}

    async def list_topics(self, b: dict[str, Any]) -> dict[str, Any]:
        arns, token = self.topics.list_topics(b.get("NextToken"))
        return {"Topics": [{"TopicArn": a} for a in arns], "NextToken": token}

    async def get_topic_attributes(self, b: dict[str, Any]) -> dict[str, Any]:
        return {"Attributes": self.topics.topic_attributes(b["TopicArn"])}

    async def list_tags(self, b: dict[str, Any]) -> dict[str, Any]:
        return {"Tags": [{"Key": k, "Value": v} for k, v in self.topics.tags(b["ResourceArn"]).items()]}

    # ---- subscriptions ----
    async def subscribe(self, b: dict[str, Any]) -> dict[str, Any]:
        sub = await self.topics.subscribe(b["TopicArn"], b["Protocol"], b.get("Endpoint"), b.get("Attributes") or {})
        shown = sub.arn if not sub.pending or b.get("ReturnSubscriptionArn") else "pending confirmation"
        return {"SubscriptionArn": shown}

    async def confirm_subscription(self, b: dict[str, Any]) -> dict[str, Any]:
        return {"SubscriptionArn": self.topics.confirm(b["TopicArn"], b["Token"])}

    async def list_subscriptions(self, b: dict[str, Any]) -> dict[str, Any]:
        found, token = self.topics.list_subscriptions(b.get("TopicArn"), b.get("NextToken"))
        return {"Subscriptions": [_listed(s) for s in found], "NextToken": token}

    async def get_subscription_attributes(self, b: dict[str, Any]) -> dict[str, Any]:
        return {"Attributes": self.topics.require_sub(b["SubscriptionArn"]).view()}

    # ---- publishing ----
    async def publish(self, b: dict[str, Any]) -> dict[str, Any]:
        topic, target = b.get("TopicArn"), b.get("TargetArn")
        if b.get("PhoneNumber") is not None:
            raise SnsInvalidParameter("Invalid parameter: PhoneNumber Reason: Nimbus does not send SMS messages")
        if topic is not None and target is not None:
            raise SnsInvalidParameter("Invalid parameter: TopicArn or TargetArn Reason: Only one of TopicArn or "
                                      "TargetArn may be specified")  # fmt: skip
        arn = topic if topic is not None else target
        if arn is None:
            raise SnsInvalidParameter("Invalid parameter: TopicArn or TargetArn Reason: no value for required "
                                      "parameter")  # fmt: skip
        if b.get("MessageDeduplicationId") is not None:  # only FIFO topics take one, and Nimbus has none
            raise SnsInvalidParameter("Invalid parameter: The MessageDeduplicationId parameter is only valid for "
                                      "FIFO topics")  # fmt: skip
        if target is not None and ":endpoint/" in target:
            raise SnsNotFound("Endpoint does not exist: Nimbus has no platform application endpoints")
        message_id = await self.topics.publish(arn, b["Message"], b.get("Subject"), b.get("MessageStructure"),
                                               b.get("MessageAttributes"))  # fmt: skip
        return {"MessageId": message_id}

    async def publish_batch(self, b: dict[str, Any]) -> dict[str, Any]:
        return await self.topics.publish_batch(b["TopicArn"], b["PublishBatchRequestEntries"])
