"""The layers part of the Lambda API (2018-10-31 paths): publish, read, list, delete, and permissions."""

from __future__ import annotations

from typing import Any

from nimbus.api.code_links import CodeLinks
from nimbus.api.http import Request, Response, Router
from nimbus.api.lambda_input import LambdaInput
from nimbus.control.layers import LayerRegistry, LayerVersion
from nimbus.control.validation import CREATE_BODY_MAX
from nimbus.control.versions import page
from nimbus.errors import InvalidParameterValue

LAYERS = "/2018-10-31/layers"


def _list_or_find(req: Request) -> str:
    return "GetLayerVersionByArn" if req.query_one("find") == "LayerVersion" else "ListLayers"


class LayersApi:
    def __init__(self, layers: LayerRegistry, links: CodeLinks) -> None:
        self.layers = layers
        self.links = links
        self.input = LambdaInput()

    def register(self, router: Router) -> None:
        one = LAYERS + "/{LayerName}/versions/{VersionNumber}"
        guard = self.input.guard
        publish = "PublishLayerVersion"
        router.add("POST", LAYERS + "/{LayerName}/versions", guard(publish, self.publish), publish, CREATE_BODY_MAX)
        routes = [
            ("GET", LAYERS + "/{LayerName}/versions", self.list_versions, "ListLayerVersions"),
            ("GET", one, self.get_version, "GetLayerVersion"),
            ("DELETE", one, self.delete_version, "DeleteLayerVersion"),
            ("POST", one + "/policy", self.add_permission, "AddLayerVersionPermission"),
            ("GET", one + "/policy", self.get_policy, "GetLayerVersionPolicy"),
            ("DELETE", one + "/policy/{StatementId}", self.remove_permission, "RemoveLayerVersionPermission"),
        ]
        for method, path, handler, operation in routes:
            router.add(method, path, guard(operation, handler), operation)
        router.add("GET", LAYERS, guard("ListLayers", self.list_or_find, _list_or_find), "ListLayers")  # fmt: skip

    def _version(self, req: Request) -> tuple[str, int]:
        raw = req.params["VersionNumber"]
        if not raw.isdigit():
            raise InvalidParameterValue(f"Invalid layer version number: {raw}")
        if int(raw) < 1:  # a 400 as on Lambda, not a missing version's 404
            raise InvalidParameterValue("Layer Version Cannot be less than 1")
        return self.layers.name_of(req.params["LayerName"]), int(raw)

    def _full(self, req: Request, lv: LayerVersion) -> dict[str, Any]:
        out = self.layers.describe(lv)
        out["Content"]["Location"] = self.links.url(req, lv.code_sha256)
        return out

    @staticmethod
    def _max_items(req: Request) -> int | None:
        raw = req.query_one("MaxItems")
        if raw is not None and (not raw.isdigit() or not 1 <= int(raw) <= 50):
            raise InvalidParameterValue("MaxItems must be between 1 and 50.")
        return int(raw) if raw else None

    async def publish(self, req: Request) -> Response:
        lv = await self.layers.publish(self.layers.name_of(req.params["LayerName"]), req.json())
        return Response.json(self._full(req, lv), 201)

    async def get_version(self, req: Request) -> Response:
        return Response.json(self._full(req, self.layers.get(*self._version(req))))

    async def delete_version(self, req: Request) -> Response:
        await self.layers.delete(*self._version(req))
        return Response(204)

    async def list_versions(self, req: Request) -> Response:
        name = self.layers.name_of(req.params["LayerName"])
        items = self.layers.list_versions(
            name, req.query_one("CompatibleRuntime"), req.query_one("CompatibleArchitecture")
        )
        chunk, marker = page(items, req.query_one("Marker"), self._max_items(req))
        return Response.json({"LayerVersions": chunk} | ({"NextMarker": marker} if marker else {}))

    async def list_or_find(self, req: Request) -> Response:
        """GET /layers is ListLayers, or GetLayerVersionByArn when `find=LayerVersion` is in the query."""
        if req.query_one("find") == "LayerVersion":
            arn = req.query_one("Arn") or ""
            return Response.json(self._full(req, self.layers.get(*self.layers.parse_version_arn(arn))))
        items = self.layers.list_layers(req.query_one("CompatibleRuntime"), req.query_one("CompatibleArchitecture"))
        chunk, marker = page(items, req.query_one("Marker"), self._max_items(req))
        return Response.json({"Layers": chunk} | ({"NextMarker": marker} if marker else {}))

    async def add_permission(self, req: Request) -> Response:
        body = req.json() | {"RevisionId": req.query_one("RevisionId")}  # botocore sends it in the query
        return Response.json(await self.layers.add_permission(*self._version(req), body), 201)

    async def get_policy(self, req: Request) -> Response:
        return Response.json(self.layers.policy(*self._version(req)))

    async def remove_permission(self, req: Request) -> Response:
        name, version = self._version(req)
        await self.layers.remove_permission(name, version, req.params["StatementId"], req.query_one("RevisionId"))
        return Response(204)
