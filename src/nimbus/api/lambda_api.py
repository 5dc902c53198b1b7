"""The Lambda REST API (2015-03-31): one handler per operation, shapes as botocore's service model has them."""

from __future__ import annotations

import base64
import uuid
from typing import Any

from nimbus.api.code_links import CodeLinks
from nimbus.api.http import CONTROL_BODY_MAX, Handler, Request, Response, Router
from nimbus.api.lambda_input import LambdaInput
from nimbus.config import Settings
from nimbus.control import validation as v
from nimbus.control import wire
from nimbus.control.registry import Registry, check_tags
from nimbus.control.versions import Versions, page
from nimbus.errors import InvalidParameterValue, RequestTooLarge, ResourceNotFound, ValidationError
from nimbus.invoke.async_invoke import AsyncInvoker
from nimbus.invoke.concurrency import Concurrency
from nimbus.invoke.invoker import InvokeOptions, Invoker

TOTAL_CODE_SIZE = 80_530_636_800
#: the deprecated InvokeAsync's payload limit (256 KB; Event invokes take 1 MB)
INVOKE_ASYNC_MAX = 262_144
_JSON = (b"content-type", b"application/json")
_INVOCATION_TYPES = ("RequestResponse", "Event", "DryRun")
#: the defaults of a header left out, as a header's values
_REQUEST_RESPONSE, _NONE = ("RequestResponse",), ("None",)


class LambdaApi:
    def __init__(
        self,
        settings: Settings,
        registry: Registry,
        versions: Versions,
        invoker: Invoker,
        links: CodeLinks,
        concurrency: Concurrency,
        async_invoker: AsyncInvoker | None = None,
    ) -> None:
        self.settings = settings
        self.registry = registry
        self.versions = versions
        self.invoker = invoker
        self.links = links
        self.concurrency = concurrency
        #: the door's asynchronous half (InvocationType Event); None where no queue store is wired (some tests)
        self.async_invoker = async_invoker
        self.input = LambdaInput()

    def register(self, router: Router) -> None:
        fn = "/2015-03-31/functions/{FunctionName}"
        # Invoke is not guarded by the model check: its path is hot (lambda_input.py)
        router.add("POST", fn + "/invocations", self.invoke, "Invoke", max_body=v.INVOKE_PAYLOAD_MAX)
        routes: list[tuple[str, str, Handler, str, int]] = [
            ("POST", "/2015-03-31/functions", self.create_function, "CreateFunction", v.CREATE_BODY_MAX),
            ("GET", "/2015-03-31/functions", self.list_functions, "ListFunctions", CONTROL_BODY_MAX),
            ("GET", fn, self.get_function, "GetFunction", CONTROL_BODY_MAX),
            ("GET", fn + "/configuration", self.get_configuration, "GetFunctionConfiguration", CONTROL_BODY_MAX),
            ("PUT", fn + "/code", self.update_code, "UpdateFunctionCode", v.CREATE_BODY_MAX),
            ("PUT", fn + "/configuration", self.update_configuration, "UpdateFunctionConfiguration", CONTROL_BODY_MAX),
            ("DELETE", fn, self.delete_function, "DeleteFunction", CONTROL_BODY_MAX),
            ("POST", fn + "/versions", self.publish_version, "PublishVersion", CONTROL_BODY_MAX),
            ("GET", fn + "/versions", self.list_versions, "ListVersionsByFunction", CONTROL_BODY_MAX),
            ("POST", fn + "/aliases", self.create_alias, "CreateAlias", CONTROL_BODY_MAX),
            ("GET", fn + "/aliases", self.list_aliases, "ListAliases", CONTROL_BODY_MAX),
            ("GET", fn + "/aliases/{Name}", self.get_alias, "GetAlias", CONTROL_BODY_MAX),
            ("PUT", fn + "/aliases/{Name}", self.update_alias, "UpdateAlias", CONTROL_BODY_MAX),
            ("DELETE", fn + "/aliases/{Name}", self.delete_alias, "DeleteAlias", CONTROL_BODY_MAX),
            ("POST", "/2014-11-13/functions/{FunctionName}/invoke-async", self.invoke_async, "InvokeAsync",
             CONTROL_BODY_MAX),
            ("POST", "/2017-03-31/tags/{Resource}", self.tag_resource, "TagResource", CONTROL_BODY_MAX),
            ("DELETE", "/2017-03-31/tags/{Resource}", self.untag_resource, "UntagResource", CONTROL_BODY_MAX),
            ("GET", "/2017-03-31/tags/{Resource}", self.list_tags, "ListTags", CONTROL_BODY_MAX),
            ("GET", "/2016-08-19/account-settings", self.account_settings, "GetAccountSettings", CONTROL_BODY_MAX),
        ]  # fmt: skip
        for method, path, handler, operation, max_body in routes:
            router.add(method, path, self.input.guard(operation, handler), operation, max_body)

    # ---- helpers ----
    def _ref(self, req: Request, *, allow_qualifier: bool = True) -> v.FunctionRef:
        ref = v.parse_function_ref(
            req.params["FunctionName"],
            region=self.settings.region,
            account=self.settings.account_id,
            qualifier=req.query_one("Qualifier"),
        )
        if not allow_qualifier and ref.qualifier is not None:
            raise InvalidParameterValue(
                "This operation works on the unqualified function: pass its name without a version or alias "
                "(published versions are immutable)."
            )
        return ref

    @staticmethod
    def _max_items(req: Request) -> int | None:
        raw = req.query_one("MaxItems")
        if raw is not None and (not raw.isdigit() or not 1 <= int(raw) <= 10_000):
            raise ValidationError(
                f"1 validation error detected: Value '{raw}' at 'maxItems' failed to satisfy constraint: "
                "Member must have value between 1 and 10000"
            )
        return int(raw) if raw else None

    def _described(self, req: Request) -> tuple[dict[str, Any], str]:
        """The configuration a (qualified) GetFunction* names, and its code's sha256 (hex)."""
        ref = self._ref(req)
        rec, version = self.registry.resolve(ref.name, ref.qualifier)
        # the ARN names what the request named: an alias, a version, or `$LATEST` when asked for by name
        named = ref.qualifier if ref.qualifier is not None and not ref.qualifier.isdigit() else None
        _, sha = rec.snapshot(version)
        return self.registry.configuration(rec, version=version, qualifier=named), sha

    # ---- function CRUD ----
    async def create_function(self, req: Request) -> Response:
        body = req.json()
        out = await self.registry.create(body)
        if body.get("Publish") is True:  # the version's configuration, under the unqualified ARN, as Lambda answers
            published = await self.versions.publish(out["FunctionName"], {})
            out = wire.created(published) | {"FunctionArn": out["FunctionArn"]}
        return Response.json(_settling(out), 201)

    async def list_functions(self, req: Request) -> Response:
        every = req.query_one("FunctionVersion")  # the model's enum allows ALL only
        if every == "ALL":  # each function's $LATEST followed by its published versions
            pairs = [(name, ver) for name in self.registry.names() for ver in self.registry.get(name).version_names()]
            chunk, marker = page(pairs, req.query_one("Marker"), self._max_items(req))
            items = [  # $LATEST too is named by its qualified ARN in this listing, as Lambda names it
                self.registry.configuration(self.registry.get(n), listing=True, version=ver, qualifier=ver)
                for n, ver in chunk
            ]
        else:
            records, marker = self.registry.page(req.query_one("Marker"), self._max_items(req))
            items = [self.registry.configuration(r, listing=True) for r in records]
        return Response.json({"Functions": items} | ({"NextMarker": marker} if marker else {}))

    async def get_function(self, req: Request) -> Response:
        config, sha = self._described(req)
        out: dict[str, Any] = {
            "Configuration": config,
            "Code": {"RepositoryType": "S3", "Location": self.links.url(req, sha)},
        }
        rec = self.registry.get(config["FunctionName"])
        if rec.tags:
            out["Tags"] = rec.tags
        if rec.reserved_concurrency is not None:
            out["Concurrency"] = {"ReservedConcurrentExecutions": rec.reserved_concurrency}
        return Response.json(out)

    async def get_configuration(self, req: Request) -> Response:
        try:
            return Response.json(self._described(req)[0])
        except ResourceNotFound as exc:
            raise self._latest_not_found(req, exc) from None

    def _latest_not_found(self, req: Request, exc: ResourceNotFound) -> ResourceNotFound:
        """Lambda names a missing function by its `$LATEST` ARN where the operation runs or reads a version
        (GetFunctionConfiguration, Invoke), when no qualifier was given: only the message changes."""
        ref = self._ref(req)
        arn = self.registry.function_arn(ref.name)
        if ref.qualifier is None and str(exc) == f"Function not found: {arn}":
            return ResourceNotFound(f"Function not found: {arn}:$LATEST")
        return exc

    async def update_code(self, req: Request) -> Response:
        name = self._ref(req, allow_qualifier=False).name
        body = req.json()
        out = await self.registry.update_code(name, body)
        if body.get("DryRun"):
            return Response.json(out)
        if body.get("Publish") is True:  # the published version's configuration, as Lambda answers
            return Response.json(await self.versions.publish(name, {}))
        return Response.json(_settling(out))

    async def update_configuration(self, req: Request) -> Response:
        name = self._ref(req, allow_qualifier=False).name
        return Response.json(_settling(await self.registry.update_config(name, req.json())))

    async def delete_function(self, req: Request) -> Response:
        ref = self._ref(req)
        if ref.qualifier == "$LATEST":
            raise InvalidParameterValue("$LATEST version cannot be deleted without deleting the function.")
        if ref.qualifier is None:
            await self.registry.delete(ref.name)  # its reservation goes with it (a registry event)
        else:
            await self.versions.delete_version(ref.name, ref.qualifier)
        return Response(204)

    # ---- versions and aliases ----
    async def publish_version(self, req: Request) -> Response:
        name = self._ref(req, allow_qualifier=False).name
        return Response.json(await self.versions.publish(name, req.json()), 201)

    async def list_versions(self, req: Request) -> Response:
        name = self._ref(req, allow_qualifier=False).name
        items, marker = self.versions.list_versions(name, req.query_one("Marker"), self._max_items(req))
        return Response.json({"Versions": items} | ({"NextMarker": marker} if marker else {}))

    async def create_alias(self, req: Request) -> Response:
        name = self._ref(req, allow_qualifier=False).name
        return Response.json(await self.versions.create_alias(name, req.json()), 201)

    async def list_aliases(self, req: Request) -> Response:
        name = self._ref(req, allow_qualifier=False).name
        items, marker = self.versions.list_aliases(
            name, req.query_one("FunctionVersion"), req.query_one("Marker"), self._max_items(req)
        )
        return Response.json({"Aliases": items} | ({"NextMarker": marker} if marker else {}))

    async def get_alias(self, req: Request) -> Response:
        return Response.json(self.versions.get_alias(self._ref(req, allow_qualifier=False).name, req.params["Name"]))

    async def update_alias(self, req: Request) -> Response:
        name = self._ref(req, allow_qualifier=False).name
        return Response.json(await self.versions.update_alias(name, req.params["Name"], req.json()))

    async def delete_alias(self, req: Request) -> Response:
        await self.versions.delete_alias(self._ref(req, allow_qualifier=False).name, req.params["Name"])
        return Response(204)

    # ---- invoke ----
    async def invoke(self, req: Request) -> Response:
        """Invoke: the wire in (path, query, headers, body), the door, the wire out."""
        asked = req.headers  # (read straight: three header lookups per invoke)
        kind = (asked.get("x-amz-invocation-type") or _REQUEST_RESPONSE)[0] or "RequestResponse"
        if kind not in _INVOCATION_TYPES:  # the model's enum refuses it, in the model's words
            self.input.check("Invoke", req)
        if kind == "Event" and self.async_invoker is not None:  # 202 once the event is durably queued
            await self.async_invoker.accept(self._ref(req), req.body, req.request_id)
            return Response(202)
        log_type = (asked.get("x-amz-log-type") or _NONE)[0] or "None"
        context = asked.get("x-amz-client-context")
        options = InvokeOptions(req.request_id, kind, log_type, context[0] if context else None)
        try:
            result = await self.invoker.invoke(self._ref(req), req.body, options)
        except ResourceNotFound as exc:  # the exception path only: the warm path pays nothing for the message
            raise self._latest_not_found(req, exc) from None
        if kind == "DryRun":  # no function ran: Lambda sends no X-Amz-Executed-Version
            return Response(204)
        headers = [_JSON, (b"x-amz-executed-version", result.executed_version.encode())]
        if result.function_error:
            headers.append((b"x-amz-function-error", result.function_error.encode()))
        if result.log_tail is not None:
            headers.append((b"x-amz-log-result", base64.b64encode(result.log_tail)))
        return Response(200, result.payload, headers)

    async def invoke_async(self, req: Request) -> Response:
        """The deprecated InvokeAsync: the same door as Event invokes, with its older 256 KB limit."""
        if self.async_invoker is None:
            raise InvalidParameterValue("Asynchronous invocation is not available in this server.")
        if len(req.body) > INVOKE_ASYNC_MAX:
            raise RequestTooLarge(
                f"Request must be smaller than {INVOKE_ASYNC_MAX} bytes for the InvokeAsync operation"
            )
        await self.async_invoker.accept(self._ref(req), req.body, req.request_id)
        return Response.json({"Status": 202}, 202)

    # ---- tags and account ----
    def _tag_target(self, req: Request) -> str:
        arn = req.params["Resource"]
        prefix = f"arn:aws:lambda:{self.settings.region}:{self.settings.account_id}:function:"
        if not arn.startswith("arn:aws:lambda:"):
            raise ValidationError(f"1 validation error detected: Value '{arn}' at 'resource' failed to satisfy "
                                  "constraint: Member must satisfy the Lambda ARN pattern")  # fmt: skip
        if not arn.startswith(prefix):
            raise ResourceNotFound(f"Function not found: {arn}")
        name = arn[len(prefix) :]
        if ":" in name:
            raise InvalidParameterValue("Tags are supported on unqualified function ARNs only.")
        self.registry.get(name)
        return name

    async def tag_resource(self, req: Request) -> Response:
        name = self._tag_target(req)
        tags = check_tags(req.json().get("Tags"))
        v.tag_count(self.registry.get(name).tags, tags)
        await self.registry.set_tags(name, tags=tags)
        return Response(204)

    async def untag_resource(self, req: Request) -> Response:
        name = self._tag_target(req)
        await self.registry.set_tags(name, remove=req.query_params().get("tagKeys", []))
        return Response(204)

    async def list_tags(self, req: Request) -> Response:
        return Response.json({"Tags": self.registry.get(self._tag_target(req)).tags})

    async def account_settings(self, req: Request) -> Response:
        total = sum(self.registry.get(n).config["CodeSize"] for n in self.registry.names())
        limit = self.settings.concurrency_limit
        unreserved = self.concurrency.unreserved_limit
        return Response.json(
            {
                "AccountLimit": {
                    "TotalCodeSize": TOTAL_CODE_SIZE,
                    "CodeSizeUnzipped": v.UNZIPPED_MAX,
                    "CodeSizeZipped": v.ZIPPED_MAX,
                    "ConcurrentExecutions": limit,
                    "UnreservedConcurrentExecutions": unreserved,
                },
                "AccountUsage": {"TotalCodeSize": total, "FunctionCount": len(self.registry.names())},
            }
        )


def _settling(out: dict[str, Any]) -> dict[str, Any]:
    """A create's or an update's answer names the revision of the state still settling (Pending, InProgress): on
    Lambda the RevisionId changes again when the function becomes Active or the update completes, which here has
    happened before the answer leaves. A caller reads the settled RevisionId with GetFunction, as on Lambda."""
    return out | {"RevisionId": str(uuid.uuid4())}
