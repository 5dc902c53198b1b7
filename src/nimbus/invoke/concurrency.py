"""The one owner of reserved and provisioned concurrency, outside the HTTP layer.

Reserved concurrency is stored by the registry and enforced by the throttle; provisioned concurrency is stored by
`ProvisionedConfigs` and kept by the instance pools. This owner keeps each pair in step from one place: at start-up
(`start`), on every change made through it, and on every registry event of a function (a deleted function takes its
reservation and its provisioned configurations with it; a deleted version or alias, the configurations naming it).
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
        #: (function, qualifier) → the versions a configuration keeps instances of, as last applied: an alias's
        #: configuration is undone by these once the alias (and with it the routing) is gone
        self._applied: dict[tuple[str, str], set[str]] = {}

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
        await self._unapply(config)
        await self.configs.remove(config.function, config.qualifier)

    async def _apply(self, config: ProvisionedConfig) -> None:
        targets = self.configs.targets(config)
        for version, count in targets.items():
            await self.pools.provision(self.registry.spec(config.function, version), count)
        self._applied[(config.function, config.qualifier)] = set(targets)

    async def _unapply(self, config: ProvisionedConfig) -> None:
        key = (config.function, config.qualifier)
        for version in sorted(self._applied.pop(key, set())):
            await self.pools.unprovision(config.function, version)

    # ---- registry events ----
    async def function_changed(self, name: str) -> None:
        """A deleted function, version or alias takes its reservation and provisioned configurations with it
        (subscribed with `aliases=True`: Lambda deletes an alias's configuration with the alias)."""
        self._sync_reserved(name)
        try:
            rec = self.registry.get(name)
        except NimbusError:
            for config in await self.configs.remove(name):
                await self._unapply(config)
            return
        for config in self.configs.of_function(name):
            q = config.qualifier
            if (int(q) not in rec.versions) if q.isdigit() else (q not in rec.aliases):
                await self._unapply(config)
                await self.configs.remove(name, q)
