"""Every service a stack applies through, built in-process over a temporary data dir as `server.run` wires them
(real stores, registry, policies, URLs, HTTP APIs, mappings, queues, topics, bus, scheduler, logs, IAM), with instance
pools that are never reached: providers make and change resources, they never invoke. `Stack` runs provider calls
the way the engine does, keeping each resource's last properties and its physical id."""

from __future__ import annotations

import asyncio
import io
import zipfile
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nimbus.api.services import Services
from nimbus.api.triggers import PublicEndpoints
from nimbus.config import Settings
from nimbus.control.event_invoke import EventInvokeConfigs
from nimbus.control.event_rules import EventRules
from nimbus.control.function_urls import FunctionUrls
from nimbus.control.http_apis import HttpApis
from nimbus.control.iam import Iam
from nimbus.control.iam_store import IamStore
from nimbus.control.policies import Policies
from nimbus.control.provisioned import ProvisionedConfigs
from nimbus.control.secret_box import SecretBox
from nimbus.control.versions import Versions
from nimbus.deploy.provider import Made, StackContext
from nimbus.deploy.providers import provider_for
from nimbus.invoke.async_invoke import AsyncInvoker
from nimbus.invoke.concurrency import Concurrency
from nimbus.invoke.invoker import Invoker
from nimbus.invoke.throttle import Throttle
from nimbus.logs.store import LogStore
from nimbus.queue.service import QueueService
from nimbus.queue.sqlite import SqliteQueueStore
from nimbus.sources.deliveries import DELIVERY_QUEUE, Deliveries, DeliverySettings
from nimbus.sources.event_bus import EventBus
from nimbus.sources.mappings import Mappings
from nimbus.sources.schedule_runner import ScheduleRunner
from nimbus.sources.scheduler import Scheduler
from nimbus.sources.sns_signing import SigningKey
from nimbus.sources.topics import Topics
from registry_support import StubPools, open_registry, open_store

ROLE = "arn:aws:iam::000000000000:role/r"
#: an AWS::Lambda::Function's properties with CloudFormation's inline code
INLINE: dict[str, Any] = {"Runtime": "python3.12", "Handler": "index.handler", "Role": ROLE,
                          "Code": {"ZipFile": "def handler(e, c):\n    return e\n"}}  # fmt: skip
STACK_ID = "arn:aws:cloudformation:us-east-1:000000000000:stack/app/8f7c2c20-0000-0000-0000-000000000001"


def zip_of(name: str, text: str) -> bytes:
    """A deployment package holding one file."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr(name, text)
    return buf.getvalue()


@asynccontextmanager
async def services(data_dir: Path) -> AsyncIterator[Services]:
    """The services over `data_dir`, wired as the server wires them."""
    settings = Settings(data_dir=data_dir, port=9001)
    engine, codes = open_store(data_dir)
    registry = open_registry(settings, engine, codes)
    pools = StubPools()
    throttle = Throttle(1000, 100_000)
    invoker = Invoker(registry, pools, throttle)
    configs = ProvisionedConfigs(registry)
    configs.load()
    concurrency = Concurrency(registry, configs, throttle, pools)
    registry.subscribe(invoker.function_changed)
    registry.subscribe(concurrency.function_changed, aliases=True)
    event_configs = EventInvokeConfigs(settings, registry, engine)
    policies = Policies(settings, registry, engine)
    urls = FunctionUrls(settings, registry, engine)
    for owner in (event_configs, policies, urls):
        owner.load()
        registry.subscribe(owner.function_changed, aliases=True)
    http_apis = HttpApis(settings, engine)
    http_apis.load()
    queues = SqliteQueueStore(data_dir / "queues.db")
    queue_service = QueueService(queues, settings.region, settings.account_id)
    async_invoker = AsyncInvoker(invoker, queues)
    await async_invoker.start()
    deliveries = Deliveries(DeliverySettings(), queues, queue_service, async_invoker, policies)
    await queues.create_queue(DELIVERY_QUEUE, {}, {})
    runner = ScheduleRunner(engine)
    event_bus = EventBus(EventRules(settings, engine), deliveries, runner)
    event_bus.load()
    mappings = Mappings(settings, engine, registry, queue_service, invoker)
    mappings.load()
    scheduler = Scheduler(settings, engine, runner, deliveries)
    scheduler.load()
    topics = Topics(settings, engine, deliveries, SigningKey(data_dir, settings.region), lambda: "http://127.0.0.1")
    topics.load()
    logs = LogStore(settings.logs_db_path, settings.log_retention_days)
    iam = Iam(IamStore(engine, SecretBox.for_data_dir(data_dir), settings.account_id), settings.account_id)
    iam.load()
    try:
        yield Services(settings, registry, Versions(registry), registry.layers, codes, invoker, async_invoker,
                       concurrency, event_configs, policies, urls, http_apis, mappings, queue_service, event_bus,
                       scheduler, topics, logs, PublicEndpoints(settings), iam)  # fmt: skip
    finally:
        await mappings.stop()
        await queues.close()
        await logs.close()
        engine.dispose()


@dataclass
class Stack:
    """One stack's resources, applied the way the engine applies them: by logical id, through `provider_for`."""

    services: Services
    name: str = "app"
    code: dict[str, bytes] = field(default_factory=dict)
    props: dict[str, tuple[str, dict[str, Any]]] = field(default_factory=dict)
    made: dict[str, Made] = field(default_factory=dict)

    @property
    def ctx(self) -> StackContext:
        return StackContext(self.services, self.name, STACK_ID, "us-east-1", "000000000000", self.code)

    async def put(self, logical_id: str, type_: str, props: Mapping[str, Any]) -> Made:
        """Create, update in place, or replace (create the new one, then delete the old) as the plan would."""
        provider = provider_for(type_)
        assert provider is not None, type_
        new = dict(props)
        if logical_id not in self.made:
            made = await provider.create(self.ctx, type_, logical_id, new)
        else:
            old = self.props[logical_id][1]
            before = self.made[logical_id]
            if provider.replaces(type_, old, new):
                made = await provider.create(self.ctx, type_, logical_id, new)
                await provider.delete(self.ctx, type_, logical_id, before.physical_id, old)
            else:
                made = await provider.update(self.ctx, type_, logical_id, before.physical_id, old, new)
        self.props[logical_id] = (type_, new)
        self.made[logical_id] = made
        return made

    def replaces(self, logical_id: str, props: Mapping[str, Any]) -> bool:
        type_, old = self.props[logical_id]
        provider = provider_for(type_)
        assert provider is not None
        return provider.replaces(type_, old, dict(props))

    async def delete(self, logical_id: str) -> None:
        type_, old = self.props.pop(logical_id)
        made = self.made.pop(logical_id)
        provider = provider_for(type_)
        assert provider is not None
        await provider.delete(self.ctx, type_, logical_id, made.physical_id, old)
        await provider.delete(self.ctx, type_, logical_id, made.physical_id, old)  # deletes are idempotent


def run(data_dir: Path, body: Any) -> None:
    """Run `body(stack)` against fresh services over `data_dir`."""

    async def main() -> None:
        async with services(data_dir) as svc:
            await body(Stack(svc))

    asyncio.run(main())
