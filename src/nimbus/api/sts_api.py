"""The STS API (query protocol, SigV4 scope `sts`, signed for the server's region as boto3 signs it): who the caller
is (GetCallerIdentity), and AssumeRole, which honours the role's trust policy and answers a session of the role
(`control/keyring.KeyRing.mint_session`).

AssumeRole as AWS rules it: the trust policy is evaluated with `protocol/policy_eval.evaluate_trust` (a policy that
names the caller suffices; one that names the account needs the caller's identity policies to allow
`sts:AssumeRole` too); a role that does not exist is the same AccessDenied as one that does not trust the caller;
the root cannot assume roles; DurationSeconds runs from 900 to the role's MaxSessionDuration, and to an hour for a
session assuming another role (role chaining). Session policies (Policy, PolicyArns) are refused rather than
ignored: ignoring one would grant more than it asks.
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

from nimbus.api.http import Request, Response
from nimbus.api.query_ops import Operation, answer, iam_protocol
from nimbus.control.identity import ASSUMED_ROLE, ROOT, Principal
from nimbus.control.keyring import KeyRing
from nimbus.control.policy_documents import parse
from nimbus.errors import AccessDenied, IamValidation
from nimbus.protocol.policy_eval import Caller, evaluate_trust, principal_context
from nimbus.protocol.policy_eval import Request as PolicyRequest

SERVICE = "sts"
BODY_MAX = 64 * 1024
DEFAULT_DURATION_S = 3600
#: the longest session a role session may assume another role for
CHAINED_MAX_S = 3600


def caller_of(who: Principal) -> Caller:
    return Caller(who.arn, who.account, who.role_arn)


class StsApi:
    def __init__(self, keys: KeyRing) -> None:
        self.keys = keys
        self.protocol = iam_protocol(SERVICE)
        self._ops: dict[str, Operation] = {
            "GetCallerIdentity": self.get_caller_identity,
            "AssumeRole": self.assume_role,
        }

    async def handle(self, req: Request) -> Response:
        return await answer(self.protocol, self._ops, req)

    async def get_caller_identity(self, b: dict[str, Any], r: Request) -> dict[str, Any]:
        who = r.principal
        assert who is not None  # a signed request: the gate put its signer there
        return {"UserId": who.user_id, "Account": who.account, "Arn": who.arn}

    async def assume_role(self, b: dict[str, Any], r: Request) -> dict[str, Any]:
        who = r.principal
        assert who is not None
        role_arn, session_name = b["RoleArn"], b["RoleSessionName"]
        if b.get("Policy") or b.get("PolicyArns"):
            raise IamValidation("Nimbus does not apply session policies (Policy, PolicyArns): assume the role "
                                "without one, or give the role itself the narrower policy.")  # fmt: skip
        denied = AccessDenied(f"User: {who.arn} is not authorized to perform: sts:AssumeRole on resource: "
                                 f"{role_arn}")  # fmt: skip
        if who.kind == ROOT:
            raise AccessDenied("Roles may not be assumed by root accounts.")
        iam = self.keys.iam
        role = iam.role_by_arn(role_arn) if iam is not None else None
        if role is None:
            raise denied
        duration = b.get("DurationSeconds") or DEFAULT_DURATION_S
        if who.kind == ASSUMED_ROLE and duration > CHAINED_MAX_S:
            raise IamValidation("The requested DurationSeconds exceeds the 1 hour session limit for roles assumed "
                                "by role chaining.")  # fmt: skip
        if duration > role.max_session_s:
            raise IamValidation("The requested DurationSeconds exceeds the MaxSessionDuration set for this role.")
        caller = caller_of(who)
        context: dict[str, Any] = principal_context(caller, username=who.name if who.kind == "user" else "",
                                                    userid=who.user_id)  # fmt: skip
        context["sts:rolesessionname"] = session_name
        context["aws:currenttime"] = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        context["aws:epochtime"] = str(int(time.time()))
        if b.get("ExternalId") is not None:
            context["sts:externalid"] = b["ExternalId"]
        decision = evaluate_trust(self.keys.identity_policies(who), parse(role.trust_policy),
                                  PolicyRequest("sts:AssumeRole", role_arn, caller, context))  # fmt: skip
        if not decision.allowed:
            raise denied
        session = self.keys.mint_session(role_arn, session_name, duration)
        return {
            "Credentials": {
                "AccessKeyId": session.access_key_id, "SecretAccessKey": session.secret,
                "SessionToken": session.session_token,
                "Expiration": dt.datetime.fromtimestamp(session.expires_at, dt.UTC),
            },
            "AssumedRoleUser": {"AssumedRoleId": session.user_id, "Arn": session.arn},
            "PackedPolicySize": 0,
        }  # fmt: skip

