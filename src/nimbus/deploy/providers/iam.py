"""AWS::IAM::Role, Policy and ManagedPolicy through IAM's service (control/iam: CreateRole, PutRolePolicy,
AttachRolePolicy, CreatePolicy, ...), so a stack's roles are the ones the authorizer and AssumeRole read.

A role's inline `Policies` and `ManagedPolicyArns` are kept in step on update. AWS's managed policies Nimbus does not
carry (SAM attaches AWSCodeDeployRoleForLambda, AWSXRayDaemonWriteAccess, ...) are left off the role, as they
would grant nothing here; the account's own must exist. RoleName and Path need a replacement. Ref: a role's name
(GetAtt Arn, RoleId), an inline policy's generated id, a managed policy's ARN (GetAtt PolicyArn).
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import Any

from nimbus.control.iam import Iam
from nimbus.control.iam_store import ROLE, USER
from nimbus.deploy.provider import Made, StackContext
from nimbus.deploy.providers.common import document, name_of, stack_tags
from nimbus.errors import InvalidParameterValue, NoSuchEntity

ROLE_TYPE, POLICY, MANAGED = "AWS::IAM::Role", "AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"
_AWS_MANAGED = "arn:aws:iam::aws:policy/"


def iam_of(ctx: StackContext) -> Iam:
    if ctx.services.iam is None:
        raise InvalidParameterValue("This server has no IAM service.")
    return ctx.services.iam


def _inline(props: Mapping[str, Any]) -> dict[str, str]:
    policies = props.get("Policies") or []
    if not isinstance(policies, list) or not all(isinstance(p, Mapping) and "PolicyName" in p for p in policies):
        raise InvalidParameterValue("Policies must be a list of {PolicyName, PolicyDocument}.")
    return {str(p["PolicyName"]): document(p.get("PolicyDocument", {})) for p in policies}


def _attached(iam: Iam, props: Mapping[str, Any]) -> list[str]:
    arns = [str(a) for a in props.get("ManagedPolicyArns") or []]
    return [a for a in arns if not a.startswith(_AWS_MANAGED) or a in iam.policies.by_arn]


def _owners(props: Mapping[str, Any]) -> list[tuple[str, str]]:
    if props.get("Groups"):
        raise InvalidParameterValue("Groups: Nimbus has no IAM groups.")
    return [(ROLE, str(r)) for r in props.get("Roles") or []] + [(USER, str(u)) for u in props.get("Users") or []]


class IamProvider:
    types: tuple[str, ...] = (ROLE_TYPE, POLICY, MANAGED)

    def replaces(self, type_: str, old: Mapping[str, Any], new: Mapping[str, Any]) -> bool:
        keys = {ROLE_TYPE: ("RoleName", "Path"), MANAGED: ("ManagedPolicyName", "Path")}.get(type_, ())
        return any(old.get(k) != new.get(k) for k in keys)

    async def create(self, ctx: StackContext, type_: str, logical_id: str, props: Mapping[str, Any]) -> Made:
        iam = iam_of(ctx)
        if type_ == POLICY:
            ident = ctx.name(logical_id, 128)
            self._sync_policy(iam, {}, props)
            return Made(ident, ident)
        if type_ == MANAGED:
            name = name_of(ctx, logical_id, props, "ManagedPolicyName", 128)
            policy = iam.policies.create(name, document(props.get("PolicyDocument", {})), str(props.get("Path", "/")),
                                         str(props.get("Description", "")))  # fmt: skip
            for kind, owner in _owners(props):
                iam.attach(kind, owner, policy.arn)
            return Made(policy.arn, policy.arn, {"PolicyArn": policy.arn})
        name = name_of(ctx, logical_id, props, "RoleName", 64)
        role = iam.create_role(
            name, document(props.get("AssumeRolePolicyDocument", {})), str(props.get("Path", "/")),
            str(props.get("Description", "")), int(props.get("MaxSessionDuration", 3600)),
            tags=stack_tags(ctx, logical_id, props),
        )  # fmt: skip
        try:
            self._sync_role(iam, name, {}, props)
        except BaseException:
            self._delete_role(iam, name)  # not half made
            raise
        return Made(name, name, {"Arn": role.arn, "RoleId": role.role_id})

    def _sync_role(self, iam: Iam, name: str, old: Mapping[str, Any], new: Mapping[str, Any]) -> None:
        before, after = _inline(old), _inline(new)
        for policy in before.keys() - after.keys():
            iam.delete_inline(ROLE, name, policy)
        for policy, text in after.items():
            if before.get(policy) != text:
                iam.put_inline(ROLE, name, policy, text)
        attached = iam.role(name).attached
        wanted = _attached(iam, new)
        for arn in [a for a in attached if a not in wanted]:
            iam.detach(ROLE, name, arn)
        for arn in wanted:
            iam.attach(ROLE, name, arn)

    def _sync_policy(self, iam: Iam, old: Mapping[str, Any], new: Mapping[str, Any]) -> None:
        name = str(new.get("PolicyName", ""))
        for kind, owner in set(_owners(old)) - set(_owners(new)):
            self._drop_inline(iam, kind, owner, str(old.get("PolicyName")))
        for kind, owner in _owners(new):
            iam.put_inline(kind, owner, name, document(new.get("PolicyDocument", {})))

    @staticmethod
    def _drop_inline(iam: Iam, kind: str, owner: str, policy: str) -> None:
        with contextlib.suppress(NoSuchEntity):  # gone with its owner, or never put
            iam.delete_inline(kind, owner, policy)

    @staticmethod
    def _drop_old_versions(iam: Iam, arn: str) -> None:
        """A managed policy's versions but its default (IAM keeps five; DeletePolicy wants only the default)."""
        policy = iam.policies.require(arn)
        for version in [v for v in policy.versions if v != policy.default_version]:
            iam.policies.delete_version(arn, version)

    def _delete_role(self, iam: Iam, name: str) -> None:
        try:
            role = iam.role(name)
        except NoSuchEntity:
            return
        for policy in list(role.inline):
            iam.delete_inline(ROLE, name, policy)
        for arn in list(role.attached):
            iam.detach(ROLE, name, arn)
        iam.delete_role(name)

    async def update(self, ctx: StackContext, type_: str, logical_id: str, physical_id: str,
                     old: Mapping[str, Any], new: Mapping[str, Any]) -> Made:  # fmt: skip
        iam = iam_of(ctx)
        if type_ == POLICY:
            if old.get("PolicyName") != new.get("PolicyName"):
                for kind, owner in _owners(old):
                    self._drop_inline(iam, kind, owner, str(old.get("PolicyName")))
            self._sync_policy(iam, old, new)
            return Made(physical_id, physical_id)
        if type_ == MANAGED:
            text = document(new.get("PolicyDocument", {}))
            if text != document(old.get("PolicyDocument", {})):
                self._drop_old_versions(iam, physical_id)
                iam.policies.create_version(physical_id, text, set_default=True)
            for kind, owner in set(_owners(old)) - set(_owners(new)):
                iam.detach(kind, owner, physical_id)
            for kind, owner in _owners(new):
                iam.attach(kind, owner, physical_id)
            return Made(physical_id, physical_id, {"PolicyArn": physical_id})
        trust = document(new.get("AssumeRolePolicyDocument", {}))
        if trust != document(old.get("AssumeRolePolicyDocument", {})):
            iam.update_trust_policy(physical_id, trust)
        iam.update_role(physical_id, str(new.get("Description", "")), int(new.get("MaxSessionDuration", 3600)))
        self._sync_role(iam, physical_id, old, new)
        role = iam.role(physical_id)
        return Made(physical_id, physical_id, {"Arn": role.arn, "RoleId": role.role_id})

    async def delete(self, ctx: StackContext, type_: str, logical_id: str, physical_id: str,
                     props: Mapping[str, Any]) -> None:  # fmt: skip
        iam = iam_of(ctx)
        if type_ == POLICY:
            for kind, owner in _owners(props):
                self._drop_inline(iam, kind, owner, str(props.get("PolicyName")))
        elif type_ == MANAGED:
            if not physical_id.startswith("arn:"):  # the engine's guess of a generated name, after a crash
                name = props.get("ManagedPolicyName") or physical_id
                physical_id = f"arn:aws:iam::{ctx.account}:policy{props.get('Path', '/')}{name}"
            with contextlib.suppress(NoSuchEntity):
                for kind, owner in _owners(props):
                    if physical_id in iam.owner(kind, owner).attached:
                        iam.detach(kind, owner, physical_id)
                self._drop_old_versions(iam, physical_id)
                iam.policies.delete(physical_id)
        else:
            self._delete_role(iam, str(props.get("RoleName") or physical_id))
