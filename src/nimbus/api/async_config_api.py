"""Put/Update/Get/Delete/ListFunctionEventInvokeConfig(s) (Lambda REST API 2019-09-25): the wire only; the rules
and the storage are `control.event_invoke`'s."""

from __future__ import annotations

from nimbus.api.http import Request, Response, Router
from nimbus.config import Settings
from nimbus.control import validation as v
from nimbus.control.event_invoke import EventInvokeConfigs
from nimbus.errors import ValidationError


class AsyncConfigApi:
    def __init__(self, settings: Settings, configs: EventInvokeConfigs) -> None:
        self.settings = settings
        self.configs = configs

    def register(self, router: Router) -> None:
        path = "/2019-09-25/functions/{FunctionName}/event-invoke-config"
        router.add("PUT", path, self.put, "PutFunctionEventInvokeConfig")
        router.add("POST", path, self.update, "UpdateFunctionEventInvokeConfig")
        router.add("GET", path, self.get, "GetFunctionEventInvokeConfig")
        router.add("DELETE", path, self.delete, "DeleteFunctionEventInvokeConfig")
        router.add("GET", path + "/list", self.list, "ListFunctionEventInvokeConfigs")

    def _ref(self, req: Request) -> v.FunctionRef:
        return v.parse_function_ref(
            req.params["FunctionName"], region=self.settings.region, account=self.settings.account_id,
            qualifier=req.query_one("Qualifier"),
        )  # fmt: skip

    async def put(self, req: Request) -> Response:
        ref = self._ref(req)
        config = await self.configs.put(ref.name, ref.qualifier, req.json(), merge=False)
        return Response.json(self.configs.describe(config))

    async def update(self, req: Request) -> Response:
        ref = self._ref(req)
        config = await self.configs.put(ref.name, ref.qualifier, req.json(), merge=True)
        return Response.json(self.configs.describe(config))

    async def get(self, req: Request) -> Response:
        ref = self._ref(req)
        return Response.json(self.configs.describe(self.configs.get(ref.name, ref.qualifier)))

    async def delete(self, req: Request) -> Response:
        ref = self._ref(req)
        await self.configs.delete(ref.name, ref.qualifier)
        return Response(204)

    async def list(self, req: Request) -> Response:
        ref = self._ref(req)
        raw = req.query_one("MaxItems")
        if raw is not None and (not raw.isdigit() or not 1 <= int(raw) <= 50):
            raise ValidationError(
                f"1 validation error detected: Value '{raw}' at 'maxItems' failed to satisfy constraint: "
                "Member must have value between 1 and 50"
            )
        items, marker = self.configs.list(ref.name, req.query_one("Marker"), int(raw) if raw else None)
        out = {"FunctionEventInvokeConfigs": [self.configs.describe(c) for c in items]}
        return Response.json(out | ({"NextMarker": marker} if marker else {}))
