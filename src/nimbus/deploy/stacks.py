"""The stacks service: deploy, describe, delete, events, in the server. It owns one task per stack operation (at
most one at a time per stack), and at start-up it finishes what a stopped or killed server left in progress: a
deploy is rolled back, a clean-up or a deletion goes on.

A deploy is planned (and refused, naming what is wrong) before it is accepted; the answer carries the changes and
the work goes on in the background, its progress in the stack's events.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from nimbus.api.services import Services
from nimbus.deploy.apply import Applier
from nimbus.deploy.package import package, transformed
from nimbus.deploy.plan import SKIP, UNCHANGED, Plan, Record, StackInfo, make_plan
from nimbus.deploy.provider import Provider
from nimbus.deploy.state import Stack, StackStore
from nimbus.deploy.template import check_shape
from nimbus.errors import NimbusError, ValidationError

log = logging.getLogger(__name__)

_NAME = re.compile(r"[A-Za-z][-A-Za-z0-9]{0,127}")
#: statuses that mean a previous operation did not finish its rollback (the next deploy retries it first)
_ROLLBACK_FAILED = ("ROLLBACK_FAILED", "UPDATE_ROLLBACK_FAILED")


def check_name(name: str) -> str:
    if not _NAME.fullmatch(name):
        raise ValidationError(
            f"1 validation error detected: Value '{name}' at 'stackName' failed to satisfy constraint: Member must "
            "satisfy regular expression pattern: [a-zA-Z][-a-zA-Z0-9]* and have length less than or equal to 128"
        )
    return name


def describe_changes(plan: Plan) -> list[dict[str, str]]:
    return [{"LogicalResourceId": c.logical_id, "ResourceType": c.type, "Action": c.action, "Details": c.detail}
            for c in plan.changes if c.action != UNCHANGED]  # fmt: skip


class Stacks:
    def __init__(self, services: Services, engine: Engine, providers: Mapping[str, Provider]) -> None:
        self.services = services
        self.store = StackStore(engine)
        self.providers = providers
        self.applier = Applier(self.store, services, providers)
        #: the operation in progress per stack (a deploy, rollback, clean-up or deletion)
        self._tasks: dict[str, asyncio.Task[None]] = {}

    # ---- lifecycle ----
    def start(self) -> None:
        """Finish what was left in progress: roll a deploy back, go on with a clean-up or a deletion."""
        for name in self.store.names():
            stack = self.store.get(name)
            if stack is None or not stack.status.endswith("IN_PROGRESS"):
                continue
            log.warning("stack %s was left %s: %s", name, stack.status,
                        "deleting it" if stack.status == "DELETE_IN_PROGRESS" else "finishing it")  # fmt: skip
            if stack.status == "DELETE_IN_PROGRESS":
                self._run(name, self._delete(stack))
            elif stack.status.endswith("CLEANUP_IN_PROGRESS"):
                self._run(name, self.applier.cleanup(stack))
            else:
                if not stack.status.endswith("ROLLBACK_IN_PROGRESS"):
                    stack.reason = "Nimbus stopped during the deploy: rolled back at its next start"
                self._run(name, self.applier.rollback(stack))

    async def stop(self) -> None:
        """Cancel operations in progress: their stacks are finished at the next start (as after a crash)."""
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def _run(self, name: str, work: Any) -> None:
        task = asyncio.create_task(work, name=f"stack-{name}")
        self._tasks[name] = task

        def done(t: asyncio.Task[None]) -> None:
            if self._tasks.get(name) is t:
                del self._tasks[name]
            if not t.cancelled() and t.exception() is not None:
                log.error("stack %s: the operation failed", name, exc_info=t.exception())

        task.add_done_callback(done)

    async def wait_idle(self, name: str) -> None:
        """Until the stack's operation in progress (if any) has ended."""
        task = self._tasks.get(name)
        if task is not None:
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await asyncio.shield(task)

    # ---- reads ----
    def get(self, name: str, *, deleted_ok: bool = False) -> Stack:
        stack = self.store.get(name)
        if stack is None or (stack.status == "DELETE_COMPLETE" and not deleted_ok):
            raise ValidationError(f"Stack with id {name} does not exist")
        return stack

    def names(self) -> list[str]:
        """The stacks that exist (a deleted one is kept, with its events, until its name is used again)."""
        return [n for n in self.store.names() if (s := self.store.get(n)) and s.status != "DELETE_COMPLETE"]

    def live_code(self) -> set[str]:
        return self.store.code_in_use()

    def _exports(self, own: str) -> Any:
        def lookup(export: str) -> Any:
            for name in self.store.names():
                stack = self.store.get(name)
                for output in stack.outputs if stack and name != own else []:
                    if output.get("ExportName") == export:
                        return output["OutputValue"]
            raise ValidationError(f"No export named {export} found")

        return lookup

    def _known_code(self, digest: str) -> bool:
        return len(digest) == 64 and self.services.codes.blob_path(digest).is_file()

    # ---- changes ----
    def plan(self, name: str, template: Any, parameters: Mapping[str, str], skip_unsupported: bool) -> Plan:
        """The changes a deploy would make (nothing applied): ValidationError for a template that cannot be."""
        check_name(name)
        template = check_shape(template)
        stack = self.store.get(name)
        settings = self.services.settings
        stack_id = stack.stack_id if stack else f"arn:aws:cloudformation:{settings.region}:{settings.account_id}:" \
                                                f"stack/{name}/{uuid.uuid4()}"  # fmt: skip
        previous: dict[str, Record] = {}
        if stack is not None and stack.template is not None and stack.status != "DELETE_COMPLETE":
            previous = {lid: row.current for lid, row in self.store.rows(name).items() if row.current is not None}
        info = StackInfo(name, stack_id, settings.region, settings.account_id)
        return make_plan(template, parameters, info, previous, self.providers, skip_unsupported=skip_unsupported,
                         known_code=self._known_code, exports=self._exports(name))  # fmt: skip

    def preview(self, name: str, template: Any, parameters: Mapping[str, str],
                skip_unsupported: bool) -> tuple[Plan, dict[str, Any]]:  # fmt: skip
        """The plan, and what the API answers of it: the changes, the skipped resources, and NoChanges (the same
        template and parameters as the stack's, and no resource to change: a deploy touches nothing)."""
        plan = self.plan(name, template, parameters, skip_unsupported)
        stack = self.store.get(name)
        if stack is not None and stack.status == "DELETE_COMPLETE":
            stack = None
        changes = describe_changes(plan)
        same = (stack is not None and stack.template == template and stack.parameters == dict(parameters)
                and stack.status not in ("ROLLBACK_COMPLETE", "DELETE_COMPLETE"))  # fmt: skip
        no_changes = same and all(c["Action"] == SKIP for c in changes)
        stack_id = stack.stack_id if stack else plan.scope.pseudo["AWS::StackId"]
        answer = {"StackId": stack_id, "Changes": [] if no_changes else changes, "NoChanges": no_changes,
                  "Skipped": plan.skipped}  # fmt: skip
        return plan, answer

    def _busy(self, name: str, stack: Stack | None, verb: str) -> None:
        if name in self._tasks or (stack is not None and stack.status.endswith("IN_PROGRESS")):
            status = stack.status if stack else "IN_PROGRESS"
            raise ValidationError(f"Stack:{stack.stack_id if stack else name} is in {status} state and can not "
                                  f"be {verb}.")  # fmt: skip

    def unchanged(self, name: str, source: str) -> bool:
        """Whether `source` is what the stack last deployed with success (nothing to transform, plan or apply)."""
        stack = self.store.get(name)
        done = ("CREATE_COMPLETE", "UPDATE_COMPLETE")
        return bool(source) and stack is not None and stack.status in done and stack.source == source

    async def deploy(self, name: str, template: Any, parameters: Mapping[str, str],
                     skip_unsupported: bool = False, source: str = "") -> dict[str, Any]:  # fmt: skip
        """Plan and, unless nothing changes, start applying; the plan's changes either way."""
        check_name(name)
        stack = self.store.get(name)
        if stack is not None and stack.status == "DELETE_COMPLETE":
            stack = None
        self._busy(name, stack, "updated")
        if stack is not None and stack.status in _ROLLBACK_FAILED:
            await self.applier.rollback(stack)  # finish the undo first: the plan starts from a consistent state
            stack = self.store.get(name)
            assert stack is not None
            if stack.status in _ROLLBACK_FAILED:
                raise ValidationError(f"Stack:{stack.stack_id} is in {stack.status} state: {stack.reason}")
        plan, preview = self.preview(name, template, parameters, skip_unsupported)
        if preview["NoChanges"]:
            if stack is not None and source and stack.source != source:  # the same template from other files
                stack.source = source
                self.store.put(stack)
            return preview
        if stack is None or stack.status in ("ROLLBACK_COMPLETE", "DELETE_COMPLETE"):  # nothing of it exists
            self.store.remove(name)
            stack = Stack(name, plan.scope.pseudo["AWS::StackId"], "CREATE_IN_PROGRESS")
        else:
            stack.status = "UPDATE_IN_PROGRESS"
        stack.reason = "User Initiated"
        stack.pending = {"Template": template, "Parameters": dict(parameters), "SkipUnsupported": skip_unsupported,
                         "Source": source}  # fmt: skip
        self.store.put(stack)
        self.store.event(stack, name, "AWS::CloudFormation::Stack", stack.status, stack.reason, stack.stack_id)
        self._run(name, self._deploy(stack, plan))
        return preview | {"StackId": stack.stack_id}

    async def deploy_folder(self, folder: Path, name: str) -> str:
        """`nimbus serve --deploy DIR` (`make run`): a folder's template.yaml deployed as `nimbus deploy` would,
        and waited for; the stack's status (UNCHANGED when it was deployed from the same files already). A stack
        deployed since from other files or parameters is the user's: left as it is, as the function examples are."""
        region = self.services.settings.region
        packaged = await asyncio.to_thread(package, folder / "template.yaml", {})
        for data in packaged.zips.values():
            await asyncio.to_thread(self.services.codes.put, data)
        stack = self.store.get(name)
        if self.unchanged(name, packaged.source):
            if stack is not None and stack.seeded != packaged.source:  # deployed from these files by hand
                stack.seeded = packaged.source
                self.store.put(stack)
            return "UNCHANGED"
        if stack is not None and stack.seeded and stack.source != stack.seeded and stack.status != "DELETE_COMPLETE":
            return ("not redeployed (deployed since from other files or parameters); `nimbus stack delete "
                    f"{name}` and a restart bring the example back")  # fmt: skip
        packaged = await asyncio.to_thread(transformed, packaged, region, {})
        await self.deploy(name, packaged.template, {}, source=packaged.source)
        await self.wait_idle(name)
        stack = self.get(name)
        if stack.source == packaged.source:  # applied (or already so): what a later start compares with
            stack.seeded = packaged.source
            self.store.put(stack)
        return f"{stack.status} {stack.reason}".strip()

    async def deploy_folders(self, root: Path) -> list[str]:
        """`root` itself when it holds a template.yaml, else each subfolder holding one, deployed as a stack of the
        folder's name; the names deployed. A refused template is logged, and the others go on (the server starts)."""

        def found() -> list[Path]:
            if (root / "template.yaml").is_file():
                return [root.resolve()]
            return sorted(p for p in root.iterdir() if (p / "template.yaml").is_file())

        folders = await asyncio.to_thread(found)
        names = []
        for folder in folders:
            try:
                status = await self.deploy_folder(folder, folder.name)
            except NimbusError as exc:
                log.error("stack %s from %s not deployed: %s", folder.name, folder, exc.message)
                continue
            kept = status.startswith("not redeployed")  # a warning, as for a kept function example
            log.log(logging.WARNING if kept else logging.INFO, "stack %s from %s: %s", folder.name, folder, status)
            names.append(folder.name)
        return names

    async def _deploy(self, stack: Stack, plan: Plan) -> None:
        try:
            await self.applier.deploy(stack, plan, self._known_code)
        except Exception as exc:  # a failure outside any provider call (a bug): roll back, never stay in progress
            log.error("stack %s: the deploy failed unexpectedly; rolling back", stack.name, exc_info=exc)
            stack.reason = f"Internal failure: {exc!r}"
            await self.applier.rollback(stack)

    def delete(self, name: str) -> dict[str, Any]:
        stack = self.get(name)
        self._busy(name, stack, "deleted")
        self._run(name, self._delete(stack))
        return {"StackId": stack.stack_id}

    async def _delete(self, stack: Stack) -> None:
        await self.applier.delete_stack(stack)
