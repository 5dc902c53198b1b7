"""AWS::Lambda::Version, Alias and LayerVersion through the versions and layers services (PublishVersion,
CreateAlias / UpdateAlias, PublishLayerVersion) and the concurrency owner (their ProvisionedConcurrencyConfig).

A version and a layer version are immutable: any change to what makes them is a replacement (a new version; the old
one is deleted unless the template retains it, as SAM's AutoPublishAlias does). An alias moves in place: SAM's
AutoPublishAlias points it at the new version, and DeploymentPreference's traffic shifting is applied as its end
state (the alias on the new version; RoutingConfig weights when the template gives them).

Ref: a version's ARN (GetAtt Version: its number), an alias's ARN, a layer version's ARN (GetAtt LayerVersionArn).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from nimbus.deploy.provider import Made, StackContext
from nimbus.deploy.providers.common import function_ref, gone_ok, lambda_model
from nimbus.deploy.providers.functions import b64, package
from nimbus.errors import InvalidParameterValue

VERSION, ALIAS, LAYER = "AWS::Lambda::Version", "AWS::Lambda::Alias", "AWS::Lambda::LayerVersion"
LAYER_NAME_MAX = 140


def _provisioned(props: Mapping[str, Any]) -> int | None:
    config = props.get("ProvisionedConcurrencyConfig")
    if config is None:
        return None
    if not isinstance(config, Mapping) or "ProvisionedConcurrentExecutions" not in config:
        raise InvalidParameterValue("ProvisionedConcurrencyConfig needs ProvisionedConcurrentExecutions.")
    value = config["ProvisionedConcurrentExecutions"]
    return int(value) if isinstance(value, str) and value.isdigit() else value


def _routing(props: Mapping[str, Any]) -> dict[str, Any]:
    """CloudFormation's weights list as the API's map ({"AdditionalVersionWeights": {"2": 0.1}})."""
    routing = props.get("RoutingConfig")
    if routing is None:
        return {"AdditionalVersionWeights": {}}
    weights = routing.get("AdditionalVersionWeights", []) if isinstance(routing, Mapping) else None
    if not isinstance(weights, list) or not all(isinstance(w, Mapping) for w in weights):
        raise InvalidParameterValue("RoutingConfig.AdditionalVersionWeights must be a list of "
                                    "{FunctionVersion, FunctionWeight}.")  # fmt: skip
    return {"AdditionalVersionWeights": {str(w.get("FunctionVersion")): float(w.get("FunctionWeight", 0))
                                         for w in weights}}  # fmt: skip


class Versions:
    types: tuple[str, ...] = (VERSION, ALIAS, LAYER)

    def replaces(self, type_: str, old: Mapping[str, Any], new: Mapping[str, Any]) -> bool:
        if type_ == ALIAS:
            return old.get("Name") != new.get("Name") or old.get("FunctionName") != new.get("FunctionName")
        if type_ == VERSION:
            keep = ("ProvisionedConcurrencyConfig", "RuntimePolicy")
            return {k: v for k, v in old.items() if k not in keep} != {k: v for k, v in new.items() if k not in keep}
        return dict(old) != dict(new)

    async def _provision(self, ctx: StackContext, name: str, qualifier: str, old: int | None, new: int | None) -> None:
        concurrency = ctx.services.concurrency
        if new is not None and new != old:
            await concurrency.put_provisioned(name, qualifier, new)
        elif new is None and old is not None and (config := concurrency.configs.get(name, qualifier)) is not None:
            await concurrency.delete_provisioned(config)

    async def create(self, ctx: StackContext, type_: str, logical_id: str, props: Mapping[str, Any]) -> Made:
        if type_ == LAYER:
            return await self._publish_layer(ctx, logical_id, props)
        name = function_ref(ctx, props.get("FunctionName")).name
        if type_ == VERSION:
            body = {k: props[k] for k in ("Description", "CodeSha256") if k in props}
            lambda_model().validate("PublishVersion", body | {"FunctionName": name})
            number = (await ctx.services.versions.publish(name, body))["Version"]
            await self._provision(ctx, name, number, None, _provisioned(props))
            return self._version(ctx, name, number)
        body = {k: props[k] for k in ("Name", "FunctionVersion", "Description") if k in props}
        lambda_model().validate("CreateAlias", body | {"FunctionName": name})
        await ctx.services.versions.create_alias(name, body | {"RoutingConfig": _routing(props)})
        await self._provision(ctx, name, str(props["Name"]), None, _provisioned(props))
        arn = ctx.services.versions.alias_arn(name, str(props["Name"]))
        return Made(arn, arn)

    def _version(self, ctx: StackContext, name: str, number: str) -> Made:
        arn = f"{ctx.services.registry.function_arn(name)}:{number}"
        return Made(arn, arn, {"Version": number})

    async def _publish_layer(self, ctx: StackContext, logical_id: str, props: Mapping[str, Any]) -> Made:
        given = props.get("LayerName")
        name = ctx.services.layers.name_of(str(given)) if given is not None else ctx.name(logical_id, LAYER_NAME_MAX)
        body = {k: props[k] for k in ("Description", "CompatibleRuntimes", "CompatibleArchitectures", "LicenseInfo")
                if k in props}  # fmt: skip
        content = {"ZipFile": b64(package(ctx, props.get("Content"), "", "Content"))}
        lambda_model().validate("PublishLayerVersion", body | {"LayerName": name, "Content": content})
        lv = await ctx.services.layers.publish(name, body | {"Content": content})
        arn = f"{ctx.services.layers.layer_arn(name)}:{lv.version}"
        return Made(arn, arn, {"LayerVersionArn": arn})

    async def update(self, ctx: StackContext, type_: str, logical_id: str, physical_id: str,
                     old: Mapping[str, Any], new: Mapping[str, Any]) -> Made:  # fmt: skip
        name = function_ref(ctx, new.get("FunctionName")).name if type_ != LAYER else ""
        if type_ == VERSION:
            number = physical_id.rsplit(":", 1)[1]
            await self._provision(ctx, name, number, _provisioned(old), _provisioned(new))
            return self._version(ctx, name, number)
        if type_ == ALIAS:
            alias = str(new["Name"])
            body = {"FunctionVersion": new.get("FunctionVersion"), "Description": new.get("Description", ""),
                    "RoutingConfig": _routing(new)}  # fmt: skip
            await ctx.services.versions.update_alias(name, alias, body)
            await self._provision(ctx, name, alias, _provisioned(old), _provisioned(new))
        return Made(physical_id, physical_id, {"LayerVersionArn": physical_id} if type_ == LAYER else {})

    async def delete(self, ctx: StackContext, type_: str, logical_id: str, physical_id: str,
                     props: Mapping[str, Any]) -> None:  # fmt: skip
        if type_ == LAYER:
            if physical_id.startswith("arn:"):  # not a guess after a crash (a version is found by its ARN only)
                name, number = ctx.services.layers.parse_version_arn(physical_id)
                await ctx.services.layers.delete(name, number)
            return
        if type_ == ALIAS:  # by its function and name: the engine holds only a guess after a crash
            name = function_ref(ctx, props.get("FunctionName")).name
            await gone_ok(ctx.services.versions.delete_alias(name, str(props.get("Name"))))
            return
        ref = function_ref(ctx, physical_id) if physical_id.startswith("arn:") else None
        if ref is not None and ref.qualifier is not None:
            await gone_ok(ctx.services.versions.delete_version(ref.name, ref.qualifier))
