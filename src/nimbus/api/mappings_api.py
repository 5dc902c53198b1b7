"""Event source mapping operations (Lambda REST API 2015-03-31): a thin adapter over `sources.mappings.Mappings`,
which owns the mappings, their rules and their pollers. Create, Update and Delete answer 202, as Lambda does."""

from __future__ import annotations

from nimbus.api.http import Request, Response, Router
from nimbus.api.lambda_input import LambdaInput
from nimbus.sources.mappings import Mappings

PATH = "/2015-03-31/event-source-mappings"


class MappingsApi:
    def __init__(self, mappings: Mappings) -> None:
        self.mappings = mappings
        self.input = LambdaInput()

    def register(self, router: Router) -> None:
        routes = [
            ("POST", PATH, self.create, "CreateEventSourceMapping"),
            ("GET", PATH, self.list, "ListEventSourceMappings"),
            ("GET", PATH + "/{UUID}", self.get, "GetEventSourceMapping"),
            ("PUT", PATH + "/{UUID}", self.update, "UpdateEventSourceMapping"),
            ("DELETE", PATH + "/{UUID}", self.delete, "DeleteEventSourceMapping"),
        ]
        for method, path, handler, operation in routes:
            router.add(method, path, self.input.guard(operation, handler), operation)

    async def create(self, req: Request) -> Response:
        mapping = await self.mappings.create(req.json())
        return Response.json(self.mappings.describe(mapping, "Creating"), 202)

    async def list(self, req: Request) -> Response:
        raw = req.query_one("MaxItems")  # the model checked it: 1 to 10000
        page, marker = self.mappings.list(
            req.query_one("EventSourceArn"), req.query_one("FunctionName"), req.query_one("Marker"),
            int(raw) if raw else None,
        )  # fmt: skip
        out = {"EventSourceMappings": [self.mappings.describe(m) for m in page]}
        return Response.json(out | ({"NextMarker": marker} if marker else {}))

    async def get(self, req: Request) -> Response:
        return Response.json(self.mappings.describe(self.mappings.get(req.params["UUID"])))

    async def update(self, req: Request) -> Response:
        mapping, state = await self.mappings.update(req.params["UUID"], req.json())
        return Response.json(self.mappings.describe(mapping, state), 202)

    async def delete(self, req: Request) -> Response:
        mapping = await self.mappings.delete(req.params["UUID"])
        return Response.json(self.mappings.describe(mapping, "Deleting"), 202)
