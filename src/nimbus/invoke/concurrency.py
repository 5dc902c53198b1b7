"""The one owner of reserved and provisioned concurrency, outside the HTTP layer.

Reserved concurrency is stored by the registry and enforced by the throttle; provisioned concurrency is stored by
`ProvisionedConfigs` and kept by the instance pools. This owner keeps each pair in step from one place: at start-up
(`start`), on every change made through it, and on every registry event of a function (a deleted function takes its
reservation and its provisioned configurations with it; a deleted version, the configurations naming it).
"""

from __future__ import annotations

from typing import Protocol

from nimbus.control.provisioned import ProvisionedConfig, ProvisionedConfigs
from nimbus.control.registry import Registry
from nimbus.errors import NimbusError
from nimbus.invoke.throttle import Throttle
from nimbus.protocol.records import FunctionSpec


class ProvisionedPools(Protocol):
    """What this owner needs of the instance layer (`nimbus.instances.InstanceManager`)."""

    async def provision(self, spec: FunctionSpec, count: int) -> None: ...

    async def unprovision(self, name: str, version: str) -> None: ...

    def provisioned_ready(self, name: str, version: str) -> int: ...


class Concurrency:
    def __init__(
        self, registry: Registry, configs: ProvisionedConfigs, throttle: Throttle, pools: ProvisionedPools
    ) -> None:
        self.registry = registry
        self.configs = configs
        self.throttle = throttle
        self.pools = pools

    async def start(self) -> None:
        """Apply what is on record: every reservation to the throttle, every provisioned configuration to the pools
        (their instances start in the background)."""
        for name, reserved in self.registry.reservations().items():
            self.throttle.set_reserved(name, reserved)
        for config in self.configs.all():
            await self._apply(config)

    # ---- reserved ----
    @property
    def unreserved_limit(self) -> int:
        return self.throttle.unreserved_limit

    def reserved(self, name: str) -> int | None:
        """The function's reserved concurrency (ResourceNotFound for an unknown function)."""
        return self.registry.get(name).reserved_concurrency

    async def set_reserved(self, name: str, value: int | None) -> None:
        """Store a reservation (None removes it), then enforce what is stored."""
        await self.registry.set_reserved_concurrency(name, value)
        self._sync_reserved(name)

    def _sync_reserved(self, name: str) -> None:
        try:
            value = self.registry.get(name).reserved_concurrency
        except NimbusError:  # the function is gone
            value = None
        self.throttle.set_reserved(name, value)

    # ---- provisioned ----
    def ready(self, config: ProvisionedConfig) -> int:
        """How many of the configuration's instances are initialised and serving (its Status is made of this)."""
        targets = self.configs.targets(config)
        return sum(min(n, self.pools.provisioned_ready(config.function, ver)) for ver, n in targets.items())

    async def put_provisioned(self, name: str, qualifier: str, requested: object) -> ProvisionedConfig:
        """Store a configuration (checked by `ProvisionedConfigs`) and start keeping its instances ready."""
        config = await self.configs.put(name, qualifier, requested)
        await self._apply(config)
        return config

    async def delete_provisioned(self, config: ProvisionedConfig) -> None:
        for version in self.configs.targets(config):
            await self.pools.unprovision(config.function, version)
        await self.configs.remove(config.function, config.qualifier)

    async def _apply(self, config: ProvisionedConfig) -> None:
        for version, count in self.configs.targets(config).items():
            await self.pools.provision(self.registry.spec(config.function, version), count)

    # ---- registry events ----
    async def function_changed(self, name: str) -> None:
        """A deleted function (or version) takes its reservation and provisioned configurations with it."""
        self._sync_reserved(name)
        try:
            rec = self.registry.get(name)
        except NimbusError:
            for config in await self.configs.remove(name):
                await self.pools.unprovision(name, config.qualifier)
            return
        for config in self.configs.of_function(name):
            if config.qualifier.isdigit() and int(config.qualifier) not in rec.versions:
                await self.pools.unprovision(name, config.qualifier)
                await self.configs.remove(name, config.qualifier)
