"""AddPermission / GetPolicy / RemovePermission (Lambda REST API 2015-03-31): the wire only. Every input member is
checked against botocore's model first (types, patterns, lengths, enums, required), then `control.policies` applies
Lambda's rules and keeps the policy."""

from __future__ import annotations

import re
from typing import Any

from nimbus.api.http import Request, Response, Router
from nimbus.api.jsonproto import JsonProtocol
from nimbus.config import Settings
from nimbus.control import policy_rules
from nimbus.control import validation as v
from nimbus.control.policies import Policies
from nimbus.errors import ValidationError

#: AddPermission's StatementId pattern, matched whole: the model's patterns are unanchored, and a statement id that
#: merely contains a valid character (`"a b"`) must not be stored
_SID = "([a-zA-Z0-9-_]+)"


class PolicyApi:
    def __init__(self, settings: Settings, policies: Policies) -> None:
        self.settings = settings
        self.policies = policies
        self.proto = JsonProtocol("lambda", camel_paths=True)

    def register(self, router: Router) -> None:
        path = "/2015-03-31/functions/{FunctionName}/policy"
        router.add("POST", path, self.add_permission, "AddPermission")
        router.add("GET", path, self.get_policy, "GetPolicy")
        router.add("DELETE", path + "/{StatementId}", self.remove_permission, "RemovePermission")

    def _ref(self, checked: dict[str, Any]) -> v.FunctionRef:
        return v.parse_function_ref(
            checked["FunctionName"], region=self.settings.region, account=self.settings.account_id,
            qualifier=checked.get("Qualifier"),
        )  # fmt: skip

    def _located(self, req: Request) -> dict[str, Any]:
        """The members the path and the query string carry (a body's FunctionName or Qualifier never counts)."""
        return {"FunctionName": req.params["FunctionName"], "Qualifier": req.query_one("Qualifier")}

    async def add_permission(self, req: Request) -> Response:
        body = req.json()
        value = {k: val for k, val in body.items() if k not in ("FunctionName", "Qualifier")} | self._located(req)
        checked = self.proto.validate("AddPermission", value)
        if not re.fullmatch(_SID, checked["StatementId"]):
            raise ValidationError(
                f"1 validation error detected: Value '{checked['StatementId']}' at 'statementId' failed to satisfy "
                f"constraint: Member must satisfy regular expression pattern: {_SID}"
            )
        ref = self._ref(checked)
        statement = await self.policies.add(ref.name, ref.qualifier, checked)
        return Response.json({"Statement": policy_rules.dump(statement)}, status=201)

    async def get_policy(self, req: Request) -> Response:
        checked = self.proto.validate("GetPolicy", self._located(req))
        ref = self._ref(checked)
        policy = self.policies.get(ref.name, ref.qualifier)
        return Response.json({"Policy": policy.text(), "RevisionId": policy.revision_id})

    async def remove_permission(self, req: Request) -> Response:
        value = self._located(req) | {
            "StatementId": req.params["StatementId"],
            "RevisionId": req.query_one("RevisionId"),
        }
        checked = self.proto.validate("RemovePermission", value)
        ref = self._ref(checked)
        await self.policies.remove(ref.name, ref.qualifier, checked["StatementId"], checked.get("RevisionId"))
        return Response(204)
