"""IAM's rules for roles, users, their inline and attached policies, and users' access keys, over the rows of
`control/iam_store.py`, held in memory (the key ring reads them on every request) and written through before an API
answers. Managed policies are `control/managed_policies.py`'s.

Names of roles and users are unique regardless of case, as IAM's. Quotas are IAM's: a role's inline policies
together at most 10,240 characters, a user's 2,048 (white space not counted), a trust policy 2,048; at most 10
managed policies attached to a role or a user; at most 2 access keys per user. Every change bumps `version` and
tells the subscribers (the key ring), so that decisions cached per policy version are dropped.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from nimbus.clock import Clock, RealClock
from nimbus.control import policy_documents as documents
from nimbus.control.iam_records import (
    ACCESS_KEY,
    ROLE_ID,
    USER_ID,
    AccessKey,
    Role,
    User,
    entity_arn,
    new_id,
    new_secret,
)
from nimbus.control.iam_store import ROLE, USER, IamStore
from nimbus.control.managed_policies import ManagedPolicies
from nimbus.errors import DeleteConflict, EntityAlreadyExists, IamValidation, LimitExceeded, NoSuchEntity

INLINE_SIZE_MAX = {ROLE: 10240, USER: 2048}
TRUST_POLICY_SIZE_MAX = 2048
ATTACHED_MAX = 10
KEYS_PER_USER = 2
DEFAULT_MAX_SESSION_S = 3600

Owner = TypeVar("Owner", Role, User)


class Iam:
    def __init__(self, store: IamStore, account: str, clock: Clock | None = None) -> None:
        self.store = store
        self.account = account
        self.clock: Clock = clock or RealClock()
        self.roles: dict[str, Role] = {}
        self.users: dict[str, User] = {}
        self.keys: dict[str, AccessKey] = {}
        self.policies = ManagedPolicies(store, account, self.clock, self._changed)
        #: changes whenever a role, user, policy or key changes: what cached decisions are keyed by
        self.version = 1
        self._subscribers: list[Callable[[], None]] = []

    def load(self) -> None:
        loaded = self.store.load()
        self.roles = {r.name.lower(): r for r in loaded.roles.values()}
        self.users = {u.name.lower(): u for u in loaded.users.values()}
        self.keys = loaded.keys
        self.policies.load(loaded.policies)
        owners: list[Role | User] = [*self.roles.values(), *self.users.values()]
        for owner in owners:
            for arn in owner.attached:
                self.policies.attachments[arn] = self.policies.attachments.get(arn, 0) + 1
        self._changed()

    def subscribe(self, callback: Callable[[], None]) -> None:
        """`callback()` after every change (the key ring rebuilds its view of users' keys)."""
        self._subscribers.append(callback)

    def _changed(self) -> None:
        self.version += 1
        for callback in self._subscribers:
            callback()

    # ---- roles ----
    def role(self, name: str) -> Role:
        role = self.roles.get(name.lower())
        if role is None:
            raise NoSuchEntity(f"The role with name {name} cannot be found.")
        return role

    def role_by_arn(self, arn: str) -> Role | None:
        role = self.roles.get(arn.rsplit("/", 1)[-1].lower())
        return role if role is not None and role.arn == arn else None

    @staticmethod
    def _check_trust(document: str) -> None:
        documents.check_trust_policy(document)
        if documents.policy_size(document) > TRUST_POLICY_SIZE_MAX:
            raise LimitExceeded(f"Cannot exceed quota for ACLSizePerRole: {TRUST_POLICY_SIZE_MAX}")

    def create_role(
        self, name: str, trust_policy: str, path: str = "/", description: str = "",
        max_session_s: int = DEFAULT_MAX_SESSION_S, tags: dict[str, str] | None = None,
    ) -> Role:  # fmt: skip
        if name.lower() in self.roles:
            raise EntityAlreadyExists(f"Role with name {name} already exists.")
        self._check_trust(trust_policy)
        role = Role(name, new_id(ROLE_ID), path, entity_arn(self.account, ROLE, path, name), trust_policy,
                    description, max_session_s, dict(tags or {}), self.clock.time())  # fmt: skip
        self.store.put_role(role)
        self.roles[name.lower()] = role
        self._changed()
        return role

    def delete_role(self, name: str) -> None:
        role = self.role(name)
        if role.inline:
            raise DeleteConflict("Cannot delete entity, must delete policies first.")
        if role.attached:
            raise DeleteConflict("Cannot delete entity, must detach all policies first.")
        self.store.delete_role(role.name)
        del self.roles[name.lower()]
        self._changed()

    def update_trust_policy(self, name: str, trust_policy: str) -> None:
        role = self.role(name)
        self._check_trust(trust_policy)
        role.trust_policy = trust_policy
        self.store.put_role(role)
        self._changed()

    def update_role(self, name: str, description: str | None = None, max_session_s: int | None = None) -> None:
        role = self.role(name)
        if description is not None:
            role.description = description
        if max_session_s is not None:
            role.max_session_s = max_session_s
        self.store.put_role(role)
        self._changed()

    def tag_role(self, name: str, tags: dict[str, str]) -> None:
        role = self.role(name)
        merged = role.tags | tags
        if len(merged) > 50:
            raise LimitExceeded("The number of tags has reached the maximum limit.")
        role.tags = merged
        self.store.put_role(role)
        self._changed()

    def untag_role(self, name: str, keys: list[str]) -> None:
        role = self.role(name)
        role.tags = {k: v for k, v in role.tags.items() if k not in keys}
        self.store.put_role(role)
        self._changed()

    # ---- users ----
    def user(self, name: str) -> User:
        user = self.users.get(name.lower())
        if user is None:
            raise NoSuchEntity(f"The user with name {name} cannot be found.")
        return user

    def create_user(self, name: str, path: str = "/", tags: dict[str, str] | None = None) -> User:
        if name.lower() in self.users:
            raise EntityAlreadyExists(f"User with name {name} already exists.")
        user = User(name, new_id(USER_ID), path, entity_arn(self.account, USER, path, name), dict(tags or {}),
                    self.clock.time())  # fmt: skip
        self.store.put_user(user)
        self.users[name.lower()] = user
        self._changed()
        return user

    def delete_user(self, name: str) -> None:
        user = self.user(name)
        if user.keys:
            raise DeleteConflict("Cannot delete entity, must delete access keys first.")
        if user.inline:
            raise DeleteConflict("Cannot delete entity, must delete policies first.")
        if user.attached:
            raise DeleteConflict("Cannot delete entity, must detach all policies first.")
        self.store.delete_user(user.name)
        del self.users[name.lower()]
        self._changed()

    # ---- inline policies (of a role: kind ROLE, of a user: kind USER) ----
    def owner(self, kind: str, name: str) -> Role | User:
        return self.role(name) if kind == ROLE else self.user(name)

    def put_inline(self, kind: str, name: str, policy_name: str, document: str) -> None:
        owner = self.owner(kind, name)
        documents.check_identity_policy(document)
        others = sum(documents.policy_size(d) for n, d in owner.inline.items() if n != policy_name)
        limit = INLINE_SIZE_MAX[kind]
        if others + documents.policy_size(document) > limit:
            raise LimitExceeded(f"Maximum policy size of {limit} bytes exceeded for {kind} {owner.name}")
        self.store.put_inline(kind, owner.name, policy_name, document)
        owner.inline[policy_name] = document
        self._changed()

    def inline(self, kind: str, name: str, policy_name: str) -> str:
        owner = self.owner(kind, name)
        document = owner.inline.get(policy_name)
        if document is None:
            raise NoSuchEntity(f"The {kind} policy with name {policy_name} cannot be found.")
        return document

    def delete_inline(self, kind: str, name: str, policy_name: str) -> None:
        owner = self.owner(kind, name)
        self.inline(kind, name, policy_name)
        self.store.delete_inline(kind, owner.name, policy_name)
        del owner.inline[policy_name]
        self._changed()

    # ---- attached managed policies ----
    def attach(self, kind: str, name: str, policy_arn: str) -> None:
        owner = self.owner(kind, name)
        self.policies.attachable(policy_arn)
        if policy_arn in owner.attached:
            return  # attaching twice is a no-op on IAM
        if len(owner.attached) >= ATTACHED_MAX:
            quota = "PoliciesPerRole" if kind == ROLE else "PoliciesPerUser"
            raise LimitExceeded(f"Cannot exceed quota for {quota}: {ATTACHED_MAX}")
        self.store.attach(kind, owner.name, policy_arn)
        owner.attached.append(policy_arn)
        self.policies.attachments[policy_arn] = self.policies.attachments.get(policy_arn, 0) + 1
        self._changed()

    def detach(self, kind: str, name: str, policy_arn: str) -> None:
        owner = self.owner(kind, name)
        if policy_arn not in owner.attached:
            raise NoSuchEntity(f"Policy {policy_arn} was not found.")
        self.store.detach(kind, owner.name, policy_arn)
        owner.attached.remove(policy_arn)
        self.policies.attachments[policy_arn] -= 1
        self._changed()

    def policy_documents(self, owner: Role | User) -> list[str]:
        """The documents in force for a role or user: its inline policies, then its attached policies' defaults."""
        attached = [self.policies.by_arn[a].document for a in owner.attached if a in self.policies.by_arn]
        return [*owner.inline.values(), *attached]

    # ---- access keys ----
    def create_key(self, user_name: str) -> AccessKey:
        user = self.user(user_name)
        if len(user.keys) >= KEYS_PER_USER:
            raise LimitExceeded(f"Cannot exceed quota for AccessKeysPerUser: {KEYS_PER_USER}")
        key = AccessKey(new_id(ACCESS_KEY, 20), user.name, new_secret(), "Active", self.clock.time())
        self.store.put_key(key)
        self.keys[key.access_key_id] = key
        user.keys.append(key.access_key_id)
        self._changed()
        return key

    def key(self, access_key_id: str, user_name: str | None = None) -> AccessKey:
        key = self.keys.get(access_key_id)
        if key is None or (user_name is not None and key.user_name.lower() != user_name.lower()):
            raise NoSuchEntity(f"The Access Key with id {access_key_id} cannot be found.")
        return key

    def user_keys(self, user_name: str) -> list[AccessKey]:
        return [self.keys[k] for k in self.user(user_name).keys]

    def set_key_status(self, access_key_id: str, status: str, user_name: str | None = None) -> None:
        key = self.key(access_key_id, user_name)
        if status not in ("Active", "Inactive"):
            raise IamValidation(f"Status {status} is not Active or Inactive: a key is made Active or Inactive.")
        self.store.set_key_status(access_key_id, status)
        key.status = status
        self._changed()

    def delete_key(self, access_key_id: str, user_name: str | None = None) -> None:
        key = self.key(access_key_id, user_name)
        self.store.delete_key(access_key_id)
        del self.keys[access_key_id]
        self.user(key.user_name).keys.remove(access_key_id)
        self._changed()
