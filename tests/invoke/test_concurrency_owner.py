"""The owner of reserved and provisioned concurrency (`invoke.concurrency.Concurrency`) over a real registry and
real provisioned configurations (SQLite in tmp_path), with a stub in place of the instance pools. What it proves:
what is on record is applied at start-up, every change is enforced at once, and registry events (a deleted function,
version or alias) take reservations and provisioned configurations with them."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from nimbus.config import Settings
from nimbus.control.provisioned import ProvisionedConfigs
from nimbus.control.registry import Registry
from nimbus.control.versions import Versions
from nimbus.errors import TooManyRequests
from nimbus.invoke.concurrency import Concurrency
from nimbus.invoke.throttle import Throttle
from registry_support import StubPools, create_echo, open_registry, open_store

Body = Callable[[Concurrency, Registry, StubPools], Awaitable[None]]


def run(tmp_path: Path, *bodies: Body) -> None:
    """Run each body against a fresh owner over the same data dir: a server restart between bodies."""

    async def main() -> None:
        settings = Settings(data_dir=tmp_path, concurrency_limit=1000)
        engine, codes = open_store(tmp_path)
        try:
            for n, body in enumerate(bodies):
                registry = open_registry(settings, engine, codes)
                if n == 0:
                    for name in ("fn", "other"):
                        await create_echo(registry, name)
                configs = ProvisionedConfigs(registry)
                configs.load()
                pools = StubPools()
                owner = Concurrency(registry, configs, Throttle(1000, 100_000), pools)
                registry.subscribe(owner.function_changed, aliases=True)  # as the server subscribes it
                await owner.start()
                await body(owner, registry, pools)
        finally:
            engine.dispose()

    asyncio.run(main())


def test_reservations_are_enforced_at_once_and_after_a_restart(tmp_path: Path) -> None:
    async def before(owner: Concurrency, registry: Registry, pools: StubPools) -> None:
        await owner.set_reserved("fn", 0)
        assert owner.reserved("fn") == 0
        with pytest.raises(TooManyRequests), owner.throttle.admit("fn", 128):
            pass
        await owner.set_reserved("other", 5)
        assert owner.unreserved_limit == 995

    async def after(owner: Concurrency, registry: Registry, pools: StubPools) -> None:
        assert owner.throttle.reserved == {"fn": 0, "other": 5}  # applied by start()
        await owner.set_reserved("fn", None)
        with owner.throttle.admit("fn", 128):
            pass
        assert owner.unreserved_limit == 995

    run(tmp_path, before, after)


def test_provisioned_configurations_are_kept_and_come_back_after_a_restart(tmp_path: Path) -> None:
    async def before(owner: Concurrency, registry: Registry, pools: StubPools) -> None:
        versions = Versions(registry)
        await versions.publish("fn", {})
        await registry.update_config("fn", {"MemorySize": 256})  # a version is published for a change only
        await versions.publish("fn", {})
        await versions.create_alias("fn", {"Name": "live", "FunctionVersion": "2"})
        one = await owner.put_provisioned("fn", "1", 2)
        await owner.put_provisioned("fn", "live", 3)
        assert pools.kept == {("fn", "1"): 2, ("fn", "2"): 3}
        assert owner.ready(one) == 2

    async def after(owner: Concurrency, registry: Registry, pools: StubPools) -> None:
        assert pools.kept == {("fn", "1"): 2, ("fn", "2"): 3}  # applied by start()
        live = owner.configs.get("fn", "live")
        assert live is not None
        await owner.delete_provisioned(live)
        assert pools.kept == {("fn", "1"): 2}
        assert owner.configs.get("fn", "live") is None

    run(tmp_path, before, after)


def test_registry_events_take_reservations_and_configurations_with_them(tmp_path: Path) -> None:
    async def body(owner: Concurrency, registry: Registry, pools: StubPools) -> None:
        versions = Versions(registry)
        await versions.publish("fn", {})
        await registry.update_config("fn", {"MemorySize": 256})  # a version is published for a change only
        await versions.publish("fn", {})
        await owner.put_provisioned("fn", "1", 1)
        await owner.put_provisioned("fn", "2", 1)
        await owner.set_reserved("fn", 10)
        await versions.delete_version("fn", "1")  # a deleted version takes its configuration
        assert pools.kept == {("fn", "2"): 1}
        assert [c.qualifier for c in owner.configs.of_function("fn")] == ["2"]
        await registry.delete("fn")  # a deleted function takes its reservation and every configuration
        assert owner.throttle.reserved == {}
        assert owner.configs.of_function("fn") == []
        assert pools.kept == {}

    run(tmp_path, body)


def test_a_deleted_alias_takes_its_configuration_and_instances(tmp_path: Path) -> None:
    """Lambda deletes an alias's provisioned concurrency configuration with the alias: the versions it routed to
    stop being kept (both of a weighted alias), and a configuration of another version stays."""

    async def body(owner: Concurrency, registry: Registry, pools: StubPools) -> None:
        versions = Versions(registry)
        await versions.publish("fn", {})
        await registry.update_config("fn", {"MemorySize": 256})
        await versions.publish("fn", {})
        await registry.update_config("fn", {"MemorySize": 512})
        await versions.publish("fn", {})
        routing = {"AdditionalVersionWeights": {"2": 0.5}}
        await versions.create_alias("fn", {"Name": "live", "FunctionVersion": "1", "RoutingConfig": routing})
        await owner.put_provisioned("fn", "live", 4)
        await owner.put_provisioned("fn", "3", 1)
        assert pools.kept == {("fn", "1"): 2, ("fn", "2"): 2, ("fn", "3"): 1}
        await versions.delete_alias("fn", "live")
        assert pools.kept == {("fn", "3"): 1}
        assert [c.qualifier for c in owner.configs.of_function("fn")] == ["3"]

    async def after(owner: Concurrency, registry: Registry, pools: StubPools) -> None:
        assert [c.qualifier for c in owner.configs.of_function("fn")] == ["3"]  # gone from the database too
        assert pools.kept == {("fn", "3"): 1}

    run(tmp_path, body, after)
