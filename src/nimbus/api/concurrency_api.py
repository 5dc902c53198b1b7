"""Concurrency operations: reserved concurrency (2017-10-31 / 2019-09-30 paths) and provisioned concurrency.

A thin adapter over `invoke.concurrency.Concurrency`, which owns both: parse the wire, call it, shape the reply.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from nimbus.api.http import Request, Response, Router
from nimbus.api.lambda_input import LambdaInput
from nimbus.config import Settings
from nimbus.control import validation as v
from nimbus.control.provisioned import ProvisionedConfig
from nimbus.control.registry import Registry
from nimbus.errors import InvalidParameterValue, NimbusError
from nimbus.invoke.concurrency import Concurrency

PROVISIONED = "/2019-09-30/functions/{FunctionName}/provisioned-concurrency"
#: Lambda's answer to reserved concurrency on a version or an alias
UNQUALIFIED_ONLY = (
    "This operation is permitted on Lambda functions only. Aliases and versions do not support this operation. "
    "Please specify either a function name or an unqualified function ARN."
)


class ProvisionedConcurrencyConfigNotFound(NimbusError):
    wire_name = "ProvisionedConcurrencyConfigNotFoundException"
    status = 404
    error_type = "User"
    message_key = "message"


class ConcurrencyApi:
    def __init__(self, settings: Settings, registry: Registry, concurrency: Concurrency) -> None:
        self.settings = settings
        self.registry = registry
        self.concurrency = concurrency
        self.configs = concurrency.configs
        self.input = LambdaInput()

    def register(self, router: Router) -> None:
        reserved = "/functions/{FunctionName}/concurrency"
        routes = [
            ("PUT", "/2017-10-31" + reserved, self.put_reserved, "PutFunctionConcurrency"),
            ("GET", "/2019-09-30" + reserved, self.get_reserved, "GetFunctionConcurrency"),
            ("DELETE", "/2017-10-31" + reserved, self.delete_reserved, "DeleteFunctionConcurrency"),
            ("PUT", PROVISIONED, self.put_provisioned, "PutProvisionedConcurrencyConfig"),
            ("GET", PROVISIONED, self.get_provisioned, "GetProvisionedConcurrencyConfig"),
            ("DELETE", PROVISIONED, self.delete_provisioned, "DeleteProvisionedConcurrencyConfig"),
        ]
        for method, path, handler, operation in routes:
            router.add(method, path, self.input.guard(operation, handler, self._operation(operation)), operation)

    @staticmethod
    def _operation(operation: str) -> Callable[[Request], str]:
        """The operation a request is, for the model check: a GET with `List=ALL` lists provisioned configs."""
        listing = "ListProvisionedConcurrencyConfigs"
        return lambda req: listing if req.method == "GET" and req.query_one("List") == "ALL" else operation

    def _name(self, req: Request, *, qualified: bool = False) -> tuple[str, str | None]:
        ref = v.parse_function_ref(
            req.params["FunctionName"], region=self.settings.region, account=self.settings.account_id,
            qualifier=req.query_one("Qualifier"),
        )  # fmt: skip
        if ref.qualifier is not None and not qualified:
            raise InvalidParameterValue(UNQUALIFIED_ONLY)
        return ref.name, ref.qualifier

    # ---- reserved ----
    async def put_reserved(self, req: Request) -> Response:
        name, _ = self._name(req)
        value = req.json()["ReservedConcurrentExecutions"]  # the model checked it: an integer, 0 or more
        await self.concurrency.set_reserved(name, value)
        return Response.json({"ReservedConcurrentExecutions": value})

    async def get_reserved(self, req: Request) -> Response:
        value = self.concurrency.reserved(self._name(req)[0])
        return Response.json({} if value is None else {"ReservedConcurrentExecutions": value})

    async def delete_reserved(self, req: Request) -> Response:
        name, _ = self._name(req)
        await self.concurrency.set_reserved(name, None)
        return Response(204)

    # ---- provisioned ----
    def _describe(self, config: ProvisionedConfig, *, listing: bool = False) -> dict[str, Any]:
        ready = self.concurrency.ready(config)
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

    async def put_provisioned(self, req: Request) -> Response:
        name, qualifier = self._name(req, qualified=True)
        if qualifier is None:
            raise InvalidParameterValue("Qualifier is required: provisioned concurrency applies to a version or alias.")
        self.registry.resolve(name, qualifier)  # 404 for an unknown version or alias
        config = await self.concurrency.put_provisioned(
            name, qualifier, req.json().get("ProvisionedConcurrentExecutions")
        )
        return Response.json(self._describe(config), 202)

    def _lookup(self, name: str, qualifier: str | None) -> ProvisionedConfig | None:
        """The configuration of a version or alias, None when it has none; as Lambda: `$LATEST` is
        InvalidParameterValue (it never has one), a missing version or alias ResourceNotFound."""
        if qualifier is None:
            raise InvalidParameterValue("Qualifier is required.")
        if qualifier == "$LATEST":
            raise InvalidParameterValue("The function resource provided must be an alias or a published version.")
        self.registry.resolve(name, qualifier)
        return self.configs.get(name, qualifier)

    def _config(self, name: str, qualifier: str | None) -> ProvisionedConfig:
        config = self._lookup(name, qualifier)
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
        """204 also when there is no configuration, as Lambda answers (cleanup scripts rely on it)."""
        config = self._lookup(*self._name(req, qualified=True))
        if config is not None:
            await self.concurrency.delete_provisioned(config)
        return Response(204)
