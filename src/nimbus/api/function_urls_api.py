"""Create/Get/Update/Delete/ListFunctionUrlConfig(s) (Lambda REST API 2021-10-31): the wire only. Every input is
checked against botocore's model (auth type and invoke mode enums, the qualifier pattern that excludes version
numbers, CORS list sizes and lengths, the MaxAge range); the rules and the storage are `control.function_urls`'s.

`FunctionUrl` is built at answer time from the public endpoints: the port is the listening one, known only once
the server listens, and the domain, scheme and public port are settings.
"""

from __future__ import annotations

from typing import Any

from nimbus.api.http import Request, Response, Router
from nimbus.api.jsonproto import JsonProtocol
from nimbus.api.triggers import URL, PublicEndpoints
from nimbus.config import Settings
from nimbus.control import validation as v
from nimbus.control.function_urls import LATEST, FunctionUrls, UrlConfig

#: the members of the request body (the others travel in the path and the query string)
_BODY = ("AuthType", "Cors", "InvokeMode")


def _integer(text: str) -> int | str:
    """A query string's integer, or the text itself for the model to refuse as not an integer."""
    try:
        return int(text) if text.strip() == text else text
    except ValueError:
        return text


class FunctionUrlsApi:
    def __init__(self, settings: Settings, urls: FunctionUrls, endpoints: PublicEndpoints) -> None:
        self.settings = settings
        self.urls = urls
        self.endpoints = endpoints
        self.protocol = JsonProtocol("lambda", camel_paths=True)

    def register(self, router: Router) -> None:
        path = "/2021-10-31/functions/{FunctionName}/url"
        router.add("POST", path, self.create, "CreateFunctionUrlConfig")
        router.add("GET", path, self.get, "GetFunctionUrlConfig")
        router.add("PUT", path, self.update, "UpdateFunctionUrlConfig")
        router.add("DELETE", path, self.delete, "DeleteFunctionUrlConfig")
        router.add("GET", path + "s", self.list, "ListFunctionUrlConfigs")

    def _input(self, operation: str, req: Request, *, body: bool = False) -> tuple[v.FunctionRef, dict[str, Any]]:
        """The request's members, checked against the model, and the function and qualifier they name. `$LATEST`
        (which the model's pattern refuses) is taken for the unqualified function, as the name's `:$LATEST` is."""
        raw = req.params["FunctionName"]
        qualifier = req.query_one("Qualifier")
        value: dict[str, Any] = {}
        if body:
            sent = req.json()
            value.update({k: sent[k] for k in _BODY if k in sent})
        value["FunctionName"] = raw
        if qualifier is not None and qualifier != LATEST:
            value["Qualifier"] = qualifier
        checked = self.protocol.validate(operation, value)
        s = self.settings
        ref = v.parse_function_ref(raw, region=s.region, account=s.account_id, qualifier=qualifier)
        if ref.qualifier not in (None, LATEST, qualifier):  # a qualifier in the name obeys the same pattern
            self.protocol.validate(operation, checked | {"Qualifier": ref.qualifier})
        return ref, checked

    def _describe(self, config: UrlConfig, *, created: bool = False) -> dict[str, Any]:
        url = self.endpoints.base(URL, config.url_id) + "/"
        return self.urls.describe(config, url, created=created)

    async def create(self, req: Request) -> Response:
        ref, m = self._input("CreateFunctionUrlConfig", req, body=True)
        config = await self.urls.create(
            ref.name, ref.qualifier, auth_type=m["AuthType"], cors=m.get("Cors"), invoke_mode=m.get("InvokeMode")
        )
        return Response.json(self._describe(config, created=True), status=201)

    async def get(self, req: Request) -> Response:
        ref, _ = self._input("GetFunctionUrlConfig", req)
        return Response.json(self._describe(self.urls.get(ref.name, ref.qualifier)))

    async def update(self, req: Request) -> Response:
        ref, m = self._input("UpdateFunctionUrlConfig", req, body=True)
        config = await self.urls.update(
            ref.name, ref.qualifier, auth_type=m.get("AuthType"), cors=m.get("Cors"), invoke_mode=m.get("InvokeMode")
        )
        return Response.json(self._describe(config))

    async def delete(self, req: Request) -> Response:
        ref, _ = self._input("DeleteFunctionUrlConfig", req)
        await self.urls.delete(ref.name, ref.qualifier)
        return Response(204)

    async def list(self, req: Request) -> Response:
        raw = req.params["FunctionName"]
        marker, max_items = req.query_one("Marker"), req.query_one("MaxItems")
        value: dict[str, Any] = {"FunctionName": raw}
        if marker is not None:
            value["Marker"] = marker
        if max_items is not None:
            value["MaxItems"] = _integer(max_items)
        checked = self.protocol.validate("ListFunctionUrlConfigs", value)
        ref = v.parse_function_ref(raw, region=self.settings.region, account=self.settings.account_id)
        items, next_marker = self.urls.list(ref.name, marker, checked.get("MaxItems"))
        out: dict[str, Any] = {"FunctionUrlConfigs": [self._describe(c) for c in items]}
        if next_marker:
            out["NextMarker"] = next_marker
        return Response.json(out)
