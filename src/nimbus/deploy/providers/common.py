"""What the providers share: CloudFormation's tag lists, absent-is-done deletes, JSON-or-string documents, names,
model checks, and the `Recorded` provider for types Nimbus keeps on record without a service behind them."""

from __future__ import annotations

import contextlib
import functools
import json
from collections.abc import Awaitable, Mapping
from typing import Any

from nimbus.api.jsonproto import JsonProtocol
from nimbus.api.triggers import PublicEndpoints
from nimbus.control.validation import FunctionRef, parse_function_ref
from nimbus.deploy.provider import Made, StackContext
from nimbus.errors import InvalidParameterValue, NimbusError, QueueDoesNotExist, ResourceNotFound, SnsNotFound

#: the errors that mean "already gone": a delete retried after a crash, or of a resource removed by hand
GONE: tuple[type[NimbusError], ...] = (ResourceNotFound, QueueDoesNotExist, SnsNotFound)


def tag_map(tags: Any, prop: str = "Tags") -> dict[str, str]:
    """A `Tags` property as a dict: CloudFormation's [{Key, Value}] list, or the string map some types take."""
    if tags is None:
        return {}
    if isinstance(tags, Mapping):
        return {str(k): str(v) for k, v in tags.items()}
    if not isinstance(tags, list) or not all(isinstance(t, Mapping) and "Key" in t for t in tags):
        raise InvalidParameterValue(f"{prop} must be a list of {{Key, Value}} objects.")
    return {str(t["Key"]): str(t.get("Value", "")) for t in tags}


def stack_tags(ctx: StackContext, logical_id: str, props: Mapping[str, Any]) -> dict[str, str]:
    """The resource's own tags and CloudFormation's."""
    return tag_map(props.get("Tags")) | ctx.tags(logical_id)


def name_of(ctx: StackContext, logical_id: str, props: Mapping[str, Any], key: str, max_length: int,
            end: str = "") -> str:  # fmt: skip
    """The name the template gives, or CloudFormation's generated one."""
    given = props.get(key)
    if given is not None:
        return str(given)
    return ctx.name(logical_id, max_length - len(end)) + end


def document(value: Any) -> str:
    """A policy or JSON property as the string the service API takes (templates give objects or strings)."""
    return value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))


def string_list(props: Mapping[str, Any], prop: str, what: str) -> list[str]:
    """A property that must be a non-empty list of strings (a queue policy's Queues, a topic policy's Topics);
    `what` names them in the error ("queue URLs")."""
    value = props.get(prop)
    if not isinstance(value, list) or not value or not all(isinstance(item, str) for item in value):
        raise InvalidParameterValue(f"{prop} must be a list of {what}.")
    return list(value)


def changed(old: Mapping[str, Any], new: Mapping[str, Any], keys: tuple[str, ...]) -> bool:
    return any(old.get(k) != new.get(k) for k in keys)


async def gone_ok(call: Awaitable[Any]) -> None:
    """Await a delete; a resource already gone is the outcome wanted."""
    with contextlib.suppress(*GONE):
        await call


def numbers(body: dict[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    """Whole-number members given as strings (a template's Number parameters resolve to strings) as ints, as
    CloudFormation coerces them before the service sees them."""
    for key in keys:
        value = body.get(key)
        if isinstance(value, str) and value.lstrip("-").isdigit():
            body[key] = int(value)
    return body


def attribute_text(value: Any) -> str:
    """A template value as a string attribute (SQS, SNS): booleans as true/false, objects as JSON."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Mapping | list):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


@functools.cache
def model(service: str) -> JsonProtocol:
    """A service's botocore model: a provider checks a body against it as the API's handler does before calling
    the service (Lambda names members in its errors with a lower-case first letter)."""
    return JsonProtocol(service, camel_paths=service == "lambda")


def lambda_model() -> JsonProtocol:
    return model("lambda")


def function_ref(ctx: StackContext, raw: Any, prop: str = "FunctionName") -> FunctionRef:
    """A function name, partial ARN or (qualified) ARN, as Lambda's APIs take them."""
    if not isinstance(raw, str) or not raw:
        raise InvalidParameterValue(f"{prop} is required.")
    return parse_function_ref(raw, region=ctx.region, account=ctx.account)


def endpoints(ctx: StackContext) -> PublicEndpoints:
    """The addresses the server hands out (its own before it listens, in a test that has no server)."""
    return ctx.services.endpoints or PublicEndpoints(ctx.services.settings)


class Recorded:
    """CodeDeploy's application and deployment group (SAM's DeploymentPreference), kept on record only so that
    their Ref resolves: Nimbus shifts an alias to its new version at once (`versions.py`), so there is nothing to
    make; refusing them would refuse every template with a DeploymentPreference."""

    types: tuple[str, ...] = ("AWS::CodeDeploy::Application", "AWS::CodeDeploy::DeploymentGroup")

    def replaces(self, type_: str, old: Mapping[str, Any], new: Mapping[str, Any]) -> bool:
        return False

    async def create(self, ctx: StackContext, type_: str, logical_id: str, props: Mapping[str, Any]) -> Made:
        name = ctx.name(logical_id, 100)
        return Made(name, name)

    async def update(self, ctx: StackContext, type_: str, logical_id: str, physical_id: str,
                     old: Mapping[str, Any], new: Mapping[str, Any]) -> Made:  # fmt: skip
        return Made(physical_id, physical_id)

    async def delete(self, ctx: StackContext, type_: str, logical_id: str, physical_id: str,
                     props: Mapping[str, Any]) -> None:  # fmt: skip
        return None
