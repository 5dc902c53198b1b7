"""Managed policies: AWS's (built in, `control/aws_policies.py`) and the account's own (CreatePolicy), with their
versions (at most 5; one is the default, the one in force). IAM's rules: a policy's name is unique in the account
whatever its path or case, its document is an identity policy of at most 6,144 characters (white space not counted),
the default version cannot be deleted, and a policy cannot be deleted while attached or while it has versions other
than the default.
"""

from __future__ import annotations

from collections.abc import Callable

from nimbus.clock import Clock
from nimbus.control import policy_documents as documents
from nimbus.control.aws_policies import aws_managed_policies
from nimbus.control.iam_records import POLICY_ID, ManagedPolicy, PolicyVersion, entity_arn, new_id
from nimbus.control.iam_store import IamStore
from nimbus.errors import DeleteConflict, EntityAlreadyExists, IamInvalidInput, LimitExceeded, NoSuchEntity

#: IAM's quotas for managed policies
POLICY_SIZE_MAX = 6144
VERSIONS_MAX = 5


class ManagedPolicies:
    def __init__(self, store: IamStore, account: str, clock: Clock, changed: Callable[[], None]) -> None:
        self.store = store
        self.account = account
        self.clock = clock
        self._changed = changed
        self.by_arn: dict[str, ManagedPolicy] = aws_managed_policies()
        #: how many roles and users each policy is attached to (AttachmentCount; DeletePolicy's conflict)
        self.attachments: dict[str, int] = {}

    def load(self, policies: dict[str, ManagedPolicy]) -> None:
        self.by_arn.update(policies)

    def require(self, arn: str) -> ManagedPolicy:
        policy = self.by_arn.get(arn)
        if policy is None:
            raise NoSuchEntity(f"Policy {arn} was not found.")
        return policy

    def attachable(self, arn: str) -> ManagedPolicy:
        policy = self.by_arn.get(arn)
        if policy is None:
            raise NoSuchEntity(f"Policy {arn} does not exist or is not attachable.")
        return policy

    def _check(self, document: str) -> None:
        documents.check_identity_policy(document)
        if documents.policy_size(document) > POLICY_SIZE_MAX:
            raise LimitExceeded(f"Cannot exceed quota for PolicySize: {POLICY_SIZE_MAX}")

    # ---- policies ----
    def create(self, name: str, document: str, path: str = "/", description: str = "",
               tags: dict[str, str] | None = None) -> ManagedPolicy:  # fmt: skip
        lowered = name.lower()
        if any(p.name.lower() == lowered for p in self.by_arn.values() if not p.aws):
            raise EntityAlreadyExists(f"A policy called {name} already exists. Duplicate names are not allowed.")
        self._check(document)
        now = self.clock.time()
        arn = entity_arn(self.account, "policy", path, name)
        policy = ManagedPolicy(arn, name, new_id(POLICY_ID), path, description, dict(tags or {}), now, "v1", 2,
                               {"v1": PolicyVersion("v1", document, now)})  # fmt: skip
        self.store.put_policy(policy)
        self.by_arn[arn] = policy
        self._changed()
        return policy

    def delete(self, arn: str) -> None:
        policy = self.require(arn)
        if policy.aws:
            raise IamInvalidInput(f"Cannot delete AWS managed policy {arn}.")
        if self.attachments.get(arn, 0):
            raise DeleteConflict("Cannot delete a policy attached to entities.")
        if len(policy.versions) > 1:
            raise DeleteConflict("This policy has more than one version. Before you delete a policy, you must delete "
                                 "the policy's versions. The default version is deleted with the policy.")  # fmt: skip
        self.store.delete_policy(arn)
        del self.by_arn[arn]
        self._changed()

    def listed(self, scope: str = "All", only_attached: bool = False, path_prefix: str = "/") -> list[ManagedPolicy]:
        """ListPolicies' selection, AWS's first as IAM lists them, each set by name."""
        found = [p for p in self.by_arn.values()
                 if (scope == "All" or (scope == "AWS") == p.aws) and p.path.startswith(path_prefix)
                 and (not only_attached or self.attachments.get(p.arn, 0))]  # fmt: skip
        return sorted(found, key=lambda p: (not p.aws, p.name.lower()))

    # ---- versions ----
    def _custom(self, arn: str) -> ManagedPolicy:
        policy = self.require(arn)
        if policy.aws:
            raise IamInvalidInput(f"Cannot modify AWS managed policy {arn}.")
        return policy

    def version(self, arn: str, version_id: str) -> PolicyVersion:
        found = self.require(arn).versions.get(version_id)
        if found is None:
            raise NoSuchEntity(f"Policy {arn} version {version_id} does not exist or is not attachable.")
        return found

    def create_version(self, arn: str, document: str, set_default: bool = False) -> PolicyVersion:
        policy = self._custom(arn)
        if len(policy.versions) >= VERSIONS_MAX:
            raise LimitExceeded(f"A managed policy can have up to {VERSIONS_MAX} versions. Before you create a new "
                                "version, you must delete an existing version.")  # fmt: skip
        self._check(document)
        version = PolicyVersion(f"v{policy.next_version}", document, self.clock.time())
        policy.versions[version.version_id] = version
        policy.next_version += 1
        if set_default:
            policy.default_version = version.version_id
        self.store.put_policy(policy)
        self._changed()
        return version

    def delete_version(self, arn: str, version_id: str) -> None:
        policy = self._custom(arn)
        self.version(arn, version_id)
        if version_id == policy.default_version:
            raise DeleteConflict("Cannot delete the default version of a policy.")
        del policy.versions[version_id]
        self.store.put_policy(policy)
        self._changed()

    def set_default(self, arn: str, version_id: str) -> None:
        policy = self._custom(arn)
        self.version(arn, version_id)
        policy.default_version = version_id
        self.store.put_policy(policy)
        self._changed()
