"""AWS::SNS::Topic, Subscription and TopicPolicy through the topics service, as CreateTopic / SetTopicAttributes /
Subscribe / SetSubscriptionAttributes / Unsubscribe / DeleteTopic would.

A topic's properties are SNS attributes by the same names (policies as JSON text); its inline `Subscription` list
is subscribed with it and kept in step on update. TopicName and FifoTopic need a replacement, as do a
subscription's TopicArn, Protocol and Endpoint. CloudFormation's `aws:` tags go on through the service's own door
for them (a caller of the API can never set them). Ref: a topic's ARN (GetAtt TopicArn, TopicName), a
subscription's ARN, a topic policy's generated id.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from nimbus.deploy.provider import Made, StackContext
from nimbus.deploy.providers.common import attribute_text, document, gone_ok, name_of, string_list, tag_map
from nimbus.errors import InvalidParameterValue

TOPIC, SUBSCRIPTION, POLICY = "AWS::SNS::Topic", "AWS::SNS::Subscription", "AWS::SNS::TopicPolicy"
TOPIC_ATTRIBUTES = ("DisplayName", "KmsMasterKeyId", "SignatureVersion", "TracingConfig", "ArchivePolicy",
                    "DataProtectionPolicy", "ContentBasedDeduplication", "FifoTopic")  # fmt: skip
SUBSCRIPTION_ATTRIBUTES = ("DeliveryPolicy", "FilterPolicy", "FilterPolicyScope", "RawMessageDelivery",
                           "RedrivePolicy", "SubscriptionRoleArn", "ReplayPolicy")  # fmt: skip
NAME_MAX = 256


def _attributes(props: Mapping[str, Any], keys: tuple[str, ...]) -> dict[str, str]:
    return {k: attribute_text(props[k]) for k in keys if props.get(k) is not None}


def _inline(props: Mapping[str, Any]) -> list[tuple[str, str]]:
    subs = props.get("Subscription") or []
    if not isinstance(subs, list) or not all(isinstance(s, Mapping) and "Protocol" in s for s in subs):
        raise InvalidParameterValue("Subscription must be a list of {Endpoint, Protocol}.")
    return [(str(s["Protocol"]).lower(), str(s.get("Endpoint", ""))) for s in subs]


def _policy_topics(props: Mapping[str, Any]) -> list[str]:
    return string_list(props, "Topics", "topic ARNs")


class Topics:
    types: tuple[str, ...] = (TOPIC, SUBSCRIPTION, POLICY)

    def replaces(self, type_: str, old: Mapping[str, Any], new: Mapping[str, Any]) -> bool:
        keys = {TOPIC: ("TopicName", "FifoTopic"), SUBSCRIPTION: ("TopicArn", "Protocol", "Endpoint")}.get(type_, ())
        return any(old.get(k) != new.get(k) for k in keys)

    async def create(self, ctx: StackContext, type_: str, logical_id: str, props: Mapping[str, Any]) -> Made:
        topics = ctx.services.topics
        if type_ == TOPIC:
            name = name_of(ctx, logical_id, props, "TopicName", NAME_MAX)
            arn = topics.create_topic(name, _attributes(props, TOPIC_ATTRIBUTES), tag_map(props.get("Tags")),
                                      aws_tags=ctx.tags(logical_id))  # fmt: skip
            try:
                for protocol, endpoint in _inline(props):
                    await topics.subscribe(arn, protocol, endpoint, {})
            except BaseException:
                topics.delete_topic(arn)  # not half made
                raise
            return Made(arn, arn, {"TopicArn": arn, "TopicName": name})
        if type_ == SUBSCRIPTION:
            attributes = _attributes(props, SUBSCRIPTION_ATTRIBUTES)
            topic, protocol = str(props.get("TopicArn", "")), str(props.get("Protocol", ""))
            sub = await topics.subscribe(topic, protocol, props.get("Endpoint"), attributes)
            return Made(sub.arn, sub.arn)
        return self._put_policy(ctx, ctx.name(logical_id, 256), props)

    def _put_policy(self, ctx: StackContext, ident: str, props: Mapping[str, Any]) -> Made:
        if "PolicyDocument" not in props:
            raise InvalidParameterValue("PolicyDocument is required.")
        for arn in _policy_topics(props):
            ctx.services.topics.set_topic_attribute(arn, "Policy", document(props["PolicyDocument"]))
        return Made(ident, ident)

    async def update(self, ctx: StackContext, type_: str, logical_id: str, physical_id: str,
                     old: Mapping[str, Any], new: Mapping[str, Any]) -> Made:  # fmt: skip
        topics = ctx.services.topics
        if type_ == POLICY:
            for arn in set(_policy_topics(old)) - set(_policy_topics(new)):
                await gone_ok(self._reset_policy(ctx, arn))
            return self._put_policy(ctx, physical_id, new)
        keys = TOPIC_ATTRIBUTES if type_ == TOPIC else SUBSCRIPTION_ATTRIBUTES
        wanted, before = _attributes(new, keys), _attributes(old, keys)
        set_attribute = topics.set_topic_attribute if type_ == TOPIC else topics.set_subscription_attribute
        for key in sorted(set(wanted) | set(before)):
            if key != "FifoTopic" and wanted.get(key) != before.get(key):
                set_attribute(physical_id, key, wanted.get(key))
        if type_ == SUBSCRIPTION:
            return Made(physical_id, physical_id)
        tags, old_tags = tag_map(new.get("Tags")), tag_map(old.get("Tags"))
        if removed := [k for k in old_tags if k not in tags]:
            topics.untag(physical_id, removed)
        if tags and tags != old_tags:
            topics.tag(physical_id, tags)
        await self._sync_inline(ctx, physical_id, _inline(old), _inline(new))
        return Made(physical_id, physical_id, {"TopicArn": physical_id, "TopicName": physical_id.rsplit(":", 1)[1]})

    async def _sync_inline(self, ctx: StackContext, arn: str, old: list[tuple[str, str]],
                           new: list[tuple[str, str]]) -> None:  # fmt: skip
        topics = ctx.services.topics
        current, token = topics.list_subscriptions(arn, None)
        while token is not None:
            more, token = topics.list_subscriptions(arn, token)
            current += more
        for sub in current:
            if (sub.protocol, sub.endpoint) in set(old) - set(new):
                topics.unsubscribe(sub.arn)
        for protocol, endpoint in new:
            if (protocol, endpoint) not in old:
                await topics.subscribe(arn, protocol, endpoint, {})

    async def _reset_policy(self, ctx: StackContext, arn: str) -> None:
        ctx.services.topics.set_topic_attribute(arn, "Policy", None)

    async def delete(self, ctx: StackContext, type_: str, logical_id: str, physical_id: str,
                     props: Mapping[str, Any]) -> None:  # fmt: skip
        topics = ctx.services.topics
        if type_ == TOPIC:
            # the ARN, or after a crash the engine's guess of the name (the template's, when it gives one)
            arn = physical_id if physical_id.startswith("arn:") else topics.arn(str(props.get("TopicName") or
                                                                                 physical_id))  # fmt: skip
            topics.delete_topic(arn)  # no error for a topic already gone, as on SNS
        elif type_ == SUBSCRIPTION:
            await gone_ok(self._unsubscribe(ctx, physical_id))
        else:
            for arn in _policy_topics(props):
                await gone_ok(self._reset_policy(ctx, arn))

    async def _unsubscribe(self, ctx: StackContext, arn: str) -> None:
        ctx.services.topics.unsubscribe(arn)
