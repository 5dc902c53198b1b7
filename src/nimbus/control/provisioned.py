"""Provisioned concurrency configurations: how many initialised instances a version (or an alias's versions)
keeps ready. The configuration is stored here; the instance manager does the keeping, and reports how many are
ready, which is what Status (IN_PROGRESS → READY) is made of. Rows are written by the registry's record store.
"""

from __future__ import annotations

import asyncio
from typing import Any

from nimbus.clock import lambda_timestamp
from nimbus.control.records import ProvisionedConfig
from nimbus.control.registry import Registry
from nimbus.errors import InvalidParameterValue, ResourceConflict

__all__ = ["ProvisionedConfig", "ProvisionedConfigs", "split"]  # ProvisionedConfig is re-exported for its users


def split(requested: int, primary: str, routing: dict[str, Any] | None) -> dict[str, int]:
    """How an alias's provisioned instances divide between its versions: by the routing weight, as Lambda does."""
    if not routing:
        return {primary: requested}
    ((extra, weight),) = routing["AdditionalVersionWeights"].items()
    share = round(requested * float(weight))
    return {primary: requested - share, str(extra): share} if share else {primary: requested}


class ProvisionedConfigs:
    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self._store = registry.store
        self._configs: dict[tuple[str, str], ProvisionedConfig] = {}

    def load(self) -> None:
        self._configs = {(c.function, c.qualifier): c for c in self._store.load_provisioned()}

    def all(self) -> list[ProvisionedConfig]:
        return list(self._configs.values())

    def get(self, function: str, qualifier: str) -> ProvisionedConfig | None:
        return self._configs.get((function, qualifier))

    def of_function(self, function: str) -> list[ProvisionedConfig]:
        return [c for (f, _), c in sorted(self._configs.items()) if f == function]

    def targets(self, config: ProvisionedConfig) -> dict[str, int]:
        """Version → instance count this configuration keeps ready."""
        rec = self.registry.get(config.function)
        alias = rec.aliases.get(config.qualifier)
        if alias is None:
            return {config.qualifier: config.requested}
        return split(config.requested, alias["FunctionVersion"], alias.get("RoutingConfig"))

    def check(self, function: str, qualifier: str, requested: Any) -> None:
        if isinstance(requested, bool) or not isinstance(requested, int) or requested < 1:
            raise InvalidParameterValue("ProvisionedConcurrentExecutions must be an integer of 1 or more.")
        if qualifier == "$LATEST":
            raise InvalidParameterValue(
                "Provisioned Concurrency Configs cannot be applied to unpublished function versions."
            )
        rec = self.registry.get(function)
        if qualifier.isdigit():  # an alias of this version already provisioned?
            related = [a for a, cfg in rec.aliases.items() if cfg["FunctionVersion"] == qualifier]
        else:  # this alias's version already provisioned?
            related = [rec.aliases[qualifier]["FunctionVersion"]] if qualifier in rec.aliases else []
        taken = [q for q in related if (function, q) in self._configs]
        if taken:
            raise ResourceConflict(
                f"Alias and its version cannot both have provisioned concurrency: {', '.join(taken)} already has it."
            )
        reserved = rec.reserved_concurrency
        others = sum(c.requested for c in self.of_function(function) if c.qualifier != qualifier)
        if reserved is not None and others + requested > reserved:
            raise InvalidParameterValue(
                f"Requested Provisioned Concurrency should not be greater than the reservedConcurrentExecution "
                f"for function ({reserved})."
            )

    async def put(self, function: str, qualifier: str, requested: Any) -> ProvisionedConfig:
        self.check(function, qualifier, requested)
        config = ProvisionedConfig(function, qualifier, requested, lambda_timestamp())
        await asyncio.to_thread(self._store.put_provisioned, config)
        self._configs[(function, qualifier)] = config
        return config

    async def remove(self, function: str, qualifier: str | None = None) -> list[ProvisionedConfig]:
        """Drop one configuration, or every configuration of the function (qualifier None)."""
        gone = [c for (f, q), c in self._configs.items() if f == function and qualifier in (None, q)]
        await asyncio.to_thread(self._store.delete_provisioned, function, qualifier)
        for c in gone:
            del self._configs[(c.function, c.qualifier)]
        return gone
