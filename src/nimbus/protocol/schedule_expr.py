"""Schedule expressions as EventBridge and EventBridge Scheduler spell them, and when they next fire.

Three forms:

- ``rate(N unit)``: unit ``minute``/``hour``/``day`` when N is 1, ``minutes``/``hours``/``days`` otherwise, N ≥ 1.
  A rate fires every N units from an anchor (the caller's: Scheduler's StartDate; by default the epoch, so
  ``rate(5 minutes)`` fires on the five-minute boundaries of UTC, the same across restarts).
- ``cron(Minutes Hours Day-of-month Month Day-of-week Year)``: EventBridge's six fields, evaluated in the
  schedule's time zone (UTC by default). Ranges 0-59, 0-23, 1-31, 1-12 or JAN-DEC, 1-7 or SUN-SAT, 1970-2199;
  ``,`` lists, ``-`` ranges (a range may wrap: ``22-2`` hours, ``FRI-MON``), ``*`` and ``/`` steps;
  exactly one of Day-of-month / Day-of-week is ``?``; ``L`` (last day of the month; in Day-of-week, ``L`` alone is
  Saturday and ``6L`` the last Friday of the month), ``W`` (``15W``: the weekday nearest the 15th within the
  month; ``LW``: the last weekday of the month) and ``#`` (``3#2``: the second Tuesday).
- ``at(yyyy-mm-ddThh:mm:ss)``: one time, in the schedule's time zone; Scheduler only (``allow_at=True``).

Daylight saving time: a local time that does not exist (the hour skipped in spring) fires at the same wall-clock
offset after the jump (02:30 → 03:30), once; a local time that happens twice (the hour repeated in autumn) fires
once, at its first occurrence.

Errors are `ValidationError` with the detail; the API layers answer in their service's own wording.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from collections.abc import Iterator
from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from nimbus.errors import ValidationError

__all__ = ["At", "Cron", "Expression", "Rate", "next_fire", "parse", "parse_timezone"]

MIN_YEAR = 1970
MAX_YEAR = 2199

_UNITS = {"minute": 60, "hour": 3600, "day": 86400}
_RATE = re.compile(r"rate\((\d+) (minute|minutes|hour|hours|day|days)\)\Z")
_AT = re.compile(r"at\((\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})\)\Z")
_CRON = re.compile(r"cron\((.*)\)\Z", re.DOTALL)
_MONTHS = dict(
    zip(("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"), range(1, 13), strict=True)
)
_DAYS = {"SUN": 1, "MON": 2, "TUE": 3, "WED": 4, "THU": 5, "FRI": 6, "SAT": 7}
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


@dataclass(frozen=True)
class Rate:
    value: int
    unit: str  # "minutes" | "hours" | "days", whatever the spelling

    @property
    def seconds(self) -> int:
        return self.value * _UNITS[self.unit.rstrip("s")]


@dataclass(frozen=True)
class At:
    when: dt.datetime  # naive: local time in the schedule's zone


@dataclass(frozen=True)
class DaySpec:
    """One of the two day fields after parsing: plain days (a set), or one of the special forms."""

    days: frozenset[int] = frozenset()
    last: bool = False  # L: the last day of the month (dom), or `last_weekday` below (dow)
    nearest_weekday: int = 0  # nW (dom); with last=True: LW
    nth: tuple[int, int] = (0, 0)  # (weekday 1-7, n 1-5): d#n (dow)
    last_weekday: int = 0  # dL (dow): the last such weekday of the month


@dataclass(frozen=True)
class Cron:
    text: str
    minutes: frozenset[int]
    hours: frozenset[int]
    dom: DaySpec | None  # None: "?"
    months: frozenset[int]
    dow: DaySpec | None
    years: frozenset[int]


Expression = Rate | Cron | At


def _bad(text: str, why: str) -> ValidationError:
    return ValidationError(f"Invalid schedule expression {text!r}: {why}")


def parse(text: str, *, allow_at: bool = False) -> Expression:
    """Parse and validate; `ValidationError` naming what is wrong. `allow_at`: the caller accepts `at(...)`."""
    if not isinstance(text, str) or not text:
        raise ValidationError("Invalid schedule expression: it is empty")
    if text.startswith("rate("):
        m = _RATE.match(text)
        if m is None:
            raise _bad(text, "expected rate(N minute|minutes|hour|hours|day|days)")
        value, unit = int(m.group(1)), m.group(2)
        if value < 1:
            raise _bad(text, "the value must be at least 1")
        if (value == 1) != (not unit.endswith("s")):
            raise _bad(text, f"use the singular unit with 1 and the plural otherwise, not {value} {unit}")
        return Rate(value, unit if unit.endswith("s") else unit + "s")
    if text.startswith("at("):
        if not allow_at:
            raise _bad(text, "at() expressions are for one-time schedules of EventBridge Scheduler only")
        m = _AT.match(text)
        if m is None:
            raise _bad(text, "expected at(yyyy-mm-ddThh:mm:ss)")
        try:
            y, mo, d, h, mi, sec = (int(g) for g in m.groups())
            when = dt.datetime(y, mo, d, h, mi, sec)
        except ValueError as e:
            raise _bad(text, f"not a date and time ({e})") from None
        return At(when)
    m = _CRON.match(text)
    if m is None:
        forms = "rate(...), cron(...) or at(...)" if allow_at else "rate(...) or cron(...)"
        raise _bad(text, f"expected {forms}")
    return _parse_cron(text, m.group(1))


def _parse_cron(text: str, body: str) -> Cron:
    fields = body.split()
    if len(fields) != 6:
        raise _bad(text, f"cron() takes 6 fields (minutes hours day-of-month month day-of-week year): {len(fields)}")
    minute, hour, dom, month, dow, year = fields
    if (dom == "?") == (dow == "?"):
        raise _bad(text, "exactly one of day-of-month and day-of-week must be '?'")
    return Cron(
        text=text,
        minutes=_values(text, "minutes", minute, 0, 59, {}),
        hours=_values(text, "hours", hour, 0, 23, {}),
        dom=None if dom == "?" else _dom(text, dom),
        months=_values(text, "month", month, 1, 12, _MONTHS),
        dow=None if dow == "?" else _dow(text, dow),
        years=_values(text, "year", year, MIN_YEAR, MAX_YEAR, {}),
    )


def _number(text: str, field: str, token: str, lo: int, hi: int, names: dict[str, int]) -> int:
    value = names.get(token.upper()) if names else None
    if value is None:
        if not token.isdigit():
            raise _bad(text, f"{field} value {token!r} is not a number" + (" or a name" if names else ""))
        value = int(token)
    if not lo <= value <= hi:
        raise _bad(text, f"{field} value {value} is outside {lo}-{hi}")
    return value


def _values(text: str, field: str, spec: str, lo: int, hi: int, names: dict[str, int]) -> frozenset[int]:
    """A field of plain values: `*`, `a`, `a-b` (wrapping when b < a), `a/s`, `*/s`, `a-b/s`, joined by `,`."""
    out: set[int] = set()
    for part in spec.split(","):
        if not part:
            raise _bad(text, f"{field} has an empty list item")
        base, slash, step_s = part.partition("/")
        step = 1
        if slash:
            if not step_s.isdigit() or int(step_s) < 1:
                raise _bad(text, f"{field} step {step_s!r} is not a positive number")
            step = int(step_s)
        if base == "*":
            start, end = lo, hi
        elif "-" in base:
            a, _, b = base.partition("-")
            start, end = _number(text, field, a, lo, hi, names), _number(text, field, b, lo, hi, names)
        else:
            start = _number(text, field, base, lo, hi, names)
            end = hi if slash else start
        span = (end - start) % (hi - lo + 1)
        out.update(lo + (start - lo + i) % (hi - lo + 1) for i in range(0, span + 1, step))
    return frozenset(out)


def _dom(text: str, spec: str) -> DaySpec:
    upper = spec.upper()
    if upper == "L":
        return DaySpec(last=True)
    if upper == "LW":
        return DaySpec(last=True, nearest_weekday=-1)
    if upper.endswith("W"):
        return DaySpec(nearest_weekday=_number(text, "day-of-month", upper[:-1], 1, 31, {}))
    if "L" in upper or "W" in upper or "#" in upper:
        raise _bad(text, f"day-of-month {spec!r}: L and W stand alone (L, LW, nW); # is for day-of-week")
    return DaySpec(days=_values(text, "day-of-month", spec, 1, 31, {}))


def _dow(text: str, spec: str) -> DaySpec:
    upper = spec.upper()
    if upper == "L":
        return DaySpec(days=frozenset({7}))
    if "#" in upper:
        day, _, n = upper.partition("#")
        weekday = _number(text, "day-of-week", day, 1, 7, _DAYS)
        if not n.isdigit() or not 1 <= int(n) <= 5:
            raise _bad(text, f"day-of-week {spec!r}: the # occurrence must be 1-5")
        return DaySpec(nth=(weekday, int(n)))
    if upper.endswith("L"):
        return DaySpec(last_weekday=_number(text, "day-of-week", upper[:-1], 1, 7, _DAYS))
    return DaySpec(days=_values(text, "day-of-week", spec, 1, 7, _DAYS))


def parse_timezone(name: str | None) -> ZoneInfo | None:
    """A ScheduleExpressionTimezone: an IANA name (`ValidationError` when unknown); None/"" for UTC."""
    if not name:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValidationError(f"Invalid time zone {name!r}: not an IANA time zone name") from None


def _aws_weekday(day: dt.date) -> int:
    """1 (Sunday) .. 7 (Saturday), as cron's day-of-week counts."""
    return (day.weekday() + 1) % 7 + 1


def _days_in(expr: Cron, year: int, month: int) -> list[int]:
    """The days of `year`-`month` the cron's day fields select, ascending."""
    ndays = calendar.monthrange(year, month)[1]
    if expr.dom is not None:
        spec = expr.dom
        if spec.last and spec.nearest_weekday == -1:
            return [_nearest_weekday(year, month, ndays, ndays)]
        if spec.last:
            return [ndays]
        if spec.nearest_weekday:
            if spec.nearest_weekday > ndays:
                return []
            return [_nearest_weekday(year, month, spec.nearest_weekday, ndays)]
        return sorted(d for d in spec.days if d <= ndays)
    dow = expr.dow
    assert dow is not None
    spec = dow
    first = _aws_weekday(dt.date(year, month, 1))
    if spec.nth != (0, 0):
        weekday, n = spec.nth
        day = 1 + (weekday - first) % 7 + 7 * (n - 1)
        return [day] if day <= ndays else []
    if spec.last_weekday:
        last = _aws_weekday(dt.date(year, month, ndays))
        return [ndays - (last - spec.last_weekday) % 7]
    return [d for d in range(1, ndays + 1) if (first - 1 + d - 1) % 7 + 1 in spec.days]


def _nearest_weekday(year: int, month: int, day: int, ndays: int) -> int:
    """Quartz's W: the weekday nearest `day` without leaving the month (the 1st on a Saturday → Monday the 3rd)."""
    weekday = dt.date(year, month, day).weekday()  # Monday 0 .. Sunday 6
    if weekday == 5:  # Saturday: Friday before, unless that leaves the month
        return day - 1 if day > 1 else day + 2
    if weekday == 6:  # Sunday: Monday after, unless that leaves the month
        return day + 1 if day < ndays else day - 2
    return day


def _local_candidates(expr: Cron, start: dt.datetime) -> Iterator[dt.datetime]:
    """Naive local times the cron selects, ascending, from `start` (naive, minute-truncated) on."""
    minutes, hours = sorted(expr.minutes), sorted(expr.hours)
    for year in sorted(y for y in expr.years if y >= start.year):
        for month in sorted(expr.months):
            if (year, month) < (start.year, start.month):
                continue
            for day in _days_in(expr, year, month):
                if (year, month, day) < (start.year, start.month, start.day):
                    continue
                for hour in hours:
                    for minute in minutes:
                        candidate = dt.datetime(year, month, day, hour, minute)
                        if candidate >= start:
                            yield candidate


def _to_utc(local: dt.datetime, tz: ZoneInfo | None) -> dt.datetime:
    """A naive local time in `tz` as UTC. fold=0: a skipped time is read with the offset before the jump (so it
    lands after the jump), a repeated time is its first occurrence."""
    if tz is None:
        return local.replace(tzinfo=dt.UTC)
    return local.replace(tzinfo=tz, fold=0).astimezone(dt.UTC)


def _as_utc(when: dt.datetime) -> dt.datetime:
    return when.replace(tzinfo=dt.UTC) if when.tzinfo is None else when.astimezone(dt.UTC)


def next_fire(
    expr: Expression | str,
    after: dt.datetime,
    tz: ZoneInfo | None = None,
    *,
    anchor: dt.datetime | None = None,
    allow_at: bool = True,
) -> dt.datetime | None:
    """The first fire time strictly after `after`, in UTC (aware); None when there is none (an `at` in the past,
    a cron whose years have ended). `after` naive is read as UTC. `tz` is the zone cron and at() are read in.
    `anchor`: where a rate's intervals start (the epoch by default); a rate fires at anchor + k·period, k ≥ 0."""
    if isinstance(expr, str):
        expr = parse(expr, allow_at=allow_at)
    after = _as_utc(after)
    if isinstance(expr, Rate):
        base = _EPOCH if anchor is None else _as_utc(anchor)
        period = dt.timedelta(seconds=expr.seconds)
        if after < base:
            return base
        return base + period * ((after - base) // period + 1)
    if isinstance(expr, At):
        when = _to_utc(expr.when, tz)
        return when if when > after else None
    # Search local times from a little before `after` (an offset change moves local time by at most a few hours)
    # and keep the earliest UTC time past `after` among the candidates near the first hit: around a skipped hour,
    # local order and UTC order can differ.
    local_after = after.astimezone(tz).replace(tzinfo=None) if tz is not None else after.replace(tzinfo=None)
    start = (local_after - dt.timedelta(hours=3)).replace(second=0, microsecond=0)
    best: dt.datetime | None = None
    horizon: dt.datetime | None = None
    for candidate in _local_candidates(expr, start):
        if horizon is not None and candidate > horizon:
            break
        when = _to_utc(candidate, tz)
        if when > after and (best is None or when < best):
            best = when
            if horizon is None:
                horizon = candidate + dt.timedelta(hours=3)
    return best
