"""The stacks API (Nimbus's own, REST-JSON under `/_nimbus/stacks`, signed for the `cloudformation` scope): what
`nimbus deploy` and `nimbus stack` call. The CLI turns the user's files into a CloudFormation template and code
zips; the server keeps the stacks. Errors are REST-JSON (`x-amzn-ErrorType`, `{"message": ...}`), as Lambda's.

- `PUT /_nimbus/stack-code/{Sha256}`: one code zip (the CLI uploads each zip once, after `GET` said it is missing)
- `POST /_nimbus/stacks/{StackName}`: `{"Template", "Parameters", "SkipUnsupported", "DryRun"}` -> the changes;
  the deploy goes on in the background (DryRun: plan only)
- `GET /_nimbus/stacks`, `GET|DELETE /_nimbus/stacks/{StackName}`, `GET .../events?After=N`
"""

from __future__ import annotations

import asyncio
import hashlib
from typing import Any

from sqlalchemy import Engine

from nimbus.api.http import Request, Response, Router
from nimbus.api.services import Services
from nimbus.control.validation import ZIPPED_MAX
from nimbus.deploy.parameters import MASK
from nimbus.deploy.stacks import Stacks
from nimbus.deploy.state import Stack
from nimbus.deploy.template import TEMPLATE_MAX
from nimbus.errors import InvalidParameterValue, ResourceNotFound, ValidationError

#: the SigV4 credential scope service the stacks API is signed for
SERVICE = "cloudformation"
PREFIX = "/_nimbus/stacks"
CODE_PREFIX = "/_nimbus/stack-code"
#: a deploy request: the template (up to TEMPLATE_MAX as text, more as JSON escapes) and its parameters
DEPLOY_BODY_MAX = 4 * TEMPLATE_MAX
#: the most events one page holds
EVENTS_PAGE = 1000


def _summary(stack: Stack) -> dict[str, Any]:
    return {"StackName": stack.name, "StackId": stack.stack_id, "StackStatus": stack.status,
            "StackStatusReason": stack.reason, "CreationTime": stack.created,
            "LastUpdatedTime": stack.updated}  # fmt: skip


class StacksApi:
    def __init__(self, stacks: Stacks) -> None:
        self.stacks = stacks

    def register(self, router: Router) -> None:
        add = router.add
        add("GET", CODE_PREFIX + "/{Sha256}", self.has_code, "GetStackCode", service=SERVICE)
        add("PUT", CODE_PREFIX + "/{Sha256}", self.put_code, "PutStackCode", ZIPPED_MAX, SERVICE)
        add("GET", PREFIX, self.list_stacks, "ListStacks", service=SERVICE)
        add("GET", PREFIX + "/{StackName}/events", self.events, "DescribeStackEvents", service=SERVICE)
        add("POST", PREFIX + "/{StackName}", self.deploy, "DeployStack", DEPLOY_BODY_MAX, SERVICE)
        add("GET", PREFIX + "/{StackName}", self.describe, "DescribeStack", service=SERVICE)
        add("DELETE", PREFIX + "/{StackName}", self.delete, "DeleteStack", service=SERVICE)

    @staticmethod
    def _digest(req: Request) -> str:
        digest = req.params["Sha256"]
        if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
            raise ValidationError("a code zip is named by its sha256, 64 lower-case hex digits")
        return digest

    async def has_code(self, req: Request) -> Response:
        if not self.stacks.services.codes.blob_path(self._digest(req)).is_file():
            raise ResourceNotFound("No code zip with that sha256 has been uploaded")
        return Response.json({"CodeSha256": req.params["Sha256"]})

    async def put_code(self, req: Request) -> Response:
        digest = self._digest(req)
        if hashlib.sha256(req.body).hexdigest() != digest:
            raise InvalidParameterValue("The uploaded zip's sha256 does not match the one in the path")
        info = await asyncio.to_thread(self.stacks.services.codes.put, req.body)
        return Response.json({"CodeSha256": info.sha256_hex, "CodeSize": info.size})

    async def list_stacks(self, req: Request) -> Response:
        found = [self.stacks.get(name) for name in self.stacks.names()]
        return Response.json({"StackSummaries": [_summary(s) for s in found if s is not None]})

    async def describe(self, req: Request) -> Response:
        stack = self.stacks.get(req.params["StackName"])
        shown = {k: MASK if k in stack.no_echo else ",".join(v) if isinstance(v, list) else v
                 for k, v in stack.resolved.items()}  # fmt: skip
        resources = []
        for lid, row in sorted(self.stacks.store.rows(stack.name).items()):
            record = row.current
            resources.append({"LogicalResourceId": lid, "PhysicalResourceId": record.physical_id if record else "",
                              "ResourceType": row.type, "ResourceStatus": row.status,
                              "ResourceStatusReason": row.reason, "LastUpdatedTimestamp": row.updated})  # fmt: skip
        body = _summary(stack) | {
            "Parameters": [{"ParameterKey": k, "ParameterValue": v} for k, v in sorted(shown.items())],
            "Outputs": stack.outputs, "Resources": resources, "SkippedResources": stack.skipped,
        }  # fmt: skip
        return Response.json(body)

    async def events(self, req: Request) -> Response:
        name = req.params["StackName"]
        self.stacks.get(name, deleted_ok=True)
        try:
            after = int(req.query_one("After") or 0)
        except ValueError:
            raise ValidationError("After is the sequence number of the last event seen (an integer)") from None
        found = self.stacks.store.events(name, after, EVENTS_PAGE)
        return Response.json({"StackEvents": [doc | {"Seq": seq} for seq, doc in found],
                              "Next": found[-1][0] if found else after})  # fmt: skip

    async def deploy(self, req: Request) -> Response:
        body = req.json()
        name = req.params["StackName"]
        source = body.get("SourceHash") or ""
        if not isinstance(source, str):
            raise ValidationError("SourceHash is a string")
        if "Template" not in body:  # the CLI's first question: is this what the stack has?
            if self.stacks.unchanged(name, source):
                return Response.json({"NoChanges": True, "Changes": []})
            return Response.json({"NoChanges": False, "TemplateNeeded": True})
        template = body.get("Template")
        parameters = body.get("Parameters") or {}
        if not isinstance(parameters, dict) or not all(isinstance(v, str) for v in parameters.values()):
            raise ValidationError("Parameters is a mapping of names to string values")
        skip = bool(body.get("SkipUnsupported"))
        if body.get("DryRun"):
            return Response.json(self.stacks.preview(name, template, parameters, skip)[1])
        return Response.json(await self.stacks.deploy(name, template, parameters, skip, source))

    async def delete(self, req: Request) -> Response:
        return Response.json(self.stacks.delete(req.params["StackName"]))


def open_stacks(services: Services, engine: Engine) -> tuple[Stacks, StacksApi]:
    """The stacks service over the providers' registry, and its API (what `server.run` wires in)."""
    from nimbus.deploy.providers import SUPPORTED_TYPES, provider_for

    providers = {t: p for t in SUPPORTED_TYPES if (p := provider_for(t)) is not None}
    stacks = Stacks(services, engine, providers)
    return stacks, StacksApi(stacks)
