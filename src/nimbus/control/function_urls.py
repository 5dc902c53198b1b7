"""Function URL configurations (Create/Get/Update/Delete/ListFunctionUrlConfig(s)): which function, and which alias
of it, answers at `<url-id>.lambda-url.<region>.<domain>`, with what auth type, CORS and invoke mode.

At most one URL per function and qualifier ($LATEST, or an alias: Lambda gives versions none). Each URL has a
32-character id of lowercase letters and digits, as Lambda's, unique across the server (the table's unique index
says so too). Kept in the control database, written before the API answers, and held in memory twice: by
(function, qualifier) for the API, and by id for the URL front, whose `by_id` is a dict lookup on every request.

A URL goes with what it names: the function's deletion (a registry event) drops its URLs. An alias's deletion sends
no registry event, so an alias URL whose alias is gone is treated as gone (`by_id`, `get` and `list` skip it), and
the next event of its function (any update), or the next start, deletes its row; an alias deleted and created again
before that finds its old URL back, where Lambda's would be gone.

Input shapes and ranges are checked at the API against botocore's model; this module owns the rules the model
cannot say (the alias exists, one URL per target, RESPONSE_STREAM not served).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import secrets
import time
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import Engine, delete, insert, select, update

from nimbus.config import Settings
from nimbus.control.registry import Registry
from nimbus.control.wire import page
from nimbus.errors import InvalidParameterValue, ResourceConflict, ResourceNotFound
from nimbus.store.schema import function_urls as table

LATEST = "$LATEST"
AUTH_TYPES = ("NONE", "AWS_IAM")
BUFFERED, RESPONSE_STREAM = "BUFFERED", "RESPONSE_STREAM"
ID_LENGTH = 32
_ID_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"
NOT_FOUND = "The resource you requested does not exist."
STREAMING_REFUSED = (
    "InvokeMode RESPONSE_STREAM is not supported by Nimbus: function URLs are served BUFFERED only "
    "(the whole response is returned when the function returns). Use InvokeMode BUFFERED or leave it out."
)


@dataclass(frozen=True, slots=True)
class UrlConfig:
    """One function URL. `cors` is Lambda's Cors shape (AllowOrigins, AllowMethods, AllowHeaders, ExposeHeaders,
    AllowCredentials, MaxAge; only the members set) or None; times are Lambda's ISO-8601 strings."""

    url_id: str
    function: str
    #: None for the unqualified function ($LATEST), else the alias name
    qualifier: str | None
    auth_type: str
    cors: dict[str, Any] | None
    invoke_mode: str
    creation_time: str
    last_modified_time: str


def new_url_id() -> str:
    """32 random lowercase letters and digits (165 bits), as Lambda's URL ids."""
    return "".join(secrets.choice(_ID_ALPHABET) for _ in range(ID_LENGTH))


def timestamp(epoch: float) -> str:
    """Lambda's function URL time format: `2021-10-31T12:00:00.123456Z`."""
    return dt.datetime.fromtimestamp(epoch, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def target(qualifier: str | None) -> str | None:
    """The qualifier a URL is kept under: None for an unqualified name or $LATEST, else the alias name."""
    return None if qualifier in (None, "", LATEST) else qualifier


class FunctionUrls:
    def __init__(self, settings: Settings, registry: Registry, engine: Engine) -> None:
        self.settings = settings
        self.registry = registry
        self.engine = engine
        self._by_key: dict[tuple[str, str | None], UrlConfig] = {}
        self._by_id: dict[str, UrlConfig] = {}
        #: serialises writes, and a function event against a write in flight (a create for a function being
        #: deleted either lands before the event, which then drops it, or finds the function gone)
        self._lock = asyncio.Lock()

    # ---- storage ----
    def load(self) -> None:
        """Read every URL (after the registry has loaded); rows whose function or alias is gone are deleted."""
        stale: list[UrlConfig] = []
        with self.engine.connect() as conn:
            for row in conn.execute(select(table)):
                cfg = json.loads(row.config)
                config = UrlConfig(
                    row.url_id, row.function, row.qualifier or None, cfg["AuthType"], cfg.get("Cors"),
                    cfg.get("InvokeMode", BUFFERED), cfg["CreationTime"], cfg["LastModifiedTime"],
                )  # fmt: skip
                if self._live(config):
                    self._remember(config)
                else:
                    stale.append(config)
        for config in stale:
            self._delete_row(config)

    @staticmethod
    def _row_config(config: UrlConfig) -> str:
        cfg = {"AuthType": config.auth_type, "Cors": config.cors, "InvokeMode": config.invoke_mode,
               "CreationTime": config.creation_time, "LastModifiedTime": config.last_modified_time}  # fmt: skip
        return json.dumps(cfg)

    def _insert_row(self, config: UrlConfig) -> None:
        row = {"function": config.function, "qualifier": config.qualifier or "", "url_id": config.url_id,
               "config": self._row_config(config)}  # fmt: skip
        with self.engine.begin() as conn:
            conn.execute(insert(table).values(**row))

    def _update_row(self, config: UrlConfig) -> None:
        with self.engine.begin() as conn:
            conn.execute(update(table).where(table.c.url_id == config.url_id).values(config=self._row_config(config)))

    def _delete_row(self, config: UrlConfig) -> None:
        with self.engine.begin() as conn:
            conn.execute(delete(table).where(table.c.url_id == config.url_id))

    def _remember(self, config: UrlConfig) -> None:
        self._by_key[(config.function, config.qualifier)] = config
        self._by_id[config.url_id] = config

    def _forget(self, config: UrlConfig) -> None:
        self._by_key.pop((config.function, config.qualifier), None)
        self._by_id.pop(config.url_id, None)

    # ---- reads ----
    def _live(self, config: UrlConfig) -> bool:
        """Whether what the URL names still exists (its alias may have been deleted without a registry event)."""
        try:
            rec = self.registry.get(config.function)
        except ResourceNotFound:
            return False
        return config.qualifier is None or config.qualifier in rec.aliases

    def by_id(self, url_id: str) -> UrlConfig | None:
        """The URL with this id, or None (the URL front's lookup on every request)."""
        config = self._by_id.get(url_id)
        if config is None or config.qualifier is None or self._live(config):
            return config
        return None

    def _check_target(self, function: str, qualifier: str | None) -> str | None:
        """The qualifier a URL of `function` is kept under; ResourceNotFound for an unknown function or alias."""
        rec = self.registry.get(function)
        key = target(qualifier)
        if key is not None and key not in rec.aliases:
            raise ResourceNotFound(f"Function not found: {self.function_arn(function, key)}")
        return key

    def get(self, function: str, qualifier: str | None) -> UrlConfig:
        config = self._by_key.get((function, self._check_target(function, qualifier)))
        if config is None:
            raise ResourceNotFound(NOT_FOUND)
        return config

    def list(self, function: str, marker: str | None, max_items: int | None) -> tuple[list[UrlConfig], str | None]:
        """One page of a function's URLs, the unqualified one first, then by alias name."""
        self.registry.get(function)
        items = [c for (f, _), c in self._by_key.items() if f == function and self._live(c)]
        items.sort(key=lambda c: c.qualifier or "")
        return page(items, marker, max_items)

    # ---- writes ----
    @staticmethod
    def _check_mode(invoke_mode: str | None) -> None:
        if invoke_mode == RESPONSE_STREAM:
            raise InvalidParameterValue(STREAMING_REFUSED)

    async def create(
        self, function: str, qualifier: str | None, *, auth_type: str, cors: dict[str, Any] | None = None,
        invoke_mode: str | None = None,
    ) -> UrlConfig:  # fmt: skip
        """CreateFunctionUrlConfig: ResourceConflict when the function (or alias) has a URL already."""
        async with self._lock:
            key = self._check_target(function, qualifier)
            self._check_mode(invoke_mode)
            old = self._by_key.get((function, key))
            if old is not None:
                raise ResourceConflict(
                    f"Failed to create function url config for [functionArn = {self.function_arn(function, key)}]. "
                    "Error message:  FunctionUrlConfig exists for this Lambda function"
                )
            url_id = new_url_id()
            while url_id in self._by_id:
                url_id = new_url_id()
            now = timestamp(time.time())
            config = UrlConfig(url_id, function, key, auth_type, cors, invoke_mode or BUFFERED, now, now)
            await asyncio.to_thread(self._insert_row, config)
            self._remember(config)
            return config

    async def update(
        self, function: str, qualifier: str | None, *, auth_type: str | None = None,
        cors: dict[str, Any] | None = None, invoke_mode: str | None = None,
    ) -> UrlConfig:  # fmt: skip
        """UpdateFunctionUrlConfig: what is passed replaces (Cors as a whole), what is not is kept."""
        async with self._lock:
            old = self.get(function, qualifier)
            self._check_mode(invoke_mode)
            config = replace(
                old, auth_type=auth_type or old.auth_type, cors=old.cors if cors is None else cors,
                invoke_mode=invoke_mode or old.invoke_mode, last_modified_time=timestamp(time.time()),
            )  # fmt: skip
            await asyncio.to_thread(self._update_row, config)
            self._remember(config)
            return config

    async def delete(self, function: str, qualifier: str | None) -> None:
        async with self._lock:
            config = self.get(function, qualifier)
            await asyncio.to_thread(self._delete_row, config)
            self._forget(config)

    async def function_changed(self, name: str) -> None:
        """A registry event: the URLs of a deleted function, or of its deleted aliases, go."""
        async with self._lock:
            stale = [c for (f, _), c in list(self._by_key.items()) if f == name and not self._live(c)]
            for config in stale:
                self._forget(config)  # first: the front stops serving it before the row goes
                await asyncio.to_thread(self._delete_row, config)

    # ---- wire ----
    def function_arn(self, function: str, qualifier: str | None) -> str:
        arn = self.registry.function_arn(function)
        return f"{arn}:{qualifier}" if qualifier else arn

    def describe(self, config: UrlConfig, function_url: str, *, created: bool = False) -> dict[str, Any]:
        """FunctionUrlConfig as Lambda answers it (Create's answer has no LastModifiedTime)."""
        out: dict[str, Any] = {
            "FunctionUrl": function_url,
            "FunctionArn": self.function_arn(config.function, config.qualifier),
            "AuthType": config.auth_type,
            "CreationTime": config.creation_time,
            "InvokeMode": config.invoke_mode,
        }
        if config.cors is not None:
            out["Cors"] = config.cors
        if not created:
            out["LastModifiedTime"] = config.last_modified_time
        return out
