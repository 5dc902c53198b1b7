"""Function URL configurations over a real registry (SQLite in tmp_path): one URL per function or alias with a
unique 32-character id, found by id, updated in place, kept across a restart, and gone with the function or alias
it names."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from nimbus.config import Settings
from nimbus.control.function_urls import FunctionUrls, timestamp
from nimbus.control.versions import Versions
from nimbus.errors import InvalidParameterValue, ResourceConflict, ResourceNotFound
from nimbus.store.schema import function_urls
from registry_support import create_echo, echo_registry


def _rows(engine: Engine) -> int:
    with engine.connect() as conn:
        return len(conn.execute(select(function_urls)).all())


CORS = {"AllowOrigins": ["https://example.com"], "AllowMethods": ["GET"], "MaxAge": 60}


def test_timestamp_is_lambdas_format() -> None:
    assert timestamp(0.25) == "1970-01-01T00:00:00.250000Z"


def test_create_get_update_delete_and_by_id(tmp_path: Path) -> None:
    async def main() -> None:
        settings = Settings(data_dir=tmp_path)
        engine, registry = await echo_registry(settings)
        urls = FunctionUrls(settings, registry, engine)
        urls.load()

        created = await urls.create("fn", None, auth_type="NONE", cors=CORS)
        assert re.fullmatch(r"[a-z0-9]{32}", created.url_id)
        assert (created.function, created.qualifier, created.invoke_mode) == ("fn", None, "BUFFERED")
        assert created.creation_time == created.last_modified_time
        assert urls.by_id(created.url_id) == created
        assert urls.by_id("0" * 32) is None
        assert urls.get("fn", None) == urls.get("fn", "$LATEST") == created
        with pytest.raises(ResourceConflict, match=r"functionArn = arn:aws:lambda:us-east-1:0{12}:function:fn\]"):
            await urls.create("fn", "$LATEST", auth_type="AWS_IAM")
        with pytest.raises(InvalidParameterValue, match="BUFFERED only"):
            await urls.create("fn", None, auth_type="NONE", invoke_mode="RESPONSE_STREAM")
        await asyncio.sleep(0.001)

        updated = await urls.update("fn", None, auth_type="AWS_IAM")
        assert (updated.url_id, updated.cors, updated.auth_type) == (created.url_id, CORS, "AWS_IAM")
        assert updated.creation_time == created.creation_time < updated.last_modified_time
        assert urls.by_id(created.url_id) == updated
        cleared = await urls.update("fn", None, cors={}, invoke_mode="BUFFERED")
        assert (cleared.cors, cleared.auth_type) == ({}, "AWS_IAM")
        with pytest.raises(InvalidParameterValue, match="RESPONSE_STREAM"):
            await urls.update("fn", None, invoke_mode="RESPONSE_STREAM")

        description = urls.describe(cleared, "http://x/")
        assert description["FunctionArn"] == "arn:aws:lambda:us-east-1:000000000000:function:fn"
        assert "LastModifiedTime" in description
        assert "LastModifiedTime" not in urls.describe(cleared, "http://x/", created=True)

        await urls.delete("fn", None)
        assert urls.by_id(created.url_id) is None
        with pytest.raises(ResourceNotFound, match=r"The resource you requested does not exist\."):
            urls.get("fn", None)
        with pytest.raises(ResourceNotFound, match=r"The resource you requested does not exist\."):
            await urls.delete("fn", None)
        with pytest.raises(ResourceNotFound, match="Function not found"):
            urls.get("ghost", None)
        with pytest.raises(ResourceNotFound, match=r"Function not found: .*:fn:nope"):
            await urls.create("fn", "nope", auth_type="NONE")
        again = await urls.create("fn", None, auth_type="NONE")
        assert again.url_id != created.url_id
        engine.dispose()

    asyncio.run(main())


def test_urls_persist_list_in_order_and_go_with_what_they_name(tmp_path: Path) -> None:
    async def main() -> None:
        settings = Settings(data_dir=tmp_path)
        engine, registry = await echo_registry(settings)
        await create_echo(registry, "other")
        versions = Versions(registry)
        await versions.publish("fn", {})
        for alias in ("live", "beta", "gamma"):
            await versions.create_alias("fn", {"Name": alias, "FunctionVersion": "1"})
        urls = FunctionUrls(settings, registry, engine)
        registry.subscribe(urls.function_changed)
        latest = await urls.create("fn", None, auth_type="NONE", cors=CORS)
        live = await urls.create("fn", "live", auth_type="AWS_IAM")
        beta = await urls.create("fn", "beta", auth_type="NONE")
        gamma = await urls.create("fn", "gamma", auth_type="NONE")
        other = await urls.create("other", None, auth_type="NONE")
        assert len({latest.url_id, live.url_id, beta.url_id, gamma.url_id, other.url_id}) == 5
        assert urls.describe(live, "u")["FunctionArn"].endswith(":function:fn:live")

        reloaded = FunctionUrls(settings, registry, engine)
        reloaded.load()
        assert reloaded.by_id(live.url_id) == live
        assert reloaded.get("fn", None) == latest
        page, marker = reloaded.list("fn", None, 2)
        assert ([c.qualifier for c in page], marker) == ([None, "beta"], "2")
        page, marker = reloaded.list("fn", marker, 2)
        assert ([c.qualifier for c in page], marker) == (["gamma", "live"], None)
        with pytest.raises(ResourceNotFound):
            reloaded.list("ghost", None, None)

        # an alias's deletion sends no registry event: its URL is gone at once for readers, its row at the next
        # event of its function or the next start
        await versions.delete_alias("fn", "beta")
        assert urls.by_id(beta.url_id) is None
        assert [c.qualifier for c in urls.list("fn", None, None)[0]] == [None, "gamma", "live"]
        with pytest.raises(ResourceNotFound, match="Function not found"):
            urls.get("fn", "beta")
        restarted = FunctionUrls(settings, registry, engine)
        restarted.load()  # a start deletes the rows of deleted aliases
        assert restarted.by_id(beta.url_id) is None
        assert _rows(engine) == 4

        await versions.delete_alias("fn", "gamma")
        with pytest.raises(ResourceNotFound, match="Function not found"):
            await urls.create("fn", "gamma", auth_type="NONE")
        await registry.update_config("fn", {"Timeout": 5})  # an event of the function: the stale rows go
        await versions.create_alias("fn", {"Name": "gamma", "FunctionVersion": "1"})
        assert urls.by_id(gamma.url_id) is None
        fresh = await urls.create("fn", "gamma", auth_type="NONE")
        assert fresh.url_id != gamma.url_id

        restarted = FunctionUrls(settings, registry, engine)
        restarted.load()
        assert restarted.by_id(fresh.url_id) == fresh

        await registry.delete("fn")
        assert [urls.by_id(c.url_id) for c in (latest, live, fresh)] == [None, None, None]
        assert urls.by_id(other.url_id) == other
        final = FunctionUrls(settings, registry, engine)
        final.load()
        assert [final.by_id(c.url_id) for c in (latest, live, beta, fresh)] == [None, None, None, None]
        assert final.by_id(other.url_id) == other
        await create_echo(registry)
        assert final.list("fn", None, None) == ([], None)
        engine.dispose()

    asyncio.run(main())
