"""The IAM API (query protocol, SigV4 scope `iam`, XML answers as IAM's), operations mapped to `control/iam.py` and
`control/managed_policies.py`. Parsing, validation (names, paths, lengths, patterns: IAM's `ValidationError`) and
serialization come from botocore's model; errors are shaped by `api/errors.iam_xml`.

IAM is global: a client signs it for the region it is configured with, or us-east-1 (`GLOBAL_REGION`), and both are
accepted. Policy documents are answered URL-encoded, as IAM answers them (the SDKs decode them). Permissions
boundaries are refused rather than ignored: a boundary Nimbus did not enforce would grant more than its author meant.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, TypeVar
from urllib.parse import quote

from nimbus.api.http import Request, Response
from nimbus.api.query_ops import Operation, answer, iam_protocol
from nimbus.control.iam import Iam
from nimbus.control.iam_records import AccessKey, ManagedPolicy, PolicyVersion, Role, User
from nimbus.control.iam_store import ROLE, USER
from nimbus.control.identity import Principal
from nimbus.errors import IamValidation

SERVICE = "iam"
GLOBAL_REGION = "us-east-1"
#: a policy document is at most 131,072 characters, URL-encoded in a form it can triple
BODY_MAX = 1 << 20
MAX_ITEMS = 100

T = TypeVar("T")


def when(epoch: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(epoch, dt.UTC)


def _document(text: str) -> str:
    """A policy document as IAM answers it: URL-encoded (botocore decodes it back into a dict)."""
    return quote(text, safe="")


def _tags(tags: dict[str, str]) -> list[dict[str, str]]:
    return [{"Key": k, "Value": v} for k, v in tags.items()]


def _tag_dict(b: dict[str, Any]) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in b.get("Tags") or []}


def _page(items: list[T], b: dict[str, Any], key: str) -> dict[str, Any]:
    """One page of a list (`Marker` is where the page starts; opaque to callers) with IsTruncated and Marker."""
    marker = str(b.get("Marker") or "0")
    if not marker.isdigit():
        raise IamValidation(f"Invalid Marker: {marker} is not a marker of this list.")
    start = int(marker)
    size = b.get("MaxItems") or MAX_ITEMS
    page = items[start : start + size]
    more = start + size < len(items)
    return {key: page, "IsTruncated": more, "Marker": str(start + size) if more else None}


def _no_boundary(b: dict[str, Any]) -> None:
    if b.get("PermissionsBoundary"):
        raise IamValidation("Nimbus does not enforce permissions boundaries: create the role or user without one.")


def role_view(role: Role, *, full: bool = True) -> dict[str, Any]:
    out: dict[str, Any] = {
        "Path": role.path, "RoleName": role.name, "RoleId": role.role_id, "Arn": role.arn,
        "CreateDate": when(role.created), "AssumeRolePolicyDocument": _document(role.trust_policy),
        "Description": role.description or None, "MaxSessionDuration": role.max_session_s,
    }  # fmt: skip
    if full:
        out["Tags"] = _tags(role.tags) or None
        out["RoleLastUsed"] = {}
    return out


def user_view(user: User) -> dict[str, Any]:
    return {"Path": user.path, "UserName": user.name, "UserId": user.user_id, "Arn": user.arn,
            "CreateDate": when(user.created), "Tags": _tags(user.tags) or None}  # fmt: skip


def key_view(key: AccessKey, *, secret: bool = False) -> dict[str, Any]:
    out = {"UserName": key.user_name, "AccessKeyId": key.access_key_id, "Status": key.status,
           "CreateDate": when(key.created)}  # fmt: skip
    if secret:  # CreateAccessKey's answer only: never readable again
        out["SecretAccessKey"] = key.secret
    return out


def version_view(policy: ManagedPolicy, version: PolicyVersion, *, document: bool = True) -> dict[str, Any]:
    return {"Document": _document(version.document) if document else None, "VersionId": version.version_id,
            "IsDefaultVersion": version.version_id == policy.default_version,
            "CreateDate": when(version.created)}  # fmt: skip


class IamApi:
    def __init__(self, iam: Iam) -> None:
        self.iam = iam
        self.protocol = iam_protocol(SERVICE)
        i, p = iam, iam.policies
        self._ops: dict[str, Operation] = {
            # roles
            "CreateRole": self.create_role,
            "GetRole": lambda b, r: self._out({"Role": role_view(i.role(b["RoleName"]))}),
            "ListRoles": self.list_roles,
            "DeleteRole": lambda b, r: self._none(i.delete_role, b["RoleName"]),
            "UpdateAssumeRolePolicy": lambda b, r: self._none(i.update_trust_policy, b["RoleName"],
                                                              b["PolicyDocument"]),
            "UpdateRole": lambda b, r: self._none(i.update_role, b["RoleName"], b.get("Description"),
                                                  b.get("MaxSessionDuration")),
            "TagRole": lambda b, r: self._none(i.tag_role, b["RoleName"], _tag_dict(b)),
            "UntagRole": lambda b, r: self._none(i.untag_role, b["RoleName"], b["TagKeys"]),
            "ListRoleTags": lambda b, r: self._out(_page(_tags(i.role(b["RoleName"]).tags), b, "Tags")),
            # users and their keys
            "CreateUser": self.create_user,
            "GetUser": self.get_user,
            "ListUsers": self.list_users,
            "DeleteUser": lambda b, r: self._none(i.delete_user, b["UserName"]),
            "CreateAccessKey": self.create_access_key,
            "ListAccessKeys": self.list_access_keys,
            "UpdateAccessKey": lambda b, r: self._none(i.set_key_status, b["AccessKeyId"], b["Status"],
                                                       b.get("UserName")),
            "DeleteAccessKey": lambda b, r: self._none(i.delete_key, b["AccessKeyId"], b.get("UserName")),
            "GetAccessKeyLastUsed": self.get_access_key_last_used,
            # managed policies and their versions
            "CreatePolicy": self.create_policy,
            "GetPolicy": lambda b, r: self._out({"Policy": self._policy(p.require(b["PolicyArn"]))}),
            "DeletePolicy": lambda b, r: self._none(p.delete, b["PolicyArn"]),
            "ListPolicies": self.list_policies,
            "CreatePolicyVersion": self.create_policy_version,
            "GetPolicyVersion": self.get_policy_version,
            "DeletePolicyVersion": lambda b, r: self._none(p.delete_version, b["PolicyArn"], b["VersionId"]),
            "ListPolicyVersions": self.list_policy_versions,
            "SetDefaultPolicyVersion": lambda b, r: self._none(p.set_default, b["PolicyArn"], b["VersionId"]),
        }  # fmt: skip
        for kind, owner, member in ((ROLE, "Role", "RoleName"), (USER, "User", "UserName")):
            self._ops |= self._owned_policy_ops(kind, owner, member)

    async def handle(self, req: Request) -> Response:
        return await answer(self.protocol, self._ops, req)

    @staticmethod
    async def _out(value: dict[str, Any]) -> dict[str, Any]:
        return value

    @staticmethod
    async def _none(call: Any, *args: Any) -> None:
        call(*args)

    # ---- inline and attached policies, the same for roles and users ----
    def _owned_policy_ops(self, kind: str, owner: str, member: str) -> dict[str, Operation]:
        i = self.iam

        async def get_inline(b: dict[str, Any], r: Request) -> dict[str, Any]:
            document = i.inline(kind, b[member], b["PolicyName"])
            return {member: i.owner(kind, b[member]).name, "PolicyName": b["PolicyName"],
                    "PolicyDocument": _document(document)}  # fmt: skip

        async def list_attached(b: dict[str, Any], r: Request) -> dict[str, Any]:
            arns = i.owner(kind, b[member]).attached
            found = [i.policies.by_arn[a] for a in arns if a in i.policies.by_arn]
            prefix = b.get("PathPrefix") or "/"
            listed = [{"PolicyName": x.name, "PolicyArn": x.arn} for x in found if x.path.startswith(prefix)]
            return _page(listed, b, "AttachedPolicies")

        return {
            f"Put{owner}Policy": lambda b, r: self._none(i.put_inline, kind, b[member], b["PolicyName"],
                                                         b["PolicyDocument"]),
            f"Get{owner}Policy": get_inline,
            f"Delete{owner}Policy": lambda b, r: self._none(i.delete_inline, kind, b[member], b["PolicyName"]),
            f"List{owner}Policies": lambda b, r: self._out(_page(sorted(i.owner(kind, b[member]).inline), b,
                                                                 "PolicyNames")),
            f"Attach{owner}Policy": lambda b, r: self._none(i.attach, kind, b[member], b["PolicyArn"]),
            f"Detach{owner}Policy": lambda b, r: self._none(i.detach, kind, b[member], b["PolicyArn"]),
            f"ListAttached{owner}Policies": list_attached,
        }  # fmt: skip

    # ---- roles ----
    async def create_role(self, b: dict[str, Any], r: Request) -> dict[str, Any]:
        _no_boundary(b)
        role = self.iam.create_role(
            b["RoleName"], b["AssumeRolePolicyDocument"], b.get("Path") or "/", b.get("Description") or "",
            b.get("MaxSessionDuration") or 3600, _tag_dict(b),
        )  # fmt: skip
        return {"Role": role_view(role)}

    async def list_roles(self, b: dict[str, Any], r: Request) -> dict[str, Any]:
        prefix = b.get("PathPrefix") or "/"
        roles = sorted((x for x in self.iam.roles.values() if x.path.startswith(prefix)), key=lambda x: x.name.lower())
        return _page([role_view(x, full=False) for x in roles], b, "Roles")

    # ---- users ----
    async def create_user(self, b: dict[str, Any], r: Request) -> dict[str, Any]:
        _no_boundary(b)
        return {"User": user_view(self.iam.create_user(b["UserName"], b.get("Path") or "/", _tag_dict(b)))}

    def _caller_user(self, b: dict[str, Any], who: Principal | None) -> str | None:
        """The user an operation without UserName is about: the calling user (None: the caller is root)."""
        if b.get("UserName"):
            return str(b["UserName"])
        if who is not None and who.kind == USER:
            return who.name
        if who is not None and who.kind != "root":
            raise IamValidation("Must specify userName when calling with non-User credentials")
        return None

    async def get_user(self, b: dict[str, Any], r: Request) -> dict[str, Any]:
        name = self._caller_user(b, r.principal)
        if name is None:
            account = self.iam.account
            return {"User": {"Path": "/", "UserId": account, "Arn": f"arn:aws:iam::{account}:root",
                             "CreateDate": when(0)}}  # fmt: skip
        return {"User": user_view(self.iam.user(name))}

    async def list_users(self, b: dict[str, Any], r: Request) -> dict[str, Any]:
        prefix = b.get("PathPrefix") or "/"
        users = sorted((x for x in self.iam.users.values() if x.path.startswith(prefix)), key=lambda x: x.name.lower())
        return _page([user_view(x) for x in users], b, "Users")

    async def create_access_key(self, b: dict[str, Any], r: Request) -> dict[str, Any]:
        name = self._caller_user(b, r.principal)
        if name is None:
            raise IamValidation("The root key is Nimbus's start-up key pair: name the user the key is for.")
        return {"AccessKey": key_view(self.iam.create_key(name), secret=True)}

    async def list_access_keys(self, b: dict[str, Any], r: Request) -> dict[str, Any]:
        name = self._caller_user(b, r.principal)
        keys = [] if name is None else self.iam.user_keys(name)
        return _page([key_view(k) for k in keys], b, "AccessKeyMetadata")

    async def get_access_key_last_used(self, b: dict[str, Any], r: Request) -> dict[str, Any]:
        key = self.iam.key(b["AccessKeyId"])
        return {"UserName": key.user_name, "AccessKeyLastUsed": {"ServiceName": "N/A", "Region": "N/A"}}

    # ---- managed policies ----
    def _policy(self, policy: ManagedPolicy) -> dict[str, Any]:
        return {
            "PolicyName": policy.name, "PolicyId": policy.policy_id, "Arn": policy.arn, "Path": policy.path,
            "DefaultVersionId": policy.default_version,
            "AttachmentCount": self.iam.policies.attachments.get(policy.arn, 0),
            "PermissionsBoundaryUsageCount": 0, "IsAttachable": True, "Description": policy.description or None,
            "CreateDate": when(policy.created), "UpdateDate": when(policy.updated),
            "Tags": _tags(policy.tags) or None,
        }  # fmt: skip

    async def create_policy(self, b: dict[str, Any], r: Request) -> dict[str, Any]:
        policy = self.iam.policies.create(b["PolicyName"], b["PolicyDocument"], b.get("Path") or "/",
                                          b.get("Description") or "", _tag_dict(b))  # fmt: skip
        return {"Policy": self._policy(policy)}

    async def list_policies(self, b: dict[str, Any], r: Request) -> dict[str, Any]:
        found = self.iam.policies.listed(b.get("Scope") or "All", bool(b.get("OnlyAttached")),
                                         b.get("PathPrefix") or "/")  # fmt: skip
        return _page([self._policy(x) for x in found], b, "Policies")

    async def create_policy_version(self, b: dict[str, Any], r: Request) -> dict[str, Any]:
        arn = b["PolicyArn"]
        version = self.iam.policies.create_version(arn, b["PolicyDocument"], bool(b.get("SetAsDefault")))
        return {"PolicyVersion": version_view(self.iam.policies.require(arn), version, document=False)}

    async def get_policy_version(self, b: dict[str, Any], r: Request) -> dict[str, Any]:
        policy = self.iam.policies.require(b["PolicyArn"])
        return {"PolicyVersion": version_view(policy, self.iam.policies.version(b["PolicyArn"], b["VersionId"]))}

    async def list_policy_versions(self, b: dict[str, Any], r: Request) -> dict[str, Any]:
        policy = self.iam.policies.require(b["PolicyArn"])
        versions = sorted(policy.versions.values(), key=lambda v: int(v.version_id[1:]), reverse=True)
        return _page([version_view(policy, v, document=False) for v in versions], b, "Versions")
