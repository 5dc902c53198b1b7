"""A minimal CloudWatch Logs API (JSON 1.1, `X-Amz-Target: Logs_20140328.<Op>`) over the log store, so that
`aws logs filter-log-events`, boto3's `logs` client and `nimbus logs` read function logs unchanged."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
from collections.abc import Callable, Generator
from typing import Any

from nimbus.api.http import Request, Response
from nimbus.errors import InvalidParameter, ResourceNotFound, UnknownOperation
from nimbus.logs.filter_pattern import FilterPattern, compile_pattern
from nimbus.logs.store import LogEvent, LogStore

TARGET_PREFIX = "Logs_20140328."
PAGE = 10_000
#: FilterLogEvents ends a page after reading this many events for a pattern the store cannot filter alone (JSON,
#: space-delimited, ?-terms, -terms, %regex%), with or without matches, so that one request stays short
SCAN_LIMIT = 50_000


def _event(e: LogEvent, *, filtered: bool) -> dict[str, Any]:
    out: dict[str, Any] = {"timestamp": e.timestamp, "message": e.message, "ingestionTime": e.ingested}
    if filtered:
        out.update(logStreamName=e.stream, eventId=str(e.id))
    return out


def _int(body: dict[str, Any], key: str) -> int | None:
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool):
        raise InvalidParameter(f"{key} must be an integer.")
    return value


def _token(body: dict[str, Any], key: str = "nextToken") -> int:
    raw = body.get(key)
    if raw is None:
        return 0
    if not isinstance(raw, str) or not raw.lstrip("fb/").isdigit():
        raise InvalidParameter("The specified nextToken is invalid.")
    return int(raw.lstrip("fb/"))


class LogsApi:
    def __init__(self, store: LogStore) -> None:
        self.store = store

    async def handle(self, req: Request, target: str) -> Response:
        op = target[len(TARGET_PREFIX) :] if target.startswith(TARGET_PREFIX) else ""
        handler = {
            "DescribeLogGroups": self.describe_log_groups,
            "DescribeLogStreams": self.describe_log_streams,
            "GetLogEvents": self.get_log_events,
            "FilterLogEvents": self.filter_log_events,
        }.get(op)
        if handler is None:
            raise UnknownOperation(f"Nimbus's CloudWatch Logs API does not implement {target!r}.")
        await self.store.flush()  # read-your-writes: what an invoke logged is visible right after it returns
        body = req.json()
        out = await asyncio.to_thread(handler, body)
        return Response(200, json.dumps(out).encode(), [(b"content-type", b"application/x-amz-json-1.1")])

    def _group(self, body: dict[str, Any]) -> str:
        group = body.get("logGroupName") or body.get("logGroupIdentifier")
        if not isinstance(group, str) or not group:
            raise InvalidParameter("logGroupName is required.")
        if not self.store.has_group(group):
            raise ResourceNotFound("The specified log group does not exist.")
        return group

    def describe_log_groups(self, body: dict[str, Any]) -> dict[str, Any]:
        prefix = body.get("logGroupNamePrefix") or ""
        made = {g: v for g, v in self.store.made_groups().items() if g.startswith(prefix)}
        found = {g: (first, size) for g, first, size in self.store.groups(prefix)}
        groups = []
        for g in sorted(set(found) | set(made)):
            created, retention = made.get(g, (found.get(g, (0, 0))[0], None))
            group: dict[str, Any] = {"logGroupName": g, "creationTime": created,
                                     "storedBytes": found.get(g, (0, 0))[1], "arn": f"log-group:{g}:*"}  # fmt: skip
            if retention is not None:
                group["retentionInDays"] = retention
            groups.append(group)
        return {"logGroups": groups}

    def describe_log_streams(self, body: dict[str, Any]) -> dict[str, Any]:
        group = self._group(body)
        rows = self.store.streams(group, body.get("logStreamNamePrefix") or "")
        if body.get("orderBy") == "LastEventTime":
            rows.sort(key=lambda r: r[2], reverse=bool(body.get("descending")))
        elif body.get("descending"):
            rows.reverse()
        limit = _int(body, "limit") or 50
        start = _token(body)
        page = rows[start : start + limit]
        out: dict[str, Any] = {
            "logStreams": [
                {
                    "logStreamName": name,
                    "creationTime": first,
                    "firstEventTimestamp": first,
                    "lastEventTimestamp": last,
                    "lastIngestionTime": ingested,
                }
                for name, first, last, ingested in page
            ]
        }
        if start + limit < len(rows):
            out["nextToken"] = str(start + limit)
        return out

    def get_log_events(self, body: dict[str, Any]) -> dict[str, Any]:
        group = self._group(body)
        stream = body.get("logStreamName")
        if not isinstance(stream, str):
            raise InvalidParameter("logStreamName is required.")
        limit = min(_int(body, "limit") or PAGE, PAGE)
        after = _token(body)
        backwards = not body.get("startFromHead") and not body.get("nextToken")
        events = self.store.query(
            group, streams=[stream], start=_int(body, "startTime"), end=_int(body, "endTime"),
            after_id=after, limit=limit, descending=backwards,
        )  # fmt: skip
        if backwards:
            events.reverse()
        last = events[-1].id if events else after
        return {
            "events": [_event(e, filtered=False) for e in events],
            "nextForwardToken": f"f/{last}",
            "nextBackwardToken": f"b/{events[0].id if events else after}",
        }

    def filter_log_events(self, body: dict[str, Any]) -> dict[str, Any]:
        """Events matching `filterPattern` (CloudWatch's syntax, compiled once per request), oldest first.

        A page ends after `limit` matches, or after SCAN_LIMIT stored events were read without filling it; then
        nextToken resumes after the last event read, as CloudWatch pages with few or no events while it searches.
        """
        group = self._group(body)
        names = body.get("logStreamNames")
        prefix = body.get("logStreamNamePrefix")
        streams = list(names) if isinstance(names, list) else None
        if prefix:
            streams = [s for s, *_ in self.store.streams(group, prefix)] or ["\0none"]
        raw = body.get("filterPattern") or ""
        if not isinstance(raw, str) or len(raw) > 1024:
            raise InvalidParameter("filterPattern must be a string of at most 1024 characters.")
        pattern = compile_pattern(raw)
        limit = min(_int(body, "limit") or PAGE, PAGE)
        after = _token(body)
        where: dict[str, Any] = dict(
            streams=streams, start=_int(body, "startTime"), end=_int(body, "endTime"), after_id=after,
            contains=pattern.required,
        )  # fmt: skip
        if pattern.exact:  # the store's own filter is the whole pattern: one query
            matched, after = self.store.query(group, limit=limit + 1, **where), 0
        else:
            matched, after = self._scan(functools.partial(self.store.scan, group, **where), pattern, limit)
        out: dict[str, Any] = {"events": [_event(e, filtered=True) for e in matched[:limit]], "searchedLogStreams": []}
        if len(matched) > limit:
            out["nextToken"] = str(matched[limit - 1].id)
        elif after:
            out["nextToken"] = str(after)
        return out

    @staticmethod
    def _scan(
        scan: Callable[..., Generator[LogEvent, None, None]], pattern: FilterPattern, limit: int
    ) -> tuple[list[LogEvent], int]:
        """Up to `limit` + 1 matches, reading at most SCAN_LIMIT events; with the id of the last event read when
        that cut the search short (else 0)."""
        matched: list[LogEvent] = []
        read = last = 0
        with contextlib.closing(scan(limit=SCAN_LIMIT)) as found:
            for event in found:
                read, last = read + 1, event.id
                if pattern.matches(event.message):
                    matched.append(event)
                    if len(matched) > limit:
                        break
        return matched, (last if read >= SCAN_LIMIT and len(matched) <= limit else 0)
