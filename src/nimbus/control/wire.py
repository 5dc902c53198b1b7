"""Records shaped as Lambda answers with them: FunctionConfiguration, AliasConfiguration, ARNs and list pages.

Pure functions of a record: nothing here reads the registry, the store or the clock, so every answer about the
same record is the same JSON.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any, TypeVar

from nimbus.control.records import FunctionRecord
from nimbus.errors import InvalidParameterValue

T = TypeVar("T")

#: Lambda's cap on one page of ListFunctions, ListVersionsByFunction, ListAliases and ListLayers
PAGE_MAX = 50
#: fields ListFunctions and ListVersionsByFunction leave out of each FunctionConfiguration, as Lambda does
LISTING_OMITS = (
    "State", "StateReason", "StateReasonCode", "LastUpdateStatus", "LastUpdateStatusReason",
    "LastUpdateStatusReasonCode", "RuntimeVersionConfig",
)  # fmt: skip
#: what CreateFunction answers for a function it has just stored (Lambda reports it Pending until it settles)
CREATING = {"State": "Pending", "StateReason": "The function is being created.", "StateReasonCode": "Creating"}
#: what UpdateFunctionCode/Configuration answer (Lambda's reason for an update in progress reads "being created");
#: here the update has settled before the answer leaves
UPDATING = {
    "LastUpdateStatus": "InProgress",
    "LastUpdateStatusReason": "The function is being created.",
    "LastUpdateStatusReasonCode": "Creating",
}


def function_arn(region: str, account_id: str, name: str) -> str:
    return f"arn:aws:lambda:{region}:{account_id}:function:{name}"


def configuration(
    rec: FunctionRecord, arn: str, *, listing: bool = False, version: str = "$LATEST", qualifier: str | None = None
) -> dict[str, Any]:
    """The FunctionConfiguration of `version`, its ARN qualified by `qualifier` (an alias) or the version."""
    config, _ = rec.snapshot(version)
    out = {k: val for k, val in config.items() if not k.startswith("_")}
    out["FunctionArn"] = f"{arn}:{qualifier or version}" if (qualifier or version != "$LATEST") else arn
    if out.get("Environment") == {"Variables": {}}:  # Lambda shows no Environment when none was set
        del out["Environment"]
    if listing:
        for key in LISTING_OMITS:
            out.pop(key, None)
    return out


def created(config: dict[str, Any]) -> dict[str, Any]:
    """CreateFunction's answer: the function Pending with its reason, and no LastUpdateStatus (Lambda has made no
    update yet)."""
    out = config | CREATING
    out.pop("LastUpdateStatus", None)
    return out


def describe_alias(function_arn: str, alias: str, config: dict[str, Any]) -> dict[str, Any]:
    """AliasConfiguration: the stored part plus its name and ARN."""
    return {"AliasArn": f"{function_arn}:{alias}", "Name": alias, **config}


def page(items: list[T], marker: str | None, max_items: int | None) -> tuple[list[T], str | None]:
    """Index-marker pagination, at most PAGE_MAX items a page (Lambda's cap)."""
    start = 0
    if marker:
        if not marker.isdigit():
            raise InvalidParameterValue("Invalid Marker.")
        start = int(marker)
    limit = min(max_items or PAGE_MAX, PAGE_MAX)
    chunk = items[start : start + limit]
    return chunk, (str(start + limit) if start + limit < len(items) else None)


def page_by_name(names: list[str], marker: str | None, max_items: int | None) -> tuple[list[str], str | None]:
    """ListFunctions' pagination: the marker names the last function of the previous page (base64), so a page
    stays right when functions are created or deleted between two calls."""
    limit = min(max_items or PAGE_MAX, PAGE_MAX)
    start = 0
    if marker:
        try:
            after = base64.urlsafe_b64decode(marker.encode()).decode()
        except (binascii.Error, UnicodeDecodeError, ValueError):
            raise InvalidParameterValue("Invalid Marker.") from None
        start = next((i for i, n in enumerate(names) if n > after), len(names))
    chunk = names[start : start + limit]
    more = start + limit < len(names)
    return chunk, (base64.urlsafe_b64encode(chunk[-1].encode()).decode() if more and chunk else None)
