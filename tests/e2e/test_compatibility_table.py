"""Every Lambda operation docs/compatibility.md lists as served answers on the wire: a table row that names an
operation the server does not route (UnknownOperationException) or that breaks on input (a 5xx) fails here."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError
from botocore.model import ListShape, MapShape, Shape, StructureShape

ROOT = Path(__file__).resolve().parents[2]
MISSING = "nimbus-compat-missing"


def listed_operations(model_ops: set[str]) -> list[str]:
    """The operation names of the table's first column, shorthand expanded: `Put/Get/DeleteFunctionConcurrency`,
    `Create/Get/Update/Delete/ListEventSourceMapping(s)`, `PublishVersion / ListVersionsByFunction`."""
    names: list[str] = []
    for line in (ROOT / "docs/compatibility.md").read_text().splitlines():
        cells = line.split("|")
        if len(cells) < 4 or not line.startswith("| ") or "`" in cells[1] or cells[1].strip() == "Operation":
            continue
        status = cells[2].strip()
        if not status.startswith("yes"):
            continue
        for group in cells[1].split(" / "):
            group = re.sub(r"\s*\(.*?\)\s*$", "", group.strip()) if not group.strip().endswith("(s)") else group.strip()
            parts = group.split("/")
            tail = parts[-1]
            noun = re.sub(r"^(Create|Get|Update|Delete|List|Put|Add|Remove|Publish|Tag|Untag)", "", tail)
            for part in parts:
                base = part if part == tail else part + noun
                for candidate in (base.replace("(s)", ""), base.replace("(s)", "s")):
                    if candidate in model_ops:
                        names.append(candidate)
    return sorted(set(names))


def _dummy(shape: Shape) -> Any:
    if isinstance(shape, StructureShape):
        return {name: _dummy(shape.members[name]) for name in shape.required_members}
    if isinstance(shape, ListShape):
        return []
    if isinstance(shape, MapShape):
        return {}
    return {"string": MISSING, "integer": 1, "long": 1, "boolean": False, "blob": b"{}", "timestamp": 0}.get(
        shape.type_name, MISSING
    )


def test_the_table_lists_the_operations_it_should(server: Any) -> None:
    lam = server.client("lambda")
    ops = set(lam.meta.service_model.operation_names)
    listed = listed_operations(ops)
    for expected in ("CreateFunction", "Invoke", "GetFunctionUrlConfig", "ListFunctionUrlConfigs", "AddPermission",
                     "DeleteProvisionedConcurrencyConfig", "ListEventSourceMappings", "PutFunctionConcurrency"):
        assert expected in listed, f"{expected} not parsed from docs/compatibility.md"


def test_every_listed_operation_answers(server: Any) -> None:
    lam = boto3.client(
        "lambda", endpoint_url=server.endpoint, region_name="us-east-1", aws_access_key_id="test",
        aws_secret_access_key="test", config=Config(parameter_validation=False, retries={"max_attempts": 0}),
    )  # fmt: skip
    model = lam.meta.service_model
    unanswered = []
    for name in listed_operations(set(model.operation_names)):
        op = model.operation_model(name)
        params = _dummy(op.input_shape) if op.input_shape is not None else {}
        method = getattr(lam, re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower())
        try:
            method(**params)
        except ClientError as exc:
            code = exc.response["Error"]["Code"]
            status = exc.response["ResponseMetadata"]["HTTPStatusCode"]
            if code == "UnknownOperationException" or status >= 500:
                unanswered.append(f"{name}: {status} {code}")
    assert not unanswered, unanswered
