"""Event invoke configurations over a real registry (SQLite in tmp_path): kept across a restart, merged by Update,
replaced by Put, and dropped with the version, alias or function they name."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from nimbus.config import Settings
from nimbus.control.event_invoke import EventInvokeConfigs
from nimbus.errors import ResourceNotFound
from registry_support import echo_registry, publish_with_live_alias

QUEUE = "arn:aws:sqs:us-east-1:000000000000:q"


def test_configs_persist_merge_and_go_with_what_they_name(tmp_path: Path) -> None:
    async def main() -> None:
        settings = Settings(data_dir=tmp_path)
        engine, registry = await echo_registry(settings)
        versions = await publish_with_live_alias(registry)
        configs = EventInvokeConfigs(settings, registry, engine)
        registry.subscribe(configs.function_changed)
        await configs.put("fn", None, {"MaximumRetryAttempts": 0}, merge=False)
        await configs.put("fn", None, {"DestinationConfig": {"OnFailure": {"Destination": QUEUE}}}, merge=True)
        await configs.put("fn", "1", {"MaximumEventAgeInSeconds": 60}, merge=False)
        await configs.put("fn", "live", {"MaximumRetryAttempts": 1}, merge=False)

        reloaded = EventInvokeConfigs(settings, registry, engine)
        reloaded.load()
        latest = reloaded.get("fn", None)
        assert (latest.retries, latest.max_age, latest.on_failure, latest.max_age_s) == (0, None, QUEUE, 21_600)
        assert reloaded.get("fn", "$LATEST") == latest
        assert [c.qualifier for c in reloaded.list("fn", None, None)[0]] == ["$LATEST", "1", "live"]
        replaced = await configs.put("fn", None, {"MaximumEventAgeInSeconds": 120}, merge=False)
        assert (replaced.retries, replaced.on_failure, replaced.max_retries) == (None, None, 2)

        await versions.delete_alias("fn", "live")  # no registry event: listing and reads skip it
        assert [c.qualifier for c in configs.list("fn", None, None)[0]] == ["$LATEST", "1"]
        with pytest.raises(ResourceNotFound):
            configs.get("fn", "live")
        await registry.delete("fn")
        assert configs.effective("fn", None) is None
        assert configs.effective("fn", "1") is None
        fresh = EventInvokeConfigs(settings, registry, engine)
        fresh.load()
        assert fresh.effective("fn", None) is None
        with pytest.raises(ResourceNotFound):
            fresh.get("fn", None)
        engine.dispose()

    asyncio.run(main())
