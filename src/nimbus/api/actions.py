"""Every served operation as IAM sees it: its action (`lambda:InvokeFunction`, `sqs:SendMessage`, ...), the ARNs of
the resources it acts on, the resource policy that may grant it, and its service-specific condition keys.

Written from the Service Authorization Reference's tables: an operation's action is usually its own name under the
service's prefix, with the exceptions AWS makes (Lambda's Invoke is `lambda:InvokeFunction`, batch calls of SQS and
SNS are authorized as their single call, API Gateway's actions are the HTTP methods on the resource's path). Pure:
request parts in, a `Call` out (no store is read here; the authorizer finds the policies).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlsplit

from nimbus.control.validation import parse_function_ref
from nimbus.errors import NimbusError

#: which resource policy may grant a call (besides the caller's identity policies)
FUNCTION, QUEUE, TOPIC = "function", "queue", "topic"


@dataclass(frozen=True, slots=True)
class Call:
    #: `service:Action`, as policies name it
    action: str
    #: the ARNs acted on (`*` for account-wide operations); every one must be allowed
    resources: tuple[str, ...] = ("*",)
    #: the kind of resource policy that applies (FUNCTION, QUEUE, TOPIC, or "": none)
    policy: str = ""
    #: what names it: a function name (with `qualifier`), a queue name, a topic ARN
    policy_ref: str = ""
    qualifier: str | None = None
    #: service-specific condition keys (lower-cased names), e.g. lambda:FunctionArn
    context: Mapping[str, str] = field(default_factory=dict)
    #: a role the call hands to Lambda (CreateFunction's and UpdateFunctionConfiguration's Role): `iam:PassRole`
    pass_role: str = ""
    #: an IAM call on the caller's own user (GetUser, CreateAccessKey, ... without UserName): its ARN is the resource
    own_user: bool = False


@dataclass(frozen=True, slots=True)
class Where:
    region: str
    account: str

    def arn(self, service: str, resource: str, *, account: bool = True) -> str:
        return f"arn:aws:{service}:{self.region}:{self.account if account else ''}:{resource}"


# ---- Lambda (REST routes) ----
_LAMBDA_ACTIONS = {"Invoke": "InvokeFunction", "InvokeAsync": "InvokeFunction"}
#: operations whose function resource is the qualified ARN when a qualifier is given (AWS's "function alias" or
#: "function version" resource types)
_QUALIFIED = frozenset({
    "Invoke", "InvokeAsync", "GetFunction", "GetFunctionConfiguration", "GetPolicy", "AddPermission",
    "RemovePermission", "GetFunctionUrlConfig", "CreateFunctionUrlConfig", "UpdateFunctionUrlConfig",
    "DeleteFunctionUrlConfig", "PutFunctionEventInvokeConfig", "GetFunctionEventInvokeConfig",
    "UpdateFunctionEventInvokeConfig", "DeleteFunctionEventInvokeConfig", "PutProvisionedConcurrencyConfig",
    "GetProvisionedConcurrencyConfig", "DeleteProvisionedConcurrencyConfig", "GetRuntimeManagementConfig",
    "PutRuntimeManagementConfig",
})  # fmt: skip


_PASSES_ROLE = frozenset({"CreateFunction", "UpdateFunctionConfiguration"})


def _function(where: Where, raw: str, qualifier: str | None) -> tuple[str, str | None]:
    """(name, qualifier) of a FunctionName as given (a name, `name:qualifier`, a partial or full ARN); a value that
    names no function of ours keeps its raw text, for the handler to refuse after authorization."""
    try:
        ref = parse_function_ref(raw, region=where.region, account=where.account, qualifier=qualifier)
    except NimbusError:
        return raw, qualifier
    return ref.name, ref.qualifier


def lambda_call(
    where: Where, operation: str, params: Mapping[str, str], query: Mapping[str, list[str]], body: Mapping[str, Any]
) -> Call:
    """A Lambda REST operation from its route's parameters (and, for a create, its body's FunctionName)."""
    action = "lambda:" + _LAMBDA_ACTIONS.get(operation, operation)
    raw = params.get("FunctionName") or (body.get("FunctionName") if operation == "CreateFunction" else None)
    if isinstance(raw, str) and raw and operation != "CreateEventSourceMapping":
        given = query.get("Qualifier", [None])[0]
        name, qualifier = _function(where, raw, params.get("Name") or given)
        base = where.arn("lambda", f"function:{name}")
        arn = f"{base}:{qualifier}" if qualifier and (operation in _QUALIFIED or "Name" in params) else base
        role = body.get("Role") if operation in _PASSES_ROLE else None
        return Call(action, (arn,), FUNCTION, name, qualifier, {"lambda:functionarn": base},
                    role if isinstance(role, str) else "")  # fmt: skip
    if operation == "ListLayers" and query.get("find") == ["LayerVersion"]:  # GetLayerVersionByArn
        return Call("lambda:GetLayerVersion", (query.get("Arn", ["*"])[0],))
    if "LayerName" in params:
        layer = where.arn("lambda", f"layer:{params['LayerName']}")
        version = params.get("VersionNumber")
        return Call(action, (f"{layer}:{version}" if version else layer,))
    if "UUID" in params:
        return Call(action, (where.arn("lambda", f"event-source-mapping:{params['UUID']}"),))
    for key in ("Resource", "ARN", "CodeSigningConfigArn"):
        if key in params:
            return Call(action, (params[key],))
    context: dict[str, str] = {}
    target = body.get("FunctionName")
    if operation == "CreateEventSourceMapping" and isinstance(target, str):
        context["lambda:functionarn"] = where.arn("lambda", "function:" + _function(where, target, None)[0])
    return Call(action, ("*",), context=context)


def url_call(where: Where, function: str, qualifier: str | None) -> Call:
    """A request to an AWS_IAM function URL: lambda:InvokeFunctionUrl on the (qualified) function."""
    base = where.arn("lambda", f"function:{function}")
    context = {"lambda:functionarn": base, "lambda:functionurlauthtype": "AWS_IAM"}
    arn = f"{base}:{qualifier}" if qualifier else base
    return Call("lambda:InvokeFunctionUrl", (arn,), FUNCTION, function, qualifier, context)


def execute_api_call(where: Where, api_id: str, stage: str, method: str, path: str) -> Call:
    """A request to an AWS_IAM route of an HTTP API: execute-api:Invoke on `<api>/<stage>/<METHOD>/<path>`."""
    return Call("execute-api:Invoke", (where.arn("execute-api", f"{api_id}/{stage}/{method}{path}"),))


# ---- JSON-protocol APIs ----
_SQS_ACTIONS = {"SendMessageBatch": "SendMessage", "DeleteMessageBatch": "DeleteMessage",
                "ChangeMessageVisibilityBatch": "ChangeMessageVisibility"}  # fmt: skip


def _queue_name(ref: str) -> str:
    if ref.startswith("arn:"):
        return ref.rsplit(":", 1)[-1]
    return unquote(urlsplit(ref).path.rstrip("/").rsplit("/", 1)[-1]) if "/" in ref else ref


def sqs_call(where: Where, operation: str, body: Mapping[str, Any]) -> Call:
    action = "sqs:" + _SQS_ACTIONS.get(operation, operation)
    ref = body.get("QueueUrl") or body.get("QueueName")
    if not isinstance(ref, str) or not ref or operation == "ListQueues":
        return Call(action)
    name = _queue_name(ref)
    return Call(action, (where.arn("sqs", name),), QUEUE, name)


def _text(body: Mapping[str, Any], key: str, default: str = "") -> str:
    value = body.get(key)
    return value if isinstance(value, str) and value else default


def _bus_arn(where: Where, name: str) -> str:
    return name if name.startswith("arn:") else where.arn("events", f"event-bus/{name}")


def events_call(where: Where, operation: str, body: Mapping[str, Any]) -> Call:
    action = "events:" + operation
    bus = _text(body, "EventBusName", "default")
    if operation in ("CreateEventBus", "DescribeEventBus", "DeleteEventBus"):
        return Call(action, (_bus_arn(where, _text(body, "Name", "default")),))
    rule = _text(body, "Name") if operation.endswith("Rule") else _text(body, "Rule")
    if rule and operation not in ("ListRules", "ListRuleNamesByTarget"):
        bus_name = bus.rsplit("/", 1)[-1]
        path = f"rule/{rule}" if bus_name == "default" else f"rule/{bus_name}/{rule}"
        return Call(action, (where.arn("events", path),))
    if operation == "PutEvents":
        entries = body.get("Entries")
        buses = {_bus_arn(where, _text(e, "EventBusName", "default"))
                 for e in (entries if isinstance(entries, list) else []) if isinstance(e, dict)}  # fmt: skip
        return Call(action, tuple(sorted(buses)) or (_bus_arn(where, "default"),))
    if "ResourceARN" in body:
        return Call(action, (_text(body, "ResourceARN", "*"),))
    return Call(action)


def logs_call(where: Where, operation: str, body: Mapping[str, Any]) -> Call:
    action = "logs:" + operation
    group = _text(body, "logGroupName")
    if not group:
        return Call(action, (where.arn("logs", "log-group::log-stream:"),))
    stream = _text(body, "logStreamName")
    resource = f"log-group:{group}:log-stream:{stream}" if stream else f"log-group:{group}"
    return Call(action, (where.arn("logs", resource),))


def json_call(where: Where, service: str, operation: str, body: Mapping[str, Any]) -> Call:
    if service == "sqs":
        return sqs_call(where, operation, body)
    if service == "events":
        return events_call(where, operation, body)
    if service == "logs":
        return logs_call(where, operation, body)
    return Call(f"{service}:{operation}")


# ---- Nimbus's stacks API (`nimbus deploy`, `nimbus stack`): as CloudFormation's nearest operations ----
_STACK_ACTIONS = {
    "ListStacks": "ListStacks", "DescribeStack": "DescribeStacks", "DescribeStackEvents": "DescribeStackEvents",
    "DeleteStack": "DeleteStack", "GetStackCode": "CreateChangeSet", "PutStackCode": "CreateChangeSet",
}  # fmt: skip


def stacks_call(where: Where, operation: str, params: Mapping[str, str], dry_run: bool) -> Call:
    """A deploy is a change set created (DryRun: the preview) and executed; code uploads belong to the creation."""
    action = _STACK_ACTIONS.get(operation) or ("CreateChangeSet" if dry_run else "ExecuteChangeSet")
    name = params.get("StackName")
    return Call("cloudformation:" + action, (where.arn("cloudformation", f"stack/{name}/*"),) if name else ("*",))


# ---- other REST APIs: Scheduler, API Gateway v2 ----
def scheduler_call(
    where: Where, operation: str, params: Mapping[str, str], query: Mapping[str, list[str]], body: Mapping[str, Any]
) -> Call:
    action = "scheduler:" + operation
    if "ResourceArn" in params:
        return Call(action, (params["ResourceArn"],))
    name = params.get("Name")
    if not name:
        return Call(action)
    if "Group" in operation:
        return Call(action, (where.arn("scheduler", f"schedule-group/{name}"),))
    group = query.get("groupName", [""])[0] or _text(body, "GroupName", "default")
    target = body.get("Target")
    role = _text(target, "RoleArn") if isinstance(target, dict) else ""  # what the schedule runs as: passed to it
    return Call(action, (where.arn("scheduler", f"schedule/{group}/{name}"),), pass_role=role)


def apigw_call(where: Where, method: str, raw_path: str) -> Call:
    """API Gateway's actions are the HTTP methods, on `arn:aws:apigateway:<region>::<path>` (no `/v2`)."""
    path = unquote(raw_path.removeprefix("/v2")).rstrip("/") or "/"
    return Call(f"apigateway:{method}", (where.arn("apigateway", path, account=False),))


# ---- query-protocol APIs: SNS, IAM, STS ----
def sns_call(where: Where, operation: str, fields: Mapping[str, str]) -> Call:
    action = "sns:" + ("Publish" if operation == "PublishBatch" else operation)
    if operation == "CreateTopic" and fields.get("Name"):
        return Call(action, (where.arn("sns", fields["Name"]),), TOPIC, where.arn("sns", fields["Name"]))
    topic = fields.get("TopicArn") or fields.get("TargetArn") or fields.get("ResourceArn") or ""
    sub = fields.get("SubscriptionArn") or ""
    if not topic and sub.count(":") == 6:  # a subscription's ARN is its topic's plus `:<id>`
        topic = sub.rsplit(":", 1)[0]
    if not topic or operation in ("ListTopics", "ListSubscriptions"):
        return Call(action)
    return Call(action, (topic,), TOPIC, topic)


_IAM_LISTS = {"ListUsers": "user/", "ListRoles": "role/", "ListPolicies": "policy/"}
#: the operations that act on the caller's own user when no UserName is given
_IAM_SELF = frozenset({"GetUser", "CreateAccessKey", "ListAccessKeys", "UpdateAccessKey", "DeleteAccessKey",
                       "GetAccessKeyLastUsed"})  # fmt: skip


def iam_call(where: Where, operation: str, fields: Mapping[str, str]) -> Call:
    action = "iam:" + operation
    iam = f"arn:aws:iam::{where.account}:"
    if operation in _IAM_LISTS:
        return Call(action, (iam + _IAM_LISTS[operation],))
    if fields.get("PolicyArn"):
        return Call(action, (fields["PolicyArn"],))
    if fields.get("RoleName"):
        return Call(action, (iam + "role/" + fields["RoleName"],))
    if fields.get("UserName"):
        return Call(action, (iam + "user/" + fields["UserName"],))
    if operation == "CreatePolicy" and fields.get("PolicyName"):
        return Call(action, (iam + "policy/" + fields["PolicyName"],))
    return Call(action, own_user=operation in _IAM_SELF)


def form_call(where: Where, service: str, operation: str, fields: Mapping[str, str]) -> Call | None:
    """A query-protocol call; None for one that is never denied (STS's: GetCallerIdentity as on AWS, AssumeRole
    because its trust policy is evaluated by AssumeRole itself, `evaluate_trust`)."""
    if service == "sns":
        return sns_call(where, operation, fields)
    if service == "iam":
        return iam_call(where, operation, fields)
    if service == "sts":
        return None
    return Call(f"{service}:{operation}")
