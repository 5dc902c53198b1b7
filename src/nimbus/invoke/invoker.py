"""The one door to run a function: resolve → check → admit → dispatch, for every source of invocations.

The Lambda API's Invoke is a thin adapter over `Invoker.invoke`; async invokes, queues, function URLs and schedules
come through the same door later, each naming itself in `InvokeOptions.source` (counted per source for metrics).
The door owns qualifier and alias resolution and the cache of what each version runs (`FunctionSpec`, dropped on
every registry event of the function, before the instance pools are retired), the payload checks, admission (the
throttle: one gate, one in-flight count) and the hand-off to the instance pools. It never touches a process.

The warm path stays as short as it was when the API did this itself: one dict lookup resolves an unqualified or
numbered invoke, admission is two plain calls around the one await of the pools, and nothing is copied.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Protocol

from nimbus.control import aliases as alias_rules
from nimbus.control.registry import Registry
from nimbus.control.validation import FunctionRef
from nimbus.errors import InvalidParameterValue, ValidationError
from nimbus.invoke.payload import check_payload, decode_client_context
from nimbus.invoke.throttle import Throttle
from nimbus.protocol.records import FunctionSpec, InvokeRequest, InvokeResult

LATEST = "$LATEST"
#: the sources whose caller waits on an open connection for the reply (the Lambda API's Invoke, a function URL,
#: an HTTP API route): their invocations may busy-poll for it; event sources never do
INTERACTIVE = frozenset(("api", "url", "apigw"))


class Pools(Protocol):
    """What the door needs of the instance layer: run one request on an instance of `spec`, and retire a function's
    instances when it changes (`nimbus.instances.InstanceManager`)."""

    async def invoke(self, spec: FunctionSpec, request: InvokeRequest) -> InvokeResult: ...

    async def retire(self, function_name: str) -> None: ...


@dataclass(slots=True)
class InvokeOptions:
    """How to run one invocation, as the Invoke operation takes it (InvocationType, LogType, ClientContext), plus
    who asks: `source` is "api" for the Lambda API (later "async", "sqs", "url", ...), recorded for metrics."""

    request_id: str
    invocation_type: str = "RequestResponse"
    log_type: str = "None"
    #: the Base64 form, as the ClientContext parameter carries it
    client_context: str | None = None
    source: str = "api"


class Invoker:
    def __init__(self, registry: Registry, pools: Pools, throttle: Throttle) -> None:
        self.registry = registry
        self.pools = pools
        self.throttle = throttle
        #: (name, version) -> what that version runs now; an entry exists only for a version that exists
        self._specs: dict[tuple[str, str], FunctionSpec] = {}
        #: invocations admitted, per source
        self.sources: Counter[str] = Counter()

    # ---- resolution and its cache ----
    def resolve(self, ref: FunctionRef) -> FunctionSpec:
        """What one invocation of `ref` runs: $LATEST, a version, or an alias's version (rolled per call when the
        alias routes by weight). Raises ResourceNotFound for an unknown function, version or alias."""
        spec = self._specs.get((ref.name, LATEST if ref.qualifier is None else ref.qualifier))
        if spec is not None:  # aliases are never keys: they are resolved on every call (they change without events)
            return spec
        rec, version = self.registry.resolve(ref.name, ref.qualifier)
        alias = rec.aliases.get(ref.qualifier) if ref.qualifier is not None else None
        if alias is not None:
            version = alias_rules.choose_version(alias["FunctionVersion"], alias.get("RoutingConfig"))
            spec = self._specs.get((ref.name, version))
            if spec is not None:
                return spec
        spec = self._specs[(ref.name, version)] = self.registry.spec(ref.name, version)
        return spec

    async def function_changed(self, name: str) -> None:
        """A registry event: `name` was updated, lost a version or was deleted. Its cached specs go first (no await
        before that, so no invocation can pick up old code after the event), then its instances are retired."""
        for key in [k for k in self._specs if k[0] == name]:
            del self._specs[key]
        await self.pools.retire(name)

    # ---- the door ----
    async def invoke(self, ref: FunctionRef, payload: bytes, options: InvokeOptions) -> InvokeResult:
        """Run one invocation and return its result (a function error is a result, not an exception). A DryRun
        checks everything up to admission and returns an empty result naming the version it would run.

        Raises, in this order, what Lambda answers first: ResourceNotFound, InvalidParameterValue (invocation type),
        ValidationError (log type), InvalidRequestContent / RequestTooLarge (payload, client context), and
        TooManyRequests (admission)."""
        spec = self.resolve(ref)
        kind = options.invocation_type
        if kind != "RequestResponse":
            if kind == "Event":
                raise InvalidParameterValue(  # Event invokes are queued by `async_invoke.AsyncInvoker.accept`
                    "InvocationType Event (asynchronous invoke) is accepted by the async door, which queues the "
                    "event; the dispatcher then runs it here with RequestResponse."
                )
            if kind != "DryRun":
                raise InvalidParameterValue(f"Unsupported InvocationType {kind}: use RequestResponse or DryRun.")
        log_type = options.log_type
        if log_type not in ("None", "Tail"):
            raise ValidationError(
                f"1 validation error detected: Value '{log_type}' at 'logType' failed to satisfy constraint: "
                "Member must satisfy enum value set: [None, Tail]"
            )
        payload = check_payload(payload)
        client_context = decode_client_context(options.client_context)
        if kind == "DryRun":
            return InvokeResult(b"", executed_version=spec.version)
        request = InvokeRequest(
            request_id=options.request_id,
            payload=payload,
            invoked_arn=f"{spec.arn}:{ref.qualifier}" if ref.qualifier else spec.arn,
            client_context=client_context,
            want_log_tail=log_type == "Tail",
            interactive=options.source in INTERACTIVE,
        )
        name, memory_mb = spec.name, spec.memory_mb
        throttle = self.throttle
        reserved = throttle.acquire(name, memory_mb)
        self.sources[options.source] += 1
        try:
            return await self.pools.invoke(spec, request)
        finally:
            throttle.release(name, memory_mb, reserved)

    def in_flight(self) -> int:
        """Invocations admitted and not yet answered, all functions (the instance layer's busy-poll hook)."""
        return self.throttle.in_flight
