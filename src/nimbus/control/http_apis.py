"""HTTP APIs (API Gateway v2, ProtocolType HTTP): the service that keeps them (apis, routes, integrations, stages,
deployments, quick create, import) and the hot-path read the HTTP API front serves from. The records are in
`http_api_records` (re-exported here).

An API is one immutable `ApiDocument`: every change builds a new document (revision + 1), writes it whole to the
`http_apis` table, then swaps it into memory. So the front's hot-path read, `HttpApis.get(api_id)`, is one dict
lookup that always sees a whole API, never one half-updated, and may cache what it derives from a document by its
`(api_id, revision)`. Changes are serialised by one lock; reads never touch the database.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from sqlalchemy import Engine, delete, insert, select

from nimbus.config import Settings
from nimbus.control import http_api_rules as rules
from nimbus.control.http_api_records import (
    ApiDocument,
    Deployment,
    Integration,
    Route,
    Stage,
    from_json,
    not_found,
    to_json,
)
from nimbus.control.openapi_import import apply_import, read_openapi
from nimbus.errors import InvalidParameterValue, ResourceConflict
from nimbus.store.schema import http_apis as table

__all__ = ["ApiDocument", "Deployment", "HttpApis", "Integration", "Route", "Stage"]


class HttpApis:
    """The HTTP APIs on record, in memory, written through to the `http_apis` table before a change is answered."""

    def __init__(self, settings: Settings, engine: Engine) -> None:
        self.settings = settings
        self.engine = engine
        self._apis: dict[str, ApiDocument] = {}
        self._lock = asyncio.Lock()

    # ---- storage ----
    def load(self) -> None:
        with self.engine.connect() as conn:
            for row in conn.execute(select(table)):
                self._apis[row.api_id] = from_json(row.document)

    def _write(self, api_id: str, doc: ApiDocument | None) -> None:
        with self.engine.begin() as conn:
            conn.execute(delete(table).where(table.c.api_id == api_id))
            if doc is not None:
                conn.execute(insert(table).values(api_id=api_id, document=to_json(doc)))

    async def _save(self, doc: ApiDocument) -> ApiDocument:
        """Write `doc` (as the next revision) whole, then make it the one readers see."""
        doc = replace(doc, revision=doc.revision + 1)
        await asyncio.to_thread(self._write, doc.api_id, doc)
        self._apis[doc.api_id] = doc
        return doc

    # ---- reads ----
    def get(self, api_id: str) -> ApiDocument | None:
        """The hot-path read of the HTTP API front: the whole API as last changed, or None."""
        return self._apis.get(api_id)

    def api(self, api_id: str) -> ApiDocument:
        doc = self._apis.get(api_id)
        if doc is None:
            raise not_found("API", self.settings.account_id, api_id)
        return doc

    def apis(self) -> list[ApiDocument]:
        return sorted(self._apis.values(), key=lambda d: (d.created, d.api_id))

    def route(self, api_id: str, route_id: str) -> Route:
        route = self.api(api_id).routes.get(route_id)
        if route is None:
            raise not_found("Route", self.settings.account_id, route_id)
        return route

    def integration(self, api_id: str, integration_id: str) -> Integration:
        integration = self.api(api_id).integrations.get(integration_id)
        if integration is None:
            raise not_found("Integration", self.settings.account_id, integration_id)
        return integration

    def stage(self, api_id: str, name: str) -> Stage:
        stage = self.api(api_id).stages.get(name)
        if stage is None:
            raise not_found("Stage", self.settings.account_id, name)
        return stage

    def deployment(self, api_id: str, deployment_id: str) -> Deployment:
        deployment = self.api(api_id).deployments.get(deployment_id)
        if deployment is None:
            raise not_found("Deployment", self.settings.account_id, deployment_id)
        return deployment

    # ---- APIs ----
    def _new_api_id(self) -> str:
        while (ident := rules.new_id(10)) in self._apis:
            pass
        return ident

    def _quick_target(self, body: Mapping[str, Any], *, creating: bool) -> str | None:
        """The function ARN of a quick create's (or update's) Target; a RouteKey is checked, and on CreateApi
        needs a Target."""
        target, key = body.get("Target"), body.get("RouteKey")
        if key is not None:
            if target is None and creating:
                raise InvalidParameterValue("RouteKey is part of quick create: send it with a Target.")
            rules.check_route_key(key)
        if target is None:
            return None
        return rules.function_arn_of(target, region=self.settings.region, account=self.settings.account_id)

    async def create_api(self, body: Mapping[str, Any]) -> ApiDocument:
        """CreateApi; with `Target`, quick create: an AWS_PROXY integration (payload 2.0) to that function, a route
        (`RouteKey`, default `$default`) to it, and a `$default` stage that deploys automatically."""
        protocol = body.get("ProtocolType")
        if protocol != "HTTP":
            raise InvalidParameterValue(
                f"Nimbus serves HTTP APIs only: ProtocolType {protocol} is not supported (use HTTP)."
            )
        fields = rules.api_fields(body)
        function_arn = self._quick_target(body, creating=True)
        now = time.time()
        async with self._lock:
            doc = ApiDocument(api_id=self._new_api_id(), created=now, tags=dict(body.get("Tags") or {}), **fields)
            if function_arn is not None:
                integration = Integration(
                    rules.new_id(), body["Target"], function_arn, "2.0", rules.DEFAULT_TIMEOUT_MS,
                    credentials_arn=body.get("CredentialsArn"), managed=True,
                )  # fmt: skip
                route = Route(
                    rules.new_id(), body.get("RouteKey") or rules.DEFAULT_ROUTE,
                    f"integrations/{integration.integration_id}", managed=True,
                )  # fmt: skip
                stage = Stage(rules.DEFAULT_STAGE, True, {}, now, now, managed=True)
                doc = replace(
                    doc, routes={route.route_id: route}, integrations={integration.integration_id: integration},
                    stages={stage.name: stage},
                )  # fmt: skip
            return await self._save(doc)

    async def update_api(self, api_id: str, body: Mapping[str, Any]) -> ApiDocument:
        """UpdateApi: the members sent replace the API's; `Target`/`RouteKey` update the quick-created
        integration and route."""
        fields = rules.api_fields(body)
        function_arn = self._quick_target(body, creating=False)
        async with self._lock:
            doc = replace(self.api(api_id), **fields)
            if function_arn is not None or body.get("RouteKey") is not None:
                doc = self._update_quick(doc, body, function_arn)
            return await self._save(doc)

    def _update_quick(self, doc: ApiDocument, body: Mapping[str, Any], function_arn: str | None) -> ApiDocument:
        integration = next((i for i in doc.integrations.values() if i.managed), None)
        route = next((r for r in doc.routes.values() if r.managed), None)
        if integration is None or route is None:
            raise InvalidParameterValue(
                "Target and RouteKey update a quick-created API; this API was not quick-created: update its "
                "integrations and routes instead."
            )
        integrations, routes = dict(doc.integrations), dict(doc.routes)
        if function_arn is not None:
            integrations[integration.integration_id] = replace(
                integration, integration_uri=body["Target"], function_arn=function_arn
            )
        key = body.get("RouteKey")
        if key is not None and key != route.route_key:
            self._check_unique_key(doc, key)
            routes[route.route_id] = replace(route, route_key=key)
        return replace(doc, integrations=integrations, routes=routes)

    async def delete_api(self, api_id: str) -> None:
        async with self._lock:
            self.api(api_id)
            await asyncio.to_thread(self._write, api_id, None)
            del self._apis[api_id]

    async def import_api(
        self, text: str, *, fail_on_warnings: bool, api_id: str | None = None, tags: Mapping[str, str] | None = None,
        rest: bool = False,
    ) -> ApiDocument:
        """ImportApi (a new API) or, with `api_id`, ReimportApi (its routes and integrations replaced, its
        stages kept) from an OpenAPI document. A stack's import gives a new API its `tags`, and marks a REST API
        (`rest`: see `ApiDocument.rest`)."""
        # a large YAML document takes seconds to parse: off the event loop
        imported = await asyncio.to_thread(
            read_openapi, text, region=self.settings.region, account=self.settings.account_id
        )
        if fail_on_warnings and imported.warnings:
            raise InvalidParameterValue("Warnings found during import:\n\t" + "\n\t".join(imported.warnings))
        cors = rules.check_cors(imported.cors)
        async with self._lock:
            if api_id is None:
                base = ApiDocument(api_id=self._new_api_id(), name=imported.name, created=time.time(),
                                   tags=dict(tags or {}), rest=rest)  # fmt: skip
            else:
                base = self.api(api_id)
            return await self._save(apply_import(base, imported, cors))

    # ---- routes ----
    def _check_unique_key(self, doc: ApiDocument, key: str) -> None:
        if any(r.route_key == key for r in doc.routes.values()):
            raise ResourceConflict(f"Route with key {key} already exists for this API")

    def _route_fields(self, doc: ApiDocument, body: Mapping[str, Any]) -> dict[str, Any]:
        if body.get("AuthorizerId") is not None or body.get("AuthorizationScopes"):
            raise InvalidParameterValue(
                "Nimbus has no authorizers: AuthorizerId and AuthorizationScopes are not supported; "
                "use AuthorizationType NONE or AWS_IAM."
            )
        out: dict[str, Any] = {}
        if "RouteKey" in body:
            out["route_key"] = rules.check_route_key(body["RouteKey"])
        if "Target" in body:
            out["target"] = body["Target"] or None
            rules.target_integration(out["target"], dict(doc.integrations))
        if "AuthorizationType" in body:
            out["authorization_type"] = rules.check_authorization(body["AuthorizationType"])
        if "ApiKeyRequired" in body:
            out["api_key_required"] = body["ApiKeyRequired"]
        if "OperationName" in body:
            out["operation_name"] = body["OperationName"]
        return out

    async def create_route(self, api_id: str, body: Mapping[str, Any]) -> Route:
        async with self._lock:
            doc = self.api(api_id)
            fields = self._route_fields(doc, body)
            self._check_unique_key(doc, fields["route_key"])
            rules.check_quota(len(doc.routes), "Routes")
            route = Route(rules.new_id(), fields.pop("route_key"), fields.pop("target", None), **fields)
            await self._save(replace(doc, routes={**doc.routes, route.route_id: route}))
            return route

    async def update_route(self, api_id: str, route_id: str, body: Mapping[str, Any]) -> Route:
        async with self._lock:
            doc = self.api(api_id)
            old = self.route(api_id, route_id)
            fields = self._route_fields(doc, body)
            if fields.get("route_key", old.route_key) != old.route_key:
                self._check_unique_key(doc, fields["route_key"])
            route = replace(old, **fields)
            await self._save(replace(doc, routes={**doc.routes, route_id: route}))
            return route

    async def delete_route(self, api_id: str, route_id: str) -> None:
        async with self._lock:
            doc = self.api(api_id)
            self.route(api_id, route_id)
            await self._save(replace(doc, routes={k: r for k, r in doc.routes.items() if k != route_id}))

    # ---- integrations ----
    async def create_integration(self, api_id: str, body: Mapping[str, Any]) -> Integration:
        async with self._lock:
            doc = self.api(api_id)
            fields = rules.integration_fields(body, None, region=self.settings.region, account=self.settings.account_id)
            rules.check_quota(len(doc.integrations), "Integrations")
            integration = Integration(integration_id=rules.new_id(), **fields)
            await self._save(replace(doc, integrations={**doc.integrations, integration.integration_id: integration}))
            return integration

    async def update_integration(self, api_id: str, integration_id: str, body: Mapping[str, Any]) -> Integration:
        async with self._lock:
            doc = self.api(api_id)
            old = self.integration(api_id, integration_id)
            integration = replace(
                old,
                **rules.integration_fields(body, old, region=self.settings.region, account=self.settings.account_id),
            )
            await self._save(replace(doc, integrations={**doc.integrations, integration_id: integration}))
            return integration

    async def delete_integration(self, api_id: str, integration_id: str) -> None:
        async with self._lock:
            doc = self.api(api_id)
            self.integration(api_id, integration_id)
            users = sorted(r.route_id for r in doc.routes.values() if r.integration_id == integration_id)
            if users:
                raise ResourceConflict(
                    f"Integration {integration_id} is the target of route(s) {', '.join(users)}: update or delete "
                    "those routes first."
                )
            kept = {k: i for k, i in doc.integrations.items() if k != integration_id}
            await self._save(replace(doc, integrations=kept))

    # ---- stages ----
    def _stage_fields(self, doc: ApiDocument, body: Mapping[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if "AutoDeploy" in body:
            out["auto_deploy"] = body["AutoDeploy"]
        if "StageVariables" in body:
            out["stage_variables"] = rules.check_stage_variables(body["StageVariables"])
        if "Description" in body:
            out["description"] = rules.check_length(body["Description"], "Description", 0, 1024)
        if body.get("DeploymentId") is not None:
            if body["DeploymentId"] not in doc.deployments:
                raise not_found("Deployment", self.settings.account_id, body["DeploymentId"])
            out["deployment_id"] = body["DeploymentId"]
        if body.get("ClientCertificateId") is not None:
            raise InvalidParameterValue("ClientCertificateId is not supported by Nimbus.")
        kept = {k: body[k] for k in ("DefaultRouteSettings", "RouteSettings", "AccessLogSettings") if k in body}
        if kept:
            out["settings"] = kept
        return out

    async def create_stage(self, api_id: str, body: Mapping[str, Any]) -> Stage:
        async with self._lock:
            doc = self.api(api_id)
            name = rules.check_stage_name(body["StageName"])
            if name in doc.stages:
                raise ResourceConflict(f"Stage {name} already exists")
            fields = self._stage_fields(doc, body)
            now = time.time()
            stage = Stage(
                name, fields.pop("auto_deploy", False), fields.pop("stage_variables", {}), now, now,
                tags=dict(body.get("Tags") or {}), **fields,
            )  # fmt: skip
            await self._save(replace(doc, stages={**doc.stages, name: stage}))
            return stage

    async def update_stage(self, api_id: str, name: str, body: Mapping[str, Any]) -> Stage:
        async with self._lock:
            doc = self.api(api_id)
            old = self.stage(api_id, name)
            fields = self._stage_fields(doc, body)
            if "settings" in fields:
                fields["settings"] = {**old.settings, **fields["settings"]}
            stage = replace(old, last_updated=time.time(), **fields)
            await self._save(replace(doc, stages={**doc.stages, name: stage}))
            return stage

    async def delete_stage(self, api_id: str, name: str) -> None:
        async with self._lock:
            doc = self.api(api_id)
            self.stage(api_id, name)
            await self._save(replace(doc, stages={k: s for k, s in doc.stages.items() if k != name}))

    # ---- deployments ----
    async def create_deployment(self, api_id: str, body: Mapping[str, Any]) -> Deployment:
        """CreateDeployment: recorded (and pointed to by `StageName`'s stage when given); every stage serves
        the API's current routes whatever deployment it names."""
        async with self._lock:
            doc = self.api(api_id)
            stage_name = body.get("StageName")
            if stage_name is not None:
                self.stage(api_id, stage_name)
            deployment = Deployment(
                rules.new_id(6), time.time(),
                rules.check_length(body.get("Description"), "Description", 0, 1024),
            )  # fmt: skip
            stages = dict(doc.stages)
            if stage_name is not None:
                stages[stage_name] = replace(stages[stage_name], deployment_id=deployment.deployment_id,
                                             last_updated=deployment.created)  # fmt: skip
            deployments = {**doc.deployments, deployment.deployment_id: deployment}
            await self._save(replace(doc, deployments=deployments, stages=stages))
            return deployment

    async def delete_deployment(self, api_id: str, deployment_id: str) -> None:
        async with self._lock:
            doc = self.api(api_id)
            self.deployment(api_id, deployment_id)
            users = [s.name for s in doc.stages.values() if s.deployment_id == deployment_id]
            if users:
                raise InvalidParameterValue(
                    f"Deployment {deployment_id} is the deployment of stage(s) {', '.join(users)}: it can't be deleted."
                )
            kept = {k: d for k, d in doc.deployments.items() if k != deployment_id}
            await self._save(replace(doc, deployments=kept))
