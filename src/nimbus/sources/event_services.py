"""EventBridge, EventBridge Scheduler and SNS made together, over the one durable delivery path they share.

They are built as a group because they are wired into each other: each submits to the same `Deliveries`, rules and
schedules fire through the same `ScheduleRunner`, and topics are themselves a delivery kind (rules' and
schedules' `sns` targets). `server.run` makes the group in one call, starts the deliveries and then the runner
once every owner has registered the schedules it loaded (those are caught up after downtime), and stops them in
the reverse order.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Engine

from nimbus.config import HTTP_DELIVERY_TIMEOUT_S, Settings
from nimbus.control.event_rules import EventRules
from nimbus.control.policies import Policies
from nimbus.invoke.async_invoke import AsyncInvoker
from nimbus.queue.contract import QueueStore
from nimbus.queue.service import QueueService
from nimbus.sources.deliveries import Deliveries, DeliverySettings
from nimbus.sources.event_bus import EventBus
from nimbus.sources.schedule_runner import ScheduleRunner
from nimbus.sources.scheduler import Scheduler
from nimbus.sources.sns_signing import SigningKey
from nimbus.sources.topics import Topics


@dataclass(frozen=True, slots=True)
class EventServices:
    #: to functions (through their resource policy and the async door), queues, topics and http(s) URLs
    deliveries: Deliveries
    #: fires rules' and schedules' expressions; started after every owner registered its schedules
    schedule_runner: ScheduleRunner
    event_bus: EventBus
    scheduler: Scheduler
    topics: Topics


def open_event_services(
    settings: Settings,
    engine: Engine,
    queues: QueueStore,
    queue_service: QueueService,
    async_invoker: AsyncInvoker,
    policies: Policies,
    base_url: Callable[[], str],
) -> EventServices:
    """The group, loaded: buses and rules, schedules (their ENABLED ones registered with the runner), topics and
    subscriptions. `base_url` is this server's address as clients reach it, known once it listens: SNS messages
    name it for the certificate, SubscribeURL and UnsubscribeURL."""
    deliveries = Deliveries(
        DeliverySettings(concurrency=settings.delivery_concurrency, retry_delays=settings.delivery_retry_delay_values,
                         visibility_s=settings.delivery_visibility, http_timeout_s=HTTP_DELIVERY_TIMEOUT_S),
        queues, queue_service, async_invoker, policies,
    )  # fmt: skip
    schedule_runner = ScheduleRunner(engine)
    # EventBridge: PutEvents fans out through the deliveries, scheduled rules fire by the runner
    event_bus = EventBus(EventRules(settings, engine), deliveries, schedule_runner)
    event_bus.load()
    scheduler = Scheduler(settings, engine, schedule_runner, deliveries)
    scheduler.load()
    topics = Topics(settings, engine, deliveries, SigningKey(settings.data_dir, settings.region), base_url)
    topics.load()
    deliveries.register_sink("sns", topics.deliver_to_topic)
    return EventServices(deliveries, schedule_runner, event_bus, scheduler, topics)
