"""Event source mappings: which built-in queue feeds which function, kept in the control store, and the pollers
that do the feeding (one `Poller` per enabled mapping, started and stopped here; the server owns this service).

The API answers with Lambda's transitional states (Creating, Enabling, Disabling, Updating, Deleting) on the call
that causes them; the pollers start or stop within that call, so the next Get reports the settled state (Enabled
or Disabled). Mappings are loaded at start-up and their pollers restarted: a mapping survives `kill -9`, and the
messages its pollers held come back after their visibility timeout.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from dataclasses import replace
from typing import Any

from sqlalchemy import Engine, delete, insert, select, update

from nimbus.clock import Clock, RealClock
from nimbus.config import Settings
from nimbus.control import validation as v
from nimbus.control.registry import Registry
from nimbus.errors import InvalidParameterValue, NimbusError, ResourceConflict
from nimbus.invoke.invoker import Invoker
from nimbus.queue.service import QueueService
from nimbus.sources import mapping_rules as rules
from nimbus.sources.mapping_rules import MappingRecord
from nimbus.sources.poller import Poller
from nimbus.sources.sqs_poller import Message, SqsSource
from nimbus.store.schema import event_source_mappings as table

NO_QUEUE = ("Error occurred while ReceiveMessage. SQS Error Code: AWS.SimpleQueueService.NonExistentQueue. "
            "SQS Error Message: The specified queue does not exist.")  # fmt: skip


class MappingStore:
    """The rows (one JSON document per mapping); synchronous, run in a worker thread by the service."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def load(self) -> list[MappingRecord]:
        with self.engine.connect() as conn:
            return [MappingRecord.from_json(json.loads(row.config)) for row in conn.execute(select(table))]

    def insert(self, rec: MappingRecord) -> None:
        with self.engine.begin() as conn:
            conn.execute(insert(table).values(uuid=rec.uuid, config=json.dumps(rec.to_json())))

    def update(self, rec: MappingRecord) -> None:
        with self.engine.begin() as conn:
            conn.execute(update(table).where(table.c.uuid == rec.uuid).values(config=json.dumps(rec.to_json())))

    def delete(self, key: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(delete(table).where(table.c.uuid == key))


class Mappings:
    def __init__(
        self, settings: Settings, engine: Engine, registry: Registry, queues: QueueService, invoker: Invoker,
        clock: Clock | None = None,
    ) -> None:  # fmt: skip
        self.settings = settings
        self.registry = registry
        self.queues = queues
        self.invoker = invoker
        self.clock: Clock = clock or RealClock()
        self._store = MappingStore(engine)
        self._mappings: dict[str, MappingRecord] = {}
        self._pollers: dict[str, Poller[Message]] = {}
        self._lock = asyncio.Lock()

    # ---- lifecycle (the server's) ----
    def load(self) -> None:
        self._mappings = {m.uuid: m for m in self._store.load()}

    async def start(self) -> None:
        for mapping in self._mappings.values():
            if mapping.enabled:
                self._start_poller(mapping)

    async def stop(self) -> None:
        await asyncio.gather(*(self._stop_poller(key) for key in list(self._pollers)))

    def poller(self, key: str) -> Poller[Message] | None:
        return self._pollers.get(key)

    def _concurrency(self, mapping: MappingRecord) -> int:
        """The mapping's cap, and the function's reserved concurrency when it has less."""
        try:
            reserved = self.registry.get(mapping.function_name).reserved_concurrency
        except NimbusError:
            reserved = None
        return mapping.concurrency if reserved is None else min(mapping.concurrency, reserved)

    def _start_poller(self, mapping: MappingRecord) -> None:
        source = SqsSource(mapping, self.queues, self.invoker, self.clock)
        poller: Poller[Message] = Poller(mapping.uuid, source, lambda: self._concurrency(mapping), self.clock)
        self._pollers[mapping.uuid] = poller
        poller.start()

    async def _stop_poller(self, key: str) -> None:
        poller = self._pollers.pop(key, None)
        if poller is not None:
            await poller.stop()

    # ---- reads ----
    def get(self, key: str) -> MappingRecord:
        mapping = self._mappings.get(key)
        if mapping is None:
            raise rules.not_found()
        return mapping

    def list(
        self, source_arn: str | None, function: str | None, marker: str | None, max_items: int | None
    ) -> tuple[list[MappingRecord], str | None]:
        """A page of mappings by UUID, filtered by queue ARN and function (name or ARN, qualifier optional; a
        function that does not exist is refused, as Lambda refuses it)."""
        ref = self._ref(function) if function else None
        if ref is not None:
            self._check_function(ref)
        found = [m for m in sorted(self._mappings.values(), key=lambda m: m.uuid)
                 if (source_arn is None or m.source_arn == source_arn)
                 and (ref is None or (m.function_name == ref.name
                                      and (ref.qualifier is None or m.qualifier == ref.qualifier)))]  # fmt: skip
        start = 0
        if marker:
            start = next((i for i, m in enumerate(found) if m.uuid >= marker), len(found))
        size = min(max_items or 100, 100)
        page = found[start : start + size]
        more = found[start + size : start + size + 1]
        return page, more[0].uuid if more else None

    # ---- writes ----
    def _ref(self, raw: Any) -> v.FunctionRef:
        if not isinstance(raw, str) or not raw:
            raise InvalidParameterValue("FunctionName is required.")
        return v.parse_function_ref(raw, region=self.settings.region, account=self.settings.account_id)

    def _check_function(self, ref: v.FunctionRef) -> int:
        """The function's timeout; a function (or version, or alias) that does not exist is refused as Lambda
        refuses it on CreateEventSourceMapping."""
        try:
            rec, version = self.registry.resolve(ref.name, ref.qualifier)
        except NimbusError:
            raise InvalidParameterValue("Function does not exist") from None
        config = rec.config if version == "$LATEST" else rec.versions[int(version)].config
        return int(config.get("Timeout", 3))

    async def _check_queue(self, arn: str, timeout: int) -> None:
        queue = await self.queues.lookup(arn)
        if queue is None:
            raise InvalidParameterValue(NO_QUEUE)
        visibility = int(queue.attributes.get("VisibilityTimeout", "30"))
        if visibility < timeout:
            raise InvalidParameterValue(
                f"Queue visibility timeout: {visibility} seconds is less than Function timeout: {timeout} seconds"
            )

    async def create(self, body: dict[str, Any]) -> MappingRecord:
        rules.parse_source_arn(body.get("EventSourceArn"))
        ref = self._ref(body.get("FunctionName"))
        blank = MappingRecord(str(uuid.uuid4()), ref.name, ref.qualifier, body["EventSourceArn"])
        mapping = rules.apply(blank, {k: x for k, x in body.items() if k != "FunctionName"}, creating=True)
        timeout = self._check_function(ref)
        await self._check_queue(mapping.source_arn, timeout)
        async with self._lock:
            for other in self._mappings.values():
                if other.source_arn == mapping.source_arn and (other.function_name, other.qualifier) == (
                    mapping.function_name, mapping.qualifier,
                ):  # fmt: skip
                    raise ResourceConflict(
                        f'An event source mapping with SQS arn (" {mapping.source_arn} ") and function '
                        f'(" {mapping.function_name} ") already exists. Please update or delete the existing '
                        f"mapping with UUID {other.uuid}"
                    )
            mapping = replace(mapping, last_modified=self.clock.time())
            await asyncio.to_thread(self._store.insert, mapping)
            self._mappings[mapping.uuid] = mapping
            if mapping.enabled:
                self._start_poller(mapping)
        return mapping

    async def update(self, key: str, body: dict[str, Any]) -> tuple[MappingRecord, str]:
        """Apply an update; returns the mapping and the state to report (Enabling, Disabling or Updating)."""
        async with self._lock:
            old = self.get(key)
            changes = {k: x for k, x in body.items() if k not in ("UUID", "FunctionName")}
            new = rules.apply(old, changes, creating=False)
            if body.get("FunctionName") is not None:
                ref = self._ref(body["FunctionName"])
                self._check_function(ref)
                new = replace(new, function_name=ref.name, qualifier=ref.qualifier)
            new = replace(new, last_modified=self.clock.time())
            await asyncio.to_thread(self._store.update, new)
            self._mappings[key] = new
            await self._stop_poller(key)
            if new.enabled:
                self._start_poller(new)
        if new.enabled != old.enabled:
            return new, "Enabling" if new.enabled else "Disabling"
        return new, "Updating"

    async def delete(self, key: str) -> MappingRecord:
        async with self._lock:
            mapping = self.get(key)
            await self._stop_poller(key)
            await asyncio.to_thread(self._store.delete, key)
            del self._mappings[key]
        return mapping

    # ---- the wire shape ----
    def describe(self, mapping: MappingRecord, state: str | None = None) -> dict[str, Any]:
        """EventSourceMappingConfiguration as Lambda returns it for an SQS mapping."""
        s = self.settings
        arn = self.registry.function_arn(mapping.function_name)
        out: dict[str, Any] = {
            "UUID": mapping.uuid,
            "BatchSize": mapping.batch_size,
            "MaximumBatchingWindowInSeconds": mapping.window_s,
            "EventSourceArn": mapping.source_arn,
            "FunctionArn": f"{arn}:{mapping.qualifier}" if mapping.qualifier else arn,
            "LastModified": round(mapping.last_modified, 3),
            "State": state or ("Enabled" if mapping.enabled else "Disabled"),
            "StateTransitionReason": "USER_INITIATED",
            "FunctionResponseTypes": ["ReportBatchItemFailures"] if mapping.report_failures else [],
            "EventSourceMappingArn": f"arn:aws:lambda:{s.region}:{s.account_id}:event-source-mapping:{mapping.uuid}",
        }
        if mapping.filters:
            out["FilterCriteria"] = {"Filters": [{"Pattern": p} for p in mapping.filters]}
        if mapping.max_concurrency is not None:
            out["ScalingConfig"] = {"MaximumConcurrency": mapping.max_concurrency}
        return out
