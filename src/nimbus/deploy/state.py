"""Stacks' durable state in the control-plane store (synchronous=FULL): the stack document, one row per resource,
and the events. The engine writes a resource's row before each action (what it is about to do, with the name seed
and the properties it sends) and after it (the new record), so after `kill -9` the rows say exactly what may exist.

A resource row (JSON):
- `Current`: the record the stack now has (None while a create is in flight);
- `Old`: the record committed before the deploy in progress (None: made by this deploy); `Touched` is set when the
  deploy in progress changed (or began to change) the resource, and tells a rollback what to undo;
- `Pending`: the action in flight (`Action`, `Seed`, `Properties`), None between actions;
- `Retire`: a replaced record still to delete (after the deploy succeeded); `Doomed`: the resource is to be deleted.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Engine, delete, insert, select

from nimbus.deploy.plan import Record
from nimbus.store.schema import stack_events, stack_resources, stacks


def now_iso() -> str:
    t = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t % 1 * 1000):03d}Z"


@dataclass
class Stack:
    name: str
    stack_id: str
    status: str
    reason: str = ""
    #: the last template and parameters applied with success (what a rollback goes back to)
    template: dict[str, Any] | None = None
    parameters: dict[str, str] = field(default_factory=dict)
    #: the deploy in progress: {"Template", "Parameters", "SkipUnsupported"}
    pending: dict[str, Any] | None = None
    outputs: list[dict[str, Any]] = field(default_factory=list)
    no_echo: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    created: str = field(default_factory=now_iso)
    updated: str = ""
    #: every parameter's value as last applied (given or default; lists for the list types)
    resolved: dict[str, Any] = field(default_factory=dict)
    #: what the CLI deployed last (`package.Packaged.source`): the same again is known unchanged without a transform
    source: str = ""
    #: the source `nimbus serve --deploy` last deployed it from: a stack since deployed from other files or
    #: parameters (`source` differs) is the user's, and the next start leaves it as it is
    seeded: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "StackId": self.stack_id, "Status": self.status, "Reason": self.reason, "Template": self.template,
            "Parameters": self.parameters, "Pending": self.pending, "Outputs": self.outputs, "NoEcho": self.no_echo,
            "Skipped": self.skipped, "Created": self.created, "Updated": self.updated, "Resolved": self.resolved,
            "Source": self.source, "Seeded": self.seeded,
        }  # fmt: skip

    @classmethod
    def from_json(cls, name: str, doc: dict[str, Any]) -> Stack:
        return cls(name, doc["StackId"], doc["Status"], doc.get("Reason", ""), doc.get("Template"),
                   doc.get("Parameters") or {}, doc.get("Pending"), doc.get("Outputs") or [], doc.get("NoEcho") or [],
                   doc.get("Skipped") or [], doc.get("Created", ""), doc.get("Updated", ""),
                   doc.get("Resolved") or {}, doc.get("Source", ""), doc.get("Seeded", ""))  # fmt: skip


@dataclass
class Row:
    """One resource's row (see the module docstring)."""

    logical_id: str
    current: Record | None = None
    old: Record | None = None
    touched: bool = False
    pending: dict[str, Any] | None = None
    retire: Record | None = None
    doomed: bool = False
    status: str = ""
    reason: str = ""
    updated: str = ""

    def to_json(self) -> dict[str, Any]:
        def rec(r: Record | None) -> Any:
            return None if r is None else r.to_json()

        return {"Current": rec(self.current), "Old": rec(self.old), "Touched": self.touched, "Pending": self.pending,
                "Retire": rec(self.retire), "Doomed": self.doomed, "Status": self.status, "Reason": self.reason,
                "Updated": self.updated}  # fmt: skip

    @classmethod
    def from_json(cls, logical_id: str, doc: dict[str, Any]) -> Row:
        def rec(d: Any) -> Record | None:
            return None if d is None else Record.from_json(d)

        return cls(logical_id, rec(doc.get("Current")), rec(doc.get("Old")), bool(doc.get("Touched")),
                   doc.get("Pending"), rec(doc.get("Retire")), bool(doc.get("Doomed")), doc.get("Status", ""),
                   doc.get("Reason", ""), doc.get("Updated", ""))  # fmt: skip

    @property
    def type(self) -> str:
        record = self.current or self.old or self.retire
        return record.type if record else str((self.pending or {}).get("Type", ""))


def _row_key(name: str, logical_id: str) -> Any:
    return (stack_resources.c.stack == name) & (stack_resources.c.logical_id == logical_id)


class StackStore:
    """Reads and writes of stacks, resource rows and events; every write is its own committed transaction."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def names(self) -> list[str]:
        with self.engine.connect() as conn:
            return sorted(r[0] for r in conn.execute(select(stacks.c.name)))

    def get(self, name: str) -> Stack | None:
        with self.engine.connect() as conn:
            doc = conn.execute(select(stacks.c.document).where(stacks.c.name == name)).scalar()
        return None if doc is None else Stack.from_json(name, json.loads(doc))

    def put(self, stack: Stack, rows: Sequence[Row] = (), dropped: Sequence[str] = ()) -> None:
        """The stack document, and rows written or dropped with it, in one transaction (a deploy's commit)."""
        stack.updated = now_iso()
        with self.engine.begin() as conn:
            conn.execute(delete(stacks).where(stacks.c.name == stack.name))
            conn.execute(insert(stacks).values(name=stack.name, document=json.dumps(stack.to_json())))
            for row in rows:
                self._put_row(conn, stack.name, row)
            for logical_id in dropped:
                conn.execute(delete(stack_resources).where(_row_key(stack.name, logical_id)))

    def rows(self, name: str) -> dict[str, Row]:
        with self.engine.connect() as conn:
            found = conn.execute(select(stack_resources.c.logical_id, stack_resources.c.document)
                                 .where(stack_resources.c.stack == name))  # fmt: skip
            return {lid: Row.from_json(lid, json.loads(doc)) for lid, doc in found}

    def put_row(self, name: str, row: Row) -> None:
        with self.engine.begin() as conn:
            self._put_row(conn, name, row)

    @staticmethod
    def _put_row(conn: Connection, name: str, row: Row) -> None:
        row.updated = now_iso()
        conn.execute(delete(stack_resources).where(_row_key(name, row.logical_id)))
        conn.execute(insert(stack_resources).values(stack=name, logical_id=row.logical_id,
                                                    document=json.dumps(row.to_json())))  # fmt: skip

    def drop_row(self, name: str, logical_id: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(delete(stack_resources).where(_row_key(name, logical_id)))

    def event(self, stack: Stack, logical_id: str, type_: str, status: str, reason: str = "",
              physical_id: str = "") -> None:  # fmt: skip
        doc = {"EventId": str(uuid.uuid4()), "StackName": stack.name, "StackId": stack.stack_id,
               "LogicalResourceId": logical_id, "PhysicalResourceId": physical_id, "ResourceType": type_,
               "ResourceStatus": status, "ResourceStatusReason": reason, "Timestamp": now_iso()}  # fmt: skip
        with self.engine.begin() as conn:
            conn.execute(insert(stack_events).values(stack=stack.name, document=json.dumps(doc)))

    def events(self, name: str, after: int = 0, limit: int = 1000) -> list[tuple[int, dict[str, Any]]]:
        query = (select(stack_events.c.seq, stack_events.c.document)
                 .where((stack_events.c.stack == name) & (stack_events.c.seq > after))
                 .order_by(stack_events.c.seq).limit(limit))  # fmt: skip
        with self.engine.connect() as conn:
            return [(seq, json.loads(doc)) for seq, doc in conn.execute(query)]

    def remove(self, name: str) -> None:
        """The stack, its rows and its events: gone (a deleted stack)."""
        with self.engine.begin() as conn:
            conn.execute(delete(stack_resources).where(stack_resources.c.stack == name))
            conn.execute(delete(stack_events).where(stack_events.c.stack == name))
            conn.execute(delete(stacks).where(stacks.c.name == name))

    def code_in_use(self) -> set[str]:
        """Every code hash a stack's record names (current, old, retiring): kept by the code collector, so a
        rollback can always put the old code back."""
        found: set[str] = set()
        with self.engine.connect() as conn:
            for (doc,) in conn.execute(select(stack_resources.c.document)):
                row = json.loads(doc)
                for key in ("Current", "Old", "Retire"):
                    props = (row.get(key) or {}).get("Properties") or {}
                    for prop in ("Code", "Content"):
                        code = props.get(prop)
                        digest = code.get("CodeSha256") if isinstance(code, dict) else None
                        if isinstance(digest, str):
                            found.add(digest)
        return found
