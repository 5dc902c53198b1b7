"""What ties a function to the world, each through its own service as its API call would: AWS::Lambda::Permission
(AddPermission / RemovePermission), EventSourceMapping (Create/Update/DeleteEventSourceMapping), Url
(Create/Update/DeleteFunctionUrlConfig) and EventInvokeConfig (Put/DeleteFunctionEventInvokeConfig). Each body is
checked against Lambda's model first, as the API's handler checks it.

A function is named as the templates name it: a name, or an ARN with its alias or version (SAM's `Ref` of an
alias). Ref values: a permission's statement id, a mapping's UUID, an event invoke config's `function|qualifier`;
GetAtt: a URL's FunctionArn and FunctionUrl, a mapping's EventSourceMappingArn and Id.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from nimbus.api.triggers import URL
from nimbus.deploy.provider import Made, StackContext
from nimbus.deploy.providers.common import endpoints, function_ref, gone_ok, lambda_model, numbers
from nimbus.errors import InvalidParameterValue

PERMISSION = "AWS::Lambda::Permission"
MAPPING = "AWS::Lambda::EventSourceMapping"
FUNCTION_URL = "AWS::Lambda::Url"
INVOKE_CONFIG = "AWS::Lambda::EventInvokeConfig"
_PERMISSION_KEYS = ("Action", "Principal", "SourceArn", "SourceAccount", "EventSourceToken", "FunctionUrlAuthType",
                    "InvokedViaFunctionUrl", "PrincipalOrgID")  # fmt: skip
#: CloudFormation's "Update requires: Replacement" members, by type (a permission: all of them)
_REPLACING = {
    MAPPING: ("EventSourceArn", "StartingPosition", "StartingPositionTimestamp", "SelfManagedEventSource",
              "AmazonManagedKafkaEventSourceConfig", "SelfManagedKafkaEventSourceConfig"),
    FUNCTION_URL: ("TargetFunctionArn", "Qualifier"),
    INVOKE_CONFIG: ("FunctionName", "Qualifier"),
}  # fmt: skip
#: a mapping member removed from the template goes back to Lambda's default
_MAPPING_RESETS: dict[str, Any] = {"BatchSize": 10, "Enabled": True, "MaximumBatchingWindowInSeconds": 0,
                                   "FilterCriteria": {}, "FunctionResponseTypes": [], "ScalingConfig": {}}  # fmt: skip
_MAPPING_INTS = ("BatchSize", "MaximumBatchingWindowInSeconds")
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


class FunctionLinks:
    types: tuple[str, ...] = (PERMISSION, MAPPING, FUNCTION_URL, INVOKE_CONFIG)

    def replaces(self, type_: str, old: Mapping[str, Any], new: Mapping[str, Any]) -> bool:
        if type_ == PERMISSION:
            return dict(old) != dict(new)
        return any(old.get(k) != new.get(k) for k in _REPLACING[type_])

    async def create(self, ctx: StackContext, type_: str, logical_id: str, props: Mapping[str, Any]) -> Made:
        if type_ == PERMISSION:
            ref = function_ref(ctx, props.get("FunctionName"))
            sid = ctx.name(logical_id)  # the engine's own length: what it guesses after a crash
            body = {k: props[k] for k in _PERMISSION_KEYS if k in props} | {"StatementId": sid}
            checked = lambda_model().validate("AddPermission", body | {"FunctionName": ref.name})
            await ctx.services.policies.add(ref.name, ref.qualifier, checked)
            return Made(sid, sid)
        if type_ == MAPPING:
            body = numbers(dict(props), _MAPPING_INTS)
            lambda_model().validate("CreateEventSourceMapping", body)
            mapping = await ctx.services.mappings.create(body)
            return self._mapping(ctx, mapping.uuid)
        if type_ == FUNCTION_URL:
            ref = self._url_target(ctx, props)
            body = {k: props[k] for k in ("AuthType", "Cors", "InvokeMode") if k in props}
            checked = lambda_model().validate("CreateFunctionUrlConfig", body | {"FunctionName": ref.name})
            config = await ctx.services.function_urls.create(
                ref.name, ref.qualifier, auth_type=checked["AuthType"], cors=checked.get("Cors"),
                invoke_mode=checked.get("InvokeMode"),
            )  # fmt: skip
            return self._url(ctx, config.function, config.qualifier, config.url_id)
        return await self._put_invoke_config(ctx, props)

    def _mapping(self, ctx: StackContext, uuid: str) -> Made:
        arn = f"arn:aws:lambda:{ctx.region}:{ctx.account}:event-source-mapping:{uuid}"
        return Made(uuid, uuid, {"Id": uuid, "EventSourceMappingArn": arn})

    def _url_target(self, ctx: StackContext, props: Mapping[str, Any]) -> Any:
        ref = function_ref(ctx, props.get("TargetFunctionArn"), "TargetFunctionArn")
        qualifier = props.get("Qualifier")
        if qualifier is not None and ref.qualifier not in (None, qualifier):
            raise InvalidParameterValue("The derived qualifier from the function name does not match the specified "
                                        "qualifier.")  # fmt: skip
        return type(ref)(ref.name, ref.qualifier or qualifier)

    def _url(self, ctx: StackContext, name: str, qualifier: str | None, url_id: str) -> Made:
        arn = ctx.services.function_urls.function_arn(name, qualifier)
        return Made(arn, arn, {"FunctionArn": arn, "FunctionUrl": endpoints(ctx).base(URL, url_id) + "/"})

    async def _put_invoke_config(self, ctx: StackContext, props: Mapping[str, Any]) -> Made:
        ref = function_ref(ctx, props.get("FunctionName"))
        qualifier = str(props.get("Qualifier", ref.qualifier or "$LATEST"))
        body = numbers({k: props[k] for k in ("MaximumEventAgeInSeconds", "MaximumRetryAttempts", "DestinationConfig")
                        if k in props}, ("MaximumEventAgeInSeconds", "MaximumRetryAttempts"))  # fmt: skip
        checked = lambda_model().validate("PutFunctionEventInvokeConfig", body | {"FunctionName": ref.name})
        checked.pop("FunctionName")
        await ctx.services.event_configs.put(ref.name, qualifier, checked, merge=False)
        ident = f"{ref.name}|{qualifier}"
        return Made(ident, ident)

    async def update(self, ctx: StackContext, type_: str, logical_id: str, physical_id: str,
                     old: Mapping[str, Any], new: Mapping[str, Any]) -> Made:  # fmt: skip
        if type_ == MAPPING:
            changes = {k: new[k] for k in new if new[k] != old.get(k)}
            changes |= {k: _MAPPING_RESETS[k] for k in old if k not in new and k in _MAPPING_RESETS}
            changes = numbers(changes, _MAPPING_INTS)
            lambda_model().validate("UpdateEventSourceMapping", changes | {"UUID": physical_id})
            await ctx.services.mappings.update(physical_id, changes)
            return self._mapping(ctx, physical_id)
        if type_ == FUNCTION_URL:
            ref = self._url_target(ctx, new)
            body = {k: new[k] for k in ("AuthType", "Cors", "InvokeMode") if k in new}
            checked = lambda_model().validate("UpdateFunctionUrlConfig", body | {"FunctionName": ref.name})
            config = await ctx.services.function_urls.update(
                ref.name, ref.qualifier, auth_type=checked.get("AuthType"), cors=checked.get("Cors", {}),
                invoke_mode=checked.get("InvokeMode"),
            )  # fmt: skip
            return self._url(ctx, config.function, config.qualifier, config.url_id)
        return await self._put_invoke_config(ctx, new)

    async def delete(self, ctx: StackContext, type_: str, logical_id: str, physical_id: str,
                     props: Mapping[str, Any]) -> None:  # fmt: skip
        s = ctx.services
        if type_ == PERMISSION:
            ref = function_ref(ctx, props.get("FunctionName"))
            await gone_ok(s.policies.remove(ref.name, ref.qualifier, physical_id, None))
        elif type_ == MAPPING:
            uuid = physical_id if _UUID.fullmatch(physical_id) else self._mapping_of(ctx, props)
            await gone_ok(s.mappings.delete(uuid))
        elif type_ == FUNCTION_URL:  # by its target: the engine holds only a guess after a crash
            ref = self._url_target(ctx, props)
            await gone_ok(s.function_urls.delete(ref.name, ref.qualifier))
        else:
            ref = function_ref(ctx, props.get("FunctionName"))
            await gone_ok(s.event_configs.delete(ref.name, str(props.get("Qualifier", ref.qualifier or "$LATEST"))))

    def _mapping_of(self, ctx: StackContext, props: Mapping[str, Any]) -> str:
        """The UUID of the mapping these properties made (after a crash the engine holds only a guess of a name):
        the one of this source and function, which no other mapping can be."""
        ref = function_ref(ctx, props.get("FunctionName"))
        for mapping in ctx.services.mappings.list(str(props.get("EventSourceArn")), None, None, None)[0]:
            if (mapping.function_name, mapping.qualifier) == (ref.name, ref.qualifier):
                return mapping.uuid
        return ""
