"""The apply: a plan carried out through the providers, in dependency order (each wave in parallel), with every
step written down first (`deploy/state.py`). On the first failure the deploy stops and rolls back to the state
before it; deletes (resources gone from the template, and the old halves of replacements) come last, once the
deploy has succeeded, so a rollback never has to re-create anything.

Rollback, clean-up and stack deletion read only the durable rows, never memory: the same code finishes the job
after `kill -9` (`Stacks.start` runs it for every stack found in progress).
"""

from __future__ import annotations

import asyncio
import logging
import re
import uuid
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from nimbus.api.services import Services
from nimbus.control.codestore import CodeStore
from nimbus.deploy.graph import waves
from nimbus.deploy.intrinsics import fail
from nimbus.deploy.plan import CREATE, REPLACE, SKIP, UPDATE, Plan, Record, resolve_properties
from nimbus.deploy.provider import Provider, StackContext, physical_name
from nimbus.deploy.state import Row, Stack, StackStore
from nimbus.errors import NimbusError

log = logging.getLogger(__name__)

STACK_TYPE = "AWS::CloudFormation::Stack"
#: an AWS endpoint URL an output builds by hand (`!Sub https://${Api}.execute-api.${AWS::Region}.amazonaws.com/`)
_AWS_URL = re.compile(r"https://([a-z0-9]+)\.(execute-api|lambda-url)\.[a-z0-9-]+\.(?:amazonaws\.com|on\.aws)")


class CodeView(Mapping[str, bytes]):
    """`StackContext.code`: the code store's zips, read when a provider asks for one."""

    def __init__(self, codes: CodeStore) -> None:
        self.codes = codes

    def __getitem__(self, digest: str) -> bytes:
        path = self.codes.blob_path(digest)
        if len(digest) != 64 or not digest.isalnum() or not path.is_file():
            raise KeyError(digest)
        return path.read_bytes()

    def __iter__(self) -> Iterator[str]:
        return (p.stem for p in self.codes.blobs.glob("*.zip"))

    def __len__(self) -> int:
        return sum(1 for _ in self)


class Failed(Exception):
    """A resource's action failed: the deploy stops and rolls back; `reason` is the first cause."""

    def __init__(self, logical_id: str, reason: str) -> None:
        super().__init__(f"{logical_id}: {reason}")
        self.logical_id = logical_id
        self.reason = reason


def _reason(exc: BaseException) -> str:
    if isinstance(exc, NimbusError):
        return f"{exc.message} (Service: {exc.wire_name}; Status Code: {exc.status})"
    log.error("a provider failed unexpectedly", exc_info=exc)
    return f"Internal failure: {exc!r}"


def _reverse_order(rows: Mapping[str, Row]) -> list[str]:
    """Rows in the order to undo or delete them: dependents before what they depend on."""
    ids = set(rows)

    def deps(row: Row) -> set[str]:
        records = [r for r in (row.current, row.old, row.retire) if r is not None]
        return {d for r in records for d in r.deps} & ids

    order = waves({lid: deps(row) for lid, row in rows.items()})
    return [lid for wave in reversed(order) for lid in wave]


class Applier:
    """Carries out plans, rollbacks, clean-ups and deletions for the stacks service."""

    def __init__(self, store: StackStore, services: Services, providers: Mapping[str, Provider]) -> None:
        self.store = store
        self.services = services
        self.providers = providers

    def context(self, stack: Stack, seeds: dict[str, str] | None = None) -> StackContext:
        settings = self.services.settings
        return StackContext(self.services, stack.name, stack.stack_id, settings.region, settings.account_id,
                            CodeView(self.services.codes), seeds if seeds is not None else {})  # fmt: skip

    # ---- deploy ----
    async def deploy(self, stack: Stack, plan: Plan, known_code: Callable[[str], bool]) -> bool:
        """Apply; True when the stack reached the template, False when it was rolled back."""
        for data in plan.code.values():  # inline code: into the store, so a rollback finds it there too
            await asyncio.to_thread(self.services.codes.put, data)
        first = stack.template is None
        rows = self.store.rows(stack.name)
        live = {lid: row.current for lid, row in rows.items() if row.current is not None}
        self._live_scope(plan, live)
        seeds: dict[str, str] = {lid: rec.seed for lid, rec in live.items()}
        ctx = self.context(stack, seeds)
        try:
            for wave in plan.order:
                todo = [lid for lid in wave if plan.action(lid) != SKIP]
                results = await asyncio.gather(
                    *(self._apply_one(stack, ctx, plan, rows, live, lid, known_code) for lid in todo),
                    return_exceptions=True,
                )
                failures = [r for r in results if isinstance(r, BaseException)]
                for failure in failures:
                    if not isinstance(failure, Failed):
                        raise failure
                if failures:
                    raise failures[0]
            try:
                outputs = self._outputs(plan)
            except NimbusError as exc:  # e.g. an attribute the resource does not have: the deploy fails
                raise Failed("Outputs", exc.message) from None
        except Failed as exc:
            stack.status = "ROLLBACK_IN_PROGRESS" if first else "UPDATE_ROLLBACK_IN_PROGRESS"
            stack.reason = f"The following resource(s) failed: [{exc.logical_id}]. {exc.reason}"
            self.store.put(stack)
            self.store.event(stack, stack.name, STACK_TYPE, stack.status, stack.reason, stack.stack_id)
            await self.rollback(stack)
            return False
        committed: list[Row] = []
        for lid, row in self.store.rows(stack.name).items():
            if row.touched and row.old is not None and row.current is not None and row.current.seed != row.old.seed:
                row.retire = row.old  # replaced: the old one is deleted in the clean-up
            if lid not in plan.targets:
                row.doomed = True
            row.touched, row.old, row.pending = False, None, None
            committed.append(row)
        assert stack.pending is not None
        stack.template, stack.parameters = stack.pending["Template"], stack.pending["Parameters"]
        stack.source = stack.pending.get("Source", "")
        stack.pending, stack.outputs, stack.reason = None, outputs, ""
        stack.no_echo, stack.skipped = sorted(plan.parameters.no_echo), plan.skipped
        stack.resolved = dict(plan.parameters.values)
        stack.status = "CREATE_COMPLETE" if first else "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS"
        self.store.put(stack, committed)
        if not first:
            self.store.event(stack, stack.name, STACK_TYPE, stack.status, "", stack.stack_id)
            await self.cleanup(stack)
        else:
            self.store.event(stack, stack.name, STACK_TYPE, stack.status, "", stack.stack_id)
        return True

    def _live_scope(self, plan: Plan, live: dict[str, Record]) -> None:
        """Refs and GetAtts from the records made so far (a skipped type: its logical id)."""
        targets = plan.targets

        def ref(name: str) -> Any:
            if targets[name].type not in self.providers:
                return name
            return live[name].ref

        def att(name: str, attribute: str, where: str) -> Any:
            if targets[name].type not in self.providers:
                return f"{name}.{attribute}"
            attributes = live[name].attributes
            if attribute not in attributes:
                raise fail(where, f"resource {name} ({targets[name].type}) has no attribute {attribute!r} "
                                  f"(it has: {', '.join(sorted(attributes)) or 'none'})")  # fmt: skip
            return attributes[attribute]

        plan.scope.ref, plan.scope.att = ref, att

    async def _apply_one(self, stack: Stack, ctx: StackContext, plan: Plan, rows: dict[str, Row],
                         live: dict[str, Record], lid: str, known_code: Callable[[str], bool]) -> None:  # fmt: skip
        target = plan.targets[lid]
        provider = self.providers[target.type]
        row = rows.setdefault(lid, Row(lid))
        record = row.current
        try:
            props = resolve_properties(plan, lid, known_code)
        except NimbusError as exc:
            self.store.event(stack, lid, target.type, "CREATE_FAILED" if record is None else "UPDATE_FAILED",
                             exc.message)  # fmt: skip
            raise Failed(lid, exc.message) from None
        if record is None:
            action = CREATE
        elif record.type != target.type or provider.replaces(target.type, record.properties, props):
            action = REPLACE
        elif props == record.properties:
            return
        else:
            action = UPDATE
        if not row.touched:
            row.old, row.touched = record, True
        seed = uuid.uuid4().hex if action != UPDATE else ctx.seeds.get(lid, "")
        verb = "UPDATE" if action == UPDATE else "CREATE"
        row.pending = {"Action": action, "Seed": seed, "Properties": props, "Type": target.type}
        row.status, row.reason = f"{verb}_IN_PROGRESS", ""
        self.store.put_row(stack.name, row)
        reason = "Requested update requires the creation of a new physical resource" if action == REPLACE else ""
        self.store.event(stack, lid, target.type, row.status, reason, record.physical_id if record else "")
        ctx.seeds[lid] = seed  # type: ignore[index]
        try:
            if action == UPDATE:
                assert record is not None
                made = await provider.update(ctx, target.type, lid, record.physical_id, record.properties, props)
            else:
                made = await provider.create(ctx, target.type, lid, props)
        except Exception as exc:
            row.status, row.reason = f"{verb}_FAILED", _reason(exc)
            self.store.put_row(stack.name, row)
            self.store.event(stack, lid, target.type, row.status, row.reason)
            raise Failed(lid, row.reason) from None
        new = Record(target.type, made.physical_id, made.ref, dict(made.attributes), props,
                     tuple(sorted(target.deps)), seed, target.retain)  # fmt: skip
        row.current, row.pending, row.status = new, None, f"{verb}_COMPLETE"
        self.store.put_row(stack.name, row)
        self.store.event(stack, lid, target.type, row.status, "", made.physical_id)
        live[lid] = new

    def _outputs(self, plan: Plan) -> list[dict[str, Any]]:
        outputs = []
        for name, output in plan.outputs.items():
            entry = {"OutputKey": name, "OutputValue": plan.scope.resolve(output["Value"], f"Outputs.{name}.Value")}
            if output.get("Description"):
                entry["Description"] = output["Description"]
            if isinstance(output.get("Export"), dict):
                entry["ExportName"] = plan.scope.resolve(output["Export"].get("Name"), f"Outputs.{name}.Export")
            if isinstance(entry["OutputValue"], list):
                entry["OutputValue"] = ",".join(str(v) for v in entry["OutputValue"])
            if isinstance(entry["OutputValue"], str):
                entry["OutputValue"] = self._local_urls(entry["OutputValue"])
            outputs.append(entry)
        return outputs

    def _local_urls(self, text: str) -> str:
        """AWS endpoint URLs an output builds by hand, as the ones that work here (the HTTP API's or URL's own)."""
        endpoints = self.services.endpoints
        if endpoints is None:
            return text
        return _AWS_URL.sub(lambda m: endpoints.base(m.group(2), m.group(1)), text)

    # ---- undo, clean up, delete: from the rows alone ----
    async def _delete(self, stack: Stack, ctx: StackContext, lid: str, record: Record, *, quiet: bool = False) -> bool:
        """Delete one resource (events around it); False when it failed (the event says why)."""
        if record.retain:
            self.store.event(stack, lid, record.type, "DELETE_SKIPPED", "DeletionPolicy: Retain", record.physical_id)
            return True
        provider = self.providers.get(record.type)
        if provider is None:
            return True
        if not quiet:
            self.store.event(stack, lid, record.type, "DELETE_IN_PROGRESS", "", record.physical_id)
        try:
            await provider.delete(ctx, record.type, lid, record.physical_id, record.properties)
        except Exception as exc:
            if quiet:  # a guessed name that was never made: nothing to delete
                return True
            self.store.event(stack, lid, record.type, "DELETE_FAILED", _reason(exc), record.physical_id)
            return False
        if not quiet:
            self.store.event(stack, lid, record.type, "DELETE_COMPLETE", "", record.physical_id)
        return True

    async def _undo(self, stack: Stack, ctx: StackContext, row: Row) -> bool:
        """Put one touched resource back as it was before the deploy (or remove it when the deploy made it)."""
        pending, current, old = row.pending, row.current, row.old
        ok = True
        if pending is not None and pending["Action"] in (CREATE, REPLACE):  # cut short: it may exist by its name
            name = physical_name(stack.name, row.logical_id, pending["Seed"])
            guess = Record(pending["Type"], name, name, {}, pending["Properties"])
            ok = await self._delete(stack, ctx, row.logical_id, guess, quiet=True)
        elif pending is not None and current is not None and old is not None:  # an update cut short or failed
            ok = await self._update_back(stack, ctx, row.logical_id, current, pending["Properties"], old)
        elif current is not None and (old is None or current.seed != old.seed):
            ok = await self._delete(stack, ctx, row.logical_id, current)
        elif current is not None and old is not None and current.properties != old.properties:
            ok = await self._update_back(stack, ctx, row.logical_id, current, current.properties, old)
        return ok

    async def _update_back(self, stack: Stack, ctx: StackContext, lid: str, record: Record,
                           props: Mapping[str, Any], old: Record) -> bool:  # fmt: skip
        self.store.event(stack, lid, record.type, "UPDATE_IN_PROGRESS", "rolling back", record.physical_id)
        try:
            await self.providers[record.type].update(ctx, record.type, lid, record.physical_id, props, old.properties)
        except Exception as exc:
            self.store.event(stack, lid, record.type, "UPDATE_FAILED", _reason(exc), record.physical_id)
            return False
        self.store.event(stack, lid, record.type, "UPDATE_COMPLETE", "", record.physical_id)
        return True

    async def rollback(self, stack: Stack) -> None:
        """Undo every resource the deploy in progress touched, dependents first; the stack is back as it was."""
        first = stack.template is None
        if not stack.status.endswith("ROLLBACK_IN_PROGRESS"):
            stack.status = "ROLLBACK_IN_PROGRESS" if first else "UPDATE_ROLLBACK_IN_PROGRESS"
            self.store.put(stack)
            self.store.event(stack, stack.name, STACK_TYPE, stack.status, stack.reason, stack.stack_id)
        rows = {lid: row for lid, row in self.store.rows(stack.name).items() if row.touched}
        ctx = self.context(stack)
        all_ok = True
        for lid in _reverse_order(rows):
            row = rows[lid]
            if not await self._undo(stack, ctx, row):
                all_ok = False
                continue
            if row.old is None:
                self.store.drop_row(stack.name, lid)
            else:
                row.current, row.old, row.pending, row.touched = row.old, None, None, False
                row.status, row.reason = "UPDATE_COMPLETE", ""
                self.store.put_row(stack.name, row)
        prefix = "ROLLBACK" if first else "UPDATE_ROLLBACK"
        stack.status = f"{prefix}_COMPLETE" if all_ok else f"{prefix}_FAILED"
        stack.pending = None
        self.store.put(stack)
        self.store.event(stack, stack.name, STACK_TYPE, stack.status, "" if all_ok else stack.reason,
                         stack.stack_id)  # fmt: skip

    async def cleanup(self, stack: Stack) -> None:
        """After a successful update: delete the replaced halves and the resources gone from the template."""
        rows = self.store.rows(stack.name)
        ctx = self.context(stack)
        for lid in _reverse_order(rows):
            row = rows[lid]
            if row.retire is not None and await self._delete(stack, ctx, lid, row.retire):
                row.retire = None
                self.store.put_row(stack.name, row)
            if row.doomed and row.current is not None and await self._delete(stack, ctx, lid, row.current):
                self.store.drop_row(stack.name, lid)
        stack.status = "UPDATE_COMPLETE"
        self.store.put(stack)
        self.store.event(stack, stack.name, STACK_TYPE, stack.status, "", stack.stack_id)

    async def delete_stack(self, stack: Stack) -> bool:
        """Delete every resource of the stack, dependents first; True when the stack is gone."""
        if stack.status != "DELETE_IN_PROGRESS":
            stack.status, stack.reason = "DELETE_IN_PROGRESS", "User Initiated"
            self.store.put(stack)
            self.store.event(stack, stack.name, STACK_TYPE, stack.status, stack.reason, stack.stack_id)
        rows = self.store.rows(stack.name)
        ctx = self.context(stack)
        failed = []
        for lid in _reverse_order(rows):
            row = rows[lid]
            if row.touched and not await self._undo(stack, ctx, row):  # a rollback that did not finish
                failed.append(lid)
                continue
            records = [r for r in (row.retire, row.old if row.touched else row.current) if r is not None]
            if all([await self._delete(stack, ctx, lid, r) for r in records]):
                self.store.drop_row(stack.name, lid)
            else:
                failed.append(lid)
        if failed:
            stack.status, stack.reason = "DELETE_FAILED", f"The following resource(s) failed to delete: {failed}"
            self.store.put(stack)
            self.store.event(stack, stack.name, STACK_TYPE, stack.status, stack.reason, stack.stack_id)
            return False
        stack.status, stack.reason, stack.outputs = "DELETE_COMPLETE", "", []
        self.store.put(stack)  # kept with its events (not listed, not described): `events` shows how it ended
        self.store.event(stack, stack.name, STACK_TYPE, stack.status, "", stack.stack_id)
        return True
