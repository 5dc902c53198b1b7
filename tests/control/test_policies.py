"""Resource policies over a real registry (SQLite in tmp_path): attached to exactly one (function, qualifier), kept
across a reload, guarded by RevisionId, limited to 20 KB, and dropped with the version, alias or function."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from nimbus.config import Settings
from nimbus.control.policies import Policies
from nimbus.control.versions import Versions
from nimbus.errors import (
    InvalidParameterValue,
    PolicyLengthExceeded,
    PreconditionFailed,
    ResourceConflict,
    ResourceNotFound,
)
from registry_support import create_echo, echo_registry, publish_with_live_alias

ARN = "arn:aws:lambda:us-east-1:000000000000:function:fn"
URL = {"Action": "lambda:InvokeFunctionUrl", "Principal": "*", "FunctionUrlAuthType": "NONE"}


def public(policies: Policies, qualifier: str | None) -> bool:
    return policies.allows("fn", qualifier, action="lambda:InvokeFunctionUrl", principal="*", url_auth_type="NONE")


def test_policies_per_qualifier_revisions_and_reload(tmp_path: Path) -> None:
    async def main() -> None:
        settings = Settings(data_dir=tmp_path)
        engine, registry = await echo_registry(settings)
        versions = await publish_with_live_alias(registry)
        policies = Policies(settings, registry, engine)
        registry.subscribe(policies.function_changed)

        with pytest.raises(ResourceNotFound, match=r"The resource you requested does not exist\."):
            policies.get("fn", None)
        assert not public(policies, None)
        statement = await policies.add("fn", None, {"StatementId": "url", **URL})
        assert statement["Resource"] == ARN
        assert public(policies, None)
        assert public(policies, "$LATEST")
        assert not public(policies, "live")  # the function's policy does not open its alias
        assert not policies.allows("fn", None, action="lambda:InvokeFunctionUrl", principal="*",
                                   url_auth_type="AWS_IAM")  # fmt: skip
        assert not policies.allows("other", None, action="lambda:InvokeFunctionUrl", principal="*",
                                   url_auth_type="NONE")  # fmt: skip

        alias = await policies.add("fn", "live", {"StatementId": "sns", "Action": "lambda:InvokeFunction",
                                                  "Principal": "sns.amazonaws.com"})  # fmt: skip
        assert alias["Resource"] == f"{ARN}:live"
        assert policies.allows("fn", "live", action="lambda:InvokeFunction", principal="sns.amazonaws.com")
        assert not policies.allows("fn", None, action="lambda:InvokeFunction", principal="sns.amazonaws.com")
        await policies.add("fn", "1", {"StatementId": "acct", "Action": "lambda:*", "Principal": "123456789012"})
        assert policies.allows("fn", "1", action="lambda:InvokeFunction", principal="123456789012")

        with pytest.raises(ResourceConflict, match=r"The statement id \(url\) provided already exists"):
            await policies.add("fn", None, {"StatementId": "url", **URL})
        with pytest.raises(ResourceNotFound, match="Function not found"):
            await policies.add("fn", "nope", {"StatementId": "x", **URL})
        with pytest.raises(ResourceNotFound, match="Function not found"):
            await policies.add("fn", "9", {"StatementId": "x", **URL})
        with pytest.raises(InvalidParameterValue, match=r"\$LATEST"):
            await policies.add("fn", "$LATEST", {"StatementId": "x", **URL})

        # RevisionId: the policy's current one passes, a stale one is refused, and each edit makes a new one
        first = policies.get("fn", None).revision_id
        await policies.add("fn", None, {"StatementId": "two", **URL, "RevisionId": first})
        with pytest.raises(PreconditionFailed, match="Call the GetPolicy API"):
            await policies.add("fn", None, {"StatementId": "three", **URL, "RevisionId": first})
        with pytest.raises(PreconditionFailed):
            await policies.remove("fn", None, "two", first)
        second = policies.get("fn", None).revision_id
        assert second != first
        await policies.remove("fn", None, "two", second)
        with pytest.raises(ResourceNotFound, match=r"Statement two is not found in resource policy\."):
            await policies.remove("fn", None, "two", None)

        # with no policy yet, the resource's own RevisionId is the one a caller holds
        await versions.publish("fn", {"Description": "2"})  # no change: answers with version 1
        v1_rev = registry.get("fn").versions[1].config["RevisionId"]
        with pytest.raises(PreconditionFailed):
            await policies.add("fn", "live", {"StatementId": "y", **URL, "RevisionId": v1_rev})
        fn_rev = registry.get("fn").config["RevisionId"]
        await policies.remove("fn", None, "url", None)
        with pytest.raises(ResourceNotFound, match="No policy is associated"):
            await policies.remove("fn", None, "url", None)
        await policies.add("fn", None, {"StatementId": "url", **URL, "RevisionId": fn_rev})

        reloaded = Policies(settings, registry, engine)
        reloaded.load()
        for q in (None, "live", "1"):
            assert reloaded.get("fn", q).text() == policies.get("fn", q).text()
            assert reloaded.get("fn", q).revision_id == policies.get("fn", q).revision_id
        assert public(reloaded, None)
        doc = json.loads(reloaded.get("fn", "live").text())
        assert doc["Statement"][0]["Principal"] == {"Service": "sns.amazonaws.com"}

        # dropped with what they are attached to
        await versions.delete_alias("fn", "live")  # no registry event: the check and reads skip it
        assert not policies.allows("fn", "live", action="lambda:InvokeFunction", principal="sns.amazonaws.com")
        await registry.delete("fn")
        for q in (None, "1"):
            assert not policies.allows("fn", q, action="lambda:InvokeFunction", principal="123456789012")
        fresh = Policies(settings, registry, engine)
        fresh.load()
        await create_echo(registry)  # the same name again starts with no policy
        with pytest.raises(ResourceNotFound, match=r"The resource you requested does not exist\."):
            fresh.get("fn", None)
        assert not public(fresh, None)
        engine.dispose()

    asyncio.run(main())


def test_version_deletion_drops_its_policy(tmp_path: Path) -> None:
    async def main() -> None:
        settings = Settings(data_dir=tmp_path)
        engine, registry = await echo_registry(settings)
        versions = Versions(registry)
        await versions.publish("fn", {})
        policies = Policies(settings, registry, engine)
        registry.subscribe(policies.function_changed)
        await policies.add("fn", "1", {"StatementId": "s", **URL})
        await policies.add("fn", None, {"StatementId": "s", **URL})
        await versions.delete_version("fn", "1")
        fresh = Policies(settings, registry, engine)
        fresh.load()
        assert not public(fresh, "1")
        assert public(fresh, None)
        engine.dispose()

    asyncio.run(main())


def test_policy_size_limit_at_and_past_20_kb(tmp_path: Path) -> None:
    async def main() -> None:
        settings = Settings(data_dir=tmp_path)
        engine, registry = await echo_registry(settings)
        policies = Policies(settings, registry, engine)
        base = "arn:aws:sns:us-east-1:000000000000:"
        body = {"Action": "lambda:InvokeFunction", "Principal": "sns.amazonaws.com"}
        used = 0
        for n in range(60):
            await policies.add("fn", None, {"StatementId": f"s{n}", **body, "SourceArn": base + "t" * 200})
            used = len(policies.get("fn", None).text())
            if used > 18_000:
                break
        # one more statement with a 1-character topic name adds `extra` bytes; pad it to land exactly on the limit
        await policies.add("fn", None, {"StatementId": "last", **body, "SourceArn": base + "t"})
        extra = len(policies.get("fn", None).text()) - used
        await policies.remove("fn", None, "last", None)
        pad = 20_480 - used - extra
        with pytest.raises(PolicyLengthExceeded, match=r"The final policy size \(20481\) is bigger than the limit"):
            await policies.add("fn", None, {"StatementId": "last", **body, "SourceArn": base + "t" * (pad + 2)})
        await policies.add("fn", None, {"StatementId": "last", **body, "SourceArn": base + "t" * (pad + 1)})
        assert len(policies.get("fn", None).text().encode()) == 20_480
        engine.dispose()

    asyncio.run(main())


def test_cached_decisions_follow_each_revision(tmp_path: Path) -> None:
    """`allows` caches its decisions per policy revision: a permission removed, or added back, applies to the very
    next check, and a decision for one source ARN is never taken for another."""

    async def main() -> None:
        settings = Settings(data_dir=tmp_path)
        engine, registry = await echo_registry(settings)
        policies = Policies(settings, registry, engine)
        api = "arn:aws:execute-api:us-east-1:000000000000:abc"

        def gateway(source_arn: str) -> bool:
            return policies.allows("fn", None, action="lambda:InvokeFunction", principal="apigateway.amazonaws.com",
                                   source_arn=source_arn)  # fmt: skip

        assert not public(policies, None)
        await policies.add("fn", None, {"StatementId": "url", **URL})
        assert public(policies, None)
        assert public(policies, None)  # the cached answer
        gw = {"Action": "lambda:InvokeFunction", "Principal": "apigateway.amazonaws.com"}
        await policies.add("fn", None, {"StatementId": "gw", **gw, "SourceArn": f"{api}/*/GET/items"})
        assert gateway(f"{api}/prod/GET/items")
        assert gateway(f"{api}/prod/GET/items")
        assert not gateway(f"{api}/prod/DELETE/items")
        assert public(policies, None)
        await policies.remove("fn", None, "url", None)
        assert not public(policies, None)
        assert gateway(f"{api}/prod/GET/items")
        await policies.remove("fn", None, "gw", None)
        assert not gateway(f"{api}/prod/GET/items")
        await policies.add("fn", None, {"StatementId": "url", **URL})
        assert public(policies, None)
        engine.dispose()

    asyncio.run(main())
