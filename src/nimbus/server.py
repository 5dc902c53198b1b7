"""Wires everything together and owns every background task: start, serve, drain, stop."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import signal
from pathlib import Path

from nimbus.api import errors as wire
from nimbus.api.api_front import ApiFront
from nimbus.api.apigw_api import ApiGatewayApi
from nimbus.api.app import JSON_BODY_MAX, SQS_BODY_MAX, App, JsonService, QueryService
from nimbus.api.async_config_api import AsyncConfigApi
from nimbus.api.authorize import authorizer_for
from nimbus.api.code_links import CodeLinks
from nimbus.api.concurrency_api import ConcurrencyApi
from nimbus.api.events_api import BODY_MAX as EVENTS_BODY_MAX
from nimbus.api.events_api import TARGET_PREFIX as EVENTS_TARGET_PREFIX
from nimbus.api.events_api import EventsApi
from nimbus.api.function_extras_api import FunctionExtrasApi
from nimbus.api.function_urls_api import FunctionUrlsApi
from nimbus.api.http import Routes
from nimbus.api.httplimits import Limits
from nimbus.api.httpserver import HttpServer
from nimbus.api.identity_apis import identity_services
from nimbus.api.lambda_api import LambdaApi
from nimbus.api.layers_api import LayersApi
from nimbus.api.logs_api import TARGET_PREFIX as LOGS_TARGET_PREFIX
from nimbus.api.logs_api import LogsApi
from nimbus.api.mappings_api import MappingsApi
from nimbus.api.policy_api import PolicyApi
from nimbus.api.scheduler_api import SchedulerApi
from nimbus.api.services import Services
from nimbus.api.sns_api import BODY_MAX as SNS_BODY_MAX
from nimbus.api.sns_api import SERVICE as SNS_SERVICE
from nimbus.api.sns_api import SnsApi
from nimbus.api.sqs_api import TARGET_PREFIX as SQS_TARGET_PREFIX
from nimbus.api.sqs_api import SqsApi
from nimbus.api.triggers import API, CONSOLE, URL, Front, PublicEndpoints
from nimbus.api.url_front import UrlFront
from nimbus.config import DEV_ACCESS_KEY_ID, DEV_SECRET_ACCESS_KEY, Settings
from nimbus.console.console import build as build_console
from nimbus.control.codestore import CodeStore
from nimbus.control.event_invoke import EventInvokeConfigs
from nimbus.control.execution_roles import ExecutionRoles
from nimbus.control.function_urls import FunctionUrls
from nimbus.control.http_apis import HttpApis
from nimbus.control.keyring import open_key_ring
from nimbus.control.layers import LayerRegistry
from nimbus.control.policies import Policies
from nimbus.control.provisioned import ProvisionedConfigs
from nimbus.control.registry import Registry
from nimbus.control.validation import CREATE_BODY_MAX
from nimbus.control.versions import Versions
from nimbus.deploy.stacks_api import open_stacks
from nimbus.deploy.state import StackStore
from nimbus.errors import ResourceNotFound
from nimbus.instances.isolation import detect
from nimbus.instances.manager import InstanceManager
from nimbus.instances.zygote import default_launcher
from nimbus.invoke.async_dispatch import Dispatcher, DispatchSettings
from nimbus.invoke.async_invoke import AsyncInvoker
from nimbus.invoke.concurrency import Concurrency
from nimbus.invoke.invoker import Invoker
from nimbus.invoke.throttle import Throttle
from nimbus.logs.limits import LogGate, LogLimits
from nimbus.logs.store import LogStore
from nimbus.metrics import MetricsEndpoint, exposure_warning, registry_for
from nimbus.queue.contract import QueueStore
from nimbus.queue.service import QueueService
from nimbus.queue.sqlite import SqliteQueueStore
from nimbus.runtimes.registry import resolve_runtime, use_installed_runtimes
from nimbus.sources.event_services import open_event_services
from nimbus.sources.mappings import Mappings
from nimbus.startup import (
    banner,
    base_url,
    configure_logging,
    default_memory_budget,
    deploy_folder,
    isolation_level,
    url_key,
    write_ready_file,
)
from nimbus.store.db import migrate, sqlite_engine
from nimbus.store.schema import metadata

log = logging.getLogger("nimbus")


def _code_kept(registry: Registry, manager: InstanceManager, stacks: StackStore) -> set[str]:
    """The code hashes the code collector keeps: referenced by the registry or a stack's records (a rollback puts
    old code back), or run from by an instance."""
    return registry.live_code() | stacks.code_in_use() | {path.name for path in manager.code_in_use()}


async def _cold_start_ahead(registry: Registry, manager: InstanceManager, name: str) -> None:
    """A registry event: a function created or updated is invoked cold next, so its runtime's spares grow ahead."""
    with contextlib.suppress(ResourceNotFound):  # deleted
        manager.expect_cold_start(str(registry.get(name).config.get("Runtime", "")))


async def _restart_log_writer(ended: asyncio.Task[None], logstore: LogStore) -> asyncio.Task[None]:
    """The log writer ended, which `LogStore.run` never does on a storage error: say so loudly, pause, restart it."""
    exc = None if ended.cancelled() else ended.exception()
    log.error("the log writer stopped (%r); restarting it in 1 s, logs meanwhile are buffered", exc, exc_info=exc)
    await asyncio.sleep(1.0)
    return asyncio.create_task(logstore.run(), name="log-flusher")


async def run(settings: Settings, deploy_dir: Path | None = None) -> None:
    """Serve until the stop signal, then drain and stop.

    Background-task failure policy: a task the API cannot serve without takes the server down loudly when it
    fails (an exception propagates out of here). The log writer is not such a task: losing logs is never fatal.
    `LogStore.run` absorbs storage failures itself (logs them, retries with backoff, drops what it cannot keep,
    counted in metrics) and never ends; should it end anyway, it is logged and restarted, and invokes go on.
    """
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    use_installed_runtimes(settings.runtimes_dir)  # what `nimbus runtime install` put there
    engine = sqlite_engine(settings.db_path)
    migrate(engine, metadata)
    codes = CodeStore(settings.data_dir)

    def check_runtime(name: str) -> None:
        resolve_runtime(name, settings.runtime_fallback)

    layers = LayerRegistry(settings, engine, codes)
    layers.load()
    registry = Registry(settings, engine, codes, check_runtime, layers)
    registry.load()
    codes.collect(registry.live_code() | StackStore(engine).code_in_use())
    limits = LogLimits(settings.log_invocation_bytes, settings.log_function_bytes_per_s,
                       settings.log_disk_reserve_mb << 20)  # fmt: skip
    logstore = LogStore(settings.logs_db_path, settings.log_retention_days, LogGate(limits))
    # the durable queues (async events, SQS-compatible queues, retries, destination deliveries): their own file
    queues: QueueStore = SqliteQueueStore(settings.queues_db_path)
    # the SQS rules over the store: the SQS API, and the door for destinations, dead-letter queues and pollers
    queue_service = QueueService(queues, settings.region, settings.account_id)
    # the isolation this host allows, detected once: instances are launched with it, the health probe reports it
    isolation = detect(settings.limits_mechanism)
    launcher = default_launcher(isolation, settings.spare_instances, settings.limits_mechanism)
    manager = InstanceManager(settings, logstore, launcher)
    links = CodeLinks(url_key(settings.data_dir), f"{settings.host}:{settings.port}")
    throttle = Throttle(settings.concurrency_limit, settings.memory_budget_mb or default_memory_budget())
    invoker = Invoker(registry, manager, throttle)
    manager.in_flight = invoker.in_flight
    configs = ProvisionedConfigs(registry)
    configs.load()
    concurrency = Concurrency(registry, configs, throttle, manager)
    # a function's change reaches the door first (its cached specs dropped, then its instances retired), then the
    # owner of its reserved and provisioned concurrency (an alias's configuration goes with the alias)
    registry.subscribe(invoker.function_changed)
    registry.subscribe(concurrency.function_changed, aliases=True)
    registry.subscribe(functools.partial(_cold_start_ahead, registry, manager), creates=True)
    event_configs = EventInvokeConfigs(settings, registry, engine)
    event_configs.load()
    registry.subscribe(event_configs.function_changed, aliases=True)
    # resource-based policies: asked on every function-URL request; dropped with their function, version or alias
    policies = Policies(settings, registry, engine)
    policies.load()
    registry.subscribe(policies.function_changed, aliases=True)
    # function URLs: found by id on every URL request; dropped with their function or alias
    function_urls = FunctionUrls(settings, registry, engine)
    function_urls.load()
    registry.subscribe(function_urls.function_changed, aliases=True)
    # HTTP APIs (API Gateway v2): routes to functions by ARN; a deleted function is the front's 500, not ours
    http_apis = HttpApis(settings, engine)
    http_apis.load()
    async_invoker = AsyncInvoker(invoker, queues)
    dispatcher = Dispatcher(
        DispatchSettings(
            concurrency=settings.async_share, retry_delays=settings.async_retry_delay_values,
            visibility_s=settings.async_visibility, throttle_delay_s=settings.async_throttle_delay,
            throttle_max_delay_s=settings.async_throttle_max_delay,
        ),
        invoker, async_invoker, event_configs, registry, queues,
    )  # fmt: skip
    # the endpoints function URLs and HTTP APIs hand out (their port is the listening one, known once it listens)
    endpoints = PublicEndpoints(settings)
    # EventBridge, Scheduler and SNS over their one durable delivery path and schedule runner (`event_services.py`)
    events = open_event_services(settings, engine, queues, queue_service, async_invoker, policies,
                                 lambda: base_url(settings, endpoints.listening_port))  # fmt: skip
    # event source mappings: queues that feed functions, each enabled one polled by tasks this service owns
    mappings = Mappings(settings, engine, registry, queue_service, invoker)
    mappings.load()
    lambda_api = LambdaApi(settings, registry, Versions(registry), invoker, links, concurrency, async_invoker)
    apis: list[Routes] = [
        lambda_api,
        LayersApi(layers, links),
        ConcurrencyApi(settings, registry, concurrency),
        FunctionExtrasApi(settings, registry),
        AsyncConfigApi(settings, event_configs),
        MappingsApi(mappings),
        PolicyApi(settings, policies),
    ]
    apis.append(FunctionUrlsApi(settings, function_urls, endpoints))
    apis.append(ApiGatewayApi(http_apis, endpoints))
    apis.append(SchedulerApi(events.scheduler))
    # every access key accepted (root, IAM users', sessions), asked by SigV4 on every request
    keys = open_key_ring(settings, engine)
    registry.check_role = ExecutionRoles(keys.iam, settings.account_id).check
    manager.downstream.keyring = keys  # each instance gets a session of its function's role
    fronts: dict[str, Front] = {URL: UrlFront(settings, function_urls, policies, invoker, keys)}
    # HTTP APIs served: invocations past their integration timeout run on in tasks it owns, awaited at stop
    api_front = fronts[API] = ApiFront(settings, http_apis, policies, invoker, endpoints, keys)
    # the JSON-protocol APIs on `POST /`, by X-Amz-Target prefix: scope, body limit, handler, error shape
    json_services = [
        JsonService(LOGS_TARGET_PREFIX, "logs", "CloudWatch Logs", JSON_BODY_MAX, LogsApi(logstore).handle,
                    wire.json_11),
        JsonService(SQS_TARGET_PREFIX, "sqs", "SQS", SQS_BODY_MAX, SqsApi(queue_service).handle, wire.json_10),
        JsonService(EVENTS_TARGET_PREFIX, "events", "EventBridge", EVENTS_BODY_MAX, EventsApi(events.event_bus).handle,
                    wire.json_11),
    ]  # fmt: skip
    sns_api = SnsApi(events.topics)
    query_services = [QueryService(SNS_SERVICE, "SNS", SNS_BODY_MAX, sns_api.handle, wire.sns_xml, sns_api.is_public,
                                   sns_api.handle_public)]  # fmt: skip
    query_services += identity_services(keys)  # IAM and STS
    # one handle on the services, for what applies changes through them (stacks, the console)
    services = Services(settings, registry, lambda_api.versions, layers, codes, invoker, async_invoker, concurrency,
                        event_configs, policies, function_urls, http_apis, mappings, queue_service, events.event_bus,
                        events.scheduler, events.topics, logstore, endpoints, keys.iam)  # fmt: skip
    authorizer = authorizer_for(services, keys)
    for front in fronts.values():  # AWS_IAM function URLs and routes ask it too
        front.authorizer = authorizer
    stacks, stacks_api = open_stacks(services, engine)  # SAM/CloudFormation stacks: `nimbus deploy`, `nimbus stack`
    apis.append(stacks_api)
    # the web console at /console: its own front (cookie sessions), its time series written by a task it owns
    console = build_console(services, engine, manager, throttle, keys.principal, authorizer, stacks)
    fronts[CONSOLE] = console.front
    apis.append(console.api)
    app = App(settings, apis, json_services, codes, links, fronts=fronts, isolation=isolation_level(isolation),
              query_services=query_services, keys=keys, authorizer=authorizer)  # fmt: skip

    http_limits = Limits(
        max_connections=settings.max_connections, max_buffered=settings.max_buffered_mb << 20,
        header_timeout=settings.header_timeout, body_timeout=settings.body_timeout,
    )  # fmt: skip
    http = HttpServer(app.handle, max_body=CREATE_BODY_MAX, gate=app, limits=http_limits)
    manager.others_waiting = http.activity.waiting
    metrics = (
        MetricsEndpoint(
            registry_for(manager, throttle, logstore.gate.drops, invoker.sources, dispatcher.outcomes,
                         events.deliveries.outcomes),
            settings.metrics_token,
        )
        if settings.metrics_port is not None
        else None
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    if settings.dev_credentials:
        log.warning(
            "no credentials configured: accepting the well-known development key pair %s/%s on loopback only",
            DEV_ACCESS_KEY_ID, DEV_SECRET_ACCESS_KEY,
        )  # fmt: skip
    warning = exposure_warning(settings.metrics_host, settings.metrics_token) if metrics else None
    if warning:
        log.warning("%s", warning)

    await manager.start()
    await concurrency.start()  # reservations enforced, provisioned instances back after a restart
    log_task = asyncio.create_task(logstore.run(), name="log-flusher")
    gc_task = asyncio.create_task(
        codes.collect_forever(lambda: _code_kept(registry, manager, stacks.store), settings.code_gc_interval),
        name="code-gc",
    )
    stop_task = asyncio.create_task(stop.wait(), name="stop-signal")
    await async_invoker.start()  # its queue exists before the first Event invoke is accepted
    dispatch_task = dispatcher.start()
    delivery_task = await events.deliveries.start()  # its queue exists before the first submit
    runner_task = events.schedule_runner.start()  # after every owner registered its schedules
    await mappings.start()  # the pollers of enabled mappings, back after a restart
    series_task = console.start()
    try:
        port = await http.start(settings.host, settings.port)
        endpoints.listening_port = port
        stacks.start()  # what a stopped server left in progress: rolled back, or its clean-up / deletion finished
        manager.downstream.api_url, manager.downstream.api_port = base_url(settings, port), port  # functions' endpoint
        manager.downstream.serve_listener = http.adopt_listener  # and theirs with no network (`downstream.py`)
        metrics_port = None
        if metrics is not None and settings.metrics_port is not None:
            metrics_port = await metrics.start(settings.metrics_host, settings.metrics_port)
        deployed = await deploy_folder(registry, stacks, deploy_dir, keys.iam) if deploy_dir else []
        manager.prewarm({str(registry.get(name).config.get("Runtime", "")) for name in registry.names()})
        print(banner(settings, port, deployed, metrics_port), flush=True)
        if settings.ready_file:
            write_ready_file(settings.ready_file, settings.host, port, metrics_port)
        while not stop_task.done():
            done, _ = await asyncio.wait(
                {stop_task, log_task, gc_task, dispatch_task, delivery_task, runner_task, series_task},
                return_when=asyncio.FIRST_COMPLETED,
            )
            for task, what in ((delivery_task, "the delivery poller"), (runner_task, "the schedule runner")):
                if task in done:
                    task.result()  # neither ends: a store failure takes the server down, loudly
                    raise RuntimeError(f"{what} ended")
            if series_task in done:
                series_task.result()  # it absorbs storage errors and never ends: anything else is a bug, loud
                raise RuntimeError("the console's time series writer ended")
            if dispatch_task in done:
                dispatch_task.result()  # the dispatcher never ends: a queue store failure takes the server down
                raise RuntimeError("the async dispatcher ended")
            if gc_task in done:
                gc_task.result()  # code collection absorbs disk errors and never ends: anything else is a bug, loud
                raise RuntimeError("the code collector ended")
            if log_task in done:
                log_task = await _restart_log_writer(log_task, logstore)
        log.info("stopping: draining requests, then instances")
    finally:
        stop_task.cancel()
        if metrics is not None:
            await metrics.stop()
        await console.stop()  # its live tails end, so that the requests drain
        await stacks.stop()  # a deploy in progress stops where it is: rolled back at the next start
        await http.stop()
        await api_front.close()  # after the requests, before the instances its invocations run on
        await events.schedule_runner.stop()  # no fire once requests have stopped
        await events.deliveries.stop()  # deliveries in hand finish or go back to their queue, before it closes
        await dispatcher.stop()  # before the instances: running events finish or go back to the queue
        await mappings.stop()  # pollers too: a batch in hand finishes, the rest stays in its queue
        await manager.stop()
        gc_task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await gc_task
        log_task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await log_task
        await queues.close()  # after everything that enqueues or reserves has stopped
        await logstore.close()
        engine.dispose()


def serve(settings: Settings, deploy_dir: Path | None = None) -> None:
    """Run the server until SIGINT/SIGTERM. Raises ValueError for settings that are insecure or incoherent."""
    settings.check()
    configure_logging(settings.log_level)
    import uvloop

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(run(settings, deploy_dir))
