"""AWS::IAM::Role, Policy and ManagedPolicy through IAM's service: SAM's function role (a Lambda trust policy,
AWSLambdaBasicExecutionRole attached, an inline policy, CloudFormation's tags) with Ref (its name) and GetAtt
Arn/RoleId; AWS managed policies Nimbus does not carry left off; inline and attached policies kept in step on
update; a stand-alone Policy put on and taken off roles; a ManagedPolicy attached, given a new version, deleted;
IAM's own refusals (a bad trust policy) leave nothing; every delete idempotent."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from providers_support import Stack, run

from nimbus.control.iam_store import ROLE
from nimbus.deploy.provider import LOGICAL_ID_TAG
from nimbus.errors import NimbusError, NoSuchEntity

TRUST = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": ["lambda.amazonaws.com"]},
                                                 "Action": ["sts:AssumeRole"]}]}  # fmt: skip
BASIC = "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
SQS = "arn:aws:iam::aws:policy/service-role/AWSLambdaSQSQueueExecutionRole"
CODEDEPLOY = "arn:aws:iam::aws:policy/service-role/AWSCodeDeployRoleForLambda"


def _allow(action: str) -> dict[str, object]:
    return {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": action, "Resource": "*"}]}


def test_role_inline_and_managed_policies_in_step(tmp_path: Path) -> None:
    async def body(stack: Stack) -> None:
        iam = stack.services.iam
        assert iam is not None
        props = {"AssumeRolePolicyDocument": TRUST, "ManagedPolicyArns": [BASIC, CODEDEPLOY],
                 "Policies": [{"PolicyName": "Dlq", "PolicyDocument": _allow("sqs:SendMessage")}],
                 "Tags": [{"Key": "lambda:createdBy", "Value": "SAM"}]}  # fmt: skip
        made = await stack.put("FnRole", "AWS::IAM::Role", props)
        assert re.fullmatch(r"app-FnRole-[A-Z0-9]{13}", made.ref)
        role = iam.role(made.ref)
        assert made.attributes == {"Arn": f"arn:aws:iam::000000000000:role/{made.ref}", "RoleId": role.role_id}
        assert role.attached == [BASIC]  # CodeDeploy's is not one Nimbus carries
        assert json.loads(role.inline["Dlq"]) == _allow("sqs:SendMessage")
        assert role.tags[LOGICAL_ID_TAG] == "FnRole"
        topic = {"PolicyName": "Topic", "PolicyDocument": _allow("sns:Publish")}
        changed = props | {"ManagedPolicyArns": [SQS], "Policies": [topic]}
        assert not stack.replaces("FnRole", changed)
        await stack.put("FnRole", "AWS::IAM::Role", changed)
        role = iam.role(made.ref)
        assert (role.attached, list(role.inline)) == ([SQS], ["Topic"])
        assert stack.replaces("FnRole", changed | {"RoleName": "named"})
        with pytest.raises(NimbusError):
            await stack.put("Bad", "AWS::IAM::Role", {"RoleName": "bad", "AssumeRolePolicyDocument": {"x": 1}})
        with pytest.raises(NoSuchEntity):
            iam.role("bad")
        await stack.delete("FnRole")
        with pytest.raises(NoSuchEntity):
            iam.role(made.ref)

    run(tmp_path, body)


def test_stand_alone_policy_and_managed_policy(tmp_path: Path) -> None:
    async def body(stack: Stack) -> None:
        iam = stack.services.iam
        assert iam is not None
        one = (await stack.put("R1", "AWS::IAM::Role", {"RoleName": "one", "AssumeRolePolicyDocument": TRUST})).ref
        two = (await stack.put("R2", "AWS::IAM::Role", {"RoleName": "two", "AssumeRolePolicyDocument": TRUST})).ref
        props = {"PolicyName": "publish", "PolicyDocument": _allow("sns:Publish"), "Roles": [one, two]}
        await stack.put("P", "AWS::IAM::Policy", props)
        assert "publish" in iam.role("two").inline
        await stack.put("P", "AWS::IAM::Policy", props | {"Roles": [one]})
        assert "publish" not in iam.role("two").inline
        managed = await stack.put("M", "AWS::IAM::ManagedPolicy", {"PolicyDocument": _allow("sqs:*"), "Roles": [two]})
        assert managed.ref.startswith("arn:aws:iam::000000000000:policy/app-M-")
        assert managed.attributes["PolicyArn"] == managed.ref
        assert iam.role("two").attached == [managed.ref]
        for action in ("sqs:SendMessage", "sqs:ReceiveMessage"):
            await stack.put("M", "AWS::IAM::ManagedPolicy", {"PolicyDocument": _allow(action), "Roles": [two]})
        policy = iam.policies.require(managed.ref)
        assert json.loads(policy.versions[policy.default_version].document) == _allow("sqs:ReceiveMessage")
        await stack.delete("M")
        assert iam.role("two").attached == []
        with pytest.raises(NoSuchEntity):
            iam.policies.require(managed.ref)
        await stack.delete("P")
        assert iam.role("one").inline == {}
        await stack.delete("R1")
        await stack.delete("R2")
        with pytest.raises(NoSuchEntity):
            iam.owner(ROLE, "one")

    run(tmp_path, body)
