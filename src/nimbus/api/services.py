"""The services the APIs are fronts of, in one handle: what the stack engine (`deploy/`) and the console apply
changes through, so that a change made by a template or a web page goes through the same code (validation,
durability, events to other owners) as the API call it stands for. Built once by `server.run`.
"""

from __future__ import annotations

from dataclasses import dataclass

from nimbus.api.triggers import PublicEndpoints
from nimbus.config import Settings
from nimbus.control.codestore import CodeStore
from nimbus.control.event_invoke import EventInvokeConfigs
from nimbus.control.function_urls import FunctionUrls
from nimbus.control.http_apis import HttpApis
from nimbus.control.iam import Iam
from nimbus.control.layers import LayerRegistry
from nimbus.control.policies import Policies
from nimbus.control.registry import Registry
from nimbus.control.versions import Versions
from nimbus.invoke.async_invoke import AsyncInvoker
from nimbus.invoke.concurrency import Concurrency
from nimbus.invoke.invoker import Invoker
from nimbus.logs.store import LogStore
from nimbus.queue.service import QueueService
from nimbus.sources.event_bus import EventBus
from nimbus.sources.mappings import Mappings
from nimbus.sources.scheduler import Scheduler
from nimbus.sources.topics import Topics


@dataclass(slots=True)
class Services:
    settings: Settings
    registry: Registry
    versions: Versions
    layers: LayerRegistry
    codes: CodeStore
    invoker: Invoker
    async_invoker: AsyncInvoker
    concurrency: Concurrency
    event_configs: EventInvokeConfigs
    policies: Policies
    function_urls: FunctionUrls
    http_apis: HttpApis
    mappings: Mappings
    queues: QueueService
    event_bus: EventBus
    scheduler: Scheduler
    topics: Topics
    logs: LogStore
    #: the addresses handed out (function URLs, API endpoints, queue URLs): the port is known once listening
    endpoints: PublicEndpoints | None = None
    #: IAM's roles, users and policies (None: a server without them, whose stacks only record roles)
    iam: Iam | None = None
