"""Asynchronous invocation configurations (Put/Update/Get/Delete/ListFunctionEventInvokeConfig(s)): how many times
an event is retried, how old it may grow, and where its outcome goes, per function version or alias.

Kept in the control database beside the function they belong to (not in the queue backend: a NATS backend will hold
messages, not configuration), written through before the API answers, and dropped with the function, version or
alias they name (a registry event). The rules (ranges, destination ARNs) are Lambda's; the dispatcher reads
`effective` on every event, so a change applies to events already queued, as on Lambda.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, delete, insert, select

from nimbus.config import Settings
from nimbus.control.registry import Registry
from nimbus.control.validation import in_range
from nimbus.control.wire import page
from nimbus.errors import InvalidParameterValue, ResourceNotFound, ValidationError
from nimbus.store.schema import event_invoke_configs as table

DEFAULT_RETRIES = 2
DEFAULT_MAX_AGE = 21_600
RETRIES_RANGE = (0, 2)
MAX_AGE_RANGE = (60, 21_600)
LATEST = "$LATEST"
#: queues Nimbus keeps for itself (the async event queue): never a destination
INTERNAL_QUEUE_PREFIX = "__nimbus"
_ARN_RE = re.compile(r"arn:(aws[a-zA-Z0-9-]*):([a-zA-Z0-9\-]+):([a-z]{2}(-gov)?-[a-z]+-\d)?:(\d{12})?:(.*)")


@dataclass(frozen=True)
class EventInvokeConfig:
    function: str
    qualifier: str  # "$LATEST", a version number or an alias name
    retries: int | None
    max_age: int | None
    on_success: str | None
    on_failure: str | None
    last_modified: float  # epoch seconds, as Lambda's LastModified

    @property
    def max_retries(self) -> int:
        return DEFAULT_RETRIES if self.retries is None else self.retries

    @property
    def max_age_s(self) -> int:
        return DEFAULT_MAX_AGE if self.max_age is None else self.max_age


def _int(body: dict[str, Any], key: str, bounds: tuple[int, int]) -> int | None:
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidParameterValue(f"{key} must be an integer.")
    return in_range(value, key, *bounds)


def queue_name(arn: str) -> str | None:
    """The built-in queue an `arn:aws:sqs:region:account:name` destination names (None for any other ARN)."""
    m = _ARN_RE.fullmatch(arn)
    return m.group(6) if m and m.group(2) == "sqs" else None


def function_target(arn: str) -> str | None:
    """`name` or `name:qualifier` of an `arn:aws:lambda:...:function:...` destination (None for any other ARN)."""
    m = _ARN_RE.fullmatch(arn)
    if not m or m.group(2) != "lambda" or not m.group(6).startswith("function:"):
        return None
    return m.group(6)[len("function:") :]


class EventInvokeConfigs:
    def __init__(self, settings: Settings, registry: Registry, engine: Engine) -> None:
        self.settings = settings
        self.registry = registry
        self.engine = engine
        self._configs: dict[tuple[str, str], EventInvokeConfig] = {}

    # ---- storage ----
    def load(self) -> None:
        with self.engine.connect() as conn:
            for row in conn.execute(select(table)):
                cfg = json.loads(row.config)
                self._configs[(row.function, row.qualifier)] = EventInvokeConfig(
                    row.function, row.qualifier, cfg.get("retries"), cfg.get("max_age"), cfg.get("on_success"),
                    cfg.get("on_failure"), row.last_modified,
                )  # fmt: skip

    def _write(self, config: EventInvokeConfig | None, function: str, qualifier: str | None) -> None:
        with self.engine.begin() as conn:
            query = delete(table).where(table.c.function == function)
            if qualifier is not None:
                query = query.where(table.c.qualifier == qualifier)
            conn.execute(query)
            if config is not None:
                cfg = {"retries": config.retries, "max_age": config.max_age, "on_success": config.on_success,
                       "on_failure": config.on_failure}  # fmt: skip
                row = {"function": function, "qualifier": config.qualifier, "config": json.dumps(cfg),
                       "last_modified": config.last_modified}  # fmt: skip
                conn.execute(insert(table).values(**row))

    # ---- reads ----
    def _target(self, name: str, qualifier: str | None) -> str:
        """The qualifier a config is kept under ($LATEST for an unqualified name); ResourceNotFound if it names
        nothing."""
        self.registry.resolve(name, qualifier)
        return qualifier or LATEST

    def get(self, name: str, qualifier: str | None) -> EventInvokeConfig:
        q = self._target(name, qualifier)
        config = self._configs.get((name, q))
        if config is None:
            raise ResourceNotFound(
                f"The function {self.registry.function_arn(name)}:{q} doesn't have an EventInvokeConfig"
            )
        return config

    def effective(self, name: str, qualifier: str | None) -> EventInvokeConfig | None:
        """The configuration an event invoked through `qualifier` runs under (None: Lambda's defaults)."""
        return self._configs.get((name, qualifier or LATEST))

    def list(self, name: str, marker: str | None, max_items: int | None) -> tuple[list[EventInvokeConfig], str | None]:
        self.registry.get(name)
        items = [c for (f, _), c in sorted(self._configs.items()) if f == name and self._exists(name, c.qualifier)]
        return page(items, marker, max_items)

    def _exists(self, name: str, qualifier: str) -> bool:
        """Whether `qualifier` still names something (deleting an alias sends no registry event)."""
        try:
            self.registry.resolve(name, qualifier)
        except ResourceNotFound:
            return False
        return True

    # ---- writes ----
    def _destination(self, value: Any, field: str, name: str) -> str | None:
        if value is None:
            return None
        if not isinstance(value, dict) or set(value) - {"Destination"}:
            raise InvalidParameterValue(f"DestinationConfig.{field} must be an object with a Destination ARN.")
        arn = value.get("Destination")
        if arn is None or arn == "":
            return None
        if not isinstance(arn, str) or len(arn) > 350 or not _ARN_RE.fullmatch(arn):
            raise ValidationError(
                f"1 validation error detected: Value '{arn}' at 'destinationConfig.{field[0].lower() + field[1:]}"
                ".destination' failed to satisfy constraint: Member must satisfy regular expression pattern: "
                "$|arn:(aws[a-zA-Z0-9-]*):([a-zA-Z0-9\\-])+:([a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\\d{1})?:"
                "(\\d{12})?:(.*)"
            )
        m = _ARN_RE.fullmatch(arn)
        assert m is not None
        if m.group(2) not in ("sqs", "lambda") or (m.group(2) == "lambda" and function_target(arn) is None):
            raise InvalidParameterValue(
                f"The destination ARN {arn} is invalid: Nimbus delivers to built-in queues (arn:aws:sqs:...) and "
                "functions (arn:aws:lambda:...:function:...) only."
            )
        if m.group(3) != self.settings.region or m.group(5) != self.settings.account_id:
            raise InvalidParameterValue(f"The destination ARN {arn} is invalid: it names another region or account.")
        if (queue_name(arn) or "").startswith(INTERNAL_QUEUE_PREFIX):
            raise InvalidParameterValue(f"The destination ARN {arn} is invalid: the queue is reserved by Nimbus.")
        target = function_target(arn)
        if target is not None and target.split(":")[0] == name:
            raise InvalidParameterValue("You can't specify the function as a destination for itself.")
        return arn

    async def put(self, name: str, qualifier: str | None, body: dict[str, Any], *, merge: bool) -> EventInvokeConfig:
        """PutFunctionEventInvokeConfig (replaces) or, with `merge`, UpdateFunctionEventInvokeConfig."""
        q = self._target(name, qualifier)
        old = self._configs.get((name, q))
        if merge and old is None:
            self.get(name, qualifier)  # raises ResourceNotFound, as Lambda does
        retries = _int(body, "MaximumRetryAttempts", RETRIES_RANGE)
        max_age = _int(body, "MaximumEventAgeInSeconds", MAX_AGE_RANGE)
        dest = body.get("DestinationConfig")
        if dest is not None and (not isinstance(dest, dict) or set(dest) - {"OnSuccess", "OnFailure"}):
            raise InvalidParameterValue("DestinationConfig takes OnSuccess and OnFailure only.")
        dest = dest or {}
        on_success = self._destination(dest.get("OnSuccess"), "OnSuccess", name)
        on_failure = self._destination(dest.get("OnFailure"), "OnFailure", name)
        if merge and old is not None:
            retries = old.retries if "MaximumRetryAttempts" not in body else retries
            max_age = old.max_age if "MaximumEventAgeInSeconds" not in body else max_age
            on_success = old.on_success if "OnSuccess" not in dest else on_success
            on_failure = old.on_failure if "OnFailure" not in dest else on_failure
        config = EventInvokeConfig(name, q, retries, max_age, on_success, on_failure, time.time())
        await asyncio.to_thread(self._write, config, name, q)
        self._configs[(name, q)] = config
        return config

    async def delete(self, name: str, qualifier: str | None) -> None:
        config = self.get(name, qualifier)
        await asyncio.to_thread(self._write, None, name, config.qualifier)
        del self._configs[(name, config.qualifier)]

    async def function_changed(self, name: str) -> None:
        """A registry event: drop the configurations of a deleted function, version or alias."""
        stale = [q for f, q in list(self._configs) if f == name and not self._exists(name, q)]
        for q in stale:
            await asyncio.to_thread(self._write, None, name, q)
            self._configs.pop((name, q), None)

    # ---- wire ----
    def describe(self, config: EventInvokeConfig) -> dict[str, Any]:
        """FunctionEventInvokeConfig as Lambda answers it: FunctionArn qualified, LastModified in epoch seconds."""
        out: dict[str, Any] = {
            "LastModified": config.last_modified,
            "FunctionArn": f"{self.registry.function_arn(config.function)}:{config.qualifier}",
            "DestinationConfig": {
                "OnSuccess": {"Destination": config.on_success} if config.on_success else {},
                "OnFailure": {"Destination": config.on_failure} if config.on_failure else {},
            },
        }
        if config.retries is not None:
            out["MaximumRetryAttempts"] = config.retries
        if config.max_age is not None:
            out["MaximumEventAgeInSeconds"] = config.max_age
        return out
