"""What the delivery-path tests of tests/sources share: the durable delivery path over real parts (a SqliteQueueStore
in the data dir on the given clock, the real QueueService with a `target` and a `dlq` queue, a real registry holding
the echo function `fn`, policies, Invoker and AsyncInvoker, and Deliveries), with instance pools a delivery never
reaches: a delivery to a function ends at the durable accept."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine

from nimbus.clock import Clock
from nimbus.config import Settings
from nimbus.control.policies import Policies
from nimbus.control.registry import Registry
from nimbus.invoke.async_invoke import AsyncInvoker
from nimbus.invoke.invoker import Invoker
from nimbus.invoke.throttle import Throttle
from nimbus.protocol.records import FunctionSpec, InvokeRequest, InvokeResult
from nimbus.queue.service import QueueService
from nimbus.queue.sqlite import SqliteQueueStore
from nimbus.sources.deliveries import DELIVERY_QUEUE, Deliveries, DeliverySettings
from registry_support import create_echo, open_registry, open_store


class UnreachablePools:
    """The instance pools: a delivery to a function ends at the durable accept, so nothing may run here."""

    def __init__(self, why: str = "a delivery never invokes synchronously") -> None:
        self.why = why

    async def invoke(self, spec: FunctionSpec, request: InvokeRequest) -> InvokeResult:
        raise AssertionError(self.why)

    async def retire(self, function_name: str) -> None:
        pass


@dataclass
class DeliveryParts:
    config: Settings
    engine: Engine
    registry: Registry
    invoker: Invoker
    queues: SqliteQueueStore
    service: QueueService
    accept: AsyncInvoker
    policies: Policies
    deliveries: Deliveries


async def delivery_parts(
    data_dir: Path, clock: Clock, settings: DeliverySettings, *, pools: UnreachablePools | None = None,
    subscribe: bool = False,
) -> DeliveryParts:  # fmt: skip
    """The parts over `data_dir` (`fn` created unless already on record); `subscribe` has the invoker follow the
    registry's changes. The caller closes `queues` and disposes of `engine`."""
    config = Settings(data_dir=data_dir)
    engine, codes = open_store(data_dir)
    registry = open_registry(config, engine, codes)
    if "fn" not in registry.names():
        await create_echo(registry)
    invoker = Invoker(registry, pools or UnreachablePools(), Throttle(10, 100_000))
    if subscribe:
        registry.subscribe(invoker.function_changed)
    queues = SqliteQueueStore(data_dir / "queues.db", clock)
    service = QueueService(queues, config.region, config.account_id, clock)
    for name in ("target", "dlq"):
        await service.create_queue(name, {}, {})
    accept = AsyncInvoker(invoker, queues, clock)
    await accept.start()
    policies = Policies(config, registry, engine)
    deliveries = Deliveries(settings, queues, service, accept, policies, clock)
    await queues.create_queue(DELIVERY_QUEUE, {}, {})
    return DeliveryParts(config, engine, registry, invoker, queues, service, accept, policies, deliveries)
