"""A real registry on a temporary data dir, for the unit tests of the services above it (the door, the
concurrency owner, async dispatch, event invoke configs) that need functions on record but no server."""

from __future__ import annotations

import base64
import io
import zipfile
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from nimbus.config import Settings
from nimbus.control.codestore import CodeStore
from nimbus.control.layers import LayerRegistry
from nimbus.control.registry import Registry
from nimbus.control.versions import Versions
from nimbus.protocol.records import FunctionSpec, InvokeRequest, InvokeResult
from nimbus.store.db import migrate, sqlite_engine
from nimbus.store.schema import metadata

ROLE = "arn:aws:iam::000000000000:role/r"


def echo_zip() -> str:
    """A base64 zip of a Python function that returns its event (CreateFunction's `Code.ZipFile`)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("app.py", "def handler(e, c):\n    return e\n")
    return base64.b64encode(buf.getvalue()).decode()


def open_store(data_dir: Path) -> tuple[Engine, CodeStore]:
    """The control database (migrated) and the code store of `data_dir`."""
    engine = sqlite_engine(data_dir / "nimbus.db")
    migrate(engine, metadata)
    return engine, CodeStore(data_dir)


def open_registry(settings: Settings, engine: Engine, codes: CodeStore) -> Registry:
    """A registry (and its layers) loaded from what is on record, as a server starts one; any runtime is accepted."""
    layers = LayerRegistry(settings, engine, codes)
    layers.load()
    registry = Registry(settings, engine, codes, lambda runtime: None, layers)
    registry.load()
    return registry


async def create_echo(registry: Registry, name: str = "fn", **config: Any) -> None:
    """Create `name` running `echo_zip()`, with any further CreateFunction fields."""
    await registry.create({
        "FunctionName": name, "Runtime": "python3.11", "Handler": "app.handler", "Role": ROLE,
        "Code": {"ZipFile": echo_zip()}, **config,
    })  # fmt: skip


async def echo_registry(settings: Settings, **config: Any) -> tuple[Engine, Registry]:
    """The control database and a registry over `settings.data_dir`, with `fn` created (`create_echo`, any further
    CreateFunction fields); the caller disposes of the engine."""
    engine, codes = open_store(settings.data_dir)
    registry = open_registry(settings, engine, codes)
    await create_echo(registry, **config)
    return engine, registry


async def publish_with_live_alias(registry: Registry) -> Versions:
    """Publish `fn` as version 1 and point alias `live` at it; the Versions service, for further changes."""
    versions = Versions(registry)
    await versions.publish("fn", {})
    await versions.create_alias("fn", {"Name": "live", "FunctionVersion": "1"})
    return versions


class StubPools:
    """The instance pools for tests of what sits above them: what is asked to be kept provisioned is recorded and
    ready at once; nothing may be invoked."""

    def __init__(self) -> None:
        self.kept: dict[tuple[str, str], int] = {}

    async def invoke(self, spec: FunctionSpec, request: InvokeRequest) -> InvokeResult:
        raise AssertionError("nothing is invoked here")

    async def retire(self, function_name: str) -> None:
        pass

    async def provision(self, spec: FunctionSpec, count: int) -> None:
        self.kept[(spec.name, spec.version)] = count

    async def unprovision(self, name: str, version: str) -> None:
        self.kept.pop((name, version), None)

    def provisioned_ready(self, name: str, version: str) -> int:
        return self.kept.get((name, version), 0)
