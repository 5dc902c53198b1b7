"""Resource-based policies (AddPermission, RemovePermission, GetPolicy): who may invoke a function, a version or an
alias, and the check every HTTP trigger and event source makes before it invokes (`allows`).

One policy per (function, qualifier), attached to exactly that resource: the unqualified function's policy does not
open its aliases, nor an alias's policy the function, as on Lambda. Kept in the control database, written through
before the API answers, and held in memory as documents. `allows` runs on every function-URL request: its decisions
are IAM's (`protocol/policy_eval`, through `policy_rules.allows`), cached per (policy revision, action, principal,
condition values), which is all a decision reads, so a warm check is a few dict lookups. Dropped with the function,
version or alias it is attached to (a registry event); an alias deletion sends none, so reads also skip a policy
whose alias is gone.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from sqlalchemy import Engine, delete, insert, select

from nimbus.config import Settings
from nimbus.control import policy_rules as rules
from nimbus.control.registry import Registry
from nimbus.errors import (
    InvalidParameterValue,
    PolicyLengthExceeded,
    PreconditionFailed,
    ResourceConflict,
    ResourceNotFound,
)
from nimbus.store.schema import function_policies as table

LATEST = "$LATEST"
#: the qualifier column's value for the unqualified function
UNQUALIFIED = ""
#: `allows`' decisions kept at most (emptied when full: one is recomputed in microseconds)
DECISIONS_MAX = 4096
REVISION_MISMATCH = (
    "The Revision Id provided does not match the latest Revision Id. "
    "Call the GetPolicy API to retrieve the latest Revision Id"
)


@dataclass(frozen=True)
class Policy:
    function: str
    qualifier: str  # "" for the unqualified function, a version number or an alias name
    statements: tuple[dict[str, Any], ...]
    revision_id: str

    @cached_property
    def document(self) -> dict[str, Any]:
        """The policy document (GetPolicy's, and what evaluation reads): made once, a revision never changes."""
        return rules.document(self.statements)

    def text(self) -> str:
        """The policy document as GetPolicy's `Policy` string."""
        return rules.dump(self.document)


def _key(qualifier: str | None) -> str:
    return UNQUALIFIED if qualifier is None or qualifier == LATEST else qualifier


class Policies:
    def __init__(self, settings: Settings, registry: Registry, engine: Engine) -> None:
        self.settings = settings
        self.registry = registry
        self.engine = engine
        self._policies: dict[tuple[str, str], Policy] = {}
        #: `allows`' decisions by (revision, action, principal, source ARN, source account, URL auth type): a
        #: revision's statements never change, and these are all the context a trigger's request carries
        self._decisions: dict[tuple[str, str, str, str | None, str | None, str | None], bool] = {}
        #: one writer at a time: a RevisionId check and the write it guards are one step
        self._lock = asyncio.Lock()

    # ---- storage ----
    def load(self) -> None:
        with self.engine.connect() as conn:
            for row in conn.execute(select(table)):
                statements = tuple(json.loads(row.policy)["Statement"])
                self._policies[(row.function, row.qualifier)] = Policy(
                    row.function, row.qualifier, statements, row.revision_id
                )

    def _write(self, function: str, qualifier: str | None, policy: Policy | None) -> None:
        """Replace the stored policy of (function, qualifier) by `policy` (None: remove it); qualifier None removes
        every policy of the function."""
        with self.engine.begin() as conn:
            query = delete(table).where(table.c.function == function)
            if qualifier is not None:
                query = query.where(table.c.qualifier == qualifier)
            conn.execute(query)
            if policy is not None:
                conn.execute(insert(table).values(
                    function=function, qualifier=policy.qualifier, policy=policy.text(),
                    revision_id=policy.revision_id,
                ))  # fmt: skip

    # ---- the check triggers make ----
    def allows(
        self,
        function: str,
        qualifier: str | None,
        *,
        action: str,
        principal: str,
        source_arn: str | None = None,
        source_account: str | None = None,
        url_auth_type: str | None = None,
    ) -> bool:
        """Whether the policy attached to exactly (function, qualifier) allows `principal` ("*" for an anonymous
        caller, a service principal, an account id or IAM ARN) to do `action` on it with these condition values, as
        IAM decides with that policy alone (an account's statement delegates to identity policies a trigger does not
        have: it allows the account's root only). No policy: False."""
        key = _key(qualifier)
        policy = self._policies.get((function, key))
        if policy is None or not self._exists(function, key):
            return False
        memo = (policy.revision_id, action, principal, source_arn, source_account, url_auth_type)
        allowed = self._decisions.get(memo)
        if allowed is None:
            ctx = rules.context(source_arn, source_account, url_auth_type)
            allowed = rules.allows(policy.statements, self.resource(function, key), action, principal, ctx)
            if len(self._decisions) >= DECISIONS_MAX:
                self._decisions.clear()
            self._decisions[memo] = allowed
        return allowed

    def attached(self, function: str, qualifier: str | None) -> Policy | None:
        """The policy attached to exactly (function, qualifier), if any: what authorization combines with the
        caller's identity policies (its `revision_id` changes with every change)."""
        key = _key(qualifier)
        policy = self._policies.get((function, key))
        return policy if policy is not None and self._exists(function, key) else None

    def _exists(self, function: str, qualifier: str) -> bool:
        """Whether what a policy is attached to still exists (deleting an alias sends no registry event)."""
        try:
            rec = self.registry.get(function)
        except ResourceNotFound:
            return False
        if qualifier == UNQUALIFIED:
            return True
        if qualifier.isdigit():
            return int(qualifier) in rec.versions
        return qualifier in rec.aliases

    # ---- reads ----
    def _target(self, function: str, qualifier: str | None) -> str:
        """The key a policy is kept under; ResourceNotFound (as Lambda words it) when the qualifier names nothing."""
        self.registry.resolve(function, qualifier)
        return _key(qualifier)

    def resource(self, function: str, qualifier: str) -> str:
        """The ARN a statement's Resource names: the function's, qualified when the policy is a version's or an
        alias's."""
        arn = self.registry.function_arn(function)
        return f"{arn}:{qualifier}" if qualifier else arn

    def get(self, function: str, qualifier: str | None) -> Policy:
        """GetPolicy: the policy, or ResourceNotFound when there is none."""
        policy = self._policies.get((function, self._target(function, qualifier)))
        if policy is None:
            raise ResourceNotFound("The resource you requested does not exist.")
        return policy

    def _base_revision(self, function: str, qualifier: str) -> str:
        """The RevisionId AddPermission accepts while there is no policy yet: that of the function, version or
        alias, the revision a caller who has not read a policy holds."""
        rec = self.registry.get(function)
        if qualifier == UNQUALIFIED:
            return str(rec.config.get("RevisionId", ""))
        if qualifier.isdigit():
            return str(rec.versions[int(qualifier)].config.get("RevisionId", ""))
        return str(rec.aliases[qualifier].get("RevisionId", ""))

    # ---- writes ----
    async def add(self, function: str, qualifier: str | None, body: dict[str, Any]) -> dict[str, Any]:
        """AddPermission (body already checked against the model): the statement added."""
        if qualifier == LATEST:
            raise InvalidParameterValue("We currently do not support adding policies for $LATEST.")
        async with self._lock:
            key = self._target(function, qualifier)
            old = self._policies.get((function, key))
            wanted = body.get("RevisionId")
            current = old.revision_id if old else self._base_revision(function, key)
            if wanted is not None and wanted != current:
                raise PreconditionFailed(REVISION_MISMATCH)
            sid = body["StatementId"]
            statements = old.statements if old else ()
            if any(s.get("Sid") == sid for s in statements):
                raise ResourceConflict(
                    f"The statement id ({sid}) provided already exists. Please provide a new statement id, or "
                    "remove the existing statement."
                )
            statement = rules.build_statement(
                sid, body["Action"], body["Principal"], self.resource(function, key),
                source_arn=body.get("SourceArn"), source_account=body.get("SourceAccount"),
                event_source_token=body.get("EventSourceToken"), principal_org_id=body.get("PrincipalOrgID"),
                url_auth_type=body.get("FunctionUrlAuthType"), invoked_via_url=body.get("InvokedViaFunctionUrl"),
            )  # fmt: skip
            new_statements = (*statements, statement)
            total = rules.size(new_statements)
            if total > rules.POLICY_MAX_BYTES:
                raise PolicyLengthExceeded(
                    f"The final policy size ({total}) is bigger than the limit ({rules.POLICY_MAX_BYTES})."
                )
            policy = Policy(function, key, new_statements, str(uuid.uuid4()))
            await asyncio.to_thread(self._write, function, key, policy)
            self._policies[(function, key)] = policy
        return statement

    async def remove(self, function: str, qualifier: str | None, sid: str, revision_id: str | None) -> None:
        """RemovePermission: the last statement removed takes the policy with it (GetPolicy then answers 404)."""
        async with self._lock:
            key = self._target(function, qualifier)
            old = self._policies.get((function, key))
            if old is None:
                raise ResourceNotFound("No policy is associated with the given resource.")
            if revision_id is not None and revision_id != old.revision_id:
                raise PreconditionFailed(REVISION_MISMATCH)
            kept = tuple(s for s in old.statements if s.get("Sid") != sid)
            if len(kept) == len(old.statements):
                raise ResourceNotFound(f"Statement {sid} is not found in resource policy.")
            policy = Policy(function, key, kept, str(uuid.uuid4())) if kept else None
            await asyncio.to_thread(self._write, function, key, policy)
            if policy is None:
                del self._policies[(function, key)]
            else:
                self._policies[(function, key)] = policy

    async def function_changed(self, function: str) -> None:
        """A registry event: drop the policies of a deleted function, version or alias."""
        async with self._lock:
            stale = [q for f, q in list(self._policies) if f == function and not self._exists(function, q)]
            for q in stale:
                await asyncio.to_thread(self._write, function, q, None)
                self._policies.pop((function, q), None)
