"""Put/Update/Get/Delete/ListFunctionEventInvokeConfig(s) (Lambda REST API 2019-09-25): the wire only; the rules
and the storage are `control.event_invoke`'s."""

from __future__ import annotations

from nimbus.api.http import Request, Response, Router
from nimbus.api.lambda_input import LambdaInput
from nimbus.config import Settings
from nimbus.control import validation as v
from nimbus.control.event_invoke import EventInvokeConfigs


class AsyncConfigApi:
    def __init__(self, settings: Settings, configs: EventInvokeConfigs) -> None:
        self.settings = settings
        self.configs = configs
        self.input = LambdaInput()

    def register(self, router: Router) -> None:
        path = "/2019-09-25/functions/{FunctionName}/event-invoke-config"
        routes = [
            ("PUT", path, self.put, "PutFunctionEventInvokeConfig"),
            ("POST", path, self.update, "UpdateFunctionEventInvokeConfig"),
            ("GET", path, self.get, "GetFunctionEventInvokeConfig"),
            ("DELETE", path, self.delete, "DeleteFunctionEventInvokeConfig"),
            ("GET", path + "/list", self.list, "ListFunctionEventInvokeConfigs"),
        ]
        for method, route, handler, operation in routes:
            router.add(method, route, self.input.guard(operation, handler), operation)

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
        raw = req.query_one("MaxItems")  # the model checked it: 1 to 50
        items, marker = self.configs.list(ref.name, req.query_one("Marker"), int(raw) if raw else None)
        out = {"FunctionEventInvokeConfigs": [self.configs.describe(c) for c in items]}
        return Response.json(out | ({"NextMarker": marker} if marker else {}))
