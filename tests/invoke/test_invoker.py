"""The door (`Invoker`) over a real registry (SQLite in tmp_path), with a stub in place of the instance pools: the
seam where processes start. What it proves: resolution and its cache (dropped on registry events before pools are
retired), the order of the checks, one admission gate and one in-flight count, and the source of each invocation."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from nimbus.config import Settings
from nimbus.control.registry import Registry
from nimbus.control.validation import FunctionRef
from nimbus.control.versions import Versions
from nimbus.errors import (
    InvalidParameterValue,
    InvalidRequestContent,
    RequestTooLarge,
    ResourceNotFound,
    TooManyRequests,
    ValidationError,
)
from nimbus.invoke.invoker import InvokeOptions, Invoker
from nimbus.invoke.throttle import Throttle
from nimbus.protocol.records import FunctionSpec, InvokeRequest, InvokeResult
from registry_support import echo_registry


class StubPools:
    """Answers each request with its payload; `hold` keeps invocations in flight until released."""

    def __init__(self) -> None:
        self.calls: list[tuple[FunctionSpec, InvokeRequest]] = []
        self.retired: list[str] = []
        self.hold: asyncio.Event | None = None
        self.on_retire: Callable[[str], None] = lambda name: None

    async def invoke(self, spec: FunctionSpec, request: InvokeRequest) -> InvokeResult:
        self.calls.append((spec, request))
        if self.hold is not None:
            await self.hold.wait()
        return InvokeResult(request.payload, executed_version=spec.version)

    async def retire(self, function_name: str) -> None:
        self.on_retire(function_name)
        self.retired.append(function_name)


Body = Callable[[Invoker, Registry, StubPools], Awaitable[None]]


def run(tmp_path: Path, body: Body, account_limit: int = 10, memory_budget_mb: int = 100_000) -> None:
    async def main() -> None:
        settings = Settings(data_dir=tmp_path)
        engine, registry = await echo_registry(settings)
        pools = StubPools()
        invoker = Invoker(registry, pools, Throttle(account_limit, memory_budget_mb))
        registry.subscribe(invoker.function_changed)
        try:
            await body(invoker, registry, pools)
        finally:
            engine.dispose()

    asyncio.run(main())


def options(n: int = 0, **kwargs: Any) -> InvokeOptions:
    return InvokeOptions(f"req-{n}", **kwargs)


FN = FunctionRef("fn", None)


def test_unqualified_invoke_resolves_once_then_from_the_cache(tmp_path: Path) -> None:
    async def body(invoker: Invoker, registry: Registry, pools: StubPools) -> None:
        first = await invoker.invoke(FN, b'{"a": 1}', options(1))
        assert (first.payload, first.executed_version) == (b'{"a": 1}', "$LATEST")
        spec, request = pools.calls[0]
        assert request.invoked_arn == spec.arn
        assert request.request_id == "req-1"
        resolve_calls = 0
        real_resolve = registry.resolve

        def counting(name: str, qualifier: str | None) -> Any:
            nonlocal resolve_calls
            resolve_calls += 1
            return real_resolve(name, qualifier)

        registry.resolve = counting  # type: ignore[method-assign]
        await invoker.invoke(FN, b"", options(2))
        await invoker.invoke(FunctionRef("fn", "$LATEST"), b"", options(3))
        assert resolve_calls == 0  # the warm path: one dict lookup
        assert pools.calls[1][1].payload == b"{}"  # an empty payload is sent as {}
        assert pools.calls[2][1].invoked_arn == f"{spec.arn}:$LATEST"

    run(tmp_path, body)


def test_a_change_drops_the_cached_spec_before_the_pools_retire(tmp_path: Path) -> None:
    async def body(invoker: Invoker, registry: Registry, pools: StubPools) -> None:
        await invoker.invoke(FN, b"{}", options())
        old = pools.calls[0][0]
        seen_at_retire: list[FunctionSpec] = []
        pools.on_retire = lambda name: seen_at_retire.append(invoker.resolve(FN))
        await registry.update_config("fn", {"MemorySize": 256})
        assert pools.retired == ["fn"]
        assert seen_at_retire[0].revision_id != old.revision_id  # no window where old code is resolved
        pools.on_retire = lambda name: None
        await invoker.invoke(FN, b"{}", options())
        assert pools.calls[-1][0].memory_mb == 256
        await registry.delete("fn")
        with pytest.raises(ResourceNotFound):
            await invoker.invoke(FN, b"{}", options())

    run(tmp_path, body)


def test_versions_and_aliases(tmp_path: Path) -> None:
    async def body(invoker: Invoker, registry: Registry, pools: StubPools) -> None:
        versions = Versions(registry)
        await versions.publish("fn", {})
        await registry.update_config("fn", {"MemorySize": 256})
        await versions.publish("fn", {})
        await versions.create_alias("fn", {"Name": "live", "FunctionVersion": "1"})
        assert (await invoker.invoke(FunctionRef("fn", "1"), b"{}", options())).executed_version == "1"
        assert (await invoker.invoke(FunctionRef("fn", "live"), b"{}", options())).executed_version == "1"
        assert pools.calls[-1][1].invoked_arn.endswith(":fn:live")
        # an alias changes without a registry event: it is resolved on every call, never cached by its name
        await versions.update_alias("fn", "live", {"FunctionVersion": "2"})
        assert (await invoker.invoke(FunctionRef("fn", "live"), b"{}", options())).executed_version == "2"
        weights = {"RoutingConfig": {"AdditionalVersionWeights": {"1": 0.5}}}
        await versions.update_alias("fn", "live", weights)
        ran = {(await invoker.invoke(FunctionRef("fn", "live"), b"{}", options())).executed_version for _ in range(60)}
        assert ran == {"1", "2"}  # rolled per call
        for missing in ("7", "nope"):
            with pytest.raises(ResourceNotFound):
                await invoker.invoke(FunctionRef("fn", missing), b"{}", options())

    run(tmp_path, body)


def test_checks_come_in_lambdas_order_and_dry_run_runs_nothing(tmp_path: Path) -> None:
    async def body(invoker: Invoker, registry: Registry, pools: StubPools) -> None:
        bad_everything = options(invocation_type="Nope", log_type="Nope", client_context="!")
        with pytest.raises(ResourceNotFound):
            await invoker.invoke(FunctionRef("ghost", None), b"not json", bad_everything)
        with pytest.raises(InvalidParameterValue, match="Unsupported InvocationType Nope"):
            await invoker.invoke(FN, b"not json", bad_everything)
        with pytest.raises(InvalidParameterValue, match="asynchronous invoke"):
            await invoker.invoke(FN, b"{}", options(invocation_type="Event"))
        with pytest.raises(ValidationError, match="logType"):
            await invoker.invoke(FN, b"not json", options(log_type="Nope", client_context="!"))
        with pytest.raises(InvalidRequestContent, match="parse request body"):
            await invoker.invoke(FN, b"not json", options(client_context="!"))
        with pytest.raises(InvalidRequestContent, match="nested too deeply"):
            await invoker.invoke(FN, b"[" * 100_000, options())
        with pytest.raises(InvalidRequestContent, match="Client context"):
            await invoker.invoke(FN, b"{}", options(client_context="!"))
        with pytest.raises(RequestTooLarge):
            await invoker.invoke(FN, b" " * 6_291_457, options())
        dry = await invoker.invoke(FN, b"{}", options(invocation_type="DryRun"))
        assert (dry.payload, dry.executed_version) == (b"", "$LATEST")
        assert pools.calls == []
        assert invoker.throttle.statistics().throttles == 0
        context = base64.b64encode(b'{"custom": {"k": "v"}}').decode()
        await invoker.invoke(FN, b"{}", options(log_type="Tail", client_context=context))
        request = pools.calls[0][1]
        assert request.want_log_tail
        assert request.client_context == '{"custom": {"k": "v"}}'

    run(tmp_path, body)


def test_one_gate_and_one_in_flight_count(tmp_path: Path) -> None:
    async def body(invoker: Invoker, registry: Registry, pools: StubPools) -> None:
        pools.hold = asyncio.Event()
        running = [asyncio.create_task(invoker.invoke(FN, b"{}", options(n))) for n in range(2)]
        await asyncio.sleep(0)
        assert invoker.in_flight() == 2 == invoker.throttle.running("fn")
        with pytest.raises(TooManyRequests) as refused:
            await invoker.invoke(FN, b"{}", options(3))
        assert refused.value.fields == {"Reason": "ConcurrentInvocationLimitExceeded"}
        assert len(pools.calls) == 2  # the refused one never reached the pools
        pools.hold.set()
        await asyncio.gather(*running)
        assert invoker.in_flight() == 0
        assert invoker.throttle.statistics() == type(invoker.throttle.statistics())(0, 0, 1)

    run(tmp_path, body, account_limit=2)


def test_a_failing_dispatch_gives_its_slot_back(tmp_path: Path) -> None:
    async def body(invoker: Invoker, registry: Registry, pools: StubPools) -> None:
        async def broken(spec: FunctionSpec, request: InvokeRequest) -> InvokeResult:
            raise RuntimeError("pool failure")

        pools.invoke = broken  # type: ignore[method-assign]
        with pytest.raises(RuntimeError):
            await invoker.invoke(FN, b"{}", options())
        assert invoker.in_flight() == 0
        assert invoker.throttle.statistics().memory_mb == 0

    run(tmp_path, body, account_limit=1)


def test_each_invocation_names_its_source(tmp_path: Path) -> None:
    async def body(invoker: Invoker, registry: Registry, pools: StubPools) -> None:
        await invoker.invoke(FN, b"{}", options())
        await invoker.invoke(FN, b"{}", options(source="sqs"))
        await invoker.invoke(FN, b"{}", options(source="sqs"))
        await invoker.invoke(FN, b"{}", options(invocation_type="DryRun", source="url"))  # not admitted: not counted
        assert dict(invoker.sources) == {"api": 1, "sqs": 2}
        # only a synchronous API caller waits on the answer: event sources' invocations are never busy-polled
        assert [request.interactive for _, request in pools.calls] == [True, False, False]

    run(tmp_path, body)
