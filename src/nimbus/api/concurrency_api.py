"""Concurrency operations: reserved concurrency (2017-10-31 / 2019-09-30 paths) and provisioned concurrency.

Reserved concurrency is enforced by the throttle before any instance is touched; provisioned concurrency is kept
by the instance manager, whose count of ready instances is the configuration's Status.
"""

from __future__ import annotations

from typing import Any

from nimbus.api.http import Request, Response, Router
from nimbus.config import Settings
from nimbus.control import validation as v
from nimbus.control.provisioned import ProvisionedConfig, ProvisionedConfigs
from nimbus.control.registry import Registry
from nimbus.errors import InvalidParameterValue, NimbusError
from nimbus.instances.manager import InstanceManager
from nimbus.invoke.throttle import Throttle

PROVISIONED = "/2019-09-30/functions/{FunctionName}/provisioned-concurrency"


class ProvisionedConcurrencyConfigNotFound(NimbusError):
    wire_name = "ProvisionedConcurrencyConfigNotFoundException"
    status = 404
    error_type = "User"
    message_key = "message"


class ConcurrencyApi:
    def __init__(
        self,
        settings: Settings,
        registry: Registry,
        configs: ProvisionedConfigs,
        throttle: Throttle,
        manager: InstanceManager,
    ) -> None:
        self.settings = settings
        self.registry = registry
        self.configs = configs
        self.throttle = throttle
        self.manager = manager
        registry.subscribe(self._function_changed)

    def register(self, router: Router) -> None:
        reserved = "/functions/{FunctionName}/concurrency"
        router.add("PUT", "/2017-10-31" + reserved, self.put_reserved, "PutFunctionConcurrency")
        router.add("GET", "/2019-09-30" + reserved, self.get_reserved, "GetFunctionConcurrency")
        router.add("DELETE", "/2017-10-31" + reserved, self.delete_reserved, "DeleteFunctionConcurrency")
        router.add("PUT", PROVISIONED, self.put_provisioned, "PutProvisionedConcurrencyConfig")
        router.add("GET", PROVISIONED, self.get_provisioned, "GetProvisionedConcurrencyConfig")
        router.add("DELETE", PROVISIONED, self.delete_provisioned, "DeleteProvisionedConcurrencyConfig")

    def _name(self, req: Request, *, qualified: bool = False) -> tuple[str, str | None]:
        ref = v.parse_function_ref(
            req.params["FunctionName"], region=self.settings.region, account=self.settings.account_id,
            qualifier=req.query_one("Qualifier"),
        )  # fmt: skip
        if ref.qualifier is not None and not qualified:
            raise InvalidParameterValue("Concurrency is set on the unqualified function name.")
        return ref.name, ref.qualifier

    # ---- reserved ----
    async def put_reserved(self, req: Request) -> Response:
        name, _ = self._name(req)
        value = req.json().get("ReservedConcurrentExecutions")
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise InvalidParameterValue("ReservedConcurrentExecutions must be an integer of 0 or more.")
        await self.registry.set_reserved_concurrency(name, value)
        self.throttle.set_reserved(name, value)
        return Response.json({"ReservedConcurrentExecutions": value})

    async def get_reserved(self, req: Request) -> Response:
        value = self.registry.get(self._name(req)[0]).reserved_concurrency
        return Response.json({} if value is None else {"ReservedConcurrentExecutions": value})

    async def delete_reserved(self, req: Request) -> Response:
        name, _ = self._name(req)
        await self.registry.set_reserved_concurrency(name, None)
        self.throttle.set_reserved(name, None)
        return Response(204)

    # ---- provisioned ----
    def _describe(self, config: ProvisionedConfig, *, listing: bool = False) -> dict[str, Any]:
        targets = self.configs.targets(config)
        ready = sum(min(n, self.manager.provisioned_ready(config.function, ver)) for ver, n in targets.items())
        out: dict[str, Any] = {
            "RequestedProvisionedConcurrentExecutions": config.requested,
            "AvailableProvisionedConcurrentExecutions": ready,
            "AllocatedProvisionedConcurrentExecutions": ready,
            "Status": "READY" if ready >= config.requested else "IN_PROGRESS",
            "LastModified": config.last_modified,
        }
        if listing:
            out["FunctionArn"] = f"{self.registry.function_arn(config.function)}:{config.qualifier}"
        return out

    async def apply(self, config: ProvisionedConfig) -> None:
        """Ask the manager to keep this configuration's instances ready (also used at start-up)."""
        for version, count in self.configs.targets(config).items():
            await self.manager.provision(self.registry.spec(config.function, version), count)

    async def put_provisioned(self, req: Request) -> Response:
        name, qualifier = self._name(req, qualified=True)
        if qualifier is None:
            raise InvalidParameterValue("Qualifier is required: provisioned concurrency applies to a version or alias.")
        self.registry.resolve(name, qualifier)  # 404 for an unknown version or alias
        config = await self.configs.put(name, qualifier, req.json().get("ProvisionedConcurrentExecutions"))
        await self.apply(config)
        return Response.json(self._describe(config), 202)

    def _config(self, name: str, qualifier: str | None) -> ProvisionedConfig:
        if qualifier is None:
            raise InvalidParameterValue("Qualifier is required.")
        self.registry.get(name)
        config = self.configs.get(name, qualifier)
        if config is None:
            raise ProvisionedConcurrencyConfigNotFound(
                f"No Provisioned Concurrency Config found for this function: "
                f"{self.registry.function_arn(name)}:{qualifier}"
            )
        return config

    async def get_provisioned(self, req: Request) -> Response:
        """GetProvisionedConcurrencyConfig, or ListProvisionedConcurrencyConfigs with `List=ALL`."""
        name, qualifier = self._name(req, qualified=True)
        if qualifier is None and req.query_one("List") == "ALL":
            self.registry.get(name)
            items = [self._describe(c, listing=True) for c in self.configs.of_function(name)]
            return Response.json({"ProvisionedConcurrencyConfigs": items})
        return Response.json(self._describe(self._config(name, qualifier)))

    async def delete_provisioned(self, req: Request) -> Response:
        config = self._config(*self._name(req, qualified=True))
        await self._drop([config])
        await self.configs.remove(config.function, config.qualifier)
        return Response(204)

    async def _drop(self, gone: list[ProvisionedConfig]) -> None:
        for config in gone:
            for version in self.configs.targets(config):
                await self.manager.unprovision(config.function, version)

    async def _function_changed(self, name: str) -> None:
        """A deleted function (or version) takes its provisioned configurations with it."""
        try:
            rec = self.registry.get(name)
        except NimbusError:
            for config in await self.configs.remove(name):
                await self.manager.unprovision(name, config.qualifier)
            return
        for config in self.configs.of_function(name):
            if config.qualifier.isdigit() and int(config.qualifier) not in rec.versions:
                await self.manager.unprovision(name, config.qualifier)
                await self.configs.remove(name, config.qualifier)

