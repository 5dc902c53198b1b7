"""Saved test events: named JSON payloads per function, kept durably until deleted (the Lambda console's private
test events: up to MAX_PER_FUNCTION per function, names of 1 to 25 letters, digits, hyphens or underscores).

The console's Test tab saves and picks them; `nimbus invoke NAME --event-name SAVED` invokes with one.
"""

from __future__ import annotations

import asyncio
import re
import time

from sqlalchemy import Engine, delete, insert, select, update

from nimbus.errors import InvalidParameterValue, ResourceNotFound
from nimbus.protocol import json_text
from nimbus.store.schema import test_events as rows

MAX_PER_FUNCTION = 10
#: a payload's most bytes: Lambda's synchronous payload limit
MAX_PAYLOAD = 6 * 1024 * 1024
NAME_RE = re.compile(r"[A-Za-z0-9_-]{1,25}")


def check(name: str, payload: str) -> None:
    if not NAME_RE.fullmatch(name):
        raise InvalidParameterValue("A test event name has 1 to 25 characters, each a letter, a digit, - or _.")
    if len(payload.encode()) > MAX_PAYLOAD:
        raise InvalidParameterValue(f"A test event's payload must be at most {MAX_PAYLOAD} bytes.")
    try:
        json_text.loads(payload)
    except ValueError as exc:
        raise InvalidParameterValue(f"A test event's payload must be JSON: {exc}") from None


class TestEvents:
    __test__ = False  # not a pytest class, whatever its name

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._lock = asyncio.Lock()

    async def names(self, function: str) -> list[str]:
        q = select(rows.c.name).where(rows.c.function == function).order_by(rows.c.name)
        return await asyncio.to_thread(self._all, q)

    async def get(self, function: str, name: str) -> str:
        q = select(rows.c.payload).where(rows.c.function == function, rows.c.name == name)
        found = await asyncio.to_thread(self._all, q)
        if not found:
            raise ResourceNotFound(f"Test event not found: {function}/{name}")
        return found[0]

    async def put(self, function: str, name: str, payload: str) -> None:
        check(name, payload)
        async with self._lock:
            await asyncio.to_thread(self._put, function, name, payload)

    async def delete(self, function: str, name: str) -> None:
        await asyncio.to_thread(self._run, delete(rows).where(rows.c.function == function, rows.c.name == name))

    async def function_deleted(self, function: str) -> None:
        await asyncio.to_thread(self._run, delete(rows).where(rows.c.function == function))

    def _put(self, function: str, name: str, payload: str) -> None:
        now = int(time.time() * 1000)
        with self.engine.begin() as conn:
            names = list(conn.execute(select(rows.c.name).where(rows.c.function == function)).scalars())
            key = (rows.c.function == function) & (rows.c.name == name)
            if name in names:
                conn.execute(update(rows).where(key).values(payload=payload, modified_ms=now))
                return
            if len(names) >= MAX_PER_FUNCTION:
                raise InvalidParameterValue(f"A function has at most {MAX_PER_FUNCTION} saved test events.")
            conn.execute(insert(rows).values(function=function, name=name, payload=payload, modified_ms=now))

    def _all(self, q: object) -> list[str]:
        with self.engine.connect() as conn:
            return [str(v) for v in conn.execute(q).scalars()]  # type: ignore[call-overload]

    def _run(self, statement: object) -> None:
        with self.engine.begin() as conn:
            conn.execute(statement)  # type: ignore[call-overload]
