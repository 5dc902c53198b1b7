"""IAM's rows: roles, users, inline policies, customer managed policies and their versions, attachments and access
keys (`store/schema.py`, identities section), read whole at start and written through before an API answers.
Access-key secrets are sealed by `control/secret_box.py` on their way in and opened on their way out: the database
never holds one in plaintext.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Engine, Table, delete, insert, select, update

from nimbus.control.iam_records import AccessKey, ManagedPolicy, PolicyVersion, Role, User, entity_arn
from nimbus.control.secret_box import SecretBox
from nimbus.store.schema import (
    iam_access_keys,
    iam_attachments,
    iam_inline_policies,
    iam_policies,
    iam_policy_versions,
    iam_roles,
    iam_users,
)

log = logging.getLogger("nimbus.iam")

ROLE = "role"
USER = "user"


@dataclass
class Loaded:
    roles: dict[str, Role] = field(default_factory=dict)
    users: dict[str, User] = field(default_factory=dict)
    policies: dict[str, ManagedPolicy] = field(default_factory=dict)
    keys: dict[str, AccessKey] = field(default_factory=dict)


def _upsert(conn: Connection, table: Table, keys: dict[str, Any], values: dict[str, Any]) -> None:
    """Update the row with these key values, or insert it."""
    where = [table.c[k] == v for k, v in keys.items()]
    if conn.execute(update(table).where(*where).values(**values)).rowcount == 0:
        conn.execute(insert(table).values(**keys, **values))


class IamStore:
    def __init__(self, engine: Engine, box: SecretBox, account: str) -> None:
        self.engine = engine
        self.box = box
        self.account = account

    def load(self) -> Loaded:
        out = Loaded()
        with self.engine.connect() as conn:
            for r in conn.execute(select(iam_roles)):
                arn = entity_arn(self.account, ROLE, r.path, r.name)
                out.roles[r.name] = Role(r.name, r.role_id, r.path, arn, r.trust_policy, r.description,
                                         r.max_session_s, json.loads(r.tags), r.created)  # fmt: skip
            for u in conn.execute(select(iam_users)):
                arn = entity_arn(self.account, USER, u.path, u.name)
                out.users[u.name] = User(u.name, u.user_id, u.path, arn, json.loads(u.tags), u.created)
            for p in conn.execute(select(iam_policies)):
                out.policies[p.arn] = ManagedPolicy(p.arn, p.name, p.policy_id, p.path, p.description,
                                                    json.loads(p.tags), p.created, "", p.next_version)  # fmt: skip
            for v in conn.execute(select(iam_policy_versions)):
                policy = out.policies.get(v.policy_arn)
                if policy is not None:
                    policy.versions[v.version_id] = PolicyVersion(v.version_id, v.document, v.created)
                    if v.is_default:
                        policy.default_version = v.version_id
            owners: dict[str, dict[str, Role | User]] = {ROLE: dict(out.roles), USER: dict(out.users)}
            for i in conn.execute(select(iam_inline_policies)):
                owner = owners[i.kind].get(i.owner)
                if owner is not None:
                    owner.inline[i.name] = i.document
            for a in conn.execute(select(iam_attachments)):
                owner = owners[a.kind].get(a.owner)
                if owner is not None:
                    owner.attached.append(a.policy_arn)
            for k in conn.execute(select(iam_access_keys).order_by(iam_access_keys.c.created)):
                secret = self.box.open(k.access_key_id, k.secret)
                user = out.users.get(k.user_name)
                if secret is None or user is None:
                    log.warning("access key %s cannot be opened with this data dir's identity.key: refused",
                                k.access_key_id)  # fmt: skip
                    continue
                out.keys[k.access_key_id] = AccessKey(k.access_key_id, k.user_name, secret, k.status, k.created)
                user.keys.append(k.access_key_id)
        return out

    # ---- roles and users ----
    def put_role(self, role: Role) -> None:
        values = {"role_id": role.role_id, "path": role.path, "trust_policy": role.trust_policy,
                  "description": role.description, "max_session_s": role.max_session_s,
                  "tags": json.dumps(role.tags), "created": role.created}  # fmt: skip
        with self.engine.begin() as conn:
            _upsert(conn, iam_roles, {"name": role.name}, values)

    def delete_role(self, name: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(delete(iam_roles).where(iam_roles.c.name == name))
            self._drop_owned(conn, ROLE, name)

    def put_user(self, user: User) -> None:
        values = {"user_id": user.user_id, "path": user.path, "tags": json.dumps(user.tags), "created": user.created}
        with self.engine.begin() as conn:
            _upsert(conn, iam_users, {"name": user.name}, values)

    def delete_user(self, name: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(delete(iam_users).where(iam_users.c.name == name))
            self._drop_owned(conn, USER, name)

    @staticmethod
    def _drop_owned(conn: Connection, kind: str, name: str) -> None:
        conn.execute(delete(iam_inline_policies).where(iam_inline_policies.c.kind == kind,
                                                       iam_inline_policies.c.owner == name))  # fmt: skip
        conn.execute(delete(iam_attachments).where(iam_attachments.c.kind == kind, iam_attachments.c.owner == name))

    # ---- inline policies and attachments ----
    def put_inline(self, kind: str, owner: str, name: str, document: str) -> None:
        with self.engine.begin() as conn:
            _upsert(conn, iam_inline_policies, {"kind": kind, "owner": owner, "name": name}, {"document": document})

    def delete_inline(self, kind: str, owner: str, name: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(delete(iam_inline_policies).where(
                iam_inline_policies.c.kind == kind, iam_inline_policies.c.owner == owner,
                iam_inline_policies.c.name == name,
            ))  # fmt: skip

    def attach(self, kind: str, owner: str, policy_arn: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(insert(iam_attachments).values(kind=kind, owner=owner, policy_arn=policy_arn))

    def detach(self, kind: str, owner: str, policy_arn: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(delete(iam_attachments).where(iam_attachments.c.kind == kind, iam_attachments.c.owner == owner,
                                                       iam_attachments.c.policy_arn == policy_arn))  # fmt: skip

    # ---- managed policies ----
    def put_policy(self, policy: ManagedPolicy) -> None:
        """The policy's row and every version's (a new policy, a version added, removed or made the default)."""
        values = {"name": policy.name, "policy_id": policy.policy_id, "path": policy.path,
                  "description": policy.description, "tags": json.dumps(policy.tags), "created": policy.created,
                  "next_version": policy.next_version}  # fmt: skip
        with self.engine.begin() as conn:
            _upsert(conn, iam_policies, {"arn": policy.arn}, values)
            conn.execute(delete(iam_policy_versions).where(iam_policy_versions.c.policy_arn == policy.arn))
            for v in policy.versions.values():
                conn.execute(insert(iam_policy_versions).values(
                    policy_arn=policy.arn, version_id=v.version_id, document=v.document,
                    is_default=int(v.version_id == policy.default_version), created=v.created,
                ))  # fmt: skip

    def delete_policy(self, arn: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(delete(iam_policy_versions).where(iam_policy_versions.c.policy_arn == arn))
            conn.execute(delete(iam_policies).where(iam_policies.c.arn == arn))

    # ---- access keys ----
    def put_key(self, key: AccessKey) -> None:
        with self.engine.begin() as conn:
            conn.execute(insert(iam_access_keys).values(
                access_key_id=key.access_key_id, user_name=key.user_name,
                secret=self.box.seal(key.access_key_id, key.secret), status=key.status, created=key.created,
            ))  # fmt: skip

    def set_key_status(self, access_key_id: str, status: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(update(iam_access_keys).where(iam_access_keys.c.access_key_id == access_key_id)
                         .values(status=status))  # fmt: skip

    def delete_key(self, access_key_id: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(delete(iam_access_keys).where(iam_access_keys.c.access_key_id == access_key_id))
