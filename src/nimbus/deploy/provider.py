"""The contract between the stack engine and the resource types it can make: one provider per CloudFormation type
(`deploy/providers/`), asked by the pure plan whether a change replaces a resource, and by the apply to create,
update and delete through the services the APIs use (`api/services.Services`).

Properties reach a provider fully resolved: every intrinsic function evaluated, `AWS::NoValue` removed, code
already packaged (a `Code` property names a zip the engine has put in the code store: `{"ZipFile": <bytes>}` or
`{"CodeSha256": <hex>}`, see `StackContext.code`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from nimbus.api.services import Services

#: CloudFormation's own tags on what a stack makes (where the type takes tags)
STACK_NAME_TAG = "aws:cloudformation:stack-name"
STACK_ID_TAG = "aws:cloudformation:stack-id"
LOGICAL_ID_TAG = "aws:cloudformation:logical-id"
#: the length of the random-looking suffix of a generated physical name (CloudFormation's: 12-13 characters)
NAME_SUFFIX_LENGTH = 13
_SUFFIX_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"


def physical_name(stack_name: str, logical_id: str, seed: str, max_length: int = 64) -> str:
    """CloudFormation's name for a resource the template does not name: `<stack>-<LogicalId>-<SUFFIX>`, the
    `<stack>-<LogicalId>` part cut to fit `max_length` (the type's name limit, e.g. 64 for a function, 80 for a
    queue, 256 for a topic; a FIFO queue passes its limit minus 5 and adds `.fifo`).

    The suffix is derived from `seed`, which the engine draws at random and records durably before it asks for the
    create: the same seed always gives the same name, so a create cut short by a crash is found again by its name
    (and a replacement, drawing a new seed, gets a new name)."""
    digest = int.from_bytes(hashlib.sha256(f"{stack_name}/{logical_id}/{seed}".encode()).digest(), "big")
    suffix = ""
    for _ in range(NAME_SUFFIX_LENGTH):
        digest, index = divmod(digest, len(_SUFFIX_ALPHABET))
        suffix += _SUFFIX_ALPHABET[index]
    prefix = f"{stack_name}-{logical_id}"[: max(max_length - NAME_SUFFIX_LENGTH - 1, 1)]
    return f"{prefix}-{suffix}"


@dataclass(frozen=True, slots=True)
class Made:
    """What a create or update gives back: the physical id, what `Ref` resolves to, and the `Fn::GetAtt` values."""

    physical_id: str
    ref: str
    attributes: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class StackContext:
    """What every provider call is given."""

    services: Services
    stack_name: str
    stack_id: str
    region: str
    account: str
    #: zips packaged for this deploy, by CodeSha256 (hex): what a `Code` property's `CodeSha256` names
    code: Mapping[str, bytes] = field(default_factory=dict)
    #: each resource's name seed (see `physical_name`), drawn and recorded by the engine before its create
    seeds: Mapping[str, str] = field(default_factory=dict)

    def name(self, logical_id: str, max_length: int = 64) -> str:
        """The physical name of a resource the template does not name (`physical_name` with its recorded seed)."""
        return physical_name(self.stack_name, logical_id, self.seeds.get(logical_id, ""), max_length)

    def tags(self, logical_id: str) -> dict[str, str]:
        """CloudFormation's tags for one resource of this stack."""
        return {STACK_NAME_TAG: self.stack_name, STACK_ID_TAG: self.stack_id, LOGICAL_ID_TAG: logical_id}


class Provider(Protocol):
    """One CloudFormation resource type (or a few close ones, e.g. every `AWS::Lambda::*`)."""

    #: the types served, e.g. ("AWS::SQS::Queue",)
    types: tuple[str, ...]

    def replaces(self, type_: str, old: Mapping[str, Any], new: Mapping[str, Any]) -> bool:
        """Pure: whether changing `old` properties to `new` needs a replacement (a property CloudFormation marks
        "Update requires: Replacement", such as a function's FunctionName) rather than an update in place."""

    async def create(self, ctx: StackContext, type_: str, logical_id: str, props: Mapping[str, Any]) -> Made:
        """Make the resource; raise `nimbus.errors.NimbusError` (its message becomes the event's reason)."""

    async def update(
        self,
        ctx: StackContext,
        type_: str,
        logical_id: str,
        physical_id: str,
        old: Mapping[str, Any],
        new: Mapping[str, Any],
    ) -> Made:
        """Change it in place (never called when `replaces` said so)."""

    async def delete(self, ctx: StackContext, type_: str, logical_id: str, physical_id: str,
                     props: Mapping[str, Any]) -> None:  # fmt: skip
        """Remove it; a resource already gone is not an error (deletes are retried after a crash)."""
